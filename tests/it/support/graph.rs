//! Shared helpers of the simulator's integration tests: start a simulator in-process, send
//! Graph calls with a valid token, read answers as JSON.

use authbulk::sim::{SimConfig, SimHandle, start};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// A running simulator with a client and a token.
pub struct Graph {
    pub sim: SimHandle,
    pub http: reqwest::Client,
    pub token: String,
}

/// One answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
}

/// `value` encoded as one path segment, as the client does it.
pub fn enc(value: &str) -> String {
    authbulk::testing::graph::path::segment(value)
}

impl Graph {
    pub async fn start(config: SimConfig) -> Graph {
        let sim = start(config).await.expect("simulator starts");
        let token = sim.mint_token();
        Graph {
            sim,
            http: reqwest::Client::new(),
            token,
        }
    }

    pub async fn with_users(users: usize) -> Graph {
        Graph::start(SimConfig {
            users,
            ..SimConfig::default()
        })
        .await
    }

    /// Send `method` to `path` (which starts with the version, e.g. `/v1.0/users`).
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.send_with(method, path, body, &[]).await
    }

    /// Send with extra request headers.
    pub async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.sim.url()))
            .bearer_auth(&self.token);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("simulator answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON body")
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    /// GET with `ConsistencyLevel: eventual` (an advanced query).
    pub async fn get_eventual(&self, path: &str) -> Answer {
        self.send_with(Method::GET, path, None, &[("ConsistencyLevel", "eventual")])
            .await
    }

    /// Every page of a listing, following `@odata.nextLink`, each page sent with `headers`.
    pub async fn collect(&self, path: &str, headers: &[(&str, &str)]) -> Vec<Value> {
        let mut out = Vec::new();
        let mut path = path.to_string();
        for _ in 0..1000 {
            let page = self.send_with(Method::GET, &path, None, headers).await;
            assert_eq!(page.status, 200, "{path}: {}", page.body);
            out.extend(page.body["value"].as_array().unwrap().iter().cloned());
            match page.body["@odata.nextLink"].as_str() {
                Some(next) => {
                    path = next
                        .strip_prefix(self.sim.url())
                        .expect("next link on the simulator")
                        .to_string()
                }
                None => return out,
            }
        }
        panic!("more than 1000 pages");
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(Method::DELETE, path, None).await
    }

    /// POST a `$batch` with these items to `version`.
    pub async fn batch(&self, version: &str, requests: Value) -> Answer {
        self.post(
            &format!("/{version}/$batch"),
            json!({ "requests": requests }),
        )
        .await
    }

    /// The full state of user `i`.
    pub fn state(&self, i: usize) -> Value {
        self.sim
            .user_state(&authbulk::sim::upn(i))
            .expect("user exists")
    }

    /// `/v1.0/users/{upn(i)}` + `rest`.
    pub fn user_path(&self, version: &str, i: usize, rest: &str) -> String {
        format!("/{version}/users/{}{rest}", enc(&authbulk::sim::upn(i)))
    }

    /// The first user index (below `limit`) whose state satisfies `pred`.
    pub fn find_user(&self, limit: usize, pred: impl Fn(&Value) -> bool) -> usize {
        (0..limit)
            .find(|&i| pred(&self.state(i)))
            .expect("a user with the wanted methods exists in the tenant")
    }
}

/// The methods of a state, by `@odata.type` suffix.
pub fn methods_of<'a>(state: &'a Value, kind: &str) -> Vec<&'a Value> {
    let wanted = format!("#microsoft.graph.{kind}AuthenticationMethod");
    state["methods"]
        .as_array()
        .map(|ms| ms.iter().filter(|m| m["@odata.type"] == wanted).collect())
        .unwrap_or_default()
}

/// The phone of this type in a state.
pub fn phone<'a>(state: &'a Value, phone_type: &str) -> Option<&'a Value> {
    methods_of(state, "phone")
        .into_iter()
        .find(|m| m["phoneType"] == phone_type)
}

/// The user's default method value.
pub fn default_of(state: &Value) -> Option<&str> {
    state["signInPreferences"]["userPreferredMethodForSecondaryAuthentication"].as_str()
}

/// The number of non-password methods.
pub fn non_password(state: &Value) -> usize {
    state["methods"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .filter(|m| m["@odata.type"] != "#microsoft.graph.passwordAuthenticationMethod")
                .count()
        })
        .unwrap_or(0)
}
