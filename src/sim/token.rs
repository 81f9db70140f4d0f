//! The simulated token endpoint and the access tokens it issues. `POST /{tenant}/oauth2/v2.0/token`
//! takes the client-credentials grant with a client secret or a certificate client assertion
//! (a JWT signed RS256 or PS256, verified against the configured certificates, found by their
//! `x5t#S256` or `x5t` thumbprint). Access tokens are opaque, self-checking strings that expire
//! after the configured ttl; [`super::server`] checks them on every Graph call.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use rsa::RsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use serde::Deserialize;
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::reply::Reply;

/// A certificate the app registration trusts.
struct Trusted {
    sha1: String,
    sha256: String,
    key: RsaPublicKey,
}

/// The app registration, its tenant and the token signing key.
pub(crate) struct Tokens {
    /// Tenant id.
    pub tenant_id: String,
    /// Client (application) id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    ttl: Duration,
    key: [u8; 32],
    certificates: Vec<Trusted>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Parse every certificate of a PEM bundle into its thumbprints and RSA public key.
fn trusted(pem: &str) -> anyhow::Result<Vec<Trusted>> {
    let mut out = Vec::new();
    for block in x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()) {
        let block = block.context("reading a PEM block of the client certificate")?;
        if block.label != "CERTIFICATE" {
            continue;
        }
        let cert = block
            .parse_x509()
            .context("parsing the client certificate")?;
        let key = RsaPublicKey::from_public_key_der(cert.public_key().raw)
            .context("the client certificate's key is not an RSA key")?;
        out.push(Trusted {
            sha1: B64URL.encode(Sha1::digest(&block.contents)),
            sha256: B64URL.encode(Sha256::digest(&block.contents)),
            key,
        });
    }
    anyhow::ensure!(!out.is_empty(), "no certificate in the PEM text");
    Ok(out)
}

/// An AAD error answer.
fn aad_error(status: u16, error: &str, code: u32, description: &str) -> Reply {
    let trace = uuid::Uuid::new_v4().to_string();
    Reply::json(
        status,
        json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description} Trace ID: {trace}"),
            "error_codes": [code],
            "timestamp": chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string(),
            "trace_id": trace,
            "correlation_id": uuid::Uuid::new_v4().to_string(),
        }),
    )
}

#[derive(Deserialize)]
struct JwtHeader {
    alg: String,
    #[serde(rename = "x5t#S256")]
    x5t_s256: Option<String>,
    x5t: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    aud: Value,
    iss: Option<String>,
    sub: Option<String>,
    exp: Option<f64>,
    nbf: Option<f64>,
}

/// Clock skew accepted on `nbf` (a client clock slightly ahead); `exp` is checked strictly.
const SKEW_SECS: f64 = 300.0;

impl Tokens {
    /// The registration of `tenant_id`/`client_id`/`client_secret`, trusting the PEM
    /// certificates, issuing tokens that live `ttl`.
    pub fn new(
        tenant_id: String,
        client_id: String,
        client_secret: String,
        ttl: Duration,
        key: [u8; 32],
        certificates: &[String],
    ) -> anyhow::Result<Tokens> {
        let mut trusted_certs = Vec::new();
        for pem in certificates {
            trusted_certs.extend(trusted(pem)?);
        }
        Ok(Tokens {
            tenant_id,
            client_id,
            client_secret,
            ttl,
            key,
            certificates: trusted_certs,
        })
    }

    fn mac(&self, expires_ms: u64) -> String {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(expires_ms.to_be_bytes());
        B64URL.encode(&h.finalize()[..18])
    }

    /// A fresh access token and its lifetime in seconds.
    pub fn mint(&self) -> (String, u64) {
        let expires_ms = now_millis() + self.ttl.as_millis() as u64;
        (
            format!("simtoken.{expires_ms}.{}", self.mac(expires_ms)),
            self.ttl.as_secs(),
        )
    }

