//! One budget lane (resource units, or writes) of the throttle: its cap and its adaptive rate,
//! and the control law the module doc of [`super`] explains. Driven by [`super::Throttle`] only.

use std::time::Duration;

use tokio::time::Instant;

use super::gcra::Gcra;

/// How often the control law looks at what the service said.
pub const INTERVAL: Duration = Duration::from_millis(500);
/// Growth per interval before the first throttling signal (slow start).
const SLOW_START_GROWTH: f64 = 1.25;
/// Growth per interval after a signal (gradual recovery).
const RECOVERY_GROWTH: f64 = 1.03;
/// Cut on a 429, applied to the rate that was really being sent.
const THROTTLED_CUT: f64 = 0.75;
/// Cut when the limit percentage is high and rising.
const PRESSURE_CUT: f64 = 0.95;
/// At most one 429 cut per this long: the answers of batches already in flight carry the same
/// news and must not cut again.
const CUT_GAP: Duration = Duration::from_secs(1);
/// Percentage from which the bucket is draining towards throttling.
const HIGH: f64 = 0.95;
/// Percentage at which Graph starts warning.
const WARN: f64 = 0.8;

/// Which budget a lane is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneKind {
    /// Resource units per 10 s.
    ResourceUnits,
    /// Writes per 150 s.
    Writes,
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
    /// No signal seen yet: grow fast.
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
            floor: (rate / 200.0).max(0.05),
            slow_start: true,
            interval_start: now,
            sent: 0.0,
            binding: false,
            throttled: false,
            max_pct: None,
            prev_pct: None,
            utilisation: 0.0,
            last_cut: None,
        }
    }

    /// Take `n` units; when they may be used.
    pub fn reserve(&mut self, n: u32, now: Instant) -> Instant {
        self.tick(now);
        if n == 0 {
            return now;
        }
        let mut go = now;
        if let Some(cap) = &mut self.cap {
            go = go.max(cap.reserve(n, now));
        }
        if let Some(pacer) = &mut self.adaptive {
            go = go.max(pacer.reserve(n, now));
        }
        if go > now {
            self.binding = true;
        }
        self.sent += f64::from(n);
        go
    }

    /// When `n` units would be available, without taking them.
    pub fn available_at(&self, n: u32, now: Instant) -> Instant {
        let cap = self.cap.as_ref().map_or(now, |c| c.available_at(n, now));
        let pacer = self
            .adaptive
            .as_ref()
            .map_or(now, |p| p.available_at(n, now));
        cap.max(pacer)
    }

    /// Record one answer's signals. A 429 cuts at once (once per [`CUT_GAP`]); percentages are
    /// weighed at the end of the interval.
    pub fn observe(&mut self, throttled: bool, pct: Option<f64>, now: Instant) {
        self.tick(now);
        if let Some(p) = pct {
            self.max_pct = Some(self.max_pct.map_or(p, |m| m.max(p)));
        }
        if throttled {
            self.throttled = true;
            self.slow_start = false;
            if self.last_cut.is_none_or(|at| now - at >= CUT_GAP) {
                let measured = self.measured(now);
                self.cut(THROTTLED_CUT, measured, now);
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
        if self.throttled {
            // Already cut when the 429 arrived.
        } else if let Some(p) = self.max_pct {
            let rising = self.prev_pct.is_none_or(|q| p > q + 0.002);
            if p >= WARN {
                self.slow_start = false;
            }
            if p >= HIGH && (rising || p >= 0.99) {
                self.cut(PRESSURE_CUT, measured, now);
            } else if p >= WARN && rising {
                // At the limit and still climbing: hold.
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

/// Bucket of the adaptive pacer: half a second of its rate, and at least one full batch.
fn pacer_burst(rate: f64) -> f64 {
    (rate * 0.5).max(20.0)
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
            lane.observe(throttled, pct, Instant::now());
        }
        sent
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_slows_a_capped_lane_below_its_cap_and_it_recovers_to_the_cap() {
        let mut lane = Lane::new(LaneKind::Writes, 100.0, 100.0, true, Instant::now());
        drive(&mut lane, 2, |_| (false, None)).await;
        assert_eq!(lane.effective_rate(), 100.0);
        lane.observe(true, None, Instant::now());
        let cut = lane.effective_rate();
        assert!(cut <= 75.0 + 1e-9, "rate after a 429: {cut}");
        drive(&mut lane, 30, |_| (false, None)).await;
        assert_eq!(lane.effective_rate(), 100.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_429s_from_one_episode_cuts_once() {
        let mut lane = Lane::new(LaneKind::Writes, 100.0, 100.0, true, Instant::now());
        drive(&mut lane, 2, |_| (false, None)).await;
        for _ in 0..10 {
            lane.observe(true, None, Instant::now());
        }
        assert!(lane.effective_rate() >= 100.0 * THROTTLED_CUT * 0.99);
    }

    #[tokio::test(start_paused = true)]
    async fn an_adaptive_lane_finds_a_service_that_allows_four_times_the_start_rate() {
        let mut lane = Lane::new(LaneKind::ResourceUnits, 100.0, 100.0, false, Instant::now());
        // A service allowing 400/s whose bucket is 90 % used once we exceed that rate.
        drive(&mut lane, 30, |lane| {
            let over = lane.effective_rate() > 400.0;
            (false, over.then_some(0.99))
        })
        .await;
        let rate = lane.effective_rate();
        assert!((300.0..=420.0).contains(&rate), "settled at {rate}");
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
        let mut pct = 0.8;
        drive(&mut lane, 5, |_| {
            pct = f64::min(pct + 0.001, 1.0);
            (false, Some(pct))
        })
        .await;
        assert!(lane.effective_rate() < 100.0);
    }
}
