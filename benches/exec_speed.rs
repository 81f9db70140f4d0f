//! Raw speed of the executor: an unthrottled simulator in a child process, 20,000 users with 10
//! reads each; prints sub-requests per second and the client's CPU microseconds per
//! sub-request (target: under 50).

mod exec_child;
mod exec_support;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use authbulk::testing::exec::ExecConfig;
use exec_child::*;
use exec_support::*;

const USERS: usize = 20_000;
const READS: u32 = 10;

fn main() {
    serve_if_child();
    let sim = spawn_sim(USERS);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let exec = unthrottled_executor(&sim);
        let work = Arc::new(Work {
            exec: exec.clone(),
            reads: READS,
            writes: 0,
            failed: AtomicU64::new(0),
        });
        let cpu_before = cpu_micros();
        let start = Instant::now();
        drive(work.clone(), USERS, ExecConfig::default().active_users).await;
        let elapsed = start.elapsed().as_secs_f64();
        let cpu = (cpu_micros() - cpu_before) as f64;
        let stats = exec.stats().snapshot();
        let subrequests = stats.sent as f64;
        println!("exec_speed: {USERS} users x {READS} reads against an unthrottled simulator (child process)");
        println!("  sub-requests sent          {}", stats.sent);
        println!("  $batch calls               {}", stats.batches);
        println!("  failed                     {}", work.failed.load(std::sync::atomic::Ordering::Relaxed));
        println!("  sub-requests per second    {:.0}", subrequests / elapsed);
        println!("  client CPU us/sub-request  {:.1}", cpu / subrequests);
        println!("  ratio CPU budget used      {:.2}  (client CPU per sub-request / 50 us; target < 1)", cpu / subrequests / 50.0);
    });
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
