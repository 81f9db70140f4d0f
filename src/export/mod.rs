//! An export (`authbulk export`): the inventory admins ask for before and after a change, one
//! row per existing method for every target user (job files, `--all-users [--filter]`,
//! `--group`), in CSV or JSON Lines. Called by the CLI with a validated [`ExportConfig`].
//!
//! Read-only. Order, so that nothing is read before every check has passed: check the job files
//! (every bad row printed); create the output (an existing file is refused); connect and fetch
//! the first token (a bad credential stops here, exit 2, and the new file is removed); then read
//! every user through the executor with [`crate::exec::for_each_user`] (the same throttling,
//! retries and concurrency as `run`), one collector task writing each user's rows as the user
//! finishes, so memory stays flat however many users there are; print the summary.
//!
//! Files: [`inventory`] (the rows), [`read`] (reading one user), [`format`] (CSV, JSON Lines
//! and the output), [`summary`].

use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

use crate::Outcome;
use crate::exec::{DriveEnd, ExecConfig, for_each_user};
use crate::job::{ActionKind, Defaults};
use crate::report::progress::Progress;
use crate::session::{self, Connection};
use crate::target::{self as source, Input};

pub mod format;
pub mod inventory;
pub mod read;
pub mod summary;

pub use format::{Destination, OutFormat};
pub use summary::ExportSummary;

/// The validated settings of `authbulk export`.
#[derive(Debug)]
pub struct ExportConfig {
    /// Job files (only their users matter) or enumerated targets.
    pub input: Input,
    /// Row defaults of the job files (`--action list` unless given), so rows without an action
    /// column are valid.
    pub defaults: Defaults,
    /// Export the users of a job's valid rows even when other rows are bad (each bad row
    /// becomes an `error` row).
    pub skip_invalid: bool,
    /// Where the inventory goes.
    pub out: Destination,
    /// Its format (`None`: by the file's extension; CSV on stdout).
    pub out_format: Option<OutFormat>,
    /// The tenant: real (with credentials) or simulated.
    pub connection: Connection,
    /// Rate, retries and concurrency.
    pub exec: ExecConfig,
}

/// The default output: `authbulk-export-<UTC time, to the millisecond>.csv` in the current
/// directory (like the report: two exports in one second get two files).
pub fn default_out(now: chrono::DateTime<chrono::Utc>) -> Destination {
    Destination::File(format!("authbulk-export-{}.csv", now.format("%Y%m%dT%H%M%S%.3fZ")).into())
}

/// The job's rows with each user's repeats left out (a job often names a user on several
/// rows: set a phone, then make it the default); the inventory lists a user once.
/// A repeat left out counts as done for the progress display (its total counts job rows).
fn once_per_user(
    rows: impl futures::Stream<Item = source::Row> + Send + 'static,
    progress: Arc<Progress>,
) -> impl futures::Stream<Item = source::Row> + Send + 'static {
    let mut seen: HashSet<String> = HashSet::new();
    rows.filter(move |row| {
        let first = match &row.kind {
            source::RowKind::Op(op) => seen.insert(op.user_key()),
            _ => true,
        };
        if !first {
            progress.inc(1);
        }
        std::future::ready(first)
    })
}

