//! The simulator's HTTP server: an accept loop on a tokio listener, one hyper HTTP/1.1
//! connection task per client (all owned by one `JoinSet`, so stopping the loop stops them), and
//! the per-call pipeline: introspection paths, latency, the token endpoint, then for Graph the
//! access token check, the app-wide request limit, faults, and `$batch` or a single request.
//! Started by [`super::start`]. With several tenants ([`Tenants`]) each call first goes to its
//! tenant: the token endpoint's by the tenant in its path, Graph's by the bearer token's `tid`,
//! `/_sim/tenants/{tenant id}/...` by that id; the rest to tenant 0.

use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::Sim;
use super::faults::Fault;
use super::graph::{Call, LIMIT_PERCENTAGE, answer};
use super::introspect::LiveCounters;
use super::reply::Reply;

/// The connection is dropped on purpose (the `reset` fault): hyper closes it without answering.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by the simulator's reset fault")]
struct Dropped;

/// The tenants one server answers for; tenant 0 first.
pub(crate) struct Tenants {
    all: Vec<Arc<Sim>>,
}

impl Tenants {
    /// Serve these tenants (at least one).
    pub(crate) fn new(all: Vec<Arc<Sim>>) -> Tenants {
        assert!(!all.is_empty(), "a simulator serves at least one tenant");
        Tenants { all }
    }

    /// Every tenant, tenant 0 first.
    pub(crate) fn all(&self) -> &[Arc<Sim>] {
        &self.all
    }

    /// Tenant 0.
    pub(crate) fn first(&self) -> &Arc<Sim> {
        &self.all[0]
    }

    /// The tenant a token endpoint path names (its id or, for tenant 0, its domain); tenant 0
    /// otherwise, which answers for `organizations`, `common` and unknown tenants.
    fn named(&self, tenant: &str) -> &Arc<Sim> {
        self.all
            .iter()
            .find(|sim| sim.tokens.tenant_id.eq_ignore_ascii_case(tenant))
            .unwrap_or_else(|| self.first())
    }

    /// The tenant a bearer token was issued for (its `tid` claim, read without checking the
    /// signature: that tenant checks it next); tenant 0 when the token names none of them.
    fn of_token(&self, authorization: Option<&str>) -> &Arc<Sim> {
        if self.all.len() == 1 {
            return self.first();
        }
        let tid = authorization
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|jwt| jwt.split('.').nth(1))
            .and_then(|payload| {
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                    .ok()
            })
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .and_then(|claims| claims["tid"].as_str().map(str::to_string));
        match tid {
            Some(tid) => self.named(&tid),
            None => self.first(),
        }
    }

    /// `GET /_sim/tenants`: each tenant's credentials.
    fn listing(&self) -> Reply {
        let list: Vec<Value> = self
            .all
            .iter()
            .map(|sim| {
                serde_json::json!({
                    "tenantId": sim.tokens.tenant_id,
                    "clientId": sim.tokens.client_id,
                    "clientSecret": sim.tokens.client_secret,
                    "tokenUrl": format!("{}/{}/oauth2/v2.0/token", sim.base_url, sim.tokens.tenant_id),
                })
            })
            .collect();
        Reply::json(200, Value::Array(list))
    }
}

