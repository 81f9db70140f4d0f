//! The one owner of a run's results: every task sends [`Event`]s over a bounded channel to
//! [`collect`], which alone writes the report and the journal and tallies the summary. Its file
//! I/O (writes, flushes, fsyncs) runs under `spawn_blocking`, off the async worker threads.
//!
//! Write-ahead: a task that is about to send a write sends [`Event::Started`] and waits for its
//! acknowledgement, which comes only once the start is synced to the journal. Starts that arrive
//! together are synced together (group commit): every event waiting in the channel joins the
//! batch, and the batch is synced once.

use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use super::{Journal, Record, ReportWriter, Summary};
use crate::plan::Change;

/// A result or a write-ahead note, sent to the collector.
#[derive(Debug)]
pub enum Event {
    /// A write of row `seq` is about to be sent; `ack` answers once that is durable.
    Started {
        /// The row's sequence number in the job (0-based over all job files).
        seq: u64,
        /// The step, as its record will name it.
        step: Change,
        /// When it was started.
        at: DateTime<Utc>,
        /// Answered after the journal is synced.
        ack: oneshot::Sender<()>,
    },
    /// A step of row `seq` (or the row itself, when it planned no step) finished.
    Finished {
        /// The row's sequence number.
        seq: u64,
        /// Its record.
        record: Box<Record>,
    },
    /// Row `seq` of an enumerated run is the user with object id `id` named `user` (journaled
    /// before the row's first step, so `--resume` finds the user by id, not by position).
    User {
        /// The row's sequence number.
        seq: u64,
        /// The user's object id.
        id: String,
        /// The user's name (UPN).
        user: String,
    },
    /// Row `seq` has nothing more to do.
    RowDone {
        /// The row's sequence number.
        seq: u64,
    },
    /// Row `seq` stopped part-way because the run was interrupted: it is not journaled as done,
    /// so `--resume` plans it again.
    RowInterrupted,
    /// A dry run's planned steps of one row, reported together (no journal in a dry run).
    Planned {
        /// The records (status `planned`).
        records: Vec<Record>,
    },
    /// A step that was not run because the run was interrupted: reported, but not journaled, so
    /// `--resume` runs it.
    Cancelled {
        /// Its record (status `cancelled`).
        record: Box<Record>,
    },
}

/// The files the collector owns and the tally, moved to a blocking thread for each batch of
/// events and back.
struct Files {
    report: ReportWriter,
    journal: Option<Journal>,
    summary: Summary,
}

/// What a batch leaves for the async side once its writes are durable: starts to acknowledge,
/// records to show (as the events carried them), rows finished.
#[derive(Default)]
struct Done {
    acks: Vec<oneshot::Sender<()>>,
    records: Vec<Vec<Record>>,
    rows: u64,
}

impl Files {
    /// Write a batch of events (report lines, journal entries), then sync the journal once for
    /// all of them (group commit). Blocking: runs under `spawn_blocking`.
    fn write(&mut self, batch: Vec<Event>) -> Result<Done> {
        let mut done = Done::default();
        for event in batch {
            match event {
                Event::Started { seq, step, at, ack } => {
                    if let Some(journal) = self.journal.as_mut() {
                        journal.started(seq, &step, at)?;
                    }
                    done.acks.push(ack);
                }
                Event::Finished { seq, record } => {
                    // The report line first, then the journal: after a crash, a record missing
                    // from the journal is redone and the report rewritten from the journal, so
                    // it is never reported twice.
                    self.report.write(&record)?;
                    if let Some(journal) = self.journal.as_mut() {
                        journal.done(seq, &record)?;
                    }
                    self.summary.add(&record);
                    self.summary.note_failed_row(seq, &record);
                    done.records.push(vec![*record]);
                }
                Event::RowDone { seq } => {
                    if let Some(journal) = self.journal.as_mut() {
                        journal.row_done(seq)?;
                    }
                    done.rows += 1;
                }
                Event::RowInterrupted => done.rows += 1,
                Event::User { seq, id, user } => {
                    if let Some(journal) = self.journal.as_mut() {
                        journal.user(seq, &id, &user)?;
                    }
                }
                Event::Planned { records } => {
                    for record in &records {
                        self.report.write(record)?;
                        self.summary.add(record);
                    }
                    done.records.push(records);
                }
                Event::Cancelled { record } => {
                    self.report.write(&record)?;
                    self.summary.add(&record);
                    done.records.push(vec![*record]);
                }
            }
        }
        if let Some(journal) = self.journal.as_mut().filter(|j| j.dirty()) {
            journal.sync()?;
        }
        Ok(done)
    }
}

