//! Shared by the `run_action*` tests: a simulator started in the test, the `authbulk` binary run
//! against it (credentials from the simulator's handle, nothing else from the environment), and
//! the report the binary wrote, parsed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;

use authbulk::sim::{SimConfig, SimHandle, upn};
use serde_json::Value;

use crate::support::binary::authbulk;
use crate::support::report::{Row, rows};

/// A simulator and a scratch directory for job files and reports.
pub struct Tenant {
    /// The running simulator.
    pub sim: SimHandle,
    /// Job files, reports, pass files.
    pub dir: tempfile::TempDir,
    /// Number of users.
    pub users: usize,
}

/// What one run of the binary gave.
pub struct Run {
    /// Exit code.
    pub code: Option<i32>,
    /// Standard output (the plan).
    pub stdout: String,
    /// Standard error (summary, refusals).
    pub stderr: String,
    /// The report's records (empty when the run wrote none).
    pub report: Vec<Row>,
}

impl Run {
    /// The statuses of the report, counted.
    pub fn statuses(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for r in &self.report {
            *counts.entry(r["status"].clone()).or_default() += 1;
        }
        counts
    }

    /// The records of `user`.
    pub fn of(&self, user: &str) -> Vec<&Row> {
        self.report.iter().filter(|r| r["user"] == user).collect()
    }

    /// `(step, status)` of `user`'s records, in report order.
    pub fn steps_of(&self, user: &str) -> Vec<(String, String)> {
        self.of(user)
            .into_iter()
            .map(|r| (r["step"].clone(), r["status"].clone()))
            .collect()
    }

    /// Panics with the run's output unless it exited with `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code\nstdout:\n{}\nstderr:\n{}\nreport: {:#?}",
            self.stdout,
            self.stderr,
            self.report
        );
        self
    }
}

/// A simulator of `users` users without throttling or latency.
pub async fn tenant(users: usize) -> Tenant {
    tenant_with(SimConfig {
        users,
        unthrottled: true,
        ..SimConfig::default()
    })
    .await
}

/// A simulator of `config`.
pub async fn tenant_with(config: SimConfig) -> Tenant {
    let users = config.users;
    let sim = authbulk::sim::start(config).await.unwrap();
    Tenant {
        sim,
        dir: tempfile::tempdir().unwrap(),
        users,
    }
}

impl Tenant {
    /// A path in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write a job file and return its path.
    pub fn job(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The user's state as the simulator holds it.
    pub fn state(&self, i: usize) -> Value {
        self.sim.user_state(&upn(i)).unwrap()
    }

    /// The user's methods of the type (`@odata.type` suffix before `AuthenticationMethod`).
    pub fn methods(&self, i: usize, kind: &str) -> Vec<Value> {
        methods_of(&self.state(i), kind)
    }

    /// The first user index (from `from`) whose state satisfies `pred`.
    pub fn find_from(&self, from: usize, pred: impl Fn(&Value) -> bool) -> usize {
        (from..self.users)
            .find(|&i| pred(&self.state(i)))
            .expect("no simulated user matches")
    }

    /// The first user index not in `taken` whose state satisfies `pred`; added to `taken`, so
    /// each row of a job works on a user of its own.
    pub fn pick(&self, taken: &mut Vec<usize>, pred: impl Fn(&Value) -> bool) -> usize {
        let i = (0..self.users)
            .find(|i| !taken.contains(i) && pred(&self.state(*i)))
            .expect("no simulated user matches");
        taken.push(i);
        i
    }

    /// The first user index whose state satisfies `pred`.
    pub fn find(&self, pred: impl Fn(&Value) -> bool) -> usize {
        self.find_from(0, pred)
    }

    /// Run `authbulk run <args> --graph-url .. --report <report>`, with the simulator's
    /// credentials in the environment, and parse the report.
    pub async fn run(&self, report: &str, args: &[&str]) -> Run {
        self.command("run", report, args).await
    }

    /// `authbulk <command> <args> --graph-url .. --report <report>` (`run`, `apply`), as
    /// [`Tenant::run`].
    pub async fn command(&self, command: &str, report: &str, args: &[&str]) -> Run {
        let report_path = self.path(report);
        let mut cmd = tokio::process::Command::from(authbulk());
        cmd.arg(command)
            .args(args)
            .arg("--graph-url")
            .arg(self.sim.url())
            .arg("--report")
            .arg(&report_path)
            .current_dir(self.dir.path());
        cmd.env("AZURE_TENANT_ID", self.sim.tenant_id())
            .env("AZURE_CLIENT_ID", self.sim.client_id())
            .env("AZURE_CLIENT_SECRET", self.sim.client_secret())
            .env("AZURE_AUTHORITY_HOST", self.sim.url());
        let Output {
            status,
            stdout,
            stderr,
        } = cmd.output().await.unwrap();
        Run {
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            report: if report_path.exists() {
                rows(&report_path)
            } else {
                Vec::new()
            },
        }
    }
}

/// The methods of `state` whose `@odata.type` is `#microsoft.graph.{kind}AuthenticationMethod`.
pub fn methods_of(state: &Value, kind: &str) -> Vec<Value> {
    let wanted = format!("#microsoft.graph.{kind}AuthenticationMethod");
    state["methods"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["@odata.type"] == wanted.as_str())
        .cloned()
        .collect()
}

/// Every method type of `state` but the password.
pub fn non_password(state: &Value) -> Vec<String> {
    state["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["@odata.type"].as_str().unwrap().to_string())
        .filter(|t| t != "#microsoft.graph.passwordAuthenticationMethod")
        .collect()
}

/// The phone of this type, if any.
pub fn phone(state: &Value, phone_type: &str) -> Option<Value> {
    methods_of(state, "phone")
        .into_iter()
        .find(|p| p["phoneType"] == phone_type)
}

/// The user's default method (`signInPreferences`).
pub fn default_of(state: &Value) -> Option<String> {
    state["signInPreferences"]["userPreferredMethodForSecondaryAuthentication"]
        .as_str()
        .map(str::to_string)
}
