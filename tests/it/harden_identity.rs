//! A resolved user is checked (issue 12, M6): when an intermediary swaps the answers of a
//! `$batch`, the user Graph names is not the one the row names, and the row fails with
//! `userMismatch` before any write. It used to write one user's phone to another.

use std::sync::Arc;

use crate::support::proxy::{Rig, Tamper, path};
use crate::support::report::csv_records;
use axum::body::Bytes;
use serde_json::Value;

/// Rotate the bodies of the items that answer a user lookup; a lookup answered alone in its
/// `$batch` (the two rows' lookups went in separate calls) names the other row's user.
fn swap_users(body: Bytes) -> Bytes {
    let Ok(mut answer) = serde_json::from_slice::<Value>(&body) else {
        return body;
    };
    let Some(items) = answer["responses"].as_array_mut() else {
        return body;
    };
    let users: Vec<usize> = (0..items.len())
        .filter(|&i| items[i]["body"].get("userPrincipalName").is_some())
        .collect();
    if users.len() > 1 {
        let first = items[users[0]]["body"].take();
        for pair in users.windows(2) {
            items[pair[0]]["body"] = items[pair[1]]["body"].take();
        }
        items[*users.last().unwrap()]["body"] = first;
    } else if let [one] = users[..] {
        let other = match items[one]["body"]["userPrincipalName"].as_str() {
            Some(upn) if upn.eq_ignore_ascii_case(&authbulk::sim::upn(110)) => {
                authbulk::sim::upn(111)
            }
            _ => authbulk::sim::upn(110),
        };
        items[one]["body"]["userPrincipalName"] = Value::String(other);
    }
    Bytes::from(serde_json::to_vec(&answer).unwrap())
}

#[test]
fn swapped_user_answers_fail_their_rows_and_nothing_is_written() {
    let rule = Arc::new(|seen: &crate::support::proxy::Seen, _| {
        if seen.path.ends_with("/$batch") {
            Tamper::Rewrite(Box::new(swap_users))
        } else {
            Tamper::Pass
        }
    });
    let rig = Rig::start(200, rule);
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("swap.csv");
    std::fs::write(
        &job,
        format!(
            "user,action,phone_number,phone_type\n{},set-phone,+46 70 110 11 10,office\n\
             {},set-phone,+46 70 111 11 11,office\n",
            authbulk::sim::upn(110),
            authbulk::sim::upn(111)
        ),
    )
    .unwrap();
    let report = path(dir.path(), "r.csv");
    let out = rig
        .run(&[job.to_str().unwrap(), "--yes", "--report", &report])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        rig.sim.counters().writes,
        0,
        "a write went to a swapped user"
    );
    let (headers, rows) = csv_records(std::path::Path::new(&report));
    let code = headers.iter().position(|h| h == "error_code").unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r[code] == "userMismatch"), "{rows:?}");
}
