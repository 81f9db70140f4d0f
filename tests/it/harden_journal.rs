//! The journal (issue 12, M3 and M4): no write is sent once the journal cannot be written (a
//! full disk), and the run says so with exit 3, not 2 ("nothing began"); a damaged journal line
//! stops `--resume` with its line number instead of silently dropping all that follows it.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authbulk::sim::SimConfig;
use authbulk::testing::report::Entry;
use authbulk::testing::report::Journal;

use crate::support::proxy::{Rig, Tamper, path};

fn reset_job(dir: &std::path::Path, users: std::ops::Range<usize>) -> String {
    let job = dir.join("reset.csv");
    let mut text = String::from("user,action,issue_tap,revoke_sessions,ticket\n");
    for i in users {
        let ticket = "x".repeat(200);
        text.push_str(&format!(
            "{},reset-mfa,yes,yes,{ticket}\n",
            authbulk::sim::upn(i)
        ));
    }
    std::fs::write(&job, text).unwrap();
    job.to_str().unwrap().to_string()
}

/// `command` run by a shell that first limits the size of any file it writes to `blocks` of
/// 512 bytes, with SIGXFSZ ignored, so a write past it fails like a full disk (EFBIG).
fn with_file_size_limit(command: &Command, blocks: u32) -> Command {
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" \"$@\""
        ))
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => shell.env(key, value),
            None => shell.env_remove(key),
        };
    }
    shell.stdin(Stdio::null());
    shell
}

#[test]
fn no_write_is_sent_once_the_journal_cannot_be_written_and_the_exit_code_is_3() {
    let rig = Rig::start(150, Arc::new(|_, _| Tamper::Pass));
    let dir = tempfile::tempdir().unwrap();
    let job = reset_job(dir.path(), 0..150);
    let report = path(dir.path(), "r.csv");
    let taps = path(dir.path(), "taps.csv");
    let run = rig.run(&[&job, "--yes", "--report", &report, "--tap-out", &taps]);
    let out = with_file_size_limit(&run, 96).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("File too large"), "{stderr}");
    assert!(stderr.contains("--resume"), "{stderr}");
    let starts = Journal::entries(&dir.path().join("r.csv.journal"))
        .unwrap()
        .iter()
        .filter(|e| matches!(e, Entry::Start { .. }))
        .count() as u64;
    let writes = rig.sim.counters().writes;
    eprintln!("{writes} writes, {starts} starts journaled");
    assert!(writes > 0, "the run began writing");
    assert!(
        writes <= starts,
        "{writes} writes sent, only {starts} of them journaled first"
    );
}

