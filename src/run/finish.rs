//! The last phase of a run: keep the rate this run learned ([`super::rate_memory`]), total the
//! traffic, print a dry run's plan, remove the journal of a run that got through every row
//! (unless `--keep-journal`), print the summary and the failures by error code on stderr,
//! write `--failed-out` and `--summary-json`, name the files of secrets, explain a tripped
//! [`super::breaker`], and give the outcome (the exit code).

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::Utc;

use super::apply::Applied;
use super::outputs::Outputs;
use super::pass::Pass;
use super::plan_out::PlanOut;
use super::session::Session;
use super::{RunConfig, failed_out};
use crate::Outcome;
use crate::exec::DriveEnd;
use crate::report::Summary;
use crate::report::format::stdout::{self, Destination};
use crate::report::summary::Traffic;
use crate::target::Input;

/// Finish the run that `applied`: the summary, the files it names, and the outcome.
pub(super) fn finish(
    pass: &Pass<'_>,
    mut applied: Applied,
    outputs: &Outputs,
    plan_out: &PlanOut,
    started: Instant,
) -> Outcome {
    let (config, session) = (pass.config, pass.session);
    tally(config, &mut applied, session, outputs, plan_out, started);
    let Applied {
        end, mut summary, ..
    } = applied;
    let mut stderr = std::io::stderr().lock();
    tell(config, pass.input, &summary, outputs, &mut stderr);
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
    let tripped = pass.breaker.tripped();
    if let Some(record) = &tripped {
        let explained = pass.breaker.explain(record, session.principal);
        let _ = writeln!(stderr, "error: {explained}");
    }
    let _ = stderr.flush();
    if tripped.is_some() {
        return Outcome::Fatal;
    }
    match end {
        DriveEnd::Drained | DriveEnd::Aborted => Outcome::Interrupted,
        _ => summary.outcome(),
    }
}

/// Keep the rate this run learned, total the traffic, print a dry run's plan, and remove the
/// journal of a run that got through every row.
fn tally(
    config: &RunConfig,
    applied: &mut Applied,
    session: &Session,
    outputs: &Outputs,
    plan_out: &PlanOut,
    started: Instant,
) {
    let exec = &session.exec;
    if let Some(memory) = &session.rate_memory {
        memory.keep(exec.throttle().learned(), Utc::now());
    }
    let stats = exec.stats().snapshot();
    applied.summary.finish(
        Traffic {
            reads: stats.reads,
            writes: stats.writes,
            throttled: stats.throttled,
            retries: stats.retries,
            batches: stats.batches,
        },
        started.elapsed(),
    );
    let dry_run = config.dry_run;
    if dry_run && let Ok(mut plan) = applied.plan.lock() {
        let (totals, console) = &mut *plan;
        plan_out.plan(std::mem::take(console), totals);
        plan_out.totals(totals);
    }
    // A run that got through every row needs no journal: nothing is left to resume.
    if applied.end == DriveEnd::Completed
        && !dry_run
        && !config.keep_journal
        && let Some(journal_path) = &outputs.journal_path
    {
        let _ = std::fs::remove_file(journal_path);
    }
}

/// On stderr: the summary, the failures by error code, the `--failed-out` file, and where the
/// passes and the QR codes and PINs are. A closed stderr (`2>&1 | head`) must not turn a
/// finished run into an error.
fn tell(
    config: &RunConfig,
    input: &Input,
    summary: &Summary,
    outputs: &Outputs,
    stderr: &mut dyn Write,
) {
    let _ = summary.print(stderr);
    let _ = summary.print_failures(stderr);
    if let Some(path) = &config.failed_out
        && !config.dry_run
    {
        match failed_out::write(path, input, &config.defaults, &summary.failed_rows) {
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
    if let Some(taps) = &outputs.taps {
        let _ = writeln!(
            stderr,
            "temporary access passes: {} (mode 0600; hand them over, then delete the file)",
            taps.path().display()
        );
    }
    if let Some(secrets) = &outputs.secrets {
        let _ = writeln!(
            stderr,
            "QR codes and PINs: {} (mode 0700; index.csv lists them; hand them over, then \
             delete the folder)",
            secrets.path().display()
        );
    }
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
