//! The one owner of a run's results: every task sends [`Event`]s over a bounded channel to
//! [`collect`], which alone writes the report and the journal and tallies the summary.
//!
//! Write-ahead: a task that is about to send a write sends [`Event::Started`] and waits for its
//! acknowledgement, which comes only once the start is synced to the journal. Starts that arrive
//! together are synced together (group commit): when no further event is waiting in the channel.

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
    /// Row `seq` has nothing more to do.
    RowDone {
        /// The row's sequence number.
        seq: u64,
    },
    /// Row `seq` stopped part-way because the run was interrupted: it is not journaled as done,
    /// so `--resume` plans it again.
    RowInterrupted {
        /// The row's sequence number.
        seq: u64,
    },
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

/// Receive events until every sender is gone; returns the tally of what was reported.
pub async fn collect(
    mut events: mpsc::Receiver<Event>,
    mut report: ReportWriter,
    mut journal: Option<Journal>,
    mut on_records: impl FnMut(&[Record]) + Send,
    mut on_row_done: impl FnMut() + Send,
) -> Result<Summary> {
    let mut summary = Summary::default();
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    let mut flush = tokio::time::interval(Duration::from_millis(250));
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = flush.tick() => {
                report.flush()?;
                continue;
            }
        };
        let Some(event) = event else { break };
        match event {
            Event::Started { seq, step, at, ack } => {
                if let Some(journal) = journal.as_mut() {
                    journal.started(seq, &step, at)?;
                }
                waiting.push(ack);
            }
            Event::Finished { seq, record } => {
                // The report line first, then the journal: after a crash, a record missing from
                // the journal is redone and the report rewritten from the journal, so it is
                // never reported twice.
                report.write(&record)?;
                if let Some(journal) = journal.as_mut() {
                    journal.done(seq, &record)?;
                }
                summary.add(&record);
                on_records(std::slice::from_ref(&*record));
            }
            Event::RowDone { seq } => {
                if let Some(journal) = journal.as_mut() {
                    journal.row_done(seq)?;
                }
                on_row_done();
            }
            Event::RowInterrupted { .. } => on_row_done(),
            Event::Planned { records } => {
                for record in &records {
                    report.write(record)?;
                    summary.add(record);
                }
                on_records(&records);
            }
            Event::Cancelled { record } => {
                report.write(&record)?;
                summary.add(&record);
                on_records(std::slice::from_ref(&*record));
            }
        }
        if events.is_empty() {
            if let Some(journal) = journal.as_mut().filter(|j| j.dirty()) {
                journal.sync()?;
            }
            for ack in waiting.drain(..) {
                let _ = ack.send(());
            }
        }
    }
    report.flush()?;
    if let Some(journal) = journal.as_mut() {
        journal.sync()?;
    }
    for ack in waiting.drain(..) {
        let _ = ack.send(());
    }
    summary.report = Some(report.path().to_path_buf());
    Ok(summary)
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
        let collector = tokio::spawn(collect(rx, report, Some(journal), |_| {}, || {}));

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
        let journal_text = std::fs::read_to_string(&journal_path).unwrap();
        assert!(
            journal_text.contains(r#""step":{"change":"delete_email"}"#),
            "{journal_text}"
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
