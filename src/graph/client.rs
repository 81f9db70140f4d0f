//! The Graph HTTP client: one connection pool for the run (HTTP/2 where the server offers it
//! through ALPN), the token on every call, a fresh `client-request-id` per call and
//! `x-ms-throttle-priority: low` (a background bulk job should be throttled before interactive
//! users, graph-contract.md "Throttling"). It sends the `$batch` envelopes of the executor
//! ([`crate::exec`]), which owns retries and budgets for every request, paged reads included;
//! the client only refreshes the token once on a 401.

use std::time::{Duration, SystemTime};

use reqwest::header::{CONTENT_TYPE, HeaderMap};

use super::classify::{
    error_from_answer, error_without_answer, parse_limit_percentage, parse_retry_after,
};
use super::wire::{BatchRequestItem, BatchResponseBody, BatchResponseItem};
use super::{ApiVersion, ErrorKind, GraphError};
use crate::auth::TokenProvider;

/// Graph answers after at most 60 s server-side; a call still open after this is dead.
const CALL_TIMEOUT: Duration = Duration::from_secs(90);

/// A client for one Graph root. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    root: String,
    /// `{root}/v1.0/$batch` and `{root}/beta/$batch`, parsed once (a URL parsed per call was
    /// 3 % of a run's CPU); `None` when the root does not parse, which each call then reports.
    batch_urls: [Option<reqwest::Url>; 2],
    tokens: TokenProvider,
}

/// A parsed `$batch` answer.
#[derive(Debug)]
pub struct BatchAnswer {
    /// The token the batch was sent with, for [`GraphClient::token_refused`].
    used_token: UsedToken,
    /// The items' answers, in any order.
    pub items: Vec<BatchResponseItem>,
    /// `x-ms-throttle-limit-percentage` of the envelope.
    pub limit_percentage: Option<f64>,
    /// Graph's `request-id` of the envelope.
    pub request_id: Option<String>,
}

/// Why a whole `$batch` call failed; the executor decides per item what follows.
#[derive(Debug)]
pub enum BatchFailure {
    /// 429 for the whole batch: nothing was processed.
    Throttled {
        /// The `Retry-After`, when given.
        wait: Option<Duration>,
        /// The error as reported if retries run out.
        error: GraphError,
    },
    /// 5xx for the whole batch: nothing says whether its items ran (a gateway timeout can come
    /// after they did), so reads are retried and writes have an unknown outcome.
    Transient {
        /// The `Retry-After`, when given.
        wait: Option<Duration>,
        /// The error as reported if retries run out.
        error: GraphError,
    },
    /// The connection could not be made: nothing was sent.
    NotSent(GraphError),
    /// The connection dropped or timed out after the request went out, or the answer was
    /// unreadable: reads may be retried, writes have an unknown outcome.
    Lost(GraphError),
    /// Any other failure of the envelope (bad token after a refresh, 403, 400): final for every
    /// item.
    Fatal(GraphError),
}

/// A token kept only to invalidate it; never printed.
struct UsedToken(String);

impl std::fmt::Debug for UsedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UsedToken(..)")
    }
}

struct RawAnswer {
    token: String,
    status: u16,
    headers: HeaderMap,
    body: Result<Vec<u8>, super::body::BodyError>,
}

