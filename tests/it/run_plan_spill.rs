//! The plan of a dry run with more records and more users than the plan keeps in memory (the
//! rest go to an unnamed temporary file and are merged back when it is printed): every user is printed once,
//! users in the order of their first row, each with all of their changes, and the totals count
//! the users to change as the report does.

use std::collections::{BTreeSet, HashSet};

use crate::support::report::Row;
use crate::support::tenant::*;
use authbulk::sim::SimConfig;

/// Records the plan keeps in memory before it spills (`plan::spill::DEFAULT_LIMIT`).
const IN_MEMORY: usize = 4096;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_larger_than_memory_holds_prints_each_user_once_in_row_order() {
    let t = tenant_with(SimConfig {
        users: 6_000,
        unthrottled: true,
        ..SimConfig::default()
    })
    .await;
    let run = t
        .run(
            "dry.csv",
            &[
                "--all-users",
                "--action",
                "reset-mfa",
                "--dry-run",
                "--ru-per-10s",
                "10000000",
                "--concurrency",
                "32",
            ],
        )
        .await;
    assert!(matches!(run.code, Some(0 | 1)), "{}", run.stderr);
    let planned: Vec<&Row> = run
        .report
        .iter()
        .filter(|r| r["status"] == "planned")
        .collect();
    let failed = run
        .report
        .iter()
        .filter(|r| r["status"] == "failed")
        .count();
    assert!(
        planned.len() > 2 * IN_MEMORY,
        "{} planned: the plan must spill",
        planned.len()
    );

    // The printed plan: a user's line, then that user's changes, each naming its row.
    let mut users: Vec<(String, Vec<u64>)> = Vec::new();
    let (mut changes, mut failures) = (0, 0);
    let mut totals = None;
    for line in run.stdout.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("Plan: ") {
            totals = Some(rest.to_string());
        } else if let Some(change) = line.strip_prefix("  ") {
            let row: u64 = change
                .rsplit_once("(row ")
                .and_then(|(_, r)| r.split_once(','))
                .map(|(n, _)| n.parse().unwrap())
                .unwrap_or_else(|| panic!("no row in {line:?}"));
            match change.chars().next() {
                Some('!') => failures += 1,
                Some('+' | '-' | '~' | '>') => changes += 1,
                _ => {}
            }
            users.last_mut().expect("a user first").1.push(row);
        } else {
            users.push((line.to_string(), Vec::new()));
        }
    }
    assert_eq!(changes, planned.len(), "every planned change is printed");
    assert_eq!(failures, failed, "every failure is printed");
    let names: HashSet<&str> = users.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(names.len(), users.len(), "each user once");
    for (user, rows) in &users {
        assert!(!rows.is_empty(), "{user} has its lines");
        assert!(rows.windows(2).all(|w| w[0] <= w[1]), "{user}: {rows:?}");
    }
    let firsts: Vec<u64> = users.iter().map(|(_, rows)| rows[0]).collect();
    assert!(
        firsts.windows(2).all(|w| w[0] < w[1]),
        "users in the order of their first row"
    );
    let changed: BTreeSet<&str> = planned.iter().map(|r| r["user"].as_str()).collect();
    assert!(
        changed.len() > IN_MEMORY,
        "{} users: the grouping must spill too",
        changed.len()
    );
    let totals = totals.expect("the totals");
    assert!(
        totals.starts_with(&format!("{} users to change", changed.len())),
        "{totals}"
    );
}
