//! `authbulk run`: flags of a run, validated into [`crate::run::RunConfig`]; runs it on a tokio
//! runtime and returns its outcome.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use crate::Outcome;
use crate::cli::colour::ColorChoice;
use crate::cli::job_flags::JobFlags;
use crate::cli::rate_flags::RateFlags;
use crate::cli::targets::{TargetArgs, TenantArgs};
use crate::plan::Paint;
use crate::report::format::stdout::Destination;
use crate::run::{Exclusions, RunConfig};

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
    #[arg(short = 'y', long)]
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
    /// Report file, .csv or .jsonl; `-` for CSV on stdout (the plan then goes to stderr)
    /// [default: authbulk-<UTC time>.csv; a --dry-run writes none].
    #[arg(long, value_name = "FILE")]
    pub report: Option<OsString>,
    /// Also write the end-of-run summary as JSON to FILE; `-` for stdout.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<OsString>,
    /// Continue the interrupted run that wrote --report (same job files).
    #[arg(long, conflicts_with = "dry_run")]
    pub resume: bool,
    /// Keep the journal after a run that got through every row (an audit trail of each write's
    /// start and end); by default it is removed, as nothing is left to resume.
    #[arg(long, conflicts_with = "dry_run")]
    pub keep_journal: bool,
    /// File for temporary access passes (created with mode 0600; must not exist).
    #[arg(long, value_name = "FILE")]
    pub tap_out: Option<PathBuf>,
    /// Job columns to copy into --tap-out beside each pass, e.g. `manager,email` (the job's
    /// own columns, matched ignoring case), so the file can be handed out as it is.
    #[arg(
        long,
        value_name = "COLUMN,...",
        value_delimiter = ',',
        requires = "tap_out"
    )]
    pub tap_columns: Vec<String>,
    /// Enumerated targets instead of job files.
    #[command(flatten)]
    pub targets: TargetArgs,
    /// The tenant.
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Format and per-row defaults.
    #[command(flatten)]
    pub job: JobFlags,
    /// Rate limits, retries, concurrency.
    #[command(flatten)]
    pub rate: RateFlags,
}

/// Validate the flags and run; `color` decides the plan's colour.
pub fn execute(args: RunArgs, color: ColorChoice) -> Result<Outcome> {
    let defaults = args.job.defaults()?;
    let input = args.targets.input(&args.jobs, &args.job)?;
    let connection = args.tenant.connection()?;
    if args.resume && args.report.is_none() {
        bail!("--resume needs the --report of the run to continue");
    }
    let report = args.report.as_deref().map(Destination::from_arg);
    let summary_json = args.summary_json.as_deref().map(Destination::from_arg);
    if report == Some(Destination::Stdout) && summary_json == Some(Destination::Stdout) {
        bail!("--report - and --summary-json - would mix on stdout: send one of them to a file");
    }
    let mut config = RunConfig {
        input,
        shape: format!("{:?}", args.job),
        defaults,
        dry_run: args.dry_run,
        yes: args.yes,
        max_changes: args.max_changes,
        exclusions: Exclusions::from_flags(&args.exclude)?,
        skip_invalid: args.skip_invalid,
        report,
        summary_json,
        resume: args.resume,
        keep_journal: args.keep_journal,
        tap_out: args.tap_out,
        tap_columns: args.tap_columns,
        connection,
        exec: args.rate.to_config()?,
        plan_paint: Paint::default(),
    };
    config.plan_paint = color.paint(config.plan_on_stderr());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(crate::run::run(config))
}
