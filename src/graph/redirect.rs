//! Which HTTP redirects authbulk follows. Neither Microsoft's token endpoints nor Graph redirect
//! the calls authbulk makes, so a redirect comes from a proxy or gateway in between, and
//! following it can hand secrets to whoever it points at: reqwest re-sends the body of a 307/308
//! (a `client_secret`, a signed `client_assertion`, users' phone numbers) and every custom header
//! (`X-IDENTITY-HEADER`) to the new host, and keeps `Authorization` on an https-to-http hop to
//! the same host. So:
//! - credential requests (token endpoints, managed identity) follow **no** redirect: a 3xx is
//!   an error ([`credential_client`]);
//! - Graph calls follow a redirect only to the same origin (scheme, host and port), so never to
//!   another host and never from https down to plain http ([`same_origin`]).

use reqwest::redirect::{Attempt, Policy};

/// Most redirects followed by one Graph call.
const MAX_HOPS: usize = 5;

/// The HTTP client for token and managed-identity requests: it follows no redirect.
pub fn credential_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .map_err(|err| anyhow::anyhow!("cannot build the HTTP client: {err}"))
}

/// Follow a redirect only to the origin of the URL that was redirected, at most [`MAX_HOPS`].
pub fn same_origin() -> Policy {
    Policy::custom(|attempt: Attempt<'_>| {
        let Some(from) = attempt.previous().last() else {
            return attempt.stop();
        };
        let to = attempt.url();
        let same = from.scheme() == to.scheme()
            && from.host_str() == to.host_str()
            && from.port_or_known_default() == to.port_or_known_default();
        if same && attempt.previous().len() <= MAX_HOPS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}
