//! A scheduled cleanup through the `authbulk` binary against a simulator started in the test:
//! stable refusals (a default method nothing can take over) are `skipped` and the run exits 0,
//! `--strict` makes them `failed` (exit 1); defaults moved on the way are counted in the
//! summary and `--summary-json`; `--no-weaker-default` keeps a push default instead of falling
//! to SMS; `--default-order` decides the fallback and refuses a wrong name (exit 2); the dry
//! run's totals equal the apply's.

use crate::support::binary::authbulk;
use crate::support::report::Row;
use crate::support::tenant::*;
use authbulk::sim::upn;
use serde_json::Value;

const USERS: usize = 300;

fn has(state: &Value, kind: &str) -> bool {
    !methods_of(state, kind).is_empty()
}

/// Push default, Authenticator, a mobile phone, no OATH token: removing the Authenticator
/// moves the default to SMS.
fn push_falls_to_sms(s: &Value) -> bool {
    default_of(s).as_deref() == Some("push")
        && has(s, "microsoftAuthenticator")
        && phone(s, "mobile").is_some()
        && !has(s, "softwareOath")
        && !has(s, "hardwareOath")
}

/// Push default, Authenticator, no phone and no OATH, but another method that stays (FIDO2,
/// e-mail, Windows Hello...): nothing can take the default, so the last Authenticator is kept.
fn push_kept(s: &Value) -> bool {
    default_of(s).as_deref() == Some("push")
        && has(s, "microsoftAuthenticator")
        && !has(s, "phone")
        && !has(s, "softwareOath")
        && !has(s, "hardwareOath")
        && non_password(s)
            .iter()
            .any(|t| t != "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod")
}

/// Push default, Authenticator, a mobile phone and a software OATH token.
fn push_with_oath_and_mobile(s: &Value) -> bool {
    default_of(s).as_deref() == Some("push")
        && has(s, "microsoftAuthenticator")
        && phone(s, "mobile").is_some()
        && has(s, "softwareOath")
}

fn cleanup_job(t: &Tenant, name: &str, users: &[usize]) -> String {
    let mut text = String::from("user,action\n");
    for &i in users {
        text.push_str(&format!("{},remove-authenticator\n", upn(i)));
    }
    t.job(name, &text).to_str().unwrap().to_string()
}

fn summary_json(t: &Tenant, name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(t.path(name)).unwrap()).unwrap()
}

/// The user's records whose step starts with `step_prefix`.
fn status_of<'r>(run: &'r Run, user: usize, step_prefix: &str) -> Vec<&'r Row> {
    run.of(&upn(user))
        .into_iter()
        .filter(|r| r["step"].starts_with(step_prefix))
        .collect()
}

