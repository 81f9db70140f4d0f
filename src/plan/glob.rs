//! The `device` selector's glob on a method's display name: `*` any run of characters, `?` one
//! character, everything else literal, case-insensitive. Called by [`super::select`].
//! (The job module is to expose its own matcher; this one goes when they are merged.)

/// True when `name` matches `pattern` as a whole, ignoring case.
pub(crate) fn glob_matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let name: Vec<char> = name.chars().flat_map(char::to_lowercase).collect();
    // Iterative matching with one backtrack point (the last `*`): linear in practice and never
    // exponential, whatever a job file puts in the pattern.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == '?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((star_p, star_n)) => {
                    p = star_p + 1;
                    n = star_n + 1;
                    star = Some((star_p, star_n + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn star_matches_any_run_and_case_is_ignored() {
        assert!(glob_matches("iPhone*", "iPhone 14"));
        assert!(glob_matches("iphone*", "IPHONE"));
        assert!(glob_matches("*pixel*", "Google Pixel 7"));
        assert!(!glob_matches("iPhone*", "My iPhone"));
        assert!(glob_matches("*", ""));
        assert!(glob_matches("**a**", "banana"));
    }

    #[test]
    fn question_mark_matches_exactly_one_character() {
        assert!(glob_matches("SM-G99?", "SM-G991"));
        assert!(!glob_matches("SM-G99?", "SM-G99"));
        assert!(!glob_matches("SM-G99?", "SM-G9911"));
    }

    #[test]
    fn patterns_without_wildcards_match_the_whole_name() {
        assert!(glob_matches("Pixel 7", "pixel 7"));
        assert!(!glob_matches("Pixel", "Pixel 7"));
        assert!(!glob_matches("Pixel 7", "Pixel"));
    }

    #[test]
    fn backtracking_finds_late_matches() {
        assert!(glob_matches("*a*b", "aaab"));
        assert!(glob_matches("a*b*c", "abxbyc"));
        assert!(!glob_matches("a*b*c", "abxbyd"));
        assert!(glob_matches("Ä*", "äpple"));
    }
}
