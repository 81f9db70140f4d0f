//! Graph wire types: the `$batch` request and response envelopes, Graph's error body and a page
//! of a paged collection. Serde structs, the `$batch` body written straight ([`batch_body`], the
//! same bytes as serde would write; the tests compare them) and the item headers kept from an
//! answer ([`AnswerHeaders`]); the executor ([`crate::exec`], its paged reads included) and the
//! client ([`super::client`]) fill and read them, and the targets read the users and groups of
//! a listing (graph-contract.md, "JSON batching" and "Errors").

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest number of requests Graph accepts in one `$batch`.
pub const MAX_BATCH_ITEMS: usize = 20;

/// The ids of a batch's items by their place: `"0"` to `"19"`, spelt once rather than per item.
pub const ITEM_IDS: [&str; MAX_BATCH_ITEMS] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    "17", "18", "19",
];

/// Body of `POST {root}/{version}/$batch`, as serde writes it: [`batch_body`] writes the same
/// bytes straight, and the tests compare the two.
#[cfg(test)]
#[derive(Debug, Serialize)]
pub struct BatchRequestBody<'a> {
    /// The items, at most [`MAX_BATCH_ITEMS`], ids unique.
    pub requests: &'a [BatchRequestItem<'a>],
}

/// One item of a `$batch` request.
#[derive(Debug, Serialize)]
pub struct BatchRequestItem<'a> {
    /// Unique inside the batch; the answer carries it back (answers come in any order). The
    /// executor numbers a batch's items with [`ITEM_IDS`].
    pub id: &'a str,
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

