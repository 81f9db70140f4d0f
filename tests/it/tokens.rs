//! `authbulk tokens import|list` through the binary against an in-process simulator: a seed
//! file is imported (a second import is all unchanged), a bad line is exit 2 naming the file
//! and line before any request, the seeds appear in no output, the listing shows who holds each
//! token, a missing permission and a national cloud are exit 2.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use crate::support::binary::{against, authbulk, text};
use crate::support::oath::{SEEDS, SERIALS, seed_file};
use crate::support::report::rows;
use authbulk::sim::{SimConfig, SimHandle};

/// `authbulk tokens <args>` against `sim`, in `dir`.
fn tokens(sim: &SimHandle, dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["tokens"];
    all.extend_from_slice(args);
    against(sim, dir, &all)
}

async fn sim(config: SimConfig) -> SimHandle {
    authbulk::sim::start(SimConfig {
        unthrottled: true,
        ..config
    })
    .await
    .unwrap()
}

fn users(n: usize) -> SimConfig {
    SimConfig {
        users: n,
        ..SimConfig::default()
    }
}

/// No seed, in any spelling, in `output`.
fn no_seed(what: &str, output: &str) {
    for seed in SEEDS {
        assert!(!output.contains(seed), "{what} holds a seed");
        assert!(
            !output.contains(&seed.to_lowercase()),
            "{what} holds a seed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_file_is_imported_once_and_listed_with_holders_never_with_seeds() {
    let sim = sim(users(30)).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("seeds.csv"), seed_file()).unwrap();
    let first = tokens(
        &sim,
        dir.path(),
        &["import", "seeds.csv", "--report", "first.csv"],
    );
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let report = rows(&dir.path().join("first.csv"));
    assert_eq!(report.len(), 3);
    for (row, serial) in report.iter().zip(SERIALS) {
        assert_eq!(row["serialNumber"], serial);
        assert_eq!(row["status"], "ok", "{row:?}");
        assert!(!row["id"].is_empty());
    }
    assert_eq!(report[0]["line"], "2");
    let writes = sim.counters().writes;
    assert_eq!(writes, 3);

    let second = tokens(
        &sim,
        dir.path(),
        &["import", "seeds.csv", "--report", "second.jsonl"],
    );
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    let again = std::fs::read_to_string(dir.path().join("second.jsonl")).unwrap();
    let statuses: Vec<String> = again
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["status"].to_string())
        .collect();
    assert_eq!(statuses, ["\"unchanged\""; 3]);
    assert_eq!(
        sim.counters().writes,
        writes,
        "a second import writes nothing"
    );

    let list = tokens(&sim, dir.path(), &["list", "--output", "tokens.csv"]);
    assert_eq!(list.status.code(), Some(0), "{}", text(&list.stderr));
    let listed = rows(&dir.path().join("tokens.csv"));
    for serial in SERIALS {
        let row = listed.iter().find(|r| r["serialNumber"] == serial).unwrap();
        assert_eq!(row["status"], "available");
        assert_eq!(row["assignedToId"], "");
    }
    // The generated tenant's own tokens are held: the listing names their holders.
    let held: Vec<_> = listed
        .iter()
        .filter(|r| !r["assignedToId"].is_empty())
        .collect();
    assert!(!held.is_empty());
    assert!(held.iter().all(|r| !r["assignedToName"].is_empty()));

    for (what, output) in [
        ("first stdout", text(&first.stdout)),
        ("first stderr", text(&first.stderr)),
        ("second stderr", text(&second.stderr)),
        ("list stderr", text(&list.stderr)),
        (
            "first report",
            std::fs::read_to_string(dir.path().join("first.csv")).unwrap(),
        ),
        ("second report", again),
        (
            "listing",
            std::fs::read_to_string(dir.path().join("tokens.csv")).unwrap(),
        ),
    ] {
        no_seed(what, &output);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_line_is_exit_2_naming_file_and_line_before_any_request() {
    let sim = sim(users(5)).await;
    let dir = tempfile::tempdir().unwrap();
    let bad = seed_file().replace(SEEDS[1], "JBSWY3DP!HPK3PXP0BSWY3DPEHPK3PXP");
    std::fs::write(dir.path().join("seeds.csv"), bad).unwrap();
    let out = tokens(
        &sim,
        dir.path(),
        &["import", "seeds.csv", "--report", "r.csv"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("seeds.csv:3: secret key is not base32"),
        "{stderr}"
    );
    assert!(!stderr.contains("JBSWY3DP!"), "{stderr}");
    no_seed("stderr", &stderr);
    assert_eq!(sim.counters().http_requests, 0, "nothing was sent");
    assert!(!dir.path().join("r.csv").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_reads_the_inventory_and_creates_nothing() {
    let sim = sim(users(5)).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("seeds.csv"), seed_file()).unwrap();
    let out = tokens(&sim, dir.path(), &["import", "seeds.csv", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).matches(",planned,").count(),
        3,
        "{}",
        text(&out.stdout)
    );
    assert_eq!(sim.counters().writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_policy_permission_the_import_is_exit_2_naming_it() {
    let sim = sim(SimConfig {
        users: 5,
        deny: BTreeSet::from(["Policy.ReadWrite.AuthenticationMethod".to_string()]),
        ..SimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("seeds.csv"), seed_file()).unwrap();
    let out = tokens(&sim, dir.path(), &["import", "seeds.csv"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("Policy.ReadWrite.AuthenticationMethod"),
        "{stderr}"
    );
    assert_eq!(sim.counters().writes, 0);
}

#[test]
fn a_national_cloud_is_refused_before_anything() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("seeds.csv"), seed_file()).unwrap();
    for args in [
        &[
            "tokens",
            "import",
            "seeds.csv",
            "--simulate",
            "--cloud",
            "usgov",
        ][..],
        &["tokens", "list", "--simulate", "--cloud", "china"][..],
    ] {
        let out = authbulk()
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = text(&out.stderr);
        assert!(stderr.contains("global cloud"), "{stderr}");
    }
}
