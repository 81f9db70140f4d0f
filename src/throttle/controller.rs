//! One budget lane (resource units, or writes) of the throttle: its cap and its adaptive rate,
//! and the control law the module doc of [`super`] explains. Driven by [`super::Throttle`] only.

use std::time::Duration;

use tokio::time::Instant;

use super::LaneStart;
use super::gcra::Gcra;

/// How often the control law looks at what the service said.
pub const INTERVAL: Duration = Duration::from_millis(500);
/// Growth per interval before the first throttling signal (slow start).
const SLOW_START_GROWTH: f64 = 1.41;
/// Growth per interval after a signal (gradual recovery).
const RECOVERY_GROWTH: f64 = 1.03;
/// Growth per interval while the bucket is nearly empty but not emptying (probing).
const PROBE_GROWTH: f64 = 1.01;
/// Cut on a 429 when there is no estimate of what the service accepts.
const THROTTLED_CUT: f64 = 0.5;
/// On a 429, the new rate is this share of the rate the service accepted lately.
const ACCEPTED_SHARE: f64 = 0.97;
/// Control intervals kept for the accepted-rate estimate.
const HISTORY: usize = 4;
/// Cut when the limit percentage is high and rising.
const PRESSURE_CUT: f64 = 0.95;
/// At most one 429 cut per this long: the answers of batches already in flight carry the same
/// news and must not cut again; long enough to measure what the service accepts after a cut.
pub const CUT_GAP: Duration = Duration::from_millis(250);
/// Lowest rate a lane is cut to (units per second), so a run never stalls on a misread signal.
const FLOOR: f64 = 0.2;
/// Percentage from which the bucket is draining towards throttling.
const HIGH: f64 = 0.95;
/// Percentage at which Graph starts warning.
const WARN: f64 = 0.8;
/// Units a capped lane may have unanswered at its start, before the service said anything.
/// Each unit the service accepts adds [`PROBE_SHARE`] of a unit to that window.
const PROBE_START: f64 = 10.0;
/// While probing, what is unanswered stays within this share of what was accepted (plus
/// [`PROBE_START`]): Graph warns at 80 % of a bucket, so when the warning comes back at most
/// an eighth of the 80 % (a tenth of the bucket) and the first units can be in flight, within
/// the fifth that is left.
const PROBE_SHARE: f64 = 0.125;
/// A first warning this much above the lane's own use of its cap says the service's bucket is
/// far smaller than the cap (other apps share it, or a smaller budget applies).
const FOREIGN_MARGIN: f64 = 0.3;
/// The usage of the service's bucket a lane that knows its refill settles at: inside the
/// warning band, with the last tenth or so of the bucket as a margin for what is in flight.
const TARGET: f64 = 0.93;
/// How strongly the rate of a lane that knows its refill answers the distance of the usage
/// from [`TARGET`] (rate = refill x (1 + GAIN x (TARGET - usage)), within half and one and a
/// half times the refill).
const GAIN: f64 = 4.0;
/// How fast the refill estimate follows a usage that stays away from [`TARGET`] (per
/// interval, per unit of distance): the integral part of the control.
const TRIM: f64 = 0.05;

/// Which budget a lane is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneKind {
    /// Resource units per 10 s.
    ResourceUnits,
    /// Writes per 150 s.
    Writes,
    /// HTTP calls (a `$batch` counts once), per 10 s.
    Calls,
}

/// A budget's cap and adaptive rate.
#[derive(Debug)]
pub struct Lane {
    /// Which budget this is (for logs).
    kind: LaneKind,
    /// The configured budget as a bucket; `None` with `--budget adaptive`.
    cap: Option<Gcra>,
    /// The adaptive pacer; `None` while the cap alone applies (capped mode, no signal yet or
    /// fully recovered).
    adaptive: Option<Gcra>,
    /// The adaptive rate (units per second); equals the cap's rate while `adaptive` is `None`.
    rate: f64,
    /// Lowest rate the controller goes to, so a run never stalls on a misread signal.
    floor: f64,
    /// No signal seen yet: grow fast. Only without a cap: a capped lane starts at its cap, so
    /// it has nothing to find, and a warning it sees is its own use of its own budget (Graph
    /// warns at 80 % of the bucket the cap mirrors), not a sign of overshoot to halve for.
    slow_start: bool,
    /// Start of the current control interval.
    interval_start: Instant,
    /// Units sent in the current interval.
    sent: f64,
    /// Some reservation in this interval had to wait: the rate is what holds the engine back.
    binding: bool,
    /// A 429 arrived in this interval.
    throttled: bool,
    /// Highest limit percentage in this interval.
    max_pct: Option<f64>,
    /// Highest limit percentage of the previous interval.
    prev_pct: Option<f64>,
    /// Share of the rate used in the last interval.
    utilisation: f64,
    /// When the rate was last cut.
    last_cut: Option<Instant>,
    /// Units the service accepted (answered other than 429) in this interval.
    accepted: f64,
    /// (accepted units, seconds) of the last intervals, newest last.
    history: std::collections::VecDeque<(f64, f64)>,
    /// Started from an earlier run's rate ([`Lane::starting_at`]).
    remembered: Option<LaneStart>,
    /// Units the service accepted before its first signal (a warning or a 429): the burst its
    /// bucket took; `None` while no signal came.
    first_fill: Option<f64>,
    /// Units accepted so far while no signal came.
    unsignalled: f64,
    /// When the lane first sent anything: the service's bucket refills from then on.
    first_sent: Option<Instant>,
    /// The batch (by when it was sent) whose warning the refill was reckoned from, and the
    /// percentage it was reckoned with; cleared when the control interval closes.
    reckoned: Option<(Instant, f64)>,
    /// Some signal was surely about this lane (see [`Lane::attributed`]).
    attributed: bool,
    /// Units that may go at once, beside the pacer, at the start of a run that remembers the
    /// burst the service took ([`Lane::starting_at`]); spent first, never refilled.
    credit: f64,
    /// A capped lane before the service's first signal: what is unanswered stays within a
    /// window that grows with what the service accepts ([`Lane::probe_room`]), so the cap's
    /// burst does not go out at once into a bucket that may be far smaller.
    probing: bool,
    /// Units reserved since the start.
    sent_total: f64,
    /// Units answered (in any way) since the start.
    answered_total: f64,
    /// Units accepted since the start.
    accepted_total: f64,
    /// The rate the service refills this lane's bucket with, as far as known: reckoned from a
    /// first warning that came long before the cap was used, or remembered from an earlier
    /// run. With it, the lane holds the service's usage near [`TARGET`] ([`Lane::settle`]).
    refill: Option<f64>,
}

