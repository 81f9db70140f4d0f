//! The executor against the in-process simulator (and, where the simulator cannot produce an
//! answer, a scripted `$batch` server): per-item and whole-batch throttling, dropped
//! connections, lost writes, permissions, `Retry-After` in both forms, batch forming, path
//! safety and paged enumeration.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::support::exec::*;
use authbulk::sim::{FaultRates, SimConfig, TapPolicy, upn};
use authbulk::testing::exec::ExecConfig;
use authbulk::testing::graph::DirectoryUser;
use authbulk::testing::graph::requests::{self, PAGE_SIZE};
use authbulk::testing::graph::{ApiVersion, ErrorKind, GraphCall, Request, path};
use authbulk::testing::throttle::BudgetMode;
use authbulk::testing::throttle::RetryPolicy;
use axum::http::StatusCode;
use futures::StreamExt;
use futures::future::join_all;
use serde_json::{Value, json};

fn methods(user: &str) -> Request {
    Request::get(
        ApiVersion::V1,
        format!("{}/authentication/methods", path::user(user)),
    )
}

#[tokio::test]
async fn every_item_of_batches_with_per_item_429s_finishes() {
    // The service allows 100 resource units per 10 s; the client thinks it may send far more
    // and follows the service's signals alone, so its 160 reads go at once (a capped engine
    // probes from its start and would settle under the limit on the service's warnings).
    let mut config = unbounded();
    config.rate.mode = BudgetMode::Adaptive;
    let rig = rig(
        SimConfig {
            users: 160,
            ru_per_10s: Some(100.0),
            ..SimConfig::default()
        },
        config,
    )
    .await;
    let calls = (0..160).map(|i| {
        let user = upn(i);
        let exec = &rig.exec;
        async move { exec.call(&user, methods(&user)).await }
    });
    let results = join_all(calls).await;
    let failed: Vec<_> = results.iter().filter(|r| r.is_err()).collect();
    assert!(failed.is_empty(), "{failed:?}");
    let counters = rig.sim.counters();
    let throttled = counters
        .throttled
        .get("Tenant_Application/ResourceUnit")
        .copied()
        .unwrap_or(0);
    assert!(throttled > 0, "the service throttled items: {counters:?}");
    assert_eq!(counters.reads, 160, "each read admitted exactly once");
    let stats = rig.exec.stats().snapshot();
    assert_eq!(stats.throttled, throttled);
    assert!(results.iter().flatten().any(|r| r.attempts > 1));
}

#[tokio::test]
async fn whole_batch_429s_lose_nothing() {
    // 30 HTTP calls per 10 s for the app: the 31st $batch is refused as a whole. The engine
    // follows the service's signals alone from a huge budget, so its 40 calls go at once (a
    // capped engine probes from its start and settles under the limit on its warnings).
    let mut config = unbounded();
    config.rate.mode = BudgetMode::Adaptive;
    let rig = rig(
        SimConfig {
            users: 800,
            app_requests_per_10s: Some(30.0),
            ..SimConfig::default()
        },
        config,
    )
    .await;
    let calls = (0..800).map(|i| {
        let user = upn(i);
        let exec = &rig.exec;
        async move { exec.call(&user, methods(&user)).await }
    });
    let results = join_all(calls).await;
    assert!(results.iter().all(Result::is_ok));
    let counters = rig.sim.counters();
    assert!(
        counters
            .throttled
            .get("Application/Request")
            .copied()
            .unwrap_or(0)
            > 0,
        "{counters:?}"
    );
    assert_eq!(counters.reads, 800);
}

#[tokio::test]
async fn reads_survive_dropped_connections_and_server_errors() {
    let rig = rig(
        SimConfig {
            users: 400,
            faults: FaultRates {
                unavailable: 0.03,
                gateway_timeout: 0.03,
                reset: 0.2,
            },
            ..SimConfig::default()
        },
        ExecConfig {
            concurrency: 2,
            // About 3 in 10 attempts fail here; 16 retries make a lost read a 1e-8 event.
            retry: RetryPolicy {
                max_retries: 16,
                ..RetryPolicy::default()
            },
            ..unbounded()
        },
    )
    .await;
    let calls = (0..400).map(|i| {
        let user = upn(i);
        let exec = &rig.exec;
        async move { exec.call(&user, methods(&user)).await }
    });
    let results = join_all(calls).await;
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failed.is_empty(), "{failed:?}");
    let counters = rig.sim.counters();
    assert!(
        counters.faults.get("reset").copied().unwrap_or(0) > 0,
        "{counters:?}"
    );
    assert!(rig.exec.stats().snapshot().transient > 0);
}

