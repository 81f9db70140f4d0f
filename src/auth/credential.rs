//! What every credential shares: the [`Secret`] wrapper that keeps secrets and tokens out of
//! logs, the [`AccessToken`] a credential hands to the cache, the [`Credential`] trait each
//! source implements (one file per source), and the client-credentials call to the Microsoft
//! Entra token endpoint with its error parsing (the AADSTS code a user needs to act on).

use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;
use tokio::time::Instant;

use super::AuthError;

/// A secret or a token. `Debug` and `Display` print `***`, so a secret that ends up in a log
/// line or an error by mistake is still not disclosed; [`Secret::expose`] is the only way in.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// An access token and the instant it stops being valid (on the tokio clock, so tests can
/// pause time).
#[derive(Debug, Clone)]
pub(crate) struct AccessToken {
    /// The bearer token.
    pub token: Secret,
    /// When the issuer says it expires.
    pub expires_at: Instant,
}

/// A source of fresh access tokens; the cache ([`super::cache`]) decides when to ask.
pub(crate) trait Credential: Send + Sync {
    /// Fetch a new token from the source.
    fn fetch(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>>;
}

/// How long one call to a token endpoint may take before it counts as a transient failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts for a token request that failed transiently (connection error, 429, 5xx).
const ATTEMPTS: u32 = 3;
/// Longest `Retry-After` honoured before the next attempt.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Where a token request goes and how failures are named.
pub(crate) struct TokenRequest<'a> {
    /// The request, cloned for every attempt (all our token requests are small forms or GETs).
    pub request: reqwest::RequestBuilder,
    /// Names the credential in errors ("client secret of app X in tenant Y").
    pub what: &'a str,
    /// Values to blank out of any error text before it is shown (a secret the endpoint might
    /// echo).
    pub redact: &'a [&'a str],
    /// How this endpoint is retried.
    pub retry: Retry,
}

/// How a token endpoint is retried: every endpoint retries connection errors, 429 and 5xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Microsoft Entra and the App Service-style local endpoints: 3 attempts.
    Standard,
    /// The instance metadata service also answers 404 while the identity is not ready yet and
    /// 410 while IMDS is being upgraded ("Managed identities for Azure resources: how to use
    /// on a VM", error handling: retry with exponential backoff; 410 for up to 70 s).
    Imds,
}

impl Retry {
    fn attempts(self) -> u32 {
        match self {
            Retry::Standard => ATTEMPTS,
            // 1 + 6 retries; with the 410 floor below that waits over 70 s in all.
            Retry::Imds => 7,
        }
    }

    fn transient(self, status: u16) -> bool {
        status == 429
            || (500..600).contains(&status)
            || (self == Retry::Imds && (status == 404 || status == 410))
    }

    /// The wait before the next attempt after `status` (none for a connection error).
    fn wait(self, attempt: u32, status: Option<u16>) -> Duration {
        let wait = backoff(attempt);
        if self == Retry::Imds && status == Some(410) {
            wait.max(IMDS_410_WAIT)
        } else {
            wait
        }
    }
}

/// Shortest wait after an IMDS 410, so the retries span the 70 s an upgrade may take.
const IMDS_410_WAIT: Duration = Duration::from_secs(12);

/// The success body of the token endpoint, and of managed identity endpoints (which send
/// numbers as strings and may give `expires_on` instead of `expires_in`).
#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    #[serde(default)]
    expires_in: Option<NumberOrString>,
    #[serde(default)]
    expires_on: Option<NumberOrString>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(f64),
    Text(String),
}

impl NumberOrString {
    fn seconds(&self) -> Option<f64> {
        match self {
            NumberOrString::Number(n) => Some(*n),
            NumberOrString::Text(s) => s.trim().parse().ok(),
        }
    }
}

/// An error body of the Microsoft Entra token endpoint (and of IMDS, which uses the same
/// shape with fewer fields).
#[derive(Deserialize)]
struct AadErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<i64>,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
}

/// An app registration and the token endpoint it asks: what the client-credentials flows
/// (secret, certificate, workload identity) share.
#[derive(Debug, Clone)]
pub(crate) struct EntraApp {
    /// Directory (tenant) id or domain.
    pub tenant: String,
    /// Application (client) id.
    pub client_id: String,
    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    pub token_url: String,
    /// `{graph resource}/.default`.
    pub scope: String,
}

impl EntraApp {
    /// A client-credentials form POST carrying `proof` (the secret or the assertion fields).
    pub(crate) fn request(
        &self,
        http: &reqwest::Client,
        proof: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("scope", self.scope.as_str()),
        ];
        form.extend_from_slice(proof);
        http.post(&self.token_url).form(&form)
    }

    /// Names the app in errors.
    pub(crate) fn describe(&self, kind: &str) -> String {
        format!("{kind} of app {} in tenant {}", self.client_id, self.tenant)
    }
}

