//! `run` with the hardware OATH actions through the binary against an in-process simulator:
//! tokens imported with `tokens import` are assigned (and activated with the code a row gives,
//! checked by the simulator against the seed), a rerun is all unchanged and writes nothing, a
//! token another user holds is a clear failure, a wrong code fails the activation, unassign
//! returns the token to the inventory, a dry run writes nothing, neither the code nor the seed
//! reaches the report, the journal or the logs, and `--cloud usgov` refuses the rows.

use std::path::Path;
use std::process::Output;

use crate::support::binary::{against as authbulk, text};
use crate::support::oath::{SEEDS, SERIALS, seed_file, totp, wrong_code};
use authbulk::sim::{SimConfig, SimHandle, upn};
use authbulk::testing::report::Entry;
use authbulk::testing::report::Journal;
use serde_json::Value;

async fn sim() -> SimHandle {
    authbulk::sim::start(SimConfig {
        users: 30,
        unthrottled: true,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// Import the test tokens into the simulator's inventory.
fn import(sim: &SimHandle, dir: &Path) {
    std::fs::write(dir.join("seeds.csv"), seed_file()).unwrap();
    let out = authbulk(
        sim,
        dir,
        &["tokens", "import", "seeds.csv", "--report", "-"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// `run JOB --yes --report NAME.jsonl --keep-journal`: the output and the records.
fn run(sim: &SimHandle, dir: &Path, job: &str, name: &str, extra: &[&str]) -> (Output, Vec<Value>) {
    let report = format!("{name}.jsonl");
    let mut args = vec!["run", job, "--yes", "--report", &report];
    if !extra.contains(&"--dry-run") {
        args.push("--keep-journal");
    }
    args.extend_from_slice(extra);
    let out = authbulk(sim, dir, &args);
    let records = std::fs::read_to_string(dir.join(&report))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out, records)
}

fn steps(records: &[Value], user: &str) -> Vec<(String, String)> {
    records
        .iter()
        .filter(|r| r["user"] == user)
        .map(|r| {
            (
                r["step"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The listing, serial -> (status, holder id).
fn listing(sim: &SimHandle, dir: &Path, name: &str) -> Vec<(String, String, String)> {
    let file = format!("{name}.csv");
    let out = authbulk(sim, dir, &["tokens", "list", "--output", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut reader = csv::Reader::from_path(dir.join(&file)).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[1].to_string(), r[5].to_string(), r[8].to_string())
        })
        .filter(|(serial, _, _)| SERIALS.contains(&serial.as_str()))
        .collect()
}

fn user_id(sim: &SimHandle, i: usize) -> String {
    sim.user_id(i).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_assigned_activated_and_unassigned_once_each() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    import(&sim, dir);
    let code = totp(SEEDS[0], 30, false);
    let job = format!(
        "user,action,Serial Number,Verification Code\n\
         {},assign-oath-token,{},{code}\n\
         {},assign-oath-token,{},\n",
        upn(1),
        SERIALS[0],
        upn(2),
        SERIALS[1]
    );
    std::fs::write(dir.join("assign.csv"), &job).unwrap();
    let (out, records) = run(&sim, dir, "assign.csv", "assign", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first = format!("assign hardwareOath token {}", SERIALS[0]);
    let activate = format!("activate hardwareOath token {}", SERIALS[0]);
    assert_eq!(
        steps(&records, &upn(1)),
        [(first.clone(), "ok".into()), (activate, "ok".into())]
    );
    assert_eq!(
        steps(&records, &upn(2)),
        [(
            format!("assign hardwareOath token {}", SERIALS[1]),
            "ok".into()
        )]
    );
    let listed = listing(&sim, dir, "after-assign");
    assert!(listed.contains(&(SERIALS[0].into(), "activated".into(), user_id(&sim, 1))));
    assert!(listed.contains(&(SERIALS[1].into(), "assigned".into(), user_id(&sim, 2))));
    assert!(listed.contains(&(SERIALS[2].into(), "available".into(), String::new())));

    // Neither the code nor a seed reached the report, the journal or the logs.
    let journal = std::fs::read_to_string(dir.join("assign.jsonl.journal")).unwrap();
    let report = std::fs::read_to_string(dir.join("assign.jsonl")).unwrap();
    for (what, output) in [
        ("journal", journal),
        ("report", report),
        ("stderr", text(&out.stderr)),
        ("stdout", text(&out.stdout)),
    ] {
        assert!(
            !output.contains(&code),
            "{what} holds the verification code"
        );
        assert!(
            SEEDS.iter().all(|s| !output.contains(s)),
            "{what} holds a seed"
        );
    }

    // Again: nothing to do, nothing written.
    let writes = sim.counters().writes;
    let (again, records) = run(&sim, dir, "assign.csv", "again", &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert!(
        records.iter().all(|r| r["status"] == "unchanged"),
        "{records:?}"
    );
    assert_eq!(sim.counters().writes, writes);

    // A token someone else holds is refused, by name; a wrong code fails the activation.
    let job = format!(
        "user,action,serial_number,verification_code\n\
         {},assign-oath-token,{},\n\
         {},assign-oath-token,{},{}\n",
        upn(3),
        SERIALS[0],
        upn(4),
        SERIALS[2],
        wrong_code(SEEDS[2])
    );
    std::fs::write(dir.join("taken.csv"), job).unwrap();
    let (taken, records) = run(&sim, dir, "taken.csv", "taken", &[]);
    assert_eq!(taken.status.code(), Some(1), "{}", text(&taken.stderr));
    let held = records.iter().find(|r| r["user"] == upn(3)).unwrap();
    assert_eq!(held["status"], "failed");
    assert_eq!(held["error_code"], "tokenHeldByAnotherUser");
    assert!(
        held["error_message"]
            .as_str()
            .unwrap()
            .contains(&user_id(&sim, 1))
    );
    let wrong = steps(&records, &upn(4));
    assert_eq!(wrong[0].1, "ok");
    assert_eq!(wrong[1].1, "failed", "{records:?}");

    // Unassign: the token goes back to the inventory, once.
    let job = format!(
        "user,action,serial_number\n{},unassign-oath-token,{}\n",
        upn(1),
        SERIALS[0]
    );
    std::fs::write(dir.join("unassign.csv"), job).unwrap();
    let (out, records) = run(&sim, dir, "unassign.csv", "unassign", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        steps(&records, &upn(1)),
        [(
            format!("unassign hardwareOath token {}", SERIALS[0]),
            "ok".into()
        )]
    );
    let listed = listing(&sim, dir, "after-unassign");
    assert!(listed.contains(&(SERIALS[0].into(), "available".into(), String::new())));
    let (out, records) = run(&sim, dir, "unassign.csv", "unassign-again", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(records[0]["status"], "unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_plans_the_assignment_and_writes_nothing() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    import(&sim, dir);
    let job = format!(
        "user,action,serial_number,verification_code\n{},assign-oath-token,{},{}\n",
        upn(5),
        SERIALS[1],
        totp(SEEDS[1], 60, true)
    );
    std::fs::write(dir.join("job.csv"), job).unwrap();
    let writes = sim.counters().writes;
    let (out, records) = run(&sim, dir, "job.csv", "dry", &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        steps(&records, &upn(5)),
        [
            (
                format!("assign hardwareOath token {}", SERIALS[1]),
                "planned".into()
            ),
            (
                format!("activate hardwareOath token {}", SERIALS[1]),
                "planned".into()
            )
        ]
    );
    assert_eq!(sim.counters().writes, writes);
    let listed = listing(&sim, dir, "after-dry");
    assert!(listed.contains(&(SERIALS[1].into(), "available".into(), String::new())));
    // The real run activates with the SHA-256, 60-second token's code.
    let (out, records) = run(&sim, dir, "job.csv", "real", &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{} {records:?}",
        text(&out.stderr)
    );
    let listed = listing(&sim, dir, "after-real");
    assert!(listed.contains(&(SERIALS[1].into(), "activated".into(), user_id(&sim, 5))));
}

#[test]
fn a_national_cloud_refuses_the_rows_and_sends_nothing_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let job = format!(
        "user,action,serial_number\n{},assign-oath-token,X1\n{},unassign-oath-token,X2\n",
        upn(1),
        upn(2)
    );
    std::fs::write(dir.path().join("job.csv"), job).unwrap();
    let out = crate::support::binary::authbulk()
        .current_dir(dir.path())
        .args([
            "run",
            "job.csv",
            "--simulate",
            "--cloud",
            "usgov",
            "--yes",
            "--report",
            "r.jsonl",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report = std::fs::read_to_string(dir.path().join("r.jsonl")).unwrap();
    let records: Vec<Value> = report
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    for record in records {
        assert_eq!(record["status"], "failed");
        assert_eq!(record["error_code"], "notInCloud");
        assert!(
            record["error_message"]
                .as_str()
                .unwrap()
                .contains("hardware OATH")
        );
    }
}

#[test]
fn a_row_without_a_serial_or_with_a_bad_code_is_invalid_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let job = format!(
        "user,action,serial_number,verification_code\n{},assign-oath-token,,\n{},assign-oath-token,S1,12ab56\n",
        upn(1),
        upn(2)
    );
    std::fs::write(dir.path().join("job.csv"), job).unwrap();
    let out = crate::support::binary::authbulk()
        .current_dir(dir.path())
        .args(["validate", "job.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr) + &text(&out.stdout);
    assert!(stderr.contains("job.csv:2:"), "{stderr}");
    assert!(stderr.contains("serial_number"), "{stderr}");
    assert!(stderr.contains("job.csv:3:"), "{stderr}");
    assert!(!stderr.contains("12ab56"), "{stderr}");
}

/// A run killed after the token's activation reached the tenant but before its record reached
/// the journal: the resumed run finds the token activated, sends nothing and reports the
/// activation done before the interruption. The kill is made exact by cutting the journal of a
/// finished run back to what the killed run would have left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_run_does_not_assign_or_activate_twice() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    import(&sim, dir);
    let job = format!(
        "user,action,serial_number,verification_code\n{},assign-oath-token,{},{}\n",
        upn(7),
        SERIALS[2],
        totp(SEEDS[2], 30, false)
    );
    std::fs::write(dir.join("job.csv"), job).unwrap();
    let (out, records) = run(&sim, dir, "job.csv", "r", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(records.len(), 2, "{records:?}");
    let journal = dir.join("r.jsonl.journal");
    let entries = Journal::entries(&journal).unwrap();
    let mut dones = 0;
    let kept: Vec<Entry> = entries
        .into_iter()
        .filter(|entry| match entry {
            Entry::Row { .. } => false,
            Entry::Done { .. } => {
                dones += 1;
                dones == 1
            }
            _ => true,
        })
        .collect();
    assert_eq!(
        dones, 2,
        "two finished records: the assignment and the activation"
    );
    Journal::write_entries(&journal, &kept).unwrap();
    let writes = sim.counters().writes;
    let resumed = authbulk(
        &sim,
        dir,
        &["run", "job.csv", "--yes", "--report", "r.jsonl", "--resume"],
    );
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed.stderr));
    assert_eq!(sim.counters().writes, writes, "nothing sent again");
    let records: Vec<Value> = std::fs::read_to_string(dir.join("r.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let steps = steps(&records, &upn(7));
    assert_eq!(
        steps,
        [
            (
                format!("assign hardwareOath token {}", SERIALS[2]),
                "ok".into()
            ),
            (
                format!("activate hardwareOath token {}", SERIALS[2]),
                "ok".into()
            )
        ],
        "{records:?}"
    );
    assert!(
        records[1]["after"]
            .as_str()
            .unwrap()
            .contains("done before the interruption")
    );
}
