//! Memory of a long run: 1,000,000 users, one read each, against an unthrottled simulator in a
//! child process; prints the client's peak RSS over the 128 MiB target.

mod exec_child;
mod exec_support;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use authbulk::testing::exec::ExecConfig;
use exec_child::*;
use exec_support::*;

const USERS: usize = 1_000_000;

fn main() {
    serve_if_child();
    let users = std::env::var("EXEC_MEMORY_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(USERS);
    let sim = spawn_sim(users);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let exec = unthrottled_executor(&sim);
        let work = Arc::new(Work {
            exec: exec.clone(),
            reads: 1,
            writes: 0,
            failed: AtomicU64::new(0),
        });
        let start = std::time::Instant::now();
        drive(work.clone(), users, ExecConfig::default().active_users).await;
        let peak = peak_rss_kib() as f64 / 1024.0;
        println!("exec_memory: {users} users, one read each (simulator in a child process)");
        println!("  sub-requests sent   {}", exec.stats().snapshot().sent);
        println!(
            "  failed              {}",
            work.failed.load(std::sync::atomic::Ordering::Relaxed)
        );
        println!(
            "  duration            {:.1} s",
            start.elapsed().as_secs_f64()
        );
        println!("  peak RSS            {peak:.1} MiB");
        println!("  ratio peak / 128 MiB {:.2}  (target < 1)", peak / 128.0);
    });
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
