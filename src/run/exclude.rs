//! `--exclude UPN|ID|@FILE`: users a run never touches. Matched case-insensitively against the
//! user as the job names them and against the resolved object id; excluded rows are reported as
//! `skipped` without a single request.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, Result};

/// Header names a spreadsheet export may have on its first line (DESIGN.md, the `user` column).
const HEADERS: [&str; 8] = [
    "user",
    "upn",
    "userprincipalname",
    "objectid",
    "id",
    "userid",
    "email",
    "mail",
];

/// The users a run must not touch.
#[derive(Debug, Default, Clone)]
pub struct Exclusions {
    users: HashSet<String>,
}

impl Exclusions {
    /// Build from the flag values: a UPN or object id each, or `@FILE` naming a file with one per
    /// line (blank lines and `#` comments ignored; a CSV export's first column is taken).
    pub fn from_flags(values: &[String]) -> Result<Self> {
        let mut users = HashSet::new();
        for value in values {
            match value.strip_prefix('@') {
                Some(file) => {
                    let bytes = std::fs::read(Path::new(file))
                        .with_context(|| format!("--exclude: cannot read {file}"))?;
                    let text =
                        decode(&bytes).with_context(|| format!("--exclude: cannot read {file}"))?;
                    let text = text.trim_start_matches('\u{feff}');
                    for (index, line) in text.lines().enumerate() {
                        let first = line.split([',', ';', '\t']).next().unwrap_or("");
                        let user = first.trim().trim_matches('"').trim();
                        let header = index == 0 && HEADERS.contains(&user.to_lowercase().as_str());
                        if user.is_empty() || user.starts_with('#') || header {
                            continue;
                        }
                        // A safety list that silently protects nobody (a display name in the
                        // first column, a mis-decoded file) is refused, not half-applied.
                        if crate::job::value::user(user).is_err() || !looks_like_user(user) {
                            anyhow::bail!(
                                "--exclude {file} line {}: {user:?} is not a UPN or an object id \
                                 (the first column of each line must name the user)",
                                index + 1
                            );
                        }
                        users.insert(user.to_lowercase());
                    }
                }
                None if value.trim().is_empty() => anyhow::bail!("--exclude: empty value"),
                None => {
                    users.insert(value.trim().to_lowercase());
                }
            }
        }
        Ok(Exclusions { users })
    }

    /// True when `user` (as named, or its object id) is excluded.
    pub fn contains(&self, user: &str) -> bool {
        !self.users.is_empty() && self.users.contains(&user.trim().to_lowercase())
    }

    /// True when nothing is excluded.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// A UPN (`name@domain`) or an object id.
fn looks_like_user(value: &str) -> bool {
    crate::job::value::is_object_id(value) || value.contains('@')
}

/// The text of an exclusion file: UTF-8 (with or without BOM), or UTF-16 with or without a BOM
/// (Notepad's and PowerShell's "Unicode"; without a BOM, told by its zero bytes).
fn decode(bytes: &[u8]) -> Result<String> {
    let utf16 = |body: &[u8], little: bool| -> Result<String> {
        let units: Vec<u16> = body
            .chunks(2)
            .map(|pair| {
                let pair = [pair[0], pair.get(1).copied().unwrap_or(0)];
                match little {
                    true => u16::from_le_bytes(pair),
                    false => u16::from_be_bytes(pair),
                }
            })
            .collect();
        String::from_utf16(&units).context("not valid UTF-16")
    };
    match bytes {
        [0xFF, 0xFE, body @ ..] => utf16(body, true),
        [0xFE, 0xFF, body @ ..] => utf16(body, false),
        _ if bytes.len() >= 2 && bytes.len().is_multiple_of(2) && bytes.contains(&0) => {
            let odd_zero = bytes.iter().skip(1).step_by(2).all(|b| *b == 0);
            let even_zero = bytes.iter().step_by(2).all(|b| *b == 0);
            match (odd_zero, even_zero) {
                (true, false) => utf16(bytes, true),
                (false, true) => utf16(bytes, false),
                _ => anyhow::bail!("neither UTF-8 nor UTF-16 text"),
            }
        }
        _ => String::from_utf8(bytes.to_vec()).context("not UTF-8 text"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_files_exclude_case_insensitively() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("vip.csv");
        std::fs::write(
            &file,
            "\u{feff}upn,name\r\n# the board\r\nCEO@contoso.com,Boss\r\n\r\n\"cfo@contoso.com\",X\r\n",
        )
        .unwrap();
        let ex = Exclusions::from_flags(&[
            format!("@{}", file.display()),
            "0b5e6f3a-1111-2222-3333-444455556666".into(),
        ])
        .unwrap();
        assert!(ex.contains("ceo@CONTOSO.com"));
        assert!(ex.contains("cfo@contoso.com"));
        assert!(ex.contains("0B5E6F3A-1111-2222-3333-444455556666"));
        assert!(
            !ex.contains("upn"),
            "a header-like first line is not a user it names"
        );
        assert!(!ex.contains("user00001@contoso.onmicrosoft.com"));
    }

    #[test]
    fn a_missing_exclude_file_is_an_error_naming_it() {
        let err = Exclusions::from_flags(&["@/nonexistent/vip.txt".into()]).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/vip.txt"));
    }
}