/// What the planner does with a write: send it; on an unknown outcome read the state again and
/// send it again only when the state does not show it.
async fn issue_tap_once(exec: &impl GraphCall, user: &str) -> (bool, u32) {
    let url = format!(
        "{}/authentication/temporaryAccessPassMethods",
        path::user(user)
    );
    let mut unknown = 0;
    loop {
        match exec
            .call(
                user,
                Request::post(ApiVersion::V1, &url, json!({"lifetimeInMinutes": 60})),
            )
            .await
        {
            Ok(_) => return (true, unknown),
            Err(err) if err.kind == ErrorKind::UnknownOutcome => {
                unknown += 1;
                // Half of all connections drop here, so even a read that the executor retried
                // can run out of attempts: read again, a bounded number of times.
                let mut reads = 0;
                let state = loop {
                    reads += 1;
                    match exec.call(user, Request::get(ApiVersion::V1, &url)).await {
                        Ok(state) => break state,
                        Err(err) if reads < 10 && err.kind == ErrorKind::Transient => {}
                        Err(err) => panic!("{user}: the state cannot be read again: {err}"),
                    }
                };
                if state.body["value"]
                    .as_array()
                    .is_some_and(|v| !v.is_empty())
                {
                    return (true, unknown);
                }
            }
            Err(err) => panic!("{user}: {err}"),
        }
    }
}

#[tokio::test]
async fn a_write_whose_answer_was_lost_is_never_applied_twice() {
    let rig = rig(
        SimConfig {
            users: 200,
            faults: FaultRates {
                reset: 0.5,
                ..FaultRates::default()
            },
            tap_policy: TapPolicy {
                excluded_every: None,
                ..TapPolicy::default()
            },
            ..SimConfig::default()
        },
        ExecConfig {
            concurrency: 1,
            ..unbounded()
        },
    )
    .await;
    // Users without a pass yet, so a pass in the state can only be ours.
    let users: Vec<String> = (0..200)
        .map(upn)
        .filter(|u| {
            let state = rig.sim.user_state(u).unwrap();
            !state.to_string().contains("temporaryAccessPass")
        })
        .collect();
    assert!(users.len() > 100);
    rig.sim.reset_counters();
    let outcomes = join_all(users.iter().map(|u| issue_tap_once(&rig.exec, u))).await;
    let unknown: u32 = outcomes.iter().map(|(_, n)| n).sum();
    assert!(outcomes.iter().all(|(done, _)| *done));
    assert!(unknown > 0, "some writes lost their answer");
    let counters = rig.sim.counters();
    assert!(counters.faults.get("reset").copied().unwrap_or(0) > 0);
    assert_eq!(counters.duplicate_taps, 0);
    for user in &users {
        assert_eq!(counters.taps_per_user.get(user), Some(&1), "{user}");
    }
    assert_eq!(
        counters.writes,
        users.len() as u64,
        "no write was sent twice"
    );
}

#[tokio::test]
async fn a_denied_permission_is_a_clear_error_with_graphs_code_and_request_id() {
    let rig = rig(
        SimConfig {
            users: 10,
            deny: BTreeSet::from([
                "UserAuthenticationMethod.Read.All".to_string(),
                "UserAuthenticationMethod.ReadWrite.All".to_string(),
            ]),
            ..SimConfig::default()
        },
        unbounded(),
    )
    .await;
    let user = upn(3);
    let err = rig.exec.call(&user, methods(&user)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Permission);
    assert_eq!(err.status, Some(403));
    assert_eq!(err.code, "Authorization_RequestDenied");
    assert!(err.request_id.is_some());
    assert_eq!(err.attempts, 1, "a permission error is not retried");
    assert!(err.to_string().contains("Insufficient privileges"), "{err}");
}

