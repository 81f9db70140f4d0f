//! The first Ctrl-C, or SIGTERM, stops new writes promptly (issue 12, M1): rows in flight
//! finish the request they sent, their remaining steps are reported `cancelled`, and `--resume`
//! picks them up. It used to let every started row (up to 2,000) run all its writes to the end.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::proxy::{Rig, Tamper, path};
use crate::support::report::csv_records;
use authbulk::sim::SimConfig;

fn stop_promptly(signal: &str) {
    let rig = Rig::start_with(
        SimConfig {
            users: 200,
            unthrottled: true,
            latency: Some((Duration::from_millis(100), Duration::from_millis(200))),
            ..SimConfig::default()
        },
        Arc::new(|_, _| Tamper::Pass),
    );
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("reset.csv");
    let mut text = String::from("user,action,issue_tap,revoke_sessions\n");
    for i in 0..200 {
        text.push_str(&format!("{},reset-mfa,yes,yes\n", authbulk::sim::upn(i)));
    }
    std::fs::write(&job, text).unwrap();
    let job = job.to_str().unwrap();
    let report = path(dir.path(), "r.csv");
    let taps = path(dir.path(), "taps1.csv");
    let child = rig
        .run(&[
            job,
            "--yes",
            "--report",
            &report,
            "--tap-out",
            &taps,
            "--concurrency",
            "2",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while rig.sim.counters().writes < 60 {
        assert!(Instant::now() < deadline, "no writes within 60 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // Counted once the signal is delivered (a busy machine may take a while to run `kill`).
    let at_signal = rig.sim.counters().writes;
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{signal}: {stderr}");
    let after = rig.sim.counters().writes;
    eprintln!("{signal}: {at_signal} writes at the signal, {after} at the end");
    // The two batches in flight (20 items each) finish, and at most one more went while the
    // signal was being handled; the whole job is about 1,000 writes.
    assert!(
        after <= at_signal + 60,
        "{signal}: {at_signal} writes at the signal, {after} at the end"
    );
    let (headers, rows) = csv_records(std::path::Path::new(&report));
    let status_col = headers.iter().position(|h| h == "status").unwrap();
    let cancelled = rows.iter().filter(|r| r[status_col] == "cancelled").count();
    assert!(cancelled > 100, "{signal}: {cancelled} cancelled records");

    // The resume does the rest, and no pass twice.
    let taps2 = path(dir.path(), "taps2.csv");
    let out = rig
        .run(&[
            job,
            "--yes",
            "--report",
            &report,
            "--tap-out",
            &taps2,
            "--resume",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{signal}: {stderr}"
    );
    let counters = rig.sim.counters();
    assert_eq!(counters.duplicate_taps, 0, "{signal}");
    let (headers, rows) = csv_records(std::path::Path::new(&report));
    let status_col = headers.iter().position(|h| h == "status").unwrap();
    let step = headers.iter().position(|h| h == "step").unwrap();
    assert!(
        rows.iter().all(|r| r[status_col] != "cancelled"),
        "{signal}"
    );
    let taps = rows
        .iter()
        .filter(|r| r[step] == "issue temporaryAccessPass")
        .count();
    assert_eq!(taps, 200, "{signal}: one pass record per row");
}

#[test]
fn the_first_ctrl_c_stops_new_writes_and_resume_finishes_the_rows() {
    stop_promptly("-INT");
}

#[test]
fn sigterm_stops_like_the_first_ctrl_c() {
    stop_promptly("-TERM");
}
