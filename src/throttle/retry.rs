//! Retry timing: how long to wait before sending a throttled or transiently failed request
//! again, and when to give up (`--max-retries`, `--max-wait`). Used by the executor
//! ([`crate::exec`]) for `$batch` items and whole batches, paged reads included.

use std::time::Duration;

use rand::Rng;

/// First backoff ceiling when the service gave no `Retry-After`.
const BASE: Duration = Duration::from_millis(500);
/// Largest backoff ceiling.
const CEILING: Duration = Duration::from_secs(30);

/// When to retry and when to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries allowed per request after its first attempt (`--max-retries`, default 8).
    pub max_retries: u32,
    /// The longest one request may spend waiting between its attempts, in total
    /// (`--max-wait`, default 10 minutes). A `Retry-After` that would pass it fails the request.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 8,
            max_wait: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// The wait before the next attempt of a request that has been sent `attempts` times and has
    /// already waited `waited`, or `None` when it must give up. `retry_after` is the service's
    /// `Retry-After`; without it the wait is exponential backoff with full jitter (AWS
    /// architecture blog, "Exponential Backoff And Jitter"): uniform in `[0, min(30 s,
    /// 0.5 s * 2^(attempts-1))]`, so clients that failed together do not retry together.
    pub fn next_wait(
        &self,
        attempts: u32,
        retry_after: Option<Duration>,
        waited: Duration,
    ) -> Option<Duration> {
        if attempts > self.max_retries {
            return None;
        }
        let wait = retry_after.unwrap_or_else(|| full_jitter(attempts));
        (waited + wait <= self.max_wait).then_some(wait)
    }
}

/// Exponential backoff with full jitter for the `attempts`-th failure.
pub fn full_jitter(attempts: u32) -> Duration {
    let exponent = attempts.saturating_sub(1).min(16);
    let ceiling = BASE.saturating_mul(1 << exponent).min(CEILING);
    let secs = rand::rng().random_range(0.0..=ceiling.as_secs_f64());
    Duration::from_secs_f64(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_used_as_given() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.next_wait(1, Some(Duration::from_millis(249)), Duration::ZERO),
            Some(Duration::from_millis(249))
        );
    }

    #[test]
    fn backoff_without_retry_after_stays_under_its_growing_ceiling() {
        for attempts in 1..=10 {
            let ceiling = BASE.saturating_mul(1 << (attempts - 1)).min(CEILING);
            for _ in 0..50 {
                assert!(full_jitter(attempts) <= ceiling);
            }
        }
        // Jitter spreads the waits: 50 draws are not all equal.
        let draws: Vec<_> = (0..50).map(|_| full_jitter(4)).collect();
        assert!(draws.iter().any(|d| *d != draws[0]));
    }

    #[test]
    fn retries_stop_after_max_retries_and_beyond_max_wait() {
        let policy = RetryPolicy {
            max_retries: 2,
            max_wait: Duration::from_secs(10),
        };
        let one = Some(Duration::from_secs(1));
        assert!(policy.next_wait(2, one, Duration::ZERO).is_some());
        assert!(policy.next_wait(3, one, Duration::ZERO).is_none());
        assert!(
            policy
                .next_wait(1, Some(Duration::from_secs(11)), Duration::ZERO)
                .is_none()
        );
        assert!(policy.next_wait(1, one, Duration::from_secs(9)).is_some());
        assert!(
            policy
                .next_wait(1, one, Duration::from_millis(9_001))
                .is_none()
        );
    }
}
