//! Which methods a removal chooses: the [`Selector`] of `remove-authenticator` and
//! `remove-method` applied to a user's methods of one type. Called by [`super::desired`].

use std::cmp::Reverse;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::state::Method;
use crate::job::Selector;
use crate::job::glob::matches as glob_matches;

/// The methods of `candidates` that `selector` chooses at `now`, in the candidates' order, and
/// how many methods it left only because they lack the date an age selector needs.
///
/// Fields combine with AND. `older_than` never chooses a method without a creation date;
/// `unused_for` counts a never-used method by its creation date and never chooses one with
/// neither date. `keep_newest` applies last: of what the others chose, it keeps the N newest by
/// creation date, ties broken on the id so the choice is stable from run to run; a method
/// without a creation date is never chosen by it (its age is unknown, and most Authenticator
/// registrations have none: removing them as "oldest" would remove nearly everything).
///
/// The dates an age selector needs are a creation date for `older_than` and `keep_newest`, a
/// last use or creation date for `unused_for`. Methods without them are never chosen
/// (graph-contract.md: most Authenticator registrations have neither date), and the count lets
/// the report tell "nothing stale" from "Graph gives no date".
pub fn choose_dated<'a>(
    selector: &Selector,
    candidates: &[&'a Method],
    now: DateTime<Utc>,
) -> (Vec<&'a Method>, usize) {
    let undated = |m: &Method| {
        (selector.older_than.is_some() || selector.keep_newest.is_some()) && m.created.is_none()
            || selector.unused_for.is_some() && m.last_used.or(m.created).is_none()
    };
    let named: Vec<&Method> = candidates
        .iter()
        .copied()
        .filter(|m| {
            selector
                .method_id
                .as_ref()
                .is_none_or(|id| m.id.eq_ignore_ascii_case(id.trim()))
        })
        .filter(|m| {
            selector.device.as_ref().is_none_or(|pattern| {
                m.display_name
                    .as_deref()
                    .is_some_and(|name| glob_matches(pattern, name))
            })
        })
        .collect();
    let left = named.iter().filter(|m| undated(m)).count();
    let mut chosen: Vec<&Method> = named
        .into_iter()
        .filter(|m| !undated(m))
        .filter(|m| {
            selector
                .older_than
                .is_none_or(|age| m.created.is_some_and(|c| before(c, now, age)))
        })
        .filter(|m| {
            selector.unused_for.is_none_or(|age| {
                m.last_used
                    .or(m.created)
                    .is_some_and(|used| before(used, now, age))
            })
        })
        .collect();
    if let Some(keep) = selector.keep_newest {
        let mut newest = chosen.clone();
        // Newest first, then by id (every method here has a creation date).
        newest.sort_by_key(|m| (Reverse(m.created), m.id.clone()));
        let kept: Vec<&str> = newest
            .iter()
            .take(keep as usize)
            .map(|m| m.id.as_str())
            .collect();
        chosen.retain(|m| !kept.contains(&m.id.as_str()));
    }
    (chosen, left)
}

