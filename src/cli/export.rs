//! `authbulk export`: flags of an export, validated into [`crate::export::ExportConfig`]; runs
//! it on a tokio runtime and returns its outcome.

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};

use crate::Outcome;
use crate::cli::job_flags::JobFlags;
use crate::cli::rate_flags::RateFlags;
use crate::cli::targets::{TargetArgs, TenantArgs};
use crate::export::{Destination, ExportConfig, OutFormat};

/// `--out-format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutFormatArg {
    /// CSV with a header line.
    Csv,
    /// JSON Lines.
    Jsonl,
}

/// Flags of `authbulk export`. The row-default flags (`--action`, `--phone-number`, ...) are
/// accepted, so a job file that `run` takes with them is a valid export input too, but hidden
/// from `--help`: an export reads only each row's user.
#[derive(Debug, Args)]
#[command(mut_arg("action", |a| a.hide(true)))]
#[command(mut_arg("phone_type", |a| a.hide(true)))]
#[command(mut_arg("phone_number", |a| a.hide(true)))]
#[command(mut_arg("email", |a| a.hide(true)))]
#[command(mut_arg("method_type", |a| a.hide(true)))]
#[command(mut_arg("method_id", |a| a.hide(true)))]
#[command(mut_arg("older_than", |a| a.hide(true)))]
#[command(mut_arg("unused_for", |a| a.hide(true)))]
#[command(mut_arg("device", |a| a.hide(true)))]
#[command(mut_arg("keep_newest", |a| a.hide(true)))]
#[command(mut_arg("lifetime_minutes", |a| a.hide(true)))]
#[command(mut_arg("usable_once", |a| a.hide(true)))]
#[command(mut_arg("start_time", |a| a.hide(true)))]
#[command(mut_arg("default_method", |a| a.hide(true)))]
#[command(mut_arg("system_preferred", |a| a.hide(true)))]
#[command(mut_arg("revoke_sessions", |a| a.hide(true)))]
#[command(mut_arg("issue_tap", |a| a.hide(true)))]
#[command(mut_arg("default_region", |a| a.hide(true)))]
#[command(mut_arg("qr_lifetime_days", |a| a.hide(true)))]
#[command(mut_arg("replace", |a| a.hide(true)))]
pub struct ExportArgs {
    /// Job files whose users to list (.csv, .tsv, .txt, .json, .jsonl); `-` reads stdin (with
    /// --format). Only the users matter, but rows must be valid job rows: rows without an
    /// action are `list`, and --action and the row flags work as for `run`.
    #[arg(value_name = "JOB")]
    pub jobs: Vec<String>,
    /// Inventory file, .csv or .jsonl (never overwritten); `-` for stdout
    /// [default: authbulk-export-<UTC time>.csv].
    #[arg(long, value_name = "FILE")]
    pub out: Option<String>,
    /// Inventory format, instead of the --out file's extension (stdout: csv).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub out_format: Option<OutFormatArg>,
    /// Export the users of a job's valid rows even when some rows are bad (each bad row
    /// becomes an "error" row).
    #[arg(long)]
    pub skip_invalid: bool,
    /// Enumerated targets instead of job files.
    #[command(flatten)]
    pub targets: TargetArgs,
    /// The tenant.
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Format of the job files (and, hidden, the row defaults `run` takes).
    #[command(flatten)]
    pub job: JobFlags,
    /// Rate limits, retries, concurrency.
    #[command(flatten)]
    pub rate: RateFlags,
}

/// Validate the flags into the export's configuration.
pub fn config(args: ExportArgs) -> Result<ExportConfig> {
    if args.jobs.is_empty() && !args.targets.all_users && args.targets.group.is_empty() {
        bail!("nothing to export: give job files, --all-users [--filter ODATA] or --group ID");
    }
    // Any action is accepted; rows without one are `list` (read-only), so a plain list of
    // users is a valid job.
    let mut job = args.job.clone();
    job.action.get_or_insert_with(|| "list".to_string());
    let defaults = job.defaults()?;
    let input = args.targets.input(&args.jobs, &job)?;
    let out = match args.out.as_deref() {
        Some("-") => Destination::Stdout,
        Some(path) => Destination::File(path.into()),
        None => crate::export::default_out(chrono::Utc::now()),
    };
    let connection = args.tenant.connection()?;
    Ok(ExportConfig {
        input,
        defaults,
        skip_invalid: args.skip_invalid,
        out,
        out_format: args.out_format.map(|f| match f {
            OutFormatArg::Csv => OutFormat::Csv,
            OutFormatArg::Jsonl => OutFormat::JsonLines,
        }),
        connection,
        exec: args.rate.to_config()?,
    })
}

/// Validate the flags and export.
pub fn execute(args: ExportArgs) -> Result<Outcome> {
    let config = config(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(crate::export::export(config))
}
