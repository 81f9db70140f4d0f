//! Passes people can hand out (`--tap-out` with `--tap-columns`, with `--simulate`, through the
//! binary): the pass file carries each pass's start, lifetime and expiry and the job columns
//! the admin names, matched without regard to case and in the order given; a cell that would be
//! a formula in a spreadsheet is marked as text; a column the job does not have is exit 2
//! before anything begins, naming the flag and listing the job's columns.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::binary::{authbulk, text};
use authbulk::sim::upn;
use chrono::{DateTime, Duration, Utc};

/// Users 1 to 3 get a pass; each row has a manager and a site (one a formula).
fn job(dir: &Path) -> PathBuf {
    let mut text = String::from("user,action,Manager,Site,lifetime_minutes\n");
    let sites = ["Oslo", "=HYPERLINK(\"x\")", "Bergen"];
    for (i, site) in sites.iter().enumerate() {
        let site = site.replace('"', "\"\"");
        text.push_str(&format!(
            "{},issue-tap,boss{i}@contoso.com,\"{site}\",120\n",
            upn(i + 1)
        ));
    }
    let path = dir.join("job.csv");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(dir: &Path, job: &Path, columns: &str, taps: &Path) -> Output {
    authbulk()
        .arg("run")
        .arg(job)
        .args(["--simulate", "--yes", "--tap-columns", columns, "--tap-out"])
        .arg(taps)
        .arg("--report")
        .arg(dir.join("report.jsonl"))
        .output()
        .unwrap()
}

#[test]
fn the_pass_file_carries_start_expiry_and_the_named_job_columns() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path());
    let taps = dir.path().join("taps.csv");
    let out = run(dir.path(), &job, "site,MANAGER", &taps);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut reader = csv::Reader::from_path(&taps).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "user", "user_id", "pass", "start", "lifetime", "expires", "Site", "Manager"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    for row in &rows {
        let i: usize = (1..=3).find(|i| row[0] == upn(*i)).expect("a job user");
        assert_eq!(&row[7], format!("boss{}@contoso.com", i - 1));
        assert_eq!(&row[4], "120");
        let start: DateTime<Utc> = row[3].parse().expect("start is a timestamp");
        let expires: DateTime<Utc> = row[5].parse().expect("expires is a timestamp");
        assert_eq!(expires - start, Duration::minutes(120), "{row:?}");
        let site = &row[6];
        match i {
            2 => assert_eq!(site, "'=HYPERLINK(\"x\")", "a formula is marked as text"),
            1 => assert_eq!(site, "Oslo"),
            _ => assert_eq!(site, "Bergen"),
        }
    }
    // The columns never reach the report beside a pass.
    let report = std::fs::read_to_string(dir.path().join("report.jsonl")).unwrap();
    for row in &rows {
        let pass = row[2].trim_start_matches('\'');
        assert!(!report.contains(pass), "a pass leaked into the report");
    }
}

#[test]
fn a_column_the_job_lacks_is_refused_before_anything_begins() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path());
    let taps = dir.path().join("taps.csv");
    let out = run(dir.path(), &job, "manager,cost_centre", &taps);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--tap-columns cost_centre"), "{stderr}");
    assert!(
        stderr.contains("Manager") && stderr.contains("Site"),
        "{stderr}"
    );
    assert!(!taps.exists(), "no pass file for a refused run");
    assert!(!dir.path().join("report.jsonl").exists());
}

#[test]
fn tap_columns_needs_a_pass_file() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path());
    let out = authbulk()
        .arg("run")
        .arg(&job)
        .args(["--simulate", "--dry-run", "--tap-columns", "manager"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--tap-out"),
        "{}",
        text(&out.stderr)
    );
}
