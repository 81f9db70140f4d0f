//! Cell values of job files: one parser per kind of value (actions, phone types, durations,
//! booleans, users, addresses, method types, default methods, TAP parameters). Each returns the
//! typed value or a [`ValueError`] that says why and what to do. Used for job cells and for the
//! flags that give their defaults, so both accept exactly the same spellings. Phone numbers have
//! their own module, [`crate::job::phone`].

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::job::op::{ActionKind, DefaultMethod, MethodType, PhoneSelector, PhoneType};

/// Why a value was refused, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    /// What is wrong, e.g. `a spreadsheet turned this number into scientific notation`.
    pub why: String,
    /// What to do, e.g. `format the column as text and export again`.
    pub hint: Option<String>,
}

impl ValueError {
    /// A refusal with a hint.
    pub fn new(why: impl Into<String>, hint: impl Into<String>) -> ValueError {
        ValueError {
            why: why.into(),
            hint: Some(hint.into()),
        }
    }

    /// A refusal that needs no hint.
    pub fn bare(why: impl Into<String>) -> ValueError {
        ValueError {
            why: why.into(),
            hint: None,
        }
    }
}

impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// Lowercase with `-`, `_` and spaces removed, for matching names leniently.
fn squash(value: &str) -> String {
    value
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Levenshtein distance, for "did you mean" hints on short names.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest of `names` to `value`, when it is close enough to be a typo.
fn nearest<'a>(value: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wanted = squash(value);
    names
        .into_iter()
        .map(|n| (distance(&wanted, &squash(n)), n))
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

fn one_of_hint<'a>(value: &str, names: impl IntoIterator<Item = &'a str> + Clone) -> String {
    match nearest(value, names.clone()) {
        Some(near) => format!("did you mean {near}?"),
        None => format!(
            "use one of {}",
            names.into_iter().collect::<Vec<_>>().join(", ")
        ),
    }
}

/// An action name (`set-phone`, `Set Phone`, `SET_PHONE`).
pub fn action(value: &str) -> Result<ActionKind, ValueError> {
    ActionKind::from_name(value).ok_or_else(|| {
        ValueError::new(
            "unknown action",
            one_of_hint(value, ActionKind::ALL.map(ActionKind::name)),
        )
    })
}

/// A phone type (`mobile`, `alternateMobile`, `office`) or `all` (remove-phone only; the row
/// check refuses it elsewhere).
pub fn phone_type(value: &str) -> Result<PhoneSelector, ValueError> {
    let wanted = squash(value);
    if wanted == "all" {
        return Ok(PhoneSelector::All);
    }
    [
        PhoneType::Mobile,
        PhoneType::AlternateMobile,
        PhoneType::Office,
    ]
    .into_iter()
    .find(|t| t.as_graph().eq_ignore_ascii_case(&wanted))
    .map(PhoneSelector::One)
    .ok_or_else(|| {
        ValueError::new(
            "unknown phone type",
            one_of_hint(value, ["mobile", "alternateMobile", "office", "all"]),
        )
    })
}

/// A removable method type (`fido2`, `softwareOath`, ...).
pub fn method_type(value: &str) -> Result<MethodType, ValueError> {
    MethodType::from_name(value).ok_or_else(|| {
        ValueError::new(
            "unknown method type",
            one_of_hint(value, MethodType::ALL.map(MethodType::name)),
        )
    })
}

/// A default MFA method (`push`, `oath`, `sms`, `voiceMobile`, ...).
pub fn default_method(value: &str) -> Result<DefaultMethod, ValueError> {
    let wanted = squash(value);
    DefaultMethod::from_graph(&wanted).ok_or_else(|| {
        ValueError::new(
            "unknown default method",
            one_of_hint(value, DefaultMethod::ALL.map(DefaultMethod::as_graph)),
        )
    })
}

