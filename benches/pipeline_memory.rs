//! Memory and journal size of whole runs, through the release binary against `authbulk sim
//! --unthrottled` in its own process: (a) an `--all-users` dry run of `remove-authenticator
//! --older-than 730d`, (b) a job file of one `reset-mfa` row per user, applied, (c) the dry run
//! of (a) saving its plan (`--plan-out`), (d) `authbulk apply` of that saved plan. Prints each
//! run's peak RSS over the 64 MiB goal and (b)'s journal bytes per write over the 250-byte goal.
//! (e) the job of (b) planned first and applied from that plan (`--max-changes`, plan once),
//! on a new simulator. `PIPELINE_MEMORY_CASE` picks cases (`a` to `e`, comma-separated; `d`
//! needs `c`); by default a, c, d, b run, in that order (so the saved plan meets the tenant it
//! read).
//!
//! The peak RSS is the larger of two readings: `VmHWM` of `/proc/<pid>/status`, polled every
//! 20 ms while the run lasts, and the run's own `VmHWM` at its end (`peak_memory_mib` of
//! `--summary-json`, read after the plan is printed), so a peak in the last milliseconds is not
//! missed. `PIPELINE_MEMORY_USERS` sets the number of users (default 1,000,000).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::{EXE, Sim};

const USERS: usize = 1_000_000;
const GOAL_MIB: f64 = 64.0;
const GOAL_BYTES_PER_WRITE: f64 = 250.0;

/// `VmHWM` of process `pid` in KiB, while it runs.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// What one run took.
struct Measured {
    peak_mib: f64,
    polled_mib: f64,
    reported_mib: Option<f64>,
    seconds: f64,
    summary: serde_json::Value,
    code: Option<i32>,
}

