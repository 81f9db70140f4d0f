//! A saved plan through the binary: `run --dry-run --plan-out FILE` writes it (mode 0600, no
//! secret, refused over an existing file or without --dry-run), `apply FILE` applies exactly it
//! (one read per planned user), refuses a damaged, truncated or foreign plan naming the file
//! and line, and re-plans a user changed in the simulator since the plan was made (`drifted`).

use std::os::unix::fs::PermissionsExt;

use crate::support::report::{pass_value, rows};
use crate::support::tenant::*;
use authbulk::sim::upn;
use serde_json::{Value, json};

/// Send `method` to the simulator's Graph at `path` (from the version on), as another admin
/// would between the plan and its apply.
async fn graph(t: &Tenant, method: reqwest::Method, path: &str, body: Option<Value>) -> u16 {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", t.sim.url()))
        .bearer_auth(t.sim.mint_token());
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().status().as_u16()
}

fn number(state: &Value, phone_type: &str) -> Option<String> {
    phone(state, phone_type).map(|p| p["phoneNumber"].as_str().unwrap().to_string())
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `run JOB --dry-run --plan-out plan.jsonl` (exit 0); the plan's path.
async fn save_plan(t: &Tenant, job: &std::path::Path) -> std::path::PathBuf {
    let plan = t.path("plan.jsonl");
    t.run(
        "dry.csv",
        &[
            job.to_str().unwrap(),
            "--dry-run",
            "--plan-out",
            plan.to_str().unwrap(),
        ],
    )
    .await
    .expect_code(0);
    plan
}

/// A job of set-phone rows: `update` has another mobile number, `create` none, `same` this one.
fn phone_job(t: &Tenant, taken: &mut Vec<usize>) -> (std::path::PathBuf, [usize; 3]) {
    let update = t.pick(taken, |s| {
        number(s, "mobile").is_some_and(|n| n != "+46 701234567")
    });
    let create = t.pick(taken, |s| phone(s, "mobile").is_none());
    let same = t.pick(taken, |s| phone(s, "mobile").is_some());
    let same_number = number(&t.state(same), "mobile").unwrap();
    let job = t.job(
        "phones.csv",
        &format!(
            "user,action,phone_type,phone_number,ticket\n\
             {},set-phone,mobile,+46 701234567,T-1\n\
             {},set-phone,mobile,+46 701234567,T-2\n\
             {},set-phone,mobile,{same_number},T-3\n",
            upn(update),
            upn(create),
            upn(same)
        ),
    );
    (job, [update, create, same])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_is_applied_exactly_with_one_read_per_user_and_holds_no_secret() {
    let t = tenant(80).await;
    let mut taken = Vec::new();
    let (job, [update, create, same]) = phone_job(&t, &mut taken);
    let reset = t.pick(&mut taken, |s| {
        non_password(s).len() >= 2 && methods_of(s, "temporaryAccessPass").is_empty()
    });
    let reset_job = t.job(
        "reset.csv",
        &format!(
            "user,action,issue_tap,lifetime_minutes\n{},reset-mfa,true,60\n",
            upn(reset)
        ),
    );
    let plan = t.path("plan.jsonl");
    let taps = t.path("taps.csv");
    t.sim.reset_counters();
    let dry = t
        .run(
            "dry.csv",
            &[
                job.to_str().unwrap(),
                reset_job.to_str().unwrap(),
                "--dry-run",
                "--plan-out",
                plan.to_str().unwrap(),
                "--tap-out",
                taps.to_str().unwrap(),
            ],
        )
        .await;
    dry.expect_code(0);
    assert!(dry.stderr.contains("plan: saved to"), "{}", dry.stderr);
    let dry_reads = t.sim.counters().reads;
    assert_eq!(t.sim.counters().writes, 0);
    assert!(!taps.exists(), "a dry run creates no --tap-out file");
    let mode = std::fs::metadata(&plan).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let saved = lines(&plan);
    assert_eq!(saved[0]["kind"], "header");
    assert_eq!(saved[0]["tenant"], t.sim.tenant_id());
    assert_eq!(saved.last().unwrap()["kind"], "end");
    assert_eq!(saved.last().unwrap()["rows"], 4);
    let rows_saved: Vec<&Value> = saved.iter().filter(|l| l["kind"] == "row").collect();
    assert_eq!(rows_saved.len(), 4);
    let reset_row = rows_saved.iter().find(|r| r["user"] == upn(reset)).unwrap();
    let tap_step = reset_row["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["change"]["change"] == "issue_tap")
        .expect("the pass is a step of the plan");
    assert_eq!(tap_step["write"]["issue_tap"]["lifetime_minutes"], 60);

    // Apply it: one read per planned user (the methods; the users are known by object id), and
    // the state the plan described.
    t.sim.reset_counters();
    let applied = t
        .command(
            "apply",
            "applied.csv",
            &[
                plan.to_str().unwrap(),
                "--yes",
                "--tap-out",
                taps.to_str().unwrap(),
            ],
        )
        .await;
    applied.expect_code(0);
    assert!(
        applied.stderr.contains("Plan: 4 row(s)"),
        "{}",
        applied.stderr
    );
    let counters = t.sim.counters();
    // The dry run resolved each of the 4 users and read their state; the apply knows them by
    // object id and reads each state once.
    assert_eq!(counters.reads, dry_reads - 4, "{counters:?}");
    for i in [update, create] {
        assert_eq!(
            number(&t.state(i), "mobile").as_deref(),
            Some("+46 701234567")
        );
    }
    assert_eq!(
        applied.steps_of(&upn(update)),
        [("update phone mobile".into(), "ok".into())]
    );
    assert_eq!(applied.of(&upn(update))[0]["ticket"], "T-1");
    assert_eq!(
        applied.steps_of(&upn(same)),
        [("set phone mobile".into(), "unchanged".into())]
    );
    assert!(!applied.report.iter().any(|r| r["error_code"] == "drifted"));
    let state = t.state(reset);
    assert_eq!(
        methods_of(&state, "temporaryAccessPass").len(),
        1,
        "the pass was issued now: {state}"
    );
    assert!(
        applied.of(&upn(reset)).iter().all(|r| r["status"] == "ok"),
        "{:?}",
        applied.of(&upn(reset))
    );
    let pass_file = rows(&taps);
    assert_eq!(pass_file.len(), 1);
    let pass = pass_value(&pass_file[0]["pass"]);
    assert!(!pass.is_empty());
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(!text.contains(&pass), "the plan never holds a pass");

    // Applied, the job has nothing left to do.
    t.sim.reset_counters();
    let again = t.run("again.csv", &[job.to_str().unwrap(), "--yes"]).await;
    again.expect_code(0);
    assert!(
        again.report.iter().all(|r| r["status"] == "unchanged"),
        "{:?}",
        again.report
    );
    assert_eq!(t.sim.counters().writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_out_needs_a_dry_run_and_a_new_file_and_refuses_several_tenants() {
    let t = tenant(20).await;
    let job = t.job(
        "job.csv",
        &format!("user,action\n{},revoke-sessions\n", upn(1)),
    );
    let plan = t.path("plan.jsonl");
    let without = t
        .run(
            "r1.csv",
            &[
                job.to_str().unwrap(),
                "--yes",
                "--plan-out",
                plan.to_str().unwrap(),
            ],
        )
        .await;
    without.expect_code(2);
    assert!(without.stderr.contains("--dry-run"), "{}", without.stderr);
    assert!(!plan.exists());
    std::fs::write(&plan, "keep me").unwrap();
    let existing = t
        .run(
            "r2.csv",
            &[
                job.to_str().unwrap(),
                "--dry-run",
                "--plan-out",
                plan.to_str().unwrap(),
            ],
        )
        .await;
    existing.expect_code(2);
    assert!(
        existing.stderr.contains("--plan-out") && existing.stderr.contains("already exists"),
        "{}",
        existing.stderr
    );
    assert_eq!(std::fs::read_to_string(&plan).unwrap(), "keep me");
    let tenants = t.job("tenants.csv", "tenant,credential\nx,secret-env:S\n");
    let several = t
        .run(
            "r3.csv",
            &[
                job.to_str().unwrap(),
                "--dry-run",
                "--tenants",
                tenants.to_str().unwrap(),
                "--plan-out",
                t.path("p2.jsonl").to_str().unwrap(),
            ],
        )
        .await;
    several.expect_code(2);
    assert!(several.stderr.contains("--tenants"), "{}", several.stderr);
    assert_eq!(t.sim.counters().writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_truncated_or_foreign_plan_is_refused_before_any_write() {
    let t = tenant(40).await;
    let mut taken = Vec::new();
    let (job, _) = phone_job(&t, &mut taken);
    let plan = save_plan(&t, &job).await;
    let text = std::fs::read_to_string(&plan).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let apply = |name: &'static str, body: String| {
        let path = t.path(name);
        std::fs::write(&path, body).unwrap();
        path
    };
    t.sim.reset_counters();

    let mut bad = lines.clone();
    bad[2] = bad[2].replacen("\"steps\"", "\"stepz\"", 1);
    let bad = apply("bad.jsonl", bad.join("\n") + "\n");
    let run = t
        .command("apply", "a1.csv", &[bad.to_str().unwrap(), "--yes"])
        .await;
    run.expect_code(2);
    assert!(
        run.stderr.contains(&format!("{}:3", bad.display())),
        "{}",
        run.stderr
    );

    let cut = apply("cut.jsonl", lines[..lines.len() - 1].join("\n") + "\n");
    let run = t
        .command("apply", "a2.csv", &[cut.to_str().unwrap(), "--yes"])
        .await;
    run.expect_code(2);
    assert!(run.stderr.contains("truncated"), "{}", run.stderr);

    let mut other = lines.clone();
    other[0] = other[0].replace("\"format\":1", "\"format\":99");
    let other = apply("other.jsonl", other.join("\n") + "\n");
    let run = t
        .command("apply", "a3.csv", &[other.to_str().unwrap(), "--yes"])
        .await;
    run.expect_code(2);
    assert!(run.stderr.contains("format 99"), "{}", run.stderr);

    let foreign_id = "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6";
    lines[0] = lines[0].replace(t.sim.tenant_id(), foreign_id);
    let foreign = apply("foreign.jsonl", lines.join("\n") + "\n");
    let run = t
        .command("apply", "a4.csv", &[foreign.to_str().unwrap(), "--yes"])
        .await;
    run.expect_code(2);
    assert!(
        run.stderr.contains(foreign_id) && run.stderr.contains(t.sim.tenant_id()),
        "{}",
        run.stderr
    );
    assert_eq!(t.sim.counters().writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_changed_since_the_plan_is_planned_again_and_reported_drifted() {
    let t = tenant(80).await;
    let mut taken = Vec::new();
    let (job, [update, create, _]) = phone_job(&t, &mut taken);
    let plan = save_plan(&t, &job).await;
    // Another admin removes the mobile the plan updates: the saved step (an update of that
    // phone) no longer fits; the user's new plan creates it.
    let id = t.sim.user_id(update).unwrap();
    let mobile = phone(&t.state(update), "mobile").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v1.0/users/{id}/authentication/phoneMethods/{mobile}");
    assert_eq!(graph(&t, reqwest::Method::DELETE, &path, None).await, 204);
    let summary = t.path("summary.json");
    let applied = t
        .command(
            "apply",
            "applied.csv",
            &[
                plan.to_str().unwrap(),
                "--yes",
                "--summary-json",
                summary.to_str().unwrap(),
            ],
        )
        .await;
    applied.expect_code(0);
    let records = applied.of(&upn(update));
    assert_eq!(records[0]["status"], "skipped", "{records:?}");
    assert_eq!(records[0]["error_code"], "drifted");
    assert!(
        records[0]["error_message"].starts_with("drifted: re-planned (removed phone"),
        "{records:?}"
    );
    assert_eq!(
        (records[1]["step"].as_str(), records[1]["status"].as_str()),
        ("create phone mobile", "ok")
    );
    assert_eq!(
        number(&t.state(update), "mobile").as_deref(),
        Some("+46 701234567")
    );
    assert_eq!(
        number(&t.state(create), "mobile").as_deref(),
        Some("+46 701234567")
    );
    assert!(
        applied.stderr.contains("drifted: 1 user(s)"),
        "{}",
        applied.stderr
    );
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(summary["drifted"], json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_plans_before_it_applies_reads_each_user_once() {
    // Two simulated tenants of the same seed: the same users and methods.
    let (plain, confirmed) = (tenant(60).await, tenant(60).await);
    let mut taken = Vec::new();
    let (job, _) = phone_job(&plain, &mut taken);
    let reset = plain.pick(&mut taken, |s| non_password(s).len() >= 2);
    let office = plain.pick(&mut taken, |s| phone(s, "office").is_some());
    let more = plain.job(
        "more.csv",
        &format!(
            "user,action,phone_type\n{},reset-mfa,\n{},remove-phone,office\n",
            upn(reset),
            upn(office)
        ),
    );
    let args = [job.to_str().unwrap(), more.to_str().unwrap(), "--yes"];
    let yes = plain.run("yes.csv", &args).await;
    yes.expect_code(0);
    let with_guard = confirmed
        .run(
            "guard.csv",
            &[&args[..], &["--max-changes", "100"]].concat(),
        )
        .await;
    with_guard.expect_code(0);
    assert!(
        with_guard.stdout.contains("Plan:"),
        "the plan is shown first"
    );
    let (a, b) = (plain.sim.counters(), confirmed.sim.counters());
    assert_eq!(
        b.reads, a.reads,
        "planned, confirmed, applied: {b:?}\n--yes: {a:?}"
    );
    assert_eq!(b.writes, a.writes);
    assert_eq!(with_guard.statuses(), yes.statuses());
    assert!(
        !with_guard
            .report
            .iter()
            .any(|r| r["error_code"] == "drifted")
    );
    for &i in &taken {
        let (p, c) = (plain.state(i), confirmed.state(i));
        assert_eq!(non_password(&c).len(), non_password(&p).len(), "{c}\n{p}");
        assert_eq!(number(&c, "mobile"), number(&p, "mobile"));
    }
}

/// A `DELETE` of `path` on the simulator at `url` (`http://127.0.0.1:PORT`), from a thread of
/// its own, as another admin between a run's plan and its apply; the answer's status line.
fn delete_now(url: &str, path: &str, token: &str) -> String {
    use std::io::{Read, Write};
    let address = url.trim_start_matches("http://").to_string();
    let request = format!(
        "DELETE {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer.lines().next().unwrap_or_default().to_string()
    })
    .join()
    .unwrap()
}

#[test]
fn a_write_of_the_run_s_own_plan_that_meets_a_change_reads_the_user_again() {
    use crate::support::proxy::{Rig, Seen, Tamper};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, OnceLock};
    // Once the run sends its first update (after the plan), another admin deletes the phone it
    // updates: the update meets 404, and the user is read and planned again.
    let target: Arc<OnceLock<(String, String, String)>> = Arc::default();
    let answered: Arc<OnceLock<String>> = Arc::default();
    let rule = {
        let (target, answered) = (target.clone(), answered.clone());
        let fired = AtomicBool::new(false);
        Arc::new(move |seen: &Seen, _| {
            if seen.path.ends_with("/$batch")
                && seen.body.contains("\"PATCH\"")
                && !fired.swap(true, Ordering::SeqCst)
                && let Some((url, path, token)) = target.get()
            {
                // The simulator answers on the proxy's runtime: hand this worker's queue over
                // while it waits.
                let answer = tokio::task::block_in_place(|| delete_now(url, path, token));
                let _ = answered.set(answer);
            }
            Tamper::Pass
        })
    };
    let rig = Rig::start(40, rule);
    let user = (0..40)
        .find(|&i| {
            let state = rig.sim.user_state(&upn(i)).unwrap();
            number(&state, "mobile").is_some_and(|n| n != "+46 701234567")
        })
        .unwrap();
    let state = rig.sim.user_state(&upn(user)).unwrap();
    let mobile = phone(&state, "mobile").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let id = rig.sim.user_id(user).unwrap();
    let _ = target.set((
        rig.sim.url().to_string(),
        format!("/v1.0/users/{id}/authentication/phoneMethods/{mobile}"),
        rig.sim.mint_token(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.csv");
    std::fs::write(
        &job,
        format!(
            "user,action,phone_number\n{},set-phone,+46 701234567\n",
            upn(user)
        ),
    )
    .unwrap();
    let report = dir.path().join("r.csv");
    let out = rig
        .run(&[
            job.to_str().unwrap(),
            "--yes",
            "--max-changes",
            "10",
            "--report",
            report.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        answered.get().is_some_and(|a| a.contains("204")),
        "{answered:?}"
    );
    let records = rows(&report);
    let steps: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["step"].as_str(),
                r["status"].as_str(),
                r["error_code"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("update phone mobile", "skipped", "drifted"),
            ("create phone mobile", "ok", "")
        ],
        "{records:?}"
    );
    assert!(records[0]["error_message"].contains("404"), "{records:?}");
    let state = rig.sim.user_state(&upn(user)).unwrap();
    assert_eq!(number(&state, "mobile").as_deref(), Some("+46 701234567"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_guards_a_plan_with_max_changes_and_leaves_excluded_users_alone() {
    let t = tenant(60).await;
    let mut taken = Vec::new();
    let (job, [update, create, _]) = phone_job(&t, &mut taken);
    let plan = save_plan(&t, &job).await;
    let plan_arg = plan.to_str().unwrap();
    let guarded = t
        .command(
            "apply",
            "a1.csv",
            &[plan_arg, "--yes", "--max-changes", "1"],
        )
        .await;
    guarded.expect_code(2);
    assert!(
        guarded.stderr.contains("more than --max-changes 1"),
        "{}",
        guarded.stderr
    );
    let without_yes = t.command("apply", "a2.csv", &[plan_arg]).await;
    without_yes.expect_code(2);
    assert!(
        without_yes.stderr.contains("--yes"),
        "{}",
        without_yes.stderr
    );
    assert_eq!(t.sim.counters().writes, 0);
    let before = number(&t.state(update), "mobile");
    let applied = t
        .command(
            "apply",
            "a3.csv",
            &[plan_arg, "--yes", "--exclude", &upn(update)],
        )
        .await;
    applied.expect_code(0);
    assert_eq!(
        applied.steps_of(&upn(update)),
        [("all steps".into(), "skipped".into())]
    );
    assert_eq!(applied.of(&upn(update))[0]["error_code"], "excluded");
    assert_eq!(number(&t.state(update), "mobile"), before);
    assert_eq!(
        number(&t.state(create), "mobile").as_deref(),
        Some("+46 701234567")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_s_later_row_planned_after_its_earlier_row_applies_without_drift() {
    let t = tenant(60).await;
    let user = t.find(|s| phone(s, "mobile").is_none() && phone(s, "alternateMobile").is_none());
    let job = t.job(
        "two.csv",
        &format!(
            "user,action,phone_type,phone_number\n\
             {u},set-phone,mobile,+46 701234567\n\
             {u},set-phone,alternateMobile,+46 709876543\n",
            u = upn(user)
        ),
    );
    let plan = save_plan(&t, &job).await;
    let saved = lines(&plan);
    assert_eq!(saved[2]["after_earlier_rows"], true, "{saved:?}");
    let applied = t
        .command("apply", "applied.csv", &[plan.to_str().unwrap(), "--yes"])
        .await;
    applied.expect_code(0);
    assert_eq!(
        applied.steps_of(&upn(user)),
        [
            ("create phone mobile".into(), "ok".into()),
            ("create phone alternateMobile".into(), "ok".into())
        ]
    );
    let state = t.state(user);
    assert_eq!(number(&state, "mobile").as_deref(), Some("+46 701234567"));
    assert_eq!(
        number(&state, "alternateMobile").as_deref(),
        Some("+46 709876543")
    );
}
