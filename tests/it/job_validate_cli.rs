//! `authbulk validate` as a user runs it: the samples pass, a bad file prints one located
//! problem per line and a summary, and exits 2.

use assert_cmd::Command;
use predicates::prelude::*;

#[test]
fn the_shipped_samples_are_valid() {
    let samples: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(samples.len() >= 6);
    Command::cargo_bin("authbulk")
        .unwrap()
        .arg("validate")
        .args(&samples)
        .assert()
        .success()
        .stdout(predicate::str::contains("all valid"));
}

#[test]
fn a_bad_file_prints_each_problem_with_line_and_column_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.csv");
    std::fs::write(
        &path,
        "user;action;phone_number\r\nann@contoso.com;set-phone;4.67012E+10\r\n\r\nbob@contoso.com;reset-mfa;\r\n",
    )
    .unwrap();
    let out = Command::cargo_bin("authbulk")
        .unwrap()
        .current_dir(dir.path())
        .args(["validate", "jobs.csv"])
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "jobs.csv:2: phone_number \"4.67012E+10\": a spreadsheet turned this number into \
         scientific notation (hint: format the column as text and export again)"
    );
    assert_eq!(
        lines[1],
        "jobs.csv: NOT valid: 2 rows, 1 valid, 1 invalid, 1 problems"
    );
}

#[test]
fn stdin_needs_format_and_reads_with_it() {
    Command::cargo_bin("authbulk")
        .unwrap()
        .args(["validate", "-"])
        .write_stdin("{\"user\":\"ann@contoso.com\",\"action\":\"list\"}\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("needs --format"));
    Command::cargo_bin("authbulk")
        .unwrap()
        .args(["validate", "-", "--format", "jsonl"])
        .write_stdin("{\"user\":\"ann@contoso.com\",\"action\":\"list\"}\n")
        .assert()
        .success()
        .stdout(predicate::str::contains("<stdin>: valid: 1 rows"));
}

#[test]
fn a_bad_default_flag_is_a_usage_error() {
    Command::cargo_bin("authbulk")
        .unwrap()
        .args(["validate", "x.csv", "--older-than", "90"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--older-than \"90\": a duration needs a unit",
        ));
}
