//! `authbulk status`: flags of a registration-status listing, validated into
//! [`crate::status::StatusConfig`]; runs it on a tokio runtime and returns its outcome.

use anyhow::{Result, bail};
use clap::Args;

use crate::Outcome;
use crate::cli::export::OutFormatArg;
use crate::cli::job_flags::JobFlags;
use crate::cli::rate_flags::RateFlags;
use crate::cli::targets::{TargetArgs, TenantArgs};
use crate::export::{Destination, OutFormat};
use crate::status::{Filters, StatusConfig, record};

/// Flags of `authbulk status`. The row-default flags are accepted (hidden), so a job file that
/// `run` takes with them is a valid status input too.
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
pub struct StatusArgs {
    /// Job files whose users to list (.csv, .tsv, .txt, .json, .jsonl); `-` reads stdin (with
    /// --format). Only the users matter, but rows must be valid job rows.
    #[arg(value_name = "JOB")]
    pub jobs: Vec<String>,
    /// Status file, .csv (a valid job file) or .jsonl (never overwritten); `-` for stdout
    /// [default: authbulk-status-<UTC time>.csv].
    #[arg(long, value_name = "FILE")]
    pub out: Option<String>,
    /// Status format, instead of the --out file's extension (stdout: csv).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub out_format: Option<OutFormatArg>,
    /// Only users not registered for MFA (isMfaRegistered false).
    #[arg(long, help_heading = "Filters")]
    pub without_mfa: bool,
    /// Only users whose registered methods are phones alone (mobilePhone, alternateMobilePhone,
    /// officePhone; at least one).
    #[arg(long, help_heading = "Filters")]
    pub sms_only: bool,
    /// Only users with an admin role (isAdmin true; needs the registration report).
    #[arg(long, help_heading = "Filters")]
    pub admins: bool,
    /// Only users with this method registered (Graph's methodsRegistered name, e.g. fido2,
    /// mobilePhone, microsoftAuthenticatorPush); repeatable, all must hold.
    #[arg(long, value_name = "METHOD", help_heading = "Filters")]
    pub has: Vec<String>,
    /// Only users without this method registered; repeatable.
    #[arg(long, value_name = "METHOD", help_heading = "Filters")]
    pub lacks: Vec<String>,
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

/// Validate the flags into the listing's configuration.
pub fn config(args: StatusArgs) -> Result<StatusConfig> {
    if args.jobs.is_empty() && !args.targets.all_users && args.targets.group.is_empty() {
        bail!("nothing to list: give job files, --all-users [--filter ODATA] or --group ID");
    }
    let names = |flag: &str, values: &[String]| -> Result<Vec<&'static str>> {
        values
            .iter()
            .map(|v| record::method_name(flag, v).map_err(anyhow::Error::msg))
            .collect()
    };
    let filters = Filters {
        without_mfa: args.without_mfa,
        sms_only: args.sms_only,
        admins: args.admins,
        has: names("--has", &args.has)?,
        lacks: names("--lacks", &args.lacks)?,
    };
    let mut job = args.job.clone();
    job.action.get_or_insert_with(|| "list".to_string());
    let defaults = job.defaults()?;
    let input = args.targets.input(&args.jobs, &job)?;
    let out = match args.out.as_deref() {
        Some("-") => Destination::Stdout,
        Some(path) => Destination::File(path.into()),
        None => crate::status::default_out(chrono::Utc::now()),
    };
    let connection = args.tenant.connection()?;
    Ok(StatusConfig {
        input,
        defaults,
        filters,
        out,
        out_format: args.out_format.map(|f| match f {
            OutFormatArg::Csv => OutFormat::Csv,
            OutFormatArg::Jsonl => OutFormat::JsonLines,
        }),
        connection,
        exec: args.rate.to_config()?,
    })
}

/// Validate the flags and list.
pub fn execute(args: StatusArgs) -> Result<Outcome> {
    let config = config(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(crate::status::status(config))
}
