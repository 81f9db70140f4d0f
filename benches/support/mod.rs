//! What the whole-run benches (`pipeline_memory`, `pipeline_speed`) share: `authbulk sim
//! --unthrottled` in its own process, `authbulk run` aimed at it with budgets far above the
//! service's, the two runs both measure ((a) the tenant-wide dry run, (b) a job of one
//! `reset-mfa` row per user, applied) and the run's `--summary-json`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The binary under measure.
pub const EXE: &str = env!("CARGO_BIN_EXE_authbulk");

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
pub struct Sim {
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
    /// `authbulk sim --listen 127.0.0.1:0 --unthrottled --users <users>`; returns once it serves.
    pub fn start(users: usize) -> Sim {
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

    /// `<client> run <args>` with the fast budgets, against this simulator with its credentials
    /// in the environment (and no other AZURE_* variable), in `dir`, stdout discarded.
    pub fn run(&self, client: &str, dir: &Path, args: &[&str]) -> Command {
        self.command(client, "run", dir, args)
    }

    /// `<client> <subcommand> <args>` (`run`, `apply`), as [`Sim::run`].
    pub fn command(&self, client: &str, subcommand: &str, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(client);
        command.arg(subcommand).args(args).args(FAST);
        command.args(["--graph-url", &self.url]);
        for (key, _) in std::env::vars() {
            if key.starts_with("AZURE_") {
                command.env_remove(key);
            }
        }
        command
            .current_dir(dir)
            .env("AZURE_TENANT_ID", &self.tenant)
            .env("AZURE_CLIENT_ID", &self.client)
            .env("AZURE_CLIENT_SECRET", &self.secret)
            .env("AZURE_AUTHORITY_HOST", &self.url)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        command
    }
}

/// Run (a): `run --all-users --action remove-authenticator --older-than 730d --dry-run`, its
/// report `dry.csv` and summary `dry.json` in `dir`. Returns the command and the summary's path.
pub fn dry_run(sim: &Sim, client: &str, dir: &Path) -> (Command, PathBuf) {
    let summary = dir.join("dry.json");
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
            "--report",
            dir.join("dry.csv").to_str().unwrap(),
            "--summary-json",
            summary.to_str().unwrap(),
        ],
    );
    (command, summary)
}

/// `job.csv` of one `reset-mfa` row per user, in `dir`.
pub fn write_reset_job(dir: &Path, users: usize) -> PathBuf {
    let job = dir.join("job.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&job).expect("job file"));
    writeln!(out, "userPrincipalName,action").unwrap();
    for i in 0..users {
        writeln!(out, "{},reset-mfa", authbulk::sim::upn(i)).unwrap();
    }
    out.flush().unwrap();
    drop(out);
    job
}

/// Run (b): `job.csv` of one `reset-mfa` row per user (written here), `--yes --keep-journal`,
/// its report `apply.csv` and summary `apply.json` in `dir`. Returns the command and the
/// summary's path.
pub fn apply_run(sim: &Sim, client: &str, dir: &Path, users: usize) -> (Command, PathBuf) {
    let job = write_reset_job(dir, users);
    let summary = dir.join("apply.json");
    let command = sim.run(
        client,
        dir,
        &[
            job.to_str().unwrap(),
            "--yes",
            "--keep-journal",
            "--report",
            dir.join("apply.csv").to_str().unwrap(),
            "--summary-json",
            summary.to_str().unwrap(),
        ],
    );
    (command, summary)
}

/// The run's `--summary-json`; panics with its standard error when there is none.
pub fn summary(
    status: std::process::ExitStatus,
    summary: &Path,
    stderr: &Path,
) -> serde_json::Value {
    std::fs::read(summary)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| {
            panic!(
                "no summary ({status}): {}",
                std::fs::read_to_string(stderr).unwrap_or_default()
            )
        })
}
