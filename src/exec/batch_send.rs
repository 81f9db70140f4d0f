//! One `$batch` call and the fate of its items ([`BatchTask`]): the batch is sent with its
//! permit (one of `--concurrency`), its answer is matched to the waiting requests item by item,
//! and each item either answers its caller (a final status), goes back to the batcher to be
//! sent again (throttled, a transient error, a 401 after one token refresh), or, for a write
//! whose answer was lost, answers as an unknown outcome; the throttle learns from every answer
//! (`Retry-After`, the service's limit headers). Retries and delays are in
//! [`super::retry`].

use super::*;

impl BatchTask {
    pub(super) async fn run(self, mut batch: Vec<Pending>, permit: OwnedSemaphorePermit) {
        for pending in &mut batch {
            pending.attempts += 1;
        }
        let stats = &self.shared.stats;
        Stats::add(&stats.batches, 1);
        Stats::add(&stats.sent, batch.len() as u64);
        let sent_at = Instant::now();
        let units = batch.iter().map(|p| p.units).sum();
        let writes = u32::try_from(batch.iter().filter(|p| p.request.is_write()).count())
            .unwrap_or(u32::MAX);
        let result = {
            let items: Vec<BatchRequestItem<'_>> = batch
                .iter()
                .enumerate()
                .map(|(i, p)| BatchRequestItem {
                    id: ITEM_IDS[i],
                    method: p.request.method.as_str(),
                    url: &p.request.url,
                    headers: ItemHeaders::new(p.request.body.is_some(), p.request.eventual),
                    body: p.request.body.as_ref(),
                })
                .collect();
            tokio::select! {
                biased;
                _ = self.shared.shutdown.reached(Phase::Abort) => None,
                result = self.shared.client.send_batch(self.version, &items) => Some(result),
            }
        };
        // The permit is held until the answer is handled: a batch waiting for it must see the
        // pause a whole-batch `Retry-After` sets, and the throttle's news of this answer.
        match result {
            None => {
                for pending in batch {
                    if pending.request.is_write() {
                        pending.fail(
                            ErrorKind::UnknownOutcome,
                            "stopped while the change was in flight",
                        );
                    } else {
                        pending.fail(ErrorKind::Cancelled, "the run was stopped");
                    }
                }
            }
            Some(Ok(answer)) => self.on_answer(batch, answer, sent_at),
            Some(Err(failure)) => self.on_failure(batch, failure, sent_at),
        }
        self.shared.throttle.answered(units, writes);
        drop(permit);
        let _ = self.events.send(Event::Done);
    }

