//! An admin signs in as themselves (`authbulk login`), the way `Connect-MgGraph -Scopes` does:
//! to a public client app (by default Microsoft Graph Command Line Tools), with the delegated
//! scopes authbulk's actions need plus `offline_access`, by the device code flow or, with
//! `--browser`, the authorization code flow with PKCE on a loopback redirect. Runs then get
//! access tokens from the stored refresh token ([`SignedInCredential`]), which Entra rotates on
//! every use.
//!
//! Protocols, as Microsoft documents them: "Microsoft identity platform and the OAuth 2.0
//! device authorization grant flow" (poll at `interval`, `authorization_pending`, `slow_down`
//! adds 5 s (RFC 8628 3.5), `authorization_declined`, `expired_token`), "Microsoft identity
//! platform and OAuth 2.0 authorization code flow" (PKCE S256, loopback `redirect_uri`), and
//! "Refresh the access token" in the same page.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::BoxFuture;
use rand::Rng;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::AuthError;
use super::claims::{granted_permissions, read_claims};
use super::cloud::Cloud;
use super::credential::{AccessToken, Credential, Secret, describe_refusal, parse_token, redact};
use super::sign_in_store::{SignIn, SignInStore, StoreKind};

/// Microsoft Graph Command Line Tools, the public client `Connect-MgGraph` signs in to.
pub const GRAPH_CLI_CLIENT_ID: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";

/// The delegated scopes authbulk's actions need (graph-contract.md, "Tokens").
pub const DELEGATED_SCOPES: [&str; 4] = [
    "UserAuthenticationMethod.ReadWrite.All",
    "User.Read.All",
    "GroupMember.Read.All",
    "AuditLog.Read.All",
];

/// How long one call to the token endpoint may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `--browser` waits for the redirect.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(300);
/// The device code flow's default poll interval when the answer names none (RFC 8628 3.2).
const DEFAULT_INTERVAL: u64 = 5;
/// What `slow_down` adds to the interval (RFC 8628 3.5).
const SLOW_DOWN: Duration = Duration::from_secs(5);

/// The `scope` of a sign-in: the delegated scopes prefixed by the cloud's Graph root, and
/// `offline_access` for a refresh token.
pub fn delegated_scope(cloud: Cloud) -> String {
    let mut scope: Vec<String> = DELEGATED_SCOPES
        .iter()
        .map(|s| format!("{}/{s}", cloud.graph_root()))
        .collect();
    scope.push("offline_access".into());
    scope.join(" ")
}

/// Where and as what an admin signs in.
#[derive(Debug, Clone)]
pub struct LoginSettings {
    /// Authority host, without trailing slash.
    pub authority: String,
    /// Tenant id or domain, or `organizations`.
    pub tenant: String,
    /// The public client app.
    pub client_id: String,
    /// The cloud (scopes are its Graph root's).
    pub cloud: Cloud,
}

impl LoginSettings {
    fn endpoint(&self, name: &str) -> String {
        format!("{}/{}/oauth2/v2.0/{name}", self.authority, self.tenant)
    }
}

/// How the admin signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMethod {
    /// Device code: a URL and a code to enter on any device.
    DeviceCode,
    /// Authorization code with PKCE, redirected to a listener on this machine.
    Browser,
}

/// What `authbulk login` tells the admin at the end.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    /// What was stored.
    pub sign_in: SignIn,
    /// Scopes the token carries.
    pub scopes: Vec<String>,
    /// Method-admin directory roles active in the token.
    pub admin_roles: Vec<&'static str>,
    /// Whether the scopes reach authentication methods.
    pub reaches_methods: bool,
}

/// An access token and, with `offline_access`, a refresh token.
struct TokenAnswer {
    access: AccessToken,
    refresh: Option<Secret>,
}

#[derive(Deserialize)]
struct DeviceCodeAnswer {
    user_code: String,
    device_code: String,
    verification_uri: String,
    expires_in: u64,
    #[serde(default)]
    interval: Option<u64>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
}

/// POST a form; the status and body, or why nothing came back.
async fn send_form(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
    redact_values: &[&str],
) -> Result<(u16, String), AuthError> {
    let response = http
        .post(url)
        .form(form)
        .timeout(CALL_TIMEOUT)
        .send()
        .await
        .map_err(|err| {
            AuthError::Unavailable(redact(
                &format!("the sign-in endpoint {url} could not be reached: {err}"),
                redact_values,
            ))
        })?;
    let status = response.status().as_u16();
    let body = response
        .text()
        .await
        .map_err(|err| AuthError::Unavailable(format!("reading the answer of {url}: {err}")))?;
    Ok((status, body))
}

fn read_answer(body: &str, sent: Instant, what: &str) -> Result<TokenAnswer, AuthError> {
    let access = parse_token(body, sent, what)?;
    let refresh = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["refresh_token"].as_str().map(Secret::new));
    Ok(TokenAnswer { access, refresh })
}

