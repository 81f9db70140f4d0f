//! `POST /{version}/$batch` with the rules of graph-contract.md ("JSON batching"): at most 20
//! requests, unique ids, relative URLs, a Content-Type with every body, `dependsOn` ordering with
//! 424 for the dependents of a failed request, each item throttled on its own (a 429 with its
//! own fractional `Retry-After`), each item's request headers read from its own `headers` (the
//! envelope's do not pass to the items: "Advanced query capabilities ...": "specify the
//! ConsistencyLevel header in the JSON body" of the batch), and the responses in shuffled order. Called by
//! [`super::server`] after the whole call was authenticated and admitted.

use hyper::Method as Verb;
use rand::seq::SliceRandom;
use serde_json::{Map, Value, json};

use super::Sim;
use super::graph::{Call, answer};
use super::introspect::LiveCounters;
use super::reply::Reply;

/// The most requests one batch may hold.
pub(crate) const MAX_ITEMS: usize = 20;

struct Item<'a> {
    id: &'a str,
    verb: Verb,
    url: &'a str,
    body: Option<&'a Value>,
    depends_on: Vec<&'a str>,
    eventual: bool,
    low_priority: bool,
}

fn invalid(message: impl Into<String>) -> Reply {
    Reply::error(400, "BadRequest", message)
}

fn parse_item(v: &Value) -> Result<Item<'_>, Reply> {
    let bad = || invalid("Invalid batch payload format.");
    let id = v.get("id").and_then(Value::as_str).ok_or_else(bad)?;
    let method = v.get("method").and_then(Value::as_str).ok_or_else(bad)?;
    let url = v.get("url").and_then(Value::as_str).ok_or_else(bad)?;
    let verb = Verb::from_bytes(method.to_ascii_uppercase().as_bytes()).map_err(|_| bad())?;
    let body = v.get("body").filter(|b| !b.is_null());
    let headers = v.get("headers").and_then(Value::as_object);
    let has_content_type =
        headers.is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("content-type")));
    let (eventual, low_priority) = super::graph::flags(|name| {
        headers?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_string)
    });
    let needs_body = matches!(verb, Verb::POST | Verb::PATCH | Verb::PUT);
    if (needs_body || body.is_some()) && !(body.is_some() && has_content_type) {
        return Err(invalid(format!(
            "Write request id : {id} does not contain Content-Type header or body."
        )));
    }
    if url.contains("://") {
        return Err(invalid(format!(
            "Request id : {id}: the url must be relative to the batch's version (for example /users)."
        )));
    }
    let depends_on = match v.get("dependsOn") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(ids)) => ids
            .iter()
            .map(|d| d.as_str().ok_or_else(bad))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad()),
    };
    Ok(Item {
        id,
        verb,
        url,
        body,
        depends_on,
        eventual,
        low_priority,
    })
}

/// An order in which every item comes after the items it depends on, or the 400 for unknown
/// ids and cycles.
fn order(items: &[Item]) -> Result<Vec<usize>, Reply> {
    let index = |id: &str| items.iter().position(|i| i.id == id);
    let mut deps: Vec<Vec<usize>> = Vec::with_capacity(items.len());
    for item in items {
        let mut d = Vec::new();
        for dep in &item.depends_on {
            match index(dep) {
                Some(j) if items[j].id != item.id => d.push(j),
                _ => {
                    return Err(invalid(format!(
                        "Request id : {} depends on '{dep}', which is not another request of the batch.",
                        item.id
                    )));
                }
            }
        }
        deps.push(d);
    }
    let mut done = vec![false; items.len()];
    let mut out = Vec::with_capacity(items.len());
    while out.len() < items.len() {
        let before = out.len();
        for i in 0..items.len() {
            if !done[i] && deps[i].iter().all(|&j| done[j]) {
                done[i] = true;
                out.push(i);
            }
        }
        if out.len() == before {
            return Err(invalid(
                "The dependsOn of the batch's requests form a cycle.",
            ));
        }
    }
    Ok(out)
}

/// Run a `$batch` call on `version` (`beta` true for `/beta`).
pub(crate) fn run(sim: &Sim, beta: bool, body: &[u8]) -> Reply {
    LiveCounters::bump(&sim.counters.batch_calls);
    let Ok(payload) = serde_json::from_slice::<Value>(body) else {
        return invalid("Invalid batch payload format.");
    };
    let Some(requests) = payload.get("requests").and_then(Value::as_array) else {
        return invalid("Invalid batch payload format.");
    };
    if requests.is_empty() {
        return invalid("The batch request must contain at least one request.");
    }
    if requests.len() > MAX_ITEMS {
        return invalid(format!(
            "The number of requests in a batch cannot exceed {MAX_ITEMS} (got {}).",
            requests.len()
        ));
    }
    let items = match requests
        .iter()
        .map(parse_item)
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(items) => items,
        Err(reply) => return reply,
    };
    for (i, item) in items.iter().enumerate() {
        if items[..i].iter().any(|other| other.id == item.id) {
            return invalid(format!(
                "Batch request id : {} appears more than once; ids must be unique.",
                item.id
            ));
        }
    }
    let order = match order(&items) {
        Ok(order) => order,
        Err(reply) => return reply,
    };
    sim.counters
        .batch_items
        .fetch_add(items.len() as u64, std::sync::atomic::Ordering::Relaxed);
    let mut statuses = vec![0u16; items.len()];
    let mut responses = Vec::with_capacity(items.len());
    for i in order {
        let item = &items[i];
        let mut reply = if item.depends_on.iter().any(|dep| {
            let j = items.iter().position(|x| x.id == *dep).unwrap_or(i);
            !(200..300).contains(&statuses[j])
        }) {
            Reply::error(
                424,
                "FailedDependency",
                "The request was not run because a request it depends on failed.",
            )
        } else {
            let relative = item.url.trim_start_matches('/');
            let (path, query) = relative.split_once('?').unwrap_or((relative, ""));
            let path = format!("/{path}");
            let call = Call {
                beta,
                verb: item.verb.clone(),
                path: &path,
                query,
                body: item.body,
                eventual: item.eventual,
                low_priority: item.low_priority,
            };
            answer(sim, &call, true)
        };
        statuses[i] = reply.status;
        if reply
            .body
            .as_ref()
            .is_some_and(|b| b.get("error").is_some())
        {
            reply.stamp(&sim.next_request_id(), &sim.next_request_id());
        }
        let mut headers = Map::new();
        if reply.body.is_some() {
            headers.insert("Content-Type".into(), json!("application/json"));
        }
        for (name, value) in reply.headers {
            headers.insert(name.to_string(), Value::String(value));
        }
        let mut response = json!({"id": item.id, "status": reply.status, "headers": headers});
        if let Some(body) = reply.body {
            response["body"] = body;
        }
        responses.push(response);
    }
    // Graph answers in any order: clients must match by id.
    responses.shuffle(&mut rand::rng());
    Reply::json(200, json!({ "responses": responses }))
}