/// Run `command` to its end, polling its peak RSS; `summary` is its `--summary-json` file.
fn measure(command: &mut Command, stderr: &Path, summary: &Path) -> Measured {
    let started = Instant::now();
    let mut child = command
        .stderr(std::fs::File::create(stderr).expect("stderr file"))
        .spawn()
        .expect("authbulk starts");
    let pid = child.id();
    let mut polled = 0u64;
    let status = loop {
        if let Some(kib) = vm_hwm_kib(pid) {
            polled = polled.max(kib);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let seconds = started.elapsed().as_secs_f64();
    let summary = support::summary(status, summary, stderr);
    let reported = summary["peak_memory_mib"].as_f64();
    let polled_mib = polled as f64 / 1024.0;
    Measured {
        peak_mib: polled_mib.max(reported.unwrap_or(0.0)),
        polled_mib,
        reported_mib: reported,
        seconds,
        summary,
        code: status.code(),
    }
}

fn print_memory(what: &str, m: &Measured) {
    println!("{what}");
    println!(
        "  exit {:?} in {:.1} s; statuses {}; traffic {}",
        m.code, m.seconds, m.summary["by_status"], m.summary["traffic"]
    );
    println!(
        "  peak RSS {:.1} MiB, goal 64 MiB, ratio {:.2}  (polled {:.1} MiB, reported at exit {})",
        m.peak_mib,
        m.peak_mib / GOAL_MIB,
        m.polled_mib,
        m.reported_mib
            .map_or_else(|| "-".to_string(), |r| format!("{r:.1} MiB"))
    );
}

fn main() {
    let users = std::env::var("PIPELINE_MEMORY_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(USERS);
    let dir = tempfile::tempdir().expect("temporary folder");
    let started = Instant::now();
    let sim = Sim::start(users);
    println!(
        "pipeline_memory: {users} users (simulator ready in {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    let cases = std::env::var("PIPELINE_MEMORY_CASE").unwrap_or_else(|_| "a,c,d,b".into());
    // The default cases; (e) is only run when asked for (it needs a simulator of its own).
    let cases: Vec<&str> = cases.split(',').map(str::trim).collect();
    for case in &cases {
        match *case {
            "a" => dry_run(&sim, dir.path(), users),
            "b" => apply_job(&sim, dir.path(), users),
            "c" => plan_out(&sim, dir.path(), users),
            "d" => apply_plan(&sim, dir.path(), users),
            "e" => confirmed(dir.path(), users),
            other => panic!("PIPELINE_MEMORY_CASE: no case {other:?} (a, b, c, d, e)"),
        }
    }
}

/// (a) The tenant-wide dry run.
fn dry_run(sim: &Sim, dir: &Path, users: usize) {
    let path = |name: &str| dir.join(name);
    let (mut command, summary) = support::dry_run(sim, EXE, dir);
    let dry = measure(&mut command, &path("dry.err"), &summary);
    print_memory(
        &format!(
            "(a) run --all-users --action remove-authenticator --older-than 730d --dry-run ({users} users)"
        ),
        &dry,
    );
}

/// (c) The dry run of (a), saving its plan.
fn plan_out(sim: &Sim, dir: &Path, users: usize) {
    let (mut command, summary, plan) = plan_out_run(sim, EXE, dir);
    let m = measure(&mut command, &dir.join("plan.err"), &summary);
    print_memory(
        &format!("(c) run --all-users ... --dry-run --plan-out plan.jsonl ({users} users)"),
        &m,
    );
    let bytes = std::fs::metadata(&plan).map(|m| m.len()).unwrap_or(0);
    println!(
        "  plan {bytes} bytes, {:.0} bytes per user",
        bytes as f64 / users.max(1) as f64
    );
}

/// (d) `authbulk apply` of the plan (c) saved.
fn apply_plan(sim: &Sim, dir: &Path, users: usize) {
    let plan = dir.join("plan.jsonl");
    assert!(
        plan.exists(),
        "case d applies the plan of case c: run c first"
    );
    let (mut command, summary) = apply_plan_run(sim, EXE, dir, &plan);
    let m = measure(&mut command, &dir.join("applied.err"), &summary);
    print_memory(
        &format!("(d) apply plan.jsonl --yes ({users} users planned)"),
        &m,
    );
    println!("  drifted {}", m.summary["drifted"]);
}

/// (e) The job of (b), planned first (`--max-changes`) and applied from that plan, against a
/// new simulator (the users as (b) found them).
fn confirmed(dir: &Path, users: usize) {
    let sim = Sim::start(users);
    let (mut command, summary) = confirmed_run(&sim, EXE, dir, users);
    let m = measure(&mut command, &dir.join("confirmed.err"), &summary);
    print_memory(
        &format!("(e) run job.csv (reset-mfa, {users} rows) --yes --max-changes N (plan once)"),
        &m,
    );
}

/// (b) A job of one reset-mfa row per user, applied.
fn apply_job(sim: &Sim, dir: &Path, users: usize) {
    let path = |name: &str| dir.join(name);
    let (mut command, summary) = support::apply_run(sim, EXE, dir, users);
    let apply = measure(&mut command, &path("apply.err"), &summary);
    print_memory(
        &format!("(b) run job.csv (reset-mfa, {users} rows) --yes"),
        &apply,
    );
    let journal = std::fs::metadata(path("apply.csv.journal"))
        .map(|m| m.len())
        .unwrap_or(0);
    let writes = apply.summary["traffic"]["writes"].as_u64().unwrap_or(0);
    let per_write = journal as f64 / writes.max(1) as f64;
    println!(
        "  journal {journal} bytes for {writes} writes: {per_write:.0} bytes per write, goal 250, ratio {:.2}",
        per_write / GOAL_BYTES_PER_WRITE
    );
}

/// Run (c): run (a) with `--plan-out plan.jsonl`, its summary `plan.json` in `dir`. Returns
/// the command, the summary's path and the plan's.
fn plan_out_run(sim: &Sim, client: &str, dir: &Path) -> (Command, PathBuf, PathBuf) {
    let summary = dir.join("plan.json");
    let plan = dir.join("plan.jsonl");
    let command = sim.run(
        client,
        dir,
        &[
            "--all-users",
            "--action",
            "remove-authenticator",
            "--older-than",
            "730d",
            "--dry-run",
            "--plan-out",
            plan.to_str().unwrap(),
            "--summary-json",
            summary.to_str().unwrap(),
        ],
    );
    (command, summary, plan)
}

/// Run (d): `apply <plan> --yes`, its report `applied.csv` and summary `applied.json` in `dir`.
/// Returns the command and the summary's path.
fn apply_plan_run(sim: &Sim, client: &str, dir: &Path, plan: &Path) -> (Command, PathBuf) {
    let summary = dir.join("applied.json");
    let command = sim.command(
        client,
        "apply",
        dir,
        &[
            plan.to_str().unwrap(),
            "--yes",
            "--report",
            dir.join("applied.csv").to_str().unwrap(),
            "--summary-json",
            summary.to_str().unwrap(),
        ],
    );
    (command, summary)
}

/// Run (e): run (b) planned first and applied from that plan (`--max-changes`, far above the
/// plan's writes), its report `confirmed.csv` and summary `confirmed.json` in `dir`. Returns
/// the command and the summary's path.
fn confirmed_run(sim: &Sim, client: &str, dir: &Path, users: usize) -> (Command, PathBuf) {
    let job = support::write_reset_job(dir, users);
    let summary = dir.join("confirmed.json");
    let max = (users * 20).to_string();
    let command = sim.run(
        client,
        dir,
        &[
            job.to_str().unwrap(),
            "--yes",
            "--max-changes",
            &max,
            "--report",
            dir.join("confirmed.csv").to_str().unwrap(),
            "--summary-json",
            summary.to_str().unwrap(),
        ],
    );
    (command, summary)
}
