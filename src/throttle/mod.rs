//! Client-side budgets and the adaptive rate controller. Owns how fast the executor
//! ([`crate::exec`]) may send: before every `$batch` it calls [`Throttle::acquire`] with the
//! batch's resource units (one per item) and writes, and after every answer it reports what the
//! service said ([`Throttle::observe`], [`Throttle::pause_for`]).
//!
//! Two budgets, as Graph's identity service publishes them (graph-contract.md, "Throttling"):
//! resource units per 10 s and writes per 150 s for the app in the tenant. Each has a *lane*
//! ([`controller::Lane`]) made of
//! - a **cap**: a token bucket with the configured budget (the published one for
//!   `--tenant-size`, or `--ru-per-10s` / `--writes-per-150s`), which the engine never exceeds;
//!   `--budget adaptive` drops it;
//! - an **adaptive rate**, which follows the service's own signals, because the tenant's budget
//!   is shared with other apps (the service may allow less than the cap) and the published
//!   limits may not even apply to these paths (it may allow more).
//!
//! # Why this controller
//!
//! The controller is AIMD (additive increase, multiplicative decrease, as TCP) with an *early*
//! signal, in the spirit of DCTCP/ECN: Graph sends `x-ms-throttle-limit-percentage` once a
//! bucket is 80 % used, well before it answers 429. Plain AIMD only learns of the limit by
//! hitting it, so it saw-tooths between the limit and half of it (about 75 % efficiency) and pays
//! a burst of 429s at every tooth. Here:
//! - a 429 sets the rate to 0.97 of the rate the service *accepted* over the last two seconds
//!   (once per episode): while it throttles, what it lets through is exactly what it allows us,
//!   so one cut lands just under the service's real rate instead of halving (the delivery-rate
//!   idea of BBR); without such an estimate it halves what was sent;
//! - the first limit percentage (0.8) ends slow start and halves the rate (see below; only
//!   with `--budget adaptive`: a capped engine starts at its cap and has nothing to find);
//! - a limit percentage at or above 0.95 that is still rising cuts 5 %: the bucket is draining;
//! - a percentage between 0.8 and 0.95 holds the rate while it rises (we are at the limit);
//! - otherwise the rate grows: by 41 % per control interval (doubling every second) until the
//!   first signal (slow start, to find a service that allows more than published quickly), then
//!   by 3 %
//!   (gradual recovery, so a shared tenant is not hit again at once).
//!
//! Slow start ends at the *first* warning, not at 0.95. Graph's buckets hold a whole window of
//! refill (10 s of resource units), and slow start doubles the rate every second, so by the
//! time 80 % of the bucket is gone the engine sends about six times what the service refills
//! (measured: 4,700 resource units per second against 800). At 0.95 the last 5 % lasts a tenth
//! of a second, less than the answers already in flight take to come back: leaving slow start
//! there cost a burst of about 1,000 429s in the `--budget adaptive` benchmark (2.5 % of its
//! requests, against a target of 3 %). At 0.8 the remaining fifth of the bucket absorbs the
//! halving and the cuts after it; with this change and the batcher's (below) the burst fell to
//! about 400 and the benchmark's throttled share to 1.3 %.
//!
//! A capped lane does not spend its cap's burst at once: until the service's first signal, the
//! units left unanswered stay within a window of 10 plus an eighth of what was accepted
//! ([`controller::Lane::probe_room`], fed by [`Throttle::answered`]), like TCP's congestion
//! window, so whatever the latency, what is in flight when a warning (80 % used) comes back fits
//! in the fifth of the bucket that is left. The write lane's window bounds the writes the
//! batcher puts in a batch ([`Throttle::writes_now`]); the resource-unit lane's holds a whole
//! batch in [`Throttle::acquire`] until answers make room (a batch with nothing else unanswered
//! always goes), so reads do not send the cap's burst into a far smaller bucket either. A first warning that comes long before the lane's own
//! cap is 80 % used means a far smaller bucket (shared, or a smaller budget): the lane reckons
//! its size (accepted / percentage) and refill (size per published window), and from then on
//! holds the usage near 0.93 with a proportional law plus a slow correction of the refill
//! estimate, rather than probing into 429s. A remembered rate is such an estimate too.
//!
//! The rate only grows while it is what holds the engine back: a rate nobody uses is not proof
//! that the service would accept it. Held back means a reservation had to wait, or the batcher
//! asked for more writes than the lane lets go now ([`Throttle::writes_now`]): the batcher
//! never waits for write budget with reads queued behind it (see `exec::batcher`), so without
//! the second rule an adaptive write rate could never grow. The token buckets themselves are GCRA ([`gcra::Gcra`]) on
//! tokio's clock rather than `governor`: governor's waits run on its own real-time clock, which
//! tokio's paused test clock cannot drive, and its quota cannot change rate in place, which the
//! adaptive rate does every interval.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

