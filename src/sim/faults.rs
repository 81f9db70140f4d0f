//! Injected faults: a latency range added to every HTTP call, and rates of 503, 504 and dropped
//! connections. A 503 or 504 is answered instead of applying the request; a reset applies the
//! request and then drops the connection, so the client cannot know the outcome
//! (graph-contract.md; DESIGN.md "unknown outcome"). Drawn by [`super::server`] per HTTP call and
//! by [`super::batch`] per item (503/504 only).
//!
//! "Applied, then 504" ([`AppliedTimeouts`]): the write is made and the caller gets a gateway
//! timeout, per item (or single request) and for a whole `$batch` whose items all ran. Nothing
//! in Microsoft's docs says a 504 means "not processed" ("Microsoft Graph error responses": a
//! 504 is a proxy that "did not receive a timely response from the upstream server").

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

/// Rates of the "applied, then 504" fault, each a probability per draw (0 = never).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct AppliedTimeouts {
    /// A write (single request or `$batch` item) that succeeded is answered 504.
    pub item: f64,
    /// A whole `$batch` is answered 504 after every item ran.
    pub batch: f64,
}

impl AppliedTimeouts {
    fn draw(rate: f64) -> bool {
        rate > 0.0 && rand::rng().random_bool(rate.min(1.0))
    }

    /// True when this applied write's answer is to become a 504.
    pub(crate) fn draw_item(&self) -> bool {
        Self::draw(self.item)
    }

    /// True when this `$batch`'s answer is to become a 504.
    pub(crate) fn draw_batch(&self) -> bool {
        Self::draw(self.batch)
    }
}

/// The 504 Graph's gateway answers when the service behind it took too long.
pub(crate) fn applied_timeout() -> Reply {
    Reply::error(504, "UnknownError", "The request timed out at the gateway.")
}

/// A uniformly drawn latency in `range` (inclusive), none without a range.
pub(crate) fn latency(range: Option<(Duration, Duration)>) -> Option<Duration> {
    let (min, max) = range?;
    if max <= min {
        return Some(min);
    }
    Some(rand::rng().random_range(min..=max))
}