/// The assertion type of a client assertion (certificate or federated token).
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Largest token answer read (see [`crate::graph::body`]).
const TOKEN_LIMIT: usize = crate::graph::body::TOKEN_LIMIT;

/// Send a token request, retrying transient failures, and read the token from the answer.
pub(crate) async fn request_token(req: TokenRequest<'_>) -> Result<AccessToken, AuthError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Some(builder) = req.request.try_clone() else {
            return Err(AuthError::Unavailable(format!(
                "{}: the token request could not be prepared",
                req.what
            )));
        };
        let started = Instant::now();
        let wait = match builder.timeout(REQUEST_TIMEOUT).send().await {
            Err(err) => {
                let message = format!(
                    "{}: the token endpoint could not be reached: {}",
                    req.what,
                    redact(&error_chain(&err), req.redact)
                );
                if attempt >= req.retry.attempts() {
                    return Err(AuthError::Unavailable(message));
                }
                tracing::warn!(attempt, "{message}; retrying");
                req.retry.wait(attempt, None)
            }
            Ok(response) => {
                let status = response.status();
                let retry_after = retry_after(&response);
                // Capped: a token answer is a few kilobytes, a proxy's endless one is refused.
                let body = crate::graph::body::read_capped(response, TOKEN_LIMIT).await;
                let body = match body {
                    Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    Err(err) => {
                        let message = format!("{}: the token endpoint's answer: {err}", req.what);
                        if attempt >= ATTEMPTS
                            || matches!(err, crate::graph::body::BodyError::TooLarge { .. })
                        {
                            return Err(AuthError::Unavailable(message));
                        }
                        tracing::warn!(attempt, "{message}; retrying");
                        tokio::time::sleep(backoff(attempt)).await;
                        continue;
                    }
                };
                if status.is_success() {
                    return parse_token(&body, started, req.what);
                }
                let transient = req.retry.transient(status.as_u16());
                let message = redact(&describe_refusal(status.as_u16(), &body), req.redact);
                if !transient {
                    return Err(AuthError::Refused(format!("{}: {message}", req.what)));
                }
                if attempt >= req.retry.attempts() {
                    return Err(AuthError::Unavailable(format!(
                        "{}: the token endpoint kept failing: {message}",
                        req.what
                    )));
                }
                tracing::warn!(
                    attempt,
                    status = status.as_u16(),
                    "{}: token endpoint busy; retrying",
                    req.what
                );
                retry_after.unwrap_or_else(|| req.retry.wait(attempt, Some(status.as_u16())))
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// Exponential backoff between token attempts: 1 s, 2 s, ...
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << (attempt - 1).min(4))
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    let seconds: f64 = value.to_str().ok()?.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0)
        .then(|| Duration::from_secs_f64(seconds).min(MAX_RETRY_AFTER))
}

/// Read `{access_token, expires_in | expires_on}`. The lifetime counts from when the request was
/// sent, so network time only makes us refresh earlier, never later.
pub(crate) fn parse_token(body: &str, sent: Instant, what: &str) -> Result<AccessToken, AuthError> {
    let parsed: TokenBody = serde_json::from_str(body).map_err(|err| {
        AuthError::Unavailable(format!(
            "{what}: the token endpoint answered something that is not a token ({err})"
        ))
    })?;
    let lifetime =
        if let Some(seconds) = parsed.expires_in.as_ref().and_then(NumberOrString::seconds) {
            seconds
        } else if let Some(at) = parsed.expires_on.as_ref().and_then(NumberOrString::seconds) {
            at - unix_now()
        } else {
            return Err(AuthError::Unavailable(format!(
                "{what}: the token answer has no expiry (expires_in or expires_on)"
            )));
        };
    if parsed.access_token.is_empty() {
        return Err(AuthError::Unavailable(format!(
            "{what}: the token answer has an empty token"
        )));
    }
    Ok(AccessToken {
        token: Secret::new(parsed.access_token),
        expires_at: sent + Duration::from_secs_f64(lifetime.clamp(0.0, 1e9)),
    })
}

