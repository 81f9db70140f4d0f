//! No wait outlives `--max-wait`, and Ctrl-C ends any wait at once (issue 12, H2). A gateway
//! that answers a whole `$batch` with 429 or 503 and `Retry-After: 999999999` used to pause every
//! request for 24 hours, and the first Ctrl-C did not end the pause.

use std::process::{Child, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::support::binary::interrupt;
use crate::support::proxy::{Rig, Rule, Tamper, job, path};
use crate::support::report::csv_records;
use axum::body::Body;
use axum::response::Response;

/// The first `$batch` is answered as a whole with `status` and this `Retry-After`.
fn first_batch(status: u16, retry_after: &'static str) -> Rule {
    let done = AtomicBool::new(false);
    Arc::new(move |seen, _| {
        let first = seen.path.ends_with("/$batch") && !done.swap(true, Ordering::SeqCst);
        if !first {
            return Tamper::Pass;
        }
        Tamper::Reply(
            Response::builder()
                .status(status)
                .header("retry-after", retry_after)
                .header("content-type", "application/json")
                .body(Body::from(
                    r#"{"error":{"code":"TooManyRequests","message":"slow down"}}"#,
                ))
                .unwrap(),
        )
    })
}

/// Wait for `child`, failing the test if it runs past `limit`.
fn finish_within(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_whole_batch_retry_after_beyond_max_wait_fails_its_items_and_stalls_nothing() {
    for (status, code) in [(429, "429"), (503, "503")] {
        let rig = Rig::start(80, first_batch(status, "999999999"));
        let dir = tempfile::tempdir().unwrap();
        let job = job(dir.path(), "list.csv", "list", 10..70);
        let report = path(dir.path(), "r.csv");
        let child = rig
            .run(&[
                &job,
                "--dry-run",
                "--report",
                &report,
                "--concurrency",
                "1",
                "--max-wait",
                "30s",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = finish_within(child, Duration::from_secs(25));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{status}: {stderr}");
        let (headers, rows) = csv_records(std::path::Path::new(&report));
        let status_col = headers.iter().position(|h| h == "status").unwrap();
        let http = headers.iter().position(|h| h == "http_status").unwrap();
        let failed: Vec<_> = rows.iter().filter(|r| r[status_col] == "failed").collect();
        // The items of the answered batch fail with the service's answer; every other row ran.
        assert!(
            !failed.is_empty() && failed.len() <= 20,
            "{status}: {failed:?}"
        );
        assert!(
            failed.iter().all(|r| r[http] == code),
            "{status}: {failed:?}"
        );
        let users: std::collections::HashSet<_> = rows.iter().map(|r| r[1].clone()).collect();
        assert_eq!(users.len(), 60, "{status}: every row reported");
    }
}

#[test]
fn the_first_ctrl_c_ends_a_service_pause_at_once() {
    // A pause the run would honour (under --max-wait): 120 s.
    let rig = Rig::start(80, first_batch(429, "120"));
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path(), "list.csv", "list", 10..70);
    let report = path(dir.path(), "r.csv");
    let child = rig
        .run(&[&job, "--dry-run", "--report", &report, "--concurrency", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the 429 was answered, and the run has sat in the pause for a moment.
    let deadline = Instant::now() + Duration::from_secs(30);
    while rig.seen("/$batch").is_empty() {
        assert!(Instant::now() < deadline, "no $batch sent");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rig.seen("/$batch").len(), 1, "the pause holds every batch");
    let interrupted = Instant::now();
    interrupt(&child);
    let out = finish_within(child, Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(interrupted.elapsed() < Duration::from_secs(5), "{stderr}");
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let (headers, rows) = csv_records(std::path::Path::new(&report));
    let status_col = headers.iter().position(|h| h == "status").unwrap();
    assert!(
        rows.iter().any(|r| r[status_col] == "cancelled"),
        "{rows:?}"
    );
}