impl LaneKind {
    /// The window Graph publishes this budget for (so many units per window).
    pub fn window(self) -> Duration {
        match self {
            LaneKind::Writes => Duration::from_secs(150),
            LaneKind::ResourceUnits | LaneKind::Calls => Duration::from_secs(10),
        }
    }
}

impl Lane {
    /// A lane starting at `rate` units per second with a bucket of `burst`; with `capped` the
    /// rate is also a cap never exceeded.
    pub fn new(kind: LaneKind, rate: f64, burst: f64, capped: bool, now: Instant) -> Self {
        let (cap, adaptive) = if capped {
            (Some(Gcra::new(rate, burst, now)), None)
        } else {
            (None, Some(Gcra::new(rate, pacer_burst(rate), now)))
        };
        Lane {
            kind,
            cap,
            adaptive,
            rate,
            floor: FLOOR.min(rate),
            slow_start: !capped,
            interval_start: now,
            sent: 0.0,
            binding: false,
            throttled: false,
            max_pct: None,
            prev_pct: None,
            utilisation: 0.0,
            last_cut: None,
            accepted: 0.0,
            history: std::collections::VecDeque::with_capacity(HISTORY),
            remembered: None,
            first_fill: None,
            unsignalled: 0.0,
            first_sent: None,
            reckoned: None,
            attributed: false,
            credit: 0.0,
            probing: capped,
            sent_total: 0.0,
            answered_total: 0.0,
            accepted_total: 0.0,
            refill: None,
        }
    }

    /// The probing window: units that may be unanswered at once; unbounded once probing is
    /// over.
    fn probe_window(&self) -> f64 {
        if self.probing {
            PROBE_START + PROBE_SHARE * self.accepted_total
        } else {
            f64::INFINITY
        }
    }

    /// Units that may still be sent while probing (the window less what is unanswered).
    pub fn probe_room(&self) -> f64 {
        let unanswered = (self.sent_total - self.answered_total).max(0.0);
        (self.probe_window() - unanswered).max(0.0)
    }

    /// Whether `n` units may go as far as the probing window goes: they fit in what is left of
    /// it, or nothing is unanswered (a batch larger than the window then goes alone, so the
    /// lane never stalls).
    pub fn probe_fits(&self, n: u32) -> bool {
        self.sent_total <= self.answered_total || self.probe_room() >= f64::from(n)
    }

    /// Record that the answers to `n` units came back (accepted, throttled or failed), or that
    /// they will never come (the connection was lost): room in the probing window.
    pub fn answered(&mut self, n: u32) {
        self.answered_total += f64::from(n);
    }

    /// Share of the cap's bucket in use (0 without a cap).
    pub fn own_usage(&self, now: Instant) -> f64 {
        self.cap.as_ref().map_or(0.0, |c| c.used(now))
    }

    /// A signal that was surely about this lane, not a guess between the lanes (an answer
    /// that concerns this budget alone): only such a lane's rate is worth remembering.
    pub fn attributed(&mut self, throttled: bool, pct: Option<f64>) {
        if throttled || pct.is_some_and(|p| p >= WARN) {
            self.attributed = true;
        }
    }

