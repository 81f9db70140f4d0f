//! What `--resume` does to one row's records, so that every step of the job keeps exactly one
//! final record across any number of interruptions. The per-row work (`run/work.rs`) asks a
//! [`RowResume`] about each record the planner emits for a row, tells it each write it is about
//! to send, and asks it at the end of the row for the records it still owes.
//!
//! Why this is needed: a resumed row is planned again against the tenant's current state (the
//! actions are desired state). A step whose write reached the tenant just before the earlier
//! run was killed, but whose record never reached the journal, is then no longer in the plan: it
//! would be done without a record. The journal has its start, so it is reported here as done
//! before the interruption. The other way round, a record the journal already holds (a listing,
//! an `unchanged`) must not be reported a second time when the row runs again.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::plan::{Change, UserState};
use crate::report::{Record, Resume, Status};

/// The note of a step whose write an earlier run sent and the re-read state shows done.
pub const DONE_BEFORE: &str = "done before the interruption (confirmed by re-reading)";

/// The note of a step an earlier run started but never sent, which the new plan no longer needs.
pub const NOT_DONE_BEFORE: &str = "not done: the interrupted run stopped before sending it, and \
     the re-read state no longer needs it";

/// One row's view of what an earlier run left, and what this run has reported for it so far.
#[derive(Debug, Default)]
pub struct RowResume {
    /// Steps started by an earlier run with no known outcome, not yet covered by a record.
    open: Vec<(Change, DateTime<Utc>)>,
    /// Steps with a record from an earlier run.
    done: Vec<Change>,
    /// Steps whose write this run sent.
    started: Vec<Change>,
    /// An `unchanged` now repeats what earlier records say (or hides a step done before).
    hide_unchanged: bool,
    /// The row's state could not be read, so the plan is unknown.
    unread: bool,
    /// A step was cancelled: the row stays open for the next `--resume`.
    interrupted: bool,
    /// The earlier run's attempt at the row ended in a failure: nothing more is written.
    failed_before: bool,
}

impl RowResume {
    /// The view for row `seq`; a fresh row when `resume` is `None` (not a resumed run).
    pub fn new(resume: Option<&Resume>, seq: u64) -> Self {
        let Some(resume) = resume else {
            return RowResume::default();
        };
        // A step started by two interrupted runs in turn (the first never sent it) is one step.
        let mut open: Vec<(Change, DateTime<Utc>)> = Vec::new();
        for (step, at) in resume.open_starts(seq) {
            if !open.iter().any(|(seen, _)| seen == step) {
                open.push((step.clone(), *at));
            }
        }
        RowResume {
            hide_unchanged: resume.row_touched(seq) || !open.is_empty(),
            open,
            done: resume.done_steps(seq).to_vec(),
            failed_before: resume.failed_before(seq),
            ..RowResume::default()
        }
    }

    /// The earlier run's attempt at this row ended in a failure, and the run stopped before the
    /// row's last records were journaled. The row must then be planned only (no write: a failed
    /// step is not tried again, as for any finished row), and [`after_failure`](Self::after_failure)
    /// turns the steps still planned into the `skipped` records the earlier run owed.
    pub fn failed_before(&self) -> bool {
        self.failed_before
    }

    /// For a row that [failed before](Self::failed_before): a step the plan still holds was
    /// skipped because an earlier step failed. Other records pass unchanged.
    pub fn after_failure(&self, mut record: Record) -> Record {
        if self.failed_before && record.status == Some(Status::Planned) {
            record.status = Some(Status::Skipped);
            record.error_message = Some("earlier step failed".into());
        }
        record
    }

    /// The write of `step` is about to be sent by this run.
    pub fn started(&mut self, step: &Change) {
        self.started.push(step.clone());
    }

    /// Whether `record` goes to the report; notes what it tells about the row.
    pub fn keep(&mut self, record: &Record) -> bool {
        match record.status {
            Some(Status::Cancelled) => self.interrupted = true,
            // A failed read means the row was not planned (its state was not read).
            Some(Status::Failed) if record.step.is_read() => {
                self.unread = true;
            }
            _ => {}
        }
        let was_open = self.open.iter().any(|(step, _)| *step == record.step);
        self.open.retain(|(step, _)| *step != record.step);
        if was_open {
            return true;
        }
        if self.hide_unchanged && record.status == Some(Status::Unchanged) {
            return false;
        }
        // A record the journal already holds, for a step this run did not write again (a
        // listing, a refusal): reported once already.
        let sent_now = self.started.contains(&record.step);
        !(self.done.contains(&record.step) && !sent_now && record.status != Some(Status::Cancelled))
    }

    /// The row was cut short by an interruption: it must not be journaled as done.
    pub fn interrupted(&self) -> bool {
        self.interrupted
    }