/// Accept connections until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, tenants: Arc<Tenants>) {
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of file descriptors and the like: keep serving the open connections.
                tracing::warn!(%err, "simulator: accept failed");
                tokio::task::yield_now().await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let tenants = Arc::clone(&tenants);
        connections.spawn(async move {
            let service = service_fn(move |req| handle(Arc::clone(&tenants), req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn header<'a>(req: &'a hyper::http::request::Parts, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

async fn handle(
    tenants: Arc<Tenants>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    if let Some(rest) = path.strip_prefix("/_sim") {
        let first = tenants.first();
        if rest == "/tenants" || rest == "/tenants/" {
            let reply = match parts.method {
                hyper::Method::GET => tenants.listing(),
                _ => Reply::method_not_allowed(),
            };
            return Ok(respond(first, reply, None));
        }
        let (sim, rest) = match rest.strip_prefix("/tenants/") {
            Some(inner) => {
                let (tenant, rest) = inner.split_at(inner.find('/').unwrap_or(inner.len()));
                match tenants.all().iter().find(|s| s.tokens.tenant_id == tenant) {
                    Some(sim) => (sim, rest),
                    None => {
                        let reply = Reply::error(
                            404,
                            "NotFound",
                            format!("The simulator serves no tenant {tenant}."),
                        );
                        return Ok(respond(first, reply, None));
                    }
                }
            }
            None => (first, rest),
        };
        if let Some(auth) = rest.strip_prefix("/auth/") {
            let query = parts.uri.query().unwrap_or("");
            let reply = super::token::signin::introspect(sim, &parts.method, auth, query);
            return Ok(respond(sim, reply, None));
        }
        let reply = super::introspect::route(sim, &parts.method, rest);
        return Ok(respond(sim, reply, None));
    }
    let segs: Vec<&str> = path.split('/').collect();
    let sim = match segs.as_slice() {
        ["", tenant, "oauth2", ..] => tenants.named(tenant),
        _ => tenants.of_token(header(&parts, "authorization")),
    };
    let sim = Arc::clone(sim);
    drop(tenants);
    LiveCounters::bump(&sim.counters.http_requests);
    if let Some(delay) = super::faults::latency(sim.config.latency) {
        tokio::time::sleep(delay).await;
    }
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(Dropped),
    };
    if let [
        "",
        tenant,
        "oauth2",
        "v2.0",
        endpoint @ ("token" | "devicecode" | "authorize"),
    ] = segs.as_slice()
    {
        LiveCounters::bump(&sim.counters.token_requests);
        let reply = match (&parts.method, *endpoint) {
            (&hyper::Method::POST, "token") => {
                let endpoint = format!("{}{path}", sim.base_url);
                sim.tokens.token_endpoint(tenant, &endpoint, &bytes)
            }
            (&hyper::Method::POST, "devicecode") => sim.tokens.device_authorization(tenant, &bytes),
            (&hyper::Method::GET, "authorize") => sim
                .tokens
                .authorize(tenant, parts.uri.query().unwrap_or("")),
            _ => Reply::method_not_allowed(),
        };
        return Ok(respond(&sim, reply, None));
    }
    let (beta, rest) = match (path.strip_prefix("/v1.0"), path.strip_prefix("/beta")) {
        (Some(rest), _) => (false, rest),
        (_, Some(rest)) => (true, rest),
        _ => {
            let first = segs.get(1).copied().unwrap_or("");
            return Ok(respond(&sim, Reply::unknown_segment(first), None));
        }
    };
    let client_request_id = header(&parts, "client-request-id");
    if let Err(reply) = sim.tokens.check(header(&parts, "authorization")) {
        return Ok(respond(&sim, reply, client_request_id));
    }
    let usage = match sim.throttle.admit_call() {
        Ok(usage) => usage,
        Err(t) => return Ok(respond(&sim, sim.throttled(t), client_request_id)),
    };
    let fault = sim.config.faults.draw(true);
    if let Some(reply) = fault.reply() {
        sim.counters.count_fault(&reply.status.to_string());
        return Ok(respond(&sim, reply, client_request_id));
    }
    let reply = if rest == "/$batch" {
        if parts.method == hyper::Method::POST {
            let reply = super::batch::run(&sim, beta, &bytes);
            if reply.status == 200 && sim.config.applied_timeouts.draw_batch() {
                // Every item ran; the caller only learns of a gateway timeout.
                sim.counters.count_fault("batch-504-applied");
                super::faults::applied_timeout()
            } else {
                reply
            }
        } else {
            Reply::method_not_allowed()
        }
    } else {
        single(&sim, beta, &parts, rest, &bytes)
    };
    if fault == Fault::Reset {
        sim.counters.count_fault("reset");
        return Err(Dropped);
    }
    // A single request may already carry its own (item) usage; the call's counts when higher.
    let reply = match usage {
        Some(u) if !reply.headers.iter().any(|(n, _)| *n == LIMIT_PERCENTAGE) => {
            reply.with_header(LIMIT_PERCENTAGE, format!("{u:.2}"))
        }
        _ => reply,
    };
    Ok(respond(&sim, reply, client_request_id))
}

fn single(
    sim: &Sim,
    beta: bool,
    parts: &hyper::http::request::Parts,
    path: &str,
    bytes: &[u8],
) -> Reply {
    let body = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(v) => Some(v),
            Err(_) => {
                return Reply::error(400, "BadRequest", "The request body is not valid JSON.");
            }
        }
    };
    let (eventual, low_priority) =
        super::graph::flags(|name| header(parts, name).map(str::to_string));
    let call = Call {
        beta,
        verb: parts.method.clone(),
        path,
        query: parts.uri.query().unwrap_or(""),
        body: body.as_ref(),
        eventual,
        low_priority,
    };
    answer(sim, &call, false)
}

/// Put a reply on the wire with `request-id` (and `client-request-id`) headers.
fn respond(sim: &Sim, mut reply: Reply, client_request_id: Option<&str>) -> Response<Full<Bytes>> {
    let request_id = sim.next_request_id();
    let client_request_id = client_request_id.unwrap_or(&request_id).to_string();
    reply.stamp(&request_id, &client_request_id);
    let mut builder = Response::builder()
        .status(reply.status)
        .header("request-id", &request_id)
        .header("client-request-id", &client_request_id);
    for (name, value) in &reply.headers {
        builder = builder.header(*name, value);
    }
    let body = match &reply.body {
        Some(body) => {
            builder = builder.header("content-type", "application/json");
            Bytes::from(serde_json::to_vec(body).unwrap_or_default())
        }
        None => Bytes::new(),
    };
    builder.body(Full::new(body)).unwrap_or_else(|_| {
        // Only reachable with a malformed header value, which no handler produces.
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}