    /// Start at an earlier run's rate and burst instead of the budget (below a cap only: a
    /// remembered rate above the cap is the cap). The rate grows from there as after a cut, so
    /// a tenant that now allows more is found again.
    pub fn starting_at(mut self, start: Option<LaneStart>, now: Instant) -> Self {
        let Some(start) = start.filter(|s| s.rate.is_finite() && s.rate > 0.0) else {
            return self;
        };
        let cap = self.cap.as_ref().map_or(f64::INFINITY, Gcra::rate);
        if start.rate >= cap {
            return self;
        }
        self.rate = start.rate.max(self.floor);
        self.adaptive = Some(Gcra::new(self.rate, pacer_burst(self.rate), now));
        // The burst goes beside the pacer rather than as its bucket: a pacer bucket that
        // shrinks to its usual size after a large burst would owe the whole burst first.
        self.credit = start.burst.max(0.0).floor();
        self.slow_start = false;
        self.probing = false;
        self.refill = Some(self.rate);
        self.remembered = Some(start);
        tracing::info!(
            lane = ?self.kind,
            rate = self.rate,
            burst = self.credit,
            "throttle: starting at the rate this tenant accepted before"
        );
        self
    }

    /// Where the next run should start, when this one learned it: the adaptive rate, if
    /// signals surely about this lane held it below its budget (or it started from an earlier
    /// run's rate and has not grown back to its budget), with the burst the service took
    /// before its first signal. A rate cut on a guess (a write's warning blamed on this lane)
    /// is not kept: starting the next run there could hold all its reads to a write's pace.
    pub fn learned(&self) -> Option<LaneStart> {
        let learned_here = self.last_cut.is_some() && self.attributed;
        if self.adaptive.is_none() || !learned_here && self.remembered.is_none() {
            return None;
        }
        let burst = self
            .first_fill
            .or(self.remembered.map(|r| r.burst))
            .unwrap_or_else(|| pacer_burst(self.rate));
        let rate = self
            .refill
            .map_or(self.rate, |r| r.min(self.effective_rate()));
        Some(LaneStart { rate, burst })
    }

    /// The service's first warning (its bucket is `p` used) in the answer to a batch sent at
    /// `sent_at`, with `other` the use of another cap the warning might be about. A capped lane
    /// that has used far less of its own cap is sharing a much smaller bucket: it reckons the
    /// bucket's size and refill ([`Lane::reckon`]), and from then on holds the usage near
    /// [`TARGET`] instead of spending the rest of its cap's burst into 429s. A lane whose own
    /// use explains the warning (the service's bucket is the cap's) just stops probing: its
    /// cap holds it.
    fn first_warning(&mut self, p: f64, other: f64, sent_at: Instant, now: Instant) {
        self.probing = false;
        if self.cap.is_none() || self.refill.is_some() || self.unsignalled <= 0.0 {
            return;
        }
        let own = self.own_usage(now).max(other);
        if p <= own + FOREIGN_MARGIN {
            return;
        }
        // The gap between the warning and the lane's own use of its cap is the evidence that
        // the warning is about this lane's budget.
        self.attributed = true;
        self.slow_start = false;
        self.reckon(p, sent_at, now);
    }

    /// Reckon the service's bucket from a warning that it is `p` used, in the answer to a batch
    /// sent at `sent_at`, and set the rate from it. Graph's budgets are so many units per
    /// window, so the bucket refills `capacity / window` a second, and it has done so since
    /// the lane first sent: the units accepted so far are `p` of the bucket plus what it
    /// refilled meanwhile, `accepted = capacity x (p + elapsed / window)`. Every answer of the
    /// batch is counted as accepted before any of its warnings is read, so the batch's highest
    /// percentage (the usage after all of it) is the one that matches: a higher one from the
    /// same batch reckons again.
    fn reckon(&mut self, p: f64, sent_at: Instant, now: Instant) {
        let window = self.kind.window().as_secs_f64();
        let elapsed = self
            .first_sent
            .map_or(0.0, |first| (sent_at - first).as_secs_f64());
        let capacity = self.unsignalled / (p + elapsed / window);
        let refill = capacity / window;
        self.refill = Some(refill);
        self.reckoned = Some((sent_at, p));
        self.last_cut = Some(now);
        self.set_rate(refill * response(p), now);
        tracing::debug!(lane = ?self.kind, refill, capacity, usage = p, "throttle: the service's bucket is far smaller than the cap");
    }

    /// Put the adaptive pacer at `rate` (at least the floor; at the cap, no pacer).
    fn set_rate(&mut self, rate: f64, now: Instant) {
        self.rate = rate.max(self.floor);
        if let Some(cap) = &self.cap
            && self.rate >= cap.rate()
        {
            self.rate = cap.rate();
            self.adaptive = None;
            return;
        }
        let burst = pacer_burst(self.rate);
        match &mut self.adaptive {
            Some(pacer) => pacer.set_rate(self.rate, burst),
            None => self.adaptive = Some(Gcra::new(self.rate, burst, now)),
        }
    }

