//! `authbulk run`: flags of a run, validated into [`crate::run::RunConfig`]; runs it on a tokio
//! runtime and returns its outcome.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use clap::Args;

use crate::Outcome;
use crate::cli::colour::ColorChoice;
use crate::cli::job_flags::JobFlags;
use crate::cli::rate_flags::RateFlags;
use crate::cli::targets::{TargetArgs, TenantArgs};
use crate::plan::default::parse_order;
use crate::plan::{Paint, PlanRules};
use crate::report::format::stdout::Destination;
use crate::run::{Exclusions, RunConfig};
use crate::session::Connection;

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
    /// The tenant's default domain (e.g. contoso.onmicrosoft.com): --all-users with a removing
    /// action (reset-mfa, remove-*) asks for it to be typed; this answers instead (needed
    /// without a terminal; --yes does not answer it).
    #[arg(long, value_name = "DOMAIN")]
    pub confirm_domain: Option<String>,
    /// Leave alone the transitive members of this group (object id, or display name when
    /// exactly one group has it), reported `skipped`; repeatable.
    #[arg(long, value_name = "ID|NAME")]
    pub exclude_group: Vec<String>,
    /// Leave alone users with an admin role (the registration report's isAdmin; without Entra
    /// ID P1/P2 the members of the directory roles), reported `skipped`.
    #[arg(long)]
    pub exclude_admins: bool,
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
    /// Stop the run after N identical refusals (HTTP 403 with the same error code) in a row: no
    /// further write; rows not done are left for --resume; exit 2 naming the permission.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_denied: u32,
    /// Write the rows with a failed step to FILE as a job to run again: a CSV job's own columns
    /// and cells, or `userPrincipalName,id,action` for --all-users/--group (mode 0600; must
    /// not exist; written only when a row failed).
    #[arg(long, value_name = "FILE", conflicts_with = "dry_run")]
    pub failed_out: Option<PathBuf>,
    /// Continue the interrupted run that wrote --report (same job files, or the same
    /// --all-users/--group targets: users are matched by object id; users who joined are acted
    /// on, one who left before being handled is reported skipped/userGone).
    #[arg(long, conflicts_with = "dry_run")]
    pub resume: bool,
    /// Keep the journal after a run that got through every row (an audit trail of each write's
    /// start and end); by default it is removed, as nothing is left to resume.
    #[arg(long, conflicts_with = "dry_run")]
    pub keep_journal: bool,
    /// Start at the budget instead of the rate this tenant allowed this app in an earlier run
    /// (kept after a run the service slowed down), and forget that rate.
    #[arg(long)]
    pub forget_rate: bool,
    /// Keep the rate memory (the rates this tenant allowed this app, for the next run to start
    /// at) in DIR instead of $XDG_STATE_HOME/authbulk/rates; also for a --graph-url, which
    /// otherwise keeps none.
    #[arg(long, value_name = "DIR")]
    pub rate_memory: Option<PathBuf>,
    /// Report stable refusals (a default method nothing can take over, a method type Graph will
    /// not delete, the authentication methods policy) as `failed` (exit 1) instead of `skipped`.
    #[arg(long)]
    pub strict: bool,
    /// Never move a user's default MFA method to a weaker one (push and OATH over phone) to
    /// remove the method behind it: that removal is skipped with the reason instead.
    #[arg(long)]
    pub no_weaker_default: bool,
    /// The defaults tried, in order, when a removal takes the method behind the user's default
    /// (comma-separated; names not listed are never chosen)
    /// [default: push,oath,sms,voiceAlternateMobile,voiceOffice].
    #[arg(long, value_name = "LIST")]
    pub default_order: Option<String>,
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
    /// Folder for QR codes and PINs of issue-qr-pin and reset-qr-pin (created with mode 0700;
    /// must not exist, or be empty): one PNG and one PIN file per user (mode 0600) and an
    /// index.csv. Required by those actions.
    #[arg(long, value_name = "DIR")]
    pub secrets_out: Option<PathBuf>,
    /// With --dry-run: save the plan to FILE (JSON Lines, mode 0600, must not exist; no
    /// secrets) for review, then apply exactly it with `authbulk apply FILE`.
    #[arg(
        long,
        value_name = "FILE",
        requires = "dry_run",
        conflicts_with = "tenants"
    )]
    pub plan_out: Option<PathBuf>,
    /// Run the job in every tenant of FILE at once, each with its own token, budgets and rate:
    /// CSV `tenant,credential[,client_id][,name]`, credential one of secret-env:VAR,
    /// secret-file:PATH, cert:PATH, access-token-env:VAR, workload-identity, managed-identity
    /// (never a secret itself). One report with a first column `tenant`, a summary per tenant
    /// and a total; the exit code is the worst tenant's. Needs --yes or --dry-run; not with
    /// --resume, --tap-out, --secrets-out, --failed-out, --max-changes, --simulate, --tenant.
    #[arg(long, value_name = "FILE", help_heading = "Tenant")]
    pub tenants: Option<PathBuf>,
    /// With --tenants: at most N tenants at once (each holds up to --concurrency connections).
    #[arg(long, value_name = "N", default_value_t = 20, requires = "tenants",
          value_parser = clap::value_parser!(u32).range(1..), help_heading = "Tenant")]
    pub tenant_concurrency: u32,
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
    if let Some(file) = args.tenants.clone() {
        return execute_tenants(args, &file, color);
    }
    let connection = args.tenant.connection()?;
    let config = build(&args, connection, color)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(crate::run::run(config))
}

