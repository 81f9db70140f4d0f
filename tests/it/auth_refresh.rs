//! A long run with short-lived tokens: many concurrent "Graph calls" against a server that
//! refuses expired tokens, with the client treating a 401 as the executor does (invalidate,
//! retry once). Proves no call fails, one fetch runs at a time, and fetches follow the token
//! lifetime, not the number of calls. (The paused-clock version over two virtual minutes is the
//! unit test `auth::cache::tests::two_second_tokens_over_two_minutes_never_reach_a_caller_expired`.)

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::entra::{Entra, serve};
use authbulk::testing::auth::{AuthConfig, Cloud, CredentialSource, Secret, TokenProvider};

/// One Graph call as the executor makes it: on 401, invalidate the token and retry once.
async fn call(http: &reqwest::Client, url: &str, tokens: &TokenProvider) -> Result<(), String> {
    for attempt in 0..2 {
        let token = tokens.token().await.map_err(|e| e.to_string())?;
        let status = http
            .get(url)
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .status();
        if status.is_success() {
            return Ok(());
        }
        if status.as_u16() != 401 || attempt == 1 {
            return Err(format!("status {status} on attempt {attempt}"));
        }
        tokens.invalidate(&token);
    }
    Err("unreachable".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_second_tokens_over_a_four_second_run_cause_no_failed_call() {
    const TTL_S: u64 = 1;
    const RUN: Duration = Duration::from_secs(4);
    let entra = serve(Entra::new(TTL_S, None)).await;
    let config = AuthConfig::new(
        Cloud::Global,
        CredentialSource::ClientSecret {
            tenant: entra.tenant.clone(),
            client_id: entra.client_id.clone(),
            secret: Secret::new(entra.secret.clone()),
        },
    )
    .with_authority(&entra.url())
    .expect("authority");
    let http = reqwest::Client::new();
    let tokens = TokenProvider::from_config(&config, http.clone()).expect("provider");
    tokens.check().await.expect("first token");

    let graph = format!("{}/graph", entra.url());
    let deadline = tokio::time::Instant::now() + RUN;
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (http, graph, tokens) = (http.clone(), graph.clone(), tokens.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0u64, Vec::new());
                // Bounded twice: by the deadline and by a call budget.
                for _ in 0..1_000_000 {
                    if tokio::time::Instant::now() >= deadline {
                        break;
                    }
                    match call(&http, &graph, &tokens).await {
                        Ok(()) => ok += 1,
                        Err(err) => failed.push(err),
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    let mut ok = 0;
    let mut failed = Vec::new();
    for worker in workers {
        let (worker_ok, worker_failed) = worker.await.expect("worker");
        ok += worker_ok;
        failed.extend(worker_failed);
    }

    let fetches = entra.token_requests.load(Ordering::SeqCst) as u64;
    eprintln!(
        "{ok} calls, {fetches} token fetches, {} answered 401 then retried",
        entra.graph_401.load(Ordering::SeqCst)
    );
    assert!(
        failed.is_empty(),
        "{} failed calls, first: {:?}",
        failed.len(),
        failed.first()
    );
    assert!(ok > 500, "only {ok} calls");
    let lifetimes = RUN.as_secs() / TTL_S;
    // At least one refresh per lifetime; and bounded by the lifetime, not by the calls (a 401
    // here and there under load may add a refetch).
    assert!(
        fetches > lifetimes,
        "{fetches} fetches in {lifetimes} lifetimes"
    );
    assert!(
        fetches <= 3 * lifetimes + 2,
        "{fetches} fetches for {ok} calls"
    );
    assert_eq!(
        entra.max_in_flight.load(Ordering::SeqCst),
        1,
        "concurrent token fetches"
    );
}
