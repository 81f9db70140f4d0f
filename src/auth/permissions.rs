//! What a job needs of the token, checked against its claims before any Graph request.
//!
//! The table follows the permission tables of Microsoft Graph's API pages (v1.0), least
//! privileged first, then the higher-privileged alternatives the pages list:
//! - "Get user": `User.Read.All` (also `User.ReadWrite.All`, `Directory.Read.All`,
//!   `Directory.ReadWrite.All`); every row resolves its user, and `--all-users` lists users.
//! - "List methods" (`/users/{id}/authentication/methods`): `UserAuthenticationMethod.Read.All`
//!   (also `UserAuthenticationMethod.ReadWrite.All`); every action reads the user's methods.
//! - The create, update and delete pages of each method type (phone, email, Microsoft
//!   Authenticator, software OATH, FIDO2, Windows Hello, temporary access pass, sign-in
//!   preferences): `UserAuthenticationMethod.ReadWrite.All`.
//! - "user: revokeSignInSessions": `User.RevokeSessions.All` (also `User.ReadWrite.All`,
//!   `Directory.ReadWrite.All`).
//! - "List hardwareOathDevices" (beta): `Policy.Read.All` (also
//!   `Policy.ReadWrite.AuthenticationMethod`); the hardware OATH actions find their token
//!   there, and "Create hardwareOathTokenAuthenticationMethodDevice" (`authbulk tokens import`)
//!   needs `Policy.ReadWrite.AuthenticationMethod`.
//! - "List group transitive members": `GroupMember.Read.All` (also `Group.Read.All`,
//!   `Directory.Read.All`, `GroupMember.ReadWrite.All`, `Group.ReadWrite.All`,
//!   `Directory.ReadWrite.All`).
//!
//! Delegated tokens carry the same names in `scp` (a delegated token also needs the signed-in
//! user's directory role, which Graph judges per call); `Directory.AccessAsUser.All` stands
//! for the user's own directory rights there. A token whose claims cannot be read (opaque) is
//! not judged.

use std::fmt;

use super::claims::{Granted, Principal, TokenClaims, granted_permissions};
use crate::job::ActionKind;
use crate::plan::Change;

/// A permission a job needs: the one to grant, and every one that also allows the calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// The least-privileged permission, the one to grant.
    pub permission: &'static str,
    /// Any of these allows the calls (the permission itself first).
    pub accepted: &'static [&'static str],
    /// What needs it (an action's name, `--all-users`, `--group`).
    pub needed_by: String,
    /// What for.
    pub purpose: &'static str,
}

const USER_READ: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "Directory.AccessAsUser.All",
];
const METHODS_READ: &[&str] = &[
    "UserAuthenticationMethod.Read.All",
    "UserAuthenticationMethod.ReadWrite.All",
];
const METHODS_WRITE: &[&str] = &["UserAuthenticationMethod.ReadWrite.All"];
const REVOKE: &[&str] = &[
    "User.RevokeSessions.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
    "Directory.AccessAsUser.All",
];
const GROUP_MEMBERS: &[&str] = &[
    "GroupMember.Read.All",
    "Group.Read.All",
    "Directory.Read.All",
    "GroupMember.ReadWrite.All",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
    "Directory.AccessAsUser.All",
];

const ADMINS_READ: &[&str] = &[
    "AuditLog.Read.All",
    "RoleManagement.Read.Directory",
    "RoleManagement.ReadWrite.Directory",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "Directory.AccessAsUser.All",
];
/// "List hardwareOathDevices" (beta): Policy.Read.All, or Policy.ReadWrite.AuthenticationMethod.
pub const TOKENS_READ: &[&str] = &["Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"];
const ORGANIZATION_READ: &[&str] = &[
    "Organization.Read.All",
    "Organization.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "Directory.AccessAsUser.All",
];

fn need(accepted: &'static [&'static str], by: &str, purpose: &'static str) -> Need {
    Need {
        permission: accepted[0],
        accepted,
        needed_by: by.to_string(),
        purpose,
    }
}

/// The permissions an action needs (it resolves the user and reads the methods first).
pub fn for_action(action: ActionKind) -> Vec<Need> {
    let by = action.name();
    let mut needs = vec![
        need(USER_READ, by, "to resolve users"),
        need(METHODS_READ, by, "to read authentication methods"),
    ];
    match action {
        ActionKind::List => {}
        ActionKind::RevokeSessions => needs.push(need(REVOKE, by, "to revoke sign-in sessions")),
        ActionKind::AssignOathToken | ActionKind::UnassignOathToken => {
            needs.push(need(TOKENS_READ, by, "to find hardware OATH tokens"));
            needs.push(need(METHODS_WRITE, by, "to change authentication methods"));
        }
        _ => needs.push(need(METHODS_WRITE, by, "to change authentication methods")),
    }
    needs
}

/// The permission a refused step of `action` needed: the read of the user, of the methods, or
/// the action's change.
pub fn for_refusal(action: ActionKind, step: &Change) -> Option<Need> {
    let by = action.name();
    Some(match step {
        Change::ReadUser => need(USER_READ, by, "to resolve users"),
        Change::ReadMethods | Change::ReadPreferences => {
            need(METHODS_READ, by, "to read authentication methods")
        }
        Change::RevokeSessions => need(REVOKE, by, "to revoke sign-in sessions"),
        Change::ReadOathToken { .. } => need(TOKENS_READ, by, "to find hardware OATH tokens"),
        _ if step.is_read() => return None,
        _ => need(METHODS_WRITE, by, "to change authentication methods"),
    })
}

