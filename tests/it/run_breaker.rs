//! The circuit breaker: `--max-denied N` identical refusals (HTTP 403, same code) in a row stop
//! the run, with no further write, exit 2 and a message naming the permission the refused calls
//! need; the rows not done are left for `--resume`, which finishes them once it is granted.

use std::collections::BTreeMap;

use crate::support::process::SimProcess;
use crate::support::report::csv_records;

const USERS: usize = 200;

#[test]
fn identical_refusals_in_a_row_stop_the_run_and_resume_finishes_it_once_granted() {
    // The token claims User.RevokeSessions.All, but the directory refuses every revoke: no
    // preflight can see it.
    let sim = SimProcess::start(&[
        "--users",
        &USERS.to_string(),
        "--unthrottled",
        "--refuse",
        "User.RevokeSessions.All",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.csv");
    let args = [
        "--all-users",
        "--action",
        "revoke-sessions",
        "--yes",
        "--max-denied",
        "5",
        "--concurrency",
        "1",
        "--report",
        report.to_str().unwrap(),
    ];
    let out = sim.run(&args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "the run stopped after 5 refusals in a row (HTTP 403 Authorization_RequestDenied"
        ),
        "{err}"
    );
    assert!(
        err.contains("needs User.RevokeSessions.All (or one of User.ReadWrite.All"),
        "{err}"
    );
    assert!(
        err.contains("Application permissions → User.RevokeSessions.All, then grant admin consent"),
        "{err}"
    );
    let (_, rows) = csv_records(&report);
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    for row in &rows {
        *statuses.entry(row[5].clone()).or_default() += 1;
    }
    let failed = statuses.get("failed").copied().unwrap_or(0);
    eprintln!("after the breaker: {statuses:?}");
    assert!(failed >= 5, "{statuses:?}");
    assert!(
        failed < USERS,
        "the breaker stopped the writes: {statuses:?}"
    );
    assert_eq!(statuses.get("ok"), None, "{statuses:?}");
    assert!(
        statuses.get("cancelled").is_some_and(|n| *n > 0),
        "writes not sent are cancelled: {statuses:?}"
    );
    let journal = dir.path().join("report.csv.journal");
    assert!(journal.exists(), "the run can be resumed");
    drop(sim);

    // Granted: --resume runs the rows not done (the failed ones stay failed).
    let granted = SimProcess::start(&["--users", &USERS.to_string(), "--unthrottled"]);
    let mut resume = args.to_vec();
    resume.push("--resume");
    let out = granted.run(&resume).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    let (_, rows) = csv_records(&report);
    let mut by_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in &rows {
        by_user
            .entry(row[1].clone())
            .or_default()
            .push(row[5].clone());
    }
    assert_eq!(by_user.len(), USERS, "every user is in the report");
    let ok = by_user.values().filter(|s| s == &&["ok"]).count();
    let still_failed = by_user.values().filter(|s| s == &&["failed"]).count();
    assert_eq!(still_failed, failed, "{by_user:?}");
    assert_eq!(ok + failed, USERS, "{by_user:?}");
}
