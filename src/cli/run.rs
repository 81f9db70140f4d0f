//! `authbulk run`: flags of a run, validated into [`crate::run::RunConfig`]; runs it on a tokio
//! runtime and returns its outcome.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use crate::Outcome;
use crate::cli::auth_flags::AuthArgs;
use crate::cli::job_flags::JobFlags;
use crate::cli::rate_flags::RateFlags;
use crate::run::{Connection, Exclusions, Input, RunConfig, Targets};

/// Flags of `authbulk run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Job files (.csv, .tsv, .txt, .json, .jsonl); `-` reads stdin (with --format).
    #[arg(value_name = "JOB")]
    pub jobs: Vec<String>,
    /// Read and plan only (GETs), print the plan; never write to the tenant.
    #[arg(long)]
    pub dry_run: bool,
    /// Write without asking for confirmation (needed without a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Refuse to write when the plan holds more than N writes.
    #[arg(long, value_name = "N")]
    pub max_changes: Option<u64>,
    /// A user never touched (UPN or object id), or @FILE with one per line; repeatable.
    #[arg(long, value_name = "UPN|ID|@FILE")]
    pub exclude: Vec<String>,
    /// Run the valid rows of a job that has bad rows (the bad ones are reported `skipped`).
    #[arg(long)]
    pub skip_invalid: bool,
    /// Report file, .csv or .jsonl [default: authbulk-<UTC time>.csv].
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Also write the end-of-run summary as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
    /// Continue the interrupted run that wrote --report (same job files).
    #[arg(long, conflicts_with = "dry_run")]
    pub resume: bool,
    /// File for temporary access passes (created with mode 0600; must not exist).
    #[arg(long, value_name = "FILE")]
    pub tap_out: Option<PathBuf>,
    /// Target every user of the tenant (with --action) instead of job files.
    #[arg(long, help_heading = "Targets")]
    pub all_users: bool,
    /// OData $filter for --all-users, e.g. "startswith(userPrincipalName,'a')".
    #[arg(
        long,
        value_name = "ODATA",
        requires = "all_users",
        help_heading = "Targets"
    )]
    pub filter: Option<String>,
    /// Target the users among a group's transitive members (with --action); repeatable.
    #[arg(long, value_name = "ID", help_heading = "Targets")]
    pub group: Vec<String>,
    /// Run against a simulated tenant in this process (no credentials needed).
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
    /// Format and per-row defaults.
    #[command(flatten)]
    pub job: JobFlags,
    /// Credentials and cloud.
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Rate limits, retries, concurrency.
    #[command(flatten)]
    pub rate: RateFlags,
}

/// What a run works on, from the job arguments and the target flags.
pub fn input(
    jobs: &[String],
    all_users: bool,
    filter: Option<String>,
    groups: &[String],
    job: &JobFlags,
) -> Result<Input> {
    let targets = match (all_users, groups.is_empty()) {
        (true, true) => Some(Targets::AllUsers { filter }),
        (false, false) => Some(Targets::Groups(groups.to_vec())),
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

/// Validate the flags and run.
pub fn execute(args: RunArgs) -> Result<Outcome> {
    let defaults = args.job.defaults()?;
    let input = input(
        &args.jobs,
        args.all_users,
        args.filter.clone(),
        &args.group,
        &args.job,
    )?;
    let connection = if args.simulate {
        Connection::Simulate {
            users: args.sim_users,
            seed: args.sim_seed,
        }
    } else {
        Connection::Tenant(args.auth.to_config()?)
    };
    if args.resume && args.report.is_none() {
        bail!("--resume needs the --report of the run to continue");
    }
    let config = RunConfig {
        input,
        shape: format!("{:?}", args.job),
        defaults,
        dry_run: args.dry_run,
        yes: args.yes,
        max_changes: args.max_changes,
        exclusions: Exclusions::from_flags(&args.exclude)?,
        skip_invalid: args.skip_invalid,
        report: args.report,
        summary_json: args.summary_json,
        resume: args.resume,
        tap_out: args.tap_out,
        connection,
        exec: args.rate.to_config()?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(crate::run::run(config))
}
