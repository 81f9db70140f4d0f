//! The `--tap-out` file is safe in a spreadsheet (issue 12, L8): a pass that starts with a
//! formula character is written with a leading `'` (a spreadsheet's text mark, neither shown
//! nor copied), so it never becomes a formula and the helpdesk copies the pass itself.

use std::sync::Arc;

use crate::support::proxy::{Rig, Tamper, path};
use axum::body::Bytes;
use serde_json::Value;

/// Passes the service "issues", in order: each starts with a character spreadsheets act on.
const PASSES: [&str; 3] = ["+Ps9eTJY", "=1+2", "'quoted"];

#[test]
fn passes_that_look_like_formulas_are_marked_as_text_in_the_tap_out_file() {
    let issued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let rule = {
        let issued = issued.clone();
        Arc::new(move |seen: &crate::support::proxy::Seen, _| {
            if !seen.path.ends_with("/$batch") {
                return Tamper::Pass;
            }
            let issued = issued.clone();
            Tamper::Rewrite(Box::new(move |body: Bytes| {
                let Ok(mut answer) = serde_json::from_slice::<Value>(&body) else {
                    return body;
                };
                for item in answer["responses"].as_array_mut().into_iter().flatten() {
                    if item["body"].get("temporaryAccessPass").is_some() {
                        let n = issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        item["body"]["temporaryAccessPass"] = PASSES[n % PASSES.len()].into();
                    }
                }
                Bytes::from(serde_json::to_vec(&answer).unwrap())
            }))
        })
    };
    let rig = Rig::start(10, rule);
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("taps.csv");
    let mut text = String::from("user,action\n");
    for i in 0..3 {
        text.push_str(&format!("{},issue-tap\n", authbulk::sim::upn(i)));
    }
    std::fs::write(&job, text).unwrap();
    let taps = path(dir.path(), "taps-out.csv");
    let out = rig
        .run(&[
            job.to_str().unwrap(),
            "--yes",
            "--report",
            &path(dir.path(), "r.csv"),
            "--tap-out",
            &taps,
            "--concurrency",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reader = csv::Reader::from_path(&taps).unwrap();
    let mut cells: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[2].to_string())
        .collect();
    cells.sort();
    let mut expected: Vec<String> = PASSES.iter().map(|p| format!("'{p}")).collect();
    expected.sort();
    assert_eq!(cells, expected);
}