pub mod controller;
pub mod gcra;
pub mod retry;

use controller::{Lane, LaneKind};

/// Tenant size class of Graph's published identity limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantSize {
    /// Fewer than 50 users.
    Small,
    /// 50 to 500 users.
    Medium,
    /// More than 500 users.
    Large,
}

impl TenantSize {
    /// The published app+tenant budget for this size.
    pub fn published(self) -> Budget {
        let ru_per_10s = match self {
            TenantSize::Small => 3_500,
            TenantSize::Medium => 5_000,
            TenantSize::Large => 8_000,
        };
        Budget {
            ru_per_10s,
            writes_per_150s: 3_000,
        }
    }
}

/// A throttling budget in the units Graph publishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Resource units per 10 seconds (a request on these paths costs 1).
    pub ru_per_10s: u32,
    /// Writes per 150 seconds (POST, PATCH, PUT, DELETE).
    pub writes_per_150s: u32,
}

impl Budget {
    /// Resource units per second.
    pub fn ru_rate(&self) -> f64 {
        f64::from(self.ru_per_10s) / 10.0
    }

    /// Writes per second.
    pub fn write_rate(&self) -> f64 {
        f64::from(self.writes_per_150s) / 150.0
    }
}

/// Whether the budget is a cap or only a starting point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetMode {
    /// The budget is a cap never exceeded; the engine adapts below it.
    Capped,
    /// No client-side cap: start at the budget and follow the service's signals alone.
    Adaptive,
}

/// How fast the engine may send: the validated rate part of the run's configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateConfig {
    /// The budget (published for the tenant size, or overridden by flags).
    pub budget: Budget,
    /// Cap or starting point.
    pub mode: BudgetMode,
    /// Where to start below the budget: the rates this tenant accepted in an earlier run
    /// (`authbulk run` keeps them per tenant and app: [`crate::run::rate_memory`]); `None` starts at the budget.
    pub start: Option<Learned>,
}

impl Default for RateConfig {
    fn default() -> Self {
        RateConfig {
            budget: TenantSize::Large.published(),
            mode: BudgetMode::Capped,
            start: None,
        }
    }
}

/// What a run learned of the rates the service allows, per lane, for the next run to start at
/// (see [`crate::run::rate_memory`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Learned {
    /// Resource units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ru: Option<LaneStart>,
    /// Writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writes: Option<LaneStart>,
}

impl Learned {
    /// Nothing learned.
    pub fn is_empty(&self) -> bool {
        self.ru.is_none() && self.writes.is_none()
    }
}

/// Where a lane starts: a rate, and the burst the service took at once before its first
/// signal.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LaneStart {
    /// Units per second.
    pub rate: f64,
    /// Units that may go at once at the start.
    pub burst: f64,
}

/// What one answer told about throttling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Feedback {
    /// The request was a write.
    pub write: bool,
    /// It was answered 429.
    pub throttled: bool,
    /// `x-ms-throttle-information` named the write budget (`WriteLimitExceeded`), the
    /// resource-unit budget, or nothing.
    pub scope: Option<LaneKind>,
    /// `x-ms-throttle-limit-percentage`, when sent.
    pub limit_percentage: Option<f64>,
    /// When the request was sent (a 429 to a request sent before the last slow-down is not
    /// news).
    pub sent_at: Instant,
}

/// A snapshot for the progress bar and the summary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleState {
    /// Resource units per second the engine may send now.
    pub ru_rate: f64,
    /// Writes per second the engine may send now.
    pub write_rate: f64,
    /// Some lane is below its cap because of the service's signals.
    pub slowed: bool,
    /// All sending is paused for a `Retry-After`.
    pub paused: bool,
}

/// The engine's throttle: both lanes and the global pause of a whole-batch `Retry-After`.
/// Shared by the executor's batcher (acquire) and its batch tasks (observe).
#[derive(Debug)]
pub struct Throttle {
    state: Mutex<State>,
    /// Woken by every answer: room in the resource-unit lane's probing window
    /// ([`Throttle::acquire`]).
    answered: tokio::sync::Notify,
}

#[derive(Debug)]
struct State {
    ru: Lane,
    writes: Lane,
    /// HTTP calls: capped at Graph's published app-wide 130,000 requests per 10 s, and cut by
    /// whole-batch 429s, which are about the rate of calls rather than of items.
    calls: Lane,
    paused_until: Instant,
}

/// Graph's published app-wide request limit per 10 s (any service, all tenants).
const CALLS_PER_10S: f64 = 130_000.0;

