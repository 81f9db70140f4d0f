//! A simulator served from a child process of the bench binary itself, so the client's CPU
//! time and memory are measured alone, and an executor without a client-side budget aimed at
//! it. Shared by `exec_speed` and `exec_memory`.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

use authbulk::testing::auth::TokenProvider;
use authbulk::testing::exec::{ExecConfig, Executor, Shutdown};
use authbulk::testing::graph::GraphClient;
use authbulk::testing::throttle::{Budget, BudgetMode, RateConfig};

/// Environment variable that turns a bench binary into the simulator's child process.
const CHILD_ENV: &str = "AUTHBULK_BENCH_SIM_USERS";

/// An unthrottled simulator in a child process.
pub struct ChildSim {
    child: Child,
    pub url: String,
    pub token: String,
}

impl Drop for ChildSim {
    fn drop(&mut self) {
        // Closing its stdin ends the child; wait so no process is left behind.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Start this bench binary again as an unthrottled simulator of `users` users.
pub fn spawn_sim(users: usize) -> ChildSim {
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .env(CHILD_ENV, users.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("simulator child starts");
    let stdout = child.stdout.take().expect("child stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = lines.next().expect("url line").expect("url");
    let token = lines.next().expect("token line").expect("token");
    ChildSim { child, url, token }
}

/// When this process is the simulator child: serve until stdin closes, then exit.
pub fn serve_if_child() {
    let Ok(users) = std::env::var(CHILD_ENV) else {
        return;
    };
    let users: usize = users.parse().expect("user count");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let sim = authbulk::sim::start(authbulk::sim::SimConfig {
            users,
            unthrottled: true,
            ..authbulk::sim::SimConfig::default()
        })
        .await
        .expect("simulator");
        let mut out = std::io::stdout();
        writeln!(out, "{}", sim.url()).expect("stdout");
        writeln!(out, "{}", sim.mint_token()).expect("stdout");
        out.flush().expect("stdout");
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await
        .expect("stdin watcher");
    });
    std::process::exit(0);
}

/// An executor with no client-side budget and 32 batches in flight, for the raw-speed and
/// memory benches against an unthrottled simulator.
pub fn unthrottled_executor(sim: &ChildSim) -> Executor {
    let config = ExecConfig {
        rate: RateConfig {
            budget: Budget {
                ru_per_10s: u32::MAX,
                writes_per_150s: u32::MAX,
            },
            mode: BudgetMode::Capped,
            start: None,
        },
        concurrency: 32,
        ..ExecConfig::default()
    };
    let client =
        GraphClient::new(&sim.url, TokenProvider::fixed(sim.token.clone()), 32).expect("client");
    Executor::start(client, config, Shutdown::new())
}
