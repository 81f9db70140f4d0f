//! Credentials and access tokens. Owns the credential chain of DESIGN.md (an access token from
//! an environment variable, client secret, certificate, workload identity, managed identity,
//! the admin's own sign-in from `authbulk login`, Azure CLI), the clouds and endpoint overrides, and the token cache the Graph client asks
//! before every call ([`TokenProvider::token`]) and after a 401 ([`TokenProvider::invalidate`]).
//! The command line builds an [`AuthConfig`] (in `cli::auth_flags`); the command calls
//! [`TokenProvider::from_config`] and [`TokenProvider::check`] before any work, so a bad
//! credential is one fatal error (exit 2) naming the AADSTS code.
//!
//! Secrets and tokens never leave this module in logs, errors or `Debug` output: they travel as
//! [`Secret`], whose `Debug` and `Display` print `***`.
//!
//! Why not the `azure_identity` crate: its certificate credential needs OpenSSL, it refuses an
//! authority host that is not HTTPS (the simulator on 127.0.0.1 is plain HTTP), its IMDS
//! endpoint cannot be moved for tests, and it brings reqwest 0.13 beside our 0.12: a second
//! HTTP and TLS stack. What we need of it is a few small token requests, written here on the
//! shared reqwest client.

use std::sync::Arc;

use thiserror::Error;

mod assertion;
mod azure_cli;
mod cache;
mod certificate;
pub mod claims;
mod cloud;
mod config;
mod credential;
mod delegated;
mod managed;
pub mod permissions;
mod secret;
pub(crate) mod sign_in_store;
mod workload;

pub use cloud::Cloud;
pub use config::{AuthConfig, CredentialSource, ManagedIdentityEndpoint};
pub(crate) use config::{
    IMDS_HOST, IMDS_TOKEN_PATH, check_endpoint, check_identity_endpoint, check_tenant,
};
pub use credential::Secret;
pub use delegated::{GRAPH_CLI_CLIENT_ID, LoginMethod, LoginSettings, sign_in};
pub(crate) use managed::default_arc_tokens_dir;
pub use sign_in_store::{SignIn, SignInStore, StoreKind};

use cache::TokenCache;
use credential::{Credential, EntraApp};

/// Why no token could be had. Always fatal for the run (exit 2), named with the AADSTS code when
/// the token endpoint gave one.
#[derive(Debug, Clone, Error)]
pub enum AuthError {
    /// The token endpoint refused the credential.
    #[error("the token endpoint refused the credential: {0}")]
    Refused(String),
    /// The credential could not be loaded or the endpoint not reached.
    #[error("{0}")]
    Unavailable(String),
    /// The token works but cannot do authbulk's work (a delegated token without the
    /// authentication-method scopes, such as the Azure CLI's).
    #[error("{0}")]
    MissingPermission(String),
}

/// A source of access tokens for Graph, cached and refreshed before expiry. Cheap to clone.
#[derive(Clone)]
pub struct TokenProvider {
    inner: Arc<Inner>,
}

enum Inner {
    /// A token handed over as is (`--access-token-env`): never refreshed.
    Fixed(String),
    /// A credential with its cache.
    Cached(TokenCache),
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenProvider(..)")
    }
}

impl TokenProvider {
    /// A provider that always answers with this token.
    pub fn fixed(token: impl Into<String>) -> Self {
        TokenProvider {
            inner: Arc::new(Inner::Fixed(token.into())),
        }
    }

    /// The provider for a validated config. Loads what can be loaded now (the certificate and
    /// its key, checked for a wrong password or a key that does not match), so those mistakes
    /// surface before any network call; the first token is fetched by [`check`](Self::check)
    /// or the first [`token`](Self::token). `http` is the client Graph calls use too.
    pub fn from_config(config: &AuthConfig, http: reqwest::Client) -> Result<Self, AuthError> {
        let app = |tenant: &str, client_id: &str| EntraApp {
            tenant: tenant.to_string(),
            client_id: client_id.to_string(),
            token_url: config.token_url(tenant),
            scope: config.scope(),
        };
        let resource = config.cloud().graph_root().to_string();
        let credential: Box<dyn Credential> = match config.credential() {
            CredentialSource::AccessToken { variable, token } => {
                check_not_expired(token.expose(), credential::unix_now() as i64).map_err(
                    |why| AuthError::Unavailable(format!("the access token in ${variable} {why}")),
                )?;
                return Ok(Self::fixed(token.expose()));
            }
            CredentialSource::ClientSecret {
                tenant,
                client_id,
                secret,
            } => Box::new(secret::ClientSecretCredential {
                app: app(tenant, client_id),
                secret: secret.clone(),
                http,
            }),
            CredentialSource::Certificate {
                tenant,
                client_id,
                path,
                password,
            } => Box::new(certificate::ClientCertificateCredential {
                app: app(tenant, client_id),
                certificate: certificate::load(path, password.as_ref())?,
                http,
            }),
            CredentialSource::WorkloadIdentity {
                tenant,
                client_id,
                token_file,
            } => Box::new(workload::WorkloadIdentityCredential {
                app: app(tenant, client_id),
                token_file: token_file.clone(),
                http,
            }),
            CredentialSource::ManagedIdentity {
                client_id,
                endpoint,
            } => Box::new(managed::ManagedIdentityCredential {
                endpoint: endpoint.clone(),
                client_id: client_id.clone(),
                resource,
                http,
            }),
            CredentialSource::SignedIn { sign_in, store } => {
                Box::new(delegated::SignedInCredential {
                    store: store.clone(),
                    client_id: sign_in.client_id.clone(),
                    token_url: config.token_url(&sign_in.tenant),
                    cloud: config.cloud(),
                    http,
                })
            }
            CredentialSource::AzureCli { program, tenant } => {
                Box::new(azure_cli::AzureCliCredential {
                    program: program.clone(),
                    resource,
                    tenant: tenant.clone(),
                })
            }
        };
        tracing::info!("authenticating with the {}", config.describe());
        Ok(TokenProvider {
            inner: Arc::new(Inner::Cached(TokenCache::new(credential))),
        })
    }