/// True when `at` lies more than `age` before `now`. An age too large for the calendar
/// chooses nothing.
fn before(at: DateTime<Utc>, now: DateTime<Utc>, age: Duration) -> bool {
    chrono::Duration::from_std(age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .is_some_and(|limit| at < limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::MethodType;
    use crate::plan::state::MethodKind;

    fn choose<'a>(
        selector: &Selector,
        candidates: &[&'a Method],
        now: DateTime<Utc>,
    ) -> Vec<&'a Method> {
        choose_dated(selector, candidates, now).0
    }

    const DAY: u64 = 86_400;

    fn now() -> DateTime<Utc> {
        "2026-06-01T00:00:00Z".parse().unwrap()
    }

    fn authenticator(id: &str, name: &str, created: Option<&str>, used: Option<&str>) -> Method {
        Method {
            id: id.into(),
            kind: MethodKind::Other(MethodType::MicrosoftAuthenticator),
            display_name: Some(name.into()),
            created: created.map(|c| c.parse().unwrap()),
            last_used: used.map(|c| c.parse().unwrap()),
        }
    }

    fn ids(chosen: &[&Method]) -> Vec<String> {
        chosen.iter().map(|m| m.id.clone()).collect()
    }

    fn fleet() -> Vec<Method> {
        vec![
            authenticator("old", "iPhone 8", Some("2020-01-01T00:00:00Z"), None),
            authenticator("undated", "Pixel 3", None, None),
            authenticator(
                "mid",
                "Pixel 7",
                Some("2025-01-01T00:00:00Z"),
                Some("2026-05-30T00:00:00Z"),
            ),
            authenticator("new", "iPhone 15", Some("2026-05-01T00:00:00Z"), None),
        ]
    }

    fn run(selector: Selector) -> Vec<String> {
        let methods = fleet();
        let refs: Vec<&Method> = methods.iter().collect();
        ids(&choose(&selector, &refs, now()))
    }

    #[test]
    fn no_selector_chooses_every_method() {
        assert_eq!(run(Selector::default()), ["old", "undated", "mid", "new"]);
    }

    #[test]
    fn method_id_chooses_exactly_that_method() {
        let sel = Selector {
            method_id: Some("MID".into()),
            ..Selector::default()
        };
        assert_eq!(run(sel), ["mid"]);
        let sel = Selector {
            method_id: Some("absent".into()),
            ..Selector::default()
        };
        assert!(run(sel).is_empty());
    }

    #[test]
    fn device_glob_matches_display_names_case_insensitively() {
        let sel = Selector {
            device: Some("iphone*".into()),
            ..Selector::default()
        };
        assert_eq!(run(sel), ["old", "new"]);
    }

    #[test]
    fn older_than_never_chooses_methods_without_a_creation_date() {
        let sel = Selector {
            older_than: Some(Duration::from_secs(180 * DAY)),
            ..Selector::default()
        };
        assert_eq!(run(sel), ["old", "mid"]);
        let sel = Selector {
            older_than: Some(Duration::from_secs(1)),
            ..Selector::default()
        };
        assert!(!run(sel).contains(&"undated".to_string()));
    }

    #[test]
    fn unused_for_counts_last_use_then_creation_and_skips_undated() {
        let sel = Selector {
            unused_for: Some(Duration::from_secs(90 * DAY)),
            ..Selector::default()
        };
        // "mid" is old but was used two days ago; "undated" has neither date.
        assert_eq!(run(sel), ["old"]);
    }

    #[test]
    fn keep_newest_never_chooses_undated_methods_and_counts_them() {
        let sel = Selector {
            keep_newest: Some(1),
            ..Selector::default()
        };
        assert_eq!(run(sel), ["old", "mid"]);
        let sel = Selector {
            keep_newest: Some(3),
            ..Selector::default()
        };
        assert!(run(sel).is_empty());
        let sel = Selector {
            keep_newest: Some(0),
            ..Selector::default()
        };
        assert_eq!(run(sel), ["old", "mid", "new"]);
        let fleet = fleet();
        let refs: Vec<&Method> = fleet.iter().collect();
        for sel in [
            Selector {
                keep_newest: Some(1),
                ..Selector::default()
            },
            Selector {
                older_than: Some(Duration::from_secs(DAY)),
                ..Selector::default()
            },
            Selector {
                unused_for: Some(Duration::from_secs(DAY)),
                ..Selector::default()
            },
        ] {
            assert_eq!(choose_dated(&sel, &refs, now()).1, 1, "{sel:?}");
        }
        assert_eq!(choose_dated(&Selector::default(), &refs, now()).1, 0);
    }

    #[test]
    fn keep_newest_with_only_undated_methods_chooses_none() {
        let methods = [
            authenticator("b", "x", None, None),
            authenticator("a", "y", None, None),
            authenticator("c", "z", None, None),
        ];
        let refs: Vec<&Method> = methods.iter().collect();
        let sel = Selector {
            keep_newest: Some(1),
            ..Selector::default()
        };
        assert_eq!(choose_dated(&sel, &refs, now()), (vec![], 3));
    }

    #[test]
    fn keep_newest_applies_after_the_other_selectors() {
        let sel = Selector {
            device: Some("iPhone*".into()),
            keep_newest: Some(1),
            ..Selector::default()
        };
        assert_eq!(run(sel), ["old"]);
    }

    #[test]
    fn selectors_combine_with_and() {
        let sel = Selector {
            device: Some("Pixel*".into()),
            older_than: Some(Duration::from_secs(30 * DAY)),
            ..Selector::default()
        };
        assert_eq!(run(sel), ["mid"]);
    }

    #[test]
    fn methods_without_display_name_never_match_a_device_glob() {
        let mut m = authenticator("n", "x", None, None);
        m.display_name = None;
        let sel = Selector {
            device: Some("*".into()),
            ..Selector::default()
        };
        assert!(choose(&sel, &[&m], now()).is_empty());
    }
}
