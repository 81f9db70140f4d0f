//! A run (`authbulk run`): job rows or enumerated targets, through the planner and the
//! executor, into the report. Called by the CLI with a validated [`RunConfig`].
//!
//! [`run`] is the list of its phases, each in a module of its own, in an order chosen so that
//! nothing is written before every check has passed:
//!
//! 1. `check`: the flags that contradict each other, then the job files (every bad row
//!    printed), the job's fingerprint, where its secrets must go, and the permissions it needs.
//! 2. `outputs`: lock the report against a second run ([`lock`]); create the report and
//!    journal (or, with `--resume`, rewrite the report from the journal), the `--tap-out` file
//!    and the `--secrets-out` folder, refusing a bad path. Files created are removed again if
//!    the run stops before applying.
//! 3. `session`: connect ([`crate::session`]) and fetch the first token (a bad credential stops here,
//!    exit 2); check the token's permissions against what the job needs
//!    ([`crate::auth::permissions`]); open the [`rate_memory`]; resolve `--group` names, confirm
//!    the tenant ([`tenant_guard`]), read the exclusions ([`exclude`]), probe
//!    `--group`/`--filter` (exit 2); start the executor and read the methods `policy`.
//! 4. [`confirm`]: without `--yes`, or with `--max-changes`, plan first (GETs only), show the
//!    plan (`plan_out`) and its totals, and ask.
//! 5. `apply`: each row through a `pass` (the rows from [`crate::target`], the per-row `work`),
//!    each record reaching the report as its step ends, with the [`breaker`] stopping the
//!    writes after identical refusals in a row.
//! 6. `finish`: keep the learned rate, print the summary and the failures by error code,
//!    write `--failed-out` and `--summary-json`, and give the outcome.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use chrono::Utc;

use crate::Outcome;
use crate::exec::ExecConfig;
use crate::job::Defaults;
use crate::plan::{Paint, PlanRules};
use crate::report;
use crate::report::format::stdout::Destination;
use crate::session::Connection;
use crate::target::Input;
use pass::Pass;
use plan_out::PlanOut;

mod apply;
pub mod breaker;
mod check;
pub mod confirm;
pub mod exclude;
pub mod failed_out;
mod finish;
pub mod lock;
mod outputs;
mod pass;
mod plan_out;
mod policy;
pub mod rate_memory;
pub mod resume;
mod session;
pub mod tenant_guard;
pub mod tenants;
mod work;

pub use exclude::Exclusions;

/// The validated settings of `authbulk run`.
#[derive(Debug)]
pub struct RunConfig {
    /// Job files or targets.
    pub input: Input,
    /// Row defaults from the flags (`--action`, `--phone-type`, ...).
    pub defaults: Defaults,
    /// The flags that shape the rows, as text: part of the job's fingerprint for `--resume`.
    pub shape: String,
    /// Plan only (GETs), print the plan.
    pub dry_run: bool,
    /// Write without asking.
    pub yes: bool,
    /// Refuse to write when the plan holds more writes than this.
    pub max_changes: Option<u64>,
    /// Users never touched.
    pub exclusions: Exclusions,
    /// `--confirm-domain`: the tenant's default domain, for `--all-users` with a removing
    /// action without the question (see [`tenant_guard`]).
    pub confirm_domain: Option<String>,
    /// Run the valid rows of a job with bad rows (the bad ones are reported `skipped`).
    pub skip_invalid: bool,
    /// The report file or stdout (`None`: `authbulk-<UTC time>.csv`, or no report for a dry
    /// run, whose plan on the console is its output).
    pub report: Option<Destination>,
    /// Also write the summary as JSON here (a file or stdout).
    pub summary_json: Option<Destination>,
    /// Stop the run after this many identical refusals (HTTP 403, same code) in a row.
    pub max_denied: u32,
    /// Write the rows with a failed step here, as a job file to run again.
    pub failed_out: Option<PathBuf>,
    /// Continue the run that wrote `report`.
    pub resume: bool,
    /// Keep the journal of a run that got through every row.
    pub keep_journal: bool,
    /// Start at the budget, not at the rate an earlier run learned, and forget that rate
    /// (`--forget-rate`).
    pub forget_rate: bool,
    /// Where the rate memory is kept (`--rate-memory DIR`); by default the user's state
    /// directory, for the cloud's own Graph only.
    pub rate_memory: Option<PathBuf>,
    /// Where temporary access passes go.
    pub tap_out: Option<PathBuf>,
    /// Job columns copied beside each pass in `tap_out` (`--tap-columns`), as given.
    pub tap_columns: Vec<String>,
    /// The tenant: real (with credentials) or simulated.
    pub connection: Connection,
    /// Rate, retries and concurrency.
    pub exec: ExecConfig,
    /// Colour for the plan, decided for the stream it goes to ([`RunConfig::plan_on_stderr`]).
    pub plan_paint: Paint,
    /// How the planner moves defaults (`--default-order`, `--no-weaker-default`).
    pub rules: PlanRules,
    /// Stable refusals are `failed`, not `skipped` (`--strict`).
    pub strict: bool,
    /// Where QR codes and PINs go (`--secrets-out`).
    pub secrets_out: Option<PathBuf>,
    /// This run is one tenant of a run across several (`--tenants`), named so: its summary is
    /// not printed here but handed back to that run ([`tenants`]), which prints every tenant's.
    pub tenant: Option<String>,
    /// `--plan-out FILE`: a dry run saves its plan here ([`crate::plan::file`]).
    pub plan_out: Option<PathBuf>,
    /// `authbulk apply PLAN`: the rows are a saved plan's, not the job's (`input` is unused).
    pub apply_plan: Option<PathBuf>,
    /// The saved plan, once checked (`apply_plan`).
    pub plan: Option<crate::plan::file::Checked>,
}