    /// Fetch the first token now, so a bad secret or certificate stops the command before any
    /// work with one error naming the AADSTS code; and read its claims, so a delegated token
    /// that cannot reach authentication methods (the Azure CLI's own token: `scp` without
    /// `UserAuthenticationMethod.*`, no `roles`) stops it too, before any Graph request.
    pub async fn check(&self) -> Result<(), AuthError> {
        let token = self.token().await?;
        check_claims(&token)
    }

    /// A valid access token, fetched or refreshed when the cached one is near its expiry.
    /// Many tasks may call this at once: at most one fetch is in flight, and callers keep using
    /// the current token while one of them refreshes it ahead of expiry.
    pub async fn token(&self) -> Result<String, AuthError> {
        match &*self.inner {
            Inner::Fixed(token) => Ok(token.clone()),
            Inner::Cached(cache) => cache.token().await,
        }
    }

    /// Forget `used` after Graph answered 401 to it, so the next [`token`](Self::token) call
    /// fetches a fresh one (once: a token fetched after `used` is kept).
    pub fn invalidate(&self, used: &str) {
        match &*self.inner {
            Inner::Fixed(_) => {}
            Inner::Cached(cache) => cache.invalidate(used),
        }
    }
}

/// Refuse a delegated token without any authentication-method scope (Graph would answer 403 to
/// every method read and write), and warn when the signed-in user has no role that may manage
/// other users' methods. Opaque tokens and app tokens pass (Graph judges `roles` per call).
fn check_claims(token: &str) -> Result<(), AuthError> {
    let Some(claims) = claims::read_claims(token) else {
        return Ok(());
    };
    let granted = claims::granted_permissions(&claims);
    if granted.principal != claims::Principal::User {
        return Ok(());
    }
    let who = claims.user_name().unwrap_or("the signed-in user");
    let app = claims.app_id().unwrap_or("an unknown app");
    if !granted.reaches_methods() {
        let scopes: Vec<&str> = granted.permissions.iter().map(String::as_str).collect();
        return Err(AuthError::MissingPermission(format!(
            "the token is {who}'s, delegated through app {app}, and its scopes ({}) include no UserAuthenticationMethod.* scope: \
             Graph would refuse every authentication-method read and write (403). This is how the Azure CLI's own token looks. \
             Instead run `authbulk login` (it asks for UserAuthenticationMethod.ReadWrite.All and the other scopes authbulk needs), \
             or use an app registration with application permissions (AZURE_CLIENT_SECRET, --certificate, --managed-identity)",
            if scopes.is_empty() {
                "none".to_string()
            } else {
                scopes.join(" ")
            }
        )));
    }
    if !claims.wids.is_empty() && claims.admin_roles().is_empty() {
        tracing::warn!(
            "{who} has no active Authentication Administrator, Privileged Authentication Administrator or Global Administrator role in this token: \
             Graph will refuse changes to other users' methods (activate the role in PIM, then `authbulk login` again)"
        );
    }
    Ok(())
}

/// A token handed over as is cannot be refreshed: refuse one whose `exp` claim (read without
/// verifying the signature, only to fail early) has passed. Tokens that are not JWTs pass.
fn check_not_expired(token: &str, now: i64) -> Result<(), String> {
    use base64::Engine;
    let Some(payload) = token.split('.').nth(1) else {
        return Ok(());
    };
    let Ok(bytes) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))
    else {
        return Ok(());
    };
    let exp = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|claims| claims.get("exp").and_then(serde_json::Value::as_i64));
    match exp {
        Some(exp) if exp <= now => {
            let when = chrono::DateTime::from_timestamp(exp, 0)
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| exp.to_string());
            Err(format!("expired at {when}; get a new one"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn jwt(claims: &str) -> String {
        format!("eyJhbGciOiJub25lIn0.{}.sig", URL_SAFE_NO_PAD.encode(claims))
    }

    #[test]
    fn a_handed_over_token_that_expired_is_refused_before_use() {
        let now = 1_700_000_000;
        assert!(check_not_expired(&jwt(r#"{"exp":1700003600}"#), now).is_ok());
        let err = check_not_expired(&jwt(r#"{"exp":1699999999}"#), now).expect_err("expired");
        assert!(err.contains("expired at 2023-11-14T22:13:19"), "{err}");
        // Opaque tokens and tokens without exp are passed on for Graph to judge.
        assert!(check_not_expired("opaque-token", now).is_ok());
        assert!(check_not_expired(&jwt(r#"{"aud":"x"}"#), now).is_ok());
    }
}