#[tokio::test]
async fn a_job_value_with_slashes_cannot_reach_another_endpoint() {
    let rig = rig(
        SimConfig {
            users: 10,
            ..SimConfig::default()
        },
        unbounded(),
    )
    .await;
    let group = rig.sim.group_ids()[0].clone();
    let evil = format!("a/../../groups/{group}");
    let err = rig.exec.call(&evil, methods(&evil)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn retry_after_in_seconds_and_as_an_http_date_are_both_waited_for() {
    // Call 0: item 429 with Retry-After 0.6 s; call 1: item 429 with an HTTP-date 2 s ahead;
    // call 2: 200.
    let script: Arc<Script> = Arc::new(|n, body| match n {
        0 => (
            StatusCode::OK,
            vec![],
            answer_all(body, 429, json!({"Retry-After": "0.600"})),
        ),
        1 => {
            let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
            (
                StatusCode::OK,
                vec![],
                answer_all(body, 429, json!({"retry-after": date})),
            )
        }
        _ => (StatusCode::OK, vec![], answer_all(body, 200, json!({}))),
    });
    let (url, log) = scripted(script).await;
    let exec = executor_for(&url, unbounded());
    let response = exec.call("u", methods("u")).await.unwrap();
    assert_eq!(response.attempts, 3);
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 3);
    assert!(gap(log[0].at, log[1].at) >= Duration::from_millis(600));
    // An HTTP-date has whole seconds: 2 s ahead, truncated, is more than 1 s ahead.
    assert!(gap(log[1].at, log[2].at) >= Duration::from_secs(1));
    assert_eq!(exec.stats().snapshot().throttled, 2);
}

#[tokio::test]
async fn a_whole_batch_retry_after_as_an_http_date_holds_the_batch() {
    let script: Arc<Script> = Arc::new(|n, body| match n {
        0 => {
            let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
            (
                StatusCode::TOO_MANY_REQUESTS,
                vec![("Retry-After".to_string(), date)],
                json!({"error":{"code":"TooManyRequests","message":"slow down"}}),
            )
        }
        _ => (StatusCode::OK, vec![], answer_all(body, 200, json!({}))),
    });
    let (url, log) = scripted(script).await;
    let exec = executor_for(&url, unbounded());
    exec.call("u", methods("u")).await.unwrap();
    let log = log.lock().unwrap().clone();
    assert!(gap(log[0].at, log[1].at) >= Duration::from_secs(1));
}

#[tokio::test]
async fn batches_hold_at_most_20_items_one_per_user_and_one_api_version() {
    let script: Arc<Script> =
        Arc::new(|_, body| (StatusCode::OK, vec![], answer_all(body, 200, json!({}))));
    let (url, log) = scripted(script).await;
    let exec = executor_for(&url, unbounded());
    // 50 users with a v1.0 and a beta request each, plus a second v1.0 request for 10 of them
    // sent at the same time (a caller breaking the one-at-a-time rule).
    let mut calls = Vec::new();
    for i in 0..50 {
        let user = format!("user{i}");
        calls.push((user.clone(), methods(&user)));
        calls.push((
            user.clone(),
            Request::get(
                ApiVersion::Beta,
                format!("{}/authentication/signInPreferences", path::user(&user)),
            ),
        ));
        if i < 10 {
            calls.push((user.clone(), methods(&user)));
        }
    }
    let results = join_all(calls.iter().map(|(u, r)| exec.call(u, r.clone()))).await;
    assert!(results.iter().all(Result::is_ok));
    let log = log.lock().unwrap().clone();
    let mut items = 0;
    for call in &log {
        let requests = call.body["requests"].as_array().unwrap();
        assert!(requests.len() <= 20);
        items += requests.len();
        let users: HashSet<&str> = requests
            .iter()
            .map(|r| r["url"].as_str().unwrap().split('/').nth(2).unwrap())
            .collect();
        assert_eq!(
            users.len(),
            requests.len(),
            "one item per user in {:?}",
            call.body
        );
        let beta = call.path == "/beta/$batch";
        assert!(beta || call.path == "/v1.0/$batch", "{}", call.path);
        for r in requests {
            let url = r["url"].as_str().unwrap();
            assert_eq!(
                url.ends_with("signInPreferences"),
                beta,
                "{url} in {}",
                call.path
            );
        }
        assert_eq!(call.headers["x-ms-throttle-priority"], "low");
        assert!(call.headers.contains_key("client-request-id"));
    }
    assert_eq!(items, 110);
    let ids: HashSet<&str> = log
        .iter()
        .map(|c| c.headers["client-request-id"].to_str().unwrap())
        .collect();
    assert_eq!(ids.len(), log.len(), "a fresh client-request-id per call");
}

#[tokio::test]
async fn all_users_and_group_members_are_enumerated_across_pages() {
    let rig = rig(
        SimConfig {
            users: 2_500,
            ..SimConfig::default()
        },
        unbounded(),
    )
    .await;
    let users: Vec<_> = rig
        .exec
        .pages::<DirectoryUser>(requests::list_users(None, PAGE_SIZE))
        .collect()
        .await;
    let ids: HashSet<String> = users.into_iter().map(|u| u.unwrap().id).collect();
    assert_eq!(ids.len(), 2_500);
    let groups: Value = rig.sim.groups();
    let group = &groups.as_array().unwrap()[0];
    let id = group["id"].as_str().unwrap();
    let members: Vec<_> = rig
        .exec
        .pages::<DirectoryUser>(requests::group_members(id, PAGE_SIZE))
        .collect()
        .await;
    assert!(members.iter().all(Result::is_ok));
    assert!(!members.is_empty());
    let filtered: Vec<_> = rig
        .exec
        .pages::<DirectoryUser>(requests::list_users(
            Some("startswith(userPrincipalName,'guest')"),
            PAGE_SIZE,
        ))
        .collect()
        .await;
    assert_eq!(filtered.len(), 2_500 / 50);
}

#[tokio::test]
async fn a_first_stop_answers_every_request_and_retries_nothing_more() {
    // The service allows 50 reads per 10 s; 300 are asked for, so most wait for retries.
    let rig = rig(
        SimConfig {
            users: 300,
            ru_per_10s: Some(50.0),
            ..SimConfig::default()
        },
        unbounded(),
    )
    .await;
    let calls = (0..300).map(|i| {
        let user = upn(i);
        let exec = &rig.exec;
        async move { exec.call(&user, methods(&user)).await }
    });
    let stopper = async {
        // Stop once the first answers are in (counted by the executor, not timed).
        while rig.exec.stats().snapshot().reads < 50 {
            tokio::task::yield_now().await;
        }
        rig.shutdown.escalate();
    };
    let (results, ()) = tokio::join!(join_all(calls), stopper);
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let cancelled = results
        .iter()
        .filter(|r| r.as_ref().is_err_and(|e| e.kind == ErrorKind::Cancelled))
        .count();
    assert_eq!(ok + cancelled, 300, "every request has an answer");
    assert!(ok >= 50 && cancelled > 0, "{ok} ok, {cancelled} cancelled");
    assert_eq!(
        rig.sim.counters().reads,
        ok as u64,
        "nothing ran after the answers"
    );
}

#[tokio::test]
async fn a_second_stop_cancels_requests_waiting_for_a_retry_at_once() {
    let rig = rig(
        SimConfig {
            users: 100,
            ru_per_10s: Some(10.0),
            ..SimConfig::default()
        },
        unbounded(),
    )
    .await;
    let calls = (0..100).map(|i| {
        let user = upn(i);
        let exec = &rig.exec;
        async move { exec.call(&user, methods(&user)).await }
    });
    let stopper = async {
        while rig.exec.stats().snapshot().throttled == 0 {
            tokio::task::yield_now().await;
        }
        rig.shutdown.escalate();
        rig.shutdown.escalate();
    };
    let (results, ()) = tokio::join!(join_all(calls), stopper);
    assert!(results.iter().all(|r| match r {
        Ok(_) => true,
        Err(e) => e.kind == ErrorKind::Cancelled,
    }));
    assert!(results.iter().filter(|r| r.is_err()).count() >= 80);
}
