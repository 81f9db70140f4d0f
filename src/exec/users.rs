//! The per-user driver: runs work items (job rows, target users) through an async handler,
//! each user's items one after another in input order, different users in parallel, with a
//! bounded number of users active at once. Memory stays flat however long the input is: a user
//! holds state only while it has an item running or waiting. Called by the run command with the
//! planner's handler; outputs go through one bounded channel to the single collector that writes
//! the report and drives the progress display.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::shutdown::{Phase, Shutdown};
use crate::fast_hash::FastMap;

/// What to do for each work item.
pub trait UserWork: Send + Sync + 'static {
    /// A work item (a job row with its user).
    type Item: Send + 'static;
    /// What the collector receives per item (report records).
    type Output: Send + 'static;

    /// The key that orders an item behind the same user's earlier items. Normalise it (for
    /// example lowercase a UPN) so that two spellings of one user are one key.
    fn user_key(&self, item: &Self::Item) -> String;

    /// Carry the item out.
    fn run(&self, item: Self::Item) -> impl Future<Output = Self::Output> + Send;

    /// The output of an item that was read but not started because the run was stopped.
    fn cancelled(&self, item: Self::Item) -> Self::Output;

    /// Called when the user `key` has no item running or waiting any more, so per-user state
    /// kept between a user's items can be dropped (memory stays flat).
    fn user_done(&self, key: &str) {
        let _ = key;
    }
}

/// How [`for_each_user`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveEnd {
    /// Every item ran.
    Completed,
    /// Stopped by a first Ctrl-C or SIGTERM: started items finished (their unsent writes
    /// cancelled by the executor), waiting ones were reported cancelled, the rest of the input
    /// was not read.
    Drained,
    /// Stopped by a second Ctrl-C: items in flight were abandoned.
    Aborted,
    /// The collector went away (its channel closed).
    CollectorGone,
}

type Running = Pin<Box<dyn Future<Output = (String, bool)> + Send>>;

