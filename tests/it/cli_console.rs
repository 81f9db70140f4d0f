//! The command line as an admin's hands meet it (issue 14, "The command line"): `-y`, `-` for
//! stdout, raw CSV on a pipe, a quiet end on a closed pipe, completions and man pages, help with
//! actions, examples and exit codes, the plan grouped by user in job order and coloured on
//! request, and no routine log lines by default. Each test runs the binary against the
//! simulated tenant (`--simulate`, in the binary's own process, on 127.0.0.1).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::binary::{authbulk, text};
use authbulk::sim::upn;

fn ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A job with formula-like extra cells and a user named on two rows apart.
fn job(dir: &Path) -> PathBuf {
    let path = dir.join("job.csv");
    let text = format!(
        "user,action,phone_type,phone_number,ticket\n\
         {a},set-phone,office,+46 8 123 456 71,=1+1\n\
         {b},set-phone,office,+46 8 123 456 72,+SUM(A1)\n\
         {a},set-phone,alternateMobile,+46 70 123 45 79,-x\n",
        a = upn(1),
        b = upn(2),
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn dash_y_is_yes() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path());
    let report = dir.path().join("r.csv");
    let out = authbulk()
        .args(["run", job.to_str().unwrap(), "--simulate", "-y", "--report"])
        .arg(&report)
        .output()
        .unwrap();
    ok(&out);
    let stderr = text(&out.stderr);
    assert!(stderr.contains("summary: ok 3"), "{stderr}");
}

#[test]
fn report_dash_is_raw_csv_on_stdout_and_the_plan_goes_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path());
    let out = authbulk()
        .args(["run", job.to_str().unwrap(), "--simulate", "--dry-run"])
        .args(["--report", "-"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    ok(&out);
    let stdout = text(&out.stdout);
    let mut reader = csv::Reader::from_reader(stdout.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "row");
    assert_eq!(&headers[14], "ticket");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let first = rows.iter().find(|r| &r[0] == "1").unwrap();
    // A pipe feeds a program, not a spreadsheet: cells as they are.
    assert_eq!(&first[7], "+46 812345671");
    assert_eq!(&first[14], "=1+1");
    assert!(rows.iter().any(|r| &r[14] == "+SUM(A1)"), "{stdout}");
    // Only the report on stdout: the plan and the summary are on stderr; no file named `-`.
    assert!(!stdout.contains("Plan:"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("Plan: 2 users to change"), "{stderr}");
    assert!(stderr.contains("+ create phone office"), "{stderr}");
    assert!(!dir.path().join("-").exists());
}

#[test]
fn a_report_on_stdout_redirected_to_a_file_stays_safe_for_spreadsheets() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path());
    let file = dir.path().join("redirected.csv");
    let out = authbulk()
        .args(["run", job.to_str().unwrap(), "--simulate", "--dry-run"])
        .args(["--report", "-"])
        .stdout(std::fs::File::create(&file).unwrap())
        .output()
        .unwrap();
    ok(&out);
    let mut reader = csv::Reader::from_path(&file).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let first = rows.iter().find(|r| &r[0] == "1").unwrap();
    assert_eq!(&first[7], "'+46 812345671");
    assert_eq!(&first[14], "'=1+1");
}

