//! `--resume` of enumerated runs (`--all-users`, `--group`): users are known by object id, not
//! by their place in the enumeration. A run is killed (SIGKILL) part-way against a simulator in
//! its own process; the simulator lists users in another order in every paging session, and
//! before the resume the test deletes users (some handled, some begun but not handled, some not
//! reached) and, for `--all-users`, creates new ones. The resumed run (`set-email`, one write per
//! user) must then have written once for every user still targeted (new ones included), for
//! nobody twice, and give a user who left before being handled one `skipped` record
//! (`userGone`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::process::SimProcess;
use crate::support::report::{jsonl_records, size};
use authbulk::sim::upn;
use authbulk::testing::report::Entry;
use authbulk::testing::report::Journal;
use serde_json::Value;

const USERS: usize = 2000;

/// `method` on a `/_sim/...` path; the JSON answer (null when empty).
fn sim_call(sim: &SimProcess, method: reqwest::Method, path: &str) -> Value {
    let url = format!("{}/_sim/{path}", sim.url);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let answer = reqwest::Client::new()
            .request(method, &url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("the simulator answers");
        let text = answer.text().await.expect("a body");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON")
        }
    })
}

/// What a journal holds, by object id (lower case): the users begun, with or without a finished
/// record, and whether their row is done.
#[derive(Default)]
struct Begun {
    /// Object id -> (row, UPN).
    users: HashMap<String, (u64, String)>,
    /// Rows with a finished record.
    recorded: HashSet<u64>,
    /// Rows done.
    done: HashSet<u64>,
}

fn read_journal(path: &Path) -> Begun {
    let mut begun = Begun::default();
    for entry in Journal::entries(path).expect("the journal") {
        match entry {
            Entry::User { seq, id, user } => {
                begun.users.insert(id.to_lowercase(), (seq, user));
            }
            Entry::Done { seq, .. } => {
                begun.recorded.insert(seq);
            }
            Entry::Row { seq } => {
                begun.done.insert(seq);
            }
            _ => {}
        }
    }
    begun
}