    /// The control law of a lane that knows its refill, at the end of an interval: the refill
    /// estimate follows the usage (up while no warning comes, down while the usage stays above
    /// [`TARGET`]), and the rate is the refill corrected by the distance from the target, so
    /// the bucket settles inside the warning band rather than being probed into 429s.
    fn settle(&mut self, refill: f64, now: Instant) {
        if self.throttled {
            // Cut when the 429 came; the refill estimate went down with it.
            return;
        }
        let (refill, p) = match self.max_pct {
            Some(p) => (refill * (1.0 + TRIM * (TARGET - p)), p),
            None if self.accepted > 0.0 => {
                // Answers without a warning: the bucket is less than 80 % used.
                let grown = if self.binding {
                    refill * RECOVERY_GROWTH
                } else {
                    refill
                };
                (grown, WARN)
            }
            // Nothing answered: nothing to go by.
            None => return,
        };
        let cap = self.cap.as_ref().map_or(f64::INFINITY, Gcra::rate);
        if refill >= cap {
            // The service allows the cap again: the cap alone holds the lane.
            self.refill = None;
            self.rate = cap;
            self.adaptive = None;
            return;
        }
        self.refill = Some(refill);
        self.set_rate(refill * response(p), now);
    }

    /// The service signalled (a warning or a 429): what it accepted before is its burst.
    fn signalled(&mut self) {
        if self.first_fill.is_none() {
            self.first_fill = Some(self.unsignalled);
        }
    }

    /// Record `n` units the service accepted (answered other than 429).
    pub fn accepted(&mut self, n: u32, now: Instant) {
        self.tick(now);
        self.accepted += f64::from(n);
        self.accepted_total += f64::from(n);
        if self.first_fill.is_none() {
            self.unsignalled += f64::from(n);
        }
    }

    /// Units per second the service accepted over the last intervals, when there is enough to
    /// tell. While the service throttles, this is the rate it allows us: the best estimate of
    /// where to go (as BBR estimates a path's delivery rate).
    fn accepted_rate(&self, now: Instant) -> Option<f64> {
        let (mut units, mut secs) = self
            .history
            .iter()
            .fold((0.0, 0.0), |(u, s), (hu, hs)| (u + hu, s + hs));
        units += self.accepted;
        secs += (now - self.interval_start).as_secs_f64();
        (secs >= CUT_GAP.as_secs_f64() * 0.8 && units > 0.0).then(|| units / secs)
    }

    /// Take `n` units; when they may be used.
    pub fn reserve(&mut self, n: u32, now: Instant) -> Instant {
        self.tick(now);
        if n == 0 {
            return now;
        }
        self.first_sent.get_or_insert(now);
        let mut go = now;
        if let Some(cap) = &mut self.cap {
            go = go.max(cap.reserve(n, now));
        }
        if self.credit >= f64::from(n) {
            self.credit -= f64::from(n);
        } else if let Some(pacer) = &mut self.adaptive {
            self.credit = 0.0;
            go = go.max(pacer.reserve(n, now));
        }
        if go > now {
            self.binding = true;
        }
        self.sent += f64::from(n);
        self.sent_total += f64::from(n);
        go
    }

    /// How many of `wanted` units could be taken now without waiting. Fewer than wanted means
    /// the lane holds demand back: it is binding, which is what lets its rate grow.
    pub fn available_now(&mut self, wanted: u32, now: Instant) -> u32 {
        self.tick(now);
        let cap = self.cap.as_ref().map_or(u32::MAX, |c| c.available_now(now));
        let pacer = self
            .adaptive
            .as_ref()
            .map_or(u32::MAX, |p| p.available_now(now));
        let pacer = pacer.max(self.credit_units());
        // Saturating float-to-int conversion.
        let probe = self.probe_room().floor() as u32;
        let free = wanted.min(cap).min(pacer).min(probe);
        if free < wanted {
            self.binding = true;
        }
        free
    }

    /// The most units the lane ever lets go at once: its smallest bucket, at least 1.
    pub fn burst(&self) -> u32 {
        let cap = self.cap.as_ref().map_or(f64::INFINITY, Gcra::burst);
        let pacer = self
            .adaptive
            .as_ref()
            .map_or(f64::INFINITY, Gcra::burst)
            .max(self.credit);
        let mut burst = cap.min(pacer);
        if self.probing {
            // The window splits the cap's burst: what is left of it is a batch too, rather
            // than a batch of the window's size that the cap could only give a refill later.
            let left = self.cap.as_ref().map_or(f64::INFINITY, |c| {
                f64::from(c.available_now(Instant::now()))
            });
            burst = burst.min(self.probe_window()).min(left);
        }
        let burst = burst.floor().max(1.0);
        // Saturating float-to-int conversion.
        burst as u32
    }

    /// When `n` units would be available, without taking them.
    pub fn available_at(&self, n: u32, now: Instant) -> Instant {
        let cap = self.cap.as_ref().map_or(now, |c| c.available_at(n, now));
        let pacer = match &self.adaptive {
            Some(_) if self.credit >= f64::from(n) => now,
            Some(pacer) => pacer.available_at(n, now),
            None => now,
        };
        // Room in the probing window comes with answers, not with time: the batcher looks
        // again when a batch comes back; this is only a fallback.
        let probe = if self.probe_room() < f64::from(n) {
            now + INTERVAL
        } else {
            now
        };
        cap.max(pacer).max(probe)
    }

    /// The start credit in whole units.
    fn credit_units(&self) -> u32 {
        // Saturating float-to-int conversion.
        self.credit as u32
    }

