//! The client assertion: a JWT signed with the certificate's private key that proves the app's
//! identity to the token endpoint instead of a secret. Format per graph-contract.md and
//! Microsoft's "certificate credentials" page: header `alg` PS256 with `x5t#S256` (the SHA-256
//! thumbprint of the DER certificate), claims `aud` = the token endpoint URL, `iss` = `sub` =
//! client id, a unique `jti`, `nbf`/`iat` now and `exp` ten minutes later. Built fresh for every
//! token request by [`super::certificate::ClientCertificateCredential`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pss::BlindedSigningKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use serde_json::json;
use sha2::Sha256;

use super::certificate::ClientCertificate;

/// How long an assertion is valid: long enough for clock skew, short enough to be useless if
/// it leaks.
const LIFETIME_SECONDS: i64 = 600;

/// A signed assertion for `client_id` addressed to `token_url`, issued at `now` (Unix seconds).
pub(crate) fn client_assertion(
    certificate: &ClientCertificate,
    client_id: &str,
    token_url: &str,
    now: i64,
) -> String {
    let header = json!({
        "alg": "PS256",
        "typ": "JWT",
        "x5t#S256": certificate.thumbprint_sha256(),
    });
    let claims = json!({
        "aud": token_url,
        "iss": client_id,
        "sub": client_id,
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now,
        "iat": now,
        "exp": now + LIFETIME_SECONDS,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    // PSS with SHA-256 and a 32-byte salt, as RFC 7518 defines PS256. The blinded key hides the
    // private exponent from timing.
    let key = BlindedSigningKey::<Sha256>::new(certificate.key.clone());
    let signature = key.sign_with_rng(&mut rsa::rand_core::OsRng, signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_vec())
    )
}
