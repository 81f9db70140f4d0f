//! Rate efficiency of the executor against the in-process simulator (latency 20..80 ms):
//! 20,000 users, one read then one write each. Prints the ideal time (from the service's budget)
//! over the actual time, and the share of throttled answers, for four cases:
//! - `equal`: the client's budget equals the service's (target >= 0.95, <= 1 % throttled);
//! - `half`: other apps use half of the tenant's write budget (`--background-load 0.5`) (same
//!   targets);
//! - `adaptive`: `--budget adaptive` against a service with four times the client's budget
//!   (target >= 0.90, <= 3 % throttled);
//! - `unknown`: the engine at its default caps (the published large-tenant budget, 3,000 writes
//!   per 150 s) against a service that allows a tenth of it (300 writes per 150 s, as when other
//!   apps or a smaller tenant's limits leave less), 600 users: a budget it does not know
//!   (target >= 0.90, <= 1 % throttled).
//!
//! `EXEC_EFFICIENCY_CASE=equal|half|adaptive|unknown` runs one case; `EXEC_EFFICIENCY_USERS`
//! changes the number of users (not the `unknown` case's).

mod exec_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use authbulk::sim::SimConfig;
use authbulk::testing::auth::TokenProvider;
use authbulk::testing::exec::{ExecConfig, Executor, Shutdown};
use authbulk::testing::graph::GraphClient;
use authbulk::testing::throttle::{Budget, BudgetMode, Learned, RateConfig};
use exec_support::*;

/// Writes per 150 s of the service: with its bucket of 150 s, 20,000 writes take a minute.
const SERVICE_WRITES: f64 = 14_286.0;
/// Resource units per 10 s of the service (the published large-tenant budget).
const SERVICE_RU: f64 = 8_000.0;

struct Case {
    name: &'static str,
    client: Budget,
    mode: BudgetMode,
    service_ru: f64,
    service_writes: f64,
    tenant_writes_per_5min: f64,
    background_load: f64,
    target_efficiency: f64,
    target_throttled: f64,
    /// Users of this case, when not the run's number.
    users: Option<usize>,
}

impl Case {
    /// The shortest possible run: every bucket of the service drained from full at its rate.
    fn ideal(&self, users: usize) -> f64 {
        let reads = users as f64;
        let writes = users as f64;
        let ru = (reads + writes - self.service_ru) / (self.service_ru / 10.0);
        let app_writes = (writes - self.service_writes) / (self.service_writes / 150.0);
        let tenant = self.tenant_writes_per_5min * (1.0 - self.background_load);
        let tenant_writes = (writes - tenant) / (tenant / 300.0);
        ru.max(app_writes).max(tenant_writes).max(0.0)
    }
}

fn cases() -> Vec<Case> {
    let published = Budget {
        ru_per_10s: SERVICE_RU as u32,
        writes_per_150s: SERVICE_WRITES as u32,
    };
    vec![
        Case {
            name: "equal",
            client: published,
            mode: BudgetMode::Capped,
            service_ru: SERVICE_RU,
            service_writes: SERVICE_WRITES,
            tenant_writes_per_5min: 1e9,
            background_load: 0.0,
            target_efficiency: 0.95,
            target_throttled: 0.01,
            users: None,
        },
        Case {
            name: "half",
            client: published,
            mode: BudgetMode::Capped,
            service_ru: SERVICE_RU,
            service_writes: SERVICE_WRITES,
            // Without other apps the tenant-wide bucket (per 5 min) would allow the app's full
            // rate; other apps take half of it.
            tenant_writes_per_5min: SERVICE_WRITES * 2.0,
            background_load: 0.5,
            target_efficiency: 0.95,
            target_throttled: 0.01,
            users: None,
        },
        Case {
            name: "adaptive",
            client: Budget {
                ru_per_10s: (SERVICE_RU / 4.0) as u32,
                writes_per_150s: (SERVICE_WRITES / 4.0) as u32,
            },
            mode: BudgetMode::Adaptive,
            service_ru: SERVICE_RU,
            service_writes: SERVICE_WRITES,
            tenant_writes_per_5min: 1e9,
            background_load: 0.0,
            target_efficiency: 0.90,
            target_throttled: 0.03,
            users: None,
        },
        Case {
            name: "unknown",
            client: published,
            mode: BudgetMode::Capped,
            service_ru: SERVICE_RU,
            service_writes: 300.0,
            tenant_writes_per_5min: 1e9,
            background_load: 0.0,
            target_efficiency: 0.90,
            target_throttled: 0.01,
            users: Some(600),
        },
    ]
}

