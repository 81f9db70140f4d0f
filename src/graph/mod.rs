//! The Graph wire: the request and response of one Graph call (a `$batch` item), error
//! classification, and path encoding; Graph's names for method types ([`names`]), the JSON of
//! authentication methods ([`methods`]) and the request of each read and planned write
//! ([`requests`]). The executor ([`crate::exec`]) sends requests; the applier
//! ([`crate::plan::apply`]) builds them with [`requests`] and calls [`GraphCall`]; the planner
//! itself never sees HTTP.

use std::future::Future;

use serde_json::Value;
use thiserror::Error;

pub mod answer;
pub mod body;
pub mod classify;
pub mod client;
pub mod cloud;
pub mod cost;
pub mod methods;
pub mod names;
pub mod oath;
pub mod path;
pub mod qr_pin;
pub mod redirect;
pub mod requests;
pub mod wire;

/// The Graph API version a request is sent to. v1.0 and beta never share a `$batch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    /// `v1.0`
    V1,
    /// `beta`
    Beta,
}

impl ApiVersion {
    /// The path segment of the version (`v1.0`, `beta`).
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1.0",
            ApiVersion::Beta => "beta",
        }
    }
}

/// One Graph request, as a `$batch` item carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The API version it is sent to.
    pub version: ApiVersion,
    /// GET, POST, PATCH or DELETE.
    pub method: reqwest::Method,
    /// Relative URL (`/users/{u}/authentication/methods`), every value already encoded with
    /// [`path::segment`].
    pub url: String,
    /// JSON body; `Some` for POST and PATCH (a body-less POST action sends `{}`).
    pub body: Option<Value>,
    /// Sent with `ConsistencyLevel: eventual` in the item's own headers: the "advanced query
    /// parameters" a directory query needs for an OData cast, `endsWith`, `ne` or `not` (with
    /// `$count=true` in its URL; "Advanced query capabilities on directory objects",
    /// learn.microsoft.com/graph/aad-advanced-queries).
    pub eventual: bool,
}

impl Request {
    /// A GET.
    pub fn get(version: ApiVersion, url: impl Into<String>) -> Self {
        Self::new(version, reqwest::Method::GET, url, None)
    }

    /// A POST with a JSON body (`{}` for actions without one).
    pub fn post(version: ApiVersion, url: impl Into<String>, body: Value) -> Self {
        Self::new(version, reqwest::Method::POST, url, Some(body))
    }

    /// A PATCH with a JSON body.
    pub fn patch(version: ApiVersion, url: impl Into<String>, body: Value) -> Self {
        Self::new(version, reqwest::Method::PATCH, url, Some(body))
    }

    /// A PUT with a JSON body.
    pub fn put(version: ApiVersion, url: impl Into<String>, body: Value) -> Self {
        Self::new(version, reqwest::Method::PUT, url, Some(body))
    }

    /// A DELETE.
    pub fn delete(version: ApiVersion, url: impl Into<String>) -> Self {
        Self::new(version, reqwest::Method::DELETE, url, None)
    }

    fn new(
        version: ApiVersion,
        method: reqwest::Method,
        url: impl Into<String>,
        body: Option<Value>,
    ) -> Self {
        Request {
            version,
            method,
            url: url.into(),
            body,
            eventual: false,
        }
    }

    /// This request as an advanced query (`ConsistencyLevel: eventual`; see [`Request::eventual`]).
    pub fn advanced(self) -> Self {
        Request {
            eventual: true,
            ..self
        }
    }

    /// True for a request that counts as a write in Graph's throttling (anything but GET).
    pub fn is_write(&self) -> bool {
        self.method != reqwest::Method::GET
    }
}

/// A successful (2xx) answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The HTTP status of the item.
    pub status: u16,
    /// The JSON body (`null` when there was none); derefs to its [`Value`].
    pub body: answer::Body,
    /// Graph's `request-id`, when it sent one.
    pub request_id: Option<String>,
    /// How many times the request was sent, retries included.
    pub attempts: u32,
}

/// What kind of failure a [`GraphError`] is; callers branch on this, never on the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 429 after every retry allowed.
    Throttled,
    /// 5xx or a connection error after every retry allowed.
    Transient,
    /// 401: the token was refused even after a refresh.
    Auth,
    /// 403: the app lacks a permission (or a policy forbids the change).
    Permission,
    /// 404: no such user or method.
    NotFound,
    /// Any other 4xx: the service refused the request as it is.
    Rejected,
    /// A write whose answer was lost (connection dropped after sending): it may or may not have
    /// been applied; the caller must read the state to know.
    UnknownOutcome,
    /// The run is shutting down and the request was not sent.
    Cancelled,
}

/// A request that did not succeed, with Graph's own code and request id.
#[derive(Debug, Clone, Error, PartialEq)]
#[error("{}", self.describe())]
pub struct GraphError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// Graph's `error.code` (may be empty).
    pub code: String,
    /// Graph's `error.message`, or what went wrong on the wire.
    pub message: String,
    /// Graph's `request-id` from the error's `innerError`, or the response headers.
    pub request_id: Option<String>,
    /// How many times the request was sent.
    pub attempts: u32,
}

impl GraphError {
    fn describe(&self) -> String {
        match (self.status, self.code.is_empty()) {
            (Some(status), false) => format!("{status} {}: {}", self.code, self.message),
            (Some(status), true) => format!("{status}: {}", self.message),
            (None, _) => self.message.clone(),
        }
    }
}

/// Sends one request for one user and waits for its final answer (retries included). The
/// executor implements it over `$batch`; at most one request per user is in a batch, so a user's
/// requests are sent one after the other by awaiting each.
pub trait GraphCall: Send + Sync {
    /// Send `request` on behalf of `user` (the key that keeps a user's requests in separate
    /// batches).
    fn call(
        &self,
        user: &str,
        request: Request,
    ) -> impl Future<Output = Result<Response, GraphError>> + Send;
}