    /// Check the `Authorization` header of a Graph call: `Err` is the 401 to answer.
    pub fn check(&self, authorization: Option<&str>) -> Result<(), Reply> {
        let invalid = |message: &str| {
            Err(Reply::error(401, "InvalidAuthenticationToken", message)
                .with_header("WWW-Authenticate", "Bearer realm=\"\"".into()))
        };
        let Some(token) = authorization.and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        }) else {
            return invalid("Access token is empty.");
        };
        let parsed = token
            .strip_prefix("simtoken.")
            .and_then(|t| t.split_once('.'))
            .and_then(|(exp, mac)| Some((exp.parse::<u64>().ok()?, mac)));
        match parsed {
            Some((exp, mac)) if mac == self.mac(exp) => {
                if now_millis() >= exp {
                    invalid("Lifetime validation failed, the token is expired.")
                } else {
                    Ok(())
                }
            }
            _ => invalid("IDX14100: JWT is not well formed."),
        }
    }

    /// Answer `POST /{tenant}/oauth2/v2.0/token` with the form `body`; `endpoint` is the URL
    /// the request was sent to (a client assertion's `aud` must name it).
    pub fn token_endpoint(&self, tenant: &str, endpoint: &str, body: &[u8]) -> Reply {
        if !tenant.eq_ignore_ascii_case(&self.tenant_id)
            && !tenant.eq_ignore_ascii_case("contoso.onmicrosoft.com")
        {
            return aad_error(
                400,
                "invalid_request",
                90002,
                &format!("Tenant '{tenant}' not found."),
            );
        }
        let form = super::graph::query_params(&String::from_utf8_lossy(body));
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        if field("grant_type") != Some("client_credentials") {
            return aad_error(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type.",
            );
        }
        if !field("scope").is_some_and(|s| s.ends_with("/.default")) {
            return aad_error(
                400,
                "invalid_scope",
                1002012,
                "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.",
            );
        }
        let client = field("client_id").unwrap_or("");
        if client != self.client_id {
            return aad_error(
                400,
                "unauthorized_client",
                700016,
                &format!("Application with identifier '{client}' was not found in the directory."),
            );
        }
        if let Some(secret) = field("client_secret") {
            if secret != self.client_secret {
                return aad_error(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided.",
                );
            }
        } else if let Some(assertion) = field("client_assertion") {
            if field("client_assertion_type")
                != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            {
                return aad_error(
                    400,
                    "invalid_request",
                    50027,
                    "Invalid client_assertion_type.",
                );
            }
            if let Err(reply) = self.verify_assertion(assertion, endpoint, tenant) {
                return reply;
            }
        } else {
            return aad_error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            );
        }
        let (token, expires_in) = self.mint();
        Reply::json(
            200,
            json!({"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": token}),
        )
    }

    /// Verify a client assertion: signature against a trusted certificate, `aud`, time range,
    /// `iss` and `sub`.
    fn verify_assertion(&self, jwt: &str, endpoint: &str, tenant: &str) -> Result<(), Reply> {
        let malformed = || {
            aad_error(
                401,
                "invalid_client",
                50027,
                "JWT token is invalid or malformed.",
            )
        };
        let mut parts = jwt.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        let decode = |p: &str| B64URL.decode(p.trim_end_matches('=')).ok();
        let header: JwtHeader = decode(h)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(malformed)?;
        let claims: Claims = decode(c)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(malformed)?;
        let signature = decode(s).ok_or_else(malformed)?;
        let cert = self.certificates.iter().find(|t| {
            header.x5t_s256.as_deref() == Some(t.sha256.as_str())
                || header.x5t.as_deref() == Some(t.sha1.as_str())
        });
        let Some(cert) = cert else {
            return Err(aad_error(
                401,
                "invalid_client",
                700027,
                "Client assertion failed signature validation. The key was not found.",
            ));
        };
        let signed = &jwt.as_bytes()[..h.len() + 1 + c.len()];
        let verified = match header.alg.as_str() {
            "RS256" => rsa::pkcs1v15::Signature::try_from(signature.as_slice())
                .ok()
                .is_some_and(|sig| {
                    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(cert.key.clone())
                        .verify(signed, &sig)
                        .is_ok()
                }),
            "PS256" => rsa::pss::Signature::try_from(signature.as_slice())
                .ok()
                .is_some_and(|sig| {
                    rsa::pss::VerifyingKey::<Sha256>::new(cert.key.clone())
                        .verify(signed, &sig)
                        .is_ok()
                }),
            _ => false,
        };
        if !verified {
            return Err(aad_error(
                401,
                "invalid_client",
                700027,
                "Client assertion failed signature validation.",
            ));
        }
        let audiences: Vec<&str> = match &claims.aud {
            Value::String(a) => vec![a.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let with_id = endpoint.replacen(tenant, &self.tenant_id, 1);
        if !audiences.iter().any(|a| *a == endpoint || *a == with_id) {
            return Err(aad_error(
                401,
                "invalid_client",
                700212,
                &format!(
                    "The audience of the client assertion is not valid. Expected '{endpoint}'."
                ),
            ));
        }
        let now = now_secs() as f64;
        let in_time =
            claims.exp.is_some_and(|e| now < e) && claims.nbf.is_none_or(|n| n <= now + SKEW_SECS);
        if !in_time {
            return Err(aad_error(
                401,
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.",
            ));
        }
        if claims.iss.as_deref() != Some(&self.client_id)
            || claims.sub.as_deref() != Some(&self.client_id)
        {
            return Err(aad_error(
                401,
                "invalid_client",
                700023,
                "Client assertion audience claim does not match Realm issuer.",
            ));
        }
        Ok(())
    }
}
