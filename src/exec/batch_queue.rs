//! The batcher's queues and the choice of the next batch ([`Batcher`]): requests arrive from
//! the [`Executor`]'s channel, wait in one queue per API version (or, for a
//! retry, parked until their time), and leave in batches sent by a [`BatchTask`]
//! each (see [`super::send`]) as the throttle's budgets, the linger and `--concurrency` allow.
//! The first Ctrl-C stops the writes not yet sent; the second, everything.
//!
//! # Batch forming and the two budgets
//!
//! Reads cost resource units (1, or a listing page's published cost:
//! [`crate::graph::cost`]); writes cost resource units *and* writes, and the write budget
//! is usually the scarcer. A batch therefore takes first the writes the write budget lets go
//! *now* ([`Throttle::writes_now`]), then fills up with reads, in arrival order within each
//! kind (only a user's earliest queued request may go, so a user's requests keep their order).
//! Before that, everything waiting in the channel is moved into the queues, so the choice is
//! made over all that is ready. Why: with one FIFO and a batch that waits for all its budgets,
//! each kind blocked the other (head-of-line blocking). At the start of a run every active user
//! queues its first read (2,000 of them) and the writes of the users already read sat behind
//! them, while the service's write bucket stood full and its refill was lost; later a batch
//! waiting for write budget held every read behind it, so no new user could start. In the
//! `--budget adaptive` benchmark that cost 5 to 10 s of a 60 s run. Writes held back by their
//! budget also tell the write lane that its rate is what holds the engine back, which is what
//! lets an adaptive rate grow. A queue holding only writes waits until a batch's worth of them
//! may go (at most the write bucket's size) rather than sending one write per call.

use super::*;

/// A request parked until its retry time (min-heap by time, then arrival).
struct Delayed {
    at: Instant,
    seq: u64,
    pending: Pending,
}

impl PartialEq for Delayed {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}
impl Eq for Delayed {}
impl PartialOrd for Delayed {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Delayed {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

fn version_index(version: ApiVersion) -> usize {
    match version {
        ApiVersion::V1 => 0,
        ApiVersion::Beta => 1,
    }
}

const VERSIONS: [ApiVersion; 2] = [ApiVersion::V1, ApiVersion::Beta];

/// The batcher task: the queues, the parked retries and the batches in flight.
pub(super) struct Batcher {
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Pending>,
    input_open: bool,
    events_tx: mpsc::UnboundedSender<Event>,
    events_rx: mpsc::UnboundedReceiver<Event>,
    /// Requests ready to go, per API version, in arrival order.
    queues: [VecDeque<Pending>; 2],
    /// How many requests of each queue are writes.
    writes_queued: [usize; 2],
    /// Since when each queue has held a request (for the linger).
    ready_since: [Option<Instant>; 2],
    delayed: BinaryHeap<Delayed>,
    seq: u64,
    /// The users a batch's choice has passed (kept between batches for its room).
    seen: FastSet<u64>,
    /// How many requests each user has in the queues: a user with one is its own earliest, so
    /// the choice of a batch looks up only users with more.
    per_user: FastMap<u64, u32>,
    permits: Arc<Semaphore>,
    in_flight: usize,
    /// The first Ctrl-C was seen: no write is sent any more, nothing waits.
    draining: bool,
}

impl Batcher {
    /// A batcher reading requests from `rx`, with `concurrency` batches in flight at most.
    pub(super) fn new(
        shared: Arc<Shared>,
        rx: mpsc::Receiver<Pending>,
        concurrency: usize,
    ) -> Self {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        Batcher {
            shared,
            rx,
            input_open: true,
            events_tx,
            events_rx,
            queues: [VecDeque::new(), VecDeque::new()],
            writes_queued: [0, 0],
            ready_since: [None, None],
            delayed: BinaryHeap::new(),
            seq: 0,
            seen: FastSet::default(),
            per_user: FastMap::default(),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            in_flight: 0,
            draining: false,
        }
    }

    /// Run until the last [`Executor`] clone is dropped and every request has its answer.
    pub(super) async fn run(mut self) {
        loop {
            if self.shared.shutdown.phase() == Phase::Abort {
                self.cancel_everything();
                return;
            }
            self.take_arrivals();
            if !self.draining && self.shared.shutdown.phase() >= Phase::Draining {
                self.draining = true;
                self.cancel_unsent_and_waiting();
            }
            let now = Instant::now();
            self.release_due(now);
            if let Some(index) = self.ready_queue(now) {
                self.send_one(index).await;
                continue;
            }
            if !self.input_open
                && self.in_flight == 0
                && self.delayed.is_empty()
                && self.queues.iter().all(VecDeque::is_empty)
            {
                return;
            }
            let deadline = self.next_deadline();
            let shutdown = self.shared.shutdown.clone();
            tokio::select! {
                biased;
                _ = shutdown.reached(Phase::Abort) => {}
                _ = shutdown.reached(Phase::Draining), if !self.draining => {}
                Some(event) = self.events_rx.recv() => self.on_event(event),
                pending = self.rx.recv(), if self.input_open => match pending {
                    Some(pending) => self.enqueue(pending, Instant::now()),
                    None => self.input_open = false,
                },
                _ = sleep_until_opt(deadline), if deadline.is_some() => {}
            }
        }
    }