#[test]
fn summary_json_dash_is_json_on_stdout_and_both_dashes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path());
    let out = authbulk()
        .args(["run", job.to_str().unwrap(), "--simulate", "-y"])
        .args(["--report", "r.csv", "--summary-json", "-"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    ok(&out);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    assert_eq!(summary["by_status"]["ok"], 3);
    assert!(!dir.path().join("-").exists());

    let out = authbulk()
        .args(["run", job.to_str().unwrap(), "--simulate", "--dry-run"])
        .args(["--report", "-", "--summary-json", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("would mix on stdout"));
}

/// Read the first line of the child's stdout, close the pipe, and return how it ended.
fn close_after_first_line(mut command: Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(!first.is_empty());
    drop(stdout);
    child.wait_with_output().unwrap()
}

#[test]
fn export_to_a_closed_pipe_ends_quietly() {
    // 3,000 users' methods are far more than a pipe holds, so the export writes after `head`
    // has gone.
    let mut command = authbulk();
    command.args([
        "export",
        "--all-users",
        "--simulate",
        "--sim-users",
        "3000",
        "--out",
        "-",
    ]);
    let out = close_after_first_line(command);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn a_dry_run_plan_to_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("big.csv");
    let mut text_job = String::from("user,action,phone_type,phone_number\n");
    for i in 0..3000 {
        text_job.push_str(&format!("{},set-phone,office,+46 8 {i:07}\n", upn(i)));
    }
    std::fs::write(&job, text_job).unwrap();
    let mut command = authbulk();
    command.args([
        "run",
        job.to_str().unwrap(),
        "--simulate",
        "--sim-users",
        "3000",
        "--dry-run",
    ]);
    let out = close_after_first_line(command);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("summary: planned 3000"), "{stderr}");
}

#[test]
fn a_report_on_stdout_to_a_closed_pipe_ends_quietly_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("big.csv");
    let mut text_job = String::from("user,action,phone_type,phone_number\n");
    for i in 0..3000 {
        text_job.push_str(&format!("{},set-phone,office,+46 8 {i:07}\n", upn(i)));
    }
    std::fs::write(&job, text_job).unwrap();
    let mut command = authbulk();
    command.args([
        "run",
        job.to_str().unwrap(),
        "--simulate",
        "--sim-users",
        "3000",
        "-y",
        "--report",
        "-",
    ]);
    let out = close_after_first_line(command);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Every row was still applied.
    assert!(stderr.contains("summary: ok 3000"), "{stderr}");
}

#[test]
fn export_csv_on_a_pipe_is_raw() {
    let out = authbulk()
        .args(["export", "--all-users", "--simulate", "--sim-users", "20"])
        .args(["--out", "-"])
        .output()
        .unwrap();
    ok(&out);
    let stdout = text(&out.stdout);
    let mut reader = csv::Reader::from_reader(stdout.as_bytes());
    let phones: Vec<String> = reader
        .records()
        .map(Result::unwrap)
        .filter(|r| &r[2] == "phone")
        .map(|r| r[4].to_string())
        .collect();
    assert!(!phones.is_empty(), "{stdout}");
    assert!(phones.iter().all(|p| p.starts_with('+')), "{phones:?}");
}

