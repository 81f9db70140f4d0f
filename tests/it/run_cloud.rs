//! Actions the chosen cloud's Graph does not offer (`--cloud`, with `--simulate`, through the
//! binary): SMS sign-in is refused in China (21Vianet), the QR code PIN and hardware OATH
//! methods everywhere but the global cloud. A refused row is reported `failed` / `notInCloud`
//! with a reason naming the cloud, and no request is sent for it; a dry run shows the refusal.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::binary::{authbulk, text};
use authbulk::sim::upn;
use serde_json::Value;

/// A job of `rows` (action, method_type) for users 1, 2, ...
fn job(dir: &Path, rows: &[(&str, &str)]) -> PathBuf {
    let mut text = String::from("user,action,method_type\n");
    for (i, (action, method_type)) in rows.iter().enumerate() {
        text.push_str(&format!("{},{action},{method_type}\n", upn(i + 1)));
    }
    let path = dir.join("job.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// `run JOB --simulate --cloud CLOUD --yes`, report and summary in `dir`.
fn run(dir: &Path, job: &Path, cloud: &str, extra: &[&str]) -> (Output, Vec<Value>, Value) {
    let report = dir.join(format!("{cloud}.jsonl"));
    let summary = dir.join(format!("{cloud}.json"));
    let out = authbulk()
        .arg("run")
        .arg(job)
        .args(["--simulate", "--cloud", cloud, "--yes", "--report"])
        .arg(&report)
        .arg("--summary-json")
        .arg(&summary)
        .args(extra)
        .output()
        .unwrap();
    let records = std::fs::read_to_string(&report)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = std::fs::read_to_string(&summary)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    (out, records, summary)
}

/// The records of row `row`.
fn of_row(records: &[Value], row: u64) -> Vec<&Value> {
    records.iter().filter(|r| r["row"] == row).collect()
}

fn refused(record: &Value, cloud_words: &str) {
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["error_code"], "notInCloud", "{record}");
    let why = record["error_message"].as_str().unwrap();
    assert!(why.contains(cloud_words), "{why}");
    assert!(record["request_id"].is_null(), "{record}");
    assert_eq!(record["attempts"], 0, "{record}");
}

const ROWS: [(&str, &str); 5] = [
    ("enable-sms-signin", ""),
    ("disable-sms-signin", ""),
    ("remove-method", "qrCodePin"),
    ("remove-method", "hardwareOath"),
    ("remove-email", ""),
];

#[test]
fn china_refuses_sms_sign_in_qr_code_pin_and_hardware_oath_rows_and_runs_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path(), &ROWS);
    let (out, records, _) = run(dir.path(), &job, "china", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    for row in 1..=4 {
        let records = of_row(&records, row);
        assert_eq!(records.len(), 1, "{records:?}");
        refused(records[0], "China (operated by 21Vianet)");
    }
    let sms = of_row(&records, 1)[0]["error_message"].as_str().unwrap();
    assert!(sms.contains("SMS sign-in"), "{sms}");
    let email = of_row(&records, 5);
    assert!(!email.is_empty());
    assert!(
        email.iter().all(|r| r["error_code"] != "notInCloud"),
        "{email:?}"
    );
}

#[test]
fn no_request_is_sent_for_a_refused_row() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path(), &ROWS[..2]);
    let (out, records, summary) = run(dir.path(), &job, "china", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(records.len(), 2);
    let json = summary.to_string();
    // The run reads the TAP and SMS configurations of the methods policy once (SMS sign-in is
    // a policy-governed action); nothing is read or written for the refused rows.
    assert_eq!(summary["traffic"]["reads"], 2, "{json}");
    assert_eq!(summary["traffic"]["writes"], 0, "{json}");
}

#[test]
fn us_government_offers_sms_sign_in_but_not_qr_code_pin_or_hardware_oath() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path(), &ROWS);
    let (_, records, _) = run(dir.path(), &job, "usgov", &[]);
    for row in [1, 2, 5] {
        let records = of_row(&records, row);
        assert!(!records.is_empty(), "row {row}");
        assert!(
            records.iter().all(|r| r["error_code"] != "notInCloud"),
            "{records:?}"
        );
    }
    for row in [3, 4] {
        refused(of_row(&records, row)[0], "US Government L4");
    }
    // The global cloud offers all of them.
    let (_, global, _) = run(dir.path(), &job, "global", &[]);
    assert!(
        global.iter().all(|r| r["error_code"] != "notInCloud"),
        "{global:?}"
    );
}

#[test]
fn a_dry_run_shows_the_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path(), &ROWS[..1]);
    let out = authbulk()
        .arg("run")
        .arg(&job)
        .args(["--simulate", "--cloud", "china", "--dry-run"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let shown = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        shown.contains("enable smsSignIn: Microsoft Graph does not offer SMS sign-in"),
        "{shown}"
    );
    assert!(shown.contains("21Vianet"), "{shown}");
    assert!(shown.contains("1 failed"), "{shown}");
    assert!(shown.contains("2 reads, 0 writes"), "{shown}");
}
