//! The guards around writing, through the `authbulk` binary against a simulator started in the
//! test: `--dry-run` sends GETs only, a run without a terminal needs `--yes`, `--max-changes`
//! refuses a larger plan, `--exclude` leaves users untouched, and the targets `--all-users
//! [--filter]` and `--group` work with `--action`.

use std::collections::BTreeSet;

use crate::support::tenant::*;
use authbulk::sim::upn;
use serde_json::Value;

/// A reset of the first `n` users with more than the password: a job that writes.
fn reset_job(t: &Tenant, n: usize) -> (String, Vec<usize>) {
    let users: Vec<usize> = (0..t.users)
        .filter(|&i| !non_password(&t.state(i)).is_empty())
        .take(n)
        .collect();
    let mut text = String::from("user,action\n");
    for &i in &users {
        text.push_str(&format!("{},reset-mfa\n", upn(i)));
    }
    let path = t.job("reset.csv", &text);
    (path.to_str().unwrap().to_string(), users)
}

fn methods_snapshot(t: &Tenant) -> Vec<Value> {
    (0..t.users)
        .map(|i| t.state(i)["methods"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_sends_gets_only_and_plans_what_the_apply_then_does() {
    let t = tenant(60).await;
    let (job, users) = reset_job(&t, 12);
    let before = methods_snapshot(&t);
    let dry = t.run("dry.csv", &[&job, "--dry-run"]).await;
    dry.expect_code(0);
    let counters = t.sim.counters();
    assert_eq!(counters.writes, 0, "{counters:?}");
    assert!(counters.reads > 0);
    assert!(counters.writes_per_user.is_empty());
    assert_eq!(methods_snapshot(&t), before);
    let planned = dry.statuses().get("planned").copied().unwrap_or(0);
    assert!(planned >= users.len(), "{:?}", dry.statuses());
    assert!(dry.stdout.contains("Plan:"), "{}", dry.stdout);

    t.sim.reset_counters();
    let apply = t.run("apply.csv", &[&job, "--yes"]).await;
    apply.expect_code(0);
    assert_eq!(apply.statuses().get("ok").copied(), Some(planned));
    assert_eq!(t.sim.counters().writes as usize, planned);
    let planned_steps: BTreeSet<(String, String)> = dry
        .report
        .iter()
        .map(|r| (r["user"].clone(), r["step"].clone()))
        .collect();
    let done_steps: BTreeSet<(String, String)> = apply
        .report
        .iter()
        .map(|r| (r["user"].clone(), r["step"].clone()))
        .collect();
    assert_eq!(planned_steps, done_steps);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_without_a_terminal_and_without_yes_exits_2_before_any_request() {
    let t = tenant(30).await;
    let (job, _) = reset_job(&t, 5);
    let run = t.run("noyes.csv", &[&job]).await;
    run.expect_code(2);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    let counters = t.sim.counters();
    assert_eq!(counters.writes, 0);
    assert_eq!(counters.http_requests, 0, "{counters:?}");
    assert!(!t.path("noyes.csv").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_changes_refuses_a_larger_plan_with_exit_2_and_allows_a_smaller_one() {
    let t = tenant(40).await;
    let (job, _) = reset_job(&t, 6);
    let before = methods_snapshot(&t);
    let refused = t
        .run("refused.csv", &[&job, "--yes", "--max-changes", "3"])
        .await;
    refused.expect_code(2);
    assert!(
        refused.stderr.contains("--max-changes 3"),
        "{}",
        refused.stderr
    );
    assert_eq!(t.sim.counters().writes, 0);
    assert_eq!(methods_snapshot(&t), before);
    assert!(!t.path("refused.csv").exists());

    let dry = t.run("dry.csv", &[&job, "--dry-run"]).await;
    let planned = dry.statuses()["planned"].to_string();
    t.sim.reset_counters();
    let allowed = t
        .run("allowed.csv", &[&job, "--yes", "--max-changes", &planned])
        .await;
    allowed.expect_code(0);
    assert_eq!(t.sim.counters().writes.to_string(), planned);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excluded_users_are_reported_skipped_and_never_written() {
    let t = tenant(40).await;
    let (job, users) = reset_job(&t, 6);
    let by_upn = users[0];
    let by_id = users[1];
    let by_file = users[2];
    let file = t.job("exclude.txt", &format!("# incident 42\n{}\n", upn(by_file)));
    let id = t.state(by_id)["id"].as_str().unwrap().to_string();
    let exclude_file = format!("@{}", file.display());
    let run = t
        .run(
            "excluded.csv",
            &[
                &job,
                "--yes",
                "--exclude",
                &upn(by_upn).to_uppercase(),
                "--exclude",
                &id,
                "--exclude",
                &exclude_file,
            ],
        )
        .await;
    run.expect_code(0);
    for i in [by_upn, by_id, by_file] {
        let records = run.of(&upn(i));
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0]["status"], "skipped");
        assert_eq!(records[0]["error_code"], "excluded");
        assert_eq!(t.state(i)["writes"], 0);
        assert!(!non_password(&t.state(i)).is_empty());
    }
    for &i in &users[3..] {
        assert!(non_password(&t.state(i)).is_empty(), "{}", t.state(i));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_users_with_a_filter_runs_the_action_on_exactly_the_matching_users() {
    let t = tenant(120).await;
    let run = t
        .run(
            "filtered.csv",
            &[
                "--all-users",
                "--filter",
                "startswith(userPrincipalName,'user0001')",
                "--action",
                "set-email",
                "--email",
                "helpdesk@example.com",
                "--yes",
            ],
        )
        .await;
    run.expect_code(0);
    let matching: BTreeSet<String> = (0..t.users)
        .map(upn)
        .filter(|u| u.starts_with("user0001"))
        .collect();
    let reported: BTreeSet<String> = run.report.iter().map(|r| r["user"].clone()).collect();
    assert_eq!(reported, matching);
    for i in 0..t.users {
        let address = methods_of(&t.state(i), "email")
            .first()
            .map(|e| e["emailAddress"].as_str().unwrap().to_string());
        assert_eq!(
            address.as_deref() == Some("helpdesk@example.com"),
            matching.contains(&upn(i)),
            "user {i}"
        );
    }
    let written: BTreeSet<String> = t.sim.counters().writes_per_user.into_keys().collect();
    assert!(written.is_subset(&matching));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_target_reaches_its_transitive_members_with_the_action() {
    let t = tenant(100).await;
    let groups = t.sim.groups();
    let engineering = groups
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["displayName"] == "Engineering")
        .unwrap();
    let run = t
        .run(
            "group.csv",
            &[
                "--group",
                engineering["id"].as_str().unwrap(),
                "--action",
                "revoke-sessions",
                "--yes",
            ],
        )
        .await;
    run.expect_code(0);
    let revoked: BTreeSet<String> = (0..t.users)
        .filter(|&i| t.state(i)["sessionsRevoked"] == 1)
        .map(upn)
        .collect();
    let reported: BTreeSet<String> = run.report.iter().map(|r| r["user"].clone()).collect();
    assert_eq!(revoked, reported);
    assert_eq!(
        revoked.len() as u64,
        engineering["transitiveUsers"].as_u64().unwrap()
    );
    assert!(revoked.len() > engineering["directUsers"].as_u64().unwrap() as usize);
    assert!(run.report.iter().all(|r| r["status"] == "ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_excluded_by_object_id_are_skipped_in_enumerated_targets_too() {
    let t = tenant(60).await;
    let excluded = [3usize, 21];
    let ids: Vec<String> = excluded
        .iter()
        .map(|&i| t.state(i)["id"].as_str().unwrap().to_string())
        .collect();
    let run = t
        .run(
            "targets.jsonl",
            &[
                "--all-users",
                "--action",
                "revoke-sessions",
                "--exclude",
                &ids[0],
                "--exclude",
                &upn(excluded[1]),
                "--yes",
            ],
        )
        .await;
    run.expect_code(0);
    for i in 0..t.users {
        let skipped = excluded.contains(&i);
        assert_eq!(t.state(i)["sessionsRevoked"] == 0, skipped, "user {i}");
        let records = run.of(&upn(i));
        assert_eq!(records.len(), 1, "user {i}: {records:?}");
        let status = if skipped { "skipped" } else { "ok" };
        assert_eq!(records[0]["status"], status, "user {i}");
    }
    assert_eq!(t.sim.counters().writes as usize, t.users - excluded.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_named_like_columns_fill_the_rows_and_a_dry_run_never_creates_the_tap_out_file() {
    let t = tenant(80).await;
    let mut taken = Vec::new();
    let fido = t.pick(&mut taken, |s| !methods_of(s, "fido2").is_empty());
    let tap = t.pick(&mut taken, |s| {
        s["tapPolicyTarget"] == true && methods_of(s, "fido2").is_empty()
    });
    // A job of users only: the action and its parameter come from the flags.
    let job = t.job("users.csv", &format!("UPN\n{}\n{}\n", upn(fido), upn(tap)));
    let job = job.to_str().unwrap();
    let taps = t.path("taps.csv");
    let taps = taps.to_str().unwrap();
    let dry = t
        .run(
            "dry.csv",
            &[
                job,
                "--action",
                "remove-method",
                "--method-type",
                "FIDO2",
                "--dry-run",
            ],
        )
        .await;
    dry.expect_code(0);
    assert_eq!(dry.of(&upn(fido))[0]["status"], "planned");
    assert_eq!(dry.of(&upn(tap))[0]["status"], "unchanged");

    let pass_dry = t
        .run(
            "tapdry.csv",
            &[job, "--action", "issue-tap", "--dry-run", "--tap-out", taps],
        )
        .await;
    pass_dry.expect_code(0);
    assert!(!std::path::Path::new(taps).exists());
    assert_eq!(t.sim.counters().writes, 0);

    let apply = t
        .run(
            "apply.csv",
            &[
                job,
                "--action",
                "remove-method",
                "--method-type",
                "fido2",
                "--yes",
            ],
        )
        .await;
    apply.expect_code(0);
    assert!(methods_of(&t.state(fido), "fido2").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_groups_reach_each_member_once() {
    let t = tenant(100).await;
    let groups = t.sim.groups();
    let id_of = |name: &str| {
        groups
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["displayName"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (sales, pilot) = (id_of("Sales"), id_of("Pilot"));
    let run = t
        .run(
            "groups.jsonl",
            &[
                "--group",
                &sales,
                "--group",
                &pilot,
                "--action",
                "revoke-sessions",
                "--yes",
            ],
        )
        .await;
    run.expect_code(0);
    let mut reported: Vec<String> = run.report.iter().map(|r| r["user"].clone()).collect();
    let total = reported.len();
    reported.sort();
    reported.dedup();
    assert_eq!(reported.len(), total, "a user was reported twice");
    for i in 0..t.users {
        let member = i % 10 == 0 || i < 30;
        assert_eq!(t.state(i)["sessionsRevoked"], u64::from(member), "user {i}");
    }
}
