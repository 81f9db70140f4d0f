//! Helpers of the executor's integration tests: an executor wired to an in-process simulator,
//! and a scripted `$batch` server for answers the simulator does not give (HTTP-date
//! `Retry-After`) and for inspecting the batches sent.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authbulk::sim::{SimConfig, SimHandle};
use authbulk::testing::auth::TokenProvider;
use authbulk::testing::exec::{ExecConfig, Executor, Shutdown};
use authbulk::testing::graph::GraphClient;
use authbulk::testing::throttle::{Budget, BudgetMode, RateConfig};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::Value;

/// An executor config whose client-side caps never bind (tests of the service's signals).
pub fn unbounded() -> ExecConfig {
    ExecConfig {
        rate: RateConfig {
            budget: Budget {
                ru_per_10s: 10_000_000,
                writes_per_150s: 10_000_000,
            },
            mode: BudgetMode::Capped,
            start: None,
        },
        ..ExecConfig::default()
    }
}

/// A simulator and an executor talking to it.
pub struct Rig {
    pub sim: SimHandle,
    pub exec: Executor,
    pub shutdown: Shutdown,
}

pub async fn rig(sim: SimConfig, config: ExecConfig) -> Rig {
    let sim = authbulk::sim::start(sim).await.expect("simulator starts");
    let client = GraphClient::new(
        sim.url(),
        TokenProvider::fixed(sim.mint_token()),
        config.concurrency,
    )
    .expect("client");
    let shutdown = Shutdown::new();
    let exec = Executor::start(client, config, shutdown.clone());
    Rig {
        sim,
        exec,
        shutdown,
    }
}

/// One call the scripted server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
}

/// The scripted answer to call number `n` (0-based) with body `body`.
pub type Script = dyn Fn(usize, &Value) -> (StatusCode, Vec<(String, String)>, Value) + Send + Sync;

/// A server on 127.0.0.1 answering every call with `script`; returns its URL and the log.
pub async fn scripted(script: Arc<Script>) -> (String, Arc<Mutex<Vec<Received>>>) {
    let log: Arc<Mutex<Vec<Received>>> = Arc::default();
    let app = {
        let log = log.clone();
        axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            let script = script.clone();
            async move {
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push(Received {
                        at: Instant::now(),
                        path: uri.path().to_string(),
                        headers,
                        body: body.clone(),
                    });
                    log.len() - 1
                };
                let (status, headers, answer) = script(n, &body);
                let mut response = axum::response::Response::builder().status(status);
                for (name, value) in headers {
                    response = response.header(name, value);
                }
                response
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(answer.to_string()))
                    .unwrap()
            }
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, log)
}

/// `{"responses":[...]}` answering every item of `body` with `status` (and `headers`).
pub fn answer_all(body: &Value, status: u16, headers: Value) -> Value {
    let responses: Vec<Value> = body["requests"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    serde_json::json!({"id": item["id"], "status": status, "headers": headers, "body": {}})
                })
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({ "responses": responses })
}

/// An executor against a scripted server.
pub fn executor_for(url: &str, config: ExecConfig) -> Executor {
    let client = GraphClient::new(url, TokenProvider::fixed("t"), 4).expect("client");
    Executor::start(client, config, Shutdown::new())
}

/// Seconds between two instants.
pub fn gap(a: Instant, b: Instant) -> Duration {
    b.duration_since(a)
}
