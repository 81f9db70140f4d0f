//! Every action of DESIGN.md through the `authbulk` binary against a simulator started in the
//! test: the simulator's state afterwards, the report the binary wrote, and a second run of the
//! same job that reports every row `unchanged` and makes no write.

mod run_action_support;

use authbulk::sim::upn;
use chrono::{DateTime, Duration, Utc};
use run_action_support::*;
use serde_json::Value;

/// Runs the job a second time and checks that every record is `unchanged` and that the
/// simulator saw no write.
async fn second_run_changes_nothing(t: &Tenant, job: &str, extra: &[&str]) {
    t.sim.reset_counters();
    let mut args = vec![job, "--yes"];
    args.extend_from_slice(extra);
    let again = t.run("second.csv", &args).await;
    again.expect_code(0);
    assert!(!again.report.is_empty());
    for r in &again.report {
        assert_eq!(r["status"], "unchanged", "{r:?}\n{}", again.stderr);
    }
    assert_eq!(t.sim.counters().writes, 0, "{:?}", t.sim.counters());
}

fn number(state: &Value, phone_type: &str) -> Option<String> {
    phone(state, phone_type).map(|p| p["phoneNumber"].as_str().unwrap().to_string())
}

fn email(state: &Value) -> Option<String> {
    methods_of(state, "email")
        .first()
        .map(|e| e["emailAddress"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_and_email_actions_reach_the_desired_state_and_a_second_run_writes_nothing() {
    let t = tenant(150).await;
    let mut taken = Vec::new();
    let create = t.pick(&mut taken, |s| phone(s, "mobile").is_none());
    let update = t.pick(&mut taken, |s| {
        phone(s, "mobile").is_some() && phone(s, "alternateMobile").is_none()
    });
    let same = t.pick(&mut taken, |s| phone(s, "mobile").is_some());
    let alternate = t.pick(&mut taken, |s| {
        phone(s, "mobile").is_some() && phone(s, "alternateMobile").is_none()
    });
    let remove_all = t.pick(&mut taken, |s| {
        phone(s, "mobile").is_some()
            && phone(s, "alternateMobile").is_some()
            && default_of(s).is_some_and(|d| d == "sms" || d == "voiceMobile")
    });
    let office = t.pick(&mut taken, |s| phone(s, "office").is_some());
    let new_email = t.pick(&mut taken, |s| email(s).is_none());
    let change_email = t.pick(&mut taken, |s| email(s).is_some());
    let drop_email = t.pick(&mut taken, |s| email(s).is_some());
    let same_number = number(&t.state(same), "mobile").unwrap();
    let old_number = number(&t.state(update), "mobile").unwrap();
    let job = t.job(
        "phones.csv",
        &format!(
            "user,action,phone_type,phone_number,email,ticket\n\
             {},set-phone,mobile,+46 70 123 45 67,,T1\n\
             {},set-phone,mobile,+1 (425) 555-0100,,T2\n\
             {},set-phone,mobile,{same_number},,T3\n\
             {},set-phone,alternateMobile,+46 709 99 99 99,,T4\n\
             {},remove-phone,all,,,T5\n\
             {},remove-phone,office,,,T6\n\
             {},set-email,,,new@example.com,T7\n\
             {},set-email,,,changed@example.com,T8\n\
             {},remove-email,,,,T9\n",
            upn(create),
            upn(update),
            upn(same),
            upn(alternate),
            upn(remove_all),
            upn(office),
            upn(new_email),
            upn(change_email),
            upn(drop_email),
        ),
    );
    let job = job.to_str().unwrap();
    let first = t.run("first.csv", &[job, "--yes"]).await;
    first.expect_code(0);

    assert_eq!(number(&t.state(create), "mobile").as_deref(), Some("+46 701234567"));
    assert_eq!(number(&t.state(update), "mobile").as_deref(), Some("+1 4255550100"));
    assert_eq!(number(&t.state(same), "mobile"), Some(same_number));
    assert_eq!(t.state(same)["writes"], 0);
    assert_eq!(
        number(&t.state(alternate), "alternateMobile").as_deref(),
        Some("+46 709999999")
    );
    assert!(methods_of(&t.state(remove_all), "phone").is_empty());
    assert!(phone(&t.state(office), "office").is_none());
    assert_eq!(email(&t.state(new_email)).as_deref(), Some("new@example.com"));
    assert_eq!(email(&t.state(change_email)).as_deref(), Some("changed@example.com"));
    assert_eq!(email(&t.state(drop_email)), None);

    let steps = |i| first.steps_of(&upn(i));
    let ok = |s: &str| (s.to_string(), "ok".to_string());
    assert_eq!(steps(create), [ok("create phone mobile")]);
    assert_eq!(steps(update), [ok("update phone mobile")]);
    assert_eq!(
        steps(same),
        [("set phone mobile".to_string(), "unchanged".to_string())]
    );
    assert_eq!(steps(alternate), [ok("create phone alternateMobile")]);
    // alternateMobile goes before the mobile it needs; a default on the mobile moves away
    // first or the mobile is the last method left.
    let removed: Vec<String> = steps(remove_all)
        .into_iter()
        .inspect(|(_, status)| assert_eq!(status, "ok"))
        .map(|(step, _)| step)
        .filter(|s| s.starts_with("delete phone"))
        .collect();
    assert_eq!(removed.first().map(String::as_str), Some("delete phone alternateMobile"));
    assert_eq!(removed.last().map(String::as_str), Some("delete phone mobile"));
    assert_eq!(steps(office), [ok("delete phone office")]);
    assert_eq!(steps(new_email), [ok("create email")]);
    assert_eq!(steps(change_email), [ok("update email")]);
    assert_eq!(steps(drop_email), [ok("delete email")]);
    // The job's own columns are echoed, and the report names the user and the resolved id.
    let record = &first.of(&upn(update))[0];
    assert_eq!(record["ticket"], "T2");
    assert_eq!(record["user_id"], t.state(update)["id"].as_str().unwrap());
    // Cells that start with `+` are made safe for spreadsheet programs with a leading `'`.
    assert_eq!(record["before"], format!("'{old_number}"));
    assert_eq!(record["after"], "'+1 4255550100");

    second_run_changes_nothing(&t, job, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alternate_mobile_without_a_mobile_fails_its_row_and_writes_nothing() {
    let t = tenant(50).await;
    let i = t.find(|s| phone(s, "mobile").is_none());
    let job = t.job(
        "alt.csv",
        &format!("user,action,phone_type,phone_number\n{},set-phone,alternateMobile,+46 709999999\n", upn(i)),
    );
    let run = t.run("alt.jsonl", &[job.to_str().unwrap(), "--yes"]).await;
    run.expect_code(1);
    assert_eq!(run.report.len(), 1);
    assert_eq!(run.report[0]["status"], "failed");
    assert_eq!(run.report[0]["error_code"], "alternateMobileNeedsMobile");
    assert_eq!(t.sim.counters().writes, 0);
    assert!(methods_of(&t.state(i), "phone").is_empty());
}

fn authenticators(t: &Tenant, i: usize) -> Vec<Value> {
    t.methods(i, "microsoftAuthenticator")
}

fn ids(methods: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = methods
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn date(m: &Value, field: &str) -> Option<DateTime<Utc>> {
    m[field].as_str().map(|d| d.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_authenticator_removes_exactly_what_each_selector_chooses_and_is_idempotent() {
    let t = tenant(200).await;
    let now = Utc::now();
    let old = |m: &Value, days: i64| date(m, "createdDateTime").is_some_and(|c| c < now - Duration::days(days));
    let unused = |m: &Value, days: i64| {
        date(m, "lastUsedDateTime")
            .or(date(m, "createdDateTime"))
            .is_some_and(|c| c < now - Duration::days(days))
    };
    let count = |s: &Value| methods_of(s, "microsoftAuthenticator").len();
    let mut taken = Vec::new();
    let by_id = t.pick(&mut taken, |s| count(s) >= 2);
    let by_device = t.pick(&mut taken, |s| {
        let a = methods_of(s, "microsoftAuthenticator");
        a.len() >= 2 && a[0]["displayName"] != a[1]["displayName"]
    });
    let by_age = t.pick(&mut taken, |s| {
        let a = methods_of(s, "microsoftAuthenticator");
        a.iter().any(|m| old(m, 180)) && a.iter().any(|m| !old(m, 180))
    });
    let by_use = t.pick(&mut taken, |s| {
        let a = methods_of(s, "microsoftAuthenticator");
        a.iter().any(|m| unused(m, 90)) && a.iter().any(|m| !unused(m, 90))
    });
    let keep_one = t.pick(&mut taken, |s| count(s) >= 2);
    let all = t.pick(&mut taken, |s| count(s) >= 2 && default_of(s).as_deref() == Some("push"));

    let before = |i| authenticators(&t, i);
    let (id_list, device_list, age_list, use_list, keep_list, all_list) = (
        before(by_id),
        before(by_device),
        before(by_age),
        before(by_use),
        before(keep_one),
        before(all),
    );
    let target_id = id_list[1]["id"].as_str().unwrap().to_string();
    let device_name = device_list[0]["displayName"].as_str().unwrap().to_string();
    // A glob on the first word, in another case: `iphone*` chooses `iPhone 14`.
    let glob = format!(
        "{}*",
        device_name.split(' ').next().unwrap().to_lowercase()
    );
    let glob_matches = |m: &Value| {
        m["displayName"]
            .as_str()
            .is_some_and(|n| n.to_lowercase().starts_with(&glob[..glob.len() - 1]))
    };
    let job = t.job(
        "authenticators.csv",
        &format!(
            "user,action,method_id,device,older_than,unused_for,keep_newest\n\
             {},remove-authenticator,{target_id},,,,\n\
             {},remove-authenticator,,{glob},,,\n\
             {},remove-authenticator,,,180d,,\n\
             {},remove-authenticator,,,,90d,\n\
             {},remove-authenticator,,,,,1\n\
             {},remove-authenticator,,,,,\n",
            upn(by_id),
            upn(by_device),
            upn(by_age),
            upn(by_use),
            upn(keep_one),
            upn(all),
        ),
    );
    let job = job.to_str().unwrap();
    let first = t.run("first.jsonl", &[job, "--yes"]).await;
    first.expect_code(0);
    for r in &first.report {
        assert_eq!(r["status"], "ok", "{r:?}");
    }

    let kept = |list: &[Value], keep: &dyn Fn(&Value) -> bool| {
        ids(&list.iter().filter(|m| keep(m)).cloned().collect::<Vec<_>>())
    };
    assert_eq!(
        ids(&authenticators(&t, by_id)),
        kept(&id_list, &|m| m["id"] != target_id.as_str())
    );
    assert_eq!(
        ids(&authenticators(&t, by_device)),
        kept(&device_list, &|m| !glob_matches(m))
    );
    assert_eq!(
        ids(&authenticators(&t, by_age)),
        kept(&age_list, &|m| !old(m, 180))
    );
    assert_eq!(
        ids(&authenticators(&t, by_use)),
        kept(&use_list, &|m| !unused(m, 90))
    );
    // keep_newest 1: the newest by creation date stays; undated registrations count as oldest.
    let newest = keep_list
        .iter()
        .max_by_key(|m| (date(m, "createdDateTime"), std::cmp::Reverse(m["id"].as_str().unwrap().to_string())))
        .unwrap();
    assert_eq!(ids(&authenticators(&t, keep_one)), ids(std::slice::from_ref(newest)));
    // No selector: every registration goes, and the default (push) moved first or went last.
    assert!(authenticators(&t, all).is_empty());
    let deletes = first
        .steps_of(&upn(all))
        .into_iter()
        .filter(|(s, _)| s.starts_with("delete microsoftAuthenticator"))
        .count();
    assert_eq!(deletes, all_list.len());
    assert_ne!(default_of(&t.state(all)).as_deref(), Some("push"));

    second_run_changes_nothing(&t, job, &[]).await;
}
