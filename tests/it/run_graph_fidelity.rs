//! What Graph offers, read from Microsoft's pages, through the `authbulk` binary against the
//! simulator (which spells Graph's paths and rules itself): external authentication methods are
//! removable; a UPN that begins with `$` is addressed as `/users('$...')`; actions a national
//! cloud does not offer are refused in the plan; age selectors never choose an undated
//! registration and say how many they left.

use crate::support::tenant::*;
use authbulk::sim::upn;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_authentication_methods_are_removed_by_remove_method_and_reset_mfa() {
    let t = tenant(400).await;
    let mut taken = Vec::new();
    let has_external = |s: &serde_json::Value| !methods_of(s, "external").is_empty();
    let removed = t.pick(&mut taken, has_external);
    let reset = t.pick(&mut taken, has_external);
    let job = t.job(
        "external.csv",
        &format!(
            "user,action,method_type\n{},remove-method,external\n{},reset-mfa,\n",
            upn(removed),
            upn(reset)
        ),
    );
    let run = t.run("report.csv", &[job.to_str().unwrap(), "--yes"]).await;
    run.expect_code(0);
    assert!(
        run.steps_of(&upn(removed))
            .iter()
            .any(|(step, status)| step.starts_with("delete external") && status == "ok"),
        "{:?}",
        run.report
    );
    assert!(methods_of(&t.state(removed), "external").is_empty());
    assert!(
        non_password(&t.state(reset)).is_empty(),
        "{}",
        t.state(reset)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_upn_that_begins_with_a_dollar_is_addressed_by_key_and_acted_on() {
    let t = tenant(20).await;
    let upn = "$svc'mfa@contoso.onmicrosoft.com";
    let id = t.sim.create_user_named(upn);
    let job = t.job(
        "dollar.csv",
        &format!("user,action,phone_type,phone_number\n\"{upn}\",set-phone,office,+46 8 123 456\n"),
    );
    let run = t.run("report.csv", &[job.to_str().unwrap(), "--yes"]).await;
    run.expect_code(0);
    let records = run.of(upn);
    assert_eq!(records.len(), 1, "{:?}", run.report);
    assert_eq!(records[0]["user_id"], id);
    assert!(
        ["ok", "unchanged"].contains(&records[0]["status"].as_str()),
        "{records:?}"
    );
    let state = t.sim.user_state(&id).unwrap();
    assert_eq!(
        phone(&state, "office").unwrap()["phoneNumber"],
        "+46 8123456",
        "{state}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn age_selectors_never_choose_undated_registrations_and_say_how_many_they_left() {
    let t = tenant(300).await;
    let undated = |s: &serde_json::Value| {
        methods_of(s, "microsoftAuthenticator")
            .iter()
            .filter(|m| m["createdDateTime"].is_null())
            .count()
    };
    let mut taken = Vec::new();
    let keep = t.pick(&mut taken, |s| {
        undated(s) >= 1 && methods_of(s, "microsoftAuthenticator").len() >= 2
    });
    let old = t.pick(&mut taken, |s| undated(s) >= 1);
    let (keep_undated, old_undated) = (undated(&t.state(keep)), undated(&t.state(old)));
    let job = t.job(
        "age.csv",
        &format!(
            "user,action,keep_newest,older_than\n{},remove-authenticator,1,\n{},remove-authenticator,,1d\n",
            upn(keep),
            upn(old)
        ),
    );
    let run = t.run("report.csv", &[job.to_str().unwrap(), "--yes"]).await;
    run.expect_code(0);
    // Every undated registration is still there.
    assert_eq!(undated(&t.state(keep)), keep_undated, "{}", t.state(keep));
    assert_eq!(undated(&t.state(old)), old_undated, "{}", t.state(old));
    for (i, n) in [(keep, keep_undated), (old, old_undated)] {
        let step = format!("keep {n} undated microsoftAuthenticator");
        assert!(
            run.steps_of(&upn(i))
                .contains(&(step.clone(), "unchanged".into())),
            "{step}: {:?}",
            run.steps_of(&upn(i))
        );
    }
    assert!(
        run.stderr.contains(&format!(
            "left for lack of a date: {} method(s)",
            keep_undated + old_undated
        )),
        "{}",
        run.stderr
    );
}
