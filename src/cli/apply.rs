//! `authbulk apply PLAN`: flags of the apply of a saved plan (`run --dry-run --plan-out`),
//! validated into a [`crate::run::RunConfig`] whose rows are the plan's; run like `run`.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use crate::Outcome;
use crate::cli::colour::ColorChoice;
use crate::cli::rate_flags::RateFlags;
use crate::cli::targets::TenantArgs;
use crate::plan::{Paint, PlanRules};
use crate::report::format::stdout::Destination;
use crate::run::{Exclusions, RunConfig};
use crate::target::Input;

/// Flags of `authbulk apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The plan file a `run --dry-run --plan-out FILE` saved.
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,
    /// Apply without asking for confirmation (needed without a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Refuse to apply a plan that holds more than N writes.
    #[arg(long, value_name = "N")]
    pub max_changes: Option<u64>,
    /// A user never touched (UPN or object id), or @FILE with one per line; repeatable.
    #[arg(long, value_name = "UPN|ID|@FILE")]
    pub exclude: Vec<String>,
    /// Leave alone the transitive members of this group (object id, or display name); repeatable.
    #[arg(long, value_name = "ID|NAME")]
    pub exclude_group: Vec<String>,
    /// Leave alone users with an admin role, reported `skipped`.
    #[arg(long)]
    pub exclude_admins: bool,
    /// Report file, .csv or .jsonl; `-` for CSV on stdout [default: authbulk-<UTC time>.csv].
    #[arg(long, value_name = "FILE")]
    pub report: Option<OsString>,
    /// Also write the end-of-run summary as JSON to FILE; `-` for stdout.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<OsString>,
    /// Stop after N identical refusals (HTTP 403 with the same error code) in a row.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_denied: u32,
    /// Continue the interrupted apply of this plan that wrote --report.
    #[arg(long)]
    pub resume: bool,
    /// Keep the journal after an apply that got through every row.
    #[arg(long)]
    pub keep_journal: bool,
    /// Start at the budget instead of the rate this tenant allowed in an earlier run.
    #[arg(long)]
    pub forget_rate: bool,
    /// Keep the rate memory in DIR.
    #[arg(long, value_name = "DIR")]
    pub rate_memory: Option<PathBuf>,
    /// File for temporary access passes the plan issues (mode 0600; must not exist). The
    /// passes are made now: a plan holds only their parameters.
    #[arg(long, value_name = "FILE")]
    pub tap_out: Option<PathBuf>,
    /// Folder for the QR codes and PINs the plan issues (mode 0700; new or empty).
    #[arg(long, value_name = "DIR")]
    pub secrets_out: Option<PathBuf>,
    /// The tenant (the plan's own: a token for another tenant is refused).
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Rate limits, retries, concurrency.
    #[command(flatten)]
    pub rate: RateFlags,
}

/// Validate the flags and apply the plan; `color` decides the console's colour.
pub fn execute(args: ApplyArgs, color: ColorChoice) -> Result<Outcome> {
    let connection = args.tenant.connection()?;
    let report = args.report.as_deref().map(Destination::from_arg);
    let summary_json = args.summary_json.as_deref().map(Destination::from_arg);
    if report == Some(Destination::Stdout) && summary_json == Some(Destination::Stdout) {
        bail!("--report - and --summary-json - would mix on stdout: send one of them to a file");
    }
    if args.resume && args.report.is_none() {
        bail!("--resume needs the --report of the apply to continue");
    }
    let mut config = RunConfig {
        input: Input::Jobs(Vec::new()),
        shape: "apply".into(),
        defaults: Default::default(),
        dry_run: false,
        yes: args.yes,
        max_changes: args.max_changes,
        confirm_domain: None,
        exclusions: Exclusions::from_flags(&args.exclude)?
            .with_groups_and_admins(&args.exclude_group, args.exclude_admins)?,
        skip_invalid: false,
        report,
        summary_json,
        failed_out: None,
        max_denied: args.max_denied,
        resume: args.resume,
        keep_journal: args.keep_journal,
        forget_rate: args.forget_rate,
        rate_memory: args.rate_memory.clone(),
        tap_out: args.tap_out.clone(),
        tap_columns: Vec::new(),
        connection,
        exec: args.rate.to_config()?,
        plan_paint: Paint::default(),
        // The plan's own rules replace these once it is read.
        rules: PlanRules::default(),
        strict: false,
        secrets_out: args.secrets_out.clone(),
        tenant: None,
        plan_out: None,
        apply_plan: Some(args.plan.clone()),
        plan: None,
    };
    config.plan_paint = color.paint(config.plan_on_stderr());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(crate::run::run(config))
}
