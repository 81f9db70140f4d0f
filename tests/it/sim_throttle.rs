//! Throttling from token buckets: per-item 429s inside `$batch` with their own fractional
//! `Retry-After` (right within 10%), the write and tenant-wide buckets, the app-wide request
//! limit that refuses a whole `$batch`, the usage header, and the presets.

use crate::support::graph::{Answer, Graph, enc};
use authbulk::sim::{SimConfig, TenantSize, upn};
use serde_json::{Value, json};

fn gets(n: usize) -> Value {
    json!((0..n)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": format!("/users/{}", enc(&upn(i)))}))
        .collect::<Vec<_>>())
}

fn revokes(n: usize) -> Value {
    json!((0..n)
        .map(|i| json!({"id": i.to_string(), "method": "POST", "headers": {"Content-Type": "application/json"}, "body": {},
            "url": format!("/users/{}/revokeSignInSessions", enc(&upn(i)))}))
        .collect::<Vec<_>>())
}

fn items_with(r: &Answer, status: u64) -> Vec<Value> {
    r.body["responses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["status"] == status)
        .cloned()
        .collect()
}

fn retry_after(item: &Value) -> f64 {
    item["headers"]["Retry-After"]
        .as_str()
        .expect("Retry-After on a 429 item")
        .parse()
        .unwrap()
}

fn within_10_percent(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= expected * 0.1
}

#[tokio::test]
async fn a_burst_of_reads_over_budget_gets_429_items_with_their_own_retry_after() {
    // 2 resource units per 10 s: one every 5 s. A burst of 5 reads: 2 pass, 3 wait 5 s each
    // (a refused read takes no token, so each is told the same time).
    let g = Graph::start(SimConfig {
        users: 50,
        ru_per_10s: Some(2.0),
        ..SimConfig::default()
    })
    .await;
    let r = g.batch("v1.0", gets(5)).await;
    assert_eq!(r.status, 200, "the envelope is 200 whatever the items");
    assert_eq!(items_with(&r, 200).len(), 2);
    let throttled = items_with(&r, 429);
    assert_eq!(throttled.len(), 3);
    for item in &throttled {
        let wait = retry_after(item);
        assert!(
            within_10_percent(wait, 5.0),
            "Retry-After {wait} for an expected 5 s"
        );
        assert!(
            item["headers"]["Retry-After"]
                .as_str()
                .unwrap()
                .contains('.'),
            "fractional seconds"
        );
        assert!(
            item["headers"]["x-ms-throttle-scope"]
                .as_str()
                .unwrap()
                .starts_with("Tenant_Application/ResourceUnit/")
        );
        assert_eq!(
            item["headers"]["x-ms-throttle-information"],
            "ResourceUnitLimitExceeded"
        );
        assert_eq!(item["body"]["error"]["code"], "TooManyRequests");
    }
    assert_eq!(
        g.sim.counters().throttled["Tenant_Application/ResourceUnit"],
        3
    );
}

#[tokio::test]
async fn a_burst_of_writes_over_the_write_budget_waits_for_the_write_bucket() {
    // 15 writes per 150 s: one every 10 s.
    let g = Graph::start(SimConfig {
        users: 50,
        writes_per_150s: Some(15.0),
        ..SimConfig::default()
    })
    .await;
    let r = g.batch("v1.0", revokes(20)).await;
    assert_eq!(items_with(&r, 200).len(), 15);
    let throttled = items_with(&r, 429);
    assert_eq!(throttled.len(), 5);
    for item in &throttled {
        assert!(
            within_10_percent(retry_after(item), 10.0),
            "{}",
            item["headers"]
        );
        assert_eq!(
            item["headers"]["x-ms-throttle-information"],
            "WriteLimitExceeded"
        );
    }
    let counters = g.sim.counters();
    assert_eq!(counters.throttled["Tenant_Application/Write"], 5);
    assert_eq!(
        counters.writes_per_user.len(),
        15,
        "throttled writes are not applied"
    );
    // Reads still pass while writes are throttled.
    assert_eq!(items_with(&g.batch("v1.0", gets(3)).await, 200).len(), 3);
}

#[tokio::test]
async fn background_load_eats_the_tenant_wide_write_budget() {
    // 40 tenant writes per 5 min, half used by other apps: 20 for us, refilled at 1 per 15 s.
    let g = Graph::start(SimConfig {
        users: 50,
        tenant_writes_per_5min: Some(40.0),
        background_load: 0.5,
        ..SimConfig::default()
    })
    .await;
    let first = g.batch("v1.0", revokes(20)).await;
    assert_eq!(items_with(&first, 200).len(), 20);
    let second = g.batch("v1.0", revokes(2)).await;
    let throttled = items_with(&second, 429);
    assert_eq!(throttled.len(), 2);
    assert!(
        throttled[0]["headers"]["x-ms-throttle-scope"]
            .as_str()
            .unwrap()
            .starts_with("Tenant/Write/")
    );
    assert!(
        within_10_percent(retry_after(&throttled[0]), 15.0),
        "{}",
        throttled[0]["headers"]
    );
}

#[tokio::test]
async fn the_app_request_limit_throttles_whole_batch_calls() {
    // 2 HTTP calls per 10 s: the third waits 5 s, and none of its items runs.
    let g = Graph::start(SimConfig {
        users: 50,
        app_requests_per_10s: Some(2.0),
        ..SimConfig::default()
    })
    .await;
    assert_eq!(g.batch("v1.0", gets(2)).await.status, 200);
    assert_eq!(g.batch("v1.0", gets(2)).await.status, 200);
    let refused = g.batch("v1.0", gets(2)).await;
    assert_eq!((refused.status, refused.code()), (429, "TooManyRequests"));
    let wait: f64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(within_10_percent(wait, 5.0), "{wait}");
    assert!(
        refused
            .header("x-ms-throttle-scope")
            .unwrap()
            .starts_with("Application/Request/")
    );
    assert_eq!(
        refused.header("x-ms-throttle-information"),
        Some("RequestLimitExceeded")
    );
    let counters = g.sim.counters();
    assert_eq!(
        (
            counters.batch_items,
            counters.throttled["Application/Request"]
        ),
        (4, 1)
    );
}

#[tokio::test]
async fn answers_carry_the_limit_percentage_once_usage_passes_eighty_percent() {
    let g = Graph::start(SimConfig {
        users: 50,
        ru_per_10s: Some(10.0),
        ..SimConfig::default()
    })
    .await;
    let mut with_header = Vec::new();
    for i in 0..10 {
        let r = g.get(&format!("/v1.0/users/{}", enc(&upn(i)))).await;
        assert_eq!(r.status, 200);
        with_header.push(
            r.header("x-ms-throttle-limit-percentage")
                .map(|v| v.parse::<f64>().unwrap()),
        );
    }
    assert!(
        with_header[..7].iter().all(Option::is_none),
        "{with_header:?}"
    );
    assert!(with_header[8].is_some_and(|u| u > 0.8), "{with_header:?}");
    let r = g.get(&format!("/v1.0/users/{}", enc(&upn(11)))).await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
}

#[tokio::test]
async fn unthrottled_runs_never_answer_429() {
    let g = Graph::start(SimConfig {
        users: 50,
        unthrottled: true,
        ru_per_10s: Some(1.0),
        ..SimConfig::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(items_with(&g.batch("v1.0", gets(20)).await, 200).len(), 20);
    }
}

#[test]
fn tenant_size_presets_and_overrides_give_the_published_budgets() {
    let budgets = |size| {
        SimConfig {
            tenant_size: size,
            ..SimConfig::default()
        }
        .budgets()
        .unwrap()
    };
    assert_eq!(budgets(TenantSize::Small).ru_per_10s, 3_500.0);
    assert_eq!(budgets(TenantSize::Medium).ru_per_10s, 5_000.0);
    let large = budgets(TenantSize::Large);
    assert_eq!(
        (
            large.ru_per_10s,
            large.writes_per_150s,
            large.tenant_writes_per_5min,
            large.app_requests_per_10s
        ),
        (8_000.0, 3_000.0, 18_000.0, 130_000.0)
    );
    assert_eq!(TenantSize::for_users(49), TenantSize::Small);
    assert_eq!(TenantSize::for_users(500), TenantSize::Medium);
    assert_eq!(TenantSize::for_users(501), TenantSize::Large);
    let custom = SimConfig {
        writes_per_150s: Some(42.0),
        ..SimConfig::default()
    }
    .budgets()
    .unwrap();
    assert_eq!(custom.writes_per_150s, 42.0);
    assert!(
        SimConfig {
            unthrottled: true,
            ..SimConfig::default()
        }
        .budgets()
        .is_none()
    );
}

#[tokio::test]
async fn batch_envelopes_carry_the_app_limit_percentage_near_the_request_limit() {
    let g = Graph::start(SimConfig {
        users: 50,
        app_requests_per_10s: Some(10.0),
        ..SimConfig::default()
    })
    .await;
    let mut usage = Vec::new();
    for _ in 0..9 {
        let r = g.batch("v1.0", gets(1)).await;
        assert_eq!(r.status, 200);
        usage.push(r.header("x-ms-throttle-limit-percentage").is_some());
    }
    assert_eq!(
        usage,
        [false, false, false, false, false, false, false, false, true]
    );
}

#[tokio::test]
async fn every_answer_carries_its_resource_units_and_pages_cost_what_the_docs_say() {
    let g = Graph::start(SimConfig {
        users: 50,
        ru_per_10s: Some(1000.0),
        ..SimConfig::default()
    })
    .await;
    let group = &g.sim.group_ids()[1];
    let eventual = [("ConsistencyLevel", "eventual")];
    for (path, cost) in [
        ("/v1.0/users?$top=5".to_string(), "2"),
        ("/v1.0/users?$top=5&$select=id".to_string(), "1"),
        (
            format!("/v1.0/groups/{group}/transitiveMembers?$top=5"),
            "5",
        ),
        (
            format!(
                "/v1.0/groups/{group}/transitiveMembers/microsoft.graph.user?$select=id&$count=true"
            ),
            "4",
        ),
        (g.user_path("v1.0", 1, "/authentication/methods"), "1"),
    ] {
        let a = g
            .send_with(reqwest::Method::GET, &path, None, &eventual)
            .await;
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(a.header("x-ms-resource-unit"), Some(cost), "{path}");
    }
    // Inside a $batch, each item carries its own.
    let b = g
        .batch(
            "v1.0",
            json!([{"id": "1", "method": "GET", "url": "/users?$top=3"}]),
        )
        .await;
    assert_eq!(b.body["responses"][0]["headers"]["x-ms-resource-unit"], "2");
}

#[tokio::test]
async fn pages_are_charged_their_resource_units() {
    // 10 units per 10 s: five users pages at 2 units empty the bucket, the sixth waits.
    let g = Graph::start(SimConfig {
        users: 50,
        ru_per_10s: Some(10.0),
        ..SimConfig::default()
    })
    .await;
    for _ in 0..5 {
        assert_eq!(g.get("/v1.0/users?$top=1").await.status, 200);
    }
    let refused = g.get("/v1.0/users?$top=1").await;
    assert_eq!(refused.status, 429);
    let wait: f64 = refused.header("Retry-After").unwrap().parse().unwrap();
    assert!(
        wait > 1.0 && wait <= 2.0,
        "two units at one a second: {wait}"
    );
}

#[tokio::test]
async fn the_priority_header_counts_per_batch_item_never_from_the_envelope() {
    let g = Graph::with_users(10).await;
    let url = format!("/users/{}/authentication/methods", enc(&upn(1)));
    g.send_with(
        reqwest::Method::POST,
        "/v1.0/$batch",
        Some(json!({"requests": [
            {"id": "1", "method": "GET", "url": url},
            {"id": "2", "method": "GET", "url": url, "headers": {"x-ms-throttle-priority": "low"}},
        ]})),
        &[("x-ms-throttle-priority", "low")],
    )
    .await;
    let c = g.sim.counters();
    assert_eq!((c.batch_items, c.low_priority_items), (2, 1));
    assert_eq!(c.low_priority_requests, 0, "the envelope is not an item");
    g.send_with(
        reqwest::Method::GET,
        &format!("/v1.0{url}"),
        None,
        &[("x-ms-throttle-priority", "low")],
    )
    .await;
    assert_eq!(g.sim.counters().low_priority_requests, 1);
}
