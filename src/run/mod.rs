//! A run (`authbulk run`): job rows or enumerated targets, through the planner and the
//! executor, into the report. Called by the CLI with a validated [`RunConfig`].
//!
//! Order of a run, so that nothing is written before every check has passed: check the job
//! files (every bad row printed); lock the report against a second run ([`lock`]); create the
//! report (and journal), refusing a bad path; connect and fetch the first token (a bad
//! credential stops here, exit 2); check the token's permissions against what the job needs
//! ([`crate::auth::permissions`]) and probe `--group`/`--filter` (exit 2); without `--yes`, or
//! with `--max-changes`, plan first (GETs only), show the totals, and ask; then apply, each record reaching the report as its step
//! ends, with the [`breaker`] stopping the writes after identical refusals in a row; print the
//! summary, the failures by error code, and write `--failed-out`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

use crate::Outcome;
use crate::auth::permissions::{self, Need};
use crate::auth::{TokenProvider, claims};
use crate::exec::{DriveEnd, ExecConfig, Executor, Shutdown, for_each_user};
use crate::graph::client::GraphClient;
use crate::graph::redirect;
use crate::graph::{ErrorKind, GraphCall, methods, requests};
use crate::job::ActionKind;
use crate::job::{Defaults, JobSource};
use crate::plan::policy::MethodsPolicy;
use crate::plan::{Paint, PlanConsole, PlanRules, PlanSummary, SecretsDir, TapOutFile};
use crate::report::format::stdout::{self, Destination};
use crate::report::progress::Progress;
use crate::report::summary::Traffic;
use crate::report::{Event, Journal, ReportWriter, Resume, Summary, collect, journal, writer};

pub mod breaker;
pub mod confirm;
pub mod connect;
pub mod exclude;
pub mod failed_out;
pub mod lock;
pub mod rate_memory;
pub mod resume;
pub mod source;
pub mod tenant_guard;
mod work;

pub use connect::Connection;
pub use exclude::Exclusions;
pub use source::Targets;

/// What a run works on.
#[derive(Debug)]
pub enum Input {
    /// Rows of job files (`-` is stdin).
    Jobs(Vec<JobSource>),
    /// Enumerated users with the `--action` of the defaults.
    Targets(Targets),
}

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
}

impl RunConfig {
    /// The plan goes to stderr when stdout carries the report or the summary, so a pipe gets
    /// only what it asked for; else to stdout.
    pub fn plan_on_stderr(&self) -> bool {
        self.report == Some(Destination::Stdout) || self.summary_json == Some(Destination::Stdout)
    }
}

/// Where the plan is printed: stdout, or stderr when stdout carries the report or summary.
/// Write errors are ignored: a plan cut short by a closed pipe (`| head`) ends quietly.
struct PlanOut {
    on_stderr: bool,
    paint: Paint,
}

impl PlanOut {
    fn write(&self, text: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) {
        let _ = match self.on_stderr {
            true => text(&mut std::io::stderr().lock()),
            false => text(&mut stdout::stdout()),
        };
    }

    /// Print the plan's users and their changes; the users to change are counted on the way.
    fn plan(&self, plan: PlanConsole, totals: &mut PlanSummary) {
        let grouped = match plan.group() {
            Ok(grouped) => grouped,
            Err(err) => {
                eprintln!("warning: cannot print the plan's changes: {err} (the totals follow)");
                return;
            }
        };
        totals.users_changed = grouped.users_changed;
        let paint = self.paint;
        self.write(|out| {
            let mut out = std::io::BufWriter::new(out);
            grouped.print(&mut out, paint)?;
            out.flush()
        });
    }

    fn totals(&self, plan: &PlanSummary) {
        self.write(|out| writeln!(out, "\nPlan: {}.", plan.line()));
    }
}

/// The job columns `--tap-columns` names, spelled as the job spells them (names are matched
/// ignoring case). Every name must be a column of the job beyond the ones authbulk reads.
fn tap_columns(given: &[String], input: &Input, extra: &[String]) -> Result<Vec<Arc<str>>> {
    if given.is_empty() {
        return Ok(Vec::new());
    }
    if let Input::Targets(_) = input {
        bail!("--tap-columns copies columns of job files: enumerated targets have none");
    }
    given
        .iter()
        .map(|name| {
            extra
                .iter()
                .find(|column| column.eq_ignore_ascii_case(name.trim()))
                .map(|column| Arc::from(column.as_str()))
                .ok_or_else(|| {
                    let known: Vec<&str> = extra.iter().map(String::as_str).collect();
                    anyhow::anyhow!(
                        "--tap-columns {name}: the job has no such column (its own columns: {})",
                        match known.is_empty() {
                            true => "none".to_string(),
                            false => known.join(", "),
                        }
                    )
                })
        })
        .collect()
}

