//! `run --tenants FILE` through the binary against `authbulk sim --tenants N` in its own
//! process: one job in every tenant, one report with a tenant column, a summary per tenant,
//! each tenant's traffic in that tenant only, a bad credential in one tenant while the others
//! complete, budgets per tenant, and a bad tenants file refused by file and line.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::support::binary::authbulk;
use crate::support::process::SimProcess;

/// (tenant id, client id, secret) of each tenant the simulator serves.
fn tenants(sim: &SimProcess) -> Vec<(String, String, String)> {
    sim.introspect("tenants")
        .as_array()
        .expect("a list of tenants")
        .iter()
        .map(|t| {
            let f = |k: &str| t[k].as_str().expect("a string field").to_string();
            (f("tenantId"), f("clientId"), f("clientSecret"))
        })
        .collect()
}

/// `authbulk run --tenants FILE args` in `dir`, the secrets in S0, S1, ... (`secrets`).
fn run_tenants(
    sim: &SimProcess,
    file: &Path,
    secrets: &[String],
    args: &[&str],
    dir: &Path,
) -> Output {
    let mut command = authbulk();
    command
        .arg("run")
        .arg("--tenants")
        .arg(file)
        .args(args)
        .args(["--graph-url", &sim.url])
        .current_dir(dir)
        .env("AZURE_AUTHORITY_HOST", &sim.url);
    for (i, secret) in secrets.iter().enumerate() {
        command.env(format!("S{i}"), secret);
    }
    command.output().expect("run the binary")
}

fn tenants_file(dir: &Path, tenants: &[(String, String, String)]) -> std::path::PathBuf {
    let mut text = String::from("tenant,credential,client_id,name\n");
    for (i, (tenant, client, _)) in tenants.iter().enumerate() {
        text.push_str(&format!("{tenant},secret-env:S{i},{client},T{i}\n"));
    }
    let path = dir.join("tenants.csv");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn one_job_in_every_tenant_with_one_report_and_a_summary_each_while_a_bad_credential_stays_alone() {
    let sim = SimProcess::start(&["--tenants", "3", "--users", "40", "--unthrottled"]);
    let tenants = tenants(&sim);
    assert_eq!(tenants.len(), 3);
    let dir = tempfile::tempdir().unwrap();
    let file = tenants_file(dir.path(), &tenants);
    let mut secrets: Vec<String> = tenants.iter().map(|t| t.2.clone()).collect();
    secrets[2] = "not-the-secret".into();
    let out = run_tenants(
        &sim,
        &file,
        &secrets,
        &[
            "--all-users",
            "--action",
            "list",
            "--yes",
            "--report",
            "r.csv",
            "--summary-json",
            "s.json",
        ],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "the worst tenant's: {stderr}");
    assert!(
        stderr.contains("error: tenant T2 (") && stderr.contains("AADSTS7000215"),
        "{stderr}"
    );
    for (i, tenant) in tenants.iter().enumerate().take(2) {
        assert!(
            stderr.contains(&format!("== tenant T{i} ({}): exit code 0 ==", tenant.0)),
            "{stderr}"
        );
    }
    assert!(
        stderr.contains("== all 3 tenants: exit code 2 =="),
        "{stderr}"
    );

    let mut reader = csv::Reader::from_path(dir.path().join("r.csv")).unwrap();
    assert_eq!(&reader.headers().unwrap()[0], "tenant");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("s.json")).unwrap()).unwrap();
    for i in 0..2 {
        let in_report = rows.iter().filter(|r| r[0] == tenants[i].0).count() as u64;
        let entry = &summary["tenants"][i];
        assert_eq!(entry["tenant"], tenants[i].0.as_str());
        assert_eq!(entry["exit_code"], 0);
        assert_eq!(entry["summary"]["by_status"]["ok"], in_report, "{entry}");
        // Every user of the tenant was read, in that tenant.
        let users: std::collections::BTreeSet<&str> = rows
            .iter()
            .filter(|r| r[0] == tenants[i].0)
            .map(|r| r.get(2).unwrap())
            .collect();
        assert_eq!(users.len(), 40, "each user of tenant {i} is in the report");
        let counters = sim.introspect(&format!("tenants/{}/counters", tenants[i].0));
        assert!(
            counters["http_requests"].as_u64().unwrap() > 0,
            "{counters}"
        );
    }
    assert_eq!(summary["tenants"][2]["exit_code"], 2);
    assert!(summary["tenants"][2]["summary"].is_null());
    assert!(!rows.iter().any(|r| r[0] == tenants[2].0));
    // The tenant with the bad secret got a token request and no Graph call.
    let counters = sim.introspect(&format!("tenants/{}/counters", tenants[2].0));
    assert_eq!(
        counters["http_requests"].as_u64().unwrap(),
        counters["token_requests"].as_u64().unwrap(),
        "{counters}"
    );
    assert_eq!(
        summary["total"]["by_status"]["ok"],
        rows.len() as u64,
        "the total counts every row"
    );
}