/// Run blocking file I/O on the files off the async worker threads, and hand them back.
async fn blocking<T: Send + 'static>(
    mut files: Files,
    work: impl FnOnce(&mut Files) -> Result<T> + Send + 'static,
) -> Result<(Files, T)> {
    tokio::task::spawn_blocking(move || {
        let out = work(&mut files)?;
        Ok((files, out))
    })
    .await?
}

/// Most events written per batch: bounds the records a batch holds before they are shown.
const BATCH: usize = 256;

/// Receive events until every sender is gone; returns the tally of what was reported (with
/// the failed rows when `keep_failed_rows`).
///
/// The report and the journal are written and synced under `spawn_blocking`, never on the
/// async worker threads that run the users' tasks: each batch of waiting events (at most
/// [`BATCH`]) is written, the journal synced once, and only then are the batch's starts
/// acknowledged. `on_records` and `on_row_done` run on the async side after their batch.
pub async fn collect(
    mut events: mpsc::Receiver<Event>,
    report: ReportWriter,
    journal: Option<Journal>,
    keep_failed_rows: bool,
    mut on_records: impl FnMut(&[Record]) + Send,
    mut on_row_done: impl FnMut() + Send,
) -> Result<Summary> {
    let mut files = Files {
        report,
        journal,
        summary: Summary::keeping_failed_rows(keep_failed_rows),
    };
    let mut flush = tokio::time::interval(Duration::from_millis(250));
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            event = events.recv() => event,
            _ = flush.tick() => {
                files = blocking(files, |f| f.report.flush()).await?.0;
                continue;
            }
        };
        let Some(first) = first else { break };
        // Sized once for what is waiting (growing one event at a time reallocated).
        let mut batch = Vec::with_capacity((events.len() + 1).min(BATCH));
        batch.push(first);
        while batch.len() < BATCH {
            match events.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        let (back, done) = blocking(files, move |f| f.write(batch)).await?;
        files = back;
        for ack in done.acks {
            let _ = ack.send(());
        }
        for records in &done.records {
            on_records(records);
        }
        for _ in 0..done.rows {
            on_row_done();
        }
    }
    let (mut files, ()) = blocking(files, |f| {
        f.report.flush()?;
        if let Some(journal) = f.journal.as_mut() {
            journal.sync()?;
        }
        Ok(())
    })
    .await?;
    files.summary.report = Some(files.report.path().to_path_buf());
    Ok(files.summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Status, journal};

    #[tokio::test]
    async fn a_start_is_acknowledged_only_once_journaled_and_records_reach_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let report_path = dir.path().join("r.csv");
        let report = ReportWriter::create(&report_path, &[]).unwrap();
        let journal_path = journal::path_for(&report_path);
        let journal = Journal::create(&journal_path, "job").unwrap();
        let (tx, rx) = mpsc::channel(8);
        let collector = tokio::spawn(collect(rx, report, Some(journal), false, |_| {}, || {}));

        let (ack, acked) = oneshot::channel();
        tx.send(Event::Started {
            seq: 0,
            step: Change::DeleteEmail,
            at: Utc::now(),
            ack,
        })
        .await
        .unwrap();
        acked.await.unwrap();
        let entries = Journal::entries(&journal_path).unwrap();
        assert!(
            entries.iter().any(|e| matches!(
                e,
                journal::Entry::Start {
                    step: Change::DeleteEmail,
                    ..
                }
            )),
            "{entries:?}"
        );

        let record = Record {
            row: 1,
            step: Change::DeleteEmail,
            action: "remove-email".into(),
            status: Some(Status::Ok),
            ..Record::default()
        };
        tx.send(Event::Finished {
            seq: 0,
            record: Box::new(record),
        })
        .await
        .unwrap();
        tx.send(Event::RowDone { seq: 0 }).await.unwrap();
        drop(tx);
        let summary = collector.await.unwrap().unwrap();
        assert_eq!(summary.count(Status::Ok), 1);
        let report_text = std::fs::read_to_string(&report_path).unwrap();
        assert_eq!(report_text.lines().count(), 2, "{report_text}");
        let (_, resume) = Journal::resume(&journal_path, "job").unwrap();
        assert!(resume.row_done(0));
        assert!(resume.open_starts.is_empty());
    }
}
