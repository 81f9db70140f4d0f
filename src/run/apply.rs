//! The phase of a run that applies (or, for a dry run, plans): the run's files are the user's
//! from here on (no longer removed on exit), every row is driven through the [`Pass`], and each
//! record reaches the report (and the journal) through the collector
//! ([`crate::report::collect`]) as its step ends, with progress on the terminal. A dry run's
//! records are also gathered for the plan printed at the end.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use tokio::sync::mpsc;

use super::RunConfig;
use super::outputs::{Guard, Outputs};
use super::pass::Pass;
use crate::Outcome;
use crate::exec::DriveEnd;
use crate::plan::{PlanConsole, PlanSummary};
use crate::report::progress::Progress;
use crate::report::{Event, Journal, ReportWriter, Summary, collect};

/// A dry run's plan, gathered from its records.
pub(super) type Plan = Arc<Mutex<(PlanSummary, PlanConsole)>>;

/// What the pass that applied left.
pub(super) struct Applied {
    /// How the pass ended.
    pub end: DriveEnd,
    /// The records' counts (with those kept from an interrupted run).
    pub summary: Summary,
    /// The dry run's plan (empty when the run writes).
    pub plan: Plan,
}

/// Apply every row (or plan it, for a dry run), each record to the report as it comes. Takes
/// the report and the journal (they close when the collector ends). Without a report the run
/// ends here with [`Outcome::Incomplete`].
pub(super) async fn apply(
    pass: &Pass<'_>,
    guard: &mut Guard,
    outputs: &mut Outputs,
    total: Option<u64>,
    report_file: Option<&Path>,
) -> Result<Result<Applied, Outcome>> {
    let (config, session) = (pass.config, pass.session);
    guard.created.keep();
    let exec = &session.exec;
    let progress = Arc::new(Progress::start(
        total,
        exec.stats().clone(),
        exec.throttle().clone(),
    ));
    let (events, received) = mpsc::channel(4096);
    let plan = Plan::default();
    let collector = {
        let report = std::mem::replace(&mut outputs.report, ReportWriter::discard());
        let files = (report, outputs.journal.take());
        tokio::spawn(collector(
            config,
            files,
            received,
            plan.clone(),
            progress.clone(),
        ))
    };
    let end = pass
        .drive(config.dry_run, events, outputs.resume.take())
        .await;
    let mut summary = match collector.await.context("the report task failed")? {
        Ok(summary) => summary,
        Err(err) => {
            // Writes may have gone before the failure: exit 2 would claim nothing began.
            session.ctrl_c.abort();
            eprintln!(
                "error: the run stopped because {err:#}; no write was sent without its journal \
                 note, but changes made before this point may be missing from {}: fix the \
                 cause (disk space?), then continue with --resume",
                report_file.map_or_else(|| "the report".into(), |p| p.display().to_string())
            );
            return Ok(Err(Outcome::Incomplete));
        }
    };
    summary.absorb(&outputs.kept);
    // The summary names the report the user can open: none for a dry run without --report.
    summary.report = match (report_file, &config.report) {
        (Some(path), _) => Some(path.to_path_buf()),
        (None, Some(_)) => Some(PathBuf::from("stdout")),
        (None, None) => None,
    };
    if let Ok(progress) = Arc::try_unwrap(progress) {
        progress.finish();
    }
    session.ctrl_c.abort();
    Ok(Ok(Applied { end, summary, plan }))
}

/// The collector of the pass: each record to the report and the journal (`files`), a dry
/// run's also to its plan; each row done moves the progress on.
fn collector(
    config: &RunConfig,
    files: (ReportWriter, Option<Journal>),
    received: mpsc::Receiver<Event>,
    plan: Plan,
    progress: Arc<Progress>,
) -> impl Future<Output = Result<Summary>> + Send + 'static {
    let dry_run = config.dry_run;
    collect(
        received,
        files.0,
        files.1,
        config.failed_out.is_some(),
        move |records| {
            if dry_run && let Ok(mut plan) = plan.lock() {
                records.iter().for_each(|r| plan.0.add(r));
                plan.1.add(records);
            }
        },
        move || progress.inc(1),
    )
}
