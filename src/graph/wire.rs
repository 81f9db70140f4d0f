//! Graph wire types: the `$batch` request and response envelopes, Graph's error body and a page
//! of a paged collection. Serde structs only; the executor ([`crate::exec`], its paged reads
//! included) and the client ([`super::client`]) fill and read them, and the targets read the
//! users and groups of a listing (graph-contract.md, "JSON batching" and "Errors").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest number of requests Graph accepts in one `$batch`.
pub const MAX_BATCH_ITEMS: usize = 20;

/// Body of `POST {root}/{version}/$batch`.
#[derive(Debug, Serialize)]
pub struct BatchRequestBody<'a> {
    /// The items, at most [`MAX_BATCH_ITEMS`], ids unique.
    pub requests: &'a [BatchRequestItem<'a>],
}

/// One item of a `$batch` request.
#[derive(Debug, Serialize)]
pub struct BatchRequestItem<'a> {
    /// Unique inside the batch; the answer carries it back (answers come in any order).
    pub id: String,
    /// `GET`, `POST`, `PATCH`, `DELETE`.
    pub method: &'a str,
    /// Relative URL without the version (`/users/...`).
    pub url: &'a str,
    /// The item's own request headers: Graph does not pass the envelope's headers to the
    /// items, each is throttled on its own ("JSON batching").
    pub headers: ItemHeaders,
    /// The item's JSON body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<&'a Value>,
}

/// The request headers of one `$batch` item, serialised as its `headers` map.
#[derive(Debug, Serialize)]
pub struct ItemHeaders {
    /// `application/json`, required by Graph for every item with a body.
    #[serde(rename = "Content-Type", skip_serializing_if = "Option::is_none")]
    pub content_type: Option<&'static str>,
    /// Always `low`: a bulk job asks to be throttled before interactive traffic
    /// ("Microsoft Graph service-specific throttling limits", identity and access, "Request
    /// headers").
    #[serde(rename = "x-ms-throttle-priority")]
    pub priority: &'static str,
    /// `eventual` for an advanced directory query: a `$batch` item carries it in its own
    /// `headers` ("JSON batching": "if a ConsistencyLevel header is required, this property is
    /// represented as `\"headers\": {\"ConsistencyLevel\": \"eventual\"}`").
    #[serde(rename = "ConsistencyLevel", skip_serializing_if = "Option::is_none")]
    pub consistency_level: Option<&'static str>,
}

impl ItemHeaders {
    /// The headers of an item, with the JSON content type when it has a body and
    /// `ConsistencyLevel: eventual` when `eventual`.
    pub fn new(has_body: bool, eventual: bool) -> Self {
        ItemHeaders {
            content_type: has_body.then_some("application/json"),
            priority: "low",
            consistency_level: eventual.then_some("eventual"),
        }
    }
}

/// Body of a parsed `$batch` answer (status 200 whatever the items' statuses).
#[derive(Debug, Deserialize)]
pub struct BatchResponseBody {
    /// One answer per item, in any order.
    pub responses: Vec<BatchResponseItem>,
}

/// The answer to one item of a `$batch`.
#[derive(Debug, Deserialize)]
pub struct BatchResponseItem {
    /// The id of the request it answers.
    pub id: String,
    /// The item's HTTP status.
    pub status: u16,
    /// The item's headers; names in any case (`Retry-After`, `retry-after`).
    #[serde(default)]
    pub headers: BTreeMap<String, Value>,
    /// The item's body (`null` when absent), kept as its text until read.
    #[serde(default)]
    pub body: super::answer::Body,
}

impl BatchResponseItem {
    /// The value of header `name`, matched case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.as_str())
    }
}

/// Graph's error body: `{"error":{"code","message","innerError":{"request-id",...}}}`.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    /// The error itself.
    #[serde(default)]
    pub error: ErrorDetail,
}