/// Kill a run over `targets` part-way, change the tenant, resume, and check every user.
/// `targeted(i)`: whether generated user `i` is a target. `joiners`: users to create.
fn killed_and_resumed(targets: &[&str], targeted: impl Fn(usize) -> bool, joiners: usize) {
    let began = Instant::now();
    let sim = SimProcess::start(&[
        "--users",
        &USERS.to_string(),
        "--unthrottled",
        "--latency",
        "20..40",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.jsonl");
    let journal = dir.path().join("report.jsonl.journal");
    let run = |resume: bool| {
        let mut args: Vec<&str> = targets.to_vec();
        args.extend([
            "--action",
            "set-email",
            "--email",
            "reset.contact@example.org",
            "--yes",
            "--report",
            report.to_str().unwrap(),
            // One `$batch` at a time: the kill finds rows begun and not yet written.
            "--concurrency",
            "1",
        ]);
        if resume {
            args.push("--resume");
        }
        sim.run(&args)
    };
    let targets_in_tenant: Vec<usize> = (0..USERS).filter(|i| targeted(*i)).collect();

    // 1. Killed once a quarter of the rows or so are done.
    let mut child = run(false)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let kill_at = targets_in_tenant.len() / 4;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before the kill point: grow the tenant");
        }
        if size(&journal) > 0 && read_journal(&journal).done.len() >= kill_at {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // 2. What the killed run left, and the tenant changed under it.
    let before = read_journal(&journal);
    // Written by the killed run, as the tenant saw it; handled: written, and the record of it
    // journaled.
    let at_kill = sim.introspect("counters");
    let written: Vec<String> = targets_in_tenant
        .iter()
        .map(|i| upn(*i))
        .filter(|u| at_kill["writes_per_user"][u.as_str()].as_u64().unwrap_or(0) > 0)
        .collect();
    let recorded: HashSet<&str> = before
        .users
        .values()
        .filter(|(seq, _)| before.recorded.contains(seq))
        .map(|(_, u)| u.as_str())
        .collect();
    let handled: Vec<String> = written
        .iter()
        .filter(|u| recorded.contains(u.as_str()))
        .cloned()
        .collect();
    // Begun but not handled: journaled as begun, without a record, and not written.
    let unhandled: Vec<&String> = before
        .users
        .iter()
        .filter(|(_, (seq, _))| !before.recorded.contains(seq) && !before.done.contains(seq))
        .map(|(_, (_, upn))| upn)
        .filter(|u| !written.contains(u))
        .collect();
    let known: HashSet<&str> = before.users.values().map(|(_, u)| u.as_str()).collect();
    let unreached: Vec<String> = targets_in_tenant
        .iter()
        .map(|i| upn(*i))
        .filter(|u| !known.contains(u.as_str()) && !written.contains(u))
        .collect();
    let mut gone: Vec<String> = Vec::new();
    gone.extend(handled.iter().take(3).cloned());
    gone.extend(unhandled.iter().take(3).map(|u| u.to_string()));
    gone.extend(unreached.iter().take(3).cloned());
    for user in &gone {
        let path = format!("users/{}", user.replace('#', "%23"));
        sim_call(&sim, reqwest::Method::DELETE, &path);
    }
    let mut joined: Vec<String> = Vec::new();
    for _ in 0..joiners {
        let user = sim_call(&sim, reqwest::Method::POST, "users");
        joined.push(user["userPrincipalName"].as_str().unwrap().to_string());
    }
    let gone_unhandled: HashSet<&str> = unhandled.iter().take(3).map(|u| u.as_str()).collect();
    let gone_unreached: HashSet<&str> = unreached.iter().take(3).map(String::as_str).collect();

    // 3. The resume finishes the run.
    let out = run(true).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");

    // 4. One record per user; every user still targeted acted on once, nobody twice.
    let records = jsonl_records(&report);
    let mut by_user: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for record in &records {
        by_user
            .entry(record["user"].as_str().unwrap().to_lowercase())
            .or_default()
            .push(record);
    }
    for (user, records) in &by_user {
        assert_eq!(records.len(), 1, "{user}: {records:?}");
    }
    let counters = sim.introspect("counters");
    let writes = |user: &str| counters["writes_per_user"][user].as_u64().unwrap_or(0);
    let gone_set: HashSet<&str> = gone.iter().map(String::as_str).collect();
    let still: Vec<String> = targets_in_tenant
        .iter()
        .map(|i| upn(*i))
        .filter(|u| !gone_set.contains(u.as_str()))
        .chain(joined.iter().cloned())
        .collect();
    for user in &still {
        let record = by_user
            .get(&user.to_lowercase())
            .unwrap_or_else(|| panic!("{user} has no record"))[0];
        assert_eq!(record["status"], "ok", "{record}");
        assert_eq!(writes(user), 1, "{user} written {} times", writes(user));
    }
    for user in &gone {
        assert!(writes(user) <= 1, "{user} written {} times", writes(user));
        let records = by_user.get(&user.to_lowercase());
        if gone_unreached.contains(user.as_str()) {
            assert!(records.is_none(), "{user}: {records:?}");
        } else if gone_unhandled.contains(user.as_str()) {
            let record = records.expect("a record")[0];
            assert_eq!(record["status"], "skipped", "{record}");
            assert_eq!(record["error_code"], "userGone", "{record}");
            assert_eq!(
                record["error_message"], "no longer in the tenant",
                "{record}"
            );
        } else {
            assert_eq!(records.expect("a record")[0]["status"], "ok");
        }
    }
    assert_eq!(
        by_user.len(),
        still.len() + gone.len() - gone_unreached.len(),
        "no record for anyone else"
    );
    assert!(
        handled.len() >= 3,
        "{} users handled, {} begun at the kill",
        handled.len(),
        before.users.len(),
    );
    assert!(
        !unhandled.is_empty(),
        "no user begun without a record at the kill: the userGone case was not met ({} begun, \
         {} recorded, {} done, {} written)",
        before.users.len(),
        before.recorded.len(),
        before.done.len(),
        written.len()
    );
    eprintln!(
        "{} targets, {} handled and {} begun at the kill, {} records, {:?}",
        targets_in_tenant.len(),
        handled.len(),
        unhandled.len(),
        records.len(),
        began.elapsed()
    );
}

#[test]
fn a_killed_all_users_run_resumes_by_object_id_after_users_left_and_joined() {
    killed_and_resumed(&["--all-users"], |_| true, 4);
}

#[test]
fn a_killed_group_run_resumes_by_object_id_after_members_left() {
    // Engineering: users 1, 11, 21, ... and, nested, the contractors (every 25th from 3).
    let sim = SimProcess::start(&["--users", &USERS.to_string()]);
    let groups = sim.introspect("groups");
    let engineering = groups
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["displayName"] == "Engineering")
        .unwrap();
    let id = engineering["id"].as_str().unwrap().to_string();
    let members = |i: usize| i % 10 == 1 || i % 25 == 3;
    assert_eq!(
        engineering["transitiveUsers"].as_u64(),
        Some((0..USERS).filter(|i| members(*i)).count() as u64)
    );
    drop(sim);
    killed_and_resumed(&["--group", &id], members, 0);
}
