//! Shared parts of the executor's benchmarks: the per-user work they run (reads and writes
//! through the executor), a simulator served from a child process (so the client's CPU time and
//! memory are measured alone), and process counters read from /proc.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use authbulk::testing::auth::TokenProvider;
use authbulk::testing::exec::{ExecConfig, Executor, Shutdown, UserWork};
use authbulk::testing::graph::GraphClient;
use authbulk::testing::graph::{ApiVersion, GraphCall, Request, path};
use authbulk::testing::throttle::{Budget, BudgetMode, RateConfig};

/// Environment variable that turns a bench binary into the simulator's child process.
const CHILD_ENV: &str = "AUTHBULK_BENCH_SIM_USERS";

/// Per user: `reads` GETs of the methods list, then `writes` session revocations, in order.
pub struct Work {
    pub exec: Executor,
    pub reads: u32,
    pub writes: u32,
    pub failed: AtomicU64,
}

impl UserWork for Work {
    type Item = usize;
    type Output = ();

    fn user_key(&self, item: &usize) -> String {
        item.to_string()
    }

    async fn run(&self, item: usize) {
        let user = authbulk::sim::upn(item);
        let base = path::user(&user);
        for _ in 0..self.reads {
            let request = Request::get(ApiVersion::V1, format!("{base}/authentication/methods"));
            if self.exec.call(&user, request).await.is_err() {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        for _ in 0..self.writes {
            let request = Request::post(
                ApiVersion::V1,
                format!("{base}/revokeSignInSessions"),
                serde_json::json!({}),
            );
            if self.exec.call(&user, request).await.is_err() {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn cancelled(&self, _item: usize) {}
}

/// Run every user `0..users` through `work`, with `active` users at a time; outputs go to one
/// collector task, as in a real run.
pub async fn drive(work: Arc<Work>, users: usize, active: usize) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let collector = tokio::spawn(async move {
        let mut n = 0u64;
        while rx.recv().await.is_some() {
            n += 1;
        }
        n
    });
    let end = authbulk::testing::exec::for_each_user(
        work,
        futures::stream::iter(0..users),
        active,
        tx,
        authbulk::testing::exec::Shutdown::new(),
    )
    .await;
    assert_eq!(end, authbulk::testing::exec::DriveEnd::Completed);
    let collected = collector.await.expect("collector");
    assert_eq!(collected, users as u64);
}

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

/// CPU time (user + system) of this process so far, in microseconds, from /proc/self/stat
/// (USER_HZ is 100 on Linux).
pub fn cpu_micros() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks * 10_000
}

/// Peak resident set size of this process in KiB (VmHWM).
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
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
