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
                    let text = std::fs::read_to_string(Path::new(file))
                        .with_context(|| format!("--exclude: cannot read {file}"))?;
                    let text = text.trim_start_matches('\u{feff}');
                    for (index, line) in text.lines().enumerate() {
                        let first = line.split([',', ';', '\t']).next().unwrap_or("");
                        let user = first.trim().trim_matches('"').trim();
                        let header = index == 0 && HEADERS.contains(&user.to_lowercase().as_str());
                        if !user.is_empty() && !user.starts_with('#') && !header {
                            users.insert(user.to_lowercase());
                        }
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