impl GraphClient {
    /// A client for `root` (`https://graph.microsoft.com`, or the simulator's URL), taking tokens
    /// from `tokens`. `pool` is the number of idle connections kept (the executor's concurrency).
    pub fn new(root: &str, tokens: TokenProvider, pool: usize) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(pool.max(1))
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .timeout(CALL_TIMEOUT)
            .redirect(super::redirect::same_origin())
            .user_agent(concat!("authbulk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| anyhow::anyhow!("cannot build the HTTP client: {err}"))?;
        let root = root.trim_end_matches('/').to_string();
        let batch_url = |version: ApiVersion| {
            reqwest::Url::parse(&format!("{root}/{}/$batch", version.as_str())).ok()
        };
        Ok(GraphClient {
            http,
            batch_urls: [batch_url(ApiVersion::V1), batch_url(ApiVersion::Beta)],
            root,
            tokens,
        })
    }

    /// The Graph root this client talks to.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// POST `body` (JSON) to `url`, refreshing the token once on a 401.
    async fn post<U: reqwest::IntoUrl + Clone>(
        &self,
        url: U,
        body: Vec<u8>,
    ) -> Result<RawAnswer, BatchFailure> {
        let mut refreshed = false;
        loop {
            let token = self.tokens.token().await.map_err(|err| {
                BatchFailure::Fatal(error_without_answer(ErrorKind::Auth, err.to_string(), 1))
            })?;
            let request = self
                .http
                .post(url.clone())
                .bearer_auth(&token)
                .header("x-ms-throttle-priority", "low")
                .header("client-request-id", uuid::Uuid::new_v4().to_string())
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
            let response = match request.send().await {
                Ok(response) => response,
                Err(err) => {
                    let error =
                        error_without_answer(ErrorKind::Transient, describe_wire_error(&err), 1);
                    return Err(if err.is_connect() {
                        BatchFailure::NotSent(error)
                    } else {
                        BatchFailure::Lost(error)
                    });
                }
            };
            let status = response.status().as_u16();
            if status == 401 && !refreshed {
                // The token expired or was revoked between our check and Graph's: fetch a new
                // one and send once more (DESIGN.md, "Tokens are refreshed ... once on a 401").
                self.tokens.invalidate(&token);
                refreshed = true;
                continue;
            }
            let headers = response.headers().clone();
            let body = super::body::read_capped(response, super::body::GRAPH_LIMIT).await;
            return Ok(RawAnswer {
                token,
                status,
                headers,
                body,
            });
        }
    }

    /// An item of `answer` was refused with 401 although the envelope was accepted: forget
    /// the token it was sent with, so the retry fetches a fresh one.
    pub fn token_refused(&self, answer: &BatchAnswer) {
        self.tokens.invalidate(&answer.used_token.0);
    }

    /// Send one `$batch` of `items` (at most 20, ids unique) to `version`.
    pub async fn send_batch(
        &self,
        version: ApiVersion,
        items: &[BatchRequestItem<'_>],
    ) -> Result<BatchAnswer, BatchFailure> {
        let body = super::wire::batch_body(items);
        let raw = match &self.batch_urls[version as usize] {
            Some(url) => self.post(url.clone(), body).await?,
            None => {
                let url = format!("{}/{}/$batch", self.root, version.as_str());
                self.post(url.as_str(), body).await?
            }
        };
        let request_id = header(&raw.headers, "request-id").map(str::to_string);
        let limit_percentage =
            header(&raw.headers, "x-ms-throttle-limit-percentage").and_then(parse_limit_percentage);
        if raw.status == 200 {
            let lost = |message: String| {
                BatchFailure::Lost(GraphError {
                    request_id: request_id.clone(),
                    ..error_without_answer(ErrorKind::Transient, message, 1)
                })
            };
            // An oversize answer is treated like a lost one: reads are asked again, writes
            // re-read the user's state.
            let bytes = raw
                .body
                .map_err(|err| lost(format!("$batch answer: {err}")))?;
            let parsed: BatchResponseBody = serde_json::from_slice(&bytes)
                .map_err(|err| lost(format!("unreadable $batch answer: {err}")))?;
            return Ok(BatchAnswer {
                used_token: UsedToken(raw.token),
                items: parsed.responses,
                limit_percentage,
                request_id,
            });
        }
        Err(failure_of(raw))
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn failure_of(raw: RawAnswer) -> BatchFailure {
    let body: serde_json::Value = raw
        .body
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(serde_json::Value::Null);
    let error = error_from_answer(raw.status, &body, header(&raw.headers, "request-id"), 1);
    let wait = header(&raw.headers, "retry-after")
        .and_then(|value| parse_retry_after(value, SystemTime::now()));
    match raw.status {
        429 => BatchFailure::Throttled { wait, error },
        500..=599 => BatchFailure::Transient { wait, error },
        _ => BatchFailure::Fatal(error),
    }
}

/// A connection error's text with its causes (reqwest's own text is only the outer layer).
fn describe_wire_error(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
