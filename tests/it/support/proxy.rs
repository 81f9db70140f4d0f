//! Shared by the hardening tests (issue 12): an in-process simulator with a tampering proxy in
//! front of it (both on 127.0.0.1:0), and the `authbulk run` command aimed at the proxy. The
//! proxy logs every request it sees and lets a test answer, rewrite or pass each one, as a
//! broken gateway or a hostile intermediary would.

use crate::support::binary::authbulk;
use std::process::Command;
use std::sync::{Arc, Mutex};

use authbulk::sim::{SimConfig, SimHandle};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Path and query.
    pub path: String,
    /// Its body as text.
    pub body: String,
}

/// What the proxy does with a request.
pub enum Tamper {
    /// Forward it to the simulator and pass the answer back.
    Pass,
    /// Answer it without forwarding.
    Reply(Response),
    /// Forward it, then rewrite the answer's body.
    Rewrite(Box<dyn FnOnce(Bytes) -> Bytes + Send>),
}

/// The rule: the request, and how many requests came before it.
pub type Rule = Arc<dyn Fn(&Seen, usize) -> Tamper + Send + Sync>;

/// A simulator behind a tampering proxy, on one runtime of their own.
pub struct Rig {
    /// Runs the simulator and the proxy.
    pub runtime: tokio::runtime::Runtime,
    /// The simulator.
    pub sim: SimHandle,
    /// The proxy's root URL (Graph and token endpoint both go through it).
    pub proxy: String,
    /// Every request the proxy saw, in order.
    pub log: Arc<Mutex<Vec<Seen>>>,
}

impl Rig {
    /// Start a simulator of `users` (unthrottled) and a proxy in front of it that applies `rule`.
    pub fn start(users: usize, rule: Rule) -> Rig {
        Self::start_with(
            SimConfig {
                users,
                unthrottled: true,
                ..SimConfig::default()
            },
            rule,
        )
    }

    /// The same with any simulator settings.
    pub fn start_with(config: SimConfig, rule: Rule) -> Rig {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let sim = runtime
            .block_on(authbulk::sim::start(config))
            .expect("the simulator");
        let log: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let proxy = runtime.block_on(proxy(sim.url().to_string(), rule, log.clone()));
        Rig {
            runtime,
            sim,
            proxy,
            log,
        }
    }

    /// `authbulk run <args>` with the simulator's credentials, Graph and the token endpoint
    /// both through the proxy.
    pub fn run(&self, args: &[&str]) -> Command {
        self.command("run", args)
    }

    /// `authbulk <name> <args>` (`run`, `export`, `status`, ...) the same way.
    pub fn command(&self, name: &str, args: &[&str]) -> Command {
        let mut command = authbulk();
        command.arg(name).args(args);
        command.args(["--graph-url", &self.proxy]);
        command
            .env("AZURE_TENANT_ID", self.sim.tenant_id())
            .env("AZURE_CLIENT_ID", self.sim.client_id())
            .env("AZURE_CLIENT_SECRET", self.sim.client_secret())
            .env("AZURE_AUTHORITY_HOST", &self.proxy);
        command
    }

    /// Requests the proxy saw whose path contains `part`.
    pub fn seen(&self, part: &str) -> Vec<Seen> {
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|s| s.path.contains(part))
            .cloned()
            .collect()
    }
}

/// A server on 127.0.0.1:0 that records every request and answers `status` with `body`.
pub fn recorder(
    runtime: &tokio::runtime::Runtime,
    status: u16,
    body: &'static str,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let log: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let rule: Rule = Arc::new(move |_, _| {
        Tamper::Reply(
            Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
    });
    let url = runtime.block_on(proxy(String::new(), rule, log.clone()));
    (url, log)
}

async fn proxy(upstream: String, rule: Rule, log: Arc<Mutex<Vec<Seen>>>) -> String {
    // The proxy itself never follows a redirect: it shows the client what the server said.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (rule, log, client, upstream) =
                (rule.clone(), log.clone(), client.clone(), upstream.clone());
            async move {
                let path = uri
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default();
                let seen = Seen {
                    path: path.clone(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push(seen.clone());
                    log.len() - 1
                };
                let rewrite = match rule(&seen, n) {
                    Tamper::Reply(response) => return response,
                    Tamper::Pass => None,
                    Tamper::Rewrite(f) => Some(f),
                };
                let mut request = client.request(method, format!("{upstream}{path}"));
                for (name, value) in &headers {
                    if name != "host" && name != "content-length" {
                        request = request.header(name, value);
                    }
                }
                let answer = request
                    .body(body)
                    .send()
                    .await
                    .expect("the simulator answers");
                let mut response = Response::builder().status(answer.status());
                for (name, value) in answer.headers() {
                    if name != "content-length" && name != "transfer-encoding" {
                        response = response.header(name, value);
                    }
                }
                let body = answer.bytes().await.unwrap_or_default();
                let body = match rewrite {
                    Some(f) => f(body),
                    None => body,
                };
                response.body(Body::from(body)).unwrap()
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

/// A job file of `action` rows for the simulator's users `from..to`.
pub fn job(
    dir: &std::path::Path,
    name: &str,
    action: &str,
    users: std::ops::Range<usize>,
) -> String {
    let path = dir.join(name);
    let mut text = String::from("user,action\n");
    for i in users {
        text.push_str(&format!("{},{action}\n", authbulk::sim::upn(i)));
    }
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// A path in `dir` as text.
pub fn path(dir: &std::path::Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}