    /// Record the signals of the answer to a request sent at `sent_at`. A 429 cuts at once;
    /// percentages are weighed at the end of the interval. A 429 to a request sent before the
    /// last cut is old news (the cut already answered it) and cuts nothing, as TCP cuts once
    /// per window; and cuts are at least [`CUT_GAP`] apart.
    pub fn observe(&mut self, throttled: bool, pct: Option<f64>, sent_at: Instant, now: Instant) {
        self.observe_beside(throttled, pct, sent_at, now, 0.0);
    }

    /// [`Lane::observe`], where the warning might also be about another cap used `other`
    /// (a write's warning may be about the resource units).
    pub fn observe_beside(
        &mut self,
        throttled: bool,
        pct: Option<f64>,
        sent_at: Instant,
        now: Instant,
        other: f64,
    ) {
        self.tick(now);
        if let Some(p) = pct {
            self.max_pct = Some(self.max_pct.map_or(p, |m| m.max(p)));
            if p >= WARN && self.first_fill.is_none() {
                self.first_warning(p, other, sent_at, now);
            } else if let Some((batch, reckoned_at)) = self.reckoned
                && batch == sent_at
                && p > reckoned_at
            {
                self.reckon(p, sent_at, now);
            }
            if p >= WARN {
                self.signalled();
            }
            if self.slow_start && p >= WARN {
                // Slow start found the bucket's bottom: it is 80 % used and we are draining it
                // at the rate that got us here. Halve at once (as TCP leaves slow start) rather
                // than wait for the 429s of an empty bucket.
                self.slow_start = false;
                let measured = self.measured(now);
                self.cut(THROTTLED_CUT, measured, now);
            }
        }
        if throttled {
            self.probing = false;
            self.signalled();
            self.throttled = true;
            self.slow_start = false;
            let news = self
                .last_cut
                .is_none_or(|at| sent_at > at && now - at >= CUT_GAP);
            if news {
                // The accepted rate only counts since the last cut: what was accepted before
                // (a burst from a full bucket) says nothing of the rate allowed now.
                match self.accepted_rate(now) {
                    Some(accepted) if self.last_cut.is_some() => {
                        self.cut(ACCEPTED_SHARE, accepted, now)
                    }
                    _ => {
                        let measured = self.measured(now);
                        self.cut(THROTTLED_CUT, measured, now);
                    }
                }
                if let Some(refill) = self.refill {
                    self.refill = Some(refill.min(self.rate));
                }
                self.history.clear();
                self.accepted = 0.0;
                self.sent = 0.0;
                self.interval_start = now;
            }
        }
    }

    /// Close the control interval if it is over and apply the control law.
    pub fn tick(&mut self, now: Instant) {
        let elapsed = now - self.interval_start;
        if elapsed < INTERVAL {
            return;
        }
        let measured = self.sent / elapsed.as_secs_f64();
        self.utilisation = measured / self.effective_rate();
        self.reckoned = None;
        if self.probing
            && let Some(cap) = &self.cap
            && cap.used(now) >= WARN
        {
            // The cap's own bucket is 80 % used and the service has not warned: its bucket is
            // not smaller than the cap's, which holds the lane from here.
            self.probing = false;
        }
        if let Some(refill) = self.refill {
            self.settle(refill, now);
        } else if self.throttled {
            // Already cut when the 429 arrived.
        } else if let Some(p) = self.max_pct {
            let rising = self.prev_pct.is_none_or(|q| p > q + 0.002);
            let falling = self.prev_pct.is_some_and(|q| p < q - 0.002);
            if p >= WARN {
                self.slow_start = false;
            }
            if p >= HIGH && rising {
                self.cut(PRESSURE_CUT, measured, now);
            } else if p >= WARN && (rising || !falling && self.remembered.is_some()) {
                // At the limit and still climbing: hold. A lane that started at a remembered
                // rate also holds while usage stays level: a bucket of a long window (writes:
                // 150 s) drains too slowly for one interval to show it rising.
            } else if p >= HIGH {
                self.grow(PROBE_GROWTH);
            } else {
                self.grow(RECOVERY_GROWTH);
            }
        } else {
            let growth = if self.slow_start {
                SLOW_START_GROWTH
            } else {
                RECOVERY_GROWTH
            };
            self.grow(growth);
        }
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history
            .push_back((self.accepted, elapsed.as_secs_f64()));
        self.accepted = 0.0;
        self.prev_pct = self.max_pct;
        self.max_pct = None;
        self.throttled = false;
        self.binding = false;
        self.sent = 0.0;
        self.interval_start = now;
    }

    fn measured(&self, now: Instant) -> f64 {
        let elapsed = (now - self.interval_start).as_secs_f64();
        if elapsed < INTERVAL.as_secs_f64() / 2.0 {
            // Too short to measure; fall back to what the last interval showed.
            return self.utilisation * self.effective_rate();
        }
        self.sent / elapsed
    }