/// One run of `case`, starting at `remembered` (what an earlier run learned); returns what this
/// run learned.
async fn run(case: &Case, users: usize, night: &str, remembered: Option<Learned>) -> Learned {
    let sim = authbulk::sim::start(SimConfig {
        users,
        ru_per_10s: Some(case.service_ru),
        writes_per_150s: Some(case.service_writes),
        tenant_writes_per_5min: Some(case.tenant_writes_per_5min),
        background_load: case.background_load,
        latency: Some((Duration::from_millis(20), Duration::from_millis(80))),
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let config = ExecConfig {
        rate: RateConfig {
            budget: case.client,
            mode: case.mode,
            start: remembered,
        },
        ..ExecConfig::default()
    };
    let client =
        GraphClient::new(sim.url(), TokenProvider::fixed(sim.mint_token()), 16).expect("client");
    let exec = Executor::start(client, config, Shutdown::new());
    let work = Arc::new(Work {
        exec: exec.clone(),
        reads: 1,
        writes: 1,
        failed: AtomicU64::new(0),
    });
    let start = Instant::now();
    let trace = std::env::var("EXEC_EFFICIENCY_TRACE").is_ok().then(|| {
        let exec = exec.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let state = exec.throttle().state();
                let stats = exec.stats().snapshot();
                eprintln!(
                    "{:>5.1}s ru/s {:>8.1} writes/s {:>7.1} writes {:>6} reads {:>6} 429s {:>5}",
                    start.elapsed().as_secs_f64(),
                    state.ru_rate,
                    state.write_rate,
                    stats.writes,
                    stats.reads,
                    stats.throttled
                );
            }
        })
    });
    drive(work.clone(), users, config.active_users).await;
    if let Some(trace) = trace {
        trace.abort();
    }
    let actual = start.elapsed().as_secs_f64();
    let stats = exec.stats().snapshot();
    let ideal = case.ideal(users);
    let efficiency = ideal / actual;
    let throttled = stats.throttled as f64 / stats.sent as f64;
    let verdict = if case.users.is_some() && remembered.is_none() {
        "first run, no remembered rate: no target"
    } else if efficiency >= case.target_efficiency && throttled <= case.target_throttled {
        "meets target"
    } else {
        "MISSES target"
    };
    println!(
        "exec_efficiency {:<10} ideal {:>6.1} s / actual {:>6.1} s = {:.3}   throttled {:>5} of {:>6} = {:.2} %   failed {}   ({verdict}: >= {:.2}, <= {:.0} %)",
        format!("{}{night}", case.name),
        ideal,
        actual,
        efficiency,
        stats.throttled,
        stats.sent,
        throttled * 100.0,
        work.failed.load(Ordering::Relaxed),
        case.target_efficiency,
        case.target_throttled * 100.0,
    );
    exec.throttle().learned()
}

fn main() {
    let only = std::env::var("EXEC_EFFICIENCY_CASE").ok();
    let users = std::env::var("EXEC_EFFICIENCY_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for case in cases() {
        if only.as_deref().is_some_and(|o| o != case.name) {
            continue;
        }
        match case.users {
            // A budget the engine does not know: a first run, then the next night's run
            // starting at what the first one learned (the rate memory of `authbulk run`).
            Some(users) => {
                let learned = runtime.block_on(run(&case, users, "/1", None));
                println!("  learned: {learned:?}");
                runtime.block_on(run(&case, users, "/2", Some(learned)));
            }
            None => {
                runtime.block_on(run(&case, users, "", None));
            }
        }
    }
}
