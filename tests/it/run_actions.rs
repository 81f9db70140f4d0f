//! Every action of DESIGN.md through the `authbulk` binary against a simulator started in the
//! test: the simulator's state afterwards, the report the binary wrote, and a second run of the
//! same job that reports every row `unchanged` and makes no write.

use crate::support::report::{Row, pass_value, rows};
use crate::support::tenant::*;
use authbulk::sim::upn;
use chrono::{DateTime, Duration, Utc};
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

    assert_eq!(
        number(&t.state(create), "mobile").as_deref(),
        Some("+46 701234567")
    );
    assert_eq!(
        number(&t.state(update), "mobile").as_deref(),
        Some("+1 4255550100")
    );
    assert_eq!(number(&t.state(same), "mobile"), Some(same_number));
    assert_eq!(t.state(same)["writes"], 0);
    assert_eq!(
        number(&t.state(alternate), "alternateMobile").as_deref(),
        Some("+46 709999999")
    );
    assert!(methods_of(&t.state(remove_all), "phone").is_empty());
    assert!(phone(&t.state(office), "office").is_none());
    assert_eq!(
        email(&t.state(new_email)).as_deref(),
        Some("new@example.com")
    );
    assert_eq!(
        email(&t.state(change_email)).as_deref(),
        Some("changed@example.com")
    );
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
    assert_eq!(
        removed.first().map(String::as_str),
        Some("delete phone alternateMobile")
    );
    assert_eq!(
        removed.last().map(String::as_str),
        Some("delete phone mobile")
    );
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
        &format!(
            "user,action,phone_type,phone_number\n{},set-phone,alternateMobile,+46 709999999\n",
            upn(i)
        ),
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
    let old = |m: &Value, days: i64| {
        date(m, "createdDateTime").is_some_and(|c| c < now - Duration::days(days))
    };
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
    let all = t.pick(&mut taken, |s| {
        count(s) >= 2 && default_of(s).as_deref() == Some("push")
    });

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
    let glob = format!("{}*", device_name.split(' ').next().unwrap().to_lowercase());
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
        // Undated registrations an age selector left are counted in an `unchanged` record.
        let expected = if r["step"].contains(" undated ") {
            "unchanged"
        } else {
            "ok"
        };
        assert_eq!(r["status"], expected, "{r:?}");
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
    // keep_newest 1: the newest by creation date stays, and so does every undated registration
    // (its age is unknown, so it is never chosen).
    let newest = keep_list
        .iter()
        .filter(|m| date(m, "createdDateTime").is_some())
        .max_by_key(|m| {
            (
                date(m, "createdDateTime"),
                std::cmp::Reverse(m["id"].as_str().unwrap().to_string()),
            )
        })
        .and_then(|m| m["id"].as_str());
    assert_eq!(
        ids(&authenticators(&t, keep_one)),
        kept(&keep_list, &|m| date(m, "createdDateTime").is_none()
            || m["id"].as_str() == newest)
    );
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

