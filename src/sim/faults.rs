//! Injected faults: a latency range added to every HTTP call, and rates of 503, 504 and dropped
//! connections. A 503 or 504 is answered instead of applying the request; a reset applies the
//! request and then drops the connection, so the client cannot know the outcome
//! (graph-contract.md; DESIGN.md "unknown outcome"). Drawn by [`super::server`] per HTTP call and
//! by [`super::batch`] per item (503/504 only).

use std::time::Duration;

use rand::Rng;
use serde::Serialize;

use super::reply::Reply;

/// The rates of each fault, each a probability per draw (0 = never).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct FaultRates {
    /// 503 `serviceNotAvailable`.
    pub unavailable: f64,
    /// 504 `gatewayTimeout`.
    pub gateway_timeout: f64,
    /// Connection dropped after the request was applied.
    pub reset: f64,
}

/// What one draw gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// No fault.
    None,
    /// 503.
    Unavailable,
    /// 504.
    GatewayTimeout,
    /// Drop the connection after applying.
    Reset,
}

impl FaultRates {
    /// True when no fault can happen (draws are skipped).
    pub fn is_none(&self) -> bool {
        self.unavailable <= 0.0 && self.gateway_timeout <= 0.0 && self.reset <= 0.0
    }

    /// Draw a fault; `with_reset` false for batch items, which cannot drop a connection.
    pub(crate) fn draw(&self, with_reset: bool) -> Fault {
        if self.is_none() {
            return Fault::None;
        }
        let x: f64 = rand::rng().random();
        let reset = if with_reset { self.reset } else { 0.0 };
        if x < self.unavailable {
            Fault::Unavailable
        } else if x < self.unavailable + self.gateway_timeout {
            Fault::GatewayTimeout
        } else if x < self.unavailable + self.gateway_timeout + reset {
            Fault::Reset
        } else {
            Fault::None
        }
    }
}

impl Fault {
    /// The answer of a 503 or 504 fault.
    pub(crate) fn reply(self) -> Option<Reply> {
        match self {
            Fault::Unavailable => Some(
                Reply::error(
                    503,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable. Please retry later.",
                )
                .with_header("Retry-After", "1".into()),
            ),
            Fault::GatewayTimeout => Some(Reply::error(
                504,
                "UnknownError",
                "The request timed out at the gateway.",
            )),
            Fault::None | Fault::Reset => None,
        }
    }
}

/// A uniformly drawn latency in `range` (inclusive), none without a range.
pub(crate) fn latency(range: Option<(Duration, Duration)>) -> Option<Duration> {
    let (min, max) = range?;
    if max <= min {
        return Some(min);
    }
    Some(rand::rng().random_range(min..=max))
}
