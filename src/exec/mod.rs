//! The executor: turns per-user Graph requests into `$batch` calls under the run's budgets, with
//! retries and an orderly shutdown. The planner ([`crate::plan`]) calls it through
//! [`GraphCall`](crate::graph::GraphCall), one request at a time per user; the run command drives
//! users through [`for_each_user`]; the report module shows progress from its [`stats`].
//!
//! Pipeline: callers enqueue (user, request, reply) into a bounded channel; one batcher task
//! groups ready requests by API version into batches of up to 20 with at most one request per
//! user (flushing when 20 are ready or after a short linger), takes a concurrency permit and the
//! batch's resource units and writes from the [`Throttle`](crate::throttle::Throttle), and spawns
//! the call; the batch task matches answers by id, answers each caller, reports throttling
//! signals, and hands throttled or transiently failed requests back to the batcher with the
//! time they may go again. Everything is bounded: the channel, the permits, and the requests
//! waiting for a retry (one per active user at most, since each caller awaits its answer).
//!
//! Paged reads ([`Executor::pages`], `pages.rs`: the users of `--all-users`, group members, the
//! registration report) go through the same pipeline, one page at a time as a `$batch` item,
//! so one budget and one retry policy cover all traffic.

use std::time::Duration;

use crate::throttle::RateConfig;
use crate::throttle::retry::RetryPolicy;

mod batcher;
mod pages;
pub mod shutdown;
pub mod stats;
mod users;

pub use batcher::Executor;
pub use shutdown::{Phase, Shutdown};
pub use stats::StatsSnapshot;
pub use users::{DriveEnd, UserWork, for_each_user};

/// The validated execution settings of a run: rate, retry and concurrency in one place, passed
/// to one executor (rather than copies of the engine per setting).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExecConfig {
    /// Budgets and whether they are caps.
    pub rate: RateConfig,
    /// When to retry and when to give up.
    pub retry: RetryPolicy,
    /// Most `$batch` calls in flight at once (`--concurrency`).
    pub concurrency: usize,
    /// How long a partly filled batch waits for more requests before it is sent.
    pub linger: Duration,
    /// Most users worked on at once by [`for_each_user`].
    pub active_users: usize,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            rate: RateConfig::default(),
            retry: RetryPolicy::default(),
            concurrency: 16,
            linger: Duration::from_millis(3),
            active_users: 2_000,
        }
    }
}
