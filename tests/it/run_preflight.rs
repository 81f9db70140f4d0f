//! Preflight: what the job alone shows it needs is checked before any Graph request, and a
//! problem is a usage error (exit 2) that leaves nothing behind: the token's permissions per
//! action (a dry run only warns), and `--tap-out` for actions that issue passes.

use std::path::Path;

use crate::support::binary::stderr;
use crate::support::process::SimProcess;
use authbulk::sim::upn;

fn job(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("job.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// Graph calls the simulator answered (the token endpoint aside).
fn graph_calls(sim: &SimProcess) -> (u64, u64) {
    let counters = sim.introspect("counters");
    (
        counters["reads"].as_u64().unwrap(),
        counters["writes"].as_u64().unwrap(),
    )
}

#[test]
fn a_missing_permission_stops_the_run_before_any_request_naming_it_the_action_and_the_grant() {
    let sim = SimProcess::start(&[
        "--users",
        "5",
        "--unthrottled",
        "--deny",
        "UserAuthenticationMethod.ReadWrite.All",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let job = job(
        dir.path(),
        &format!(
            "user,action,phone_type,phone_number\n\
             {},list,,\n\
             {},set-phone,mobile,+46 70 123 45 67\n",
            upn(1),
            upn(2)
        ),
    );
    let report = dir.path().join("report.csv");
    let out = sim
        .run(&[
            job.to_str().unwrap(),
            "--yes",
            "--report",
            report.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "application permission UserAuthenticationMethod.ReadWrite.All that set-phone needs"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "API permissions → Microsoft Graph → Application permissions → \
             UserAuthenticationMethod.ReadWrite.All, then grant admin consent"
        ),
        "{err}"
    );
    assert!(!report.exists(), "the report is removed again");
    assert!(!Path::new(&format!("{}.journal", report.display())).exists());
    assert_eq!(graph_calls(&sim), (0, 0), "no Graph request was sent");

    // A dry run only warns, and still previews (reads are allowed).
    let out = sim
        .run(&[job.to_str().unwrap(), "--dry-run"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: the token lacks the application permission UserAuthenticationMethod.ReadWrite.All"),
        "{err}"
    );
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(plan.contains(&upn(2)), "{plan}");
    assert_eq!(graph_calls(&sim).1, 0);
}

#[test]
fn revoke_sessions_and_group_targets_need_their_own_permissions_and_higher_ones_do() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(
        dir.path(),
        &format!("user,action\n{},revoke-sessions\n", upn(1)),
    );
    // Neither permission that allows revoking sessions.
    let sim = SimProcess::start(&[
        "--users",
        "5",
        "--unthrottled",
        "--deny",
        "User.RevokeSessions.All",
    ]);
    // The simulated app holds User.RevokeSessions.All only; without it, nothing allows it.
    let out = sim
        .run(&[
            job.to_str().unwrap(),
            "--yes",
            "--report",
            dir.path().join("r1.csv").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("User.RevokeSessions.All that revoke-sessions needs to revoke sign-in sessions (or one of User.ReadWrite.All, Directory.ReadWrite.All)"),
        "{err}"
    );
    assert_eq!(graph_calls(&sim), (0, 0));
    drop(sim);

    // --group needs GroupMember.Read.All (or a higher group permission).
    let sim = SimProcess::start(&[
        "--users",
        "5",
        "--unthrottled",
        "--deny",
        "GroupMember.Read.All",
    ]);
    let out = sim
        .run(&[
            "--group",
            "00000000-0000-0000-0000-000000000001",
            "--action",
            "list",
            "--yes",
            "--report",
            dir.path().join("r2.csv").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("GroupMember.Read.All that --group needs to list group members"),
        "{err}"
    );
    assert_eq!(graph_calls(&sim), (0, 0));
}

#[test]
fn a_job_that_issues_passes_needs_tap_out_before_anything_begins() {
    let sim = SimProcess::start(&["--users", "5", "--unthrottled"]);
    let dir = tempfile::tempdir().unwrap();
    let job = job(
        dir.path(),
        &format!("user,action\n{},list\n{},issue-tap\n", upn(1), upn(2)),
    );
    let report = dir.path().join("report.csv");
    let out = sim
        .run(&[
            job.to_str().unwrap(),
            "--yes",
            "--report",
            report.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "{}:3 issues temporary access passes, which go only to a --tap-out file",
            job.display()
        )),
        "{err}"
    );
    assert!(!report.exists());
    assert_eq!(graph_calls(&sim), (0, 0));

    // Enumerated targets: the --action names it.
    let out = sim
        .run(&["--all-users", "--action", "issue-tap", "--yes"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--action issues temporary access passes"),
        "{err}"
    );
    assert_eq!(graph_calls(&sim), (0, 0));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only the job: no report was left behind"
    );
}

#[test]
fn a_group_that_does_not_exist_or_a_filter_graph_refuses_stops_the_run_before_any_write() {
    let sim = SimProcess::start(&["--users", "5", "--unthrottled"]);
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.csv");
    let run = |targets: &[&str]| {
        let mut args = targets.to_vec();
        args.extend([
            "--action",
            "revoke-sessions",
            "--yes",
            "--report",
            report.to_str().unwrap(),
        ]);
        sim.run(&args).output().unwrap()
    };
    let ghost = "00000000-0000-0000-0000-00000000dead";
    let out = run(&["--group", ghost]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "--group {ghost}: no such group in the tenant (404 Request_ResourceNotFound"
        )),
        "{err}"
    );
    assert!(!report.exists(), "the report is removed again");
    assert_eq!(graph_calls(&sim).1, 0, "nothing was written");

    let out = run(&["--all-users", "--filter", "favouriteColour eq 'blue'"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--filter \"favouriteColour eq 'blue'\": Graph refused it (400 "),
        "{err}"
    );
    assert!(!report.exists());
    assert_eq!(graph_calls(&sim).1, 0);

    // A group that exists and a filter Graph accepts go on to the run.
    let group = sim.introspect("groups")[0]["id"]
        .as_str()
        .map(str::to_string)
        .expect("a group id");
    let out = sim
        .run(&[
            "--group",
            &group,
            "--action",
            "list",
            "--yes",
            "--report",
            dir.path().join("ok.csv").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = sim
        .run(&[
            "--all-users",
            "--filter",
            "startsWith(userPrincipalName,'user')",
            "--action",
            "list",
            "--yes",
            "--report",
            dir.path().join("ok2.csv").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