/// A boolean: `true/false`, `yes/no`, `y/n`, `1/0`, `on/off`, any case.
pub fn boolean(value: &str) -> Result<bool, ValueError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "on" => Ok(true),
        "false" | "no" | "n" | "0" | "off" => Ok(false),
        _ => Err(ValueError::new(
            "not a yes/no value",
            "use true or false (yes/no and 1/0 work too)",
        )),
    }
}

/// A duration such as `90d`, `12h`, `2w`, `30min`, `1w2d`: numbers each followed by a unit
/// (`s`, `m`/`min`, `h`, `d`, `w`). A bare number is refused: days or hours would be a guess.
pub fn duration(value: &str) -> Result<Duration, ValueError> {
    const HINT: &str = "write a number and a unit: 90d, 12h, 2w, 30min";
    let text = value.to_ascii_lowercase();
    let mut rest = text.trim();
    let mut total: u64 = 0;
    if rest.is_empty() {
        return Err(ValueError::new("empty duration", HINT));
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(ValueError::new("not a duration", HINT));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| ValueError::new("duration too long", HINT))?;
        rest = rest[digits..].trim_start();
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let seconds = match &rest[..unit_len] {
            "" => {
                return Err(ValueError::new(
                    "a duration needs a unit",
                    format!("write {number}d for days or {number}h for hours"),
                ));
            }
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            "w" | "week" | "weeks" => 604_800,
            _ => return Err(ValueError::new("unknown duration unit", HINT)),
        };
        rest = rest[unit_len..].trim_start();
        total = number
            .checked_mul(seconds)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| ValueError::new("duration too long", HINT))?;
    }
    Ok(Duration::from_secs(total))
}

/// A whole number of at most `max`.
fn whole(value: &str, what: &str, max: u64) -> Result<u64, ValueError> {
    let hint = format!("write a whole number, at most {max}");
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::new(
            format!("{what} is not a whole number"),
            hint,
        ));
    }
    match value.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(ValueError::new(format!("{what} is too large"), hint)),
    }
}

/// `keep_newest`: how many of the newest methods to keep.
pub fn keep_newest(value: &str) -> Result<u32, ValueError> {
    whole(value, "keep_newest", 1000).map(|n| n as u32)
}

/// A temporary access pass lifetime in minutes, 10 to 43200 (Graph's limits).
pub fn lifetime_minutes(value: &str) -> Result<u32, ValueError> {
    const HINT: &str = "a temporary access pass lives 10 to 43200 minutes (30 days)";
    let n = whole(value, "lifetime", 1_000_000).map_err(|e| ValueError::new(e.why, HINT))?;
    if !(10..=43_200).contains(&n) {
        return Err(ValueError::new("lifetime out of range", HINT));
    }
    Ok(n as u32)
}

/// The lifetime of a standard QR code in days, 1 to 395 ("qrCode resource type": at most 395
/// days; the Entra admin center's range is 1 to 395).
pub fn qr_lifetime_days(value: &str) -> Result<u32, ValueError> {
    const HINT: &str = "a standard QR code lives 1 to 395 days";
    let n =
        whole(value, "qr_lifetime_days", 1_000_000).map_err(|e| ValueError::new(e.why, HINT))?;
    if !(1..=395).contains(&n) {
        return Err(ValueError::new("QR code lifetime out of range", HINT));
    }
    Ok(n as u32)
}

/// A start time: RFC 3339 with a zone (`2026-03-01T08:00:00Z`, `2026-03-01 08:00+01:00`).
pub fn start_time(value: &str) -> Result<DateTime<Utc>, ValueError> {
    let text = value.replacen(' ', "T", 1);
    DateTime::parse_from_rfc3339(&text)
        .or_else(|_| DateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M%#z"))
        .or_else(|_| DateTime::parse_from_str(&text.replace('Z', "+00:00"), "%Y-%m-%dT%H:%M%#z"))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            let no_zone = chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S")
                .or_else(|_| chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M"));
            match no_zone {
                Ok(_) => ValueError::new(
                    "a start time needs a time zone",
                    "add Z for UTC or an offset, e.g. 2026-03-01T08:00:00+01:00",
                ),
                Err(_) => {
                    ValueError::new("not a date and time", "write it as 2026-03-01T08:00:00Z")
                }
            }
        })
}