/// The device code flow: print where to go and the code, then poll at the interval Entra gives
/// until the admin signs in, declines, or the code expires.
async fn device_code(
    settings: &LoginSettings,
    http: &reqwest::Client,
    prompt: &mut dyn FnMut(&str),
) -> Result<TokenAnswer, AuthError> {
    let scope = delegated_scope(settings.cloud);
    let url = settings.endpoint("devicecode");
    let (status, body) = send_form(
        http,
        &url,
        &[("client_id", &settings.client_id), ("scope", &scope)],
        &[],
    )
    .await?;
    if status != 200 {
        return Err(AuthError::Refused(format!(
            "device code sign-in: {}",
            describe_refusal(status, &body)
        )));
    }
    let answer: DeviceCodeAnswer = serde_json::from_str(&body).map_err(|err| {
        AuthError::Unavailable(format!(
            "device code sign-in: the answer is not a device code ({err})"
        ))
    })?;
    prompt(&format!(
        "To sign in, open {} in a browser and enter the code {} (valid for {} minutes).",
        answer.verification_uri,
        answer.user_code,
        answer.expires_in.div_ceil(60)
    ));
    let mut interval = Duration::from_secs(answer.interval.unwrap_or(DEFAULT_INTERVAL));
    let deadline = Instant::now() + Duration::from_secs(answer.expires_in);
    let token_url = settings.endpoint("token");
    let device_code = answer.device_code.as_str();
    loop {
        if Instant::now() >= deadline {
            return Err(AuthError::Refused(
                "the code expired before the sign-in was finished; run `authbulk login` again"
                    .into(),
            ));
        }
        tokio::time::sleep(interval).await;
        let sent = Instant::now();
        let (status, body) = send_form(
            http,
            &token_url,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", &settings.client_id),
                ("device_code", device_code),
            ],
            &[device_code],
        )
        .await?;
        if status == 200 {
            return read_answer(&body, sent, "device code sign-in");
        }
        let error = serde_json::from_str::<OAuthError>(&body)
            .map(|e| e.error)
            .unwrap_or_default();
        match error.as_str() {
            "authorization_pending" => {}
            "slow_down" => {
                interval += SLOW_DOWN;
                tracing::debug!(
                    interval_secs = interval.as_secs(),
                    "sign-in endpoint asked to poll more slowly"
                );
            }
            "authorization_declined" => {
                return Err(AuthError::Refused(
                    "the sign-in was declined; nothing was stored".into(),
                ));
            }
            "expired_token" => {
                return Err(AuthError::Refused(
                    "the code expired before the sign-in was finished; run `authbulk login` again"
                        .into(),
                ));
            }
            _ => {
                return Err(AuthError::Refused(redact(
                    &format!("device code sign-in: {}", describe_refusal(status, &body)),
                    &[device_code],
                )));
            }
        }
    }
}

/// A random string of `len` characters that are unreserved in URLs (RFC 7636 4.1).
fn random_unreserved(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The authorization code flow with PKCE: print the URL to open, wait for the browser's
/// redirect to a listener on 127.0.0.1, and redeem the code with the verifier.
async fn browser(
    settings: &LoginSettings,
    http: &reqwest::Client,
    prompt: &mut dyn FnMut(&str),
) -> Result<TokenAnswer, AuthError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|err| AuthError::Unavailable(format!("listening for the redirect: {err}")))?;
    let port = listener
        .local_addr()
        .map_err(|err| AuthError::Unavailable(format!("listening for the redirect: {err}")))?
        .port();
    // The Graph Command Line Tools app registers http://localhost, and Entra accepts any
    // port on a loopback redirect.
    let redirect_uri = format!("http://localhost:{port}/");
    let verifier = random_unreserved(64);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let state = random_unreserved(32);
    let scope = delegated_scope(settings.cloud);
    let mut url = reqwest::Url::parse(&settings.endpoint("authorize"))
        .map_err(|err| AuthError::Unavailable(format!("the authorize URL: {err}")))?;
    url.query_pairs_mut()
        .append_pair("client_id", &settings.client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("response_mode", "query")
        .append_pair("scope", &scope)
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    prompt(&format!("To sign in, open this URL in a browser: {url}"));
    let code = tokio::time::timeout(BROWSER_TIMEOUT, wait_for_code(&listener, &state))
        .await
        .map_err(|_| {
            AuthError::Refused(format!(
                "no sign-in arrived within {} minutes; run `authbulk login --browser` again",
                BROWSER_TIMEOUT.as_secs() / 60
            ))
        })??;
    let sent = Instant::now();
    let (status, body) = send_form(
        http,
        &settings.endpoint("token"),
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &settings.client_id),
            ("code", code.expose()),
            ("redirect_uri", &redirect_uri),
            ("code_verifier", &verifier),
            ("scope", &scope),
        ],
        &[code.expose(), &verifier],
    )
    .await?;
    if status != 200 {
        return Err(AuthError::Refused(format!(
            "browser sign-in: {}",
            redact(&describe_refusal(status, &body), &[code.expose()])
        )));
    }
    read_answer(&body, sent, "browser sign-in")
}