/// The permission `--all-users` needs (listing users).
pub fn for_all_users() -> Need {
    need(USER_READ, "--all-users", "to list users")
}

/// The permission `--group` needs (listing a group's transitive members).
pub fn for_group() -> Need {
    need(GROUP_MEMBERS, "--group", "to list group members")
}

/// The permission `--exclude-group` needs (its transitive members, and a name looked up).
pub fn for_exclude_group() -> Need {
    need(
        GROUP_MEMBERS,
        "--exclude-group",
        "to list the group's members",
    )
}

/// The permission `--exclude-admins` needs: the registration report ("List
/// userRegistrationDetails": `AuditLog.Read.All`) or, without Entra ID P1/P2, the directory
/// roles' members ("List directoryRoles", "List members of a directory role":
/// `RoleManagement.Read.Directory`, also `Directory.Read.All`); either will do.
pub fn for_exclude_admins() -> Need {
    need(
        ADMINS_READ,
        "--exclude-admins",
        "to find users with an admin role",
    )
}

/// The permission reading the tenant's default domain needs ("Get organization":
/// `Organization.Read.All`, also `Directory.Read.All`), asked for before `--all-users` removes.
pub fn for_default_domain() -> Need {
    need(
        ORGANIZATION_READ,
        "--all-users with a removing action",
        "to read the tenant's default domain",
    )
}

/// The needs a token's claims do not meet, each permission once (the first need names it).
pub fn missing(claims: &TokenClaims, needs: &[Need]) -> Missing {
    let granted = granted_permissions(claims);
    let mut missing: Vec<Need> = Vec::new();
    for need in needs {
        let held = need.accepted.iter().any(|p| {
            granted
                .permissions
                .iter()
                .any(|g| g.eq_ignore_ascii_case(p))
        });
        if !held && !missing.iter().any(|m| m.permission == need.permission) {
            missing.push(need.clone());
        }
    }
    Missing { granted, missing }
}

/// What a token lacks for a job.
#[derive(Debug, Clone)]
pub struct Missing {
    /// What the token holds.
    pub granted: Granted,
    /// The needs it does not meet.
    pub missing: Vec<Need>,
}

impl Missing {
    /// True when nothing is missing.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty()
    }
}

/// How to grant `permission` to a token of this kind.
pub fn how_to_grant(principal: Principal, permission: &str) -> String {
    match principal {
        Principal::App => format!(
            "in the app registration: API permissions → Microsoft Graph → Application \
             permissions → {permission}, then grant admin consent"
        ),
        Principal::User => format!(
            "sign in again with `authbulk login` (it asks for {permission}) and consent, or \
             have an administrator grant consent for the app"
        ),
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.granted.principal {
            Principal::App => "application permission",
            Principal::User => "delegated scope",
        };
        for (i, need) in self.missing.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            let also: Vec<&str> = need.accepted[1..]
                .iter()
                .copied()
                .filter(|p| {
                    self.granted.principal == Principal::User || *p != "Directory.AccessAsUser.All"
                })
                .collect();
            write!(
                f,
                "the token lacks the {kind} {} that {} needs {}",
                need.permission, need.needed_by, need.purpose
            )?;
            if !also.is_empty() {
                write!(f, " (or one of {})", also.join(", "))?;
            }
            write!(
                f,
                ": {}",
                how_to_grant(self.granted.principal, need.permission)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(roles: &[&str]) -> TokenClaims {
        TokenClaims {
            idtyp: Some("app".into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..TokenClaims::default()
        }
    }

    #[test]
    fn each_action_needs_its_permissions_and_higher_ones_are_accepted() {
        let needs: Vec<Need> = [ActionKind::SetPhone, ActionKind::RevokeSessions]
            .into_iter()
            .flat_map(for_action)
            .collect();
        let all = app(&[
            "User.Read.All",
            "UserAuthenticationMethod.ReadWrite.All",
            "User.RevokeSessions.All",
        ]);
        assert!(missing(&all, &needs).is_empty());
        // User.ReadWrite.All covers resolving users and revoking sessions.
        let higher = app(&[
            "User.ReadWrite.All",
            "UserAuthenticationMethod.ReadWrite.All",
        ]);
        assert!(missing(&higher, &needs).is_empty());
        let read_only = app(&["User.Read.All", "UserAuthenticationMethod.Read.All"]);
        let lacking = missing(&read_only, &needs);
        let names: Vec<&str> = lacking.missing.iter().map(|n| n.permission).collect();
        assert_eq!(
            names,
            [
                "UserAuthenticationMethod.ReadWrite.All",
                "User.RevokeSessions.All"
            ]
        );
        let text = lacking.to_string();
        assert!(
            text.contains(
                "application permission UserAuthenticationMethod.ReadWrite.All that set-phone needs"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "Application permissions → User.RevokeSessions.All, then grant admin consent"
            ),
            "{text}"
        );
    }

    #[test]
    fn delegated_tokens_are_judged_by_their_scopes() {
        let user = TokenClaims {
            scp: Some("User.Read.All GroupMember.Read.All".into()),
            ..TokenClaims::default()
        };
        let mut needs = for_action(ActionKind::List);
        needs.push(for_group());
        let lacking = missing(&user, &needs);
        assert_eq!(lacking.missing.len(), 1);
        assert_eq!(
            lacking.missing[0].permission,
            "UserAuthenticationMethod.Read.All"
        );
        assert!(lacking.to_string().contains("authbulk login"));
    }
}