#[test]
fn completions_for_every_shell_and_man_pages() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = authbulk().args(["completions", shell]).output().unwrap();
        ok(&out);
        let script = text(&out.stdout);
        assert!(script.contains("authbulk"), "{shell}");
        assert!(script.contains("dry-run"), "{shell}: {script}");
        // Actions complete as values of --action (clap_complete's PowerShell script completes
        // flags only).
        if shell != "powershell" {
            assert!(script.contains("remove-authenticator"), "{shell}");
        }
    }
    let out = authbulk().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    let out = authbulk().arg("man").output().unwrap();
    ok(&out);
    let page = text(&out.stdout);
    assert!(page.contains(".TH authbulk 1"), "{page}");
    assert!(page.contains("authbulk\\-run(1)"), "{page}");
    let out = authbulk().args(["man", "run"]).output().unwrap();
    ok(&out);
    let page = text(&out.stdout);
    assert!(page.contains(".TH authbulk-run 1"), "{page}");
    assert!(page.contains("\\-\\-dry\\-run"), "{page}");
    assert!(page.contains("reset\\-mfa"), "{page}");
    let out = authbulk().args(["man", "nosuch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

fn help(args: &[&str]) -> String {
    let out = authbulk().args(args).arg("--help").output().unwrap();
    ok(&out);
    text(&out.stdout)
}

#[test]
fn help_lists_the_actions_examples_and_exit_codes() {
    let run = help(&["run"]);
    for action in [
        "list",
        "set-phone",
        "remove-phone",
        "set-email",
        "remove-email",
        "remove-authenticator",
        "remove-method",
        "reset-mfa",
        "issue-tap",
        "set-default",
        "enable-sms-signin",
        "disable-sms-signin",
        "revoke-sessions",
    ] {
        let line = run
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{action} ")))
            .unwrap_or_else(|| panic!("{action} not listed:\n{run}"));
        assert!(line.split_whitespace().count() > 2, "{line}");
    }
    for command in [
        &["run"][..],
        &["export"],
        &["validate"],
        &["sim"],
        &["completions"],
        &["man"],
        &[],
    ] {
        let text = help(command);
        assert!(
            text.contains("Examples:") || text.contains("Install") || text.contains("Read it"),
            "{command:?}:\n{text}"
        );
        if !matches!(command, ["completions"] | ["man"]) {
            assert!(text.contains("Exit codes:"), "{command:?}:\n{text}");
        }
    }
    assert!(run.contains("-y, --yes"), "{run}");
    assert!(run.contains("130"), "{run}");
}

#[test]
fn export_help_shows_only_what_export_uses() {
    let export = help(&["export"]);
    for unused in [
        "--issue-tap",
        "--lifetime-minutes",
        "--revoke-sessions",
        "--phone-number",
        "--tap-out",
        "--dry-run",
        "reset-mfa",
    ] {
        assert!(!export.contains(unused), "{unused} in export --help");
    }
    for used in [
        "--out",
        "--out-format",
        "--all-users",
        "--group",
        "--simulate",
    ] {
        assert!(export.contains(used), "{used} missing");
    }
}

#[test]
fn the_plan_is_grouped_by_user_in_job_order() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path());
    let out = authbulk()
        .args(["run", job.to_str().unwrap(), "--simulate", "--dry-run"])
        .output()
        .unwrap();
    ok(&out);
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let (a, b) = (upn(1), upn(2));
    // User 1 once, with rows 1 and 3 together, then user 2.
    assert_eq!(lines.iter().filter(|l| **l == a).count(), 1, "{stdout}");
    let at = lines.iter().position(|l| *l == a).unwrap();
    assert!(lines[at + 1].ends_with("(row 1, set-phone)"), "{stdout}");
    assert!(lines[at + 2].ends_with("(row 3, set-phone)"), "{stdout}");
    assert_eq!(lines[at + 3], b, "{stdout}");
    // Not a terminal: no colour.
    assert!(!stdout.contains('\u{1b}'), "{stdout}");
}

#[test]
fn color_always_colours_the_plan_even_with_no_color_and_never_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path());
    let run = |color: &str| {
        let out = authbulk()
            .args(["run", job.to_str().unwrap(), "--simulate", "--dry-run"])
            .args(["--color", color])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        ok(&out);
        text(&out.stdout)
    };
    let always = run("always");
    assert!(
        always.contains("\u{1b}[32m+\u{1b}[0m create phone"),
        "{always}"
    );
    assert!(always.contains(&format!("\u{1b}[1m{}", upn(1))), "{always}");
    let never = run("never");
    assert!(!never.contains('\u{1b}'), "{never}");
    let auto = run("auto");
    assert!(!auto.contains('\u{1b}'), "{auto}");
}

#[test]
fn routine_info_lines_only_with_verbose() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path());
    let run = |verbose: bool| {
        let mut command = authbulk();
        command.args(["run", job.to_str().unwrap(), "--simulate", "--dry-run"]);
        if verbose {
            command.arg("-v");
        }
        let out = command.output().unwrap();
        ok(&out);
        text(&out.stderr)
    };
    let quiet = run(false);
    assert!(!quiet.contains("INFO"), "{quiet}");
    assert!(!quiet.contains("simulated tenant started"), "{quiet}");
    assert!(quiet.contains("summary:"), "{quiet}");
    let verbose = run(true);
    assert!(verbose.contains("INFO"), "{verbose}");
    assert!(verbose.contains("simulated tenant started"), "{verbose}");
}
