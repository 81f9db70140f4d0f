//! A run (`authbulk run`): job rows or enumerated targets, through the planner and the
//! executor, into the report. Called by the CLI with a validated [`RunConfig`].
//!
//! Order of a run, so that nothing is written before every check has passed: check the job
//! files (every bad row printed); create the report (and journal), refusing a bad path; connect
//! and fetch the first token (a bad credential stops here, exit 2); without `--yes`, or with
//! `--max-changes`, plan first (GETs only), show the totals, and ask; then apply, each record
//! reaching the report as its step ends; print the summary.

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
use crate::auth::TokenProvider;
use crate::exec::{DriveEnd, ExecConfig, Executor, Shutdown, for_each_user};
use crate::graph::client::GraphClient;
use crate::job::{Defaults, JobSource};
use crate::plan::{PlanSummary, TapOutFile, print_changes};
use crate::report::progress::Progress;
use crate::report::summary::Traffic;
use crate::report::{Event, Journal, ReportWriter, Resume, Summary, collect, journal, writer};

pub mod confirm;
pub mod connect;
pub mod exclude;
pub mod resume;
pub mod source;
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
    /// Run the valid rows of a job with bad rows (the bad ones are reported `skipped`).
    pub skip_invalid: bool,
    /// The report file (`None`: `authbulk-<UTC time>.csv`).
    pub report: Option<PathBuf>,
    /// Also write the summary as JSON here.
    pub summary_json: Option<PathBuf>,
    /// Continue the run that wrote `report`.
    pub resume: bool,
    /// Where temporary access passes go.
    pub tap_out: Option<PathBuf>,
    /// The tenant: real (with credentials) or simulated.
    pub connection: Connection,
    /// Rate, retries and concurrency.
    pub exec: ExecConfig,
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
    if config.resume && config.report.is_none() {
        bail!("--resume needs the --report of the run to continue");
    }
    if config.resume && config.dry_run {
        // Planned records would mix into the interrupted run's report.
        bail!("--resume continues a run that writes: it cannot be a --dry-run");
    }

    // 1. The job: every bad row is printed before anything else happens.
    let (input, _spooled, extra, total, fingerprint) = match config.input {
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
            (
                Input::Jobs(sources),
                Some(spooled),
                checked.extra,
                Some(checked.rows),
                fingerprint,
            )
        }
        Input::Targets(targets) => {
            let fingerprint = source::fingerprint(&[], &format!("{targets:?}{}", config.shape))?;
            (Input::Targets(targets), None, Vec::new(), None, fingerprint)
        }
    };

    // 2. The report and journal, before any request.
    let report_path = config
        .report
        .clone()
        .unwrap_or_else(|| writer::default_path(now));
    let journal_path = journal::path_for(&report_path);
    let mut kept = Summary::default();
    // Files this run creates are removed again if it stops before applying anything (a bad
    // credential, a refused plan), so the same command can simply be run again.
    let mut created = CreatedFiles::default();
    let (report, journal, resume) = if config.resume {
        let (journal, resume) = Journal::resume(&journal_path, &fingerprint)?;
        // The report again from the journal's finished records, each once; their counts join
        // this run's so the summary and the exit code cover the whole report.
        let records = Journal::records(&journal_path)?.inspect(|r| kept.add(r));
        let report = ReportWriter::rewrite(&report_path, &extra, records)?;
        eprintln!(
            "resuming {}: {} records kept from the interrupted run",
            report_path.display(),
            resume.records
        );
        (report, Some(journal), Some(Arc::new(resume)))
    } else {
        let report = ReportWriter::create(&report_path, &extra)?;
        created.0.push(report_path.clone());
        let journal = match config.dry_run {
            true => None,
            false => match Journal::create(&journal_path, &fingerprint) {
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
    eprintln!("report: {}", report_path.display());
    let mut journal = journal;
    let taps = match (&config.tap_out, config.dry_run) {
        (Some(path), false) => {
            let file = TapOutFile::create(path)?;
            created.0.push(path.clone());
            if let Some(journal) = journal.as_mut() {
                journal.tap_out(path)?;
            }
            Some(Arc::new(file))
        }
        _ => None,
    };

    // 3. The tenant and the first token.
    let connected = config.connection.connect().await?;
    let tokens = TokenProvider::from_config(&connected.auth, reqwest::Client::new())?;
    tokens.check().await?;
    let client = GraphClient::new(connected.auth.graph_root(), tokens, config.exec.concurrency)?;
    let shutdown = Shutdown::new();
    let ctrl_c = shutdown.listen_for_ctrl_c();
    let exec = Executor::start(client.clone(), config.exec, shutdown.clone());

    let rows = |input: &Input| -> BoxStream<'static, source::Row> {
        match input {
            Input::Jobs(sources) => {
                source::job_rows(sources.clone(), config.defaults.clone()).boxed()
            }
            Input::Targets(targets) => source::target_rows(
                client.clone(),
                targets.clone(),
                config.defaults.clone(),
                config.exec.retry,
            )
            .boxed(),
        }
    };
    let work = |dry_run: bool, events: mpsc::Sender<Event>, resume: Option<Arc<Resume>>| {
        Arc::new(work::RowWork {
            exec: exec.clone(),
            dry_run,
            taps: taps.clone(),
            tap_out_given: config.tap_out.is_some(),
            events,
            resume,
            exclusions: config.exclusions.clone(),
            now,
            contexts: Mutex::new(Default::default()),
        })
    };

    // 4. Without --yes (or with --max-changes): plan first, show it, ask.
    if !config.dry_run && (!config.yes || config.max_changes.is_some()) {
        let (events, received) = mpsc::channel(4096);
        let planning = tokio::spawn(tally_plan(received));
        let end = for_each_user(
            work(true, events.clone(), resume.clone()),
            rows(&input),
            config.exec.active_users,
            events,
            shutdown.clone(),
        )
        .await;
        let plan = planning.await.context("the planning task failed")?;
        if end != DriveEnd::Completed {
            drop(report);
            return Ok(Outcome::Interrupted);
        }
        println!("\nPlan: {}.", plan.line());
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
    let plan = Arc::new(Mutex::new(PlanSummary::default()));
    let collector = {
        let plan = plan.clone();
        let progress = progress.clone();
        tokio::spawn(collect(
            received,
            report,
            journal,
            move |records| {
                if dry_run {
                    let mut out = std::io::stdout().lock();
                    let _ = print_changes(&mut out, records);
                    if let Ok(mut plan) = plan.lock() {
                        records.iter().for_each(|r| plan.add(r));
                    }
                }
            },
            move || progress.inc(1),
        ))
    };
    let end = for_each_user(
        work(dry_run, events.clone(), resume),
        rows(&input),
        config.exec.active_users,
        events,
        shutdown.clone(),
    )
    .await;
    let mut summary = collector
        .await
        .context("the report task failed")?
        .context("writing the report")?;
    summary.absorb(&kept);
    if let Ok(progress) = Arc::try_unwrap(progress) {
        progress.finish();
    }
    ctrl_c.abort();

    // 6. The summary.
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
    if dry_run && let Ok(plan) = plan.lock() {
        println!("\nPlan: {}.", plan.line());
    }
    let mut stderr = std::io::stderr().lock();
    summary.print(&mut stderr)?;
    if let Some(taps) = &taps {
        writeln!(
            stderr,
            "temporary access passes: {} (mode 0600; hand them over, then delete the file)",
            taps.path().display()
        )?;
    }
    if let Some(path) = &config.summary_json {
        let json = serde_json::to_vec_pretty(&summary)?;
        std::fs::write(path, json)
            .with_context(|| format!("cannot write --summary-json {}", path.display()))?;
    }
    let _ = stderr.flush();
    drop(connected.sim);
    Ok(match end {
        DriveEnd::Drained | DriveEnd::Aborted => Outcome::Interrupted,
        _ => summary.outcome(),
    })
}

/// The plan phase's consumer: prints each row's changes as the row ends and tallies the plan.
async fn tally_plan(mut events: mpsc::Receiver<Event>) -> PlanSummary {
    let mut plan = PlanSummary::default();
    let mut out = std::io::stdout();
    while let Some(event) = events.recv().await {
        match event {
            Event::Planned { records } => {
                let _ = print_changes(&mut out, &records);
                records.iter().for_each(|r| plan.add(r));
            }
            Event::Finished { record, .. } | Event::Cancelled { record } => {
                let _ = print_changes(&mut out, std::slice::from_ref(&*record));
                plan.add(&record);
            }
            Event::Started { ack, .. } => {
                let _ = ack.send(());
            }
            Event::RowDone { .. } | Event::RowInterrupted { .. } => {}
        }
    }
    plan
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
            let _ = std::fs::remove_file(path);
        }
    }
}
