//! The simulated token endpoint and the access tokens it issues. `POST /{tenant}/oauth2/v2.0/token`
//! takes the client-credentials grant with a client secret or a certificate client assertion
//! (a JWT signed RS256 or PS256, verified against the configured certificates, found by their
//! `x5t#S256` or `x5t` thumbprint), and the delegated grants of [`signin`] (device code,
//! authorization code with PKCE, refresh token). A scope of a resource other than Microsoft
//! Graph is refused with AADSTS500011, as Entra does.
//!
//! Access tokens are JWTs signed HS256 with the simulator's key, so a client can read their
//! claims the way it reads Entra's (Microsoft identity platform "Access token claims
//! reference"): `aud`, `iss`, `tid`, `appid`/`azp`, `idtyp`, `exp`, and `roles` (application
//! permissions) for app tokens or `scp` (space-separated delegated scopes) with the user's
//! `upn`, `oid` and directory roles (`wids`) for delegated ones. They expire after the
//! configured ttl; [`super::server`] checks them on every Graph call.

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

pub(crate) mod signin;

/// Microsoft Graph, as an `aud` and a scope prefix (the simulated tenant is in the global cloud).
pub(crate) const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// Microsoft Graph's application id, which Entra accepts in place of its URI.
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// The application permissions the simulated app registration holds (graph-contract.md,
/// "Application permissions"), less those `--deny` withholds.
pub(crate) const APP_PERMISSIONS: [&str; 10] = [
    "Organization.Read.All",
    "UserAuthenticationMethod.Read.All",
    "UserAuthenticationMethod.ReadWrite.All",
    "Policy.Read.AuthenticationMethod",
    "User.Read.All",
    "GroupMember.Read.All",
    "AuditLog.Read.All",
    "User.RevokeSessions.All",
    "RoleManagement.Read.Directory",
    "Policy.ReadWrite.AuthenticationMethod",
];

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
    /// The application permissions app tokens carry in `roles`.
    app_roles: Vec<String>,
    /// Device codes, authorization codes and refresh tokens of delegated sign-ins.
    pub(crate) signins: signin::SignIns,
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
pub(crate) fn aad_error(status: u16, error: &str, code: u32, description: &str) -> Reply {
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

/// Refuse a scope of another resource than Microsoft Graph (the only resource of the
/// simulated tenant) the way Entra does: AADSTS500011 "The resource principal named ... was
/// not found in the tenant". OpenID Connect scopes and bare names (Graph's) pass.
pub(crate) fn scope_resource(scope: &str, tenant: &str) -> Result<(), Reply> {
    for item in scope.split_whitespace() {
        let Some((resource, _)) = item.rsplit_once('/') else {
            continue;
        };
        if resource.eq_ignore_ascii_case(GRAPH_RESOURCE)
            || resource.eq_ignore_ascii_case(GRAPH_APP_ID)
            || resource.eq_ignore_ascii_case("https://graph.microsoft.com/")
        {
            continue;
        }
        return Err(aad_error(
            400,
            "invalid_resource",
            500011,
            &format!(
                "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
            ),
        ));
    }
    Ok(())
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
            app_roles: APP_PERMISSIONS.iter().map(|p| p.to_string()).collect(),
            signins: signin::SignIns::default(),
        })
    }

    /// Withhold these application permissions from app tokens' `roles` (`--deny`).
    pub fn without_app_roles<'a>(mut self, denied: impl IntoIterator<Item = &'a String>) -> Self {
        let denied: Vec<&String> = denied.into_iter().collect();
        self.app_roles.retain(|r| !denied.contains(&r));
        self
    }

    /// HMAC-SHA256 (RFC 2104) of `data` with the simulator's key.
    fn hmac(&self, data: &[u8]) -> [u8; 32] {
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.key);
        let pad = |byte: u8| block.map(|b| b ^ byte);
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(data)
            .finalize();
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize()
            .into()
    }

    /// Sign `claims` into a JWT (HS256).
    fn sign(&self, claims: &Value) -> String {
        let header = B64URL.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = B64URL.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signed = format!("{header}.{body}");
        let signature = B64URL.encode(self.hmac(signed.as_bytes()));
        format!("{signed}.{signature}")
    }

    /// The claims every access token carries; `exp_ms` is the simulator's own, exact expiry
    /// (`exp` is whole seconds, too coarse for tokens that live two seconds in tests).
    fn base_claims(&self, client_id: &str) -> (Value, u64) {
        let now = now_secs();
        let expires_ms = now_millis() + self.ttl.as_millis() as u64;
        let claims = json!({
            "aud": GRAPH_RESOURCE,
            "iss": format!("https://sts.windows.net/{}/", self.tenant_id),
            "iat": now,
            "nbf": now,
            "exp": expires_ms.div_ceil(1000),
            "exp_ms": expires_ms,
            "tid": self.tenant_id,
            "appid": client_id,
            "azp": client_id,
            "ver": "1.0",
        });
        (claims, self.ttl.as_secs())
    }

    /// A fresh app-only access token (`roles`, `idtyp: app`) and its lifetime in seconds.
    pub fn mint(&self) -> (String, u64) {
        let (mut claims, ttl) = self.base_claims(&self.client_id);
        claims["idtyp"] = json!("app");
        claims["roles"] = json!(self.app_roles);
        claims["oid"] = json!(self.service_principal_id());
        claims["sub"] = claims["oid"].clone();
        (self.sign(&claims), ttl)
    }

    /// A fresh delegated access token for `user` with `scopes` (Graph's, without prefix).
    pub(crate) fn mint_delegated(
        &self,
        client_id: &str,
        user: &signin::User,
        scopes: &[String],
    ) -> (String, u64) {
        let (mut claims, ttl) = self.base_claims(client_id);
        claims["idtyp"] = json!("user");
        claims["scp"] = json!(scopes.join(" "));
        claims["upn"] = json!(user.upn);
        claims["unique_name"] = json!(user.upn);
        claims["name"] = json!(user.upn);
        claims["oid"] = json!(user.oid);
        claims["sub"] = json!(user.oid);
        claims["wids"] = json!(user.roles);
        (self.sign(&claims), ttl)
    }

    /// The app's service principal object id (stable for a tenant).
    fn service_principal_id(&self) -> String {
        let digest = Sha256::digest(format!("sp:{}:{}", self.tenant_id, self.client_id));
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    /// The claims of a token this simulator signed, if it did.
    fn verified_claims(&self, token: &str) -> Option<Value> {
        let (signed, signature) = token.rsplit_once('.')?;
        let (header, body) = signed.split_once('.')?;
        let header: Value = serde_json::from_slice(&B64URL.decode(header).ok()?).ok()?;
        if header["alg"] != "HS256" {
            return None;
        }
        let signature = B64URL.decode(signature).ok()?;
        // Compare in constant time: a forged signature learns nothing from the timing.
        let expected = self.hmac(signed.as_bytes());
        if signature.len() != expected.len()
            || signature
                .iter()
                .zip(expected)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                != 0
        {
            return None;
        }
        serde_json::from_slice(&B64URL.decode(body).ok()?).ok()
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
        match self.verified_claims(token) {
            Some(claims) => {
                let exp_ms = claims["exp_ms"].as_u64().unwrap_or(0);
                if claims["aud"] != GRAPH_RESOURCE && claims["aud"] != GRAPH_APP_ID {
                    invalid("Invalid audience.")
                } else if now_millis() >= exp_ms {
                    invalid("Lifetime validation failed, the token is expired.")
                } else {
                    Ok(())
                }
            }
            None => invalid("IDX14100: JWT is not well formed."),
        }
    }

    /// Answer `POST /{tenant}/oauth2/v2.0/token` with the form `body`; `endpoint` is the URL
    /// the request was sent to (a client assertion's `aud` must name it).
    pub fn token_endpoint(&self, tenant: &str, endpoint: &str, body: &[u8]) -> Reply {
        let form = super::graph::query_params(&String::from_utf8_lossy(body));
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        // A user's sign-in may go to `organizations` or `common`; an app's may not (AADSTS
        // 900023 on Entra, which needs the tenant to find the registration).
        let delegated = field("grant_type") != Some("client_credentials");
        let known = self.knows_tenant(tenant) || (delegated && signin::is_multi_tenant(tenant));
        if !known {
            return aad_error(
                400,
                "invalid_request",
                90002,
                &format!("Tenant '{tenant}' not found."),
            );
        }
        match field("grant_type") {
            Some("client_credentials") => {}
            Some(signin::DEVICE_CODE_GRANT) => return self.device_code_grant(&form),
            Some("authorization_code") => return self.authorization_code_grant(&form),
            Some("refresh_token") => return self.refresh_token_grant(&form),
            _ => {
                return aad_error(
                    400,
                    "unsupported_grant_type",
                    70003,
                    "The app requested an unsupported grant type.",
                );
            }
        }
        if let Err(reply) = scope_resource(field("scope").unwrap_or(""), tenant) {
            return reply;
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

    /// The tenant in a token or device code path: the simulated tenant's id or domain, or
    /// `organizations`/`common`, which a work account's sign-in resolves to its home tenant.
    pub(crate) fn knows_tenant(&self, tenant: &str) -> bool {
        tenant.eq_ignore_ascii_case(&self.tenant_id)
            || tenant.eq_ignore_ascii_case("contoso.onmicrosoft.com")
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