#[test]
fn a_damaged_journal_line_stops_the_resume_with_its_line_and_a_torn_last_line_does_not() {
    // A run stopped by SIGTERM keeps its journal (a finished run removes it).
    let rig = Rig::start_with(
        SimConfig {
            users: 100,
            unthrottled: true,
            latency: Some((Duration::from_millis(50), Duration::from_millis(100))),
            ..SimConfig::default()
        },
        Arc::new(|_, _| Tamper::Pass),
    );
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("taps.csv");
    let mut text = String::from("user,action\n");
    for i in 0..100 {
        text.push_str(&format!("{},issue-tap\n", authbulk::sim::upn(i)));
    }
    std::fs::write(&job, text).unwrap();
    let job = job.to_str().unwrap();
    let report = path(dir.path(), "r.csv");
    let journal = dir.path().join("r.csv.journal");
    let run = |taps: &str, resume: bool| {
        let taps = path(dir.path(), taps);
        let mut args = vec![
            job,
            "--yes",
            "--report",
            &report,
            "--tap-out",
            &taps,
            "--concurrency",
            "1",
        ];
        if resume {
            args.push("--resume");
        }
        let mut command = rig.run(&args);
        command.stdin(Stdio::null());
        command
    };
    let child = run("t1.csv", false)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while rig.sim.counters().writes < 10 {
        assert!(Instant::now() < deadline, "no writes within 60 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let first = child.wait_with_output().unwrap();
    assert_eq!(
        first.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let issued = rig.sim.counters().taps_per_user.values().sum::<u64>();
    assert!(
        issued > 0 && issued < 100,
        "{issued} passes before the stop"
    );
    let intact = std::fs::read_to_string(&journal).unwrap();
    assert!(intact.lines().count() > 3, "{intact}");
    let report_before = std::fs::read_to_string(&report).unwrap();

    // One changed byte in line 3: refused, nothing issued again, the report left alone.
    let mut lines: Vec<String> = intact.lines().map(str::to_string).collect();
    lines[2] = lines[2].replacen('{', "{ ", 1);
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();
    let out = run("t2.csv", true).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("damaged at line 3"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&report).unwrap(), report_before);
    assert_eq!(
        rig.sim.counters().taps_per_user.values().sum::<u64>(),
        issued
    );

    // The intact journal with a torn last line (a crash mid-write): the torn line is dropped and
    // the resume issues the rest, one pass per user.
    std::fs::write(&journal, format!("{intact}[{{\"d\":9,\"c")).unwrap();
    let out = run("t3.csv", true).output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One record per row; every pass the report calls issued went out once (users outside the
    // pass policy's targets are refused by the service, not issued).
    let text = std::fs::read_to_string(&report).unwrap();
    let records: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(records.len(), 100, "{text}");
    let issued = records.iter().filter(|r| r.contains(",ok,")).count();
    let counters = rig.sim.counters();
    assert_eq!(counters.taps_per_user.len(), issued, "{text}");
    assert!(counters.taps_per_user.values().all(|n| *n == 1));
    assert_eq!(counters.duplicate_taps, 0);
}

#[test]
fn a_journal_of_an_older_authbulk_is_refused_by_resume_with_its_version_and_exit_2() {
    let rig = Rig::start(20, Arc::new(|_, _| Tamper::Pass));
    let dir = tempfile::tempdir().unwrap();
    let job = path(dir.path(), "reset.csv");
    std::fs::write(
        &job,
        format!("user,action\n{},reset-mfa\n", authbulk::sim::upn(1)),
    )
    .unwrap();
    let report = path(dir.path(), "r.csv");
    std::fs::write(&report, "row,user\n").unwrap();
    // The header of a format 3 journal, as the authbulk of that format framed it.
    let mut journal = Vec::new();
    authbulk::testing::report::seal(&mut journal, br#"{"t":"header","version":3,"job":"0123"}"#)
        .unwrap();
    std::fs::write(dir.path().join("r.csv.journal"), journal).unwrap();
    let out = rig
        .run(&[&job, "--yes", "--resume", "--report", &report])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("has version 3, this authbulk reads version 4"),
        "{stderr}"
    );
    assert_eq!(rig.sim.counters().writes, 0, "nothing was sent");
}

#[test]
fn the_journal_of_a_reset_takes_under_250_bytes_a_write_and_the_summary_its_peak_memory() {
    let rig = Rig::start(400, Arc::new(|_, _| Tamper::Pass));
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("reset.csv");
    let mut text = String::from("user,action\n");
    for i in 0..400 {
        text.push_str(&format!("{},reset-mfa\n", authbulk::sim::upn(i)));
    }
    std::fs::write(&job, text).unwrap();
    let report = path(dir.path(), "r.csv");
    let summary = path(dir.path(), "s.json");
    let out = rig
        .run(&[
            job.to_str().unwrap(),
            "--yes",
            "--keep-journal",
            "--report",
            &report,
            "--summary-json",
            &summary,
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{stderr}");
    let writes = rig.sim.counters().writes;
    assert!(writes > 400, "{writes} writes");
    let journal = dir.path().join("r.csv.journal");
    let bytes = std::fs::metadata(&journal).unwrap().len();
    assert!(
        bytes < 250 * writes,
        "{bytes} bytes for {writes} writes: {} a write",
        bytes / writes
    );
    // What the journal holds is what the report holds: every record, whole.
    let records = Journal::records(&journal).unwrap().count();
    assert_eq!(
        records + 1,
        std::fs::read_to_string(&report).unwrap().lines().count()
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let peak = summary["peak_memory_mib"].as_f64().unwrap_or(0.0);
    assert!(peak > 1.0 && peak < 4096.0, "{summary}");
}