/// Run to the end; the outcome gives the exit code. Errors are fatal problems found before any
/// write (exit 2).
pub async fn run(config: RunConfig) -> Result<Outcome> {
    let started = Instant::now();
    let now = Utc::now();
    if !config.dry_run && !config.yes && !std::io::stdin().is_terminal() {
        bail!(
            "refusing to write without a terminal to confirm on: add --yes to apply, or \
             --dry-run to preview"
        );
    }
    let report_file = match &config.report {
        Some(Destination::File(path)) => Some(path.clone()),
        Some(Destination::Stdout) => None,
        // A dry run's output is its plan; it writes a report only when asked to.
        None if config.dry_run => None,
        None => Some(writer::default_path(now)),
    };
    if config.resume && report_file.is_none() {
        bail!(
            "--resume needs the --report file of the run to continue (a report on stdout \
             cannot be continued)"
        );
    }
    if config.resume && config.dry_run {
        // Planned records would mix into the interrupted run's report.
        bail!("--resume continues a run that writes: it cannot be a --dry-run");
    }
    let plan_out = PlanOut {
        on_stderr: config.plan_on_stderr(),
        paint: config.plan_paint,
    };

    if let Some(Destination::File(path)) = &config.summary_json
        && std::fs::symlink_metadata(path).is_ok()
    {
        bail!(
            "--summary-json {} already exists (or is a symlink): it is never overwritten; \
             choose another file",
            path.display()
        );
    }

    if let Some(path) = &config.failed_out {
        failed_out::check(path, &config.input)?;
    }

    // 1. The job: every bad row is printed before anything else happens.
    let (input, _spooled, extra, total, fingerprint, governed, actions, passes) = match config.input
    {
        Input::Jobs(sources) => {
            let (sources, spooled) = source::spool_stdin(sources)?;
            let checked = source::check(&sources, &config.defaults, |p| eprintln!("{p}"))?;
            if checked.invalid_rows > 0 && !config.skip_invalid {
                bail!(
                    "{} of {} rows are invalid ({} problems, listed above): fix them, or run \
                     the valid rows with --skip-invalid",
                    checked.invalid_rows,
                    checked.rows,
                    checked.problems
                );
            }
            let fingerprint = source::fingerprint(&sources, &config.shape)?;
            let passes = checked
                .issues_passes
                .map(|(file, line)| format!("{file}:{line}"));
            (
                Input::Jobs(sources),
                Some(spooled),
                checked.extra,
                Some(checked.rows),
                fingerprint,
                checked.governed,
                checked.actions,
                passes,
            )
        }
        Input::Targets(targets) => {
            // From the validated values: the same targets and flags, however written, are the
            // same run.
            let shape = format!(
                "targets\n{}\n--\n{}",
                targets.canonical(),
                config.defaults.canonical()
            );
            let fingerprint = source::fingerprint(&[], &shape)?;
            let governed = match config.defaults.action {
                Some(ActionKind::IssueTap | ActionKind::EnableSmsSignIn) => true,
                Some(ActionKind::ResetMfa) => config.defaults.issue_tap == Some(true),
                _ => false,
            };
            // Every target gets the flags' action: one stand-in row shows what it does.
            let passes = config
                .defaults
                .operation_for("preflight@example.invalid", 1)
                .is_ok_and(|op| op.action.issues_pass())
                .then(|| "--action".to_string());
            let actions = config.defaults.action.into_iter().collect();
            (
                Input::Targets(targets),
                None,
                Vec::new(),
                None,
                fingerprint,
                governed,
                actions,
                passes,
            )
        }
    };
    // A pass is a secret that goes only to the --tap-out file: without one, such a job cannot
    // run (a dry run previews the rows as failing instead).
    if let Some(place) = &passes
        && config.tap_out.is_none()
        && !config.dry_run
    {
        bail!(
            "{place} issues temporary access passes, which go only to a --tap-out file: add \
             --tap-out FILE (created with mode 0600; it must not exist)"
        );
    }
    // QR codes and PINs are secrets that go only to the --secrets-out folder: without one,
    // such a job cannot run (a dry run previews the rows as failing instead).
    let qr_actions: Vec<ActionKind> = actions
        .iter()
        .copied()
        .filter(|a| matches!(a, ActionKind::IssueQrPin | ActionKind::ResetQrPin))
        .collect();
    if let Some(first) = qr_actions.first() {
        if config.secrets_out.is_none() && !config.dry_run {
            let place = match &input {
                Input::Targets(_) => "--action".to_string(),
                Input::Jobs(_) => format!("the job's {first} rows"),
            };
            bail!(
                "{place} issue QR codes and PINs, which go only to a --secrets-out folder: add \
                 --secrets-out DIR (created with mode 0700; it must not exist, or be empty)"
            );
        }
        if let Some(path) = &config.secrets_out {
            crate::plan::secrets_out::check(path)?;
        }
    }
    let mut needs: Vec<Need> = actions
        .iter()
        .flat_map(|a| permissions::for_action(*a))
        .collect();
    match &input {
        Input::Targets(Targets::AllUsers { .. }) => needs.push(permissions::for_all_users()),
        Input::Targets(Targets::Groups(_)) => needs.push(permissions::for_group()),
        Input::Jobs(_) => {}
    }
    needs.extend(config.exclusions.needs());
    if let (Input::Targets(Targets::AllUsers { .. }), Some(action), false) =
        (&input, config.defaults.action, config.dry_run)
        && guarded(action, &config.defaults)
    {
        needs.push(permissions::for_default_domain());
    }

    let tap_columns = tap_columns(&config.tap_columns, &input, &extra)?;

    // 2. The report and journal, before any request. A report on stdout (or none) has no
    // journal: there is no file for --resume to continue.
    let journal_path = report_file.as_deref().map(journal::path_for);
    // One run at a time on a report file, held until this function returns (see `lock`).
    let _lock = match &report_file {
        Some(path) => Some(lock::RunLock::acquire(path)?),
        None => None,
    };
    let mut kept = Summary::keeping_failed_rows(config.failed_out.is_some());
    // Files this run creates are removed again if it stops before applying anything (a bad
    // credential, a refused plan), so the same command can simply be run again.
    let mut created = CreatedFiles::default();
    let (report, journal, resume) = if config.resume
        && let (Some(report_path), Some(journal_path)) = (&report_file, &journal_path)
    {
        if !journal_path.exists() && report_path.exists() {
            bail!(
                "nothing to resume: the run that wrote {} finished (its journal is removed \
                 once every row is done, unless --keep-journal)",
                report_path.display()
            );
        }
        let (journal, resume) = Journal::resume(journal_path, &fingerprint)?;
        // The report again from the journal's finished records, each once; their counts join
        // this run's so the summary and the exit code cover the whole report.
        let records = Journal::numbered_records(journal_path)?.map(|(seq, r)| {
            kept.add(&r);
            kept.note_failed_row(seq, &r);
            r
        });
        let report = ReportWriter::rewrite(report_path, &extra, records)?;
        eprintln!(
            "resuming {}: {} records kept from the interrupted run",
            report_path.display(),
            resume.records
        );
        (report, Some(journal), Some(Arc::new(resume)))
    } else {
        let report = match &report_file {
            Some(report_path) => {
                let report = ReportWriter::create(report_path, &extra)?;
                created.0.push(report_path.clone());
                report
            }
            None if config.report.is_some() => ReportWriter::stdout(&extra)?,
            None => ReportWriter::discard(),
        };
        let journal = match (&journal_path, config.dry_run) {
            (None, _) | (_, true) => None,
            (Some(journal_path), false) => match Journal::create(journal_path, &fingerprint) {
                Ok(journal) => {
                    created.0.push(journal_path.clone());
                    Some(journal)
                }
                Err(err) => {
                    return Err(err.context(
                        "a journal of an earlier run is in the way: continue that run with \
                         --resume, or choose another --report",
                    ));
                }
            },
        };
        (report, journal, None)
    };
    match (&report_file, &config.report) {
        (Some(path), _) => eprintln!("report: {}", path.display()),
        (None, Some(_)) => eprintln!("report: stdout"),
        (None, None) => {}
    }
    let mut journal = journal;
    let taps = match (&config.tap_out, config.dry_run) {
        (Some(path), false) => {
            let file = TapOutFile::create(path, tap_columns)?;
            created.0.push(path.clone());
            if let Some(journal) = journal.as_mut() {
                journal.tap_out(path)?;
            }
            Some(Arc::new(file))
        }
        _ => None,
    };
    let secrets = match (&config.secrets_out, config.dry_run) {
        (Some(path), false) if !qr_actions.is_empty() => {
            let existed = path.exists();
            let dir = SecretsDir::create(path)?;
            created.0.push(path.join(crate::plan::secrets_out::INDEX));
            if !existed {
                created.0.push(path.clone());
            }
            if let Some(journal) = journal.as_mut() {
                journal.secrets_out(path)?;
            }
            Some(Arc::new(dir))
        }
        _ => None,
    };

    // 3. The tenant and the first token.
    let connected = config.connection.connect().await?;
    let tokens = TokenProvider::from_config(&connected.auth, redirect::credential_client()?)?;
    tokens.check().await?;
    let token = tokens.token().await?;
    let principal = check_permissions(&token, &needs, config.dry_run)?;
    // Where the rate starts: what this tenant allowed this app in an earlier run.
    let place = rate_memory::Place {
        dir: config.rate_memory.as_deref(),
        own_graph: connected.auth.graph_root() == connected.auth.cloud().graph_root(),
        forget: config.forget_rate,
    };
    let rate_memory = rate_memory::open(&token, place, Utc::now());
    drop(token);
    let mut exec_config = config.exec;
    exec_config.rate.start = rate_memory.as_ref().and_then(|m| m.start);
    let client = GraphClient::new(connected.auth.graph_root(), tokens, config.exec.concurrency)?;
    // `--group NAME`: each name to its one group's id, before any user is read.
    let input = match input {
        Input::Targets(targets) => {
            Input::Targets(source::resolve_groups(&client, targets, config.exec.retry).await?)
        }
        input => input,
    };
    // `--all-users` with a removing action: the tenant's default domain, typed or given.
    if let (Input::Targets(Targets::AllUsers { .. }), Some(action), false) =
        (&input, config.defaults.action, config.dry_run)
        && guarded(action, &config.defaults)
    {
        tenant_guard::check(
            &client,
            config.exec.retry,
            action,
            config.confirm_domain.as_deref(),
        )
        .await?;
    }
    // `--exclude-group`, `--exclude-admins`: read once, before any row.
    let exclusions = config
        .exclusions
        .clone()
        .resolve(&client, config.exec.retry)
        .await?;
    if let Input::Targets(targets) = &input {
        source::probe(&client, targets, config.exec.retry).await?;
    }
    let shutdown = Shutdown::new();
    let ctrl_c = shutdown.listen_for_ctrl_c();
    let exec = Executor::start(client.clone(), exec_config, shutdown.clone());
    // The authentication methods policy, read once before planning when the job has rows it
    // governs, so the plan refuses what the policy will refuse (dry run and apply alike).
    let mut rules = config.rules.clone();
    if governed {
        rules.policy = read_policy(&exec).await.map(Arc::new);
    }
    if !qr_actions.is_empty() {
        rules.qr_pin = read_qr_policy(&exec).await;
    }

    let rows = |input: &Input, resume: Option<Arc<Resume>>| -> BoxStream<'static, source::Row> {
        match input {
            Input::Jobs(sources) => {
                source::job_rows(sources.clone(), config.defaults.clone()).boxed()
            }
            Input::Targets(targets) => source::target_rows(
                client.clone(),
                targets.clone(),
                config.defaults.clone(),
                config.exec.retry,
                resume,
            )
            .boxed(),
        }
    };
    let breaker = Arc::new(breaker::Breaker::new(config.max_denied));
    let work = |dry_run: bool, events: mpsc::Sender<Event>, resume: Option<Arc<Resume>>| {
        Arc::new(work::RowWork {
            // The plan phase reads only; the breaker guards the apply.
            breaker: (dry_run == config.dry_run).then(|| breaker.clone()),
            exec: exec.clone(),
            dry_run,
            taps: taps.clone(),
            tap_out_given: config.tap_out.is_some(),
            events,
            resume,
            exclusions: exclusions.clone(),
            now,
            rules: rules.clone(),
            strict: config.strict,
            contexts: Mutex::new(Default::default()),
            cloud: config.connection.cloud(),
            secrets: secrets.clone(),
            secrets_out_given: config.secrets_out.is_some(),
        })
    };

    // 4. Without --yes (or with --max-changes): plan first, show it, ask.
    if !config.dry_run && (!config.yes || config.max_changes.is_some()) {
        let (events, received) = mpsc::channel(4096);
        let planning = tokio::spawn(tally_plan(received));
        let end = for_each_user(
            work(true, events.clone(), resume.clone()),
            rows(&input, resume.clone()),
            config.exec.active_users,
            events,
            shutdown.clone(),
        )
        .await;
        let (mut plan, console) = planning.await.context("the planning task failed")?;
        if end != DriveEnd::Completed {
            drop(report);
            return Ok(Outcome::Interrupted);
        }
        plan_out.plan(console, &mut plan);
        plan_out.totals(&plan);
        let writes = plan.writes();
        let refusal = match config.max_changes {
            Some(max) if writes > max => Some(format!(
                "the plan holds {writes} writes, more than --max-changes {max}: nothing was \
                 written"
            )),
            _ => match confirm::ask(writes, config.yes || writes == 0) {
                confirm::Consent::Apply => None,
                confirm::Consent::Declined => Some("not applied: nothing was written".into()),
                confirm::Consent::NoTerminal => {
                    Some("refusing to write without a terminal to confirm on: add --yes".into())
                }
            },
        };
        if let Some(refusal) = refusal {
            drop(report);
            drop(journal);
            ctrl_c.abort();
            bail!(refusal);
        }
    }

    // 5. Apply (or the dry run's plan), every record to the report as it comes.
    created.keep();
    let progress = Arc::new(Progress::start(
        total,
        exec.stats().clone(),
        exec.throttle().clone(),
    ));
    let (events, received) = mpsc::channel(4096);
    let dry_run = config.dry_run;
    let plan = Arc::new(Mutex::new((PlanSummary::default(), PlanConsole::new())));
    let collector = {
        let plan = plan.clone();
        let progress = progress.clone();
        tokio::spawn(collect(
            received,
            report,
            journal,
            config.failed_out.is_some(),
            move |records| {
                if dry_run && let Ok(mut plan) = plan.lock() {
                    records.iter().for_each(|r| plan.0.add(r));
                    plan.1.add(records);
                }
            },
            move || progress.inc(1),
        ))
    };
    let end = for_each_user(
        work(dry_run, events.clone(), resume.clone()),
        rows(&input, resume),
        config.exec.active_users,
        events,
        shutdown.clone(),
    )
    .await;
    let mut summary = match collector.await.context("the report task failed")? {
        Ok(summary) => summary,
        Err(err) => {
            // Writes may have gone before the failure: exit 2 would claim nothing began.
            ctrl_c.abort();
            eprintln!(
                "error: the run stopped because {err:#}; no write was sent without its journal \
                 note, but changes made before this point may be missing from {}: fix the \
                 cause (disk space?), then continue with --resume",
                report_file
                    .as_deref()
                    .map_or_else(|| "the report".into(), |p| p.display().to_string())
            );
            return Ok(Outcome::Incomplete);
        }
    };
    summary.absorb(&kept);
    // The summary names the report the user can open: none for a dry run without --report.
    summary.report = match (&report_file, &config.report) {
        (Some(path), _) => Some(path.clone()),
        (None, Some(_)) => Some(PathBuf::from("stdout")),
        (None, None) => None,
    };
    if let Ok(progress) = Arc::try_unwrap(progress) {
        progress.finish();
    }
    ctrl_c.abort();

    // 6. The summary.
    if let Some(memory) = &rate_memory {
        memory.keep(exec.throttle().learned(), Utc::now());
    }
    let stats = exec.stats().snapshot();
    summary.finish(
        Traffic {
            reads: stats.reads,
            writes: stats.writes,
            throttled: stats.throttled,
            retries: stats.retries,
            batches: stats.batches,
        },
        started.elapsed(),
    );
    if dry_run && let Ok(mut plan) = plan.lock() {
        let (totals, console) = &mut *plan;
        plan_out.plan(std::mem::take(console), totals);
        plan_out.totals(totals);
    }
    // A run that got through every row needs no journal: nothing is left to resume.
    if end == DriveEnd::Completed
        && !dry_run
        && !config.keep_journal
        && let Some(journal_path) = &journal_path
    {
        let _ = std::fs::remove_file(journal_path);
    }
    let mut stderr = std::io::stderr().lock();
    // A closed stderr (`2>&1 | head`) must not turn a finished run into an error.
    let _ = summary.print(&mut stderr);
    let _ = summary.print_failures(&mut stderr);
    if let Some(path) = &config.failed_out
        && !dry_run
    {
        match failed_out::write(path, &input, &config.defaults, &summary.failed_rows) {
            Ok(0) => {}
            Ok(n) => {
                let _ = writeln!(
                    stderr,
                    "failed rows: {} ({n} rows, mode 0600; fix the cause, then run it again: \
                     authbulk run {})",
                    path.display(),
                    path.display()
                );
            }
            // The run's work is done: its exit code stays the run's.
            Err(err) => {
                let _ = writeln!(stderr, "warning: {err:#}");
            }
        }
    }
    if let Some(taps) = &taps {
        let _ = writeln!(
            stderr,
            "temporary access passes: {} (mode 0600; hand them over, then delete the file)",
            taps.path().display()
        );
    }
    if let Some(secrets) = &secrets {
        let _ = writeln!(
            stderr,
            "QR codes and PINs: {} (mode 0700; index.csv lists them; hand them over, then \
             delete the folder)",
            secrets.path().display()
        );
    }
    summary.peak_memory_mib = crate::report::summary::peak_memory_mib();
    match &config.summary_json {
        Some(Destination::File(path)) => {
            if let Err(err) = write_summary_json(path, &summary) {
                // The run's work is done: its exit code stays the run's (2 would say nothing began).
                let _ = writeln!(stderr, "warning: {err:#}");
            }
        }
        Some(Destination::Stdout) => {
            let mut out = stdout::stdout();
            let _ = serde_json::to_writer_pretty(&mut out, &summary);
            let _ = writeln!(out).and_then(|()| out.flush());
        }
        None => {}
    }
    let tripped = breaker.tripped();
    if let Some(record) = &tripped {
        let _ = writeln!(stderr, "error: {}", breaker.explain(record, principal));
    }
    let _ = stderr.flush();
    drop(connected.sim);
    if tripped.is_some() {
        return Ok(Outcome::Fatal);
    }
    Ok(match end {
        DriveEnd::Drained | DriveEnd::Aborted => Outcome::Interrupted,
        _ => summary.outcome(),
    })
}