    /// The records still owed at the end of the row: one for each step an earlier run started
    /// whose outcome no record of this run covered. `base` carries the row's common fields.
    ///
    /// When the row was planned again (its state read), such a step is no longer needed. Most
    /// often the state shows it done, so it was done by the earlier run (`ok`). But a plan can
    /// also drop a step that was never sent: `reset-mfa` with a pass keeps a usable pass as its
    /// end state, so the delete of that pass leaves the plan although the pass is still there.
    /// So a delete is `ok` only when `state` (what the row was planned against) lacks the
    /// method; when `state` still holds it, nothing was done (`unchanged`). When the state could
    /// not be read, its outcome is unknown (`failed`, `outcomeUnknown`). When the row was
    /// interrupted again, nothing is owed yet: the next `--resume` decides.
    pub fn owed(&mut self, base: &Record, state: Option<&UserState>) -> Vec<Record> {
        if self.interrupted {
            return Vec::new();
        }
        let unread = self.unread;
        self.open
            .drain(..)
            .map(|(step, at)| {
                let mut record = base.clone();
                record.step = step;
                if unread {
                    record.status = Some(Status::Failed);
                    record.error_code = Some("outcomeUnknown".into());
                    record.error_message = Some(format!(
                        "sent by the interrupted run at {}; the user's state could not be read \
                         to check whether it was done",
                        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ));
                } else if state.is_some_and(|s| still_there(s, &record.step)) {
                    record.status = Some(Status::Unchanged);
                    record.after = NOT_DONE_BEFORE.into();
                } else {
                    record.status = Some(Status::Ok);
                    record.after = DONE_BEFORE.into();
                }
                record
            })
            .collect()
    }
}

/// Whether `state` still holds what the delete `step` removes (false for other steps: their
/// absence from the plan is what shows them done).
fn still_there(state: &UserState, step: &Change) -> bool {
    match step {
        Change::DeleteMethod { id, .. } => state.methods.iter().any(|m| m.id == *id),
        Change::DeletePhone { phone_type } => state.phone_details(*phone_type).is_some(),
        Change::DeleteEmail => state.email().is_some(),
        _ => false,
    }
}

