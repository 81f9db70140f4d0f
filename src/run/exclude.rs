//! `--exclude UPN|ID|@FILE`, `--exclude-group ID|NAME` and `--exclude-admins`: users a run never
//! touches. Matched case-insensitively against the user as the job names them and against the
//! resolved object id; excluded rows are reported as `skipped` with the reason, without a
//! single write.
//!
//! The groups' transitive members and the admins are read once, after the first token and
//! before any row ([`Exclusions::resolve`]): the admins are the registration report's users with
//! `isAdmin` true ("List userRegistrationDetails", `$filter=isAdmin eq true`); in a tenant
//! without Entra ID P1/P2 (403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant`) the
//! members of the activated directory roles ("List directoryRoles", "List members of a
//! directory role").

use std::collections::{HashMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use serde_json::{Map, Value};

use crate::auth::permissions::{self, Need};
use crate::exec::Executor;
use crate::graph::requests::{self, PAGE_SIZE};
use crate::graph::wire::DirectoryUser;
use crate::graph::{ApiVersion, Request};

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
    /// `--exclude-group` values, to be resolved to their members.
    groups: Vec<String>,
    /// `--exclude-admins`.
    admins: bool,
    /// Object ids excluded by a group or a role, with the reason (by its place in `reasons`):
    /// GUIDs as numbers, about 32 bytes a member however large the group.
    resolved: HashMap<u128, u16>,
    /// Object ids that are not GUIDs (lower case), with the reason.
    resolved_other: HashMap<String, u16>,
    /// The reasons, one per `--exclude-group` and one for `--exclude-admins`.
    reasons: Vec<String>,
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
        Ok(Exclusions {
            users,
            ..Exclusions::default()
        })
    }

    /// Also leave alone the transitive members of these groups (object ids or display names)
    /// and, when `admins`, the users with an admin role; read by [`Exclusions::resolve`].
    pub fn with_groups_and_admins(mut self, groups: &[String], admins: bool) -> Result<Self> {
        if let Some(empty) = groups.iter().find(|g| g.trim().is_empty()) {
            bail!("--exclude-group: empty value {empty:?}");
        }
        self.groups = groups.to_vec();
        self.admins = admins;
        Ok(self)
    }

    /// Read the members of the `--exclude-group` groups and, with `--exclude-admins`, the
    /// admins. A failure is an error before any row (exit 2): a safety list that silently
    /// protects nobody is refused.
    pub async fn resolve(mut self, exec: &Executor) -> Result<Self> {
        for group in std::mem::take(&mut self.groups) {
            let crate::target::Targets::Groups(ids) = crate::target::resolve_groups(
                exec,
                crate::target::Targets::Groups(vec![group.clone()]),
            )
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "{}",
                    format!("{e:#}").replacen("--group", "--exclude-group", 1)
                )
            })?
            else {
                unreachable!("groups resolve to groups");
            };
            let reason = self.reason_code(format!("excluded: member of group {group}"));
            for id in ids {
                let mut members = std::pin::pin!(
                    exec.pages::<DirectoryUser>(requests::group_members(&id, PAGE_SIZE))
                );
                while let Some(user) = members.next().await {
                    let user = user.map_err(|error| {
                        anyhow::anyhow!(
                            "--exclude-group {group}: reading its members failed: {error}"
                        )
                    })?;
                    self.exclude(&user.id, reason);
                }
            }
        }
        if self.admins {
            let reason = self.reason_code("excluded: admin (--exclude-admins)".to_string());
            for id in admins(exec).await? {
                self.exclude(&id, reason);
            }
        }
        Ok(self)
    }

    fn reason_code(&mut self, reason: String) -> u16 {
        self.reasons.push(reason);
        u16::try_from(self.reasons.len() - 1).unwrap_or(u16::MAX)
    }

    /// Exclude object id `id` for reason `code`, unless an earlier reason did.
    fn exclude(&mut self, id: &str, code: u16) {
        match uuid::Uuid::parse_str(id) {
            Ok(guid) => self.resolved.entry(guid.as_u128()).or_insert(code),
            Err(_) => self.resolved_other.entry(id.to_lowercase()).or_insert(code),
        };
    }

    /// Why `user` (as named, or its object id) is excluded, if it is.
    pub fn reason(&self, user: &str) -> Option<String> {
        let key = user.trim().to_lowercase();
        if self.users.contains(&key) {
            return Some("excluded by --exclude".to_string());
        }
        let code = match uuid::Uuid::parse_str(&key) {
            Ok(guid) => self.resolved.get(&guid.as_u128()),
            Err(_) => self.resolved_other.get(&key),
        }?;
        self.reasons.get(usize::from(*code)).cloned()
    }

    /// The permissions reading the `--exclude-group` groups and the `--exclude-admins` admins
    /// needs (checked with the token before any request).
    pub fn needs(&self) -> Vec<Need> {
        let mut needs = Vec::new();
        if !self.groups.is_empty() {
            needs.push(permissions::for_exclude_group());
        }
        if self.admins {
            needs.push(permissions::for_exclude_admins());
        }
        needs
    }

    /// True when nothing is excluded.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.resolved.is_empty() && self.resolved_other.is_empty()
    }
}

