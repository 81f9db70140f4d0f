//! A token bucket in its GCRA form (generic cell rate algorithm): one "theoretical arrival time"
//! instead of a token count, so reserving `n` units is one addition and the wait until they are
//! available falls out directly. Runs on tokio's clock, so tests drive it with a paused clock.
//! Used by [`super::Throttle`] for both the fixed caps and the adaptive rate.

use std::time::Duration;

use tokio::time::Instant;

/// A bucket of `burst` units refilled at `rate` units per second; it starts full.
#[derive(Debug, Clone)]
pub struct Gcra {
    /// Seconds per unit (1 / rate).
    emission: f64,
    /// Bucket size in units.
    burst: f64,
    /// Theoretical arrival time: when the bucket would be full again if nothing more is taken.
    tat: Instant,
}

impl Gcra {
    /// A full bucket of `burst` units refilled at `rate` units per second.
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Gcra {
            emission: 1.0 / rate.max(f64::MIN_POSITIVE),
            burst: burst.max(1.0),
            tat: now,
        }
    }

    /// The refill rate in units per second.
    pub fn rate(&self) -> f64 {
        1.0 / self.emission
    }

    /// Change the refill rate (and bucket size); what was already taken stays taken.
    pub fn set_rate(&mut self, rate: f64, burst: f64) {
        self.emission = 1.0 / rate.max(f64::MIN_POSITIVE);
        self.burst = burst.max(1.0);
    }

    /// Take `n` units and return when they may be used (`now` or later). Reservations queue:
    /// a later caller waits behind an earlier one.
    pub fn reserve(&mut self, n: u32, now: Instant) -> Instant {
        if n == 0 {
            return now;
        }
        let units = f64::from(n);
        // A request larger than the bucket waits until the bucket would have refilled by the
        // difference: the service's own bucket refills at the same pace, so the units are
        // there when the request arrives.
        let tolerance = Duration::from_secs_f64(self.burst * self.emission);
        let base = self.tat.max(now);
        let new_tat = base + Duration::from_secs_f64(units * self.emission);
        self.tat = new_tat;
        new_tat.checked_sub(tolerance).map_or(now, |go| go.max(now))
    }

    /// The bucket size in units.
    pub fn burst(&self) -> f64 {
        self.burst
    }

    /// Share of the bucket in use now (0 when full, 1 when empty).
    pub fn used(&self, now: Instant) -> f64 {
        let owed = self.tat.saturating_duration_since(now).as_secs_f64() / self.emission;
        (owed / self.burst).min(1.0)
    }

    /// How many whole units could be taken now without waiting.
    pub fn available_now(&self, now: Instant) -> u32 {
        let owed = self.tat.saturating_duration_since(now).as_secs_f64() / self.emission;
        let free = (self.burst - owed).floor();
        if free <= 0.0 {
            0
        } else {
            // Saturating float-to-int conversion; a bucket never holds more than u32::MAX.
            free as u32
        }
    }

    /// When `n` units would be available, without taking them.
    pub fn available_at(&self, n: u32, now: Instant) -> Instant {
        let mut probe = self.clone();
        probe.reserve(n, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_lets_its_burst_through_then_paces_at_the_rate() {
        let now = Instant::now();
        let mut bucket = Gcra::new(10.0, 20.0, now);
        assert_eq!(bucket.reserve(20, now), now);
        let next = bucket.reserve(1, now);
        assert_eq!(next - now, Duration::from_millis(100));
        let after = bucket.reserve(5, now);
        assert_eq!(after - now, Duration::from_millis(600));
    }

    #[test]
    fn an_idle_bucket_refills_but_never_beyond_its_size() {
        let start = Instant::now();
        let mut bucket = Gcra::new(10.0, 20.0, start);
        bucket.reserve(20, start);
        let later = start + Duration::from_secs(60);
        assert_eq!(bucket.reserve(20, later), later);
        assert_eq!(bucket.reserve(1, later) - later, Duration::from_millis(100));
    }

    #[test]
    fn a_request_larger_than_the_bucket_waits_for_the_difference() {
        let now = Instant::now();
        let mut bucket = Gcra::new(10.0, 5.0, now);
        assert_eq!(bucket.reserve(20, now) - now, Duration::from_millis(1500));
    }

    #[test]
    fn available_now_counts_the_units_a_reservation_would_not_wait_for() {
        let now = Instant::now();
        let mut bucket = Gcra::new(10.0, 20.0, now);
        assert_eq!(bucket.available_now(now), 20);
        bucket.reserve(15, now);
        assert_eq!(bucket.available_now(now), 5);
        assert_eq!(bucket.reserve(5, now), now);
        assert_eq!(bucket.available_now(now), 0);
        assert_eq!(bucket.available_now(now + Duration::from_millis(350)), 3);
    }

    #[test]
    fn a_lower_rate_slows_the_following_reservations() {
        let now = Instant::now();
        let mut bucket = Gcra::new(100.0, 1.0, now);
        bucket.reserve(1, now);
        bucket.set_rate(10.0, 1.0);
        let first = bucket.reserve(1, now);
        let second = bucket.reserve(1, now);
        assert_eq!(second - first, Duration::from_millis(100));
    }
}
