//! One answer of the simulated Graph (a whole HTTP response or one `$batch` item): status,
//! headers and JSON body, with Graph's error body shape. Every handler returns a [`Reply`]; the
//! server and the batch runner turn it into bytes.

use serde_json::{Value, json};

/// A Graph answer before it is put on the wire.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Extra headers (the server adds `request-id` and the content type).
    pub headers: Vec<(&'static str, String)>,
    /// JSON body, `None` for 204 and friends.
    pub body: Option<Value>,
    /// The request was applied (or is a read): counts as done for the write counters.
    pub applied: bool,
}

impl Reply {
    /// A JSON answer.
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
            applied: (200..300).contains(&status),
        }
    }

    /// A body-less answer (204).
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
            applied: (200..300).contains(&status),
        }
    }

    /// Graph's error body. `innerError` is filled with the request id by [`Reply::stamp`].
    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Reply {
        Reply::json(
            status,
            json!({"error": {"code": code, "message": message.into(), "innerError": {}}}),
        )
    }

    /// 400 `badRequest` with this message (most service-rule refusals).
    pub fn bad_request(message: impl Into<String>) -> Reply {
        Reply::error(400, "badRequest", message)
    }

    /// 400 for a path segment the version does not know, as Graph answers it.
    pub fn unknown_segment(segment: &str) -> Reply {
        Reply::error(
            400,
            "BadRequest",
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    /// 404 `Request_ResourceNotFound` for a missing object.
    pub fn not_found(what: &str) -> Reply {
        Reply::error(
            404,
            "Request_ResourceNotFound",
            format!(
                "Resource '{what}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    /// 405 for a method the path does not take.
    pub fn method_not_allowed() -> Reply {
        Reply::error(
            405,
            "Request_BadRequest",
            "The requested HTTP method is not supported by this resource.",
        )
    }

    /// Add a header.
    pub fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    /// Fill an error body's `innerError` with the request ids and the date.
    pub fn stamp(&mut self, request_id: &str, client_request_id: &str) {
        if let Some(inner) = self
            .body
            .as_mut()
            .and_then(|b| b.get_mut("error"))
            .and_then(|e| e.get_mut("innerError"))
        {
            *inner = json!({
                "request-id": request_id,
                "client-request-id": client_request_id,
                "date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
            });
        }
    }
}
