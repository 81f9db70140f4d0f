//! Client CPU of whole runs, through the release binary against `authbulk sim --unthrottled` in
//! its own process: (a) an `--all-users` dry run of `remove-authenticator --older-than 730d`
//! (reads, the plan, the report), (b) a job file of one `reset-mfa` row per user, applied (reads,
//! writes, the report, the journal). Prints each run's client CPU per Graph sub-request over the
//! 20 µs goal.
//!
//! The CPU is the run's user + system time, taken from this process's `cutime` + `cstime` of
//! `/proc/self/stat` before and after the run is waited for (the kernel adds a child's times
//! there when it is reaped; the simulator, the other child, is reaped only at the end). The
//! sub-requests are the `reads` + `writes` of the run's `--summary-json` traffic.
//! `PIPELINE_SPEED_USERS` sets the number of users (default 100,000); `PIPELINE_SPEED_CLIENT`
//! runs another `authbulk` binary as the client (an older build, to compare on the same machine
//! at the same moment: the figures move with the machine's other load).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Instant;
use support::Sim;

const USERS: usize = 100_000;
const GOAL_MICROS: f64 = 20.0;

/// Clock ticks per second of `/proc` times (`getconf CLK_TCK`; 100 on Linux when it can't say).
fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// `cutime` + `cstime` of this process (CPU of its reaped children), in clock ticks.
fn children_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The fields after the command name, which is in parentheses and may hold spaces: state is
    // the first, cutime the 14th, cstime the 15th.
    let rest = &stat[stat.rfind(')').expect("stat's command name") + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields[i].parse::<u64>().expect("a tick count");
    field(13) + field(14)
}

/// What one run took.
struct Measured {
    cpu_seconds: f64,
    seconds: f64,
    subrequests: u64,
    summary: serde_json::Value,
    code: Option<i32>,
}

/// Run `command` to its end; `summary` is its `--summary-json` file.
fn measure(command: &mut Command, stderr: &Path, summary: &Path, ticks: f64) -> Measured {
    let before = children_ticks();
    let started = Instant::now();
    let status = command
        .stderr(std::fs::File::create(stderr).expect("stderr file"))
        .status()
        .expect("authbulk runs");
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = (children_ticks() - before) as f64 / ticks;
    let summary = support::summary(status, summary, stderr);
    let traffic = &summary["traffic"];
    let subrequests =
        traffic["reads"].as_u64().unwrap_or(0) + traffic["writes"].as_u64().unwrap_or(0);
    Measured {
        cpu_seconds,
        seconds,
        subrequests,
        summary,
        code: status.code(),
    }
}

fn print_cpu(what: &str, m: &Measured) {
    println!("{what}");
    println!(
        "  exit {:?} in {:.1} s; statuses {}; traffic {}",
        m.code, m.seconds, m.summary["by_status"], m.summary["traffic"]
    );
    let per = m.cpu_seconds * 1e6 / m.subrequests.max(1) as f64;
    println!(
        "  client CPU {per:.1} µs per sub-request, goal 20 µs, ratio {:.2}  ({:.2} s CPU for {} sub-requests)",
        per / GOAL_MICROS,
        m.cpu_seconds,
        m.subrequests
    );
}

fn main() {
    let users = std::env::var("PIPELINE_SPEED_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(USERS);
    let ticks = ticks_per_second();
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = |name: &str| dir.path().join(name);
    let started = Instant::now();
    let client =
        std::env::var("PIPELINE_SPEED_CLIENT").unwrap_or_else(|_| support::EXE.to_string());
    let sim = Sim::start(users);
    println!(
        "pipeline_speed: {users} users (simulator ready in {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    // (a) The tenant-wide dry run.
    let (mut command, summary) = support::dry_run(&sim, &client, dir.path());
    let dry = measure(&mut command, &path("dry.err"), &summary, ticks);
    print_cpu(
        &format!(
            "(a) run --all-users --action remove-authenticator --older-than 730d --dry-run ({users} users)"
        ),
        &dry,
    );

    // (b) A job of one reset-mfa row per user, applied.
    let (mut command, summary) = support::apply_run(&sim, &client, dir.path(), users);
    let apply = measure(&mut command, &path("apply.err"), &summary, ticks);
    print_cpu(
        &format!("(b) run job.csv (reset-mfa, {users} rows) --yes"),
        &apply,
    );
}
