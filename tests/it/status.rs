//! `authbulk status` through the binary against an in-process simulator: one row per user in
//! Graph's property names, whose methods match the users' methods in the simulator; the
//! filters (`--without-mfa`, `--sms-only`, `--admins`, `--has`, `--lacks`) against the users'
//! methods; job-file users joined to the paged report in a handful of requests; `--group`
//! targets; the CSV taken by `run --action issue-tap`; a wrong method name and an existing
//! `--out` are exit 2; without Entra ID P1/P2 the columns are derived from each user's methods.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use crate::support::binary::{against, stderr};
use crate::support::report::rows;
use authbulk::sim::{SimConfig, SimHandle, upn};
use serde_json::Value;

/// Run `authbulk <command> <args>` against `sim` with its credentials in the environment, in `dir`.
fn authbulk(sim: &SimHandle, dir: &Path, command: &str, args: &[&str]) -> Output {
    let mut all = vec![command];
    all.extend_from_slice(args);
    against(sim, dir, &all)
}

async fn sim(users: usize, premium: bool) -> SimHandle {
    authbulk::sim::start(SimConfig {
        users,
        unthrottled: true,
        premium,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// The `@odata.type`s (without namespace and suffix) and phone types of a user's methods in
/// the simulator.
fn kinds(sim: &SimHandle, user: &str) -> Vec<String> {
    let state = sim.user_state(user).unwrap();
    state["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let kind = m["@odata.type"]
                .as_str()
                .unwrap()
                .trim_start_matches("#microsoft.graph.")
                .trim_end_matches("AuthenticationMethod")
                .to_string();
            match m["phoneType"].as_str() {
                Some(t) => format!("phone:{t}"),
                None => kind,
            }
        })
        .collect()
}

/// Whether the user holds a method that counts for MFA (anything but the password, e-mail, a
/// pass or a QR code PIN).
fn strong(kinds: &[String]) -> bool {
    kinds.iter().any(|k| {
        !matches!(
            k.as_str(),
            "password" | "email" | "temporaryAccessPass" | "qrCodePin"
        )
    })
}

fn methods(row: &BTreeMap<String, String>) -> BTreeSet<&str> {
    row["methodsRegistered"]
        .split(';')
        .filter(|m| !m.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_user_gets_one_row_matching_the_users_methods() {
    let sim = sim(150, true).await;
    let dir = tempfile::tempdir().unwrap();
    let output = authbulk(
        &sim,
        dir.path(),
        "status",
        &["--all-users", "--out", "s.csv"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let path = dir.path().join("s.csv");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let header = std::fs::read_to_string(&path).unwrap();
    assert!(header.starts_with(
        "id,userPrincipalName,userDisplayName,isAdmin,isMfaRegistered,isMfaCapable,\
         isPasswordlessCapable,isSsprRegistered,isSsprEnabled,isSsprCapable,methodsRegistered,\
         defaultMfaMethod,userPreferredMethodForSecondaryAuthentication,lastUpdatedDateTime,\
         userType\n"
    ));
    let rows = rows(&path);
    let users: BTreeSet<String> = rows
        .iter()
        .map(|r| r["userPrincipalName"].clone())
        .collect();
    assert_eq!(users, (0..150).map(upn).collect());
    let mut mfa = 0;
    for row in &rows {
        let kinds = kinds(&sim, &row["id"]);
        let state = sim.user_state(&row["id"]).unwrap();
        let ms = methods(row);
        assert_eq!(
            ms.contains("mobilePhone"),
            kinds.contains(&"phone:mobile".to_string()),
            "{row:?}"
        );
        assert_eq!(
            ms.contains("officePhone"),
            kinds.contains(&"phone:office".to_string())
        );
        assert_eq!(ms.contains("fido2"), kinds.contains(&"fido2".to_string()));
        assert_eq!(ms.contains("email"), kinds.contains(&"email".to_string()));
        assert_eq!(
            row["isMfaRegistered"],
            strong(&kinds).to_string(),
            "{row:?}"
        );
        assert_eq!(row["isAdmin"], state["isAdmin"].to_string());
        mfa += usize::from(strong(&kinds));
    }
    let err = stderr(&output);
    let share = format!("{:.1}%", mfa as f64 * 100.0 / 150.0);
    assert!(
        err.contains("150 users listed") && err.contains(&format!("{mfa} registered for MFA")),
        "{err}"
    );
    assert!(err.contains(&share) && err.contains("by method:"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_without_mfa_are_listed_and_then_given_passes_by_run() {
    let sim = sim(120, true).await;
    let dir = tempfile::tempdir().unwrap();
    let output = authbulk(
        &sim,
        dir.path(),
        "status",
        &["--all-users", "--without-mfa", "--out", "no-mfa.csv"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let listed: BTreeSet<String> = rows(&dir.path().join("no-mfa.csv"))
        .iter()
        .map(|r| r["userPrincipalName"].clone())
        .collect();
    let expected: BTreeSet<String> = (0..120)
        .map(upn)
        .filter(|u| !strong(&kinds(&sim, u)))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(listed, expected);

    let output = authbulk(
        &sim,
        dir.path(),
        "run",
        &[
            "no-mfa.csv",
            "--action",
            "issue-tap",
            "--tap-out",
            "t.csv",
            "--yes",
        ],
    );
    assert!(
        matches!(output.status.code(), Some(0) | Some(1)),
        "{}",
        stderr(&output)
    );
    // Every listed user was worked on: a pass, or refused by the pass policy.
    let report = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("authbulk-2")
        })
        .unwrap();
    let reported: BTreeSet<String> = rows(&report)
        .iter()
        .map(|r| r["user"].to_lowercase())
        .collect();
    let ids: BTreeSet<String> = expected
        .iter()
        .map(|u| {
            sim.user_state(u).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_lowercase()
        })
        .collect();
    assert!(
        reported == ids || reported == expected.iter().map(|u| u.to_lowercase()).collect(),
        "{reported:?}"
    );
    let issued: BTreeSet<String> = expected
        .iter()
        .filter(|u| {
            !sim.user_state(u).unwrap()["issuedTemporaryAccessPasses"]
                .as_array()
                .unwrap()
                .is_empty()
        })
        .cloned()
        .collect();
    assert!(!issued.is_empty());
    let taps = rows(&dir.path().join("t.csv"));
    assert_eq!(taps.len(), issued.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filters_keep_exactly_the_matching_users() {
    let sim = sim(150, true).await;
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<String> = (0..150).map(upn).collect();
    let cases: [(&[&str], &str); 4] = [
        (&["--sms-only"], "sms.csv"),
        (&["--has", "fido2", "--lacks", "email"], "fido.csv"),
        (&["--admins"], "admins.csv"),
        (&["--lacks", "mobilePhone", "--without-mfa"], "lacks.csv"),
    ];
    for (flags, out) in cases {
        let mut args = vec!["--all-users", "--out", out];
        args.extend_from_slice(flags);
        let output = authbulk(&sim, dir.path(), "status", &args);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let listed: BTreeSet<String> = rows(&dir.path().join(out))
            .iter()
            .map(|r| r["userPrincipalName"].clone())
            .collect();
        let expected: BTreeSet<String> = all
            .iter()
            .filter(|u| {
                let k = kinds(&sim, u);
                let has = |m: &str| k.iter().any(|x| x == m);
                match out {
                    "sms.csv" => {
                        let registered: Vec<&String> =
                            k.iter().filter(|x| *x != "password").collect();
                        !registered.is_empty() && registered.iter().all(|x| x.starts_with("phone:"))
                    }
                    "fido.csv" => has("fido2") && !has("email"),
                    "admins.csv" => sim.user_state(u).unwrap()["isAdmin"] == true,
                    _ => !has("phone:mobile") && !strong(&k),
                }
            })
            .cloned()
            .collect();
        assert_eq!(listed, expected, "{flags:?}");
        assert!(
            !expected.is_empty(),
            "{flags:?} lists nobody in this tenant"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_file_users_are_joined_to_the_paged_report_in_few_requests() {
    let sim = sim(2500, true).await;
    let dir = tempfile::tempdir().unwrap();
    // Every user, by UPN in upper case, one by object id.
    let mut job = String::from("user\n");
    for i in 0..2500 {
        job.push_str(&upn(i).to_uppercase());
        job.push('\n');
    }
    job.push_str(&sim.user_id(3).unwrap());
    job.push('\n');
    std::fs::write(dir.path().join("job.csv"), job).unwrap();
    sim.reset_counters();
    let output = authbulk(&sim, dir.path(), "status", &["job.csv", "--out", "s.jsonl"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = std::fs::read_to_string(dir.path().join("s.jsonl")).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2500);
    assert!(records[0]["methodsRegistered"].is_array());
    // 3 report pages of 999 (and a token), not a request per user.
    let counters = sim.counters();
    assert!(counters.http_requests <= 6, "{counters:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_and_an_unknown_user_of_a_job() {
    let sim = sim(120, true).await;
    let dir = tempfile::tempdir().unwrap();
    let groups = sim.group_ids();
    // Pilot: users 0..30.
    let output = authbulk(
        &sim,
        dir.path(),
        "status",
        &["--group", &groups[4], "--out", "g.csv"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let listed: BTreeSet<String> = rows(&dir.path().join("g.csv"))
        .iter()
        .map(|r| r["userPrincipalName"].clone())
        .collect();
    assert_eq!(listed, (0..30).map(upn).collect());

    std::fs::write(
        dir.path().join("job.csv"),
        format!("user\n{}\nnobody@contoso.onmicrosoft.com\n", upn(5)),
    )
    .unwrap();
    let output = authbulk(&sim, dir.path(), "status", &["job.csv", "--out", "j.csv"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(rows(&dir.path().join("j.csv")).len(), 1);
    assert!(
        stderr(&output).contains("1 target users are not in the registration report"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_name_or_an_existing_out_is_exit_2() {
    let sim = sim(10, true).await;
    let dir = tempfile::tempdir().unwrap();
    let output = authbulk(
        &sim,
        dir.path(),
        "status",
        &["--all-users", "--lacks", "sms", "--out", "x.csv"],
    );
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains("--lacks") && err.contains("\"sms\"") && err.contains("mobilePhone"),
        "{err}"
    );
    assert!(!dir.path().join("x.csv").exists());

    std::fs::write(dir.path().join("x.csv"), "keep").unwrap();
    let output = authbulk(
        &sim,
        dir.path(),
        "status",
        &["--all-users", "--out", "x.csv"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("x.csv")).unwrap(),
        "keep"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_p1_the_columns_are_derived_from_each_users_methods() {
    let sim = sim(60, false).await;
    let dir = tempfile::tempdir().unwrap();
    let output = authbulk(
        &sim,
        dir.path(),
        "status",
        &["--all-users", "--out", "s.csv"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("Authentication_RequestFromNonPremiumTenantOrB2CTenant")
            && err.contains("isAdmin")
            && err.contains("isSsprCapable"),
        "{err}"
    );
    let rows = rows(&dir.path().join("s.csv"));
    assert_eq!(rows.len(), 60);
    for row in &rows {
        let kinds = kinds(&sim, &row["id"]);
        assert_eq!(row["isAdmin"], "");
        assert_eq!(row["isSsprEnabled"], "");
        assert_eq!(row["isMfaRegistered"], strong(&kinds).to_string());
        let ms = methods(row);
        assert_eq!(
            ms.contains("alternateMobilePhone"),
            kinds.contains(&"phone:alternateMobile".to_string())
        );
        assert_eq!(
            ms.contains("windowsHelloForBusiness"),
            kinds.contains(&"windowsHelloForBusiness".to_string())
        );
    }
    // --admins cannot be answered without the report.
    let output = authbulk(
        &sim,
        dir.path(),
        "status",
        &["--all-users", "--admins", "--out", "a.csv"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--admins"), "{}", stderr(&output));
    assert!(!dir.path().join("a.csv").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_audit_log_read_all_the_report_is_refused() {
    let sim = authbulk::sim::start(SimConfig {
        users: 10,
        unthrottled: true,
        deny: ["AuditLog.Read.All".to_string()].into_iter().collect(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = authbulk(
        &sim,
        dir.path(),
        "status",
        &["--all-users", "--out", "s.csv"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("Authorization_RequestDenied"),
        "{}",
        stderr(&output)
    );
    assert!(!dir.path().join("s.csv").exists());
}
