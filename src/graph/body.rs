//! Reading an HTTP answer's body with a size cap. A broken proxy once answered with 1 GB, which
//! the client held twice over (2.1 GB of memory); with a few calls in flight that is an
//! out-of-memory kill in the middle of writes. The body is read chunk by chunk and the read
//! stops as soon as it passes the cap (or at once, when `Content-Length` already says so).
//! Used by the Graph client ([`super::client`]) and the token requests ([`crate::auth`]).

/// Largest Graph answer read: a `$batch` of 20 answers, or a page of 999 users, is well under
/// a megabyte; 16 MiB leaves room for large method lists and registration-report pages.
pub const GRAPH_LIMIT: usize = 16 * 1024 * 1024;

/// Largest token-endpoint answer read (a token answer is a few kilobytes).
pub const TOKEN_LIMIT: usize = 256 * 1024;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The answer is larger than the cap.
    #[error("the answer is larger than {limit} bytes: not read")]
    TooLarge {
        /// The cap that was passed.
        limit: usize,
    },
    /// The connection failed while the body was read.
    #[error("the answer was cut off: {0}")]
    Cut(String),
}

/// The whole body of `response`, at most `limit` bytes.
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(BodyError::TooLarge { limit });
    }
    // Sized once when the length is known (growing chunk by chunk copied the body over again).
    let mut body = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(BodyError::TooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(err) => return Err(BodyError::Cut(describe(&err))),
        }
    }
}

/// An error's text with its causes (reqwest's own text is only the outer layer).
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
