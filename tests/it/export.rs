//! `authbulk export` through the binary against an in-process simulator: the inventory holds
//! one row per method the simulator's `user_state` shows (ids, types, names, dates, the
//! default), for job-file users (a guest `#EXT#` UPN and an apostrophe UPN among them), for
//! `--group` and `--all-users --filter` targets; an unknown user becomes an `error` row with
//! Graph's code and request id and exit 1; an existing `--out` file is refused (exit 2), and a
//! refused credential leaves no file behind.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;

use crate::support::binary::{against_with_secret, authbulk, stderr};
use crate::support::report::rows;
use authbulk::sim::{SimConfig, SimHandle, upn};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Run `authbulk export` against `sim` with its credentials in the environment (and no other
/// AZURE_* variable), in `dir`.
fn export(sim: &SimHandle, dir: &Path, args: &[&str], secret: Option<&str>) -> Output {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    against_with_secret(sim, dir, &all, secret.unwrap_or(sim.client_secret()))
}

async fn sim(users: usize) -> SimHandle {
    authbulk::sim::start(SimConfig {
        users,
        unthrottled: true,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn short_type(odata_type: &str) -> String {
    odata_type
        .trim_start_matches("#microsoft.graph.")
        .trim_end_matches("AuthenticationMethod")
        .to_string()
}

fn seconds(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|d| d.with_timezone(&Utc))
        .map(|d| d - chrono::Duration::nanoseconds(d.timestamp_subsec_nanos().into()))
}

/// True when `method` answers the default prompt `default` (Graph's preference values).
fn backs(default: &str, method: &Value) -> bool {
    let phone = method["phoneType"].as_str().unwrap_or("");
    match (
        short_type(method["@odata.type"].as_str().unwrap()).as_str(),
        default,
    ) {
        ("microsoftAuthenticator", "push") => true,
        ("softwareOath" | "hardwareOath", "oath") => true,
        ("phone", "sms" | "voiceMobile") => phone == "mobile",
        ("phone", "voiceAlternateMobile") => phone == "alternateMobile",
        ("phone", "voiceOffice") => phone == "office",
        _ => false,
    }
}

/// Every row of `user` in `rows` is one of the simulator's methods of that user, and every
/// method has its row, with the right type, name, dates and default flag. Returns the types seen.
fn assert_matches_simulator(
    sim: &SimHandle,
    user: &str,
    rows: &[BTreeMap<String, String>],
    csv: bool,
) -> BTreeSet<String> {
    let state = sim.user_state(user).unwrap();
    let mine: Vec<_> = rows.iter().filter(|r| r["user"] == user).collect();
    let methods = state["methods"].as_array().unwrap();
    assert_eq!(mine.len(), methods.len(), "{user}: {mine:?}");
    let default = state["signInPreferences"]["userPreferredMethodForSecondaryAuthentication"]
        .as_str()
        .unwrap_or("");
    let mut types = BTreeSet::new();
    for method in methods {
        let id = method["id"].as_str().unwrap();
        let row = mine
            .iter()
            .find(|r| r["method_id"] == id)
            .unwrap_or_else(|| panic!("{user}: no row for method {method}"));
        let kind = short_type(method["@odata.type"].as_str().unwrap());
        assert_eq!(row["user_id"], state["id"].as_str().unwrap());
        assert_eq!(row["method_type"], kind, "{method}");
        let name = match kind.as_str() {
            "phone" => method["phoneNumber"].as_str().unwrap(),
            "email" => method["emailAddress"].as_str().unwrap(),
            "password" | "temporaryAccessPass" => "",
            _ => method["displayName"].as_str().unwrap_or(""),
        };
        let shown = match csv && name.starts_with('+') {
            // Neutralised for spreadsheet programs: a leading + would start a formula.
            true => format!("'{name}"),
            false => name.to_string(),
        };
        assert_eq!(row["display_name"], shown, "{method}");
        assert_eq!(
            seconds(&row["created"]),
            method["createdDateTime"].as_str().and_then(seconds),
            "{method}"
        );
        assert_eq!(
            seconds(&row["last_used"]),
            method["lastUsedDateTime"].as_str().and_then(seconds),
            "{method}"
        );
        assert_eq!(
            row["is_default"],
            backs(default, method).to_string(),
            "{method} default {default}"
        );
        if kind == "phone" {
            assert!(row["detail"].contains(&format!(
                "phoneType={}",
                method["phoneType"].as_str().unwrap()
            )));
        }
        types.insert(kind);
    }
    types
}

fn users_in(rows: &[BTreeMap<String, String>]) -> BTreeSet<String> {
    rows.iter().map(|r| r["user"].clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_file_users_get_one_row_per_method_the_simulator_holds() {
    let sim = sim(60).await;
    let dir = tempfile::tempdir().unwrap();
    let users = [upn(1), upn(5), upn(7), upn(2), upn(3), upn(4)];
    assert!(users[1].contains('\'') && users[2].contains("#EXT#"));
    // Any action, or none: only the user column matters.
    let job = format!(
        "UserPrincipalName,action,phone_number,ticket\n{},list,,T-1\n{},set-phone,+46 70 123 45 67,T-2\n{},,,T-3\n{}\n{}\n{}\n",
        users[0], users[1], users[2], users[3], users[4], users[5]
    );
    std::fs::write(dir.path().join("job.csv"), job).unwrap();
    let output = export(
        &sim,
        dir.path(),
        &["job.csv", "--out", "inventory.csv"],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = rows(&dir.path().join("inventory.csv"));
    assert_eq!(users_in(&rows), users.iter().cloned().collect());
    let mut types = BTreeSet::new();
    for user in &users {
        types.extend(assert_matches_simulator(&sim, user, &rows, true));
    }
    for kind in ["password", "phone", "microsoftAuthenticator"] {
        assert!(types.contains(kind), "no {kind} among {types:?}");
    }
    let summary = stderr(&output);
    assert!(
        summary.contains(&format!("export: 6 users, {} methods", rows.len())),
        "{summary}"
    );
    // Read-only: nothing was written to the tenant.
    assert_eq!(sim.counters().writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_user_becomes_an_error_row_with_graphs_code_and_exit_1() {
    let sim = sim(20).await;
    let dir = tempfile::tempdir().unwrap();
    let ghost = "nobody@contoso.onmicrosoft.com";
    std::fs::write(
        dir.path().join("job.jsonl"),
        format!("{{\"user\":\"{ghost}\"}}\n{{\"user\":\"{}\"}}\n", upn(1)),
    )
    .unwrap();
    let output = export(
        &sim,
        dir.path(),
        &["job.jsonl", "--out", "inventory.jsonl"],
        None,
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let rows = rows(&dir.path().join("inventory.jsonl"));
    let errors: Vec<_> = rows
        .iter()
        .filter(|r| r["method_type"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{rows:?}");
    assert_eq!(errors[0]["user"], ghost);
    assert_eq!(errors[0]["http_status"], "404");
    assert_eq!(errors[0]["error_code"], "Request_ResourceNotFound");
    assert!(!errors[0]["request_id"].is_empty());
    assert!(!errors[0]["error_message"].is_empty());
    // The other user is still there, whole.
    assert_matches_simulator(&sim, &upn(1), &rows, false);
    assert!(stderr(&output).contains("1 failed"), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_list_each_transitive_member_once() {
    let sim = sim(120).await;
    let dir = tempfile::tempdir().unwrap();
    // Guests (i % 50 == 7) and Pilot (i < 30): user 7 is in both.
    let groups = sim.group_ids();
    let output = export(
        &sim,
        dir.path(),
        &[
            "--group", &groups[3], "--group", &groups[4], "--out", "g.csv",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = rows(&dir.path().join("g.csv"));
    let expected: BTreeSet<String> = (0..120)
        .filter(|i| i % 50 == 7 || *i < 30)
        .map(upn)
        .collect();
    assert_eq!(users_in(&rows), expected);
    // Each user listed once: exactly one password row per user.
    let passwords = rows
        .iter()
        .filter(|r| r["method_type"] == "password")
        .count();
    assert_eq!(passwords, expected.len());
    for user in [upn(7), upn(57), upn(0)] {
        assert_matches_simulator(&sim, &user, &rows, true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_users_with_a_filter_lists_only_the_matching_users() {
    let sim = sim(120).await;
    let dir = tempfile::tempdir().unwrap();
    let output = export(
        &sim,
        dir.path(),
        &[
            "--all-users",
            "--filter",
            "startswith(userPrincipalName,'guest')",
            "--out",
            "guests.jsonl",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = rows(&dir.path().join("guests.jsonl"));
    let expected: BTreeSet<String> = [7, 57, 107].into_iter().map(upn).collect();
    assert_eq!(users_in(&rows), expected);
    for user in &expected {
        assert_matches_simulator(&sim, user, &rows, false);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_out_file_is_refused_and_kept() {
    let sim = sim(10).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("before.csv"), "last week's inventory").unwrap();
    let output = export(
        &sim,
        dir.path(),
        &["--all-users", "--out", "before.csv"],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("already exists"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("before.csv")).unwrap(),
        "last week's inventory"
    );
    assert_eq!(sim.counters().http_requests, 0, "nothing was read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_credential_exits_2_and_leaves_no_file() {
    let sim = sim(10).await;
    let dir = tempfile::tempdir().unwrap();
    let output = export(
        &sim,
        dir.path(),
        &["--all-users", "--out", "inv.csv"],
        Some("not-the-secret"),
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(!dir.path().join("inv.csv").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_named_on_several_rows_or_by_object_id_is_listed_once() {
    let sim = sim(10).await;
    let dir = tempfile::tempdir().unwrap();
    let id = sim.user_id(1).unwrap().to_string();
    let job = format!(
        "user\n{}\n{}\n{id}\n{}\n",
        upn(1),
        upn(1).to_uppercase(),
        upn(2)
    );
    std::fs::write(dir.path().join("job.csv"), job).unwrap();
    let output = export(&sim, dir.path(), &["job.csv", "--out", "inv.csv"], None);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = rows(&dir.path().join("inv.csv"));
    assert_eq!(users_in(&rows), [upn(1), upn(2)].into_iter().collect());
    assert_matches_simulator(&sim, &upn(1), &rows, true);
    assert!(
        stderr(&output).contains("export: 2 users"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_job_rows_stop_the_export_unless_skip_invalid_makes_them_error_rows() {
    let sim = sim(10).await;
    let dir = tempfile::tempdir().unwrap();
    let job = format!("user,action\n{},list\n{},frobnicate\n", upn(1), upn(2));
    std::fs::write(dir.path().join("job.csv"), job).unwrap();
    let refused = export(&sim, dir.path(), &["job.csv", "--out", "a.csv"], None);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("job.csv:3: action"),
        "{}",
        stderr(&refused)
    );
    assert!(!dir.path().join("a.csv").exists());
    assert_eq!(sim.counters().http_requests, 0, "nothing was read");

    let output = export(
        &sim,
        dir.path(),
        &["job.csv", "--skip-invalid", "--out", "b.csv"],
        None,
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let rows = rows(&dir.path().join("b.csv"));
    assert_matches_simulator(&sim, &upn(1), &rows, true);
    let errors: Vec<_> = rows
        .iter()
        .filter(|r| r["method_type"] == "error")
        .collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["error_code"], "invalidRow");
    assert!(
        errors[0]["error_message"].contains("job row 2"),
        "{errors:?}"
    );
}

#[test]
fn simulate_exports_the_built_in_tenant_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let output = authbulk()
        .current_dir(dir.path())
        .args(["export", "--simulate", "--sim-users", "12", "--all-users"])
        .args([
            "--action",
            "set-phone",
            "--out",
            "-",
            "--out-format",
            "jsonl",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    let users: BTreeSet<String> = text
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["user"].to_string())
        .collect();
    // Every user of the tenant, and nothing else on stdout (the summary is on stderr); the
    // --action of a run is ignored for targets, which are only read.
    assert_eq!(users.len(), 12);
    assert!(stderr(&output).contains("export: 12 users"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_reads_are_retried_by_the_executor_and_every_user_is_listed() {
    // A tenant budget far below what the client is allowed to send: the simulator answers
    // 429s with Retry-After, and the executor retries them as it does for `run`.
    let sim = authbulk::sim::start(SimConfig {
        users: 8,
        ru_per_10s: Some(20.0),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = export(
        &sim,
        dir.path(),
        &["--all-users", "--budget", "adaptive", "--out", "inv.jsonl"],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let throttled: u64 = sim.counters().throttled.values().sum();
    assert!(throttled > 0, "the simulator never throttled");
    let rows = rows(&dir.path().join("inv.jsonl"));
    assert_eq!(users_in(&rows), (0..8).map(upn).collect());
    assert!(rows.iter().all(|r| r["method_type"] != "error"));
    for i in [0, 5, 7] {
        assert_matches_simulator(&sim, &upn(i), &rows, false);
    }
}
