//! Answers have a size cap (issue 12, M5): a proxy's endless `$batch` answer is read only up to
//! the cap and treated like a lost answer (the read is asked again), and an oversize token
//! answer fails the token request clearly. A 1 GB answer used to cost 2.1 GB of memory.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::support::proxy::{Rig, Tamper, job, path};
use axum::body::{Body, Bytes};
use axum::response::Response;

const CHUNK: usize = 1024 * 1024;

#[test]
fn an_endless_batch_answer_is_cut_at_the_cap_and_the_read_asked_again() {
    let produced = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let rule = {
        let produced = produced.clone();
        Arc::new(move |seen: &crate::support::proxy::Seen, _| {
            if !seen.path.ends_with("/$batch") || done.swap(true, Ordering::SeqCst) {
                return Tamper::Pass;
            }
            // 512 MiB of spaces, made as the client reads (no Content-Length).
            let produced = produced.clone();
            let chunks = futures::stream::iter(0..512).map(move |_| {
                produced.fetch_add(CHUNK, Ordering::SeqCst);
                Ok::<_, std::convert::Infallible>(Bytes::from(vec![b' '; CHUNK]))
            });
            Tamper::Reply(
                Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(Body::from_stream(chunks))
                    .unwrap(),
            )
        })
    };
    let rig = Rig::start(20, rule);
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path(), "list.csv", "list", 0..3);
    let out = rig
        .run(&[&job, "--dry-run", "--report", &path(dir.path(), "r.csv")])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let read = produced.load(Ordering::SeqCst);
    assert!(
        read < 64 * CHUNK,
        "{} MiB of the answer were read",
        read / CHUNK
    );
}

use futures::StreamExt;

#[test]
fn an_oversize_token_answer_fails_the_token_request_clearly() {
    let rule = Arc::new(|seen: &crate::support::proxy::Seen, _| {
        if !seen.path.contains("/oauth2/v2.0/token") {
            return Tamper::Pass;
        }
        Tamper::Reply(
            Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Body::from(vec![b' '; 4 * CHUNK]))
                .unwrap(),
        )
    });
    let rig = Rig::start(20, rule);
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path(), "list.csv", "list", 0..1);
    let out = rig
        .run(&[&job, "--dry-run", "--report", &path(dir.path(), "r.csv")])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("larger than 262144 bytes"), "{stderr}");
}
