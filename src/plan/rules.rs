//! What a run tells the planner beyond the row and the user's state: how a default moves
//! ([`DefaultRules`], `--default-order`, `--no-weaker-default`). Passed to
//! [`super::desired::plan_with`] by [`super::apply::Applier`].

pub use super::default::DefaultRules;

/// The run-wide rules of planning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanRules {
    /// How a default moves when a removal takes the method behind it.
    pub default: DefaultRules,
}
