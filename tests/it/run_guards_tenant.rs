//! Tenant-wide guards of `run` through the binary against an in-process simulator:
//! `--exclude-group ID|NAME` leaves a group's transitive members alone and `--exclude-admins`
//! the users with an admin role (from the registration report, or without Entra ID P1/P2 from
//! the directory roles), each reported `skipped` with the reason and never written; an unknown
//! group is exit 2 before any row.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};

use crate::support::binary::{against as authbulk, stderr};
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

/// The e-mail methods left in the tenant.
fn emails(sim: &SimHandle) -> usize {
    (0..120)
        .map(upn)
        .filter(|u| {
            sim.user_state(u).unwrap()["methods"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["@odata.type"] == "#microsoft.graph.emailAuthenticationMethod")
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_users_with_a_removing_action_needs_the_tenants_default_domain() {
    let sim = sim(true).await;
    let dir = tempfile::tempdir().unwrap();
    let before = emails(&sim);
    assert!(before > 0);
    let base = [
        "run",
        "--all-users",
        "--action",
        "remove-email",
        "--yes",
        "--report",
        "r.csv",
    ];
    // No terminal, --yes alone: refused before any row.
    let output = authbulk(&sim, dir.path(), &base);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--confirm-domain"),
        "{}",
        stderr(&output)
    );
    assert_eq!(emails(&sim), before);
    assert!(!dir.path().join("r.csv").exists());
    // The wrong domain: refused.
    let mut args = base.to_vec();
    args.extend(["--confirm-domain", "fabrikam.onmicrosoft.com"]);
    let output = authbulk(&sim, dir.path(), &args);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("\"fabrikam.onmicrosoft.com\" is not the tenant's default domain"),
        "{err}"
    );
    assert_eq!(emails(&sim), before);
    // A dry run writes nothing and is not asked.
    let output = authbulk(
        &sim,
        dir.path(),
        &[
            "run",
            "--all-users",
            "--action",
            "remove-email",
            "--dry-run",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // A non-removing action on every user is not asked either.
    let output = authbulk(
        &sim,
        dir.path(),
        &[
            "run",
            "--all-users",
            "--action",
            "revoke-sessions",
            "--yes",
            "--report",
            "s.csv",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // The default domain, in any case: the run goes on.
    let mut args = base.to_vec();
    args.extend(["--confirm-domain", "Contoso.onmicrosoft.com"]);
    let output = authbulk(&sim, dir.path(), &args);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(emails(&sim), 0);
}

/// Run `authbulk` on a pseudo-terminal (util-linux `script`) with `typed` as the keyboard.
fn on_terminal(sim: &SimHandle, dir: &Path, args: &[&str], typed: &str) -> Output {
    let mut line = vec![env!("CARGO_BIN_EXE_authbulk").to_string()];
    line.extend(args.iter().map(|a| a.to_string()));
    line.extend(["--graph-url".to_string(), sim.url().to_string()]);
    let mut child = Command::new("script")
        .args(["-qec", &line.join(" "), "/dev/null"])
        .current_dir(dir)
        .env("AZURE_TENANT_ID", sim.tenant_id())
        .env("AZURE_CLIENT_ID", sim.client_id())
        .env("AZURE_CLIENT_SECRET", sim.client_secret())
        .env("AZURE_AUTHORITY_HOST", sim.url())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(typed.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_the_default_domain_is_typed() {
    if Command::new("script").arg("--version").output().is_err() {
        panic!("util-linux `script` is needed to test the prompt on a pseudo-terminal");
    }
    let sim = sim(true).await;
    let dir = tempfile::tempdir().unwrap();
    let before = emails(&sim);
    let args = [
        "run",
        "--all-users",
        "--action",
        "remove-email",
        "--yes",
        "--report",
        "r.csv",
    ];
    let output = on_terminal(&sim, dir.path(), &args, "contoso.com\n");
    assert_eq!(output.status.code(), Some(2));
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        shown.contains("Type the tenant's default domain (contoso.onmicrosoft.com)")
            && shown.contains("\"contoso.com\" is not the tenant's default domain"),
        "{shown}"
    );
    assert_eq!(emails(&sim), before);

    let output = on_terminal(&sim, dir.path(), &args, "contoso.onmicrosoft.com\n");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(emails(&sim), 0);
}
