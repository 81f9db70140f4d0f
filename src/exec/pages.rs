//! Paged reads through the executor ([`Executor::pages`]): the users of `--all-users`, a
//! group's members, groups by name, the registration report, the directory roles, the token
//! inventory. Each page is one GET sent as a `$batch` item like any other read, so it takes
//! resource units from the run's budget, is retried after a 429 (its `Retry-After`), a 503/504
//! or a lost answer under the same `--max-retries` and `--max-wait`, counts in the run's
//! traffic, and stops at Ctrl-C; there is no second retry loop.
//!
//! Graph answers a page with `value` and, while more remain, `@odata.nextLink`: the absolute
//! URL of the next page, holding every query option of the first ("Paging Microsoft Graph data
//! in your app", learn.microsoft.com/graph/paging: "use the entire URL in the
//! `@odata.nextLink` property"). A `$batch` item's `url` is relative to the batch's version
//! ("JSON batching", learn.microsoft.com/graph/json-batching: `/users` for
//! `https://graph.microsoft.com/v1.0/users`), so the link loses the client's root and its
//! version, nothing else; a link to another host, or outside the root's `v1.0` and `beta`,
//! would carry the token elsewhere and ends the listing with an error. An advanced query keeps
//! `ConsistencyLevel: eventual` in every page's item headers (the link keeps `$count=true`).

use futures::{Stream, StreamExt, stream};
use serde::de::DeserializeOwned;

use super::Executor;
use crate::graph::classify::error_without_answer;
use crate::graph::wire::Page;
use crate::graph::{ApiVersion, ErrorKind, GraphCall, GraphError, Request, Response};

impl Executor {
    /// The elements of the paged collection `first` asks for (a GET), following
    /// `@odata.nextLink`, as a stream. Pages go one after another through the executor (see the
    /// module doc); the stream ends after the first final error, which it yields.
    pub fn pages<T: DeserializeOwned + Send + 'static>(
        &self,
        first: Request,
    ) -> impl Stream<Item = Result<T, GraphError>> + Send + use<T> {
        let exec = self.clone();
        // The executor's key for the listing: its pages go one at a time, never in one batch
        // (a real user's key never begins with NUL).
        let key = format!("\u{0}pages {}", first.url);
        stream::unfold(Some(first), move |next| {
            let (exec, key) = (exec.clone(), key.clone());
            async move {
                let request = next?;
                let (url, eventual) = (request.url.clone(), request.eventual);
                let page = exec
                    .call(&key, request)
                    .await
                    .and_then(|answer| page_of::<T>(&url, answer));
                let mut items: Vec<Result<T, GraphError>>;
                let next = match page {
                    Ok(page) => {
                        items = page.value.into_iter().map(Ok).collect();
                        match page.next_link.map(|link| exec.next_page(&link, eventual)) {
                            Some(Ok(next)) => Some(next),
                            Some(Err(error)) => {
                                items.push(Err(error));
                                None
                            }
                            None => None,
                        }
                    }
                    Err(error) => {
                        items = vec![Err(error)];
                        None
                    }
                };
                Some((stream::iter(items), next))
            }
        })
        .flatten()
    }

    /// The request of the page `link` (an `@odata.nextLink`) names, relative to its version.
    fn next_page(&self, link: &str, eventual: bool) -> Result<Request, GraphError> {
        let (version, url) = relative_link(self.client().root(), link).ok_or_else(|| {
            error_without_answer(
                ErrorKind::Rejected,
                format!("@odata.nextLink leaves the Graph root: {link}"),
                1,
            )
        })?;
        let request = Request::get(version, url);
        Ok(if eventual {
            request.advanced()
        } else {
            request
        })
    }
}

/// `link` below `root` as its version and its URL relative to it (`/users?...`), or `None`
/// when it is elsewhere: another host, another root, no version, or a `.`/`..` segment.
fn relative_link(root: &str, link: &str) -> Option<(ApiVersion, String)> {
    let below = link.strip_prefix(root)?.strip_prefix('/')?;
    let (version, rest) = [ApiVersion::V1, ApiVersion::Beta]
        .into_iter()
        .find_map(|v| Some((v, below.strip_prefix(v.as_str())?)))?;
    if !rest.starts_with('/') || rest.starts_with("//") {
        return None;
    }
    let path = rest.split(['?', '#']).next().unwrap_or(rest);
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return None;
    }
    Some((version, rest.to_string()))
}

/// The page a successful answer holds.
fn page_of<T: DeserializeOwned>(url: &str, answer: Response) -> Result<Page<T>, GraphError> {
    let parsed = match answer.body.raw() {
        Some(text) => serde_json::from_str(text),
        None => serde_json::from_value(answer.body.into_value()),
    };
    parsed.map_err(|err| GraphError {
        request_id: answer.request_id.clone(),
        ..error_without_answer(
            ErrorKind::Rejected,
            format!("unreadable page of {url}: {err}"),
            answer.attempts,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "https://graph.microsoft.com";

    #[test]
    fn a_next_link_becomes_the_url_relative_to_its_version_with_its_whole_query() {
        assert_eq!(
            relative_link(
                ROOT,
                "https://graph.microsoft.com/v1.0/users?$top=999&$skiptoken=RFNwdAIAAQ%27x"
            ),
            Some((
                ApiVersion::V1,
                "/users?$top=999&$skiptoken=RFNwdAIAAQ%27x".to_string()
            ))
        );
        assert_eq!(
            relative_link(
                ROOT,
                "https://graph.microsoft.com/beta/directory/x?$skiptoken=a"
            ),
            Some((ApiVersion::Beta, "/directory/x?$skiptoken=a".to_string()))
        );
    }

    #[test]
    fn a_next_link_elsewhere_is_refused() {
        for link in [
            "https://graph.microsoft.com.evil.example/v1.0/users?$skiptoken=a",
            "https://evil.example/v1.0/users",
            "http://graph.microsoft.com/v1.0/users",
            "https://graph.microsoft.com/v2.0/users",
            "https://graph.microsoft.com/v1.0x/users",
            "https://graph.microsoft.com/v1.0",
            "https://graph.microsoft.com/v1.0//evil.example/users",
            "https://graph.microsoft.com/v1.0/../other/users",
            "https://graph.microsoft.com/v1.0/users/./x",
            "/v1.0/users",
        ] {
            assert_eq!(relative_link(ROOT, link), None, "{link}");
        }
    }
}
