//! Paged reads (the users of `--all-users`, the registration report) go through the executor
//! like every other request: each page, the `@odata.nextLink` pages included, is a `$batch`
//! item; a page answered 429 waits its `Retry-After`, goes again and counts in the summary's
//! throttled requests; and pages take resource units from the run's budget. A proxy in front
//! of the simulator answers for the service where the test needs it.

use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::support::proxy::{Rig, Seen, Tamper, path};
use authbulk::sim::SimConfig;
use serde_json::{Value, json};

/// The `$batch` items of a request the proxy saw whose URL satisfies `wanted`.
fn items(seen: &Seen, wanted: impl Fn(&str) -> bool) -> Vec<Value> {
    if !seen.path.ends_with("/$batch") {
        return Vec::new();
    }
    let body: Value = serde_json::from_str(&seen.body).unwrap_or_default();
    body["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["url"].as_str().is_some_and(&wanted))
        .cloned()
        .collect()
}

/// The simulator's root and the proxy's, once the rig runs: the simulator writes its own root
/// into `@odata.nextLink`, and the proxy puts its own there instead, as a gateway in front of
/// Graph would (the client refuses a link that leaves its Graph root).
type Roots = Arc<OnceLock<(String, String)>>;

/// `answer` with the simulator's root replaced by the proxy's.
fn through_proxy(roots: &Roots, answer: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(answer);
    match roots.get() {
        Some((sim, proxy)) => text.replace(sim.as_str(), proxy).into_bytes(),
        None => text.into_owned().into_bytes(),
    }
}

/// Graph requests the proxy saw that were not `$batch` calls (the token endpoint aside).
fn outside_batches(rig: &Rig) -> Vec<String> {
    rig.log
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.path.starts_with("/v1.0/") || s.path.starts_with("/beta/"))
        .filter(|s| !s.path.ends_with("/$batch"))
        .map(|s| s.path.clone())
        .collect()
}

#[test]
fn a_next_page_answered_429_waits_its_retry_after_goes_again_and_counts_as_throttled() {
    // 1,200 users: two pages of `/users`; the second (a nextLink) is throttled once.
    let sent: Arc<Mutex<Vec<(Instant, Value)>>> = Arc::default();
    let roots = Roots::default();
    let rule = {
        let (sent, roots) = (sent.clone(), roots.clone());
        Arc::new(move |seen: &Seen, _| {
            let next = items(seen, |url| {
                url.starts_with("/users?") && url.contains("$skiptoken=")
            });
            let roots = roots.clone();
            let Some(item) = next.into_iter().next() else {
                return Tamper::Rewrite(Box::new(move |body| through_proxy(&roots, &body).into()));
            };
            let mut sent = sent.lock().unwrap();
            sent.push((Instant::now(), item.clone()));
            if sent.len() > 1 {
                return Tamper::Rewrite(Box::new(move |body| through_proxy(&roots, &body).into()));
            }
            let id = item["id"].as_str().unwrap().to_string();
            Tamper::Rewrite(Box::new(move |body| {
                let mut answer: Value = serde_json::from_slice(&body).unwrap();
                for response in answer["responses"].as_array_mut().unwrap() {
                    if response["id"] == id.as_str() {
                        *response = json!({
                            "id": id,
                            "status": 429,
                            "headers": {"Retry-After": "2", "Content-Type": "application/json"},
                            "body": {"error": {
                                "code": "TooManyRequests",
                                "message": "Too many requests.",
                            }},
                        });
                    }
                }
                through_proxy(&roots, &serde_json::to_vec(&answer).unwrap()).into()
            }))
        })
    };
    let rig = Rig::start(1_200, rule);
    let _ = roots.set((rig.sim.url().to_string(), rig.proxy.clone()));
    let dir = tempfile::tempdir().unwrap();
    let (report, summary) = (path(dir.path(), "r.csv"), path(dir.path(), "s.json"));
    let out = rig
        .run(&[
            "--all-users",
            "--action",
            "list",
            "--dry-run",
            "--report",
            &report,
            "--summary-json",
            &summary,
        ])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");

    // The throttled page went again, the same request, after its Retry-After.
    let sent = sent.lock().unwrap();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].1["url"], sent[1].1["url"]);
    let waited = sent[1].0 - sent[0].0;
    assert!(
        waited >= Duration::from_secs(2),
        "sent again after {waited:?}"
    );
    // Every user was listed, and every Graph request was a `$batch` call.
    let records = crate::support::report::rows(dir.path().join("r.csv").as_path());
    let users: std::collections::BTreeSet<&str> =
        records.iter().map(|r| r["user"].as_str()).collect();
    assert_eq!(users.len(), 1_200);
    assert_eq!(outside_batches(&rig), Vec::<String>::new());
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("s.json")).unwrap()).unwrap();
    assert_eq!(summary["traffic"]["throttled"], 1, "{summary}");
    assert!(
        summary["traffic"]["retries"].as_u64() >= Some(1),
        "{summary}"
    );
}

#[test]
fn pages_take_resource_units_from_the_budget() {
    // `status --all-users` reads only the registration report: 2,500 users are three pages.
    // A budget of 2 resource units per 10 s lets two go at once and the third 5 s later.
    let sent: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let roots = Roots::default();
    let rule = {
        let (sent, roots) = (sent.clone(), roots.clone());
        Arc::new(move |seen: &Seen, _| {
            let pages = items(seen, |url| url.starts_with("/reports/"));
            sent.lock()
                .unwrap()
                .extend(pages.iter().map(|_| Instant::now()));
            let roots = roots.clone();
            Tamper::Rewrite(Box::new(move |body| through_proxy(&roots, &body).into()))
        })
    };
    let rig = Rig::start_with(
        SimConfig {
            users: 2_500,
            unthrottled: true,
            ..SimConfig::default()
        },
        rule,
    );
    let _ = roots.set((rig.sim.url().to_string(), rig.proxy.clone()));
    let dir = tempfile::tempdir().unwrap();
    let out = rig
        .command(
            "status",
            &[
                "--all-users",
                "--ru-per-10s",
                "2",
                "--out",
                &path(dir.path(), "status.csv"),
            ],
        )
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let sent = sent.lock().unwrap();
    assert_eq!(sent.len(), 3, "pages: {sent:?}");
    let third = sent[2] - sent[0];
    assert!(
        third >= Duration::from_millis(4_500),
        "the third page went {third:?} after the first, beyond a budget of 2 units per 10 s"
    );
    assert_eq!(outside_batches(&rig), Vec::<String>::new());
}
