//! What a run tells the planner beyond the row and the user's state: how a default moves
//! ([`DefaultRules`], `--default-order`, `--no-weaker-default`) and the tenant's
//! authentication methods policy ([`MethodsPolicy`], read once per run). Passed to
//! [`super::desired::plan_with`] by [`super::apply::Applier`].

use std::sync::Arc;

pub use super::default::DefaultRules;
pub use super::policy::MethodsPolicy;

/// The run-wide rules of planning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanRules {
    /// How a default moves when a removal takes the method behind it.
    pub default: DefaultRules,
    /// The authentication methods policy, when the run could read it.
    pub policy: Option<Arc<MethodsPolicy>>,
    /// The QR code PIN policy, when the run read it (`issue-qr-pin`, `reset-qr-pin` jobs).
    pub qr_pin: Option<super::qr_pin::QrPinPolicy>,
}