/// Read the QR code PIN configuration of the authentication methods policy (`pinLength`,
/// `standardQRCodeLifetimeInDays`, `state`); when it cannot be read, a warning, and the rows
/// are planned with Microsoft's defaults (8 digits, 365 days).
async fn read_qr_policy(exec: &Executor) -> Option<crate::plan::qr_pin::QrPinPolicy> {
    let read = exec
        .call(POLICY_KEY, requests::read_method_configuration("qrCodePin"))
        .await
        .map_err(|e| match e.kind {
            ErrorKind::Permission => format!(
                "{e}; the app needs Policy.Read.AuthenticationMethod (or \
                 Policy.ReadWrite.AuthenticationMethod)"
            ),
            _ => e.to_string(),
        })
        .and_then(|answer| {
            crate::graph::qr_pin::parse_policy(&answer.body).map_err(|e| e.to_string())
        });
    match read {
        Ok(policy) => Some(policy),
        Err(why) => {
            eprintln!(
                "warning: the plan cannot read the QR code PIN policy (qrCodePin: {why}); PINs \
                 get 8 digits and QR codes live 365 days unless a row says otherwise"
            );
            None
        }
    }
}

/// True when `--all-users` with `action` needs the tenant's default domain confirmed: a
/// removing action, or `issue-qr-pin --replace`, which deletes every user's QR code PIN method
/// (their printed badges stop working) before issuing new ones.
fn guarded(action: ActionKind, defaults: &Defaults) -> bool {
    tenant_guard::removes(action)
        || (action == ActionKind::IssueQrPin && defaults.replace == Some(true))
}