    fn on_answer(&self, batch: Vec<Pending>, mut answer: BatchAnswer, sent_at: Instant) {
        let mut slots: Vec<Option<Pending>> = batch.into_iter().map(Some).collect();
        let items = std::mem::take(&mut answer.items);
        let (mut accepted, mut accepted_writes) = (0u32, 0u32);
        for item in &items {
            if item.status != 429 {
                let pending = item
                    .id
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| slots.get(i))
                    .and_then(Option::as_ref);
                accepted += pending.map_or(1, |p| p.units);
                accepted_writes += u32::from(pending.is_some_and(|p| p.request.is_write()));
            }
        }
        self.shared.throttle.accepted(accepted, accepted_writes);
        for item in items {
            let Some(pending) = item
                .id
                .parse::<usize>()
                .ok()
                .and_then(|i| slots.get_mut(i))
                .and_then(Option::take)
            else {
                tracing::debug!(id = %item.id, "answer to no request of the batch");
                continue;
            };
            self.on_item(pending, item, &answer, sent_at);
        }
        // Items the service did not answer: as good as a lost connection for them.
        for pending in slots.into_iter().flatten() {
            let error = error_without_answer(
                ErrorKind::Transient,
                "the $batch answer had no answer for this request",
                pending.attempts,
            );
            self.lost(pending, error);
        }
    }

    fn on_item(
        &self,
        mut pending: Pending,
        item: BatchResponseItem,
        answer: &BatchAnswer,
        sent_at: Instant,
    ) {
        let stats = &self.shared.stats;
        let write = pending.request.is_write();
        let pct = item
            .header("x-ms-throttle-limit-percentage")
            .and_then(parse_limit_percentage)
            .or(answer.limit_percentage);
        let throttled = item.status == 429;
        if throttled || pct.is_some() {
            self.shared.throttle.observe(Feedback {
                write,
                throttled,
                scope: item.header("x-ms-throttle-information").and_then(scope_of),
                limit_percentage: pct,
                sent_at,
            });
        }
        let request_id = item
            .header("request-id")
            .map(str::to_string)
            .or_else(|| answer.request_id.clone());
        match item_disposition(item.status) {
            Disposition::Success => {
                Stats::add(if write { &stats.writes } else { &stats.reads }, 1);
                let attempts = pending.attempts;
                pending.answer(Ok(Response {
                    status: item.status,
                    body: item.body,
                    request_id,
                    attempts,
                }));
            }
            Disposition::Retry => {
                Stats::add(
                    if throttled {
                        &stats.throttled
                    } else {
                        &stats.transient
                    },
                    1,
                );
                let wait = item
                    .header("retry-after")
                    .and_then(|v| parse_retry_after(v, SystemTime::now()))
                    .map(|w| {
                        if throttled {
                            w.max(MIN_THROTTLED_WAIT)
                        } else {
                            w
                        }
                    });
                let error = error_from_answer(
                    item.status,
                    &item.body,
                    request_id.as_deref(),
                    pending.attempts,
                );
                if write && !throttled {
                    // Only a 429 is known not to have run: a 503/504 can come after the
                    // change was made ("Microsoft Graph error responses": a 504 is a proxy
                    // that got no timely answer upstream), so the caller re-reads.
                    self.lost(pending, error);
                } else {
                    self.retry_or_fail(pending, wait, error);
                }
            }
            Disposition::Fail(ErrorKind::Auth) if !pending.auth_retried => {
                self.shared.client.token_refused(answer);
                pending.auth_retried = true;
                let error = error_from_answer(
                    item.status,
                    &item.body,
                    request_id.as_deref(),
                    pending.attempts,
                );
                self.retry_or_fail(pending, Some(Duration::ZERO), error);
            }
            Disposition::Fail(_) => {
                Stats::add(&stats.failed, 1);
                let attempts = pending.attempts;
                pending.answer(Err(error_from_answer(
                    item.status,
                    &item.body,
                    request_id.as_deref(),
                    attempts,
                )));
            }
        }
    }

    fn on_failure(&self, batch: Vec<Pending>, failure: BatchFailure, sent_at: Instant) {
        let stats = &self.shared.stats;
        let n = batch.len() as u64;
        match failure {
            BatchFailure::Throttled { wait, error } => {
                Stats::add(&stats.throttled, n);
                let attempts = batch.iter().map(|p| p.attempts).max().unwrap_or(1);
                let wait = wait.unwrap_or_else(|| full_jitter(attempts));
                // A whole-batch 429 is about the app's rate of calls, not an item: hold
                // everything, and slow the calls. A pause longer than --max-wait is not
                // honoured: its items fail with the service's answer, nothing else waits.
                self.pause(wait);
                self.shared.throttle.call_throttled(sent_at);
                let wait = wait.max(MIN_THROTTLED_WAIT);
                for pending in batch {
                    self.retry_or_fail(pending, Some(wait), with_attempts(&error, 0));
                }
            }
            BatchFailure::Transient { wait, error } => {
                Stats::add(&stats.transient, n);
                if let Some(wait) = wait {
                    self.pause(wait);
                }
                // Nothing documents that a 5xx `$batch` ran none of its items (a gateway
                // timeout can come after they ran): its reads go again, its writes have an
                // unknown outcome.
                for pending in batch {
                    if pending.request.is_write() {
                        self.lost(pending, with_attempts(&error, 0));
                    } else {
                        self.retry_or_fail(pending, wait, with_attempts(&error, 0));
                    }
                }
            }
            BatchFailure::NotSent(error) => {
                Stats::add(&stats.transient, n);
                for pending in batch {
                    self.retry_or_fail(pending, None, with_attempts(&error, 0));
                }
            }
            BatchFailure::Lost(error) => {
                Stats::add(&stats.transient, n);
                for pending in batch {
                    self.lost(pending, with_attempts(&error, 0));
                }
            }
            BatchFailure::Fatal(error) => {
                Stats::add(&stats.failed, n);
                for pending in batch {
                    let attempts = pending.attempts;
                    pending.answer(Err(with_attempts(&error, attempts)));
                }
            }
        }
    }
}
