//! Retries and delays of a batch's items: a whole-batch `Retry-After` pauses all sending
//! (unless longer than `--max-wait`), a read whose answer was lost is asked again while a write
//! is handed back as an unknown outcome, and an item is sent again after its wait (or a
//! backoff) until its retries are spent, its wait would pass `--max-wait`, or the run stops.

use super::*;

impl BatchTask {
    /// Hold all sending for a whole-batch `Retry-After`, unless it is longer than `--max-wait`
    /// (a gateway's `Retry-After: 999999999` once stalled a run for 24 hours): then the
    /// batch's own items fail (their retry would pass `--max-wait`) and nothing else waits.
    pub(super) fn pause(&self, wait: Duration) {
        if wait <= self.shared.config.retry.max_wait {
            self.shared.throttle.pause_for(wait);
        } else {
            tracing::warn!(
                retry_after_s = wait.as_secs_f64(),
                "the service asked for a pause longer than --max-wait: not honoured; the \
                 requests it answered fail"
            );
        }
    }

    /// The answer to `pending` was lost: a read is asked again, a write is handed back to the
    /// caller as an unknown outcome (it must re-read state, never blindly re-send).
    pub(super) fn lost(&self, pending: Pending, error: GraphError) {
        if pending.request.is_write() {
            Stats::add(&self.shared.stats.failed, 1);
            let attempts = pending.attempts;
            pending.answer(Err(GraphError {
                kind: ErrorKind::UnknownOutcome,
                message: format!("{LOST_WRITE} ({})", error.message),
                attempts,
                ..error
            }));
        } else {
            self.retry_or_fail(pending, None, error);
        }
    }

    /// Send `pending` again after `wait` (or a backoff), or answer it with `error` when its
    /// retries are spent, its wait would pass `--max-wait`, or the run is stopping.
    pub(super) fn retry_or_fail(
        &self,
        mut pending: Pending,
        wait: Option<Duration>,
        error: GraphError,
    ) {
        let stats = &self.shared.stats;
        let error = with_attempts(&error, pending.attempts);
        if self.shared.shutdown.phase() >= Phase::Draining {
            pending.fail(
                ErrorKind::Cancelled,
                "the run was stopped before this request could be retried",
            );
            return;
        }
        match self
            .shared
            .config
            .retry
            .next_wait(pending.attempts, wait, pending.waited)
        {
            Some(wait) => {
                pending.waited += wait;
                Stats::add(&stats.retries, 1);
                if let Err(mpsc::error::SendError(Event::Retry(_, pending))) = self
                    .events
                    .send(Event::Retry(Instant::now() + wait, pending))
                {
                    pending.fail(ErrorKind::Cancelled, "the run was stopped");
                }
            }
            None => {
                Stats::add(&stats.failed, 1);
                pending.answer(Err(error));
            }
        }
    }
}

pub(super) fn with_attempts(error: &GraphError, attempts: u32) -> GraphError {
    GraphError {
        attempts,
        ..error.clone()
    }
}

/// Which budget `x-ms-throttle-information` names.
pub(super) fn scope_of(information: &str) -> Option<LaneKind> {
    if information.contains("Write") {
        Some(LaneKind::Writes)
    } else if information.contains("ResourceUnit") {
        Some(LaneKind::ResourceUnits)
    } else {
        None
    }
}
