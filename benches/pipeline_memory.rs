//! Memory and journal size of whole runs, through the release binary against `authbulk sim
//! --unthrottled` in its own process: (a) an `--all-users` dry run of `remove-authenticator
//! --older-than 730d`, (b) a job file of one `reset-mfa` row per user, applied. Prints each
//! run's peak RSS over the 64 MiB goal and (b)'s journal bytes per write over the 250-byte goal.
//!
//! The peak RSS is the larger of two readings: `VmHWM` of `/proc/<pid>/status`, polled every
//! 20 ms while the run lasts, and the run's own `VmHWM` at its end (`peak_memory_mib` of
//! `--summary-json`, read after the plan is printed), so a peak in the last milliseconds is not
//! missed. `PIPELINE_MEMORY_USERS` sets the number of users (default 1,000,000).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const USERS: usize = 1_000_000;
const GOAL_MIB: f64 = 64.0;
const GOAL_BYTES_PER_WRITE: f64 = 250.0;
const EXE: &str = env!("CARGO_BIN_EXE_authbulk");

/// Budgets far above the service's (the simulator does not throttle): the engine is measured.
const FAST: [&str; 6] = [
    "--ru-per-10s",
    "100000000",
    "--writes-per-150s",
    "100000000",
    "--concurrency",
    "32",
];

/// `authbulk sim` in its own process, stopped when dropped.
struct Sim {
    child: Child,
    url: String,
    tenant: String,
    client: String,
    secret: String,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sim {
    fn start(users: usize) -> Sim {
        let mut child = Command::new(EXE)
            .args(["sim", "--listen", "127.0.0.1:0", "--unthrottled", "--users"])
            .arg(users.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the simulator starts");
        let mut printed = Vec::new();
        for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
            let line = line.expect("a line of the simulator");
            let done = line.starts_with("Press Ctrl-C");
            printed.push(line);
            if done {
                break;
            }
        }
        let field = |name: &str| {
            printed
                .iter()
                .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
                .unwrap_or_else(|| panic!("{name} printed: {printed:?}"))
        };
        Sim {
            url: field("graph root:"),
            tenant: field("tenant id:"),
            client: field("client id:"),
            secret: field("client secret:"),
            child,
        }
    }

    fn run(&self, args: &[&str]) -> Command {
        let mut command = Command::new(EXE);
        command.arg("run").args(args).args(FAST);
        command.args(["--graph-url", &self.url]);
        for (key, _) in std::env::vars() {
            if key.starts_with("AZURE_") {
                command.env_remove(key);
            }
        }
        command
            .env("AZURE_TENANT_ID", &self.tenant)
            .env("AZURE_CLIENT_ID", &self.client)
            .env("AZURE_CLIENT_SECRET", &self.secret)
            .env("AZURE_AUTHORITY_HOST", &self.url)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        command
    }
}

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
    let summary: serde_json::Value = std::fs::read(summary)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| {
            panic!(
                "no summary ({status}): {}",
                std::fs::read_to_string(stderr).unwrap_or_default()
            )
        });
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
    let path = |name: &str| dir.path().join(name);
    let started = Instant::now();
    let sim = Sim::start(users);
    println!(
        "pipeline_memory: {users} users (simulator ready in {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    // (a) The tenant-wide dry run.
    let summary = path("dry.json");
    let mut command = sim.run(&[
        "--all-users",
        "--action",
        "remove-authenticator",
        "--older-than",
        "730d",
        "--dry-run",
        "--report",
        path("dry.csv").to_str().unwrap(),
        "--summary-json",
        summary.to_str().unwrap(),
    ]);
    let dry = measure(command.current_dir(dir.path()), &path("dry.err"), &summary);
    print_memory(
        &format!(
            "(a) run --all-users --action remove-authenticator --older-than 730d --dry-run ({users} users)"
        ),
        &dry,
    );

    // (b) A job of one reset-mfa row per user, applied.
    let job = path("job.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&job).expect("job file"));
    writeln!(out, "userPrincipalName,action").unwrap();
    for i in 0..users {
        writeln!(out, "{},reset-mfa", authbulk::sim::upn(i)).unwrap();
    }
    out.flush().unwrap();
    drop(out);
    let report = path("apply.csv");
    let summary = path("apply.json");
    let mut command = sim.run(&[
        job.to_str().unwrap(),
        "--yes",
        "--keep-journal",
        "--report",
        report.to_str().unwrap(),
        "--summary-json",
        summary.to_str().unwrap(),
    ]);
    let apply = measure(
        command.current_dir(dir.path()),
        &path("apply.err"),
        &summary,
    );
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
