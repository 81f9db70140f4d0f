//! Actions at tenant scale through the `authbulk` binary: a reset-mfa of 2,000 users with mixed
//! methods, and a dry-run of 10,000 users whose plan equals what the apply then does. The
//! simulator has no latency and budgets raised far above the published ones (the client's
//! budgets to match), so the tests measure the engine, not the throttle.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::support::tenant::*;
use authbulk::sim::SimConfig;

/// A simulator of `users` whose budgets never throttle these tests.
async fn big_tenant(users: usize) -> Tenant {
    tenant_with(SimConfig {
        users,
        ru_per_10s: Some(10_000_000.0),
        writes_per_150s: Some(10_000_000.0),
        tenant_writes_per_5min: Some(10_000_000.0),
        app_requests_per_10s: Some(10_000_000.0),
        ..SimConfig::default()
    })
    .await
}

/// The client's flags for the raised budgets.
const FAST: [&str; 6] = [
    "--ru-per-10s",
    "10000000",
    "--writes-per-150s",
    "10000000",
    "--concurrency",
    "32",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_mfa_of_2000_users_with_mixed_methods_leaves_each_with_only_a_password() {
    let t = big_tenant(2_000).await;
    let with_methods = (0..t.users)
        .filter(|&i| !non_password(&t.state(i)).is_empty())
        .count();
    let mut args = vec![
        "--all-users",
        "--action",
        "reset-mfa",
        "--yes",
        "--confirm-domain",
        "contoso.onmicrosoft.com",
    ];
    args.extend_from_slice(&FAST);
    let started = Instant::now();
    let run = t.run("reset.csv", &args).await;
    let took = started.elapsed();
    run.expect_code(0);
    let counters = t.sim.counters();
    eprintln!(
        "reset-mfa of {} users ({with_methods} with methods): {:.1}s, {} writes, {} reads, {} batches",
        t.users,
        took.as_secs_f64(),
        counters.writes,
        counters.reads,
        counters.batch_calls
    );
    for i in 0..t.users {
        let state = t.state(i);
        assert!(non_password(&state).is_empty(), "user {i}: {state}");
    }
    assert_eq!(run.statuses().get("failed"), None, "{:?}", run.statuses());
    for r in &run.report {
        assert!(
            !r["error_message"].to_lowercase().contains("default"),
            "{r:?}"
        );
    }
    let users_reported: std::collections::BTreeSet<&str> =
        run.report.iter().map(|r| r["user"].as_str()).collect();
    assert_eq!(users_reported.len(), t.users);
    assert_eq!(counters.throttled.values().sum::<u64>(), 0);

    // The same reset again: every user is already there, nothing is written.
    t.sim.reset_counters();
    let again = t.run("again.csv", &args).await;
    again.expect_code(0);
    assert_eq!(again.statuses().keys().collect::<Vec<_>>(), ["unchanged"]);
    assert_eq!(again.report.len(), t.users);
    assert_eq!(t.sim.counters().writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_of_10000_users_writes_nothing_and_its_totals_equal_the_apply() {
    let t = big_tenant(10_000).await;
    let mut args = vec![
        "--all-users",
        "--action",
        "remove-authenticator",
        "--older-than",
        "365d",
    ];
    args.extend_from_slice(&FAST);
    let mut dry_args = args.clone();
    dry_args.push("--dry-run");
    let started = Instant::now();
    let dry = t.run("dry.csv", &dry_args).await;
    let dry_took = started.elapsed();
    // Some users keep their default Authenticator (no staying method can take the default):
    // the plan reports those deletes skipped (a stable refusal), so the run exits 0, before and
    // after.
    dry.expect_code(0);
    let after_dry = t.sim.counters();
    assert_eq!(after_dry.writes, 0, "{after_dry:?}");
    assert!(after_dry.writes_per_user.is_empty());
    let planned = dry.statuses().get("planned").copied().unwrap_or(0);
    assert!(planned > 1_000, "{:?}", dry.statuses());

    t.sim.reset_counters();
    args.extend(["--yes", "--confirm-domain", "contoso.onmicrosoft.com"]);
    let started = Instant::now();
    let apply = t.run("apply.csv", &args).await;
    let apply_took = started.elapsed();
    apply.expect_code(0);
    let counters = t.sim.counters();
    eprintln!(
        "remove-authenticator --older-than 365d, 10,000 users: dry-run {:.1}s ({} reads, {planned} planned); apply {:.1}s ({} writes, {} reads)",
        dry_took.as_secs_f64(),
        after_dry.reads,
        apply_took.as_secs_f64(),
        counters.writes,
        counters.reads
    );
    // The plan's totals are what the apply did, step by step.
    let by_step = |run: &Run, status: &str| {
        let mut counts = BTreeMap::new();
        for r in run.report.iter().filter(|r| r["status"] == status) {
            *counts
                .entry(r["step"].split(' ').next().unwrap().to_string())
                .or_insert(0) += 1;
        }
        counts
    };
    assert_eq!(by_step(&dry, "planned"), by_step(&apply, "ok"));
    assert_eq!(apply.statuses().get("ok").copied(), Some(planned));
    assert_eq!(counters.writes as usize, planned);
    assert_eq!(by_step(&dry, "failed"), by_step(&apply, "failed"));
    let kept = by_step(&apply, "skipped");
    assert!(kept.get("delete").copied().unwrap_or(0) > 0, "{kept:?}");
    assert_eq!(by_step(&dry, "skipped"), kept);
    assert_eq!(
        dry.statuses().get("unchanged"),
        apply.statuses().get("unchanged")
    );
    assert_eq!(dry.report.len(), apply.report.len());
    // The run's own printed totals say the same.
    assert!(
        dry.stdout
            .contains(&format!("{} to delete", by_step(&apply, "ok")["delete"])),
        "{}",
        dry.stdout.lines().last().unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_mfa_through_503s_504s_and_dropped_connections_ends_with_only_passwords_and_no_duplicate_write()
 {
    let t = tenant_with(SimConfig {
        users: 150,
        unthrottled: true,
        faults: authbulk::sim::FaultRates {
            unavailable: 0.04,
            gateway_timeout: 0.02,
            reset: 0.05,
        },
        ..SimConfig::default()
    })
    .await;
    let methods_before: u64 = (0..t.users)
        .map(|i| non_password(&t.state(i)).len() as u64)
        .sum();
    let mut args = vec![
        "--all-users",
        "--action",
        "reset-mfa",
        "--yes",
        "--confirm-domain",
        "contoso.onmicrosoft.com",
    ];
    args.extend_from_slice(&FAST);
    let run = t.run("faults.csv", &args).await;
    let counters = t.sim.counters();
    eprintln!(
        "faults: {:?}; statuses {:?}",
        counters.faults,
        run.statuses()
    );
    run.expect_code(0);
    for i in 0..t.users {
        assert!(
            non_password(&t.state(i)).is_empty(),
            "user {i}: {}",
            t.state(i)
        );
    }
    // Exit 0 with every method gone: a delete whose answer was lost (dropped connection) was
    // not reported failed; and the tenant applied exactly one write per method it had.
    let applied: u64 = (0..t.users)
        .map(|i| t.state(i)["writes"].as_u64().unwrap())
        .sum();
    assert_eq!(applied, methods_before);
    assert!(counters.faults.values().sum::<u64>() > 0);
}
