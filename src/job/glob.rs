//! The `device` selector: a case-insensitive glob on a method's display name, where `*` matches
//! any run of characters and `?` exactly one; every other character is literal (display names
//! such as `Ann's iPhone [work]` contain brackets, so no character classes). The job reader
//! checks the pattern with [`check`]; the planner calls [`matches`] on each method.

use crate::job::value::ValueError;

/// Longest pattern accepted, in characters.
const MAX_LEN: usize = 256;

/// Check a `device` pattern: not empty, at most 256 characters, no control characters.
pub fn check(pattern: &str) -> Result<(), ValueError> {
    const HINT: &str = "write a device name, with * for any text and ? for one character, \
                        e.g. iPhone*";
    if pattern.is_empty() {
        return Err(ValueError::new("empty device pattern", HINT));
    }
    if pattern.chars().count() > MAX_LEN {
        return Err(ValueError::new("device pattern too long", HINT));
    }
    if pattern.chars().any(char::is_control) {
        return Err(ValueError::new(
            "control character in a device pattern",
            HINT,
        ));
    }
    Ok(())
}

/// True when `name` matches `pattern` (case-insensitive; `*` any run, `?` one character).
///
/// Linear-time greedy matching with one backtrack point, so hostile patterns such as
/// `*a*a*a*a*b` cannot blow up.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let n: Vec<char> = name.chars().flat_map(char::to_lowercase).collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_and_question_mark_match_case_insensitively() {
        assert!(matches("iPhone*", "iphone 14 Pro"));
        assert!(matches("IPHONE*", "iPhone"));
        assert!(matches("*pixel*", "Ann's Pixel 8"));
        assert!(matches("SM-G99?", "SM-G991"));
        assert!(!matches("SM-G99?", "SM-G99"));
        assert!(matches("*", ""));
        assert!(!matches("iPhone*", "My iPhone"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxbyy"));
        assert!(matches("Ann's iPhone [work]", "ann's iphone [WORK]"));
    }

    #[test]
    fn hostile_patterns_finish_quickly() {
        let name = "a".repeat(10_000);
        assert!(!matches("*a*a*a*a*a*a*a*a*b", &name));
    }

    #[test]
    fn pattern_syntax_is_checked() {
        check("iPhone*").unwrap();
        assert_eq!(check("").unwrap_err().why, "empty device pattern");
        assert!(check(&"x".repeat(257)).is_err());
        assert!(check("a\u{7}").is_err());
    }
}