/// The `Executor` key of the policy reads (they belong to no user).
const POLICY_KEY: &str = "authentication methods policy";

/// Read the TAP and SMS configurations of the authentication methods policy; what cannot be
/// read decides nothing, with a warning on stderr (without Policy.Read.AuthenticationMethod
/// Graph answers 403: the run goes on, and Graph refuses what it refuses).
async fn read_policy(exec: &Executor) -> Option<MethodsPolicy> {
    let mut policy = MethodsPolicy::default();
    let warn = |what: &str, why: String| {
        eprintln!(
            "warning: the plan cannot check the authentication methods policy ({what}: {why}); \
             rows it governs are planned without it, and Graph refuses what it refuses"
        );
    };
    match exec
        .call(
            POLICY_KEY,
            requests::read_method_configuration("TemporaryAccessPass"),
        )
        .await
    {
        Ok(answer) => match methods::parse_tap_policy(&answer.body) {
            Ok(tap) => policy.tap = Some(tap),
            Err(e) => warn("TemporaryAccessPass", e.to_string()),
        },
        Err(e) if e.kind == ErrorKind::Permission => {
            // The same permission reads the SMS configuration: one warning is enough.
            warn(
                "TemporaryAccessPass",
                format!(
                    "{e}; the app needs Policy.Read.AuthenticationMethod (or \
                     Policy.ReadWrite.AuthenticationMethod)"
                ),
            );
            return None;
        }
        Err(e) => warn("TemporaryAccessPass", e.to_string()),
    }
    match exec
        .call(POLICY_KEY, requests::read_method_configuration("Sms"))
        .await
    {
        Ok(answer) => match methods::parse_sms_policy(&answer.body) {
            Ok(sms) => policy.sms = Some(sms),
            Err(e) => warn("Sms", e.to_string()),
        },
        Err(e) => warn("Sms", e.to_string()),
    }
    (policy != MethodsPolicy::default()).then_some(policy)
}

