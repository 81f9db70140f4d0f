//! `authbulk sim`: flags of the simulated tenant, validated into [`crate::sim::SimConfig`].

use clap::Args;

use crate::Outcome;

/// Flags of `authbulk sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Number of generated users.
    #[arg(long, default_value_t = 1000)]
    pub users: usize,
}

/// Serve the simulator until Ctrl-C.
pub fn execute(_args: SimArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("the simulator is not built yet")
}
