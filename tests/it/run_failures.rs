//! The end of a run names what failed: the failures grouped by error code (most first, a hint
//! for the common codes, an example user and its request id) on stderr and in
//! `--summary-json`, and `--failed-out FILE`, the failed rows as a job file that runs again.

use std::os::unix::fs::PermissionsExt;

use crate::support::binary::stderr;
use crate::support::process::SimProcess;
use crate::support::report::csv_records;
use authbulk::sim::upn;
use serde_json::Value;

/// Revoking sessions is refused although the token claims the permission (consent withdrawn
/// after the token was issued): a failure no preflight can foresee.
const NO_REVOKE: [&str; 4] = [
    "--refuse",
    "User.RevokeSessions.All",
    "--refuse",
    "User.ReadWrite.All",
];

fn ghost(i: usize) -> String {
    format!("ghost{i}@contoso.onmicrosoft.com")
}

#[test]
fn failures_are_grouped_by_code_and_the_failed_rows_run_again_from_failed_out() {
    let sim = SimProcess::start(&[&["--users", "10", "--unthrottled"][..], &NO_REVOKE].concat());
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.csv");
    // Extra columns hold what a spreadsheet would run as a formula: the failed-out file keeps
    // them as they are, since it is a job, not a report.
    std::fs::write(
        &job,
        format!(
            "User;Action;Ticket;Note\n\
             {};revoke-sessions;T-1;=1+1\n\
             {};list;T-2;fine\n\
             {};revoke-sessions;T-3;\"a; b\"\n\
             {};revoke-sessions;T-4;+SUM(A1)\n\
             \n\
             {};revoke-sessions;T-5;\n\
             {};revoke-sessions;T-6;x\n",
            upn(1),
            upn(2),
            ghost(1),
            upn(3),
            ghost(2),
            ghost(3)
        ),
    )
    .unwrap();
    let report = dir.path().join("report.csv");
    let summary = dir.path().join("summary.json");
    let failed = dir.path().join("failed.csv");
    let out = sim
        .run(&[
            job.to_str().unwrap(),
            "--yes",
            "--report",
            report.to_str().unwrap(),
            "--summary-json",
            summary.to_str().unwrap(),
            "--failed-out",
            failed.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");

    // On stderr, after the summary: most first, with hints and an example.
    let listing = err
        .split("failures by error code:")
        .nth(1)
        .unwrap_or_else(|| panic!("no failures listing: {err}"));
    assert!(err.find("summary:").unwrap() < err.find("failures by error code:").unwrap());
    let not_found = listing.find("Request_ResourceNotFound x3").expect(&err);
    let denied = listing.find("Authorization_RequestDenied x2").expect(&err);
    assert!(not_found < denied, "{err}");
    assert!(listing.contains("was not found: check the UPN"), "{err}");
    assert!(listing.contains("lacks a permission"), "{err}");
    assert!(listing.contains("e.g. ghost"), "{err}");
    assert!(listing.contains("request id "), "{err}");

    // In --summary-json, the same groups.
    let json: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    let groups = json["failures"].as_array().expect("a failures array");
    assert_eq!(groups.len(), 2, "{json}");
    assert_eq!(groups[0]["code"], "Request_ResourceNotFound");
    assert_eq!(groups[0]["count"], 3);
    let example = groups[0]["example_user"].as_str().unwrap();
    assert!((1..=3).any(|i| example == ghost(i)), "{json}");
    assert!(groups[0]["hint"].is_string());
    assert_eq!(groups[1]["code"], "Authorization_RequestDenied");
    assert_eq!(groups[1]["count"], 2);
    let example = groups[1]["example_user"].as_str().unwrap();
    assert!(example == upn(1) || example == upn(3), "{json}");
    // The example's request id is the one the report gives for that user's failed step.
    let (_, rows) = csv_records(&report);
    let reported = rows
        .iter()
        .find(|r| r[1] == example && r[5] == "failed")
        .expect("the example's failed record");
    assert_eq!(groups[1]["example_request_id"], reported[11].as_str());

    // The failed rows, with the job's own header and cells (no formula guard), once each.
    let text = std::fs::read_to_string(&failed).unwrap();
    assert_eq!(
        text,
        format!(
            "User,Action,Ticket,Note\n\
             {},revoke-sessions,T-1,=1+1\n\
             {},revoke-sessions,T-3,a; b\n\
             {},revoke-sessions,T-4,+SUM(A1)\n\
             {},revoke-sessions,T-5,\n\
             {},revoke-sessions,T-6,x\n",
            upn(1),
            ghost(1),
            upn(3),
            ghost(2),
            ghost(3)
        )
    );
    let mode = std::fs::metadata(&failed).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        err.contains(&format!("failed rows: {}", failed.display())),
        "{err}"
    );
    drop(sim);

    // Once the permission is granted, the failed-out file runs as a job: the revokes go
    // through, the missing users fail again, and its own failed-out holds only them.
    let granted = SimProcess::start(&["--users", "10", "--unthrottled"]);
    let again = dir.path().join("failed-again.csv");
    let out = granted
        .run(&[
            failed.to_str().unwrap(),
            "--yes",
            "--report",
            dir.path().join("report2.csv").to_str().unwrap(),
            "--failed-out",
            again.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let (_, rows) = csv_records(&dir.path().join("report2.csv"));
    for (user, ticket) in [(upn(1), "T-1"), (upn(3), "T-4")] {
        let row = rows.iter().find(|r| r[1] == user).expect(&err);
        assert_eq!(row[5], "ok", "{row:?}");
        assert_eq!(row[14], ticket, "{row:?}");
    }
    let text = std::fs::read_to_string(&again).unwrap();
    assert_eq!(
        text,
        format!(
            "User,Action,Ticket,Note\n\
             {},revoke-sessions,T-3,a; b\n\
             {},revoke-sessions,T-5,\n\
             {},revoke-sessions,T-6,x\n",
            ghost(1),
            ghost(2),
            ghost(3)
        )
    );
}

#[test]
fn failed_enumerated_users_are_written_with_upn_and_id_and_run_again() {
    let sim = SimProcess::start(&[&["--users", "3", "--unthrottled"][..], &NO_REVOKE].concat());
    let dir = tempfile::tempdir().unwrap();
    let failed = dir.path().join("failed.csv");
    let out = sim
        .run(&[
            "--all-users",
            "--action",
            "revoke-sessions",
            "--yes",
            "--report",
            dir.path().join("report.csv").to_str().unwrap(),
            "--failed-out",
            failed.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Authorization_RequestDenied x3"), "{err}");
    let (_, rows) = csv_records(&dir.path().join("report.csv"));
    let mut expected: Vec<String> = rows
        .iter()
        .filter(|r| r[5] == "failed")
        .map(|r| format!("{},{},revoke-sessions", r[1], r[2]))
        .collect();
    assert_eq!(expected.len(), 3, "{rows:?}");
    expected.sort();
    let text = std::fs::read_to_string(&failed).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.remove(0), "userPrincipalName,id,action");
    lines.sort();
    assert_eq!(lines, expected);
    drop(sim);

    let granted = SimProcess::start(&["--users", "3", "--unthrottled"]);
    let report = dir.path().join("report2.csv");
    let out = granted
        .run(&[
            failed.to_str().unwrap(),
            "--yes",
            "--report",
            report.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (_, rows) = csv_records(&report);
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r[5] == "ok"), "{rows:?}");
}

#[test]
fn failed_out_is_refused_before_anything_begins_when_it_exists_or_the_job_is_not_csv() {
    let sim = SimProcess::start(&["--users", "3", "--unthrottled"]);
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.csv");
    std::fs::write(&job, format!("user,action\n{},revoke-sessions\n", upn(1))).unwrap();
    let existing = dir.path().join("existing.csv");
    std::fs::write(&existing, "keep me").unwrap();
    let link = dir.path().join("link.csv");
    std::os::unix::fs::symlink(dir.path().join("elsewhere.csv"), &link).unwrap();
    let report = dir.path().join("report.csv");
    for target in [&existing, &link] {
        let out = sim
            .run(&[
                job.to_str().unwrap(),
                "--yes",
                "--report",
                report.to_str().unwrap(),
                "--failed-out",
                target.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("--failed-out"), "{err}");
        assert!(!report.exists());
    }
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
    assert!(!dir.path().join("elsewhere.csv").exists());

    let json_job = dir.path().join("job.jsonl");
    std::fs::write(
        &json_job,
        format!(
            "{{\"user\":\"{}\",\"action\":\"revoke-sessions\"}}\n",
            upn(1)
        ),
    )
    .unwrap();
    let out = sim
        .run(&[
            json_job.to_str().unwrap(),
            "--yes",
            "--report",
            report.to_str().unwrap(),
            "--failed-out",
            dir.path().join("f.csv").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--failed-out writes CSV jobs"), "{err}");
    assert!(!report.exists());
    assert_eq!(sim.introspect("counters")["writes"], 0, "no write was sent");
}
