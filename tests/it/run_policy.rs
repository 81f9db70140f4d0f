//! Policy-aware plans through the `authbulk` binary against a simulator started in the test:
//! the run reads the authentication methods policy once and refuses in the plan what it will
//! refuse (a pass lifetime outside the TAP policy, the TAP method disabled, SMS sign-in
//! disabled), reported `skipped` (`policyRefuses`) with no request sent, in the dry run and the
//! apply alike; `--strict` makes them `failed`; without permission to read the policy the run
//! warns and Graph's own refusal is reported.

use crate::support::report::Row;
use crate::support::tenant::*;
use authbulk::sim::{SimConfig, TapPolicy, upn};
use serde_json::Value;

fn tap_policy(min: u32, max: u32) -> TapPolicy {
    TapPolicy {
        min_minutes: min,
        max_minutes: max,
        default_minutes: min,
        ..TapPolicy::default()
    }
}

async fn sim(config: SimConfig) -> Tenant {
    tenant_with(SimConfig {
        users: 40,
        unthrottled: true,
        ..config
    })
    .await
}

fn in_tap_policy(s: &Value) -> bool {
    s["tapPolicyTarget"] == true
}

fn refusal(run: &Run, user: usize) -> Row {
    let rows: Vec<&Row> = run
        .of(&upn(user))
        .into_iter()
        .filter(|r| !r["error_code"].is_empty())
        .collect();
    assert_eq!(rows.len(), 1, "{:#?}\n{}", run.report, run.stderr);
    rows[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_longer_than_the_policy_allows_is_skipped_without_a_request() {
    let t = sim(SimConfig {
        tap_policy: tap_policy(10, 60),
        ..SimConfig::default()
    })
    .await;
    let mut taken = Vec::new();
    let long = t.pick(&mut taken, in_tap_policy);
    let fine = t.pick(&mut taken, in_tap_policy);
    let job = t.job(
        "taps.csv",
        &format!(
            "user,action,lifetime_minutes\n{},issue-tap,120\n{},issue-tap,30\n",
            upn(long),
            upn(fine)
        ),
    );
    let job = job.to_str().unwrap();
    let taps = t.path("taps-out.csv");
    let taps = taps.to_str().unwrap();

    let dry = t
        .run("dry.csv", &[job, "--dry-run", "--tap-out", taps])
        .await;
    dry.expect_code(0);
    assert_eq!(t.sim.counters().writes, 0);
    let refused = refusal(&dry, long);
    assert_eq!(
        (refused["status"].as_str(), refused["error_code"].as_str()),
        ("skipped", "policyRefuses")
    );
    assert_eq!(
        dry.steps_of(&upn(fine)),
        [("issue temporaryAccessPass".into(), "planned".into())]
    );

    t.sim.reset_counters();
    let apply = t.run("apply.csv", &[job, "--yes", "--tap-out", taps]).await;
    apply.expect_code(0);
    let refused = refusal(&apply, long);
    assert_eq!(refused["status"], "skipped");
    assert_eq!(refused["error_code"], "policyRefuses");
    assert_eq!(refused["step"], "issue temporaryAccessPass");
    assert!(
        refused["error_message"].contains("10 to 60 minutes"),
        "{refused:?}"
    );
    assert_eq!(refused["http_status"], "");
    assert_eq!(t.state(long)["tapsIssued"], 0);
    assert_eq!(t.state(fine)["tapsIssued"], 1);
    assert_eq!(
        t.sim.counters().writes,
        1,
        "only the pass the policy allows is sent"
    );
    // The dry run's totals are the apply's.
    assert_eq!(
        dry.statuses().get("skipped"),
        apply.statuses().get("skipped")
    );
    assert_eq!(dry.statuses().get("planned"), apply.statuses().get("ok"));

    // --strict: the same refusal fails the run.
    let strict_job = t.job(
        "strict.csv",
        &format!(
            "user,action,lifetime_minutes\n{},issue-tap,120\n",
            upn(long)
        ),
    );
    let strict = t
        .run(
            "strict-report.csv",
            &[
                strict_job.to_str().unwrap(),
                "--yes",
                "--strict",
                "--tap-out",
                &t.path("taps2.csv").to_string_lossy(),
            ],
        )
        .await;
    strict.expect_code(1);
    assert_eq!(refusal(&strict, long)["status"], "failed");
    assert_eq!(t.state(long)["tapsIssued"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_pass_method_refuses_passes_and_the_resets_that_ask_for_one() {
    let t = sim(SimConfig {
        tap_policy: TapPolicy {
            enabled: false,
            ..TapPolicy::default()
        },
        ..SimConfig::default()
    })
    .await;
    let mut taken = Vec::new();
    let tap_user = t.pick(&mut taken, in_tap_policy);
    let reset_user = t.pick(&mut taken, |s| {
        in_tap_policy(s) && non_password(s).len() >= 2
    });
    let methods_before = t.state(reset_user)["methods"].clone();
    let job = t.job(
        "job.csv",
        &format!(
            "user,action,issue_tap\n{},issue-tap,\n{},reset-mfa,true\n",
            upn(tap_user),
            upn(reset_user)
        ),
    );
    let run = t
        .run(
            "r.csv",
            &[
                job.to_str().unwrap(),
                "--yes",
                "--tap-out",
                &t.path("p.csv").to_string_lossy(),
            ],
        )
        .await;
    run.expect_code(0);
    let tap = refusal(&run, tap_user);
    assert_eq!(
        (tap["status"].as_str(), tap["error_code"].as_str()),
        ("skipped", "policyRefuses")
    );
    assert!(tap["error_message"].contains("disabled"), "{tap:?}");
    let reset = refusal(&run, reset_user);
    assert_eq!(reset["status"], "skipped");
    assert_eq!(reset["step"], "reset mfa");
    assert!(
        reset["error_message"].contains("nothing was removed"),
        "{reset:?}"
    );
    assert_eq!(t.state(reset_user)["methods"], methods_before);
    assert_eq!(t.sim.counters().writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_sign_in_disabled_by_the_policy_is_skipped() {
    let t = sim(SimConfig {
        sms_sign_in_allowed: false,
        ..SimConfig::default()
    })
    .await;
    let user = t.find(|s| phone(s, "mobile").is_some());
    let job = t.job(
        "sms.csv",
        &format!("user,action\n{},enable-sms-signin\n", upn(user)),
    );
    let run = t.run("r.csv", &[job.to_str().unwrap(), "--yes"]).await;
    run.expect_code(0);
    let refused = refusal(&run, user);
    assert_eq!(refused["status"], "skipped");
    assert_eq!(refused["error_code"], "policyRefuses");
    assert_eq!(refused["step"], "enable smsSignIn");
    assert!(refused["error_message"].contains("disabled"), "{refused:?}");
    assert_eq!(t.sim.counters().writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_permission_to_read_the_policy_the_run_warns_and_graph_refuses() {
    let t = sim(SimConfig {
        tap_policy: tap_policy(10, 60),
        deny: [
            "Policy.Read.AuthenticationMethod".to_string(),
            "Policy.ReadWrite.AuthenticationMethod".to_string(),
        ]
        .into(),
        ..SimConfig::default()
    })
    .await;
    let user = t.find(in_tap_policy);
    let job = t.job(
        "taps.csv",
        &format!(
            "user,action,lifetime_minutes\n{},issue-tap,120\n",
            upn(user)
        ),
    );
    let run = t
        .run(
            "r.csv",
            &[
                job.to_str().unwrap(),
                "--yes",
                "--tap-out",
                &t.path("p.csv").to_string_lossy(),
            ],
        )
        .await;
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("cannot check the authentication methods policy"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Policy.Read.AuthenticationMethod"),
        "{}",
        run.stderr
    );
    let refused = refusal(&run, user);
    assert_eq!(refused["status"], "failed");
    assert_eq!(refused["http_status"], "400");
    assert_ne!(refused["error_code"], "policyRefuses");
    assert_eq!(t.state(user)["tapsIssued"], 0);
}