/// Export to the end; the outcome gives the exit code (1 when some user could not be read).
/// Errors are fatal problems found before any read (exit 2).
pub async fn export(config: ExportConfig) -> Result<Outcome> {
    let started = Instant::now();

    // 1. The job: every bad row printed before anything else happens.
    let (input, _spooled, total) = match config.input {
        Input::Jobs(sources) => {
            let (sources, spooled) = source::spool_stdin(sources)?;
            let checked = source::check(&sources, &config.defaults, |p| eprintln!("{p}"))?;
            if checked.invalid_rows > 0 && !config.skip_invalid {
                bail!(
                    "{} of {} rows are invalid ({} problems, listed above): export reads only \
                     the user column, but each row must still be a valid job row: pass the \
                     --action (and row flags) you run it with, fix the rows, or export the \
                     valid rows with --skip-invalid",
                    checked.invalid_rows,
                    checked.rows,
                    checked.problems
                );
            }
            (Input::Jobs(sources), Some(spooled), Some(checked.rows))
        }
        Input::Targets(targets) => (Input::Targets(targets), None, None),
    };

    // 2. The output, before any request.
    let writer = format::InventoryWriter::create(&config.out, config.out_format)?;

    // 3. The tenant and the first token; a failure here leaves no file behind.
    let opened = async {
        let (tenant, _token) = session::open(&config.connection, config.exec.concurrency).await?;
        let session = tenant.start(config.exec);
        // `--group NAME`: each name to its one group's id, before any user is read.
        let input = match input {
            Input::Targets(targets) => {
                Input::Targets(source::resolve_groups(&session.exec, targets).await?)
            }
            input => input,
        };
        anyhow::Ok((session, input))
    }
    .await;
    let (session, input) = match opened {
        Ok(ok) => ok,
        Err(err) => {
            writer.discard();
            return Err(err);
        }
    };
    let ctrl_c = session.listen_for_ctrl_c();
    let (exec, shutdown) = (&session.exec, &session.shutdown);
    // 4. Every user through the executor; one collector writes.
    let progress = Arc::new(Progress::start(
        total,
        exec.stats().clone(),
        exec.throttle().clone(),
    ));
    // Enumerated targets come once each already (by object id); only a job can repeat a user.
    let from_jobs = matches!(input, Input::Jobs(_));
    let rows: BoxStream<'static, source::Row> = match input {
        Input::Jobs(sources) => once_per_user(
            source::job_rows(sources, config.defaults.clone()),
            progress.clone(),
        )
        .boxed(),
        // A target is only read: whatever --action says, its row is a `list`.
        Input::Targets(targets) => source::target_rows(
            exec.clone(),
            targets,
            Defaults {
                action: Some(ActionKind::List),
                ..Defaults::default()
            },
            None,
        )
        .boxed(),
    };

    let (reads, mut received) = mpsc::channel::<read::UserRead>(1024);
    let collector = {
        let progress = progress.clone();
        tokio::spawn(async move {
            let mut writer = writer;
            let mut summary = ExportSummary::default();
            let mut failure: Option<anyhow::Error> = None;
            // A user named twice (by UPN and by object id, say) is listed once.
            let mut listed: HashSet<String> = HashSet::new();
            while let Some(read) = received.recv().await {
                // Nobody reads the rest (`--out - | head`): stop reading users, quietly.
                if writer.closed() {
                    break;
                }
                let first = !from_jobs
                    || read
                        .rows
                        .first()
                        .and_then(|row| row.user_id.as_deref())
                        .is_none_or(|id| listed.insert(id.to_ascii_lowercase()));
                if !first {
                    summary.repeated += 1;
                    progress.inc(1);
                    continue;
                }
                summary.add(&read);
                if failure.is_none() {
                    failure = writer.write_user(&read.rows).err();
                }
                progress.inc(1);
            }
            (writer.name(), summary, failure)
        })
    };
    let work = Arc::new(read::ExportWork {
        graph: exec.clone(),
    });
    let end = for_each_user(
        work,
        rows,
        config.exec.active_users,
        reads,
        shutdown.clone(),
    )
    .await;
    let (name, summary, failure) = collector.await.context("the inventory task failed")?;
    if let Ok(progress) = Arc::try_unwrap(progress) {
        progress.finish();
    }
    ctrl_c.abort();
    if let Some(failure) = failure {
        return Err(failure);
    }

    // 5. The summary.
    let mut stderr = std::io::stderr().lock();
    // A closed stderr (`2>&1 | head`) must not turn a finished export into an error.
    let _ = summary.print(
        &mut stderr,
        &name,
        &exec.stats().snapshot(),
        started.elapsed(),
    );
    let _ = stderr.flush();
    drop(session);
    Ok(match end {
        DriveEnd::Drained | DriveEnd::Aborted => Outcome::Interrupted,
        _ => summary.outcome(),
    })
}