impl Throttle {
    /// A throttle for `config`, its buckets full.
    pub fn new(config: &RateConfig) -> Self {
        let now = Instant::now();
        let capped = config.mode == BudgetMode::Capped;
        Throttle {
            state: Mutex::new(State {
                ru: Lane::new(
                    LaneKind::ResourceUnits,
                    config.budget.ru_rate(),
                    f64::from(config.budget.ru_per_10s),
                    capped,
                    now,
                )
                .starting_at(config.start.and_then(|s| s.ru), now),
                writes: Lane::new(
                    LaneKind::Writes,
                    config.budget.write_rate(),
                    f64::from(config.budget.writes_per_150s),
                    capped,
                    now,
                )
                .starting_at(config.start.and_then(|s| s.writes), now),
                calls: Lane::new(
                    LaneKind::Calls,
                    CALLS_PER_10S / 10.0,
                    CALLS_PER_10S,
                    capped,
                    now,
                ),
                paused_until: now,
            }),
            answered: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain numbers behind, still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Take `units` resource units and `writes` writes from the budgets, waiting until they are
    /// available (and until any `Retry-After` pause is over). While the resource-unit lane
    /// probes, a batch first waits for room in its window, which answers make
    /// ([`Throttle::answered`]); nothing is taken before, so a wait cut short takes nothing.
    pub async fn acquire(&self, units: u32, writes: u32) {
        let go = loop {
            // Registered before the look, so an answer between the look and the wait counts.
            let answered = self.answered.notified();
            tokio::pin!(answered);
            answered.as_mut().enable();
            {
                let mut state = self.lock();
                let now = Instant::now();
                state.ru.tick(now);
                if state.ru.probe_fits(units) {
                    let ru_go = state.ru.reserve(units, now);
                    let write_go = state.writes.reserve(writes, now);
                    let call_go = state.calls.reserve(1, now);
                    break state.paused_until.max(ru_go).max(write_go).max(call_go);
                }
            }
            // Probing may also end with time (the cap's own bucket filling up): look again
            // after an interval at the latest.
            let _ = tokio::time::timeout(controller::INTERVAL, answered).await;
        };
        if go > Instant::now() {
            tokio::time::sleep_until(go).await;
        }
    }

    /// How many of `wanted` writes could go now without waiting (taking nothing). The batcher
    /// puts at most that many writes in a batch and fills it with reads, so reads are never
    /// held behind writes that wait for their budget; fewer than `wanted` tells the write lane
    /// that its rate is what holds the engine back.
    pub fn writes_now(&self, wanted: u32) -> u32 {
        let mut state = self.lock();
        state.writes.available_now(wanted, Instant::now())
    }

    /// How many of `queued` writes make a batch worth waiting for: all of them, unless the write
    /// budget's bucket is smaller (then waiting for more would only delay the first ones).
    pub fn write_batch(&self, queued: u32) -> u32 {
        queued.min(self.lock().writes.burst())
    }

    /// When a batch with `writes` writes could go, without taking anything; the batcher uses it
    /// to wake up when writes that had to wait may go.
    pub fn writes_available_at(&self, writes: u32) -> Instant {
        let state = self.lock();
        state.writes.available_at(writes, Instant::now())
    }

    /// Report one answer's throttling signals.
    pub fn observe(&self, feedback: Feedback) {
        let mut state = self.lock();
        let now = Instant::now();
        let State {
            ru, writes, calls, ..
        } = &mut *state;
        let target = if feedback.throttled {
            match (feedback.scope, feedback.write) {
                (Some(kind), _) => kind,
                // A read touches only the resource-unit bucket.
                (None, false) => LaneKind::ResourceUnits,
                (None, true) => busiest(ru, writes, now),
            }
        } else {
            // The percentage does not say which bucket it is about: blame the one we use most.
            if feedback.write {
                busiest(ru, writes, now)
            } else {
                LaneKind::ResourceUnits
            }
        };
        // A write's warning may be about either bucket: the other cap's use may explain it.
        let other = match (feedback.write, target) {
            (true, LaneKind::Writes) => ru.own_usage(now),
            (true, LaneKind::ResourceUnits) => writes.own_usage(now),
            _ => 0.0,
        };
        let lane = match target {
            LaneKind::ResourceUnits => ru,
            LaneKind::Writes => writes,
            LaneKind::Calls => calls,
        };
        lane.observe_beside(
            feedback.throttled,
            feedback.limit_percentage,
            feedback.sent_at,
            now,
            other,
        );
        // A read's answer is about resource units alone, and a 429 may name its budget; a
        // write's warning could be about either bucket, so it only counts as a guess.
        if !feedback.write || feedback.throttled && feedback.scope.is_some() {
            lane.attributed(feedback.throttled, feedback.limit_percentage);
        }
    }

    /// Report that the service accepted (answered other than 429) `units` requests of a
    /// batch, `writes` of them writes: the controller's estimate of the rate it allows.
    pub fn accepted(&self, units: u32, writes: u32) {
        let mut state = self.lock();
        let now = Instant::now();
        state.ru.accepted(units, now);
        state.writes.accepted(writes, now);
        state.calls.accepted(1, now);
    }

    /// Report that a batch of `units` requests, `writes` of them writes, came back (whatever
    /// the answer) or never will: room in the lanes' probing windows.
    pub fn answered(&self, units: u32, writes: u32) {
        {
            let mut state = self.lock();
            state.ru.answered(units);
            state.writes.answered(writes);
        }
        self.answered.notify_waiters();
    }

    /// Report a whole `$batch` sent at `sent_at` refused with 429: the rate of calls is too
    /// high.
    pub fn call_throttled(&self, sent_at: Instant) {
        let mut state = self.lock();
        let now = Instant::now();
        state.calls.observe(true, None, sent_at, now);
    }

    /// Hold all sending for `wait` (a whole-batch 429's `Retry-After`).
    pub fn pause_for(&self, wait: Duration) {
        let mut state = self.lock();
        let until = Instant::now() + wait;
        if until > state.paused_until {
            state.paused_until = until;
        }
    }

    /// What this run learned of the rates the service allows, for the next run to start at:
    /// empty when no lane was held below its budget by the service's signals (or a lane that
    /// started from an earlier run's rate grew back to its budget).
    pub fn learned(&self) -> Learned {
        let mut state = self.lock();
        let now = Instant::now();
        state.ru.tick(now);
        state.writes.tick(now);
        Learned {
            ru: state.ru.learned(),
            writes: state.writes.learned(),
        }
    }

    /// Rates and state now.
    pub fn state(&self) -> ThrottleState {
        let mut state = self.lock();
        let now = Instant::now();
        state.ru.tick(now);
        state.writes.tick(now);
        state.calls.tick(now);
        ThrottleState {
            ru_rate: state.ru.effective_rate(),
            write_rate: state.writes.effective_rate(),
            slowed: state.ru.is_slowed() || state.writes.is_slowed() || state.calls.is_slowed(),
            paused: state.paused_until > now,
        }
    }
}

fn busiest(ru: &Lane, writes: &Lane, now: Instant) -> LaneKind {
    if writes.utilisation(now) >= ru.utilisation(now) {
        LaneKind::Writes
    } else {
        LaneKind::ResourceUnits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(ru: u32, writes: u32, mode: BudgetMode) -> RateConfig {
        RateConfig {
            budget: Budget {
                ru_per_10s: ru,
                writes_per_150s: writes,
            },
            mode,
            start: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_cap_is_never_exceeded_after_the_initial_burst() {
        let throttle = Throttle::new(&config(100, 3000, BudgetMode::Capped));
        let start = Instant::now();
        // 100 units of burst, then 10 per second: 20 batches of 20 = 400 units take 30 s.
        for _ in 0..20 {
            throttle.acquire(20, 0).await;
            // Answered at once: the probing window never holds this lone sender back.
            throttle.accepted(20, 0);
            throttle.answered(20, 0);
        }
        let took = Instant::now() - start;
        assert_eq!(took.as_secs(), 30);
    }

    #[tokio::test(start_paused = true)]
    async fn writes_are_paced_by_the_write_budget_alone() {
        let throttle = Throttle::new(&config(80_000, 150, BudgetMode::Capped));
        let start = Instant::now();
        for _ in 0..20 {
            throttle.acquire(20, 20).await;
            throttle.accepted(20, 20);
            throttle.answered(20, 20);
        }
        // 150 writes of burst, then 1 per second for the other 250.
        assert_eq!((Instant::now() - start).as_secs(), 250);
    }

    #[tokio::test(start_paused = true)]
    async fn reads_wait_for_room_in_the_probing_window_which_answers_make() {
        let throttle = std::sync::Arc::new(Throttle::new(&config(8000, 3000, BudgetMode::Capped)));
        // Nothing unanswered: a batch larger than the window (10) goes alone.
        throttle.acquire(20, 0).await;
        let next = tokio::spawn({
            let throttle = throttle.clone();
            async move { throttle.acquire(20, 0).await }
        });
        // The cap would let 8,000 go; the window holds the next batch until the first is
        // answered, however long that takes.
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(
            !next.is_finished(),
            "held while the first batch is unanswered"
        );
        throttle.accepted(20, 0);
        throttle.answered(20, 0);
        tokio::time::timeout(Duration::from_millis(1), next)
            .await
            .expect("goes as soon as the answer came")
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_whole_batch_retry_after_pauses_everything() {
        let throttle = Throttle::new(&RateConfig::default());
        throttle.pause_for(Duration::from_millis(1500));
        let start = Instant::now();
        throttle.acquire(1, 0).await;
        assert_eq!(Instant::now() - start, Duration::from_millis(1500));
        assert!(!throttle.state().paused);
    }
}
