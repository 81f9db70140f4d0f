//! `--group NAME` through the binary against an in-process simulator: `run`, `export` and
//! `status` take a group's display name (any case, an apostrophe in it doubled in the `$filter`)
//! when exactly one group has it; no such group, or several of that name (listed by id), is
//! exit 2 before any user is read, leaving no output file behind.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::binary::{against as authbulk, stderr};
use authbulk::sim::{SimConfig, SimHandle, upn};

async fn sim() -> SimHandle {
    authbulk::sim::start(SimConfig {
        users: 60,
        unthrottled: true,
        // Users 0..10 each; "Pilot" is also a generated group (users 0..30).
        extra_groups: vec!["O'Brien's team".to_string(), "Pilot".to_string()],
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// The values of `column` in a CSV file.
fn column(path: &Path, column: &str) -> BTreeSet<String> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let at = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == column)
        .unwrap();
    reader
        .records()
        .map(|r| r.unwrap()[at].to_lowercase())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_display_name_is_the_group_for_run_export_and_status() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let first_ten: BTreeSet<String> = (0..10).map(|i| upn(i).to_lowercase()).collect();
    let name = "o'brien's TEAM";

    let output = authbulk(
        &sim,
        dir.path(),
        &["status", "--group", name, "--out", "s.csv"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        column(&dir.path().join("s.csv"), "userPrincipalName"),
        first_ten
    );

    let output = authbulk(
        &sim,
        dir.path(),
        &["export", "--group", name, "--out", "e.csv"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(column(&dir.path().join("e.csv"), "user"), first_ten);

    let output = authbulk(
        &sim,
        dir.path(),
        &[
            "run",
            "--group",
            name,
            "--action",
            "list",
            "--dry-run",
            "--report",
            "r.csv",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(column(&dir.path().join("r.csv"), "user"), first_ten);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_group_or_several_of_the_name_is_exit_2_naming_them() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let ids = sim.group_ids();
    let pilots: Vec<&String> = ids
        .iter()
        .zip(sim.groups().as_array().unwrap())
        .filter(|(_, g)| g["displayName"] == "Pilot")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(pilots.len(), 2);
    for command in ["status", "export"] {
        let output = authbulk(
            &sim,
            dir.path(),
            &[command, "--group", "Pilot", "--out", "x.csv"],
        );
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        let err = stderr(&output);
        assert!(
            err.contains("2 groups are named \"Pilot\"")
                && pilots.iter().all(|id| err.contains(id.as_str())),
            "{err}"
        );
        assert!(!dir.path().join("x.csv").exists());

        let output = authbulk(
            &sim,
            dir.path(),
            &[command, "--group", "Nobody's group", "--out", "x.csv"],
        );
        assert_eq!(output.status.code(), Some(2));
        assert!(
            stderr(&output).contains("no group named \"Nobody's group\""),
            "{}",
            stderr(&output)
        );
        assert!(!dir.path().join("x.csv").exists());
    }
    let output = authbulk(
        &sim,
        dir.path(),
        &[
            "run",
            "--group",
            "Pilot",
            "--action",
            "list",
            "--dry-run",
            "--report",
            "r.csv",
        ],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("2 groups are named"));
    assert!(!dir.path().join("r.csv").exists());
}