fn taps_issued(t: &Tenant, i: usize) -> Vec<String> {
    t.state(i)["issuedTemporaryAccessPasses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["temporaryAccessPass"].as_str().unwrap().to_string())
        .collect()
}

/// The `--tap-out` file's rows as (user, pass), after checking it is private to its owner.
fn tap_out(path: &std::path::Path) -> Vec<(String, String)> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "--tap-out mode {mode:o}");
    rows(path)
        .into_iter()
        .map(|r| (r["user"].clone(), pass_value(&r["pass"])))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_mfa_and_remove_method_leave_only_the_password_and_a_second_run_writes_nothing() {
    let t = tenant(800).await;
    let many = |s: &Value| non_password(s).len() >= 3;
    let mut taken = Vec::new();
    let with_tap = t.pick(&mut taken, |s| {
        s["tapPolicyTarget"] == true && many(s) && !methods_of(s, "qrCodePin").is_empty()
    });
    let plain = t.pick(&mut taken, |s| {
        many(s) && default_of(s).as_deref() == Some("push")
    });
    let phones = t.pick(&mut taken, |s| {
        phone(s, "alternateMobile").is_some()
            && default_of(s).is_some_and(|d| d.starts_with("voice") || d == "sms")
    });
    let fido = t.pick(&mut taken, |s| !methods_of(s, "fido2").is_empty());
    let qr = t.pick(&mut taken, |s| !methods_of(s, "qrCodePin").is_empty());
    let fido_before = non_password(&t.state(fido)).len() - t.methods(fido, "fido2").len();
    let job = t.job(
        "reset.csv",
        &format!(
            "user,action,method_type,revoke_sessions,issue_tap,lifetime_minutes\n\
             {},reset-mfa,,true,true,120\n\
             {},reset-mfa,,,,\n\
             {},reset-mfa,,false,false,\n\
             {},remove-method,fido2,,,\n\
             {},remove-method,qrCodePin,,,\n",
            upn(with_tap),
            upn(plain),
            upn(phones),
            upn(fido),
            upn(qr),
        ),
    );
    let job = job.to_str().unwrap();
    let taps = t.path("taps.csv");
    let first = t
        .run(
            "first.csv",
            &[job, "--yes", "--tap-out", taps.to_str().unwrap()],
        )
        .await;
    first.expect_code(0);
    for r in &first.report {
        assert_eq!(r["status"], "ok", "{r:?}");
        assert!(!r["error_message"].contains("default"), "{r:?}");
    }

    // Only the password stays (and the new pass for the row that asked for one).
    let s = t.state(with_tap);
    assert_eq!(
        non_password(&s),
        ["#microsoft.graph.temporaryAccessPassAuthenticationMethod"]
    );
    assert_eq!(
        methods_of(&s, "temporaryAccessPass")[0]["lifetimeInMinutes"],
        120
    );
    assert_eq!(s["sessionsRevoked"], 1);
    let steps: Vec<String> = first
        .steps_of(&upn(with_tap))
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert!(
        steps.iter().any(|s| s.starts_with("delete qrCodePin")),
        "{steps:?}"
    );
    assert_eq!(
        steps[steps.len() - 2..],
        ["revoke sessions", "issue temporaryAccessPass"]
    );
    for i in [plain, phones] {
        assert!(non_password(&t.state(i)).is_empty(), "{}", t.state(i));
        assert_eq!(t.state(i)["sessionsRevoked"], 0);
    }
    assert!(t.methods(fido, "fido2").is_empty());
    assert_eq!(non_password(&t.state(fido)).len(), fido_before);
    assert!(t.methods(qr, "qrCodePin").is_empty());

    // The pass is in the 0600 file, and nowhere else.
    let passes = taps_issued(&t, with_tap);
    assert_eq!(passes.len(), 1);
    assert_eq!(tap_out(&taps), [(upn(with_tap), passes[0].clone())]);
    let report_text = std::fs::read_to_string(t.path("first.csv")).unwrap();
    assert!(!report_text.contains(&passes[0]));
    assert!(!first.stdout.contains(&passes[0]) && !first.stderr.contains(&passes[0]));

    let taps2 = t.path("taps2.csv");
    second_run_changes_nothing(&t, job, &["--tap-out", taps2.to_str().unwrap()]).await;
    assert_eq!(taps_issued(&t, with_tap).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_tap_revoke_sessions_and_list_act_once_per_row_and_tap_out_is_never_overwritten() {
    let t = tenant(60).await;
    let mut taken = Vec::new();
    let tap = t.pick(&mut taken, |s| s["tapPolicyTarget"] == true);
    let revoke = t.pick(&mut taken, |s| s["sessionsRevoked"] == 0);
    let list = t.pick(&mut taken, |s| non_password(s).len() >= 3);
    let job = t.job(
        "once.jsonl",
        &format!(
            "{{\"user\":\"{}\",\"action\":\"issue-tap\",\"usable_once\":true}}\n\
             {{\"user\":\"{}\",\"action\":\"revoke-sessions\"}}\n\
             {{\"user\":\"{}\",\"action\":\"list\"}}\n",
            upn(tap),
            upn(revoke),
            upn(list)
        ),
    );
    let job = job.to_str().unwrap();
    let taps = t.path("taps.csv");
    let taps = taps.to_str().unwrap();
    let first = t.run("first.csv", &[job, "--yes", "--tap-out", taps]).await;
    first.expect_code(0);
    let passes = taps_issued(&t, tap);
    assert_eq!(passes.len(), 1);
    assert_eq!(
        t.methods(tap, "temporaryAccessPass")[0]["isUsableOnce"],
        true
    );
    assert_eq!(
        tap_out(std::path::Path::new(taps)),
        [(upn(tap), passes[0].clone())]
    );
    assert_eq!(t.state(revoke)["sessionsRevoked"], 1);
    assert_eq!(
        first.steps_of(&upn(revoke)),
        [("revoke sessions".to_string(), "ok".to_string())]
    );
    // list: one record per method, the password included, and no write for that user.
    let listed = first.of(&upn(list));
    assert_eq!(listed.len(), non_password(&t.state(list)).len() + 1);
    assert_eq!(t.state(list)["writes"], 0);
    let counters = t.sim.counters();
    assert_eq!(counters.writes, 2, "{counters:?}");

    // The pass file exists: refused before anything is written, and the file is kept.
    t.sim.reset_counters();
    let refused = t
        .run("refused.csv", &[job, "--yes", "--tap-out", taps])
        .await;
    refused.expect_code(2);
    assert!(refused.stderr.contains("exists"), "{}", refused.stderr);
    assert_eq!(t.sim.counters().writes, 0);
    assert_eq!(tap_out(std::path::Path::new(taps)).len(), 1);

    // issue-tap and revoke-sessions are not desired state: each run does them once more.
    let taps2 = t.path("taps2.csv");
    let again = t
        .run(
            "again.csv",
            &[job, "--yes", "--tap-out", taps2.to_str().unwrap()],
        )
        .await;
    again.expect_code(0);
    assert_eq!(t.sim.counters().writes, 2);
    assert_eq!(taps_issued(&t, tap).len(), 2);
    assert_eq!(t.sim.counters().duplicate_taps, 1);
}

fn sms_state(s: &Value) -> Option<String> {
    phone(s, "mobile").map(|p| p["smsSignInState"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_default_and_sms_sign_in_reach_the_desired_state_and_a_second_run_writes_nothing() {
    let t = tenant(200).await;
    let mut taken = Vec::new();
    let to_sms = t.pick(&mut taken, |s| {
        phone(s, "mobile").is_some() && default_of(s).is_some_and(|d| d != "sms")
    });
    let system_off = t.pick(&mut taken, |s| {
        s["signInPreferences"]["isSystemPreferredAuthenticationMethodEnabled"] == true
    });
    let enable = t.pick(&mut taken, |s| {
        sms_state(s).as_deref() == Some("notEnabled")
    });
    let disable = t.pick(&mut taken, |s| sms_state(s).as_deref() == Some("ready"));
    let job = t.job(
        "settings.csv",
        &format!(
            "user;action;default_method;system_preferred\r\n\
             {};set-default;sms;\r\n\
             {};set-default;;false\r\n\
             {};enable-sms-signin;;\r\n\
             {};disable-sms-signin;;\r\n",
            upn(to_sms),
            upn(system_off),
            upn(enable),
            upn(disable)
        ),
    );
    let job = job.to_str().unwrap();
    let first = t.run("first.csv", &[job, "--yes"]).await;
    first.expect_code(0);
    for r in &first.report {
        assert_eq!(r["status"], "ok", "{r:?}");
    }
    assert_eq!(default_of(&t.state(to_sms)).as_deref(), Some("sms"));
    assert_eq!(
        t.state(system_off)["signInPreferences"]["isSystemPreferredAuthenticationMethodEnabled"],
        false
    );
    assert_eq!(sms_state(&t.state(enable)).as_deref(), Some("ready"));
    assert_eq!(sms_state(&t.state(disable)).as_deref(), Some("notEnabled"));

    second_run_changes_nothing(&t, job, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_serves_the_qr_code_pin_method_as_a_singleton_without_an_id() {
    let t = tenant(400).await;
    let i = t.find(|s| !methods_of(s, "qrCodePin").is_empty());
    let id = t.state(i)["id"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();
    let token = t.sim.mint_token();
    let url = |version: &str| {
        format!(
            "{}/{version}/users/{id}/authentication/qrCodePinMethod",
            t.sim.url()
        )
    };
    let send = |method: reqwest::Method, version: &str| {
        http.request(method, url(version))
            .bearer_auth(&token)
            .send()
    };
    let got = send(reqwest::Method::GET, "beta").await.unwrap();
    assert_eq!(got.status(), 200);
    let body: Value = got.json().await.unwrap();
    assert_eq!(
        body["@odata.type"],
        "#microsoft.graph.qrCodePinAuthenticationMethod"
    );
    assert_eq!(body["id"], t.methods(i, "qrCodePin")[0]["id"]);
    let item = format!("{}/x", url("v1.0"));
    let with_id = http.delete(item).bearer_auth(&token).send().await.unwrap();
    assert_eq!(with_id.status(), 400);
    assert_eq!(
        send(reqwest::Method::DELETE, "v1.0")
            .await
            .unwrap()
            .status(),
        204
    );
    assert!(t.methods(i, "qrCodePin").is_empty());
    assert_eq!(t.state(i)["writes"], 1);
    assert_eq!(
        send(reqwest::Method::GET, "v1.0").await.unwrap().status(),
        404
    );
    assert_eq!(
        send(reqwest::Method::DELETE, "v1.0")
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_of_one_user_run_in_file_order_and_a_dry_run_plans_each_on_the_state_before_it() {
    let t = tenant(60).await;
    let i = t.find(|s| methods_of(s, "phone").is_empty());
    let user = upn(i);
    // The same user spelled in another case: one user, rows in file order.
    let shouted = user.to_uppercase();
    let job = t.job(
        "sequence.csv",
        &format!(
            "user,action,phone_type,phone_number\n\
             {user},set-phone,mobile,+46 701111111\n\
             {shouted},set-phone,alternateMobile,+46 702222222\n\
             {user},set-phone,mobile,+46 703333333\n\
             {shouted},remove-phone,mobile,\n\
             {user},remove-phone,all,\n\
             {user},set-phone,office,+46 8123456\n"
        ),
    );
    let job = job.to_str().unwrap();
    let expected = [
        "create phone mobile",
        "create phone alternateMobile",
        "update phone mobile",
        "delete phone mobile",
        "delete phone alternateMobile",
        "delete phone mobile",
        "create phone office",
    ];
    let dry = t.run("dry.csv", &[job, "--dry-run"]).await;
    dry.expect_code(1);
    // Row 4 removes the mobile while the alternateMobile (row 2) still needs it: refused in the
    // plan, as the service would refuse it.
    let row4: Vec<&Row> = dry.report.iter().filter(|r| r["row"] == "4").collect();
    assert_eq!(row4.len(), 1);
    assert_eq!(row4[0]["error_code"], "mobileNeededByAlternateMobile");
    let steps = |run: &Run, status: &str| -> Vec<String> {
        let mut records: Vec<&Row> = run
            .report
            .iter()
            .filter(|r| r["status"] == status)
            .collect();
        records.sort_by_key(|r| r["row"].parse::<u64>().unwrap());
        records.into_iter().map(|r| r["step"].clone()).collect()
    };
    let without_row4: Vec<&str> = expected
        .iter()
        .enumerate()
        .filter(|(n, _)| *n != 3)
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(steps(&dry, "planned"), without_row4);
    assert_eq!(t.sim.counters().writes, 0);

    let apply = t.run("apply.csv", &[job, "--yes"]).await;
    apply.expect_code(1);
    assert_eq!(steps(&apply, "ok"), without_row4);
    let state = t.state(i);
    assert_eq!(
        non_password(&state)
            .iter()
            .filter(|t| t.contains("phone"))
            .count(),
        1
    );
    assert_eq!(
        phone(&state, "office").unwrap()["phoneNumber"],
        "+46 8123456"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_apostrophe_and_object_id_users_are_addressed_safely() {
    let t = tenant(120).await;
    let guest = 7; // guest00007_fabrikam.com#EXT#@contoso.onmicrosoft.com
    let apostrophe = 5; // o'neil00005@contoso.onmicrosoft.com
    let by_id = 12;
    assert!(upn(guest).contains("#EXT#") && upn(apostrophe).contains('\''));
    let id = t.state(by_id)["id"].as_str().unwrap().to_string();
    let job = t.job(
        "odd.csv",
        &format!(
            "user,action,email\n\
             {},set-email,guest@example.com\n\
             {},set-email,oneil@example.com\n\
             {id},set-email,byid@example.com\n",
            upn(guest),
            upn(apostrophe)
        ),
    );
    let job = job.to_str().unwrap();
    let run = t.run("odd.csv.report.csv", &[job, "--yes"]).await;
    run.expect_code(0);
    let email = |i| {
        methods_of(&t.state(i), "email")[0]["emailAddress"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(email(guest), "guest@example.com");
    assert_eq!(email(apostrophe), "oneil@example.com");
    assert_eq!(email(by_id), "byid@example.com");
    assert_eq!(run.of(&id)[0]["user_id"], id);
    let written: Vec<String> = t.sim.counters().writes_per_user.into_keys().collect();
    assert_eq!(written.len(), 3, "{written:?}");
    second_run_changes_nothing(&t, job, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabling_sms_sign_in_on_a_shared_number_is_refused_alike_in_the_dry_run_and_the_apply() {
    let t = tenant(1000).await;
    let shared = t.find(|s| sms_state(s).as_deref() == Some("phoneNumberNotUnique"));
    let job = t.job(
        "shared.csv",
        &format!("user,action\n{},enable-sms-signin\n", upn(shared)),
    );
    let job = job.to_str().unwrap();
    let dry = t.run("dry.csv", &[job, "--dry-run"]).await;
    let apply = t.run("apply.csv", &[job, "--yes"]).await;
    for run in [&dry, &apply] {
        run.expect_code(1);
        assert_eq!(run.report.len(), 1);
        assert_eq!(run.report[0]["status"], "failed");
        assert_eq!(run.report[0]["error_code"], "phoneNumberNotUnique");
    }
    assert_eq!(t.sim.counters().writes, 0);
    assert_eq!(
        sms_state(&t.state(shared)).as_deref(),
        Some("phoneNumberNotUnique")
    );
}

#[tokio::test]
async fn every_batch_item_asks_graph_for_low_throttling_priority_in_its_own_headers() {
    let t = tenant(40).await;
    let job = t.job(
        "low.csv",
        &format!(
            "user,action,phone_type,phone_number\n{},list,,\n{},set-phone,office,+46 87654321\n",
            upn(1),
            upn(2)
        ),
    );
    t.sim.reset_counters();
    t.run("low.csv.report.csv", &[job.to_str().unwrap(), "--yes"])
        .await
        .expect_code(0);
    let c = t.sim.counters();
    assert!(c.batch_items >= 3, "{c:?}");
    // Graph does not pass the envelope's headers to the items: each item carries its own.
    assert_eq!(c.low_priority_items, c.batch_items, "{c:?}");
}