/// True for an object id: a GUID in its 8-4-4-4-12 form.
pub fn is_object_id(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Invisible or direction-changing characters (Unicode format characters: bidi overrides and
/// isolates, zero-width spaces and joiners, the byte-order mark, soft hyphen) and U+FFFD (what
/// a broken encoding decodes to). A UPN never holds them; in a job file they make one user look
/// like another in the plan preview.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{FFFD}'
    )
}

/// Characters that never appear in a UPN and would change the meaning of a Graph path or of a
/// spreadsheet cell (the path is encoded anyway; this catches pasted garbage early).
fn forbidden_in_name(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || is_invisible(c)
        || matches!(
            c,
            '/' | '\\' | '?' | '%' | '"' | '<' | '>' | '(' | ')' | '[' | ']' | ',' | ';' | ':'
        )
}

/// The user: a UPN (`name@domain`, guests' `..._x.com#EXT#@...` included) or an object id.
pub fn user(value: &str) -> Result<(), ValueError> {
    const HINT: &str = "write the user's UPN (ann@contoso.com) or object id (a GUID)";
    if is_object_id(value) {
        return Ok(());
    }
    if value.chars().count() > 256 {
        return Err(ValueError::new("too long for a UPN", HINT));
    }
    if let Some(c) = value.chars().find(|c| forbidden_in_name(*c)) {
        return Err(ValueError::new(
            format!("a UPN cannot contain {:?}", c),
            HINT,
        ));
    }
    match value.rsplit_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.') =>
        {
            Ok(())
        }
        _ => Err(ValueError::new("not a UPN or object id", HINT)),
    }
}

/// An email address for the email method.
pub fn email(value: &str) -> Result<(), ValueError> {
    const HINT: &str = "write one address, e.g. ann.private@example.com";
    if value.chars().any(forbidden_in_name) {
        return Err(ValueError::new("not an email address", HINT));
    }
    match value.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.') =>
        {
            Ok(())
        }
        _ => Err(ValueError::new("not an email address", HINT)),
    }
}

