//! `--resume` after a crash: the binary is killed (SIGKILL) at seeded-random points of a
//! 5,000-user mixed job against a simulator in its own process, resumed each time, and finally
//! run to the end. The report must then hold exactly one final record per step, the tenant must
//! be in the desired state, no write may have been applied twice and no pass issued twice.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::process::SimProcess;
use crate::support::report::{jsonl_records, size};
use authbulk::sim::upn;
use authbulk::testing::report::Entry;
use authbulk::testing::report::Journal;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

const USERS: usize = 5000;

/// The mixed job: one row per user (actions by index), plus a second row for every tenth user
/// (rows of one user run in file order). Returns the job's text and its number of rows.
fn mixed_job() -> (String, usize) {
    let mut job = String::from(
        "user,action,phone_type,phone_number,email,method_type,lifetime_minutes,issue_tap,ticket\n",
    );
    let mut rows = 0;
    for i in 0..USERS {
        let user = upn(i);
        let ticket = format!("T-{i}");
        let row = match i % 9 {
            0 => format!("{user},set-phone,mobile,+46 70 {i:07},,,,,{ticket}"),
            1 => format!("{user},remove-authenticator,,,,,,,{ticket}"),
            2 => format!("{user},set-email,,,resumed{i}@example.org,,,,{ticket}"),
            3 => format!("{user},issue-tap,,,,,60,,{ticket}"),
            4 => format!("{user},reset-mfa,,,,,60,true,{ticket}"),
            5 => format!("{user},reset-mfa,,,,,,,{ticket}"),
            6 => format!("{user},remove-method,,,,fido2,,,{ticket}"),
            7 => format!(
                "{user},set-phone,office,+1 425 555 {:04},,,,,{ticket}",
                i % 10000
            ),
            _ => format!("{user},list,,,,,,,{ticket}"),
        };
        job.push_str(&row);
        job.push('\n');
        rows += 1;
        if i % 10 == 0 && matches!(i % 9, 0 | 1 | 6 | 7 | 8) {
            job.push_str(&format!(
                "{user},set-email,,,second{i}@example.org,,,,{ticket}b\n"
            ));
            rows += 1;
        }
    }
    (job, rows)
}