/// Run every item of `items` through `work`, at most `max_active` users at a time, sending
/// each output to `out`. A user's later items wait (at most `max_active` of them in total
/// across users, then reading pauses) until its earlier ones are done.
pub async fn for_each_user<W, S>(
    work: Arc<W>,
    items: S,
    max_active: usize,
    out: mpsc::Sender<W::Output>,
    shutdown: Shutdown,
) -> DriveEnd
where
    W: UserWork,
    S: Stream<Item = W::Item> + Send,
{
    let max_active = max_active.max(1);
    let max_waiting = max_active;
    let mut items = std::pin::pin!(items);
    // Users with an item running; their queued later items.
    let mut active: FastMap<String, VecDeque<W::Item>> = FastMap::default();
    let mut waiting = 0usize;
    let mut running: FuturesUnordered<Running> = FuturesUnordered::new();
    let mut input_done = false;
    let mut draining = false;
    let mut collector_gone = false;
    // Made once, not per turn of the loop (each is a waiter on the one shutdown signal). Neither
    // is polled after it has ended: the first returns, and the second ends only once the phase
    // is past running, which the loop's next turn sees (`draining`).
    let mut abort = std::pin::pin!(shutdown.reached(Phase::Abort));
    let mut drain = std::pin::pin!(shutdown.reached(Phase::Draining));

    let start = |item: W::Item, key: String| -> Running {
        let work = work.clone();
        let out = out.clone();
        Box::pin(async move {
            let output = work.run(item).await;
            let delivered = out.send(output).await.is_ok();
            (key, delivered)
        })
    };

    loop {
        if !draining && shutdown.phase() >= Phase::Draining {
            draining = true;
            // Items queued behind a running one never started: report them cancelled.
            for queue in active.values_mut() {
                for item in queue.drain(..) {
                    if out.send(work.cancelled(item)).await.is_err() {
                        collector_gone = true;
                    }
                }
            }
            waiting = 0;
        }
        if running.is_empty() && (input_done || draining || collector_gone) {
            break;
        }
        let can_read = !input_done
            && !draining
            && !collector_gone
            && active.len() < max_active
            && waiting < max_waiting;
        tokio::select! {
            biased;
            _ = &mut abort => return DriveEnd::Aborted,
            _ = &mut drain, if !draining => {}
            Some((key, delivered)) = running.next(), if !running.is_empty() => {
                collector_gone |= !delivered;
                let next = active.get_mut(&key).and_then(VecDeque::pop_front);
                match next {
                    Some(item) if !draining && !collector_gone => {
                        waiting -= 1;
                        running.push(start(item, key));
                    }
                    Some(item) => {
                        let _ = out.send(work.cancelled(item)).await;
                    }
                    None => {
                        active.remove(&key);
                        work.user_done(&key);
                    }
                }
            }
            item = items.next(), if can_read => match item {
                None => input_done = true,
                Some(item) => {
                    let key = work.user_key(&item);
                    if let Some(queue) = active.get_mut(&key) {
                        queue.push_back(item);
                        waiting += 1;
                    } else {
                        active.insert(key.clone(), VecDeque::new());
                        running.push(start(item, key));
                    }
                }
            },
        }
    }
    if collector_gone {
        DriveEnd::CollectorGone
    } else if draining {
        DriveEnd::Drained
    } else {
        DriveEnd::Completed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Items are (user, n); running one sleeps 10 ms of paused clock and records start/end.
    struct Recorder {
        log: Mutex<Vec<(String, u32, &'static str)>>,
        active: AtomicUsize,
        peak: AtomicUsize,
        stop_after: Option<(usize, Shutdown)>,
        started: AtomicUsize,
    }

    impl Recorder {
        fn new(stop_after: Option<(usize, Shutdown)>) -> Self {
            Recorder {
                log: Mutex::new(Vec::new()),
                active: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                stop_after,
                started: AtomicUsize::new(0),
            }
        }
    }

    impl UserWork for Recorder {
        type Item = (String, u32);
        type Output = (String, u32, bool);

        fn user_key(&self, item: &Self::Item) -> String {
            item.0.to_lowercase()
        }

        async fn run(&self, item: Self::Item) -> Self::Output {
            let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            self.log
                .lock()
                .unwrap()
                .push((item.0.clone(), item.1, "start"));
            let started = self.started.fetch_add(1, Ordering::SeqCst) + 1;
            if let Some((n, shutdown)) = &self.stop_after
                && started == *n
            {
                shutdown.escalate();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            self.log
                .lock()
                .unwrap()
                .push((item.0.clone(), item.1, "end"));
            self.active.fetch_sub(1, Ordering::SeqCst);
            (item.0, item.1, true)
        }

        fn cancelled(&self, item: Self::Item) -> Self::Output {
            (item.0, item.1, false)
        }
    }

    async fn collect(rx: &mut mpsc::Receiver<(String, u32, bool)>) -> Vec<(String, u32, bool)> {
        let mut all = Vec::new();
        while let Some(x) = rx.recv().await {
            all.push(x);
        }
        all
    }

    #[tokio::test(start_paused = true)]
    async fn a_users_items_run_in_input_order_even_when_not_adjacent() {
        let work = Arc::new(Recorder::new(None));
        let input = vec![
            ("a".to_string(), 1),
            ("b".to_string(), 1),
            ("A".to_string(), 2),
            ("c".to_string(), 1),
            ("a".to_string(), 3),
        ];
        let (tx, mut rx) = mpsc::channel(4);
        let driver = tokio::spawn(for_each_user(
            work.clone(),
            futures::stream::iter(input),
            8,
            tx,
            Shutdown::new(),
        ));
        let outputs = collect(&mut rx).await;
        assert_eq!(driver.await.unwrap(), DriveEnd::Completed);
        assert_eq!(outputs.len(), 5);
        let log = work.log.lock().unwrap().clone();
        let a_events: Vec<_> = log
            .iter()
            .filter(|(u, _, _)| u.eq_ignore_ascii_case("a"))
            .map(|(_, n, e)| (*n, *e))
            .collect();
        assert_eq!(
            a_events,
            vec![
                (1, "start"),
                (1, "end"),
                (2, "start"),
                (2, "end"),
                (3, "start"),
                (3, "end")
            ]
        );
        // Different users ran in parallel: three at once at the start.
        assert!(work.peak.load(Ordering::SeqCst) >= 3);
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_than_max_active_users_run_at_once() {
        let work = Arc::new(Recorder::new(None));
        let input = (0..100).map(|i| (format!("u{i}"), 1));
        let (tx, mut rx) = mpsc::channel(4);
        let driver = tokio::spawn(for_each_user(
            work.clone(),
            futures::stream::iter(input),
            7,
            tx,
            Shutdown::new(),
        ));
        assert_eq!(collect(&mut rx).await.len(), 100);
        driver.await.unwrap();
        assert_eq!(work.peak.load(Ordering::SeqCst), 7);
    }

    #[tokio::test(start_paused = true)]
    async fn draining_finishes_started_items_and_cancels_waiting_ones() {
        let shutdown = Shutdown::new();
        // The 3rd item to start triggers a first Ctrl-C.
        let work = Arc::new(Recorder::new(Some((3, shutdown.clone()))));
        let input = vec![
            ("a".to_string(), 1),
            ("a".to_string(), 2),
            ("b".to_string(), 1),
            ("c".to_string(), 1),
            ("d".to_string(), 1),
            ("e".to_string(), 1),
        ];
        let (tx, mut rx) = mpsc::channel(16);
        let driver = tokio::spawn(for_each_user(
            work.clone(),
            futures::stream::iter(input),
            3,
            tx,
            shutdown,
        ));
        let outputs = collect(&mut rx).await;
        assert_eq!(driver.await.unwrap(), DriveEnd::Drained);
        let done: Vec<_> = outputs
            .iter()
            .filter(|o| o.2)
            .map(|o| (o.0.as_str(), o.1))
            .collect();
        let cancelled: Vec<_> = outputs
            .iter()
            .filter(|o| !o.2)
            .map(|o| (o.0.as_str(), o.1))
            .collect();
        assert_eq!(done.len(), 3, "{outputs:?}");
        assert_eq!(cancelled, vec![("a", 2)]);
        // Nothing after the stop was started.
        assert_eq!(work.started.load(Ordering::SeqCst), 3);
    }
}