/// The earlier `--tap-out` file (of `files`, the earlier runs' in order) that holds a pass for
/// `user_id` starting no earlier than a minute before `started` (clocks differ), if any: a pass
/// created just before a crash may have reached its file before its record reached the journal.
/// Unreadable files and torn lines are passed over.
pub fn tap_delivered_in(
    files: &[PathBuf],
    user_id: &str,
    started: DateTime<Utc>,
) -> Option<PathBuf> {
    let since = started - chrono::Duration::minutes(1);
    files.iter().rev().find_map(|path| {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .ok()?;
        let columns = reader.headers().ok()?.len();
        let found = reader.records().map_while(Result::ok).any(|row| {
            // Columns: user, user_id, pass, start, lifetime, expires, then any --tap-columns
            // (see `crate::plan::TapOutFile`; files of earlier versions end at lifetime).
            // A line torn by a crash lacks fields: its pass is not whole.
            let start = match row.get(3) {
                Some("") => true,
                Some(text) => DateTime::parse_from_rfc3339(text).is_ok_and(|s| s >= since),
                None => false,
            };
            row.len() == columns
                && start
                && row
                    .get(1)
                    .is_some_and(|id| id.eq_ignore_ascii_case(user_id))
        });
        found.then(|| path.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{MethodType, PhoneType};
    use crate::plan::change::MethodName;
    use crate::report::Journal;

    /// The deletion of the FIDO2 key `id`.
    fn del(id: &str) -> Change {
        Change::DeleteMethod {
            method: MethodName::Known(MethodType::Fido2),
            id: id.into(),
        }
    }

    fn record(step: Change, status: Status) -> Record {
        Record {
            row: 1,
            step,
            status: Some(status),
            ..Record::default()
        }
    }

    /// A journal where row 0 finished "delete a" and started "delete b" without an outcome.
    fn resumed() -> (tempfile::TempDir, Resume) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut journal = Journal::create(&path, "job").unwrap();
        journal.started(0, &del("a"), Utc::now()).unwrap();
        journal.done(0, &record(del("a"), Status::Ok)).unwrap();
        journal.started(0, &del("b"), Utc::now()).unwrap();
        journal.sync().unwrap();
        drop(journal);
        let (_, resume) = Journal::resume(&path, "job").unwrap();
        (dir, resume)
    }

    #[test]
    fn a_started_step_missing_from_the_new_plan_is_reported_done_before_the_interruption() {
        let (_dir, resume) = resumed();
        let mut row = RowResume::new(Some(&resume), 0);
        // The new plan holds only a later step.
        row.started(&del("c"));
        assert!(row.keep(&record(del("c"), Status::Ok)));
        let owed = row.owed(&record(Change::NotStarted, Status::Ok), None);
        assert_eq!(owed.len(), 1);
        assert_eq!(owed[0].step, del("b"));
        assert_eq!(owed[0].status, Some(Status::Ok));
        assert_eq!(owed[0].after, DONE_BEFORE);
        assert!(row.owed(&Record::default(), None).is_empty(), "owed once");
    }

    #[test]
    fn a_step_started_by_two_interrupted_runs_is_owed_one_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut journal = Journal::create(&path, "job").unwrap();
        journal
            .started(0, &Change::CreateEmail, Utc::now())
            .unwrap();
        journal
            .started(0, &Change::CreateEmail, Utc::now())
            .unwrap();
        journal.sync().unwrap();
        drop(journal);
        let (_, resume) = Journal::resume(&path, "job").unwrap();
        let mut row = RowResume::new(Some(&resume), 0);
        assert!(!row.keep(&record(Change::SetEmail, Status::Unchanged)));
        let owed = row.owed(&Record::default(), None);
        assert_eq!(owed.len(), 1, "{owed:?}");
    }

    #[test]
    fn a_started_step_planned_again_is_covered_by_its_new_record() {
        let (_dir, resume) = resumed();
        let mut row = RowResume::new(Some(&resume), 0);
        row.started(&del("b"));
        assert!(row.keep(&record(del("b"), Status::Ok)));
        assert!(row.owed(&Record::default(), None).is_empty());
    }

    #[test]
    fn records_already_journaled_and_unchanged_repeats_are_not_reported_again() {
        let (_dir, resume) = resumed();
        let mut row = RowResume::new(Some(&resume), 0);
        assert!(!row.keep(&record(
            Change::SetPhone {
                phone_type: PhoneType::Mobile
            },
            Status::Unchanged
        )));
        assert!(!row.keep(&record(del("a"), Status::Ok)));
        // The same step written again by this run is a new write: reported.
        row.started(&del("a"));
        assert!(row.keep(&record(del("a"), Status::Ok)));
    }

    #[test]
    fn an_unreadable_state_leaves_the_outcome_unknown_and_an_interruption_owes_nothing() {
        let (_dir, resume) = resumed();
        let mut row = RowResume::new(Some(&resume), 0);
        assert!(row.keep(&record(Change::ReadMethods, Status::Failed)));
        let owed = row.owed(&Record::default(), None);
        assert_eq!(owed[0].status, Some(Status::Failed));
        assert_eq!(owed[0].error_code.as_deref(), Some("outcomeUnknown"));

        let mut row = RowResume::new(Some(&resume), 0);
        assert!(row.keep(&record(Change::ReadMethods, Status::Cancelled)));
        assert!(row.interrupted());
        assert!(row.owed(&Record::default(), None).is_empty());
    }

    #[test]
    fn a_pass_is_found_in_an_earlier_tap_out_file_by_user_id_and_start() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("taps-0.csv");
        std::fs::write(
            &old,
            "user,user_id,pass,start,lifetime\n\
             a@x,id-a,secret1,2026-01-01T10:00:00Z,60\n\
             b@x,id-b,secret2,2026-01-01T12:00:00Z,60\n\
             c@x,id-c,sec",
        )
        .unwrap();
        let files = vec![dir.path().join("missing.csv"), old.clone()];
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().to_utc();
        assert_eq!(
            tap_delivered_in(&files, "ID-B", at("2026-01-01T12:00:30Z")),
            Some(old.clone())
        );
        // A pass of that user from before the start is an earlier row's.
        assert_eq!(
            tap_delivered_in(&files, "id-a", at("2026-01-01T12:00:00Z")),
            None
        );
        assert_eq!(
            tap_delivered_in(&files, "id-c", at("2026-01-01T09:00:00Z")),
            None
        );
    }

    #[test]
    fn a_row_that_failed_before_reports_its_remaining_steps_skipped_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut journal = Journal::create(&path, "job").unwrap();
        journal.done(0, &record(del("a"), Status::Failed)).unwrap();
        journal.sync().unwrap();
        drop(journal);
        let (_, resume) = Journal::resume(&path, "job").unwrap();
        let mut row = RowResume::new(Some(&resume), 0);
        assert!(row.failed_before());
        // Planned again (GETs only): the failed step keeps its one record, the next is skipped.
        let again = row.after_failure(record(del("a"), Status::Planned));
        assert!(!row.keep(&again));
        let next = row.after_failure(record(del("b"), Status::Planned));
        assert_eq!(next.status, Some(Status::Skipped));
        assert!(row.keep(&next));
        assert!(!RowResume::new(None, 0).failed_before());
    }

    #[test]
    fn a_fresh_run_keeps_every_record() {
        let mut row = RowResume::new(None, 0);
        assert!(row.keep(&record(
            Change::SetPhone {
                phone_type: PhoneType::Mobile
            },
            Status::Unchanged
        )));
        assert!(row.keep(&record(del("a"), Status::Ok)));
        assert!(row.owed(&Record::default(), None).is_empty());
    }
}
