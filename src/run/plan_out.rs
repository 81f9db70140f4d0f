//! The plan on the console: where it is printed ([`PlanOut`]: stdout, or stderr when stdout
//! carries the report or the summary), and the consumer of a pass that only plans
//! ([`tally`]), which gathers each row's changes and tallies the plan.

use std::io::Write;

use tokio::sync::mpsc;

use super::RunConfig;
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
