//! Error classification: turns a status, Graph's error body and the headers of an answer into a
//! typed [`GraphError`], and parses `Retry-After` in both of its legal forms. Called by the client
//! ([`super::client`]) for whole `$batch` answers and by the executor ([`crate::exec`]) for items.
//! Branches on the status and Graph's `code`, never on the message (graph-contract.md, "Errors").

use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::wire::ErrorBody;
use super::{ErrorKind, GraphError};

/// Longest `Retry-After` taken at face value; longer (or absurd) values are clamped so a
/// misbehaving proxy cannot park the run for days. `--max-wait` still decides whether to wait.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What the executor does with an answer of a given status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// 2xx: done.
    Success,
    /// Retry after `Retry-After` or a backoff (429, 503, 504).
    Retry,
    /// Final failure of this kind.
    Fail(ErrorKind),
}

/// The kind of failure a non-2xx status is.
pub fn kind_of_status(status: u16) -> ErrorKind {
    match status {
        401 => ErrorKind::Auth,
        403 => ErrorKind::Permission,
        404 => ErrorKind::NotFound,
        429 => ErrorKind::Throttled,
        500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Rejected,
    }
}

/// What to do with a `$batch` item answered `status`. Only 429, 503 and 504 are retried, and
/// the executor retries a 503 or 504 only for a read: a write so answered may have been applied
/// (only a 429 is known not to have run), so it goes back to the caller as an unknown outcome.
pub fn item_disposition(status: u16) -> Disposition {
    match status {
        200..=299 => Disposition::Success,
        429 | 503 | 504 => Disposition::Retry,
        other => Disposition::Fail(kind_of_status(other)),
    }
}

/// A [`GraphError`] from an answer: status, Graph's error body (when it is one) and the
/// `request-id` header as a fallback for the id.
pub fn error_from_answer(
    status: u16,
    body: &Value,
    header_request_id: Option<&str>,
    attempts: u32,
) -> GraphError {
    let parsed: ErrorBody = serde_json::from_value(body.clone()).unwrap_or_default();
    let detail = parsed.error;
    let message = if detail.message.is_empty() {
        default_message(status).to_string()
    } else {
        detail.message
    };
    GraphError {
        kind: kind_of_status(status),
        status: Some(status),
        code: detail.code,
        message,
        request_id: detail
            .inner_error
            .request_id
            .or_else(|| header_request_id.map(str::to_string)),
        attempts,
    }
}

/// A [`GraphError`] for a failure without an answer (connection, timeout, shutdown, token).
pub fn error_without_answer(
    kind: ErrorKind,
    message: impl Into<String>,
    attempts: u32,
) -> GraphError {
    GraphError {
        kind,
        status: None,
        code: String::new(),
        message: message.into(),
        request_id: None,
        attempts,
    }
}

fn default_message(status: u16) -> &'static str {
    match status {
        401 => "the access token was refused",
        403 => "the application lacks a permission for this request",
        404 => "not found",
        429 => "throttled by Microsoft Graph",
        503 => "service unavailable",
        504 => "gateway timeout",
        _ => "request failed",
    }
}

/// Parse a `Retry-After` value: delta seconds (Graph sends fractional ones such as `0.249`) or an
/// HTTP-date (legal HTTP, RFC 9110 section 10.2.3). A date in the past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        if !seconds.is_finite() || seconds < 0.0 {
            return None;
        }
        return Some(Duration::from_secs_f64(
            seconds.min(MAX_RETRY_AFTER.as_secs_f64()),
        ));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

/// Parse `x-ms-throttle-limit-percentage` (`0.8` .. `1.0`; tolerate `85` meaning percent).
pub fn parse_limit_percentage(value: &str) -> Option<f64> {
    let number: f64 = value.trim().trim_end_matches('%').parse().ok()?;
    if !number.is_finite() || number < 0.0 {
        return None;
    }
    Some(if number > 2.0 { number / 100.0 } else { number })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fractional_retry_after_seconds_are_kept_to_the_millisecond() {
        let now = SystemTime::now();
        assert_eq!(
            parse_retry_after("0.249", now),
            Some(Duration::from_millis(249))
        );
        assert_eq!(parse_retry_after(" 3 ", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn http_date_retry_after_is_the_time_until_that_date() {
        let now = httpdate::parse_http_date("Thu, 26 Nov 2026 10:00:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("Thu, 26 Nov 2026 10:00:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Thu, 26 Nov 2026 09:59:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn statuses_map_to_the_kinds_callers_branch_on() {
        assert_eq!(item_disposition(204), Disposition::Success);
        assert_eq!(item_disposition(429), Disposition::Retry);
        assert_eq!(item_disposition(503), Disposition::Retry);
        assert_eq!(item_disposition(504), Disposition::Retry);
        assert_eq!(
            item_disposition(500),
            Disposition::Fail(ErrorKind::Transient)
        );
        assert_eq!(item_disposition(401), Disposition::Fail(ErrorKind::Auth));
        assert_eq!(
            item_disposition(403),
            Disposition::Fail(ErrorKind::Permission)
        );
        assert_eq!(
            item_disposition(404),
            Disposition::Fail(ErrorKind::NotFound)
        );
        assert_eq!(
            item_disposition(400),
            Disposition::Fail(ErrorKind::Rejected)
        );
        assert_eq!(
            item_disposition(424),
            Disposition::Fail(ErrorKind::Rejected)
        );
    }

    #[test]
    fn a_denied_permission_keeps_graphs_code_and_request_id() {
        let body = json!({"error":{"code":"Authorization_RequestDenied",
            "message":"Insufficient privileges to complete the operation.",
            "innerError":{"request-id":"abc","date":"2026-11-26T10:00:00"}}});
        let err = error_from_answer(403, &body, Some("header-id"), 1);
        assert_eq!(err.kind, ErrorKind::Permission);
        assert_eq!(err.code, "Authorization_RequestDenied");
        assert_eq!(err.request_id.as_deref(), Some("abc"));
        assert_eq!(
            err.to_string(),
            "403 Authorization_RequestDenied: Insufficient privileges to complete the operation."
        );
    }

    #[test]
    fn an_empty_error_body_still_gives_a_clear_message_and_the_header_request_id() {
        let err = error_from_answer(404, &Value::Null, Some("rid"), 2);
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert_eq!(err.request_id.as_deref(), Some("rid"));
        assert_eq!(err.attempts, 2);
        assert_eq!(err.to_string(), "404: not found");
    }

    #[test]
    fn limit_percentage_accepts_fractions_and_percent() {
        assert_eq!(parse_limit_percentage("0.85"), Some(0.85));
        assert_eq!(parse_limit_percentage("95"), Some(0.95));
        assert_eq!(parse_limit_percentage("x"), None);
    }
}
