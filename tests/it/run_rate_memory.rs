//! The rate memory, through the binary against a simulator in its own process: a run the
//! service slowed down (its warnings, not 429s: the engine settles below a far smaller bucket
//! than its caps) keeps the rate it allowed (per tenant and app, in `--rate-memory DIR`), the
//! next run starts there, `--forget-rate` starts at the budget, and a run against a
//! `--graph-url` keeps no memory unless told where.

use std::path::Path;

use crate::support::process::SimProcess;
use serde_json::Value;

const USERS: usize = 600;

/// List every user's methods (reads only), with the summary as JSON; (exit code, stderr,
/// throttled answers).
fn list(sim: &SimProcess, dir: &Path, run: &str, extra: &[&str]) -> (Option<i32>, String, u64) {
    let summary = dir.join(format!("{run}.json"));
    let mut args = vec![
        "--all-users",
        "--action",
        "list",
        "--yes",
        "--summary-json",
        summary.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = sim
        .run(&args)
        .env("XDG_STATE_HOME", dir.join("state"))
        // The run's default report goes to the working directory.
        .current_dir(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary: Value = std::fs::read_to_string(&summary)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    let throttled = summary["traffic"]["throttled"].as_u64().unwrap_or(0);
    (out.status.code(), stderr, throttled)
}

fn memory_files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[test]
fn a_slowed_run_is_remembered_and_the_next_run_starts_there() {
    // 300 resource units per 10 s, far below the engine's default cap (8,000): a budget it
    // does not know.
    let sim = SimProcess::start(&["--users", &USERS.to_string(), "--ru-per-10s", "300"]);
    let dir = tempfile::tempdir().unwrap();
    let rates = dir.path().join("rates");
    let memory = ["--rate-memory", rates.to_str().unwrap()];

    let (code, stderr, first) = list(&sim, dir.path(), "first", &memory);
    assert_eq!(code, Some(0), "{stderr}");
    // The service's warnings (80 % of its bucket used) held the engine below the limit rather
    // than its 429s: at most 1 % of the reads.
    assert!(
        first * 100 <= USERS as u64,
        "{first} of {USERS} reads answered 429"
    );
    assert!(!stderr.contains("rate: starting at"), "{stderr}");
    let files = memory_files(&rates);
    assert_eq!(
        files.len(),
        1,
        "one memory for the tenant and app: {files:?}"
    );
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.ends_with(".json") && name.contains('_'),
        "named <tenant>_<app>.json: {name}"
    );
    let kept: Value = serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    let rate = kept["ru"]["rate"].as_f64().expect("a resource-unit rate");
    // The service allows 30/s; the engine's cap is 800/s.
    assert!(
        (10.0..60.0).contains(&rate),
        "near the service's 30/s: {kept}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let keys: Vec<&String> = kept.as_object().unwrap().keys().collect();
    assert!(
        keys.iter()
            .all(|k| ["tenant", "app", "learned_at", "ru", "writes"].contains(&k.as_str())),
        "rates only, no credential: {keys:?}"
    );

    // The service's bucket refills while the next run starts at the remembered rate.
    std::thread::sleep(std::time::Duration::from_secs(10));
    let (code, stderr, second) = list(&sim, dir.path(), "second", &memory);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("rate: starting at"), "{stderr}");
    assert!(
        second * 100 <= USERS as u64,
        "{second} of {USERS} reads answered 429"
    );

    // --forget-rate: the budget again, and no memory unless this run is slowed again (it is:
    // the service's warnings came long before the engine's cap was used, as in the first run).
    std::thread::sleep(std::time::Duration::from_secs(10));
    let before = std::fs::read_to_string(&files[0]).unwrap();
    let mut forget = memory.to_vec();
    forget.push("--forget-rate");
    let (code, stderr, _) = list(&sim, dir.path(), "third", &forget);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("rate: starting at"), "{stderr}");
    let after = std::fs::read_to_string(&files[0]).expect("slowed again, kept again");
    assert_ne!(before, after, "what the third run learned");

    // Without --rate-memory, a --graph-url run keeps nothing in the state directory, though
    // it learned a rate as the third run did (the same service, its bucket full again).
    std::thread::sleep(std::time::Duration::from_secs(10));
    let (code, stderr, _) = list(&sim, dir.path(), "fourth", &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        memory_files(&dir.path().join("state").join("authbulk").join("rates")).is_empty(),
        "a simulator's rates never reach the state directory"
    );
}
