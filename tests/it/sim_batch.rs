//! `$batch` as graph-contract.md describes it: limits, ids, relative URLs, Content-Type with
//! bodies, shuffled responses matched by id, `dependsOn` with 424.

use crate::support::graph::{Graph, enc, non_password, phone};
use authbulk::sim::upn;
use serde_json::{Value, json};

fn get_user(id: usize, user: usize) -> Value {
    json!({"id": id.to_string(), "method": "GET", "url": format!("/users/{}", enc(&upn(user)))})
}

#[tokio::test]
async fn more_than_twenty_requests_are_refused_as_a_whole() {
    let g = Graph::with_users(50).await;
    let items: Vec<Value> = (0..21).map(|i| get_user(i, i)).collect();
    let r = g.batch("v1.0", json!(items)).await;
    assert_eq!((r.status, r.code()), (400, "BadRequest"));
    let twenty: Vec<Value> = (0..20).map(|i| get_user(i, i)).collect();
    assert_eq!(g.batch("v1.0", json!(twenty)).await.status, 200);
    assert_eq!(
        g.sim.counters().batch_items,
        20,
        "the refused batch ran nothing"
    );
}

#[tokio::test]
async fn duplicate_ids_are_refused_as_a_whole() {
    let g = Graph::with_users(50).await;
    let r = g
        .batch("v1.0", json!([get_user(1, 1), get_user(1, 2)]))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"]["innerError"]["request-id"].is_string());
}

#[tokio::test]
async fn absolute_urls_are_refused() {
    let g = Graph::with_users(50).await;
    let r = g
        .batch(
            "v1.0",
            json!([{"id": "1", "method": "GET", "url": "https://graph.microsoft.com/v1.0/users"}]),
        )
        .await;
    assert_eq!(r.status, 400);
    // Relative URLs work with or without the leading slash.
    let ok = g
        .batch(
            "v1.0",
            json!([{"id": "1", "method": "GET", "url": "users?$top=1"}]),
        )
        .await;
    assert_eq!(ok.body["responses"][0]["status"], 200);
}

#[tokio::test]
async fn a_body_needs_a_content_type_and_a_post_needs_a_body() {
    let g = Graph::with_users(50).await;
    let revoke = format!("/users/{}/revokeSignInSessions", enc(&upn(1)));
    let no_header = g
        .batch(
            "v1.0",
            json!([{"id": "1", "method": "POST", "url": revoke, "body": {}}]),
        )
        .await;
    assert_eq!(no_header.status, 400);
    assert_eq!(
        no_header.message(),
        "Write request id : 1 does not contain Content-Type header or body."
    );
    let no_body = g
        .batch("v1.0", json!([{"id": "1", "method": "POST", "url": revoke, "headers": {"Content-Type": "application/json"}}]))
        .await;
    assert_eq!(no_body.status, 400);
    let ok = g
        .batch("v1.0", json!([{"id": "1", "method": "POST", "url": revoke, "headers": {"content-type": "application/json"}, "body": {}}]))
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["responses"][0]["status"], 200);
    assert_eq!(g.state(1)["sessionsRevoked"], 1);
}

#[tokio::test]
async fn responses_come_back_shuffled_and_match_their_requests_by_id() {
    let g = Graph::with_users(100).await;
    let mut reordered = 0;
    for round in 0..10 {
        let items: Vec<Value> = (0..20)
            .map(|i| get_user(i, (round * 7 + i * 3) % 100))
            .collect();
        let r = g.batch("v1.0", json!(items)).await;
        assert_eq!(r.status, 200);
        let responses = r.body["responses"].as_array().unwrap();
        assert_eq!(responses.len(), 20);
        let order: Vec<usize> = responses
            .iter()
            .map(|x| x["id"].as_str().unwrap().parse().unwrap())
            .collect();
        if order != (0..20).collect::<Vec<_>>() {
            reordered += 1;
        }
        for x in responses {
            let id: usize = x["id"].as_str().unwrap().parse().unwrap();
            assert_eq!(x["status"], 200);
            assert_eq!(
                x["body"]["userPrincipalName"],
                upn((round * 7 + id * 3) % 100)
            );
        }
    }
    assert!(
        reordered >= 9,
        "responses are shuffled ({reordered}/10 batches reordered)"
    );
}

#[tokio::test]
async fn depends_on_orders_requests_and_fails_dependents_of_a_failure_with_424() {
    let g = Graph::with_users(300).await;
    let i = g.find_user(300, |s| non_password(s) == 0);
    let phones = format!("/users/{}/authentication/phoneMethods", enc(&upn(i)));
    let json_header = json!({"Content-Type": "application/json"});
    // "alt" is listed first but depends on "mobile": it can only succeed if run after it.
    let r = g
        .batch(
            "v1.0",
            json!([
                {"id": "alt", "method": "POST", "url": phones, "headers": json_header, "dependsOn": ["mobile"],
                 "body": {"phoneNumber": "+46 731234567", "phoneType": "alternateMobile"}},
                {"id": "mobile", "method": "POST", "url": phones, "headers": json_header,
                 "body": {"phoneNumber": "+46 701234567", "phoneType": "mobile"}},
                {"id": "bad", "method": "POST", "url": phones, "headers": json_header,
                 "body": {"phoneNumber": "nonsense", "phoneType": "office"}},
                {"id": "after-bad", "method": "GET", "url": phones, "dependsOn": ["bad"]},
            ]),
        )
        .await;
    assert_eq!(r.status, 200);
    let status = |id: &str| {
        r.body["responses"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap()["status"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        (
            status("mobile"),
            status("alt"),
            status("bad"),
            status("after-bad")
        ),
        (201, 201, 400, 424)
    );
    let state = g.state(i);
    assert!(phone(&state, "mobile").is_some() && phone(&state, "alternateMobile").is_some());
}

#[tokio::test]
async fn unknown_or_circular_dependencies_are_refused_as_a_whole() {
    let g = Graph::with_users(50).await;
    let mut a = get_user(1, 1);
    a["dependsOn"] = json!(["9"]);
    assert_eq!(
        g.batch("v1.0", json!([a, get_user(2, 2)])).await.status,
        400
    );
    let mut a = get_user(1, 1);
    let mut b = get_user(2, 2);
    a["dependsOn"] = json!(["2"]);
    b["dependsOn"] = json!(["1"]);
    assert_eq!(g.batch("v1.0", json!([a, b])).await.status, 400);
    assert_eq!(g.sim.counters().batch_items, 0);
}

#[tokio::test]
async fn the_batch_version_applies_to_its_items() {
    let g = Graph::with_users(50).await;
    let item = json!([{"id": "1", "method": "GET", "url": format!("/users/{}/authentication/signInPreferences", enc(&upn(1)))}]);
    let v1 = g.batch("v1.0", item.clone()).await;
    assert_eq!(v1.body["responses"][0]["status"], 400);
    let beta = g.batch("beta", item).await;
    assert_eq!(beta.body["responses"][0]["status"], 200);
    let counters = g.sim.counters();
    assert_eq!(
        (
            counters.batch_calls,
            counters.batch_items,
            counters.http_requests
        ),
        (2, 2, 2)
    );
}
