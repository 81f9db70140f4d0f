//! Tenant-wide guards of `run` through the binary against an in-process simulator:
//! `--exclude-group ID|NAME` leaves a group's transitive members alone and `--exclude-admins`
//! the users with an admin role (from the registration report, or without Entra ID P1/P2 from
//! the directory roles), each reported `skipped` with the reason and never written; an unknown
//! group is exit 2 before any row.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use authbulk::sim::{SimConfig, SimHandle, upn};

async fn sim(premium: bool) -> SimHandle {
    authbulk::sim::start(SimConfig {
        users: 120,
        unthrottled: true,
        premium,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn authbulk(sim: &SimHandle, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_authbulk"));
    for (name, _) in std::env::vars() {
        if name.starts_with("AZURE_") {
            cmd.env_remove(name);
        }
    }
    cmd.current_dir(dir)
        .args(args)
        .args(["--graph-url", sim.url()])
        .env("AZURE_TENANT_ID", sim.tenant_id())
        .env("AZURE_CLIENT_ID", sim.client_id())
        .env("AZURE_CLIENT_SECRET", sim.client_secret())
        .env("AZURE_AUTHORITY_HOST", sim.url())
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Each user's report records' (status, error message).
fn report(path: &Path) -> BTreeMap<String, Vec<(String, String)>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let at = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (user, status, message) = (at("user"), at("status"), at("error_message"));
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for record in reader.records() {
        let r = record.unwrap();
        out.entry(r[user].to_lowercase())
            .or_default()
            .push((r[status].to_string(), r[message].to_string()));
    }
    out
}

fn revoked(sim: &SimHandle, user: &str) -> bool {
    sim.user_state(user).unwrap()["sessionsRevoked"] != 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_are_skipped_with_the_reason_and_never_written() {
    let sim = sim(true).await;
    let dir = tempfile::tempdir().unwrap();
    let groups = sim.group_ids();
    // Pilot (users 0..30) by name, Guests (i % 50 == 7) by id.
    let output = authbulk(
        &sim,
        dir.path(),
        &[
            "run",
            "--all-users",
            "--action",
            "revoke-sessions",
            "--exclude-group",
            "pilot",
            "--exclude-group",
            &groups[3],
            "--yes",
            "--report",
            "r.csv",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = report(&dir.path().join("r.csv"));
    assert_eq!(report.len(), 120);
    for i in 0..120 {
        let user = upn(i);
        let records = &report[&user.to_lowercase()];
        if i < 30 {
            assert_eq!(
                records,
                &[(
                    "skipped".to_string(),
                    "excluded: member of group pilot".to_string()
                )],
                "{user}"
            );
            assert!(!revoked(&sim, &user), "{user}");
        } else if i % 50 == 7 {
            assert_eq!(records[0].0, "skipped");
            assert_eq!(
                records[0].1,
                format!("excluded: member of group {}", groups[3])
            );
            assert!(!revoked(&sim, &user), "{user}");
        } else {
            assert!(
                records.iter().all(|(s, _)| s == "ok"),
                "{user}: {records:?}"
            );
            assert!(revoked(&sim, &user), "{user}");
        }
    }
}

async fn admins_are_skipped(premium: bool) {
    let sim = sim(premium).await;
    let dir = tempfile::tempdir().unwrap();
    let admins: BTreeSet<String> = (0..120)
        .map(upn)
        .filter(|u| sim.user_state(u).unwrap()["isAdmin"] == true)
        .map(|u| u.to_lowercase())
        .collect();
    assert!(!admins.is_empty());
    let output = authbulk(
        &sim,
        dir.path(),
        &[
            "run",
            "--all-users",
            "--action",
            "revoke-sessions",
            "--exclude-admins",
            "--yes",
            "--report",
            "r.csv",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = report(&dir.path().join("r.csv"));
    let skipped: BTreeSet<String> = report
        .iter()
        .filter(|(_, records)| {
            records
                .iter()
                .any(|(s, m)| s == "skipped" && m == "excluded: admin (--exclude-admins)")
        })
        .map(|(u, _)| u.clone())
        .collect();
    assert_eq!(skipped, admins);
    for admin in &admins {
        assert!(!revoked(&sim, admin), "{admin}");
    }
    assert_eq!(
        (0..120).map(upn).filter(|u| revoked(&sim, u)).count(),
        120 - admins.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_from_the_registration_report_are_skipped() {
    admins_are_skipped(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_p1_the_admins_come_from_the_directory_roles() {
    admins_are_skipped(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_exclude_group_is_exit_2_before_any_row() {
    let sim = sim(true).await;
    let dir = tempfile::tempdir().unwrap();
    let output = authbulk(
        &sim,
        dir.path(),
        &[
            "run",
            "--all-users",
            "--action",
            "revoke-sessions",
            "--exclude-group",
            "No such team",
            "--yes",
            "--report",
            "r.csv",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--exclude-group \"No such team\": no group named"),
        "{}",
        stderr(&output)
    );
    assert!((0..120).map(upn).all(|u| !revoked(&sim, &u)));
    assert!(!dir.path().join("r.csv").exists());
}
