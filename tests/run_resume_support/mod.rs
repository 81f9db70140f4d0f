//! Shared by the run tests that drive the `authbulk` binary against a simulator in its own
//! process (`authbulk sim --listen 127.0.0.1:0`), so a test can kill or interrupt the client
//! while the tenant lives on, and read the simulator's state and counters afterwards.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A simulator process, stopped (by its own handle) when dropped.
pub struct SimProcess {
    child: Child,
    /// Graph root, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    tenant: String,
    client: String,
    secret: String,
}

impl SimProcess {
    /// Start `authbulk sim --listen 127.0.0.1:0` with `args`; returns once it serves.
    pub fn start(args: &[&str]) -> SimProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_authbulk"))
            .args(["sim", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the simulator");
        let stdout = child.stdout.take().expect("its stdout");
        let mut printed = Vec::new();
        for line in BufReader::new(stdout).lines() {
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
        SimProcess {
            url: field("graph root:"),
            tenant: field("tenant id:"),
            client: field("client id:"),
            secret: field("client secret:"),
            child,
        }
    }

    /// `authbulk run <args>` against this simulator, with its credentials in the environment
    /// (and no other AZURE_* variable).
    pub fn run(&self, args: &[&str]) -> Command {
        self.run_with_secret(args, &self.secret)
    }

    /// The same with another client secret.
    pub fn run_with_secret(&self, args: &[&str], secret: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_authbulk"));
        command.arg("run").args(args);
        command.args(["--graph-url", &self.url]);
        for (key, _) in std::env::vars() {
            if key.starts_with("AZURE_") {
                command.env_remove(key);
            }
        }
        command
            .env("AZURE_TENANT_ID", &self.tenant)
            .env("AZURE_CLIENT_ID", &self.client)
            .env("AZURE_CLIENT_SECRET", secret)
            .env("AZURE_AUTHORITY_HOST", &self.url)
            .stdin(Stdio::null());
        command
    }

    /// GET a `/_sim/...` path as JSON.
    pub fn introspect(&self, path: &str) -> Value {
        let url = format!("{}/_sim/{path}", self.url);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            reqwest::get(&url)
                .await
                .and_then(|r| r.error_for_status())
                .expect("introspection answers")
                .json()
                .await
                .expect("introspection JSON")
        })
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Send SIGINT (what Ctrl-C sends) to a child process.
pub fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
}

/// The records of a `.jsonl` report.
pub fn jsonl_records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("the report")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON record"))
        .collect()
}

/// The records of a `.csv` report, as a spreadsheet program sees them: (header, rows).
pub fn csv_records(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).expect("the report");
    let headers = reader
        .headers()
        .expect("a header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.expect("a CSV row").iter().map(str::to_string).collect())
        .collect();
    (headers, rows)
}

/// Bytes in a file, 0 when it does not exist yet.
pub fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
