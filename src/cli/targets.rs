//! Flags that `run` and `export` share: which users (job files or enumerated targets) and which
//! tenant (a real one through the auth flags, or the simulated one).

use anyhow::{Result, bail};
use clap::Args;

use crate::cli::auth_flags::AuthArgs;
use crate::cli::job_flags::JobFlags;
use crate::session::Connection;
use crate::target::{Input, Targets};

/// `--all-users [--filter]` and `--group`.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Every user of the tenant instead of job files (`run`: with --action).
    #[arg(long, help_heading = "Targets")]
    pub all_users: bool,
    /// OData $filter for --all-users, e.g. "endsWith(userPrincipalName,'#EXT#@contoso.com')".
    /// Sent as an advanced query (ConsistencyLevel: eventual): results come from an eventually
    /// consistent index, so a user changed seconds ago may be missing or still listed.
    #[arg(
        long,
        value_name = "ODATA",
        requires = "all_users",
        help_heading = "Targets"
    )]
    pub filter: Option<String>,
    /// The users among a group's transitive members (with --action); repeatable. A group's
    /// object id, or its display name when exactly one group has it. Graph answers this from an
    /// eventually consistent index: very recent membership changes may be missing.
    #[arg(long, value_name = "ID|NAME", help_heading = "Targets")]
    pub group: Vec<String>,
}

impl TargetArgs {
    /// What the command works on: the job files, or the targets (which need `--action`).
    pub fn input(&self, jobs: &[String], job: &JobFlags) -> Result<Input> {
        let targets = match (self.all_users, self.group.is_empty()) {
            (true, true) => Some(Targets::AllUsers {
                filter: self.filter.clone(),
            }),
            (false, false) => Some(Targets::Groups(self.group.clone())),
            (true, false) => bail!("give --all-users or --group, not both"),
            (false, true) => None,
        };
        match (targets, jobs.is_empty()) {
            (Some(_), false) => bail!("give job files or --all-users/--group, not both"),
            (Some(targets), true) => {
                if job.action.is_none() {
                    bail!("--all-users and --group need --action");
                }
                Ok(Input::Targets(targets))
            }
            (None, false) => Ok(Input::Jobs(job.sources(jobs)?)),
            (None, true) => {
                bail!("nothing to do: give job files, or --all-users/--group with --action")
            }
        }
    }
}

/// The tenant: `--simulate`, or the credentials of the auth flags.
#[derive(Debug, Args)]
pub struct TenantArgs {
    /// Work on a simulated tenant in this process (no credentials needed).
    #[arg(long, help_heading = "Tenant")]
    pub simulate: bool,
    /// Users of the simulated tenant.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1000,
        requires = "simulate",
        help_heading = "Tenant"
    )]
    pub sim_users: usize,
    /// Seed of the simulated tenant.
    #[arg(
        long,
        value_name = "S",
        default_value_t = 42,
        requires = "simulate",
        help_heading = "Tenant"
    )]
    pub sim_seed: u64,
    /// Credentials and cloud.
    #[command(flatten)]
    pub auth: AuthArgs,
}

impl TenantArgs {
    /// The validated connection.
    pub fn connection(&self) -> Result<Connection> {
        Ok(if self.simulate {
            Connection::Simulate {
                users: self.sim_users,
                seed: self.sim_seed,
                cloud: self.auth.cloud.into(),
            }
        } else {
            Connection::Tenant(self.auth.to_config()?)
        })
    }
}