/// The error code of the report's 403 in a tenant without Entra ID P1/P2.
const NON_PREMIUM: &str = "Authentication_RequestFromNonPremiumTenantOrB2CTenant";

/// The object ids of the users with an admin role: the registration report's `isAdmin eq true`,
/// or without P1/P2 the members of every activated directory role.
async fn admins(exec: &Executor) -> Result<Vec<String>> {
    let report = "/reports/authenticationMethods/userRegistrationDetails?$top=999&$filter=isAdmin%20eq%20true";
    let mut ids = Vec::new();
    let mut records =
        std::pin::pin!(exec.pages::<Map<String, Value>>(Request::get(ApiVersion::V1, report)));
    let mut premium = true;
    while let Some(record) = records.next().await {
        match record {
            Ok(record) => {
                if let Some(id) = record.get("id").and_then(Value::as_str) {
                    ids.push(id.to_string());
                }
            }
            Err(error) if error.status == Some(403) && error.code == NON_PREMIUM => {
                premium = false;
                break;
            }
            Err(error) => {
                bail!("--exclude-admins: reading the registration report failed: {error}")
            }
        }
    }
    if premium {
        return Ok(ids);
    }
    tracing::warn!(
        "--exclude-admins: the registration report is refused (no Entra ID P1/P2); the admins \
         are the members of the directory roles"
    );
    let mut roles = std::pin::pin!(
        exec.pages::<Map<String, Value>>(Request::get(ApiVersion::V1, "/directoryRoles"))
    );
    let mut role_ids = Vec::new();
    while let Some(role) = roles.next().await {
        let role = role.map_err(|error| {
            anyhow::anyhow!("--exclude-admins: listing the directory roles failed: {error}")
        })?;
        if let Some(id) = role.get("id").and_then(Value::as_str) {
            role_ids.push(id.to_string());
        }
    }
    for role in role_ids {
        let path = format!(
            "/directoryRoles/{}/members",
            crate::graph::path::segment(&role)
        );
        let mut members =
            std::pin::pin!(exec.pages::<Map<String, Value>>(Request::get(ApiVersion::V1, path)));
        while let Some(member) = members.next().await {
            let member = member.map_err(|error| {
                anyhow::anyhow!(
                    "--exclude-admins: reading a directory role's members failed: {error}"
                )
            })?;
            if let Some(id) = member.get("id").and_then(Value::as_str) {
                ids.push(id.to_string());
            }
        }
    }
    Ok(ids)
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
        assert!(ex.reason("ceo@CONTOSO.com").is_some());
        assert!(ex.reason("cfo@contoso.com").is_some());
        assert!(ex.reason("0B5E6F3A-1111-2222-3333-444455556666").is_some());
        assert!(
            ex.reason("upn").is_none(),
            "a header-like first line is not a user it names"
        );
        assert!(ex.reason("user00001@contoso.onmicrosoft.com").is_none());
    }

    #[test]
    fn a_missing_exclude_file_is_an_error_naming_it() {
        let err = Exclusions::from_flags(&["@/nonexistent/vip.txt".into()]).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/vip.txt"));
    }
}
