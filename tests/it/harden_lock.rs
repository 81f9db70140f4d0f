//! One run at a time on one report (issue 12, H1): a `--resume` while the first run is still
//! going, or a second `--resume` beside a first, is refused at once with exit 2, naming the
//! report and the process that holds it; the run that holds the lock completes and no pass is
//! issued twice.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::process::SimProcess;
use crate::support::report::size;
use authbulk::sim::upn;

/// Wait (bounded) until `ready` holds, while `child` is still running.
fn wait_for(child: &mut Child, what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(child.try_wait().unwrap().is_none(), "ended before {what}");
        assert!(Instant::now() < deadline, "no {what} within 60 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_second_run_on_a_report_in_use_is_refused_at_once_and_no_pass_is_issued_twice() {
    // Latency and one batch at a time keep the first run going while the others try.
    let sim = SimProcess::start(&["--users", "120", "--unthrottled", "--latency", "150..250"]);
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("taps.csv");
    let mut text = String::from("user,action\n");
    for i in 0..120 {
        text.push_str(&format!("{},issue-tap\n", upn(i)));
    }
    std::fs::write(&job, text).unwrap();
    let report = dir.path().join("r.csv");
    let journal = dir.path().join("r.csv.journal");
    let lock = dir.path().join("r.csv.lock");
    let run = |taps: &str, resume: bool| {
        let taps = dir.path().join(taps);
        let mut args = vec![
            job.to_str().unwrap().to_string(),
            "--yes".into(),
            "--report".into(),
            report.to_str().unwrap().into(),
            "--tap-out".into(),
            taps.to_str().unwrap().into(),
            "--concurrency".into(),
            "1".into(),
        ];
        if resume {
            args.push("--resume".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut command = sim.run(&args);
        command.stdout(Stdio::null()).stderr(Stdio::piped());
        command
    };

    // 1. A resume while the first run is still going.
    let mut first = run("taps1.csv", false).spawn().unwrap();
    wait_for(&mut first, "the first journal entries", || {
        size(&journal) > 2_000
    });
    let started = Instant::now();
    let second = run("taps2.csv", true).output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10), "not at once");
    assert!(
        stderr.contains("r.csv is in use by another authbulk run"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("pid {}", first.id())), "{stderr}");
    assert!(!dir.path().join("taps2.csv").exists());

    // 2. The first run is killed; two resumes: the second of them is refused.
    first.kill().unwrap();
    first.wait().unwrap();
    let mut third = run("taps3.csv", true).spawn().unwrap();
    let third_pid = format!("pid {}", third.id());
    wait_for(&mut third, "the resume's lock", || {
        std::fs::read_to_string(&lock).is_ok_and(|t| t.contains(&third_pid))
    });
    let fourth = run("taps4.csv", true).output().unwrap();
    let stderr = String::from_utf8_lossy(&fourth.stderr);
    assert_eq!(fourth.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&third_pid), "{stderr}");

    // Passes the killed run created with their value lost are reported failed, not issued
    // again, and the simulator's policy refuses some users (exit 1).
    let out = third.wait_with_output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (headers, rows) = crate::support::report::csv_records(&report);
    let row = headers.iter().position(|h| h == "row").unwrap();
    let mut seen: Vec<&str> = rows.iter().map(|r| r[row].as_str()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), rows.len(), "one record per row");
    assert_eq!(rows.len(), 120);
    let counters = sim.introspect("counters");
    assert_eq!(counters["duplicate_taps"], 0, "{counters}");
    assert!(!lock.exists(), "the lock file is removed when the run ends");
}
