//! Introspection under `/_sim/`: a user's full state with issued passes, counters and their
//! reset, groups, and the state dump at exit.

use crate::support::graph::{Graph, enc};
use authbulk::sim::{SimConfig, upn};
use serde_json::{Value, json};

async fn sim_get(g: &Graph, path: &str) -> (u16, Value) {
    let resp = g
        .http
        .get(format!("{}/_sim/{path}", g.sim.url()))
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_users_full_state_shows_the_passes_issued() {
    let g = Graph::with_users(50).await;
    let created = g
        .post(
            &g.user_path("v1.0", 7, "/authentication/temporaryAccessPassMethods"),
            json!({"lifetimeInMinutes": 60}),
        )
        .await;
    assert_eq!(created.status, 201);
    let (status, state) = sim_get(&g, &format!("users/{}", enc(&upn(7)))).await;
    assert_eq!(status, 200);
    assert_eq!(state["userPrincipalName"], upn(7));
    assert_eq!(
        state["issuedTemporaryAccessPasses"][0]["temporaryAccessPass"],
        created.body["temporaryAccessPass"]
    );
    assert!(state["signInPreferences"].is_object());
    assert_eq!(sim_get(&g, "users/nobody").await.0, 404);
}

#[tokio::test]
async fn counters_count_requests_items_reads_and_writes_and_reset_to_zero() {
    let g = Graph::with_users(50).await;
    g.get("/v1.0/users?$top=5").await;
    let items = json!([
        {"id": "1", "method": "GET", "url": format!("/users/{}", enc(&upn(1)))},
        {"id": "2", "method": "POST", "url": format!("/users/{}/revokeSignInSessions", enc(&upn(2))), "headers": {"Content-Type": "application/json"}, "body": {}},
    ]);
    g.batch("v1.0", items).await;
    let (_, counters) = sim_get(&g, "counters").await;
    assert_eq!(counters["http_requests"], 2);
    assert_eq!(counters["batch_calls"], 1);
    assert_eq!(counters["batch_items"], 2);
    assert_eq!(counters["reads"], 2);
    assert_eq!(counters["writes"], 1);
    assert_eq!(counters["writes_per_user"][upn(2)], 1);
    let reset = g
        .http
        .post(format!("{}/_sim/counters/reset", g.sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status().as_u16(), 204);
    let after = g.sim.counters();
    assert_eq!((after.http_requests, after.reads, after.writes), (0, 0, 0));
    assert!(after.writes_per_user.is_empty());
}

#[tokio::test]
async fn groups_are_listed_with_their_member_counts() {
    let g = Graph::with_users(100).await;
    let (_, groups) = sim_get(&g, "groups").await;
    let groups = groups.as_array().unwrap();
    assert_eq!(
        groups.len(),
        6,
        "five groups and the TAP policy's excluded group"
    );
    assert_eq!(groups[5]["displayName"], "Temporary Access Pass excluded");
    assert_eq!(groups[5]["directUsers"], 9, "users 10, 21, ... 98");
    let ids: Vec<&str> = groups.iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        g.sim
            .group_ids()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert!(groups[1]["transitiveUsers"].as_u64() > groups[1]["directUsers"].as_u64());
}

#[tokio::test]
async fn the_state_is_dumped_to_a_file_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let g = Graph::start(SimConfig {
        users: 12,
        state_out: Some(path.clone()),
        ..SimConfig::default()
    })
    .await;
    g.post(&g.user_path("v1.0", 3, "/revokeSignInSessions"), json!({}))
        .await;
    let Graph { sim, .. } = g;
    sim.shutdown().unwrap();
    let dump: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(dump["users"].as_array().unwrap().len(), 12);
    assert_eq!(dump["users"][3]["sessionsRevoked"], 1);
    assert!(dump["tenantId"].is_string());
}

#[test]
fn the_sim_command_refuses_bad_flags_with_exit_code_2() {
    let out = assert_cmd::Command::cargo_bin("authbulk")
        .unwrap()
        .args(["sim", "--fail-rate", "500=0.1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = assert_cmd::Command::cargo_bin("authbulk")
        .unwrap()
        .args(["sim", "--background-load", "1.5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--background-load"));
}

#[tokio::test]
async fn the_sim_command_prints_what_a_client_needs_and_serves_it() {
    use std::io::{BufRead, BufReader};
    /// Stops the simulator this test started, by its own handle, whatever happens.
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Stop(
        std::process::Command::new(env!("CARGO_BIN_EXE_authbulk"))
            .args(["sim", "--users", "30", "--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut printed = Vec::new();
    for line in BufReader::new(child.0.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let done = line.starts_with("Press Ctrl-C");
        printed.push(line);
        if done {
            break;
        }
    }
    let field = |name: &str| {
        printed
            .iter()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("{name} printed: {printed:?}"))
    };
    let (url, token_url) = (field("graph root:"), field("token endpoint:"));
    let (client, secret) = (field("client id:"), field("client secret:"));
    assert!(token_url.contains(&field("tenant id:")));
    let http = reqwest::Client::new();
    let token: Value = http
        .post(&token_url)
        .form(&[
            ("client_id", client.as_str()),
            ("client_secret", secret.as_str()),
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let users: Value = http
        .get(format!("{url}/v1.0/users?$top=999"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users["value"].as_array().unwrap().len(), 30);
    assert!(
        printed
            .iter()
            .any(|l| l.contains("Engineering Contractors")),
        "groups listed"
    );
}