/// Seconds since the Unix epoch, as a float, from the wall clock.
pub(crate) fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One line that names what the token endpoint said: the AADSTS code and its text, the OAuth
/// error, and the trace and correlation ids that Microsoft support asks for.
pub(crate) fn describe_refusal(status: u16, body: &str) -> String {
    let Ok(err) = serde_json::from_str::<AadErrorBody>(body) else {
        let text: String = body.trim().chars().take(300).collect();
        return if text.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {text}")
        };
    };
    // The description's first line is "AADSTS7000215: Invalid client secret provided. ...";
    // the lines after it repeat the trace id, correlation id and timestamp.
    let description = err
        .error_description
        .as_deref()
        .and_then(|d| d.lines().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("");
    let mut line = match (description.starts_with("AADSTS"), err.error_codes.first()) {
        (true, _) => description.to_string(),
        (false, Some(code)) if description.is_empty() => format!("AADSTS{code}"),
        (false, Some(code)) => format!("AADSTS{code}: {description}"),
        (false, None) if description.is_empty() => format!("HTTP {status}"),
        (false, None) => description.to_string(),
    };
    line.push_str(&format!(" ({}", err.error));
    if let Some(trace) = err.trace_id.filter(|t| !t.is_empty()) {
        line.push_str(&format!("; trace id {trace}"));
    }
    if let Some(correlation) = err.correlation_id.filter(|c| !c.is_empty()) {
        line.push_str(&format!("; correlation id {correlation}"));
    }
    line.push(')');
    line
}

/// Blank every non-empty value of `secrets` out of `text`.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| !s.is_empty())
        .flat_map(|s| encodings(s))
        .fold(text.to_string(), |acc, s| acc.replace(&s, "***"))
}

/// A secret as it may come back in an echoed request: raw, form-encoded (how the token request
/// sends it: an Azure secret's `~` travels as `%7E`) and fully percent-encoded, with upper- and
/// lowercase hex digits.
fn encodings(secret: &str) -> Vec<String> {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    const FORM: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC
        .remove(b'*')
        .remove(b'-')
        .remove(b'.')
        .remove(b'_');
    let form = utf8_percent_encode(secret, FORM)
        .to_string()
        .replace("%20", "+");
    let full = utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string();
    let lower = |s: &str| {
        // Only the hex digits after each `%` change case.
        let mut out = String::with_capacity(s.len());
        let mut hex = 0;
        for c in s.chars() {
            if c == '%' {
                hex = 2;
                out.push(c);
            } else if hex > 0 {
                hex -= 1;
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    };
    let mut all = vec![secret.to_string(), lower(&form), lower(&full), form, full];
    all.sort_by_key(|s| std::cmp::Reverse(s.len()));
    all.dedup();
    all
}

/// An error and its sources on one line (reqwest hides the useful part in the source).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_its_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret} {secret:?}"), "*** ***");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn refusal_names_the_aadsts_code_error_and_ids() {
        let body = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.\r\nTrace ID: t-1\r\nCorrelation ID: c-1\r\nTimestamp: 2025-01-01 00:00:00Z","error_codes":[7000215],"trace_id":"t-1","correlation_id":"c-1"}"#;
        let text = describe_refusal(401, body);
        assert_eq!(
            text,
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value. (invalid_client; trace id t-1; correlation id c-1)"
        );
    }

    #[test]
    fn refusal_without_code_in_text_takes_it_from_error_codes() {
        let body = r#"{"error":"invalid_request","error_description":"Tenant not found","error_codes":[90002]}"#;
        assert_eq!(
            describe_refusal(400, body),
            "AADSTS90002: Tenant not found (invalid_request)"
        );
    }

    #[test]
    fn refusal_that_is_not_json_keeps_status_and_text() {
        assert_eq!(describe_refusal(400, "  nope "), "HTTP 400: nope");
        assert_eq!(describe_refusal(403, ""), "HTTP 403");
    }

    #[test]
    fn redact_blanks_secrets_out() {
        assert_eq!(redact("bad s3cret here", &["s3cret", ""]), "bad *** here");
        let echoed = "client_secret=sim%7Eab+c%2Fd and sim%7eab%20c%2fd";
        assert_eq!(redact(echoed, &["sim~ab c/d"]), "client_secret=*** and ***");
    }

    #[tokio::test(start_paused = true)]
    async fn token_lifetime_counts_from_the_request() {
        let sent = Instant::now();
        let token = parse_token(r#"{"access_token":"a","expires_in":"3599"}"#, sent, "x")
            .expect("valid body");
        assert_eq!(token.expires_at - sent, Duration::from_secs(3599));
        let in_two = unix_now() + 120.0;
        let body = format!(r#"{{"access_token":"a","expires_on":"{in_two}"}}"#);
        let token = parse_token(&body, sent, "x").expect("valid body");
        let lifetime = (token.expires_at - sent).as_secs_f64();
        assert!((118.0..=120.5).contains(&lifetime), "{lifetime}");
        assert!(parse_token(r#"{"access_token":"a"}"#, sent, "x").is_err());
        assert!(parse_token("<html>", sent, "x").is_err());
    }
}