/// The `error` object of [`ErrorBody`].
#[derive(Debug, Default, Deserialize)]
pub struct ErrorDetail {
    /// Graph's code; may be empty.
    #[serde(default)]
    pub code: String,
    /// Human text; never branched on.
    #[serde(default)]
    pub message: String,
    /// Request ids; the key is spelled `innerError` or `innererror`.
    #[serde(default, rename = "innerError", alias = "innererror")]
    pub inner_error: InnerError,
}

/// Ids Microsoft support asks for.
#[derive(Debug, Default, Deserialize)]
pub struct InnerError {
    /// Graph's `request-id`.
    #[serde(default, rename = "request-id")]
    pub request_id: Option<String>,
}

/// One page of a paged collection (`/users`, `/groups/{id}/transitiveMembers`).
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    /// The page's elements.
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    /// Absolute URL of the next page, when there is one.
    #[serde(default, rename = "@odata.nextLink")]
    pub next_link: Option<String>,
}

/// A group as `--group NAME` looks it up (`$select=id,displayName`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DirectoryGroup {
    /// Object id.
    pub id: String,
    /// Display name.
    #[serde(rename = "displayName", default)]
    pub display_name: String,
}

/// A user as the target enumerations select it (`$select=id,userPrincipalName`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DirectoryUser {
    /// Object id.
    pub id: String,
    /// User principal name.
    #[serde(rename = "userPrincipalName", default)]
    pub user_principal_name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_asks_for_low_priority_items_with_a_body_carry_the_json_content_type_and_advanced_queries_their_consistency_level()
     {
        let body = serde_json::json!({"phoneNumber": "+46 701234567"});
        let batch = BatchRequestBody {
            requests: &[
                BatchRequestItem {
                    id: "0".into(),
                    method: "GET",
                    url: "/users/a/authentication/methods",
                    headers: ItemHeaders::new(false, false),
                    body: None,
                },
                BatchRequestItem {
                    id: "1".into(),
                    method: "POST",
                    url: "/users/b/authentication/phoneMethods",
                    headers: ItemHeaders::new(true, false),
                    body: Some(&body),
                },
                BatchRequestItem {
                    id: "2".into(),
                    method: "GET",
                    url: "/users?$count=true&$filter=endsWith(mail,'@x.com')",
                    headers: ItemHeaders::new(false, true),
                    body: None,
                },
            ],
        };
        let text = serde_json::to_value(&batch).unwrap();
        assert_eq!(
            text,
            serde_json::json!({"requests":[
                {"id":"0","method":"GET","url":"/users/a/authentication/methods",
                 "headers":{"x-ms-throttle-priority":"low"}},
                {"id":"1","method":"POST","url":"/users/b/authentication/phoneMethods",
                 "headers":{"Content-Type":"application/json","x-ms-throttle-priority":"low"},
                 "body":{"phoneNumber":"+46 701234567"}},
                {"id":"2","method":"GET","url":"/users?$count=true&$filter=endsWith(mail,'@x.com')",
                 "headers":{"x-ms-throttle-priority":"low","ConsistencyLevel":"eventual"}}
            ]})
        );
    }

    #[test]
    fn item_headers_are_found_whatever_their_case() {
        let item: BatchResponseItem = serde_json::from_str(
            r#"{"id":"3","status":429,"headers":{"retry-after":"0.249"},"body":{}}"#,
        )
        .unwrap();
        assert_eq!(item.header("Retry-After"), Some("0.249"));
        let bare: BatchResponseItem = serde_json::from_str(r#"{"id":"4","status":204}"#).unwrap();
        assert_eq!(bare.header("Retry-After"), None);
        assert!(bare.body.is_null());
    }

    #[test]
    fn error_bodies_parse_with_either_spelling_of_inner_error() {
        for key in ["innerError", "innererror"] {
            let text = format!(
                r#"{{"error":{{"code":"Authorization_RequestDenied","message":"no","{key}":{{"request-id":"r-1"}}}}}}"#
            );
            let body: ErrorBody = serde_json::from_str(&text).unwrap();
            assert_eq!(body.error.code, "Authorization_RequestDenied");
            assert_eq!(body.error.inner_error.request_id.as_deref(), Some("r-1"));
        }
    }
}