/// Check the token's claims against what the job's actions need: a missing permission stops
/// the run before any Graph request (a dry run only warns: it reads, and shows what would be
/// refused). An opaque token cannot be judged: the check is skipped.
/// Returns who the token speaks for, when its claims say.
fn check_permissions(
    token: &str,
    needs: &[Need],
    dry_run: bool,
) -> Result<Option<claims::Principal>> {
    let Some(claims) = claims::read_claims(token) else {
        tracing::info!(
            "the access token is opaque (its claims cannot be read): the permission check was \
             skipped, Graph judges each call"
        );
        return Ok(None);
    };
    let missing = permissions::missing(&claims, needs);
    let principal = Some(missing.granted.principal);
    if missing.is_empty() {
        return Ok(principal);
    }
    if dry_run {
        eprintln!("warning: {missing}; applying this job would be refused");
        return Ok(principal);
    }
    bail!("{missing}; nothing was sent");
}

/// Write the summary as JSON to a new file (mode 0600; never through a symlink, never over an
/// existing file: it names users' counts and the report's path).
fn write_summary_json(path: &std::path::Path, summary: &Summary) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let json = serde_json::to_vec_pretty(summary)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create --summary-json {}", path.display()))?;
    file.write_all(&json)
        .with_context(|| format!("cannot write --summary-json {}", path.display()))
}

