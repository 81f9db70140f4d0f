//! The plan on the console: where it is printed ([`PlanOut`]: stdout, or stderr when stdout
//! carries the report or the summary), and the consumer of a pass that only plans
//! ([`tally`]), which gathers each row's changes and tallies the plan. Also the plan saved to
//! a file by a dry run's `--plan-out` ([`create`], [`save`]; the format is
//! [`crate::plan::file`]).

use std::io::Write;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::RunConfig;
use crate::exec::DriveEnd;
use crate::plan::file::{FORMAT, Header, PlanWriter};
use crate::plan::{Paint, PlanConsole, PlanSummary};
use crate::report::Event;
use crate::report::format::stdout;

/// Where the plan is printed: stdout, or stderr when stdout carries the report or summary.
/// Write errors are ignored: a plan cut short by a closed pipe (`| head`) ends quietly.
pub(super) struct PlanOut {
    on_stderr: bool,
    paint: Paint,
}

impl PlanOut {
    /// Where `config` prints its plan.
    pub fn new(config: &RunConfig) -> Self {
        PlanOut {
            on_stderr: config.plan_on_stderr(),
            paint: config.plan_paint,
        }
    }

    fn write(&self, text: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) {
        let _ = match self.on_stderr {
            true => text(&mut std::io::stderr().lock()),
            false => text(&mut stdout::stdout()),
        };
    }

    /// Print the plan's users and their changes; the users to change are counted on the way.
    pub fn plan(&self, plan: PlanConsole, totals: &mut PlanSummary) {
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

    pub fn totals(&self, plan: &PlanSummary) {
        self.write(|out| writeln!(out, "\nPlan: {}.", plan.line()));
    }
}

/// The plan phase's consumer: gathers each row's changes as the row ends (printed in job order
/// once planning is done) and tallies the plan.
pub(super) async fn tally(mut events: mpsc::Receiver<Event>) -> (PlanSummary, PlanConsole) {
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
            Event::RowDone { .. } | Event::RowInterrupted | Event::User { .. } => {}
        }
    }
    (plan, console)
}

/// Create the `--plan-out` file of a dry run, its header naming the tenant (the token's `tid`),
/// the job and the flags that shaped the plan.
pub(super) fn create(
    config: &RunConfig,
    path: &std::path::Path,
    session: &super::session::Session,
    job: &super::check::Job,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<PlanWriter> {
    let header = Header {
        format: FORMAT,
        authbulk: env!("CARGO_PKG_VERSION").to_string(),
        tenant: session.tenant_id.clone().unwrap_or_default(),
        created: now,
        job: job.fingerprint.clone(),
        default_order: config.rules.default.order.clone(),
        no_weaker_default: config.rules.default.no_weaker,
        strict: config.strict,
        graph: session.graph_root.clone(),
        cloud: format!("{:?}", config.connection.cloud()).to_lowercase(),
    };
    PlanWriter::create(path, &header)
}

/// End the `--plan-out` file of a dry run that planned every row, and say where it is; the
/// file of a dry run that was stopped is removed (it would be refused as truncated).
pub(super) fn save(writer: Arc<PlanWriter>, end: DriveEnd) -> anyhow::Result<()> {
    let writer = Arc::into_inner(writer)
        .ok_or_else(|| anyhow::anyhow!("--plan-out: the plan is still being written"))?;
    let path = writer.path().to_path_buf();
    if end != DriveEnd::Completed {
        let _ = std::fs::remove_file(&path);
        eprintln!(
            "plan: not saved, the dry run was stopped before every row was planned ({} removed)",
            path.display()
        );
        return Ok(());
    }
    let totals = writer.finish()?;
    eprintln!(
        "plan: saved to {} ({}); apply it with `authbulk apply {}`",
        path.display(),
        totals.line(),
        path.display()
    );
    Ok(())
}