#[test]
fn killed_runs_resume_to_one_record_per_step_no_double_write_and_no_double_pass() {
    let began = Instant::now();
    let sim = SimProcess::start(&["--users", "5000", "--unthrottled"]);
    let dir = tempfile::tempdir().unwrap();
    let (job_text, rows) = mixed_job();
    let job = dir.path().join("job.csv");
    std::fs::write(&job, job_text).unwrap();
    let report = dir.path().join("report.jsonl");
    let journal = dir.path().join("report.jsonl.journal");
    let run = |attempt: usize| {
        let tap_out = dir.path().join(format!("taps-{attempt}.csv"));
        let mut args = vec![
            job.to_str().unwrap().to_string(),
            "--yes".into(),
            "--report".into(),
            report.to_str().unwrap().to_string(),
            "--tap-out".into(),
            tap_out.to_str().unwrap().to_string(),
            "--budget".into(),
            "adaptive".into(),
            "--concurrency".into(),
            "32".into(),
        ];
        if attempt > 0 {
            args.push("--resume".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sim.run(&args)
    };

    let mut rng = ChaCha8Rng::seed_from_u64(20261126);
    let mut attempt = 0;
    let mut kills = 0;
    let mut ended_by_itself = None;
    while kills < 4 {
        let mut child = run(attempt)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill once the journal has grown by a random amount (polled: the kill point is what is
        // random, the poll only watches for it).
        let from = size(&journal);
        let grow = rng.random_range(200_000..900_000u64);
        let exited = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if size(&journal) >= from + grow {
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        attempt += 1;
        match exited {
            // A fast machine finished the job before this kill point: that run is the last
            // (its journal is gone: nothing is left to resume).
            Some(status) => {
                ended_by_itself = Some(status);
                break;
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
    assert!(kills >= 2, "only {kills} kills: grow the job");
    let journal_size = size(&journal);
    let (finished, stderr) = match ended_by_itself {
        Some(status) => (status, String::new()),
        None => {
            let out = run(attempt).output().unwrap();
            (
                out.status,
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    // A run that got through every row leaves no journal behind.
    assert!(!journal.exists(), "{stderr}");

    // Exactly one final record per step, and every row has one.
    let records = jsonl_records(&report);
    let mut seen: HashSet<(u64, String)> = HashSet::new();
    let mut rows_reported: HashSet<u64> = HashSet::new();
    let mut failed_rows: HashSet<u64> = HashSet::new();
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    for record in &records {
        let row = record["row"].as_u64().unwrap();
        let step = record["step"].as_str().unwrap().to_string();
        if !seen.insert((row, step.clone())) {
            let seq = row - 1;
            let lines: Vec<String> = Journal::entries(&journal)
                .unwrap_or_default()
                .into_iter()
                .filter(|e| match e {
                    Entry::Start { seq: s, .. }
                    | Entry::Done { seq: s, .. }
                    | Entry::Row { seq: s }
                    | Entry::User { seq: s, .. } => *s == seq,
                    _ => false,
                })
                .map(|e| format!("{e:?}"))
                .collect();
            panic!(
                "row {row} step {step} reported twice; journal:\n{}",
                lines.join("\n")
            );
        }
        rows_reported.insert(row);
        // Failures are the tenant's answers (a user outside the pass policy): data, not a
        // crash's trace; nothing may be left cancelled.
        let status = record["status"].as_str().unwrap();
        assert!(
            matches!(status, "ok" | "unchanged" | "failed" | "skipped"),
            "{record}"
        );
        if matches!(status, "failed" | "skipped") {
            failed_rows.insert(row);
            *failures
                .entry(format!("{status} {}", record["error_code"]))
                .or_default() += 1;
        }
    }
    assert_eq!(rows_reported.len(), rows, "every row has a record");
    // The exit code covers the whole report, the records kept from the killed runs included.
    let expected = if failed_rows.is_empty() { 0 } else { 1 };
    assert_eq!(finished.code(), Some(expected), "{stderr}");

    // No write applied twice: each user's successful writes in the simulator are the writes
    // the report says were done for them.
    let counters = sim.introspect("counters");
    let mut reported_writes: BTreeMap<String, u64> = BTreeMap::new();
    let mut reported_taps: BTreeMap<String, u64> = BTreeMap::new();
    for record in &records {
        let action = record["action"].as_str().unwrap();
        let status = record["status"].as_str().unwrap();
        let lost_tap = record["error_code"].as_str() == Some("tapValueLost");
        if action == "list" || !(status == "ok" || lost_tap) {
            continue;
        }
        let user = record["user"].as_str().unwrap().to_lowercase();
        *reported_writes.entry(user.clone()).or_default() += 1;
        if record["step"] == "issue temporaryAccessPass" {
            *reported_taps.entry(user).or_default() += 1;
        }
    }
    let per_user = |key: &str| -> BTreeMap<String, u64> {
        counters[key]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.as_u64().unwrap()))
            .collect()
    };
    for (key, reported) in [
        ("writes_per_user", &reported_writes),
        ("taps_per_user", &reported_taps),
    ] {
        let applied = per_user(key);
        let users: HashSet<&String> = applied.keys().chain(reported.keys()).collect();
        let differ: Vec<String> = users
            .into_iter()
            .filter(|u| applied.get(*u) != reported.get(*u))
            .map(|u| {
                let theirs: Vec<&Value> = records
                    .iter()
                    .filter(|r| r["user"].as_str().unwrap().eq_ignore_ascii_case(u))
                    .collect();
                format!(
                    "{u}: applied {:?}, reported {:?}: {theirs:?}",
                    applied.get(u),
                    reported.get(u)
                )
            })
            .collect();
        assert!(differ.is_empty(), "{key} differ:\n{}", differ.join("\n"));
    }
    assert_eq!(counters["duplicate_taps"], 0);

    // Every pass reached exactly one --tap-out file, except passes whose value was lost.
    let mut passes: HashMap<String, u64> = HashMap::new();
    for n in 0..=attempt {
        let path = dir.path().join(format!("taps-{n}.csv"));
        if !Path::new(&path).exists() {
            continue;
        }
        let mut reader = csv::Reader::from_path(&path).unwrap();
        for row in reader.records() {
            *passes.entry(row.unwrap()[0].to_lowercase()).or_default() += 1;
        }
    }
    let lost = records
        .iter()
        .filter(|r| r["error_code"].as_str() == Some("tapValueLost"))
        .count() as u64;
    assert!(passes.values().all(|n| *n == 1), "a pass in two files");
    assert_eq!(
        passes.len() as u64 + lost,
        reported_taps.values().sum::<u64>()
    );

    // The tenant is in the desired state: a dry run of the same job plans nothing but the
    // passes of the issue-tap rows (not desired state: one per run).
    let dry_report = dir.path().join("dry.jsonl");
    let dry = sim
        .run(&[
            job.to_str().unwrap(),
            "--dry-run",
            "--report",
            dry_report.to_str().unwrap(),
            "--tap-out",
            dir.path().join("dry-taps.csv").to_str().unwrap(),
            "--budget",
            "adaptive",
            "--concurrency",
            "32",
        ])
        .output()
        .unwrap();
    assert!(dry.status.code() == Some(0) || !failed_rows.is_empty());
    for record in jsonl_records(&dry_report) {
        if failed_rows.contains(&record["row"].as_u64().unwrap()) {
            continue;
        }
        let status = record["status"].as_str().unwrap();
        let planned_tap =
            record["action"] == "issue-tap" && record["step"] == "issue temporaryAccessPass";
        assert!(
            status == "unchanged" || (status == "ok" && record["action"] == "list") || planned_tap,
            "not in the desired state: {record}"
        );
    }
    eprintln!(
        "{kills} kills at journal sizes up to {journal_size}, {} records ({} rows failed: \
         {failures:?}), {:?}",
        records.len(),
        failed_rows.len(),
        began.elapsed()
    );
    let _: Value = counters;
}

/// A `reset-mfa` row with a pass, stopped twice: the first run was killed after a delete reached
/// the tenant but before its record reached the journal, the second (re-planned without that
/// delete) did the other delete and issued the pass, and was killed before the pass's record.
/// The third run finds the pass (never issued again) and must still report the first delete:
/// every write the tenant saw has exactly one record. The two kills are made exact by cutting
/// the journal of a finished run back to what the killed runs would have left.
#[test]
fn a_resume_that_finds_the_pass_issued_still_reports_a_delete_an_earlier_run_sent() {
    let sim = SimProcess::start(&["--users", "300", "--unthrottled"]);
    let dir = tempfile::tempdir().unwrap();
    // user00166 has two phones (mobile the default) and is a pass policy target: two deletes,
    // then the pass.
    let user = upn(166);
    let job = dir.path().join("job.csv");
    std::fs::write(
        &job,
        format!("user,action,lifetime_minutes,issue_tap\n{user},reset-mfa,60,true\n"),
    )
    .unwrap();
    let report = dir.path().join("report.jsonl");
    let journal = dir.path().join("report.jsonl.journal");
    let run = |taps: &str, resume: bool| {
        let mut args = vec![
            job.to_str().unwrap().to_string(),
            "--yes".into(),
            "--report".into(),
            report.to_str().unwrap().to_string(),
            "--tap-out".into(),
            dir.path().join(taps).to_str().unwrap().to_string(),
        ];
        // The finished first run keeps its journal: the test cuts it back to a killed run's.
        args.push(if resume { "--resume" } else { "--keep-journal" }.into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        sim.run(&args).output().unwrap()
    };
    let first = run("taps-0.csv", false);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let steps: Vec<String> = jsonl_records(&report)
        .iter()
        .map(|r| r["step"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(steps.len(), 3, "two deletes and the pass: {steps:?}");
    assert_eq!(steps[2], "issue temporaryAccessPass");

    // What the two killed runs leave: the first delete started but without its record, the
    // second delete done, the pass started but without its record, the row not done.
    let entries = Journal::entries(&journal).unwrap();
    let mut dones = 0;
    let kept: Vec<Entry> = entries
        .iter()
        .filter(|entry| match entry {
            Entry::Row { .. } => false,
            Entry::Done { .. } => {
                dones += 1;
                dones == 2
            }
            _ => true,
        })
        .cloned()
        .collect();
    assert_eq!(dones, 3, "{entries:?}");
    Journal::write_entries(&journal, &kept).unwrap();

    let resumed = run("taps-1.csv", true);
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert_eq!(resumed.status.code(), Some(0), "{stderr}");
    let records = jsonl_records(&report);
    let reported: Vec<&str> = records
        .iter()
        .map(|r| r["step"].as_str().unwrap())
        .collect();
    let mut sorted = reported.clone();
    sorted.sort_unstable();
    let mut expected: Vec<&str> = steps.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(sorted, expected, "one record per step: {records:?}");
    assert!(records.iter().all(|r| r["status"] == "ok"), "{records:?}");
    let first_delete = records.iter().find(|r| r["step"] == steps[0].as_str());
    assert!(
        first_delete.is_some_and(|r| r["after"]
            .as_str()
            .is_some_and(|a| a.contains("done before the interruption"))),
        "{records:?}"
    );
    // The tenant saw three writes and one pass, as the report says.
    let counters = sim.introspect("counters");
    assert_eq!(counters["writes_per_user"][&user], 3, "{counters}");
    assert_eq!(counters["taps_per_user"][&user], 1, "{counters}");
    assert_eq!(counters["duplicate_taps"], 0);
}

/// A `reset-mfa` row with a pass for a user who already holds a usable pass: the killed run
/// deleted the other method, journaled the start of the old pass's delete and was killed before
/// sending it. The resumed run re-reads the user (the password and that usable pass: the reset's
/// end state, so nothing is planned) and must not report the pass deleted: the tenant still
/// holds it. The killed run is made exact by cutting the journal of a finished run (against a
/// twin simulator, which then did all of it) back to the start of the pass's delete, and doing
/// the other delete on the simulator the resume runs against.
#[test]
fn a_resume_does_not_report_done_a_delete_the_killed_run_never_sent() {
    let done = SimProcess::start(&["--users", "1000", "--unthrottled"]);
    let twin = SimProcess::start(&["--users", "1000", "--unthrottled"]);
    let dir = tempfile::tempdir().unwrap();
    // user00994 has Windows Hello for Business and a usable pass (the generator's).
    let user = upn(994);
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let job = write(
        "job.csv",
        format!("user,action,lifetime_minutes,issue_tap\n{user},reset-mfa,60,true\n"),
    );
    let report = dir.path().join("report.jsonl");
    let journal = dir.path().join("report.jsonl.journal");
    let report_arg = report.to_str().unwrap().to_string();
    let taps = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let first = done
        .run(&[
            &job,
            "--yes",
            "--report",
            &report_arg,
            "--tap-out",
            &taps("taps-0.csv"),
            "--keep-journal",
        ])
        .output()
        .unwrap();
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let steps: Vec<String> = jsonl_records(&report)
        .iter()
        .map(|r| r["step"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        steps.len(),
        3,
        "the Windows Hello delete, the old pass's delete, the new pass: {steps:?}"
    );
    assert!(
        steps[0].starts_with("delete windowsHelloForBusiness"),
        "{steps:?}"
    );
    assert!(
        steps[1].starts_with("delete temporaryAccessPass"),
        "{steps:?}"
    );

    // What the killed run leaves: the first delete done, the second started, nothing after.
    let entries = Journal::entries(&journal).unwrap();
    let cut = entries
        .iter()
        .position(|e| {
            matches!(e, Entry::Start { step, .. }
                if serde_json::to_string(step).unwrap().contains("temporaryAccessPass"))
        })
        .expect("the start of the pass's delete");
    Journal::write_entries(&journal, &entries[..=cut]).unwrap();
    // The twin tenant as the killed run left it: Windows Hello gone, the old pass kept.
    let other = write(
        "whfb.csv",
        format!("user,action,method_type\n{user},remove-method,windowsHelloForBusiness\n"),
    );
    let removed = twin
        .run(&[&other, "--yes", "--report", &taps("whfb.jsonl")])
        .output()
        .unwrap();
    assert_eq!(
        removed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );

    let resumed = twin
        .run(&[
            &job,
            "--yes",
            "--report",
            &report_arg,
            "--tap-out",
            &taps("taps-1.csv"),
            "--resume",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert_eq!(resumed.status.code(), Some(0), "{stderr}");
    let records = jsonl_records(&report);
    assert_eq!(records.len(), 2, "one record per step: {records:?}");
    let pass_delete = records
        .iter()
        .find(|r| r["step"] == steps[1].as_str())
        .expect("the pass delete's record");
    assert_eq!(pass_delete["status"], "unchanged", "{pass_delete}");
    // The tenant still holds the old pass, and saw one write (the Windows Hello delete).
    let state = twin.introspect(&format!("users/{user}"));
    assert!(
        state["methods"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["@odata.type"] == "#microsoft.graph.temporaryAccessPassAuthenticationMethod"),
        "{state}"
    );
    assert_eq!(state["writes"], 1, "{state}");
}
