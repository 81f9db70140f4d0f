//! The [`Executor`] behind [`GraphCall`]: see the module doc of [`super`] for the pipeline.
//! A request goes from [`GraphCall::call`] into the batcher's channel; the batcher
//! ([`queue`], `batch_queue.rs`) queues it and picks the next batch over the two budgets; a
//! batch task ([`send`], `batch_send.rs`) sends the `$batch` call and hands each item its
//! answer, or back to the batcher to be sent again after its wait ([`retry`],
//! `batch_retry.rs`), until the caller has its final answer.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use super::ExecConfig;
use super::shutdown::{Phase, Shutdown};
use super::stats::Stats;
use crate::fast_hash::{FastMap, FastSet};
use crate::graph::classify::{
    Disposition, error_from_answer, error_without_answer, item_disposition, parse_limit_percentage,
    parse_retry_after,
};
use crate::graph::client::{BatchAnswer, BatchFailure, GraphClient};
use crate::graph::wire::{
    BatchRequestItem, BatchResponseItem, ITEM_IDS, ItemHeaders, MAX_BATCH_ITEMS,
};
use crate::graph::{ApiVersion, ErrorKind, GraphCall, GraphError, Request, Response, cost};
use crate::throttle::controller::{CUT_GAP, LaneKind};
use crate::throttle::retry::full_jitter;
use crate::throttle::{Feedback, Throttle};

type Reply = oneshot::Sender<Result<Response, GraphError>>;

/// A request waiting for its final answer.
struct Pending {
    /// The hash of the caller's user key ([`Shared::users`]): at most one request per key in a
    /// batch. Two keys that hash alike (a chance of one in 2^64) would only be batched as one
    /// user: never together, in their order.
    user: u64,
    request: Request,
    reply: Reply,
    /// Times sent so far.
    attempts: u32,
    /// Time spent waiting between attempts so far.
    waited: Duration,
    /// A 401 on this item already made us refresh the token once.
    auth_retried: bool,
    /// The resource units it costs ([`cost::resource_units`]).
    units: u32,
}

impl Pending {
    fn answer(self, result: Result<Response, GraphError>) {
        // The caller may have gone (its run aborted); nothing to tell then.
        let _ = self.reply.send(result);
    }

    fn fail(self, kind: ErrorKind, message: &str) {
        let attempts = self.attempts;
        self.answer(Err(error_without_answer(kind, message, attempts)));
    }
}

/// What batch tasks tell the batcher.
enum Event {
    /// Send this again at that time.
    Retry(Instant, Pending),
    /// A batch task ended.
    Done,
}

/// What every task of the executor shares.
struct Shared {
    /// Hashes the callers' user keys, once per request.
    users: std::hash::RandomState,
    client: GraphClient,
    config: ExecConfig,
    stats: Arc<Stats>,
    throttle: Arc<Throttle>,
    shutdown: Shutdown,
}

/// The batch executor. Cheap to clone; every clone feeds the same batcher, which ends when the
/// last clone is dropped and every request has its answer.
///
/// # Contract of [`GraphCall::call`]
///
/// - The answer is final: throttled (429) items and whole-batch 429s, unavailable (503, 504)
///   reads, reads of a whole-batch 5xx, and refused connections are retried inside, after the
///   service's `Retry-After` (fractional seconds or HTTP-date) or exponential backoff with full
///   jitter, within `--max-retries` and `--max-wait`; only then does the caller see
///   [`ErrorKind::Throttled`] or [`ErrorKind::Transient`].
/// - A write answered 503 or 504, a write in a `$batch` answered 5xx as a whole, a write left
///   unanswered in a `$batch` answer, and a write whose connection dropped after it was sent
///   are **never** re-sent by the executor: Graph documents only a 429 as "not run"
///   (graph-contract.md, "JSON batching"). They are answered [`ErrorKind::UnknownOutcome`],
///   and the caller must read the user's state again and decide whether the step is done.
/// - A 401 on an item refreshes the token and retries once; then it is [`ErrorKind::Auth`].
/// - A whole-batch `Retry-After` pauses all sending only when it is within `--max-wait`;
///   a longer one fails that batch's requests with the service's answer.
/// - After the first Ctrl-C (or SIGTERM), writes not yet sent, requests that would need a
///   retry, and requests waiting for a budget or a pause are answered
///   [`ErrorKind::Cancelled`]; after the second, everything not answered is: reads
///   [`ErrorKind::Cancelled`], writes in flight [`ErrorKind::UnknownOutcome`].
/// - [`Response::attempts`] / [`GraphError::attempts`] count the sends, and `request_id` is
///   Graph's id for the answer.
#[derive(Clone)]
pub struct Executor {
    tx: mpsc::Sender<Pending>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// Start the batcher on the current tokio runtime.
    pub fn start(client: GraphClient, config: ExecConfig, shutdown: Shutdown) -> Executor {
        let throttle = Arc::new(Throttle::new(&config.rate));
        let shared = Arc::new(Shared {
            users: std::hash::RandomState::new(),
            client,
            config,
            stats: Arc::new(Stats::default()),
            throttle,
            shutdown,
        });
        // Enough room for every active user's one request; the channel is the backpressure.
        let (tx, rx) = mpsc::channel(config.concurrency.max(1) * MAX_BATCH_ITEMS * 2);
        let batcher = Batcher::new(shared.clone(), rx, config.concurrency);
        tokio::spawn(batcher.run());
        Executor { tx, shared }
    }

