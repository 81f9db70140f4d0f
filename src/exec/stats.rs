//! Counters of the run, updated by the executor's tasks with relaxed atomics and read by the
//! progress display ([`crate::report::progress`]) and the end-of-run summary.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters; shared through an `Arc`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Reads (GET) answered with success.
    pub reads: AtomicU64,
    /// Writes answered with success.
    pub writes: AtomicU64,
    /// `$batch` calls sent.
    pub batches: AtomicU64,
    /// Requests sent inside batches, retries included.
    pub sent: AtomicU64,
    /// Requests answered 429 (an item, or every item of a throttled batch).
    pub throttled: AtomicU64,
    /// Requests sent again after a throttle or transient failure.
    pub retries: AtomicU64,
    /// Transient failures: 5xx answers, dropped or refused connections.
    pub transient: AtomicU64,
    /// Requests that ended in a final error.
    pub failed: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// See [`Stats::reads`].
    pub reads: u64,
    /// See [`Stats::writes`].
    pub writes: u64,
    /// See [`Stats::batches`].
    pub batches: u64,
    /// See [`Stats::sent`].
    pub sent: u64,
    /// See [`Stats::throttled`].
    pub throttled: u64,
    /// See [`Stats::retries`].
    pub retries: u64,
    /// See [`Stats::transient`].
    pub transient: u64,
    /// See [`Stats::failed`].
    pub failed: u64,
}

impl Stats {
    /// Add `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            reads: get(&self.reads),
            writes: get(&self.writes),
            batches: get(&self.batches),
            sent: get(&self.sent),
            throttled: get(&self.throttled),
            retries: get(&self.retries),
            transient: get(&self.transient),
            failed: get(&self.failed),
        }
    }
}
