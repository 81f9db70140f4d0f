//! The token cache behind [`super::TokenProvider`]: one cached token per provider, refreshed
//! ahead of its expiry by a single caller while the others keep using the current one, and
//! fetched by exactly one caller at a time when there is no usable token (single-flight: the
//! callers waiting meanwhile share that fetch's outcome, so a bad credential costs one request,
//! not one per task).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::AuthError;
use super::credential::{AccessToken, Credential};

/// Refresh at most this long before expiry (for hour-long tokens).
const MAX_REFRESH_AHEAD: Duration = Duration::from_secs(5 * 60);
/// Stop handing out a token this long before expiry at most (it must survive the trip to Graph).
const MAX_SAFETY_MARGIN: Duration = Duration::from_secs(30);

/// A credential with its cached token.
pub(crate) struct TokenCache {
    credential: Box<dyn Credential>,
    state: Mutex<State>,
    /// Held by the one caller that is fetching.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct State {
    current: Option<Cached>,
    /// How many fetches have finished; a waiting caller compares it to know whether a fetch
    /// ended while it waited.
    fetches: u64,
    /// The outcome of the last fetch when it failed, shared with the callers that waited for it.
    failure: Option<AuthError>,
}

#[derive(Clone)]
struct Cached {
    token: String,
    /// From here on one caller refreshes while the others keep using this token.
    refresh_at: Instant,
    /// From here on the token is not handed out any more.
    stale_at: Instant,
}

impl Cached {
    /// Refresh when 10% of the lifetime (at most 5 minutes) is left; stop using the token when
    /// 5% (at most 30 s) is left. For an hour-long token: refresh at 55 min, stale at 59.5 min.
    fn new(token: AccessToken, now: Instant) -> Self {
        let lifetime = token.expires_at.saturating_duration_since(now);
        let ahead = (lifetime / 10).min(MAX_REFRESH_AHEAD);
        let margin = (lifetime / 20).min(MAX_SAFETY_MARGIN);
        Cached {
            token: token.token.expose().to_string(),
            refresh_at: token.expires_at - ahead,
            stale_at: token.expires_at - margin,
        }
    }
}

