//! The report as a user opens it: a CSV report read the way a spreadsheet program reads it
//! (formula cells neutralised, phone numbers readable, the job's extra columns echoed), the
//! JSON Lines form, the default report name, and `--summary-json`.

use crate::support::process::SimProcess;
use crate::support::report::{csv_records, jsonl_records};
use authbulk::sim::upn;

/// A job whose extra columns hold what a spreadsheet would run as formulas.
fn job(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("job.csv");
    let text = format!(
        "user,action,phone_type,phone_number,ticket,note\n\
         {},set-phone,mobile,+46 70 123 45 67,=HYPERLINK(\"http://x\"),+SUM(A1)\n\
         {},set-phone,office,+1 425 555 0100,-2+3,@cmd\n\
         {},list,,,\"=1+1\",plain note\n",
        upn(1),
        upn(2),
        upn(3)
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_csv_report_opens_with_formula_cells_neutralised_phones_readable_and_extra_columns() {
    let sim = SimProcess::start(&["--users", "10", "--unthrottled"]);
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path());
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
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (headers, rows) = csv_records(&report);
    assert_eq!(
        headers,
        [
            "row",
            "user",
            "user_id",
            "action",
            "step",
            "status",
            "before",
            "after",
            "http_status",
            "error_code",
            "error_message",
            "request_id",
            "attempts",
            "elapsed_ms",
            "ticket",
            "note"
        ]
    );
    let phone = rows.iter().find(|r| r[0] == "1").unwrap();
    assert_eq!(phone[1], upn(1));
    assert_eq!(phone[3], "set-phone");
    assert!(matches!(phone[5].as_str(), "ok" | "unchanged"), "{phone:?}");
    // The number reads as a number, behind the quote that spreadsheets hide.
    assert_eq!(phone[7], "'+46 701234567");
    assert_eq!(phone[14], "'=HYPERLINK(\"http://x\")");
    assert_eq!(phone[15], "'+SUM(A1)");
    let office = rows.iter().find(|r| r[0] == "2").unwrap();
    assert_eq!(office[7], "'+1 4255550100");
    assert_eq!(office[14], "'-2+3");
    assert_eq!(office[15], "'@cmd");
    let listed: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == "3").collect();
    assert!(!listed.is_empty());
    for row in listed {
        assert_eq!(row[14], "'=1+1");
        assert_eq!(row[15], "plain note");
    }
    // No cell of the file starts a formula.
    for row in &rows {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?} in {row:?}"
            );
        }
    }
}

#[test]
fn a_jsonl_report_keeps_values_unquoted_and_the_summary_json_counts_the_run() {
    let sim = SimProcess::start(&["--users", "10", "--unthrottled"]);
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path());
    let report = dir.path().join("report.jsonl");
    let summary = dir.path().join("summary.json");
    let out = sim
        .run(&[
            job.to_str().unwrap(),
            "--yes",
            "--report",
            report.to_str().unwrap(),
            "--summary-json",
            summary.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let records = jsonl_records(&report);
    let phone = records.iter().find(|r| r["row"] == 1).unwrap();
    assert_eq!(phone["after"], "+46 701234567");
    assert_eq!(phone["ticket"], "=HYPERLINK(\"http://x\")");
    assert_eq!(phone["http_status"], serde_json::Value::Null);

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let counted: u64 = summary["by_status"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(counted, records.len() as u64);
    assert!(summary["by_action"]["set-phone"].is_object());
    assert!(summary["traffic"]["reads"].as_u64().unwrap() > 0);
    assert!(summary["duration_s"].as_f64().unwrap() > 0.0);
    assert_eq!(summary["report"], report.to_str().unwrap());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("summary: "), "{stderr}");
    assert!(stderr.contains("writes/s"), "{stderr}");
}

#[test]
fn without_report_a_run_writes_a_timestamped_csv_in_the_current_folder_and_says_so() {
    let sim = SimProcess::start(&["--users", "10", "--unthrottled"]);
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path());
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let out = sim
        .run(&[job.to_str().unwrap(), "--yes"])
        .current_dir(&work)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // The report alone: the journal of a run that finished every row is removed.
    let names: Vec<String> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let name = &names[0];
    assert!(
        name.starts_with("authbulk-") && name.ends_with("Z.csv"),
        "{name}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("report: {name}")), "{stderr}");
}

#[test]
fn a_dry_run_writes_no_report_unless_given_one() {
    let sim = SimProcess::start(&["--users", "10", "--unthrottled"]);
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path());
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let out = sim
        .run(&[job.to_str().unwrap(), "--dry-run"])
        .current_dir(&work)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let names: Vec<_> = std::fs::read_dir(&work).unwrap().collect();
    assert!(names.is_empty(), "{names:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Plan: "), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("report:"), "{stderr}");

    // Asked for, it is written.
    let out = sim
        .run(&[job.to_str().unwrap(), "--dry-run", "--report", "plan.csv"])
        .current_dir(&work)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let (_, rows) = csv_records(&work.join("plan.csv"));
    assert!(rows.iter().any(|r| r[5] == "planned"), "{rows:?}");
}