    /// The run's counters.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.shared.stats
    }

    /// The run's throttle (rates and state for the progress display).
    pub fn throttle(&self) -> &Arc<Throttle> {
        &self.shared.throttle
    }

    /// The run's shutdown signal this executor obeys.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shared.shutdown
    }

    /// The Graph client the batches are sent with.
    pub fn client(&self) -> &GraphClient {
        &self.shared.client
    }
}

impl GraphCall for Executor {
    fn call(
        &self,
        user: &str,
        request: Request,
    ) -> impl Future<Output = Result<Response, GraphError>> + Send {
        let user = self.shared.users.hash_one(user);
        async move {
            let cancelled = || {
                Err(error_without_answer(
                    ErrorKind::Cancelled,
                    "the run was stopped",
                    0,
                ))
            };
            let (reply, answer) = oneshot::channel();
            let units = cost::resource_units(&request);
            let pending = Pending {
                user,
                units,
                request,
                reply,
                attempts: 0,
                waited: Duration::ZERO,
                auth_retried: false,
            };
            let shutdown = &self.shared.shutdown;
            // The first Ctrl-C (or SIGTERM) stops new writes at once: a row in flight keeps the
            // request it sent, and its remaining steps are reported cancelled.
            if pending.request.is_write() && shutdown.phase() >= Phase::Draining {
                return Err(error_without_answer(
                    ErrorKind::Cancelled,
                    STOPPED_BEFORE_SENT,
                    0,
                ));
            }
            if shutdown.phase() == Phase::Abort {
                return cancelled();
            }
            // The channel has room almost always: the request goes in at once, without
            // waiting on the shutdown signal (which registers a waiter with every other task).
            let pending = match self.tx.try_send(pending) {
                Ok(()) => return answer.await.unwrap_or_else(|_| cancelled()),
                Err(mpsc::error::TrySendError::Closed(_)) => return cancelled(),
                Err(mpsc::error::TrySendError::Full(pending)) => pending,
            };
            tokio::select! {
                biased;
                _ = shutdown.reached(Phase::Abort) => return cancelled(),
                sent = self.tx.send(pending) => if sent.is_err() { return cancelled() },
            }
            answer.await.unwrap_or_else(|_| cancelled())
        }
    }
}

/// One `$batch` call and the fate of its items.
struct BatchTask {
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<Event>,
    version: ApiVersion,
}

/// Shortest wait before a throttled request goes again, even when `Retry-After` is shorter: a
/// `Retry-After` says when *one* request may pass, and every item throttled at the same moment
/// gets the same value; waiting one control interval lets the throttle measure the rate the
/// service allows and spread the retries at it, instead of spending their retries in a herd.
const MIN_THROTTLED_WAIT: Duration = CUT_GAP;

/// Why a request the first Ctrl-C stopped was never sent.
const STOPPED_BEFORE_SENT: &str = "the run was stopped before this request was sent";

const LOST_WRITE: &str = "no final answer to the change (a 5xx, a dropped connection or a missing answer): it may or may not have been applied";

#[path = "batch_queue.rs"]
mod queue;
#[path = "batch_retry.rs"]
mod retry;
#[path = "batch_send.rs"]
mod send;

use queue::Batcher;
use retry::{scope_of, with_attempts};

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};

    use super::*;
    use crate::auth::TokenProvider;
    use crate::graph::path;
    use crate::sim::{SimConfig, upn};
    use crate::throttle::{Budget, BudgetMode, RateConfig};

    #[tokio::test]
    async fn reads_are_not_held_behind_writes_that_wait_for_their_budget() {
        let sim = crate::sim::start(SimConfig {
            users: 40,
            unthrottled: true,
            ..SimConfig::default()
        })
        .await
        .expect("simulator");
        // 15 writes of burst, then one every 10 s; resource units never bind.
        let config = ExecConfig {
            rate: RateConfig {
                budget: Budget {
                    ru_per_10s: 1_000_000,
                    writes_per_150s: 15,
                },
                mode: BudgetMode::Capped,
                start: None,
            },
            ..ExecConfig::default()
        };
        let client = GraphClient::new(sim.url(), TokenProvider::fixed(sim.mint_token()), 16)
            .expect("client");
        let exec = Executor::start(client, config, Shutdown::new());
        let writes_done = Arc::new(AtomicUsize::new(0));
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        for i in 0..20 {
            let (exec, done, done_tx) = (exec.clone(), writes_done.clone(), done_tx.clone());
            tokio::spawn(async move {
                let user = upn(i);
                let url = format!("{}/revokeSignInSessions", path::user(&user));
                let request = Request::post(ApiVersion::V1, url, serde_json::json!({}));
                if exec.call(&user, request).await.is_ok() {
                    done.fetch_add(1, AtomicOrdering::SeqCst);
                    let _ = done_tx.send(());
                }
            });
        }
        // The burst's 15 writes are answered; the other 5 wait in the executor for their budget.
        let burst = async {
            for _ in 0..15 {
                done_rx.recv().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(8), burst)
            .await
            .expect("the writes within the budget went");
        let reads = (20..40).map(|i| {
            let exec = exec.clone();
            async move {
                let user = upn(i);
                let url = format!("{}/authentication/methods", path::user(&user));
                exec.call(&user, Request::get(ApiVersion::V1, url)).await
            }
        });
        // Bounded: the five writes over the burst cannot go for 10 s and more.
        let reads = tokio::time::timeout(Duration::from_secs(8), futures::future::join_all(reads))
            .await
            .expect("the reads were held behind writes waiting for their budget");
        assert!(reads.iter().all(Result::is_ok), "{reads:?}");
        let writes = writes_done.load(AtomicOrdering::SeqCst);
        assert!(writes <= 15, "{writes} writes went with a budget of 15");
    }
}