/// A method id: an opaque string, but never control characters or absurd lengths.
pub fn method_id(value: &str) -> Result<(), ValueError> {
    if value.len() > 256 || value.chars().any(char::is_control) {
        return Err(ValueError::new(
            "not a method id",
            "copy the id from `authbulk export` or from Graph",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_days_hours_weeks_and_combinations() {
        assert_eq!(duration("90d").unwrap(), Duration::from_secs(90 * 86_400));
        assert_eq!(duration("12h").unwrap(), Duration::from_secs(12 * 3600));
        assert_eq!(duration("2w").unwrap(), Duration::from_secs(14 * 86_400));
        assert_eq!(duration("30min").unwrap(), Duration::from_secs(1800));
        assert_eq!(duration("1w 2D").unwrap(), Duration::from_secs(9 * 86_400));
        assert_eq!(
            duration("90 days").unwrap(),
            Duration::from_secs(90 * 86_400)
        );
    }

    #[test]
    fn durations_without_unit_or_with_junk_are_refused_with_a_hint() {
        let e = duration("90").unwrap_err();
        assert_eq!(e.why, "a duration needs a unit");
        assert_eq!(
            e.hint.as_deref(),
            Some("write 90d for days or 90h for hours")
        );
        assert_eq!(
            duration("3 months").unwrap_err().why,
            "unknown duration unit"
        );
        assert_eq!(duration("d90").unwrap_err().why, "not a duration");
        assert_eq!(duration("-5d").unwrap_err().why, "not a duration");
        assert_eq!(
            duration("99999999999999999999w").unwrap_err().why,
            "duration too long"
        );
    }

    #[test]
    fn booleans_accept_common_spellings() {
        for t in ["true", "TRUE", "Yes", "y", "1", "on"] {
            assert!(boolean(t).unwrap(), "{t}");
        }
        for f in ["false", "False", "NO", "n", "0", "off"] {
            assert!(!boolean(f).unwrap(), "{f}");
        }
        assert!(boolean("maybe").is_err());
        assert!(boolean("2").is_err());
    }

    #[test]
    fn actions_suggest_the_nearest_name() {
        assert_eq!(action("Reset MFA").unwrap(), ActionKind::ResetMfa);
        let e = action("set-phon").unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean set-phone?"));
        let e = action("frobnicate").unwrap_err();
        assert!(e.hint.unwrap().starts_with("use one of list, set-phone"));
    }

    #[test]
    fn users_are_upns_or_object_ids() {
        user("ann@contoso.com").unwrap();
        user("o'neil00005@contoso.onmicrosoft.com").unwrap();
        user("guest00007_fabrikam.com#EXT#@contoso.onmicrosoft.com").unwrap();
        user("9f0c6e4e-8a3b-4c7e-9a65-0d2f1c6b7a11").unwrap();
        assert_eq!(user("ann").unwrap_err().why, "not a UPN or object id");
        assert_eq!(
            user("ann@contoso").unwrap_err().why,
            "not a UPN or object id"
        );
        assert_eq!(
            user("ann smith@contoso.com").unwrap_err().why,
            "a UPN cannot contain ' '"
        );
        assert!(user("../../groups@x.com").is_err());
    }

    #[test]
    fn method_types_and_default_methods_parse_leniently() {
        assert_eq!(method_type("FIDO2").unwrap(), MethodType::Fido2);
        assert_eq!(
            method_type("software_oath").unwrap(),
            MethodType::SoftwareOath
        );
        assert_eq!(
            method_type("fido").unwrap_err().hint.as_deref(),
            Some("did you mean fido2?")
        );
        assert_eq!(
            default_method("voice-mobile").unwrap(),
            DefaultMethod::VoiceMobile
        );
        assert_eq!(default_method("SMS").unwrap(), DefaultMethod::Sms);
        assert!(default_method("fax").is_err());
    }

    #[test]
    fn phone_types_include_all() {
        assert_eq!(
            phone_type("Alternate Mobile").unwrap(),
            PhoneSelector::One(PhoneType::AlternateMobile)
        );
        assert_eq!(phone_type("ALL").unwrap(), PhoneSelector::All);
        assert_eq!(
            phone_type("mobil").unwrap_err().hint.as_deref(),
            Some("did you mean mobile?")
        );
    }

    #[test]
    fn tap_lifetime_is_within_graph_limits() {
        assert_eq!(lifetime_minutes("10").unwrap(), 10);
        assert_eq!(lifetime_minutes("43200").unwrap(), 43_200);
        assert_eq!(
            lifetime_minutes("9").unwrap_err().why,
            "lifetime out of range"
        );
        assert_eq!(
            lifetime_minutes("43201").unwrap_err().why,
            "lifetime out of range"
        );
        assert!(lifetime_minutes("60.5").is_err());
        assert!(lifetime_minutes("99999999999999999999999").is_err());
    }

    #[test]
    fn start_times_need_a_zone() {
        assert_eq!(
            start_time("2026-03-01T08:00:00Z").unwrap().to_rfc3339(),
            "2026-03-01T08:00:00+00:00"
        );
        assert_eq!(
            start_time("2026-03-01 09:00+01:00").unwrap().to_rfc3339(),
            "2026-03-01T08:00:00+00:00"
        );
        assert_eq!(
            start_time("2026-03-01 08:00").unwrap_err().why,
            "a start time needs a time zone"
        );
        assert_eq!(
            start_time("tomorrow").unwrap_err().why,
            "not a date and time"
        );
    }

    #[test]
    fn emails_and_keep_newest_are_checked() {
        email("ann.private@example.com").unwrap();
        assert!(email("ann@@example.com").is_err());
        assert!(email("ann").is_err());
        assert_eq!(keep_newest("2").unwrap(), 2);
        assert!(keep_newest("-1").is_err());
        assert!(keep_newest("two").is_err());
    }
}
