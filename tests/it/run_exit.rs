//! Exit codes of `authbulk run` as DESIGN.md fixes them (0 all rows fine, 1 a row failed,
//! 2 a problem before work began, 130 interrupted), and Ctrl-C: the first SIGINT drains, the
//! report is flushed, and `--resume` then completes the job cleanly.

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

use crate::support::binary::interrupt;
use crate::support::process::SimProcess;
use crate::support::report::{csv_records, size};
use authbulk::sim::upn;
use authbulk::testing::report::Entry;
use authbulk::testing::report::Journal;

fn write_job(dir: &std::path::Path, rows: &[String]) -> std::path::PathBuf {
    let path = dir.join("job.csv");
    let mut text = String::from("user,action,phone_type,phone_number,email\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn exit_codes_are_0_for_success_1_for_a_failed_row_and_2_before_work() {
    let sim = SimProcess::start(&["--users", "40", "--unthrottled"]);
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let good = write_job(
        dir.path(),
        &[format!("{},set-email,,,exit0@example.org", upn(1))],
    );
    let good = good.to_str().unwrap().to_string();
    let code = |args: &[&str]| sim.run(args).output().unwrap().status.code();

    assert_eq!(
        code(&[&good, "--yes", "--report", &path("ok.csv")]),
        Some(0)
    );

    let unknown = dir.path().join("unknown.csv");
    std::fs::write(
        &unknown,
        "user,action,email\nnobody@contoso.onmicrosoft.com,set-email,x@example.org\n",
    )
    .unwrap();
    let failed = sim
        .run(&[
            unknown.to_str().unwrap(),
            "--yes",
            "--report",
            &path("failed.csv"),
        ])
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    let (_, rows) = csv_records(&dir.path().join("failed.csv"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][5], "failed");

    // A report in a folder that does not exist: refused before any request.
    let before = sim.introspect("counters");
    assert_eq!(
        code(&[
            &good,
            "--yes",
            "--report",
            "/nonexistent-authbulk-dir/r.csv"
        ]),
        Some(2)
    );
    let after = sim.introspect("counters");
    assert_eq!(before["http_requests"], after["http_requests"]);

    // A job file with a bad row.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!("user,action,phone_number\n{},set-phone,4.67E+10\n", upn(2)),
    )
    .unwrap();
    assert_eq!(
        code(&[bad.to_str().unwrap(), "--yes", "--report", &path("bad.csv")]),
        Some(2)
    );

    // A wrong client secret: the first token is refused, nothing is written.
    let wrong = sim
        .run_with_secret(&[&good, "--yes", "--report", &path("secret.csv")], "wrong")
        .output()
        .unwrap();
    assert_eq!(
        wrong.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    let last = sim.introspect("counters");
    assert_eq!(last["writes"], after["writes"]);
}

#[test]
fn ctrl_c_exits_130_with_a_flushed_report_and_resume_completes_the_rest_once() {
    // Latency keeps the run going long enough to be interrupted part-way.
    let sim = SimProcess::start(&["--users", "1500", "--unthrottled", "--latency", "5..15"]);
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<String> = (0..1500)
        .flat_map(|i| {
            [
                format!("{},set-phone,mobile,+46 70 {i:07},", upn(i)),
                format!("{},set-email,,,sigint{i}@example.org", upn(i)),
            ]
        })
        .collect();
    let job = write_job(dir.path(), &rows);
    let report = dir.path().join("report.csv");
    let journal = dir.path().join("report.csv.journal");
    let args = |resume: bool| {
        let mut args = vec![
            job.to_str().unwrap().to_string(),
            "--yes".into(),
            "--report".into(),
            report.to_str().unwrap().to_string(),
            "--budget".into(),
            "adaptive".into(),
        ];
        if resume {
            args.push("--resume".into());
        }
        args
    };
    let first = args(false);
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    let mut child = sim
        .run(&first)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once a share of the job is journaled (polled; the poll only watches).
    while size(&journal) < 150_000 {
        assert!(child.try_wait().unwrap().is_none(), "ended before Ctrl-C");
        std::thread::sleep(Duration::from_millis(5));
    }
    interrupt(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The report on disk holds every record reported, the cancelled ones included.
    let (_, interrupted) = csv_records(&report);
    let journaled = Journal::entries(&journal)
        .unwrap()
        .iter()
        .filter(|e| matches!(e, Entry::Done { .. }))
        .count();
    let cancelled = interrupted.iter().filter(|r| r[5] == "cancelled").count();
    assert_eq!(interrupted.len(), journaled + cancelled);
    // Rows queued behind a user's running row never started: reported cancelled.
    assert!(
        cancelled > 0 && journaled < rows.len(),
        "interrupted part-way: {journaled} done, {cancelled} cancelled"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("summary:"), "{stderr}");

    // A resume with another job is refused, and leaves the report as it was.
    let other = dir.path().join("other.csv");
    let text = std::fs::read_to_string(&job).unwrap();
    std::fs::write(&other, text.replace("sigint0@", "changed0@")).unwrap();
    let before = std::fs::read(&report).unwrap();
    let refused = sim
        .run(&[
            other.to_str().unwrap(),
            "--yes",
            "--report",
            report.to_str().unwrap(),
            "--budget",
            "adaptive",
            "--resume",
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("job files differ"));
    assert_eq!(std::fs::read(&report).unwrap(), before);

    let second = args(true);
    let second: Vec<&str> = second.iter().map(String::as_str).collect();
    let resumed = sim.run(&second).output().unwrap();
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let (_, records) = csv_records(&report);
    let mut seen = HashSet::new();
    for record in &records {
        assert!(
            matches!(record[5].as_str(), "ok" | "unchanged"),
            "{record:?}"
        );
        assert!(
            seen.insert((record[0].clone(), record[4].clone())),
            "reported twice: {record:?}"
        );
    }
    let rows_reported: HashSet<&String> = records.iter().map(|r| &r[0]).collect();
    assert_eq!(rows_reported.len(), rows.len());
    // Each change was written once: one write per row.
    let counters = sim.introspect("counters");
    let ok = records.iter().filter(|r| r[5] == "ok").count() as u64;
    assert_eq!(counters["writes"].as_u64().unwrap(), ok);

    // Every row done: the journal is gone, and a further --resume says there is nothing left.
    assert!(!journal.exists());
    let again = sim.run(&second).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("nothing to resume"), "{stderr}");
}