/// The user's records with an error code.
fn refusals(run: &Run, user: usize) -> Vec<&Row> {
    run.of(&upn(user))
        .into_iter()
        .filter(|r| !r["error_code"].is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stable_refusals_are_skipped_and_the_night_stays_green_but_strict_fails() {
    let t = tenant(USERS).await;
    let mut taken = Vec::new();
    let moved = t.pick(&mut taken, push_falls_to_sms);
    let kept = t.pick(&mut taken, push_kept);
    let job = cleanup_job(&t, "nightly.csv", &[moved, kept]);

    // --strict first, on the kept user alone: the kept default fails the run (exit 1).
    let strict_job = cleanup_job(&t, "strict.csv", &[kept]);
    let strict = t
        .run("strict-report.csv", &[&strict_job, "--yes", "--strict"])
        .await;
    strict.expect_code(1);
    let refused = refusals(&strict, kept);
    assert_eq!(refused.len(), 1, "{:#?}", strict.report);
    assert_eq!(refused[0]["status"], "failed");
    assert_eq!(refused[0]["error_code"], "defaultMethodKept");

    let run = t
        .run(
            "nightly-report.csv",
            &[
                &job,
                "--yes",
                "--summary-json",
                &t.path("sum.json").to_string_lossy(),
            ],
        )
        .await;
    run.expect_code(0);
    // The kept default: skipped, with the reason and a code; the method is still there.
    let refused = refusals(&run, kept);
    assert_eq!(refused.len(), 1, "{:#?}", run.report);
    assert_eq!(refused[0]["status"], "skipped");
    assert_eq!(refused[0]["error_code"], "defaultMethodKept");
    assert!(refused[0]["step"].starts_with("delete microsoftAuthenticator"));
    assert!(
        refused[0]["error_message"].contains("default (push)"),
        "{:?}",
        refused[0]
    );
    assert_eq!(t.methods(kept, "microsoftAuthenticator").len(), 1);
    // The other user's default moved to SMS on the way, and is counted.
    assert!(t.methods(moved, "microsoftAuthenticator").is_empty());
    assert_eq!(default_of(&t.state(moved)).as_deref(), Some("sms"));
    let moves = status_of(&run, moved, "set default method");
    assert_eq!(moves.len(), 1);
    assert_eq!(moves[0]["status"], "ok");
    assert!(
        run.stderr.contains("default method moved: 1"),
        "{}",
        run.stderr
    );
    let summary = summary_json(&t, "sum.json");
    assert_eq!(summary["default_moves"], 1, "{summary}");
    assert_eq!(summary["by_status"]["skipped"], 1, "{summary}");
    assert!(summary["by_status"].get("failed").is_none(), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dry_run_totals_equal_the_apply_totals() {
    let t = tenant(USERS).await;
    let mut taken = Vec::new();
    let users = [
        t.pick(&mut taken, push_falls_to_sms),
        t.pick(&mut taken, push_falls_to_sms),
        t.pick(&mut taken, push_kept),
    ];
    let job = cleanup_job(&t, "nightly.csv", &users);
    let dry_sum = t.path("dry.json");
    let dry = t
        .run(
            "dry.csv",
            &[
                &job,
                "--dry-run",
                "--summary-json",
                &dry_sum.to_string_lossy(),
            ],
        )
        .await;
    dry.expect_code(0);
    assert_eq!(t.sim.counters().writes, 0);
    assert!(
        dry.stdout
            .lines()
            .any(|l| l.contains("= delete microsoftAuthenticator")
                && l.contains("kept: it is the user's default (push)")),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains("1 skipped; default method moved: 2"),
        "{}",
        dry.stdout
    );
    let apply_sum = t.path("apply.json");
    let apply = t
        .run(
            "apply.csv",
            &[
                &job,
                "--yes",
                "--summary-json",
                &apply_sum.to_string_lossy(),
            ],
        )
        .await;
    apply.expect_code(0);
    let (dry, apply) = (summary_json(&t, "dry.json"), summary_json(&t, "apply.json"));
    assert_eq!(dry["default_moves"], 2, "{dry}");
    assert_eq!(apply["default_moves"], dry["default_moves"], "{apply}");
    assert_eq!(apply["by_status"]["skipped"], dry["by_status"]["skipped"]);
    assert_eq!(
        apply["by_status"]["ok"], dry["by_status"]["planned"],
        "{dry}\n{apply}"
    );
    assert_eq!(apply["traffic"]["writes"], dry["by_status"]["planned"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_weaker_default_keeps_a_push_default_instead_of_falling_to_sms() {
    let t = tenant(USERS).await;
    let user = t.find(push_falls_to_sms);
    let job = cleanup_job(&t, "nightly.csv", &[user]);
    let run = t
        .run("r.csv", &[&job, "--yes", "--no-weaker-default"])
        .await;
    run.expect_code(0);
    let refused = refusals(&run, user);
    assert_eq!(refused.len(), 1, "{:#?}", run.report);
    assert_eq!(refused[0]["status"], "skipped");
    assert_eq!(refused[0]["error_code"], "weakerDefaultRefused");
    assert!(refused[0]["error_message"].contains("--no-weaker-default"));
    assert!(status_of(&run, user, "set default method").is_empty());
    assert_eq!(default_of(&t.state(user)).as_deref(), Some("push"));
    // One Authenticator (the last behind the default) stays; any others went.
    assert_eq!(t.methods(user, "microsoftAuthenticator").len(), 1);
    assert!(
        !run.stderr.contains("default method moved"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_order_decides_the_fallback_and_a_wrong_name_is_exit_2() {
    let t = tenant(USERS).await;
    let mut taken = Vec::new();
    let first = t.pick(&mut taken, push_with_oath_and_mobile);
    let second = t.pick(&mut taken, push_with_oath_and_mobile);

    let bad = t
        .run(
            "bad.csv",
            &[
                "--yes",
                &cleanup_job(&t, "b.csv", &[first]),
                "--default-order",
                "push,email",
            ],
        )
        .await;
    bad.expect_code(2);
    assert!(bad.stderr.contains("--default-order"), "{}", bad.stderr);
    assert!(bad.stderr.contains("\"email\""), "{}", bad.stderr);
    assert!(
        bad.stderr
            .contains("push, oath, sms, voiceMobile, voiceAlternateMobile, voiceOffice"),
        "{}",
        bad.stderr
    );
    assert_eq!(t.sim.counters().http_requests, 0);

    // The built-in order: the strongest that stays (oath).
    let run = t
        .run("r1.csv", &["--yes", &cleanup_job(&t, "j1.csv", &[first])])
        .await;
    run.expect_code(0);
    assert_eq!(default_of(&t.state(first)).as_deref(), Some("oath"));
    // sms first: sms.
    let run = t
        .run(
            "r2.csv",
            &[
                "--yes",
                &cleanup_job(&t, "j2.csv", &[second]),
                "--default-order",
                "sms,oath",
            ],
        )
        .await;
    run.expect_code(0);
    assert_eq!(default_of(&t.state(second)).as_deref(), Some("sms"));
    assert!(t.methods(second, "microsoftAuthenticator").is_empty());
}

#[test]
fn run_help_lists_the_nightly_flags() {
    let out = authbulk().args(["run", "--help"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in ["--strict", "--no-weaker-default", "--default-order <LIST>"] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
    assert!(
        text.contains("skipped (excluded, stable refusals)"),
        "{text}"
    );
}