    fn cut(&mut self, factor: f64, measured: f64, now: Instant) {
        let current = self.effective_rate();
        let base = if measured > 0.0 {
            current.min(measured)
        } else {
            current
        };
        self.rate = (base * factor).max(self.floor);
        let burst = pacer_burst(self.rate);
        match &mut self.adaptive {
            Some(pacer) => pacer.set_rate(self.rate, burst),
            None => self.adaptive = Some(Gcra::new(self.rate, burst, now)),
        }
        self.last_cut = Some(now);
        tracing::debug!(lane = ?self.kind, rate = self.rate, "throttle: slowing down");
    }

    fn grow(&mut self, growth: f64) {
        // Only a rate that holds the engine back is worth raising.
        if !self.binding || self.adaptive.is_none() {
            return;
        }
        self.rate *= growth;
        if let Some(cap) = &self.cap
            && self.rate >= cap.rate()
        {
            self.rate = cap.rate();
            self.adaptive = None;
            return;
        }
        let burst = pacer_burst(self.rate);
        if let Some(pacer) = &mut self.adaptive {
            pacer.set_rate(self.rate, burst);
        }
    }

    /// The rate the lane allows now.
    pub fn effective_rate(&self) -> f64 {
        match (&self.cap, &self.adaptive) {
            (Some(cap), Some(_)) => cap.rate().min(self.rate),
            (Some(cap), None) => cap.rate(),
            (None, _) => self.rate,
        }
    }

    /// Share of the allowed rate used in the last interval.
    pub fn utilisation(&self, _now: Instant) -> f64 {
        self.utilisation
    }

    /// The service's signals hold the lane below where it would otherwise be.
    pub fn is_slowed(&self) -> bool {
        self.last_cut.is_some() && self.adaptive.is_some() && self.cap.is_some()
            || self
                .last_cut
                .is_some_and(|at| Instant::now() - at < Duration::from_secs(10))
    }
}

/// The rate, as a share of the refill, for a usage `p` of the service's bucket.
fn response(p: f64) -> f64 {
    (1.0 + GAIN * (TARGET - p)).clamp(0.5, 1.5)
}