/// Serve the loopback redirect until a request carries our `state` with a code or an error.
async fn wait_for_code(
    listener: &tokio::net::TcpListener,
    state: &str,
) -> Result<Secret, AuthError> {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let mut buf = vec![0u8; 16 * 1024];
        let mut len = 0;
        // One small GET: read until the end of its head (or the buffer is full).
        while len < buf.len() {
            match stream.read(&mut buf[len..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => len += n,
            }
            if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let head = String::from_utf8_lossy(&buf[..len]).to_string();
        let target = head
            .lines()
            .next()
            .and_then(|line| line.split_whitespace().nth(1))
            .unwrap_or("/");
        let params: Vec<(String, String)> = reqwest::Url::parse(&format!("http://x{target}"))
            .map(|u| u.query_pairs().into_owned().collect())
            .unwrap_or_default();
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let (status, page, outcome) = if get("state").as_deref() != Some(state) {
            ("404 Not Found", "Not an authbulk sign-in.", None)
        } else if let Some(code) = get("code") {
            (
                "200 OK",
                "Signed in to authbulk. You can close this window.",
                Some(Ok(Secret::new(code))),
            )
        } else {
            let why = get("error_description")
                .or_else(|| get("error"))
                .unwrap_or_else(|| "no code".into());
            (
                "400 Bad Request",
                "The sign-in failed; see the terminal.",
                Some(Err(AuthError::Refused(format!("browser sign-in: {why}")))),
            )
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
            page.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
        if let Some(outcome) = outcome {
            return outcome;
        }
    }
}

/// Sign in, store the sign-in (refresh token in the credential store or the private file) and
/// say what the token holds. `prompt` shows the admin where to go.
pub async fn sign_in(
    settings: &LoginSettings,
    method: LoginMethod,
    store: &SignInStore,
    http: &reqwest::Client,
    prompt: &mut dyn FnMut(&str),
) -> anyhow::Result<LoginOutcome> {
    let answer = match method {
        LoginMethod::DeviceCode => device_code(settings, http, prompt).await?,
        LoginMethod::Browser => browser(settings, http, prompt).await?,
    };
    let Some(refresh) = answer.refresh else {
        anyhow::bail!(
            "the sign-in gave no refresh token (offline_access was not granted), so runs could not renew access; nothing was stored"
        );
    };
    let claims = read_claims(answer.access.token.expose()).unwrap_or_default();
    let granted = granted_permissions(&claims);
    let sign_in = SignIn {
        tenant: claims
            .tid
            .clone()
            .unwrap_or_else(|| settings.tenant.clone()),
        client_id: settings.client_id.clone(),
        cloud: settings.cloud.name().to_string(),
        user: claims.user_name().map(str::to_string),
        store: StoreKind::File,
    };
    let kind = store.save(&sign_in, &refresh)?;
    Ok(LoginOutcome {
        sign_in: SignIn {
            store: kind,
            ..sign_in
        },
        scopes: granted.permissions.iter().cloned().collect(),
        admin_roles: claims.admin_roles(),
        reaches_methods: granted.reaches_methods(),
    })
}

/// Access tokens from the stored sign-in's refresh token; each use stores the rotated one.
pub(crate) struct SignedInCredential {
    pub store: SignInStore,
    pub client_id: String,
    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    pub token_url: String,
    pub cloud: Cloud,
    pub http: reqwest::Client,
}

impl Credential for SignedInCredential {
    fn fetch(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let refresh = self.store.refresh_token()?;
            let scope = delegated_scope(self.cloud);
            let sent = Instant::now();
            let (status, body) = send_form(
                &self.http,
                &self.token_url,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &self.client_id),
                    ("refresh_token", refresh.expose()),
                    ("scope", &scope),
                ],
                &[refresh.expose()],
            )
            .await?;
            if status != 200 {
                let why = redact(&describe_refusal(status, &body), &[refresh.expose()]);
                let text = format!(
                    "the stored sign-in could not be renewed: {why}; run `authbulk login` again"
                );
                return Err(if status == 400 || status == 401 {
                    AuthError::Refused(text)
                } else {
                    AuthError::Unavailable(text)
                });
            }
            let answer = read_answer(&body, sent, "stored sign-in")?;
            if let Some(rotated) = &answer.refresh {
                self.store.rotate(rotated).map_err(|err| {
                    AuthError::Unavailable(format!("storing the renewed sign-in: {err:#}"))
                })?;
            }
            Ok(answer.access)
        })
    }
}