impl RunConfig {
    /// The plan goes to stderr when stdout carries the report or the summary, so a pipe gets
    /// only what it asked for; else to stdout.
    pub fn plan_on_stderr(&self) -> bool {
        self.report == Some(Destination::Stdout) || self.summary_json == Some(Destination::Stdout)
    }
}

/// Run to the end; the outcome gives the exit code. Errors are fatal problems found before any
/// write (exit 2). The phases, in order: nothing is written before every check has passed, and
/// the files created are removed again if the run stops before applying.
pub async fn run(config: RunConfig) -> Result<Outcome> {
    Ok(run_collect(config).await?.0)
}

/// [`run`], also handing back the summary of a run that got to its end.
pub(crate) async fn run_collect(
    mut config: RunConfig,
) -> Result<(Outcome, Option<report::Summary>)> {
    let started = Instant::now();
    let now = Utc::now();
    // 1. The flags and the job: every bad row is printed before anything else happens.
    let report_file = check::flags(&config, now)?;
    let plan_out = PlanOut::new(&config);
    let mut job = check::job(&mut config)?;
    // 2. The lock, the report and journal, the files of secrets, before any request.
    let mut guard = outputs::Guard::lock(report_file.as_deref())?;
    let mut outputs = outputs::create(&config, report_file.as_deref(), &mut job, &mut guard)?;
    // 3. The tenant: the first token, its permissions, the executor, the policy.
    let session = session::open(&config, &mut job).await?;
    // A saved plan chooses by its own clock (`older_than`, `unused_for`) when a row is planned
    // again.
    let clock = config.plan.as_ref().map_or(now, |p| p.header.created);
    let mut pass = Pass::new(&config, &job.input, &session, &outputs, clock);
    let plan_writer = match &config.plan_out {
        Some(path) => Some(Arc::new(plan_out::create(
            &config, path, &session, &job, now,
        )?)),
        None => None,
    };
    pass.plan_out = plan_writer.clone();
    // 4. Without --yes (or with --max-changes): plan first, show it, ask.
    let resume = outputs.resume.clone();
    if let Some(outcome) = confirm::plan_first(&mut pass, resume, &plan_out).await? {
        return Ok((outcome, None));
    }
    // 5. Apply (or the dry run's plan), every record to the report as it comes.
    let report_file = report_file.as_deref();
    let applied =
        match apply::apply(&pass, &mut guard, &mut outputs, job.total, report_file).await? {
            Ok(applied) => applied,
            Err(outcome) => return Ok((outcome, None)),
        };
    drop(pass.plan_out.take());
    if let Some(writer) = plan_writer {
        plan_out::save(writer, applied.end)?;
    }
    // 6. The summary, and the outcome.
    let (outcome, summary) = finish::finish(&pass, applied, &outputs, &plan_out, started);
    drop(session.connected.sim);
    Ok((outcome, Some(summary)))
}