/// `--tenants FILE`: the job in every tenant of the file.
fn execute_tenants(args: RunArgs, file: &Path, color: ColorChoice) -> Result<Outcome> {
    let refused = [
        (args.resume, "--resume"),
        (args.tap_out.is_some(), "--tap-out"),
        (args.secrets_out.is_some(), "--secrets-out"),
        (args.failed_out.is_some(), "--failed-out"),
        (args.max_changes.is_some(), "--max-changes"),
        (args.tenant.simulate, "--simulate"),
        (args.tenant.auth.tenant.is_some(), "--tenant"),
        (args.jobs.iter().any(|j| j == "-"), "a job on stdin (-)"),
    ];
    if let Some((_, flag)) = refused.iter().find(|(given, _)| *given) {
        bail!(
            "--tenants does not take {flag}: each tenant's run is whole in itself (see `run \
             --help` and the README's \"Many tenants\")"
        );
    }
    if !args.yes && !args.dry_run {
        bail!(
            "--tenants writes in many tenants without asking each: add --yes, or --dry-run to preview"
        );
    }
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let auth = &args.tenant.auth;
    let certificate_password = match &auth.certificate_password_file {
        Some(path) => Some(crate::cli::auth_flags::read_secret(
            path,
            "--certificate-password-file",
        )?),
        None => env("AZURE_CLIENT_CERTIFICATE_PASSWORD").map(crate::auth::Secret::new),
    };
    let managed = |client_id: Option<&str>| {
        crate::cli::auth_flags::managed_identity_endpoint(&env, client_id)
    };
    let settings = crate::run::tenants::Settings {
        cloud: auth.cloud.into(),
        graph_url: auth.graph_url.clone(),
        authority: env("AZURE_AUTHORITY_HOST"),
        client_id: auth
            .client_id
            .clone()
            .or_else(|| env("AZURE_CLIENT_ID"))
            .map(|id| id.trim().to_string()),
        certificate_password,
        env: &env,
        managed_identity: &managed,
    };
    let tenants = crate::run::tenants::file::read(file, &settings)?;
    let report = args.report.as_deref().map(Destination::from_arg);
    let summary_json = args.summary_json.as_deref().map(Destination::from_arg);
    if report == Some(Destination::Stdout) && summary_json == Some(Destination::Stdout) {
        bail!("--report - and --summary-json - would mix on stdout: send one of them to a file");
    }
    let config = crate::run::tenants::TenantsConfig {
        tenants,
        concurrency: args.tenant_concurrency as usize,
        report,
        summary_json,
        dry_run: args.dry_run,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(crate::run::tenants::run(config, |connection| {
        build(&args, connection, color)
    }))
}

/// The run's settings from the flags, for this connection.
fn build(args: &RunArgs, connection: Connection, color: ColorChoice) -> Result<RunConfig> {
    let defaults = args.job.defaults()?;
    let input = args.targets.input(&args.jobs, &args.job)?;
    if args.resume && args.report.is_none() {
        bail!("--resume needs the --report of the run to continue");
    }
    let report = args.report.as_deref().map(Destination::from_arg);
    let summary_json = args.summary_json.as_deref().map(Destination::from_arg);
    if report == Some(Destination::Stdout) && summary_json == Some(Destination::Stdout) {
        bail!("--report - and --summary-json - would mix on stdout: send one of them to a file");
    }
    let mut rules = PlanRules::default();
    rules.default.no_weaker = args.no_weaker_default;
    if let Some(list) = &args.default_order {
        rules.default.order =
            parse_order(list).map_err(|e| anyhow!("--default-order {list:?}: {e}"))?;
    }
    let mut config = RunConfig {
        input,
        shape: format!("{:?}{rules:?}{}", args.job, args.strict),
        defaults,
        dry_run: args.dry_run,
        yes: args.yes,
        max_changes: args.max_changes,
        confirm_domain: args.confirm_domain.clone(),
        exclusions: Exclusions::from_flags(&args.exclude)?
            .with_groups_and_admins(&args.exclude_group, args.exclude_admins)?,
        skip_invalid: args.skip_invalid,
        report,
        summary_json,
        failed_out: args.failed_out.clone(),
        max_denied: args.max_denied,
        resume: args.resume,
        keep_journal: args.keep_journal,
        forget_rate: args.forget_rate,
        rate_memory: args.rate_memory.clone(),
        tap_out: args.tap_out.clone(),
        tap_columns: args.tap_columns.clone(),
        connection,
        exec: args.rate.to_config()?,
        plan_paint: Paint::default(),
        rules,
        strict: args.strict,
        secrets_out: args.secrets_out.clone(),
        tenant: None,
        plan_out: args.plan_out.clone(),
        apply_plan: None,
        plan: None,
    };
    config.plan_paint = color.paint(config.plan_on_stderr());
    Ok(config)
}
