//! Shared by the run tests that drive the `authbulk` binary against a simulator in its own
//! process (`authbulk sim --listen 127.0.0.1:0`), so a test can kill or interrupt the client
//! while the tenant lives on, and read the simulator's state and counters afterwards.

use crate::support::binary::authbulk;
use std::io::{BufRead, BufReader};
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
        let mut command = authbulk();
        command.arg("run").args(args);
        command.args(["--graph-url", &self.url]);
        command
            .env("AZURE_TENANT_ID", &self.tenant)
            .env("AZURE_CLIENT_ID", &self.client)
            .env("AZURE_CLIENT_SECRET", secret)
            .env("AZURE_AUTHORITY_HOST", &self.url);
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