    /// Move every request already waiting in the channel (and every event) into the queues
    /// before a batch is formed: a batch is chosen from all that is ready, so a write that may
    /// go now is not stuck in the channel behind reads that wait for their budget. Bounded: each
    /// active user has at most one request outstanding.
    fn take_arrivals(&mut self) {
        while let Ok(event) = self.events_rx.try_recv() {
            self.on_event(event);
        }
        if !self.input_open {
            return;
        }
        let now = Instant::now();
        loop {
            match self.rx.try_recv() {
                Ok(pending) => self.enqueue(pending, now),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.input_open = false;
                    break;
                }
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Retry(at, pending) => {
                self.seq += 1;
                self.delayed.push(Delayed {
                    at,
                    seq: self.seq,
                    pending,
                });
            }
            Event::Done => self.in_flight = self.in_flight.saturating_sub(1),
        }
    }

    fn enqueue(&mut self, pending: Pending, now: Instant) {
        if self.draining && pending.request.is_write() {
            pending.fail(ErrorKind::Cancelled, STOPPED_BEFORE_SENT);
            return;
        }
        let index = version_index(pending.request.version);
        self.writes_queued[index] += usize::from(pending.request.is_write());
        *self.per_user.entry(pending.user).or_default() += 1;
        self.queues[index].push_back(pending);
        self.ready_since[index].get_or_insert(now);
    }

    fn release_due(&mut self, now: Instant) {
        while self.delayed.peek().is_some_and(|d| d.at <= now) {
            if let Some(delayed) = self.delayed.pop() {
                self.enqueue(delayed.pending, now);
            }
        }
    }

    /// Writes of queue `index` the write budget lets go now (at most a batch's worth).
    fn writes_now(&self, index: usize) -> usize {
        let queued = self.writes_queued[index].min(MAX_BATCH_ITEMS);
        if queued == 0 {
            return 0;
        }
        let wanted = u32::try_from(queued).unwrap_or(u32::MAX);
        usize::try_from(self.shared.throttle.writes_now(wanted)).unwrap_or(queued)
    }

    /// How many writes of queue `index` make a batch worth waiting for, when it holds writes
    /// alone (see [`Throttle::write_batch`]).
    fn write_batch(&self, index: usize) -> usize {
        let queued = self.writes_queued[index].min(MAX_BATCH_ITEMS);
        let queued32 = u32::try_from(queued).unwrap_or(u32::MAX);
        usize::try_from(self.shared.throttle.write_batch(queued32)).unwrap_or(queued)
    }

    /// A queue whose batch should go now: 20 requests that may go, or lingered long enough.
    /// Writes the write budget holds back do not count (they must not hold reads back), and a
    /// queue of writes alone waits until a batch's worth of them may go rather than trickling
    /// out one write per call.
    fn ready_queue(&self, now: Instant) -> Option<usize> {
        (0..2).find(|&i| {
            let queue = &self.queues[i];
            if queue.is_empty() {
                return false;
            }
            let writes = self.writes_queued[i];
            let reads = queue.len() - writes;
            let sendable = reads + self.writes_now(i);
            let lingered =
                self.ready_since[i].is_some_and(|t| now >= t + self.shared.config.linger);
            sendable >= MAX_BATCH_ITEMS
                || lingered && (reads > 0 || sendable >= self.write_batch(i))
        })
    }

    fn next_deadline(&self) -> Option<Instant> {
        let linger = self.shared.config.linger;
        let lingers = (0..2).filter_map(|i| {
            let since = self.ready_since[i]?;
            let writes = self.writes_queued[i];
            let lingered = since + linger;
            if writes < self.queues[i].len() {
                return Some(lingered);
            }
            // Writes alone: wake when a batch's worth of them may go.
            let batch = u32::try_from(self.write_batch(i)).unwrap_or(u32::MAX);
            Some(lingered.max(self.shared.throttle.writes_available_at(batch)))
        });
        let retry = self.delayed.peek().map(|d| d.at);
        lingers.chain(retry).min()
    }

