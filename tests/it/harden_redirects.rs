//! Redirects (issue 12, M2): a token request never follows one (the client secret used to be
//! re-sent to the host a 307 named), and a Graph call never follows one to another origin.

use std::process::Stdio;
use std::sync::{Arc, OnceLock};

use crate::support::proxy::{Rig, Tamper, job, path, recorder};
use axum::body::Body;
use axum::response::Response;

/// A rule that answers requests whose path contains `part` with a 307 to `target` + `/evil`.
fn redirect(part: &'static str, target: Arc<OnceLock<String>>) -> crate::support::proxy::Rule {
    Arc::new(move |seen, _| {
        if !seen.path.contains(part) {
            return Tamper::Pass;
        }
        let location = format!("{}/evil{}", target.get().unwrap(), seen.path);
        Tamper::Reply(
            Response::builder()
                .status(307)
                .header("location", location)
                .body(Body::empty())
                .unwrap(),
        )
    })
}

#[test]
fn a_token_request_redirected_to_another_host_sends_it_nothing() {
    let target = Arc::new(OnceLock::new());
    let rig = Rig::start(20, redirect("/oauth2/v2.0/token", target.clone()));
    let (evil, evil_log) = recorder(
        &rig.runtime,
        200,
        r#"{"token_type":"Bearer","expires_in":3599,"access_token":"EVIL"}"#,
    );
    target.set(evil).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path(), "list.csv", "list", 0..2);
    let out = rig
        .run(&[&job, "--dry-run", "--report", &path(dir.path(), "r.csv")])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("307"), "{stderr}");
    assert!(
        evil_log.lock().unwrap().is_empty(),
        "the other host was sent the request"
    );
    assert!(!stderr.contains(rig.sim.client_secret()));
}

#[test]
fn a_batch_redirected_to_another_host_sends_it_nothing() {
    let target = Arc::new(OnceLock::new());
    let rig = Rig::start(20, redirect("/$batch", target.clone()));
    let (evil, evil_log) = recorder(&rig.runtime, 200, r#"{"responses":[]}"#);
    target.set(evil).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path(), "list.csv", "list", 0..2);
    let out = rig
        .run(&[&job, "--dry-run", "--report", &path(dir.path(), "r.csv")])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        evil_log.lock().unwrap().is_empty(),
        "the other host was sent the batch"
    );
    let report = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
    assert!(report.contains("307"), "{report}");
}

/// The token endpoint echoes the request it got, as text and inside AAD's JSON error.
fn echo_token_request(json: bool) -> crate::support::proxy::Rule {
    Arc::new(move |seen, _| {
        if !seen.path.contains("/oauth2/v2.0/token") {
            return Tamper::Pass;
        }
        let body = match json {
            true => serde_json::json!({
                "error": "invalid_client",
                "error_description": format!("AADSTS7000215: you sent: {}", seen.body),
                "error_codes": [7000215]
            })
            .to_string(),
            false => format!("Bad request, body was {}", seen.body),
        };
        Tamper::Reply(
            Response::builder()
                .status(400)
                .header(
                    "content-type",
                    if json {
                        "application/json"
                    } else {
                        "text/plain"
                    },
                )
                .body(Body::from(body))
                .unwrap(),
        )
    })
}

#[test]
fn an_echoed_secret_is_redacted_in_every_encoding() {
    for json in [true, false] {
        let rig = Rig::start(5, echo_token_request(json));
        let secret = rig.sim.client_secret().to_string();
        assert!(
            secret.contains('~'),
            "the simulator's secret has a ~ like Azure's"
        );
        let dir = tempfile::tempdir().unwrap();
        let job = job(dir.path(), "list.csv", "list", 0..1);
        let out = rig
            .run(&[&job, "--dry-run", "--report", &path(dir.path(), "r.csv")])
            .stdout(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("client_secret=***"), "{stderr}");
        let tail = &secret[secret.find('~').unwrap() + 1..];
        assert!(!stderr.contains(tail), "the secret leaked: {stderr}");
    }
}