impl TokenCache {
    /// An empty cache over this credential.
    pub(crate) fn new(credential: Box<dyn Credential>) -> Self {
        TokenCache {
            credential,
            state: Mutex::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state half-written (every update
        // is one assignment), so a poisoned lock is still fine to use.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn current(&self) -> Option<Cached> {
        self.state().current.clone()
    }

    /// A token that is valid now.
    pub(crate) async fn token(&self) -> Result<String, AuthError> {
        let (current, seen) = {
            let state = self.state();
            (state.current.clone(), state.fetches)
        };
        if let Some(cached) = current {
            let now = Instant::now();
            if now < cached.refresh_at {
                return Ok(cached.token);
            }
            if now < cached.stale_at {
                return Ok(self.refresh_ahead(cached).await);
            }
        }
        let _flight = self.fetching.lock().await;
        {
            let state = self.state();
            if let Some(cached) = &state.current
                && Instant::now() < cached.stale_at
            {
                return Ok(cached.token.clone());
            }
            if state.fetches != seen
                && let Some(err) = &state.failure
            {
                return Err(err.clone());
            }
        }
        self.fetch().await
    }

    /// In the refresh window: the first caller refreshes, everyone else (and the refresher, if
    /// the refresh fails) uses the still-valid current token.
    async fn refresh_ahead(&self, cached: Cached) -> String {
        let Ok(_flight) = self.fetching.try_lock() else {
            return cached.token;
        };
        if let Some(newer) = self.current()
            && Instant::now() < newer.refresh_at
        {
            return newer.token;
        }
        match self.fetch().await {
            Ok(token) => token,
            Err(err) => {
                tracing::warn!(
                    "token refresh failed, using the current token until it expires: {err}"
                );
                cached.token
            }
        }
    }

    /// Fetch and store; the caller holds `fetching`.
    async fn fetch(&self) -> Result<String, AuthError> {
        let result = self.credential.fetch().await;
        let now = Instant::now();
        let mut state = self.state();
        state.fetches += 1;
        match result {
            Ok(token) => {
                let cached = Cached::new(token, now);
                let value = cached.token.clone();
                tracing::debug!(
                    valid_for_s = cached.stale_at.saturating_duration_since(now).as_secs(),
                    "access token fetched"
                );
                state.current = Some(cached);
                state.failure = None;
                Ok(value)
            }
            Err(err) => {
                state.failure = Some(err.clone());
                Err(err)
            }
        }
    }

    /// Drop the cached token if it is still `used` (Graph refused it).
    pub(crate) fn invalidate(&self, used: &str) {
        let mut state = self.state();
        if state.current.as_ref().is_some_and(|c| c.token == used) {
            state.current = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::future::BoxFuture;

    use super::*;
    use crate::auth::credential::Secret;

    /// Issues `token-N` valid for `ttl`, after `latency`, and records what it issued so a test
    /// can act as the resource server that checks expiry.
    struct FakeIssuer {
        ttl: Duration,
        latency: Duration,
        issued: Mutex<HashMap<String, Instant>>,
        fetches: AtomicUsize,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
        refuse: bool,
    }

    impl FakeIssuer {
        fn new(ttl: Duration, latency: Duration) -> Arc<Self> {
            Arc::new(FakeIssuer {
                ttl,
                latency,
                issued: Mutex::new(HashMap::new()),
                fetches: AtomicUsize::new(0),
                in_flight: AtomicUsize::new(0),
                max_in_flight: AtomicUsize::new(0),
                refuse: false,
            })
        }

        fn valid_now(&self, token: &str) -> bool {
            let issued = self.issued.lock().expect("issued");
            issued.get(token).is_some_and(|exp| Instant::now() < *exp)
        }
    }

    struct Shared(Arc<FakeIssuer>);

    impl Credential for Shared {
        fn fetch(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>> {
            Box::pin(async move {
                let issuer = &self.0;
                let now_in = issuer.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                issuer.max_in_flight.fetch_max(now_in, Ordering::SeqCst);
                let sent = Instant::now();
                tokio::time::sleep(issuer.latency).await;
                issuer.in_flight.fetch_sub(1, Ordering::SeqCst);
                let n = issuer.fetches.fetch_add(1, Ordering::SeqCst);
                if issuer.refuse {
                    return Err(AuthError::Refused(
                        "AADSTS7000215: Invalid client secret".into(),
                    ));
                }
                let token = format!("token-{n}");
                // The issuer counts the lifetime from its answer, the cache from its request.
                let expires = Instant::now() + issuer.ttl;
                issuer
                    .issued
                    .lock()
                    .expect("issued")
                    .insert(token.clone(), expires);
                Ok(AccessToken {
                    token: Secret::new(token),
                    expires_at: sent + issuer.ttl,
                })
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn two_second_tokens_over_two_minutes_never_reach_a_caller_expired() {
        let issuer = FakeIssuer::new(Duration::from_secs(2), Duration::from_millis(40));
        let cache = Arc::new(TokenCache::new(Box::new(Shared(issuer.clone()))));
        let mut tasks = Vec::new();
        for worker in 0..32u64 {
            let cache = cache.clone();
            let issuer = issuer.clone();
            tasks.push(tokio::spawn(async move {
                let mut calls = 0u32;
                let end = Instant::now() + Duration::from_secs(120);
                while Instant::now() < end {
                    let token = cache.token().await.expect("token");
                    // A Graph call takes a while; the token must still be valid when it lands.
                    tokio::time::sleep(Duration::from_millis(20 + worker)).await;
                    assert!(issuer.valid_now(&token), "expired token {token} handed out");
                    calls += 1;
                }
                calls
            }));
        }
        let mut calls = 0;
        for task in tasks {
            calls += task.await.expect("worker");
        }
        let fetches = issuer.fetches.load(Ordering::SeqCst);
        assert!(calls > 50_000, "{calls} calls");
        // One fetch per refresh (about every 1.8 s), not one per call.
        assert!((55..=80).contains(&fetches), "{fetches} fetches");
        assert_eq!(issuer.max_in_flight.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_first_callers_share_one_fetch() {
        let issuer = FakeIssuer::new(Duration::from_secs(3600), Duration::from_millis(200));
        let cache = Arc::new(TokenCache::new(Box::new(Shared(issuer.clone()))));
        let results = futures::future::join_all((0..50).map(|_| {
            let cache = cache.clone();
            async move { cache.token().await }
        }))
        .await;
        assert!(results.iter().all(|r| r.as_deref().ok() == Some("token-0")));
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_credential_is_asked_once_for_all_waiting_callers() {
        let mut issuer = FakeIssuer::new(Duration::from_secs(3600), Duration::from_millis(200));
        Arc::get_mut(&mut issuer).expect("unshared").refuse = true;
        let cache = Arc::new(TokenCache::new(Box::new(Shared(issuer.clone()))));
        let results = futures::future::join_all((0..20).map(|_| {
            let cache = cache.clone();
            async move { cache.token().await }
        }))
        .await;
        for result in results {
            let err = result.expect_err("refused");
            assert!(err.to_string().contains("AADSTS7000215"), "{err}");
        }
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);
        // A later call asks again (the admin may have fixed the secret meanwhile).
        assert!(cache.token().await.is_err());
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn invalidate_refetches_only_when_the_refused_token_is_still_cached() {
        let issuer = FakeIssuer::new(Duration::from_secs(3600), Duration::from_millis(10));
        let cache = TokenCache::new(Box::new(Shared(issuer.clone())));
        let first = cache.token().await.expect("token");
        cache.invalidate(&first);
        let second = cache.token().await.expect("token");
        assert_ne!(first, second);
        // A late 401 for the old token must not throw away the new one.
        cache.invalidate(&first);
        assert_eq!(cache.token().await.expect("token"), second);
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn hour_long_tokens_are_refreshed_five_minutes_before_expiry() {
        let issuer = FakeIssuer::new(Duration::from_secs(3600), Duration::ZERO);
        let cache = TokenCache::new(Box::new(Shared(issuer.clone())));
        cache.token().await.expect("token");
        tokio::time::advance(Duration::from_secs(54 * 60 + 59)).await;
        assert_eq!(cache.token().await.expect("token"), "token-0");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(cache.token().await.expect("token"), "token-1");
    }
}
