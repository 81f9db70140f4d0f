//! Many tenants at once (`run --tenants`): one job (`--all-users --action list`) in N simulated
//! tenants, each throttled on its own budget per app and tenant (`authbulk sim --tenants`,
//! `--ru-per-10s`), against the same job in one tenant alone. Graph's budgets are per app and
//! tenant, so N tenants at once should take about as long as one: the goal is a speed-up of N
//! over running them one after another (one tenant's time x N). Prints the speed-up and
//! `ratio` = measured / goal.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const TENANTS: usize = 20;
const USERS: &str = "200";
const RU_PER_10S: &str = "100";

fn main() {
    let bin = env!("CARGO_BIN_EXE_authbulk");
    let mut sim = Command::new(bin)
        .args(["sim", "--listen", "127.0.0.1:0", "--users", USERS])
        .args(["--ru-per-10s", RU_PER_10S])
        .args(["--tenants", &(TENANTS + 1).to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the simulator");
    let mut url = String::new();
    let mut creds = Vec::new();
    for line in BufReader::new(sim.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let t = line.trim();
        if let Some(u) = t.strip_prefix("graph root:") {
            url = u.trim().to_string();
        }
        let words: Vec<&str> = t.split_whitespace().collect();
        if let [tenant, "client", "id", client, "client", "secret", secret] = words.as_slice() {
            creds.push((tenant.to_string(), client.to_string(), secret.to_string()));
        }
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    assert_eq!(creds.len(), TENANTS + 1, "the tenants printed");
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, rows: &[(String, String, String)]| -> f64 {
        let file = dir.path().join(format!("{name}.csv"));
        let mut text = String::from("tenant,credential,client_id\n");
        for (i, (tenant, client, _)) in rows.iter().enumerate() {
            text.push_str(&format!("{tenant},secret-env:S{i},{client}\n"));
        }
        std::fs::write(&file, text).unwrap();
        let mut command = Command::new(bin);
        command
            .args(["run", "--all-users", "--action", "list", "--yes"])
            .arg("--tenants")
            .arg(&file)
            .args(["--tenant-concurrency", &TENANTS.to_string()])
            .args(["--graph-url", &url])
            .arg("--report")
            .arg(dir.path().join(format!("{name}-report.csv")))
            .env("AZURE_AUTHORITY_HOST", &url)
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        for (i, (_, _, secret)) in rows.iter().enumerate() {
            command.env(format!("S{i}"), secret);
        }
        let start = Instant::now();
        let status = command.status().unwrap();
        let secs = start.elapsed().as_secs_f64();
        assert!(status.success(), "{name}: {status}");
        rows_in(&dir.path().join(format!("{name}-report.csv")));
        secs
    };
    let one = run("one", &creds[..1]);
    let many = run("many", &creds[1..]);
    let one_after_another = one * TENANTS as f64;
    let speedup = one_after_another / many;
    let goal = TENANTS as f64;
    println!(
        "tenants: {TENANTS} tenants x {USERS} users, `--all-users --action list`, each tenant's \
         budget {RU_PER_10S} resource units per 10 s (simulator in its own process)"
    );
    println!("  one tenant alone                {one:.2} s");
    println!("  {TENANTS} tenants at once              {many:.2} s");
    println!("  one after another (one x {TENANTS})    {one_after_another:.2} s");
    println!("  speed-up                        {speedup:.1}x (goal {goal:.0}x)");
    println!("  ratio                           {:.2}", speedup / goal);
    let _ = sim.kill();
    let _ = sim.wait();
}

/// The report's rows (a check that the run did its work).
fn rows_in(path: &Path) -> usize {
    let n = csv::Reader::from_path(path).unwrap().records().count();
    assert!(n > 0, "{} has rows", path.display());
    n
}