#[test]
fn budgets_are_per_tenant_one_tenants_429s_are_its_own() {
    // 200 resource units per 10 s per app and tenant: each tenant is throttled on its own
    // buckets, so the 429s of one never reach another. The client follows the service's
    // signals alone (`--budget adaptive`, starting at the published budget), so its first reads
    // go at once into the far smaller bucket and meet 429s.
    let sim = SimProcess::start(&["--tenants", "2", "--users", "300", "--ru-per-10s", "200"]);
    let tenants = tenants(&sim);
    let dir = tempfile::tempdir().unwrap();
    // Only tenant 0 runs: tenant 1's buckets stay untouched.
    let file = tenants_file(dir.path(), &tenants[..1]);
    let secrets = vec![tenants[0].2.clone()];
    let out = run_tenants(
        &sim,
        &file,
        &secrets,
        &[
            "--all-users",
            "--action",
            "list",
            "--budget",
            "adaptive",
            "--yes",
            "--report",
            "r.csv",
        ],
        dir.path(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let busy = sim.introspect(&format!("tenants/{}/counters", tenants[0].0));
    let idle = sim.introspect(&format!("tenants/{}/counters", tenants[1].0));
    let throttled = |c: &Value| -> u64 {
        c["throttled"]
            .as_object()
            .map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
    };
    assert!(throttled(&busy) > 0, "tenant 0 met its budget: {busy}");
    assert_eq!(throttled(&idle), 0, "{idle}");
    assert_eq!(idle["http_requests"], 0, "{idle}");
}

#[test]
fn a_bad_tenants_file_is_refused_by_file_line_and_column_before_anything_begins() {
    let sim = SimProcess::start(&["--tenants", "2", "--users", "5", "--unthrottled"]);
    let tenants = tenants(&sim);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tenants.csv");
    std::fs::write(
        &file,
        format!(
            "tenant,credential,client_id\n{},secret-env:S0,{}\n{},password:hunter2,{}\n",
            tenants[0].0, tenants[0].1, tenants[1].0, tenants[1].1
        ),
    )
    .unwrap();
    let out = run_tenants(
        &sim,
        &file,
        &[tenants[0].2.clone()],
        &[
            "--all-users",
            "--action",
            "list",
            "--yes",
            "--report",
            "r.csv",
        ],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("tenants.csv:3: column credential: unknown credential scheme"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(!dir.path().join("r.csv").exists());
    let counters = sim.introspect(&format!("tenants/{}/counters", tenants[0].0));
    assert_eq!(counters["http_requests"], 0, "nothing was sent: {counters}");

    // The same tenant twice.
    std::fs::write(
        &file,
        format!(
            "tenant,credential,client_id\n{0},secret-env:S0,{1}\n{0},secret-env:S0,{1}\n",
            tenants[0].0, tenants[0].1
        ),
    )
    .unwrap();
    let out = run_tenants(
        &sim,
        &file,
        &[tenants[0].2.clone()],
        &["--all-users", "--action", "list", "--yes"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("tenants.csv:3: column tenant:") && stderr.contains("also on line 2"),
        "{stderr}"
    );
}
