//! How fast the simulator serves unthrottled `$batch` calls: it must never be the bottleneck of
//! the executor's benchmarks. Starts `authbulk sim --unthrottled` as its own process (so its CPU
//! time is measured apart from the driver's), drives it from several connections with batches of
//! 20 (16 method reads and 4 session revocations, each for a different user) and prints
//! sub-requests per second against the 20,000/s target and CPU seconds per 10,000 sub-requests.
//! Linux only (reads /proc for CPU times). Run: `cargo bench --bench sim_batch`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::{Value, json};

const CONNECTIONS: usize = 8;
const BATCHES_PER_CONNECTION: usize = 500;
const USERS: usize = 10_000;
const TARGET_PER_SECOND: f64 = 20_000.0;

/// CPU seconds (user + system) a process has used, from /proc (USER_HZ is 100 on Linux).
fn cpu_seconds(pid: &str) -> anyhow::Result<f64> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).context("reading /proc stat")?;
    let after_name = stat.rsplit_once(')').context("parsing /proc stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

fn batch_body(connection: usize, round: usize) -> Vec<u8> {
    let requests: Vec<Value> = (0..20)
        .map(|k| {
            let user = (connection * 1_009 + round * 20 + k) % USERS;
            let upn = authbulk::testing::graph::path::segment(&authbulk::sim::upn(user));
            if k % 5 == 4 {
                json!({"id": k.to_string(), "method": "POST", "url": format!("/users/{upn}/revokeSignInSessions"),
                       "headers": {"Content-Type": "application/json"}, "body": {}})
            } else {
                json!({"id": k.to_string(), "method": "GET", "url": format!("/users/{upn}/authentication/methods")})
            }
        })
        .collect();
    serde_json::to_vec(&json!({ "requests": requests })).unwrap_or_default()
}

async fn drive(url: String, token: String, connection: usize) -> anyhow::Result<usize> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()?;
    let mut ok = 0;
    for round in 0..BATCHES_PER_CONNECTION {
        let resp = client
            .post(format!("{url}/v1.0/$batch"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(batch_body(connection, round))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("batch answered {}", resp.status());
        }
        let body: Value = resp.json().await?;
        ok += body["responses"].as_array().map_or(0, |r| {
            r.iter()
                .filter(|x| x["status"].as_u64().is_some_and(|s| s < 300))
                .count()
        });
    }
    Ok(ok)
}

fn main() -> anyhow::Result<()> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_authbulk"))
        .args([
            "sim",
            "--unthrottled",
            "--users",
            &USERS.to_string(),
            "--listen",
            "127.0.0.1:0",
            "-q",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting authbulk sim")?;
    let pid = child.id().to_string();
    let result = run(&mut child, &pid);
    // End the simulator we started, by its own handle.
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn run(child: &mut std::process::Child, pid: &str) -> anyhow::Result<()> {
    let stdout = child.stdout.take().context("simulator stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut field = |prefix: &str| -> anyhow::Result<String> {
        for line in lines.by_ref() {
            let line = line?;
            if let Some(v) = line.trim().strip_prefix(prefix) {
                return Ok(v.trim().to_string());
            }
        }
        bail!("the simulator did not print '{prefix}'")
    };
    let url = field("graph root:")?;
    let token_url = field("token endpoint:")?;
    let client_id = field("client id:")?;
    let secret = field("client secret:")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let token: Value = reqwest::Client::new()
            .post(&token_url)
            .form(&[("client_id", client_id.as_str()), ("client_secret", secret.as_str()),
                    ("grant_type", "client_credentials"), ("scope", "https://graph.microsoft.com/.default")])
            .send()
            .await?
            .json()
            .await?;
        let token = token["access_token"].as_str().context("no access token")?.to_string();
        let sim_cpu_before = cpu_seconds(pid)?;
        let own_cpu_before = cpu_seconds("self")?;
        let started = Instant::now();
        let tasks: Vec<_> = (0..CONNECTIONS)
            .map(|c| tokio::spawn(drive(url.clone(), token.clone(), c)))
            .collect();
        let mut ok = 0;
        for t in tasks {
            ok += t.await??;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let sim_cpu = cpu_seconds(pid)? - sim_cpu_before;
        let own_cpu = cpu_seconds("self")? - own_cpu_before;
        let total = CONNECTIONS * BATCHES_PER_CONNECTION * 20;
        let rate = total as f64 / elapsed;
        println!("sim_batch: {CONNECTIONS} connections, {total} sub-requests in {:.2} s ({ok} succeeded)", elapsed);
        println!("  sub-requests per second: {rate:.0} = {:.2}x the 20,000/s target", rate / TARGET_PER_SECOND);
        println!("  simulator CPU seconds per 10,000 sub-requests: {:.3}", sim_cpu * 10_000.0 / total as f64);
        println!("  driver CPU seconds per 10,000 sub-requests: {:.3}", own_cpu * 10_000.0 / total as f64);
        if ok != total {
            bail!("{} sub-requests failed", total - ok);
        }
        Ok(())
    })
}