/// Bucket of the adaptive pacer: a quarter second of its rate. Small, so a lowered rate holds
/// at once; a batch larger than it waits until the units have accrued (see [`Gcra::reserve`]).
fn pacer_burst(rate: f64) -> f64 {
    (rate * 0.25).max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Send as fast as the lane allows for `secs` seconds of paused clock, feeding it `signal`
    /// after every reservation; returns units sent.
    async fn drive(
        lane: &mut Lane,
        secs: u64,
        mut signal: impl FnMut(&Lane) -> (bool, Option<f64>),
    ) -> u64 {
        let end = Instant::now() + Duration::from_secs(secs);
        let mut sent = 0;
        while Instant::now() < end {
            let go = lane.reserve(1, Instant::now());
            tokio::time::sleep_until(go).await;
            sent += 1;
            let (throttled, pct) = signal(lane);
            if !throttled {
                lane.accepted(1, Instant::now());
            }
            lane.observe(throttled, pct, Instant::now(), Instant::now());
            lane.attributed(throttled, pct);
        }
        sent
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_slows_a_capped_lane_below_its_cap_and_it_recovers_to_the_cap() {
        let mut lane = Lane::new(LaneKind::Writes, 100.0, 100.0, true, Instant::now());
        drive(&mut lane, 2, |_| (false, None)).await;
        assert_eq!(lane.effective_rate(), 100.0);
        lane.observe(true, None, Instant::now(), Instant::now());
        let cut = lane.effective_rate();
        assert!(cut < 100.0, "rate after a 429: {cut}");
        drive(&mut lane, 30, |_| (false, None)).await;
        assert_eq!(lane.effective_rate(), 100.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_429s_from_one_episode_cuts_once() {
        let mut lane = Lane::new(LaneKind::Writes, 100.0, 100.0, true, Instant::now());
        drive(&mut lane, 2, |_| (false, None)).await;
        let sent = Instant::now();
        lane.observe(true, None, sent, Instant::now());
        // Answers to requests sent before that cut keep arriving for a while.
        for _ in 0..10 {
            tokio::time::sleep(CUT_GAP).await;
            lane.observe(true, None, sent, Instant::now());
        }
        assert!(lane.effective_rate() >= 100.0 * THROTTLED_CUT * 0.99);
    }

    #[tokio::test(start_paused = true)]
    async fn after_429s_the_rate_settles_at_what_the_service_accepts() {
        // The cap allows 100/s; the service accepts 50/s and throttles the rest.
        let mut lane = Lane::new(LaneKind::Writes, 100.0, 100.0, true, Instant::now());
        let mut credit = 0.0;
        let mut last = Instant::now();
        let mut throttled = 0;
        let mut total = 0;
        drive(&mut lane, 30, |_| {
            let now = Instant::now();
            credit = f64::min(credit + (now - last).as_secs_f64() * 50.0, 5.0);
            last = now;
            total += 1;
            if credit >= 1.0 {
                credit -= 1.0;
                (false, None)
            } else {
                throttled += 1;
                (true, None)
            }
        })
        .await;
        let rate = lane.effective_rate();
        assert!((45.0..=55.0).contains(&rate), "settled at {rate}");
        assert!(throttled * 10 < total, "{throttled} of {total} throttled");
    }

    /// A service-side token bucket like Graph's: full at start, 429 when empty, usage reported
    /// from 0.8 on.
    struct ServiceBucket {
        capacity: f64,
        rate: f64,
        tokens: f64,
        last: Instant,
    }

    impl ServiceBucket {
        fn new(rate: f64, capacity: f64) -> Self {
            ServiceBucket {
                capacity,
                rate,
                tokens: capacity,
                last: Instant::now(),
            }
        }

        fn admit(&mut self) -> (bool, Option<f64>) {
            let now = Instant::now();
            self.tokens =
                (self.tokens + (now - self.last).as_secs_f64() * self.rate).min(self.capacity);
            self.last = now;
            if self.tokens < 1.0 {
                return (true, None);
            }
            self.tokens -= 1.0;
            let usage = 1.0 - self.tokens / self.capacity;
            (false, (usage > 0.8).then_some(usage))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_adaptive_lane_finds_a_service_that_allows_four_times_the_start_rate() {
        let mut lane = Lane::new(LaneKind::ResourceUnits, 100.0, 100.0, false, Instant::now());
        let mut service = ServiceBucket::new(400.0, 4000.0);
        let (mut throttled, mut total) = (0, 0);
        drive(&mut lane, 60, |_| {
            let answer = service.admit();
            total += 1;
            throttled += u32::from(answer.0);
            answer
        })
        .await;
        let rate = lane.effective_rate();
        assert!((340.0..=440.0).contains(&rate), "settled at {rate}");
        // Ideal: the bucket's 4,000 plus 400/s for 60 s.
        assert!(
            f64::from(total - throttled) >= 0.9 * 28_000.0,
            "{total} sent, {throttled} throttled"
        );
        assert!(
            throttled * 100 < total * 3,
            "{throttled} of {total} throttled"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn slow_start_ends_at_the_first_warning_before_any_429() {
        let mut lane = Lane::new(LaneKind::ResourceUnits, 100.0, 100.0, false, Instant::now());
        drive(&mut lane, 3, |_| (false, None)).await;
        let grown = lane.effective_rate();
        assert!(grown > 300.0, "slow start grew to {grown}");
        lane.observe(false, Some(0.81), Instant::now(), Instant::now());
        assert!(!lane.slow_start);
        assert!(lane.effective_rate() <= grown * THROTTLED_CUT + 1.0);
    }

    #[tokio::test(start_paused = true)]
    async fn demand_held_back_by_available_now_lets_the_rate_grow() {
        let mut lane = Lane::new(LaneKind::Writes, 10.0, 10.0, false, Instant::now());
        let end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < end {
            // The batcher asks for a batch's worth and takes only what may go now.
            let free = lane.available_now(20, Instant::now());
            lane.reserve(free, Instant::now());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(lane.effective_rate() > 20.0, "{}", lane.effective_rate());
    }

    #[tokio::test(start_paused = true)]
    async fn a_capped_lane_at_its_cap_is_not_halved_by_a_warning() {
        let mut lane = Lane::new(LaneKind::Writes, 100.0, 100.0, true, Instant::now());
        drive(&mut lane, 2, |_| (false, None)).await;
        lane.observe(false, Some(0.81), Instant::now(), Instant::now());
        assert_eq!(lane.effective_rate(), 100.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_that_is_not_used_does_not_grow() {
        let mut lane = Lane::new(LaneKind::ResourceUnits, 100.0, 100.0, false, Instant::now());
        let start = Instant::now();
        while Instant::now() - start < Duration::from_secs(10) {
            // 10 units a second, far below the rate.
            lane.reserve(1, Instant::now());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(lane.effective_rate(), 100.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_high_rising_limit_percentage_slows_before_any_429() {
        let mut lane = Lane::new(LaneKind::Writes, 100.0, 100.0, true, Instant::now());
        let mut pct = 0.9;
        drive(&mut lane, 5, |_| {
            pct = f64::min(pct + 0.0002, 1.0);
            (false, Some(pct))
        })
        .await;
        assert!(lane.effective_rate() < 100.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lane_the_service_slowed_remembers_its_rate_and_the_burst_it_took() {
        // A cap of 20/s against a service whose bucket holds 300 and refills 2/s.
        let mut lane = Lane::new(LaneKind::Writes, 20.0, 3000.0, true, Instant::now());
        assert_eq!(lane.learned(), None, "nothing learned before any signal");
        let mut bucket = 300.0_f64;
        let mut last = Instant::now();
        drive(&mut lane, 60, |_| {
            let now = Instant::now();
            bucket = (bucket + (now - last).as_secs_f64() * 2.0).min(300.0);
            last = now;
            if bucket < 1.0 {
                return (true, None);
            }
            bucket -= 1.0;
            let used = 1.0 - bucket / 300.0;
            (false, (used >= 0.8).then_some(used))
        })
        .await;
        let learned = lane.learned().expect("the lane was slowed");
        assert!(learned.rate < 4.0, "{learned:?}");
        assert!((230.0..=300.0).contains(&learned.burst), "{learned:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_warning_far_below_the_cap_settles_under_the_smaller_bucket_without_429s() {
        // A cap of 20/s (bucket 3,000) against a service whose bucket holds 300 and refills 2/s.
        let mut lane = Lane::new(LaneKind::Writes, 20.0, 3000.0, true, Instant::now());
        let mut service = ServiceBucket::new(2.0, 300.0);
        let (mut throttled, mut total) = (0, 0);
        drive(&mut lane, 150, |_| {
            let answer = service.admit();
            total += 1;
            throttled += u32::from(answer.0);
            answer
        })
        .await;
        assert_eq!(throttled, 0, "{throttled} of {total} throttled");
        // Ideal: the bucket's 300 plus 2/s for 150 s.
        assert!(total as f64 >= 0.9 * 600.0, "{total} sent");
        let refill = lane.refill.expect("the refill was reckoned");
        assert!((1.7..=2.3).contains(&refill), "refill {refill}");
        assert!(lane.learned().is_some_and(|l| l.rate < 2.5));
    }

    /// Send batches of up to 20 units, one at a time, each answered `latency` after it goes:
    /// as the executor does, every answer of a batch is counted as accepted before any of its
    /// warnings is read. Returns (units sent, units answered 429).
    async fn drive_batches(
        lane: &mut Lane,
        service: &mut ServiceBucket,
        secs: u64,
        latency: Duration,
    ) -> (u32, u32) {
        let end = Instant::now() + Duration::from_secs(secs);
        let (mut total, mut throttled) = (0, 0);
        while Instant::now() < end {
            let n = lane.available_now(20, Instant::now());
            if n == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            tokio::time::sleep_until(lane.reserve(n, Instant::now())).await;
            let sent_at = Instant::now();
            tokio::time::sleep(latency).await;
            let answers: Vec<_> = (0..n).map(|_| service.admit()).collect();
            let accepted = answers.iter().filter(|(refused, _)| !refused).count();
            lane.accepted(accepted as u32, Instant::now());
            for (refused, pct) in answers {
                lane.observe(refused, pct, sent_at, Instant::now());
                lane.attributed(refused, pct);
            }
            lane.answered(n);
            total += n;
            throttled += n - accepted as u32;
        }
        (total, throttled)
    }

    #[tokio::test(start_paused = true)]
    async fn the_refill_reckoned_from_a_first_warning_counts_a_whole_batch_and_the_refill_meanwhile()
     {
        // A cap of 500 units per 10 s against a service whose bucket holds 100 and refills
        // 10/s. Answers come 80 ms after a batch goes, so the bucket refills while the lane
        // probes, and the warning comes in a batch whose later answers are accepted too.
        let mut lane = Lane::new(LaneKind::ResourceUnits, 50.0, 500.0, true, Instant::now());
        let mut service = ServiceBucket::new(10.0, 100.0);
        let latency = Duration::from_millis(80);
        // The first warning comes about half a second in.
        let (first, _) = drive_batches(&mut lane, &mut service, 1, latency).await;
        let refill = lane.refill.expect("the refill was reckoned");
        assert!((9.6..=10.4).contains(&refill), "refill {refill}");
        let (rest, throttled) = drive_batches(&mut lane, &mut service, 29, latency).await;
        let total = first + rest;
        assert_eq!(throttled, 0, "{throttled} of {total} throttled");
        assert!(total as f64 >= 0.9 * 400.0, "{total} sent");
    }

    #[tokio::test(start_paused = true)]
    async fn a_capped_lane_keeps_what_is_unanswered_within_its_probing_window() {
        let mut lane = Lane::new(LaneKind::Writes, 20.0, 3000.0, true, Instant::now());
        let now = Instant::now();
        assert_eq!(lane.available_now(20, now), 10, "10 at first");
        lane.reserve(10, now);
        assert_eq!(lane.available_now(20, now), 0, "nothing until answers come");
        lane.accepted(10, now);
        lane.answered(10);
        // 10 plus an eighth of the 10 accepted.
        assert_eq!(lane.available_now(20, now), 11);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lane_starts_at_a_remembered_rate_and_forgets_it_once_back_at_its_cap() {
        let start = LaneStart {
            rate: 10.0,
            burst: 50.0,
        };
        let mut lane = Lane::new(LaneKind::Writes, 100.0, 100.0, true, Instant::now())
            .starting_at(Some(start), Instant::now());
        assert_eq!(lane.effective_rate(), 10.0);
        assert_eq!(lane.burst(), 50, "the remembered burst goes at once");
        assert_eq!(lane.learned(), Some(start), "kept while nothing is learned");
        // The service says nothing: the rate grows back to the cap, and the memory goes.
        drive(&mut lane, 60, |_| (false, None)).await;
        assert_eq!(lane.effective_rate(), 100.0);
        assert_eq!(lane.learned(), None);
        // A remembered rate at or above the cap is the cap.
        let lane = Lane::new(LaneKind::Writes, 100.0, 100.0, true, Instant::now()).starting_at(
            Some(LaneStart {
                rate: 500.0,
                burst: 1.0,
            }),
            Instant::now(),
        );
        assert_eq!(lane.effective_rate(), 100.0);
        assert_eq!(lane.learned(), None);
    }
}
