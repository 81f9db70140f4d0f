//! What an access token says about itself: its claims, read without verifying the signature
//! (Graph verifies it; we only read them to fail early and to tell the admin who is signed in).
//! Microsoft identity platform "Access token claims reference": app-only tokens carry the
//! application permissions in `roles`; delegated tokens carry the scopes in `scp`
//! (space-separated) and the user's `upn`, `oid`, and active directory roles in `wids`.
//! [`granted_permissions`] maps claims to what the token may do, for
//! [`super::TokenProvider::check`] and a run's preflight.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// Who a token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// An app (or managed identity) on its own: permissions are `roles`.
    App,
    /// A signed-in user through an app: permissions are `scp`.
    User,
}

/// The claims of an access token that authbulk reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenClaims {
    /// Delegated scopes, space-separated.
    #[serde(default)]
    pub scp: Option<String>,
    /// Application permissions.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The signed-in user's principal name.
    #[serde(default)]
    pub upn: Option<String>,
    /// Another spelling of the user's name (guests, personal accounts).
    #[serde(default)]
    pub unique_name: Option<String>,
    /// Object id of the user or service principal.
    #[serde(default)]
    pub oid: Option<String>,
    /// Tenant id.
    #[serde(default)]
    pub tid: Option<String>,
    /// The client app's id (v1 tokens).
    #[serde(default)]
    pub appid: Option<String>,
    /// The client app's id (v2 tokens).
    #[serde(default)]
    pub azp: Option<String>,
    /// `app` or `user` when the token says so.
    #[serde(default)]
    pub idtyp: Option<String>,
    /// Active directory roles (role template ids).
    #[serde(default)]
    pub wids: Vec<String>,
    /// Expiry, Unix seconds.
    #[serde(default)]
    pub exp: Option<i64>,
}

/// What a token may do in Graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// App-only or delegated.
    pub principal: Principal,
    /// `roles` of an app token, or `scp` of a delegated one.
    pub permissions: BTreeSet<String>,
}

/// Directory roles that may manage other users' authentication methods, by template id
/// (Microsoft Entra built-in roles): Authentication Administrator, Privileged Authentication
/// Administrator, Global Administrator.
pub const METHOD_ADMIN_ROLES: [(&str, &str); 3] = [
    (
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
        "Authentication Administrator",
    ),
    (
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
        "Privileged Authentication Administrator",
    ),
    (
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
    ),
];

impl TokenClaims {
    /// App-only or delegated: `idtyp` when present, else a token with `scp` is delegated.
    pub fn principal(&self) -> Principal {
        match self.idtyp.as_deref() {
            Some("app") => Principal::App,
            Some("user") => Principal::User,
            _ if self.scp.is_some() => Principal::User,
            _ => Principal::App,
        }
    }

    /// The user's name, when the token is a user's.
    pub fn user_name(&self) -> Option<&str> {
        self.upn.as_deref().or(self.unique_name.as_deref())
    }

    /// The client app's id.
    pub fn app_id(&self) -> Option<&str> {
        self.appid.as_deref().or(self.azp.as_deref())
    }

    /// The names of the method-admin roles in `wids` (others are left out).
    pub fn admin_roles(&self) -> Vec<&'static str> {
        METHOD_ADMIN_ROLES
            .iter()
            .filter(|(id, _)| self.wids.iter().any(|w| w.eq_ignore_ascii_case(id)))
            .map(|(_, name)| *name)
            .collect()
    }
}

/// The claims of a JWT access token; `None` for an opaque token or unreadable claims.
pub fn read_claims(token: &str) -> Option<TokenClaims> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Map a token's claims to what it may do: `roles` of app-only tokens, `scp` of delegated ones.
pub fn granted_permissions(claims: &TokenClaims) -> Granted {
    let principal = claims.principal();
    let permissions = match principal {
        Principal::App => claims.roles.iter().cloned().collect(),
        Principal::User => claims
            .scp
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect(),
    };
    Granted {
        principal,
        permissions,
    }
}

impl Granted {
    /// Whether any permission lets the token read or change authentication methods
    /// (`UserAuthenticationMethod.*`, or a per-type `UserAuthMethod-*`).
    pub fn reaches_methods(&self) -> bool {
        self.permissions
            .iter()
            .any(|p| p.starts_with("UserAuthenticationMethod.") || p.starts_with("UserAuthMethod-"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!("eyJhbGciOiJub25lIn0.{}.sig", URL_SAFE_NO_PAD.encode(claims))
    }

    #[test]
    fn an_azure_cli_token_is_delegated_and_does_not_reach_methods() {
        // The shape of the Azure CLI's Graph token: scp without UserAuthenticationMethod.*.
        let token = jwt(
            r#"{"aud":"https://graph.microsoft.com","appid":"04b07795-8ddb-461a-bbee-02f9e1bf7b46","scp":"Application.ReadWrite.All AuditLog.Read.All Directory.AccessAsUser.All Group.ReadWrite.All User.ReadWrite.All","upn":"admin@contoso.com","tid":"t"}"#,
        );
        let claims = read_claims(&token).expect("claims");
        let granted = granted_permissions(&claims);
        assert_eq!(granted.principal, Principal::User);
        assert!(!granted.reaches_methods());
        assert_eq!(claims.user_name(), Some("admin@contoso.com"));
    }

    #[test]
    fn app_tokens_use_roles_and_delegated_tokens_scp() {
        let app = read_claims(&jwt(
            r#"{"idtyp":"app","roles":["UserAuthenticationMethod.ReadWrite.All"]}"#,
        ))
        .expect("claims");
        let granted = granted_permissions(&app);
        assert_eq!(granted.principal, Principal::App);
        assert!(granted.reaches_methods());
        let user = read_claims(&jwt(
            r#"{"scp":"UserAuthMethod-Phone.ReadWrite.All User.Read","wids":["c4e39bd9-1100-46d3-8c65-fb160da0071f"]}"#,
        ))
        .expect("claims");
        assert!(granted_permissions(&user).reaches_methods());
        assert_eq!(user.admin_roles(), ["Authentication Administrator"]);
        assert!(read_claims("opaque").is_none());
    }
}
