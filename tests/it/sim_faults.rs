//! Injected faults: 503 and 504 answered without applying the request, a dropped connection
//! after the request was applied, and added latency.

use std::time::{Duration, Instant};

use crate::support::graph::Graph;
use authbulk::sim::{FaultRates, SimConfig, upn};
use serde_json::json;

fn faulty(faults: FaultRates) -> SimConfig {
    SimConfig {
        users: 20,
        faults,
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn a_503_or_504_is_answered_instead_of_applying_the_request() {
    for (faults, status, code) in [
        (
            FaultRates {
                unavailable: 1.0,
                ..FaultRates::default()
            },
            503,
            "serviceNotAvailable",
        ),
        (
            FaultRates {
                gateway_timeout: 1.0,
                ..FaultRates::default()
            },
            504,
            "UnknownError",
        ),
    ] {
        let g = Graph::start(faulty(faults)).await;
        let r = g
            .post(&g.user_path("v1.0", 1, "/revokeSignInSessions"), json!({}))
            .await;
        assert_eq!((r.status, r.code()), (status, code));
        assert_eq!(g.state(1)["sessionsRevoked"], 0, "not applied");
        assert_eq!(g.sim.counters().faults[&status.to_string()], 1);
    }
}

#[tokio::test]
async fn a_reset_drops_the_connection_after_the_request_was_applied() {
    let g = Graph::start(faulty(FaultRates {
        reset: 1.0,
        ..FaultRates::default()
    }))
    .await;
    let sent = g
        .http
        .post(format!(
            "{}{}",
            g.sim.url(),
            g.user_path("v1.0", 1, "/authentication/temporaryAccessPassMethods")
        ))
        .bearer_auth(&g.token)
        .json(&json!({}))
        .send()
        .await;
    assert!(sent.is_err(), "the client sees no answer");
    let counters = g.sim.counters();
    assert_eq!(counters.faults["reset"], 1);
    assert_eq!(
        counters.taps_per_user.get(&upn(1)),
        Some(&1),
        "but the pass was issued"
    );
    assert_eq!(
        g.state(1)["issuedTemporaryAccessPasses"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn fault_rates_are_drawn_per_call_at_about_the_configured_rate() {
    let g = Graph::start(faulty(FaultRates {
        unavailable: 0.3,
        ..FaultRates::default()
    }))
    .await;
    let mut failed = 0;
    for _ in 0..300 {
        if g.get("/v1.0/users?$top=1").await.status == 503 {
            failed += 1;
        }
    }
    // 90 expected; the bounds are over 5 standard deviations wide.
    assert!((50..=130).contains(&failed), "{failed} of 300");
}

#[tokio::test]
async fn latency_is_added_to_every_call() {
    let latency = Some((Duration::from_millis(40), Duration::from_millis(60)));
    let g = Graph::start(SimConfig {
        users: 20,
        latency,
        ..SimConfig::default()
    })
    .await;
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(g.get("/v1.0/users?$top=1").await.status, 200);
    }
    assert!(
        started.elapsed() >= Duration::from_millis(120),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn batch_items_fail_on_their_own_at_the_fault_rate() {
    let g = Graph::start(faulty(FaultRates {
        unavailable: 0.5,
        ..FaultRates::default()
    }))
    .await;
    let items: Vec<serde_json::Value> = (0..20)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": format!("/users/{}", crate::support::graph::enc(&upn(i)))}))
        .collect();
    let mut envelopes_ok = 0;
    let mut item_statuses = Vec::new();
    for _ in 0..20 {
        let r = g.batch("v1.0", json!(items)).await;
        if r.status == 200 {
            envelopes_ok += 1;
            item_statuses.extend(
                r.body["responses"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x["status"].as_u64().unwrap()),
            );
        } else {
            assert_eq!(r.status, 503);
        }
    }
    assert!(envelopes_ok > 0);
    assert!(item_statuses.contains(&503), "some items failed alone");
    assert!(
        item_statuses.contains(&200),
        "and the others of the same batch succeeded"
    );
}

#[tokio::test]
async fn an_applied_then_504_write_is_made_although_the_answer_is_a_gateway_timeout() {
    let g = Graph::start(SimConfig {
        users: 20,
        applied_timeouts: authbulk::sim::AppliedTimeouts {
            item: 1.0,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await;
    // A single write.
    let r = g
        .post(&g.user_path("v1.0", 1, "/revokeSignInSessions"), json!({}))
        .await;
    assert_eq!(r.status, 504);
    assert_eq!(g.state(1)["sessionsRevoked"], 1, "applied");
    // A $batch item: the envelope is 200, the write's item 504, the read's item 200.
    let b = g
        .batch(
            "v1.0",
            json!([
                {"id": "w", "method": "POST", "url": format!("/users/{}/revokeSignInSessions", crate::support::graph::enc(&upn(2))),
                 "headers": {"Content-Type": "application/json"}, "body": {}},
                {"id": "r", "method": "GET", "url": format!("/users/{}/authentication/methods", crate::support::graph::enc(&upn(3)))},
            ]),
        )
        .await;
    assert_eq!(b.status, 200);
    let status = |id: &str| {
        b.body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("w"), 504);
    assert_eq!(status("r"), 200);
    assert_eq!(g.state(2)["sessionsRevoked"], 1, "applied");
    // A refused write stays refused: only applied writes become 504s.
    let refused = g
        .post(
            &g.user_path("v1.0", 3, "/authentication/phoneMethods"),
            json!({"phoneNumber": "not a number", "phoneType": "office"}),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(g.sim.counters().faults["504-applied"], 2);
}

#[tokio::test]
async fn a_whole_batch_can_be_answered_504_after_every_item_ran() {
    let g = Graph::start(SimConfig {
        users: 20,
        applied_timeouts: authbulk::sim::AppliedTimeouts {
            batch: 1.0,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await;
    let items: Vec<_> = (0..5)
        .map(|i| {
            json!({"id": i.to_string(), "method": "POST",
                "url": format!("/users/{}/revokeSignInSessions", crate::support::graph::enc(&upn(i))),
                "headers": {"Content-Type": "application/json"}, "body": {}})
        })
        .collect();
    let b = g.batch("v1.0", json!(items)).await;
    assert_eq!((b.status, b.code()), (504, "UnknownError"));
    for i in 0..5 {
        assert_eq!(g.state(i)["sessionsRevoked"], 1, "user {i} applied");
    }
    assert_eq!(g.sim.counters().faults["batch-504-applied"], 1);
}