/// The plan phase's consumer: gathers each row's changes as the row ends (printed in job order
/// once planning is done) and tallies the plan.
async fn tally_plan(mut events: mpsc::Receiver<Event>) -> (PlanSummary, PlanConsole) {
    let mut plan = PlanSummary::default();
    let mut console = PlanConsole::new();
    while let Some(event) = events.recv().await {
        match event {
            Event::Planned { records } => {
                console.add(&records);
                records.iter().for_each(|r| plan.add(r));
            }
            Event::Finished { record, .. } | Event::Cancelled { record } => {
                console.add(std::slice::from_ref(&*record));
                plan.add(&record);
            }
            Event::Started { ack, .. } => {
                let _ = ack.send(());
            }
            Event::RowDone { .. } | Event::RowInterrupted { .. } | Event::User { .. } => {}
        }
    }
    (plan, console)
}

/// Files a run created, removed when dropped unless [`CreatedFiles::keep`] was called.
#[derive(Default)]
struct CreatedFiles(Vec<PathBuf>);

impl CreatedFiles {
    /// The run goes on to apply: its files are the user's now.
    fn keep(&mut self) {
        self.0.clear();
    }
}

impl Drop for CreatedFiles {
    fn drop(&mut self) {
        for path in &self.0 {
            // A folder made for --secrets-out goes too, once its index is gone (never a
            // folder with anything in it).
            let _ = std::fs::remove_file(path).or_else(|_| std::fs::remove_dir(path));
        }
    }
}