/// The text of `POST $batch`'s body for `items`: byte for byte what `serde_json` makes of a
/// `BatchRequestBody`, written straight (its keys spelt once, not escaped per item; a batch is
/// written for every call).
pub fn batch_body(items: &[BatchRequestItem<'_>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + items.len() * 192);
    out.extend_from_slice(br#"{"requests":["#);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"id":"#);
        json_string(&mut out, item.id);
        out.extend_from_slice(br#","method":"#);
        json_string(&mut out, item.method);
        out.extend_from_slice(br#","url":"#);
        json_string(&mut out, item.url);
        out.extend_from_slice(br#","headers":{"#);
        if let Some(content_type) = item.headers.content_type {
            out.extend_from_slice(br#""Content-Type":"#);
            json_string(&mut out, content_type);
            out.push(b',');
        }
        out.extend_from_slice(br#""x-ms-throttle-priority":"#);
        json_string(&mut out, item.headers.priority);
        if let Some(level) = item.headers.consistency_level {
            out.extend_from_slice(br#","ConsistencyLevel":"#);
            json_string(&mut out, level);
        }
        out.push(b'}');
        if let Some(body) = item.body {
            out.extend_from_slice(br#","body":"#);
            // Writing a `Value` into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut out, body);
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    out
}

/// `text` as a JSON string, escaped as `serde_json` escapes it.
fn json_string(out: &mut Vec<u8>, text: &str) {
    let _ = serde_json::to_writer(&mut *out, text);
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
    /// The item's headers the client reads; names in any case (`Retry-After`, `retry-after`).
    #[serde(default)]
    pub headers: AnswerHeaders,
    /// The item's body (`null` when absent), kept as its text until read.
    #[serde(default)]
    pub body: super::answer::Body,
}

impl BatchResponseItem {
    /// The value of header `name` (one of [`AnswerHeaders::READ`]), matched case-insensitively;
    /// `None` for a header that is absent, not a string, or not one the client reads.
    pub fn header(&self, name: &str) -> Option<&str> {
        let slot = AnswerHeaders::READ
            .iter()
            .position(|known| known.eq_ignore_ascii_case(name))?;
        self.headers.values[slot].as_deref()
    }
}

/// The headers of an item's answer that the client reads ([`AnswerHeaders::READ`]); the others
/// (Graph sends several per item) are passed over while parsing, not kept.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AnswerHeaders {
    /// The value of each header of [`AnswerHeaders::READ`], at its place, when it is a string.
    values: [Option<String>; 4],
}

impl AnswerHeaders {
    /// The headers kept, by place.
    pub const READ: [&'static str; 4] = [
        "retry-after",
        "x-ms-throttle-limit-percentage",
        "x-ms-throttle-information",
        "request-id",
    ];
}

impl<'de> Deserialize<'de> for AnswerHeaders {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(HeadersVisitor)
    }
}

/// Reads an item's `headers` object into [`AnswerHeaders`]; a header given twice keeps its last
/// value.
struct HeadersVisitor;

impl<'de> serde::de::Visitor<'de> for HeadersVisitor {
    type Value = AnswerHeaders;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object of headers")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> Result<AnswerHeaders, A::Error> {
        let mut headers = AnswerHeaders::default();
        while let Some(HeaderName(slot)) = map.next_key()? {
            match slot {
                Some(slot) => {
                    let value: Value = map.next_value()?;
                    headers.values[slot] = match value {
                        Value::String(text) => Some(text),
                        _ => None,
                    };
                }
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(headers)
    }
}

/// A header's name: its place in [`AnswerHeaders::READ`], matched case-insensitively without
/// copying the name.
struct HeaderName(Option<usize>);

impl<'de> Deserialize<'de> for HeaderName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl serde::de::Visitor<'_> for NameVisitor {
            type Value = HeaderName;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a header name")
            }

            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<HeaderName, E> {
                Ok(HeaderName(
                    AnswerHeaders::READ
                        .iter()
                        .position(|known| known.eq_ignore_ascii_case(name)),
                ))
            }
        }
        deserializer.deserialize_str(NameVisitor)
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
                    id: "0",
                    method: "GET",
                    url: "/users/a/authentication/methods",
                    headers: ItemHeaders::new(false, false),
                    body: None,
                },
                BatchRequestItem {
                    id: "1",
                    method: "POST",
                    url: "/users/b/authentication/phoneMethods",
                    headers: ItemHeaders::new(true, false),
                    body: Some(&body),
                },
                BatchRequestItem {
                    id: "2",
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
    fn a_batch_body_written_straight_is_byte_for_byte_what_serde_writes() {
        let phone = serde_json::json!({"phoneNumber": "+46 701234567", "phoneType": "mobile"});
        let odd = serde_json::json!({"a": ["\"quoted\"", 1.5, null, {"\u{e9}": "\u{1}\n"}]});
        let items: Vec<BatchRequestItem<'_>> = (0..MAX_BATCH_ITEMS)
            .map(|i| BatchRequestItem {
                id: ITEM_IDS[i],
                method: ["GET", "POST", "PATCH", "DELETE"][i % 4],
                url: [
                    "/users/a/authentication/methods",
                    "/users/o'neil%23EXT%23@x/authentication/phoneMethods",
                    "/users/\"odd\\path\u{7f}\u{e9}",
                ][i % 3],
                headers: ItemHeaders::new(i % 4 == 1 || i % 4 == 2, i % 5 == 3),
                body: [None, Some(&phone), Some(&odd), None][i % 4],
            })
            .collect();
        for n in [0, 1, 2, MAX_BATCH_ITEMS] {
            let expected = serde_json::to_vec(&BatchRequestBody {
                requests: &items[..n],
            })
            .unwrap();
            assert_eq!(
                String::from_utf8(batch_body(&items[..n])).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
        assert_eq!(
            ITEM_IDS
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            20
        );
        assert!(
            ITEM_IDS
                .iter()
                .enumerate()
                .all(|(i, id)| *id == i.to_string())
        );
    }

    #[test]
    fn item_headers_are_found_whatever_their_case() {
        let item: BatchResponseItem = serde_json::from_str(
            r#"{"id":"3","status":429,"headers":{"retry-after":"0.249"},"body":{}}"#,
        )
        .unwrap();
        assert_eq!(item.header("Retry-After"), Some("0.249"));
        let item: BatchResponseItem = serde_json::from_str(
            r#"{"id":"3","status":200,"headers":{"Content-Type":"application/json",
                "X-MS-Throttle-Limit-Percentage":"0.9","Request-Id":"r-\u0031",
                "x-ms-throttle-information":{"not":"text"},"Cache-Control":["no-cache"]}}"#,
        )
        .unwrap();
        assert_eq!(item.header("x-ms-throttle-limit-percentage"), Some("0.9"));
        assert_eq!(item.header("request-id"), Some("r-1"));
        assert_eq!(item.header("x-ms-throttle-information"), None);
        assert_eq!(item.header("Retry-After"), None);
        assert_eq!(
            item.header("content-type"),
            None,
            "a header the client never reads"
        );
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