    /// Take up to 20 requests of distinct users from queue `index`: first up to `max_writes`
    /// writes, then reads, each in arrival order. Only a user's earliest queued request may go,
    /// so a user's requests keep their order. Only the part of the queue that was looked at is
    /// moved (a batch usually comes from its front; the queue may hold thousands).
    fn take_batch(&mut self, index: usize, max_writes: usize) -> Vec<Pending> {
        let queue = &mut self.queues[index];
        // Writes first: the write budget is the scarcer one, and a write that may go now and
        // waits behind reads is budget the service refills for nothing.
        let passes: &[bool] = if max_writes > 0 && self.writes_queued[index] > 0 {
            &[true, false]
        } else {
            &[false]
        };
        // Places in the queue of the chosen requests, and how far the queue was looked at.
        let mut chosen: Vec<usize> = Vec::with_capacity(MAX_BATCH_ITEMS);
        let mut looked = 0;
        let mut writes = 0;
        let queued_writes = self.writes_queued[index];
        let (seen, per_user) = (&mut self.seen, &self.per_user);
        for &want_write in passes {
            seen.clear();
            let mut writes_passed = 0;
            for (i, pending) in queue.iter().enumerate() {
                if chosen.len() == MAX_BATCH_ITEMS
                    || want_write && (writes == max_writes || writes_passed == queued_writes)
                {
                    break;
                }
                looked = looked.max(i + 1);
                let write = pending.request.is_write();
                writes_passed += usize::from(write);
                // A user with one request queued is its own earliest; only users with more are
                // remembered. (The writes the first pass chose are passed over by the second,
                // for reads.)
                let alone = per_user.get(&pending.user).is_none_or(|n| *n <= 1);
                let earliest = alone || seen.insert(pending.user);
                if !earliest || write != want_write {
                    continue;
                }
                chosen.push(i);
                writes += usize::from(want_write);
            }
        }
        chosen.sort_unstable();
        let mut batch: Vec<Pending> = Vec::with_capacity(chosen.len());
        let mut kept: Vec<Pending> = Vec::with_capacity(looked - chosen.len());
        let mut next = chosen.iter().copied().peekable();
        for (i, pending) in queue.drain(..looked).enumerate() {
            if next.next_if_eq(&i).is_some() {
                left_queue(&mut self.per_user, pending.user);
                batch.push(pending);
            } else {
                kept.push(pending);
            }
        }
        // What was looked at and not taken goes back to the front, in its order.
        for pending in kept.into_iter().rev() {
            queue.push_front(pending);
        }
        self.writes_queued[index] -= writes;
        if queue.is_empty() {
            self.ready_since[index] = None;
        }
        batch
    }

    async fn send_one(&mut self, index: usize) {
        let shutdown = self.shared.shutdown.clone();
        let permit = tokio::select! {
            biased;
            _ = shutdown.reached(Phase::Abort) => return,
            permit = self.permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        if !self.draining && shutdown.phase() >= Phase::Draining {
            // Stopped while this batch waited for a permit: the queues still hold writes that
            // must not go; the loop drops them first.
            return;
        }
        let max_writes = self.writes_now(index);
        let batch = self.take_batch(index, max_writes);
        if batch.is_empty() {
            // The write budget shrank while the permit was awaited; look again.
            return;
        }
        let units = batch.iter().map(|p| p.units).sum();
        let writes = u32::try_from(batch.iter().filter(|p| p.request.is_write()).count())
            .unwrap_or(u32::MAX);
        // A budget that is there now is taken at once (the first branch); a wait for it, or
        // for a service pause, ends at the first Ctrl-C: nothing of the batch was sent.
        tokio::select! {
            biased;
            _ = self.shared.throttle.acquire(units, writes) => {}
            _ = shutdown.reached(Phase::Draining) => {
                for pending in batch {
                    pending.fail(ErrorKind::Cancelled, STOPPED_BEFORE_SENT);
                }
                return;
            }
        }
        self.in_flight += 1;
        let task = BatchTask {
            shared: self.shared.clone(),
            events: self.events_tx.clone(),
            version: VERSIONS[index],
        };
        tokio::spawn(task.run(batch, permit));
    }

    /// The first Ctrl-C: every write not yet sent, and every request waiting for a retry, is
    /// answered cancelled (a retry wait may be as long as `--max-wait`). Reads ready to go still
    /// go: the rows in flight need them to finish the request they sent.
    fn cancel_unsent_and_waiting(&mut self) {
        for (index, queue) in self.queues.iter_mut().enumerate() {
            let (writes, reads): (VecDeque<Pending>, VecDeque<Pending>) =
                queue.drain(..).partition(|p| p.request.is_write());
            for pending in writes {
                left_queue(&mut self.per_user, pending.user);
                pending.fail(ErrorKind::Cancelled, STOPPED_BEFORE_SENT);
            }
            if reads.is_empty() {
                self.ready_since[index] = None;
            }
            *queue = reads;
        }
        self.writes_queued = [0, 0];
        for delayed in self.delayed.drain() {
            delayed.pending.fail(
                ErrorKind::Cancelled,
                "the run was stopped before this request could be retried",
            );
        }
    }

    fn cancel_everything(&mut self) {
        self.per_user.clear();
        for queue in &mut self.queues {
            for pending in queue.drain(..) {
                pending.fail(ErrorKind::Cancelled, "the run was stopped");
            }
        }
        self.writes_queued = [0, 0];
        for delayed in self.delayed.drain() {
            delayed
                .pending
                .fail(ErrorKind::Cancelled, "the run was stopped");
        }
        self.rx.close();
        while let Ok(pending) = self.rx.try_recv() {
            pending.fail(ErrorKind::Cancelled, "the run was stopped");
        }
    }
}

/// One request of `user` left the queues.
fn left_queue(per_user: &mut FastMap<u64, u32>, user: u64) {
    if let Some(n) = per_user.get_mut(&user) {
        *n -= 1;
        if *n == 0 {
            per_user.remove(&user);
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}
