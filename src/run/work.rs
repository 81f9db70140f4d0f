//! What a run does per row: the bridge between the per-user driver ([`crate::exec`]), the
//! planner ([`crate::plan`]) and the report collector ([`crate::report::collect`]). Each row's
//! records go to the collector as its steps end; before each write the step is journaled
//! (write-ahead) and the write waits for that to be durable.

use super::breaker::Breaker;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use super::exclude::Exclusions;
use super::resume::{RowResume, tap_delivered_in};
use crate::exec::{Executor, Phase, Shutdown, UserWork};
use crate::fast_hash::FastMap;
use crate::graph::{GraphCall, methods, qr_pin, requests};
use crate::job::{Action, Operation};
use crate::plan::file::{PlanSink, PlannedRow};
use crate::plan::{Applier, Change, PlanRules, Records, TapOutFile, UserContext, secrets_out};
use crate::report::{Event, Record, Resume, Status};
use crate::target::{Row, RowKind};

/// The code of the record of an enumerated user who left the tenant before being handled.
pub const USER_GONE: &str = "userGone";

/// Its reason.
pub const GONE_REASON: &str = "no longer in the tenant";

/// Per-row work of a run.
pub struct RowWork {
    /// Sends every request.
    pub exec: Executor,
    /// Plan only: GETs, `planned` records.
    pub dry_run: bool,
    /// Where created passes go.
    pub taps: Option<Arc<TapOutFile>>,
    /// `--tap-out` was given (a dry run does not create the file).
    pub tap_out_given: bool,
    /// The collector.
    pub events: mpsc::Sender<Event>,
    /// What an earlier run did (`--resume`).
    pub resume: Option<Arc<Resume>>,
    /// Users never touched.
    pub exclusions: Exclusions,
    /// The run's clock for `older_than` / `unused_for`: one instant for the whole run.
    pub now: DateTime<Utc>,
    /// How the planner moves defaults.
    pub rules: PlanRules,
    /// Stable refusals are `failed` (`--strict`).
    pub strict: bool,
    /// Per-user state kept between a user's rows, dropped when the user is done.
    pub contexts: Mutex<FastMap<String, UserContext>>,
    /// Stops the run after identical refusals in a row (the apply phase only).
    pub breaker: Option<Arc<Breaker>>,
    /// The cloud whose Graph the rows are planned for (`--cloud`).
    pub cloud: crate::auth::Cloud,
    /// Where issued QR codes and PINs go (`--secrets-out`).
    pub secrets: Option<Arc<crate::plan::SecretsDir>>,
    /// `--secrets-out` was given (a dry run does not create the folder).
    pub secrets_out_given: bool,
    /// Where a dry run puts each planned row: the `--plan-out` file, or the plan a run keeps
    /// for its own apply.
    pub plan_out: Option<Arc<dyn PlanSink>>,
}

impl RowWork {
    fn applier(&self, seq: u64) -> Applier<'_, Executor> {
        let mut applier = Applier::new(&self.exec)
            .dry_run(self.dry_run)
            .tap_out_given(self.tap_out_given)
            .clock(self.now)
            .rules(self.rules.clone())
            .strict(self.strict)
            .cloud(self.cloud);
        if let Some(taps) = &self.taps {
            applier = applier.tap_sink(taps.as_ref());
        }
        if let Some(secrets) = &self.secrets {
            applier = applier.secret_sink(secrets.as_ref());
        }
        applier
            .secrets_out_given(self.secrets_out_given)
            .plan_out(self.plan_out.as_deref(), seq)
    }

    /// For a user an earlier run began who is no longer enumerated: the `skipped` record when a
    /// direct read of the user by object id answers 404 (the user left the tenant). `None` when
    /// the user is still there (only no longer listed): the row is finished like any other.
    async fn gone(&self, op: &Operation, id: &str) -> Option<Record> {
        match self
            .exec
            .call(&op.user_key(), requests::resolve_user(id))
            .await
        {
            Err(error) if error.status == Some(404) => {
                let mut record = base_record(op, Some(id));
                record.step = Change::ReadUser;
                record.status = Some(Status::Skipped);
                record.http_status = Some(404);
                record.error_code = Some(USER_GONE.into());
                record.error_message = Some(GONE_REASON.into());
                record.request_id = error.request_id;
                Some(record)
            }
            _ => None,
        }
    }

    async fn send(&self, seq: u64, record: Record) {
        let _ = self
            .events
            .send(Event::Finished {
                seq,
                record: Box::new(record),
            })
            .await;
    }

    /// Run one row (`planned`: as a saved plan holds it); false when it was cut short by an
    /// interruption (not journaled as done).
    async fn run_op(
        &self,
        seq: u64,
        op: Operation,
        user_id: Option<String>,
        planned: Option<Box<PlannedRow>>,
    ) -> bool {
        let key = op.user_key();
        // A planned row names its user by object id: not resolved again.
        let user_id = user_id.or_else(|| planned.as_ref().map(|p| p.user_id.clone()));
        let mut context = self.take_context(&key, &op, user_id);
        let applier = self.applier(seq).saved(planned.as_deref());
        if let Some(record) = self.exclusion(&applier, &mut context, &op).await {
            self.send(seq, record).await;
            return true;
        }
        let resumed = self.resume.as_deref();
        if issued_before(&op, resumed, seq) {
            return true;
        }
        if let Some(record) = self
            .secret_issued_before(&applier, &mut context, &op, seq)
            .await
        {
            // The row ends here, not re-planned, but it may still owe records: a step an earlier
            // killed run sent without its record reaching the journal (the run after it re-read
            // the state, found it done and would have reported it at the end of the row, but
            // was killed after starting the pass). The pass is a row's last step, started only
            // after every earlier step of that re-read plan was recorded, so each step still
            // open beside it was done.
            let mut row = RowResume::new(resumed, seq);
            row.keep(&record);
            let owed = row.owed(&base_record(&op, context.user_id()), None);
            self.send(seq, record).await;
            for record in owed {
                self.send(seq, record).await;
            }
            self.keep(key, context);
            return true;
        }
        self.plan_and_apply(seq, &op, key, context, applier).await
    }

    /// The user's context an earlier row left, or a new one.
    fn take_context(&self, key: &str, op: &Operation, user_id: Option<String>) -> UserContext {
        let context = self.contexts.lock().ok().and_then(|mut c| c.remove(key));
        context.unwrap_or_else(|| match user_id {
            Some(id) => UserContext::resolved(op.user.clone(), id),
            None => UserContext::new(op.user.clone()),
        })
    }

    /// The `excluded` record of a row whose user is excluded (as named, or by object id).
    async fn exclusion(
        &self,
        applier: &Applier<'_, Executor>,
        context: &mut UserContext,
        op: &Operation,
    ) -> Option<Record> {
        if let Some(reason) = self.exclusions.reason(&op.user) {
            return Some(excluded(op, None, reason));
        }
        if self.exclusions.is_empty() {
            return None;
        }
        let id = applier.resolve_user(context).await?;
        let reason = self.exclusions.reason(&id)?;
        Some(excluded(op, Some(id), reason))
    }

    /// The record of a QR code and PIN, or a pass, an interrupted earlier run started for this
    /// row and the tenant shows issued.
    async fn secret_issued_before(
        &self,
        applier: &Applier<'_, Executor>,
        context: &mut UserContext,
        op: &Operation,
        seq: u64,
    ) -> Option<Record> {
        let starts = self.resume.as_deref()?.open_starts.get(&seq)?;
        let qr_started = starts
            .iter()
            .find(|(step, _)| matches!(step, Change::IssueQrPin | Change::ResetQrPin))
            .cloned();
        if let Some((step, at)) = qr_started
            && let Some(record) = self.qr_issued_before(applier, context, op, step, at).await
        {
            return Some(record);
        }
        let (_, at) = starts.iter().find(|(step, _)| *step == Change::IssueTap)?;
        self.tap_issued_before(applier, context, op, *at).await
    }

    /// Plan the row and apply it (or only plan it, in a dry run or when an earlier attempt
    /// failed), then send the records an earlier run still owes.
    async fn plan_and_apply(
        &self,
        seq: u64,
        op: &Operation,
        key: String,
        mut context: UserContext,
        applier: Applier<'_, Executor>,
    ) -> bool {
        let resumed = self.resume.as_deref();
        let mut sink = RowSink {
            seq,
            events: &self.events,
            journal: !self.dry_run,
            resume: RowResume::new(resumed, seq),
            buffer: Vec::new(),
            action: None,
            revoked_or_failed: false,
            shutdown: self.exec.shutdown().clone(),
            breaker: self.breaker.clone(),
        };
        // A row whose earlier attempt failed is finished: plan it only, for its owed records.
        let applier = applier.dry_run(self.dry_run || sink.resume.failed_before());
        applier.apply_op(&mut context, op, &mut sink).await;
        let planned_against = context.take_planned_against();
        if !self.dry_run && owes_revoke(op, resumed, seq, &sink) {
            // The interrupted run deleted the methods but stopped before the revoke: re-planned
            // against the reset state, the row is unchanged and would never revoke.
            let revoke = Operation {
                action: Action::RevokeSessions,
                ..op.clone()
            };
            sink.action = Some(op.action.name());
            applier.apply_op(&mut context, &revoke, &mut sink).await;
        }
        sink.flush().await;
        let base = base_record(op, context.user_id());
        for record in sink.resume.owed(&base, planned_against.as_ref()) {
            self.send(seq, record).await;
        }
        // A planned-only row's context holds effects that never happened: not for the next row.
        if !sink.resume.failed_before() {
            self.keep(key, context);
        }
        !sink.resume.interrupted()
    }

    fn keep(&self, key: String, context: UserContext) {
        if let Ok(mut contexts) = self.contexts.lock() {
            contexts.insert(key, context);
        }
    }

    /// A resumed row whose QR code PIN method was being created (or whose PIN was being reset)
    /// when the earlier run stopped: if the method was created (its PIN updated) since, the
    /// secret was issued; it is never issued again. `ok` when it reached an earlier
    /// `--secrets-out` folder, else `failed` / `qrPinValueLost`. `None` when nothing was issued
    /// (the row runs normally).
    async fn qr_issued_before(
        &self,
        applier: &Applier<'_, Executor>,
        context: &mut UserContext,
        op: &Operation,
        step: Change,
        started: DateTime<Utc>,
    ) -> Option<Record> {
        let id = applier.resolve_user(context).await?;
        let mut record = base_record(op, Some(&id));
        record.step = step.clone();
        // Clocks differ: a change up to a minute before the start counts.
        let since = started - chrono::Duration::minutes(1);
        let issued = match self.exec.call(&op.user, qr_pin::read(&id)).await {
            Ok(response) => match step {
                Change::IssueQrPin => qr_pin::parse_created_time(&response.body),
                _ => qr_pin::parse_pin_updated(&response.body),
            }
            .filter(|at| *at >= since)?,
            // No method: nothing was created (a reset has nothing to reset; planned again, the
            // row says so).
            Err(error) if error.status == Some(404) => return None,
            Err(error) => {
                record.status = Some(Status::Failed);
                record.http_status = error.status;
                record.error_code = Some(error.code.clone());
                record.error_message = Some(format!(
                    "the interrupted run may have issued a QR code or PIN; it could not be \
                     checked: {}",
                    error.message
                ));
                record.request_id = error.request_id.clone();
                return Some(record);
            }
        };
        let what = match step {
            Change::IssueQrPin => "QR code PIN method created",
            _ => "PIN reset",
        };
        let folders = self.resume.as_deref().map(|r| r.secrets_outs.as_slice());
        if let Some(folder) = folders.and_then(|f| secrets_out::delivered_in(f, &id, started)) {
            record.status = Some(Status::Ok);
            record.after = format!(
                "{what} by the interrupted run at {issued}; its secret is in {}",
                folder.display()
            );
            return Some(record);
        }
        record.status = Some(Status::Failed);
        record.error_code = Some("qrPinValueLost".into());
        record.error_message = Some(format!(
            "{what} by the interrupted run at {issued}, but its secret never reached \
             --secrets-out; it was not issued again ({})",
            match step {
                Change::IssueQrPin => "issue a new one with --replace",
                _ => "reset the PIN again with a new row",
            }
        ));
        Some(record)
    }

    /// A resumed row whose pass was being issued when the earlier run stopped: if the user has a
    /// pass created since, it was issued and its value is lost; never issue a second one
    /// blindly. `None` when no such pass exists (the row runs normally).
    async fn tap_issued_before(
        &self,
        applier: &Applier<'_, Executor>,
        context: &mut UserContext,
        op: &Operation,
        started: DateTime<Utc>,
    ) -> Option<Record> {
        let id = applier.resolve_user(context).await?;
        let request = requests::list_taps(&id);
        let mut record = base_record(op, Some(&id));
        record.step = Change::IssueTap;
        match self.exec.call(&op.user, request).await {
            Ok(response) => {
                let created_since = methods::parse_pass_created_times(&response.body)
                    .into_iter()
                    // Clocks differ: a pass created up to a minute before the start counts.
                    .find(|created| *created >= started - chrono::Duration::minutes(1))?;
                let files = self.resume.as_deref().map(|r| r.tap_outs.as_slice());
                if let Some(file) = files.and_then(|f| tap_delivered_in(f, &id, started)) {
                    record.status = Some(Status::Ok);
                    record.after = format!(
                        "pass created by the interrupted run at {created_since}; it is in {}",
                        file.display()
                    );
                    return Some(record);
                }
                record.status = Some(Status::Failed);
                record.error_code = Some("tapValueLost".into());
                record.error_message = Some(format!(
                    "a temporary access pass was created at {created_since} by the interrupted \
                     run, but its value was lost; it was not issued again (issue a new one with \
                     a new row if needed)"
                ));
            }
            Err(error) => {
                record.status = Some(Status::Failed);
                record.http_status = error.status;
                record.error_code = Some(error.code.clone());
                record.error_message = Some(format!(
                    "the interrupted run may have issued a pass; it could not be checked: {}",
                    error.message
                ));
                record.request_id = error.request_id.clone();
            }
        }
        Some(record)
    }
}

impl UserWork for RowWork {
    type Item = Row;
    type Output = Event;

    fn user_key(&self, row: &Row) -> String {
        match &row.kind {
            RowKind::Op(op) => op.user_key(),
            // Rows without a user run on their own.
            _ => format!("\u{0}row{}", row.seq),
        }
    }

    async fn run(&self, row: Row) -> Event {
        let seq = row.seq;
        if self.resume.as_deref().is_some_and(|r| r.row_done(seq)) {
            return Event::RowDone { seq };
        }
        if let (Some(id), RowKind::Op(op)) = (&row.user_id, &row.kind) {
            // Enumerated: the journal ties the row to the user's object id before any step.
            if !self.dry_run {
                let _ = self
                    .events
                    .send(Event::User {
                        seq,
                        id: id.clone(),
                        user: op.user.clone(),
                    })
                    .await;
            }
            if row.check_gone
                && let Some(record) = self.gone(op, id).await
            {
                // One record for a user who left before being handled; a user with records
                // already keeps just those (what was done stays reported, once).
                if !self.resume.as_deref().is_some_and(|r| r.row_touched(seq)) {
                    self.send(seq, record).await;
                }
                return Event::RowDone { seq };
            }
        }
        match row.kind {
            RowKind::Op(op) => {
                if !self.run_op(seq, op, row.user_id, row.planned).await {
                    return Event::RowInterrupted;
                }
            }
            RowKind::Invalid { row, why } => {
                let record = Record {
                    row,
                    step: Change::ValidateRow,
                    status: Some(Status::Skipped),
                    error_code: Some("invalidRow".into()),
                    error_message: Some(why),
                    ..Record::default()
                };
                self.send(seq, record).await;
            }
            RowKind::EnumerationFailed { error } => {
                let record = Record {
                    row: seq + 1,
                    step: Change::EnumerateTargets,
                    status: Some(Status::Failed),
                    http_status: error.status,
                    error_code: Some(error.code.clone()),
                    error_message: Some(error.message.clone()),
                    request_id: error.request_id.clone(),
                    attempts: error.attempts,
                    ..Record::default()
                };
                self.send(seq, record).await;
            }
        }
        Event::RowDone { seq }
    }

    fn cancelled(&self, row: Row) -> Event {
        let mut record = match &row.kind {
            RowKind::Op(op) => base_record(op, None),
            RowKind::Invalid { row, .. } => Record {
                row: *row,
                ..Record::default()
            },
            RowKind::EnumerationFailed { .. } => Record::default(),
        };
        record.step = Change::NotStarted;
        record.status = Some(Status::Cancelled);
        record.error_message = Some("interrupted before it ran".into());
        Event::Cancelled {
            record: Box::new(record),
        }
    }

    fn user_done(&self, key: &str) {
        if let Ok(mut contexts) = self.contexts.lock() {
            contexts.remove(key);
        }
    }
}

/// True when an earlier run recorded the step that ends this row, a step issued exactly once
/// per row: a pass, a revocation (no state shows it done), a QR code or PIN (re-planned, a
/// `--replace` row would replace the method it created, a reset would reset again).
fn issued_before(op: &Operation, resumed: Option<&Resume>, seq: u64) -> bool {
    let done = |steps: &[Change]| {
        resumed.is_some_and(|r| {
            let done = r.done_steps(seq);
            steps.iter().any(|step| done.contains(step))
        })
    };
    match &op.action {
        Action::IssueTap(_) => done(&[Change::IssueTap]),
        Action::RevokeSessions => done(&[Change::RevokeSessions]),
        action if action.issues_qr_secret() => done(&[Change::IssueQrPin, Change::ResetQrPin]),
        _ => false,
    }
}

/// The record fields every record of `op` shares.
fn base_record(op: &Operation, user_id: Option<&str>) -> Record {
    Record {
        row: op.row,
        user: op.user.clone(),
        user_id: user_id.map(str::to_string),
        action: op.action.name().to_string(),
        extra: op.extra.clone(),
        ..Record::default()
    }
}

fn excluded(op: &Operation, user_id: Option<String>, reason: String) -> Record {
    let mut record = base_record(op, user_id.as_deref());
    record.step = match op.action {
        Action::List => Change::ReadMethods,
        _ => Change::AllSteps,
    };
    record.status = Some(Status::Skipped);
    record.error_code = Some("excluded".into());
    record.error_message = Some(reason);
    record
}

/// A row's records on their way to the collector. In a dry run a row's records are sent
/// together, so the printed plan shows them together.
struct RowSink<'a> {
    seq: u64,
    events: &'a mpsc::Sender<Event>,
    journal: bool,
    /// What an earlier run left of this row (`--resume`), and what this run reported of it.
    resume: RowResume,
    buffer: Vec<Record>,
    /// The action name records carry when a step runs on behalf of the row's action.
    action: Option<&'static str>,
    /// This attempt reported a revoke, or a failure (which skips the rest of the row).
    revoked_or_failed: bool,
    /// The run's shutdown: entered when a start cannot be journaled, or by the breaker.
    shutdown: Shutdown,
    /// Counts refusals in a row.
    breaker: Option<Arc<Breaker>>,
}

/// A resumed `reset-mfa` row with `revoke_sessions` whose deletes were done by the interrupted
/// run, but whose revoke was neither done then nor reported now.
fn owes_revoke(op: &Operation, resumed: Option<&Resume>, seq: u64, sink: &RowSink<'_>) -> bool {
    let Action::ResetMfa {
        revoke_sessions: true,
        ..
    } = op.action
    else {
        return false;
    };
    let done = resumed.map(|r| r.done_steps(seq)).unwrap_or(&[]);
    !sink.revoked_or_failed
        && done.iter().any(Change::is_delete)
        && !done.contains(&Change::RevokeSessions)
}

impl RowSink<'_> {
    async fn flush(&mut self) {
        if !self.buffer.is_empty() {
            let records = std::mem::take(&mut self.buffer);
            let _ = self.events.send(Event::Planned { records }).await;
        }
    }
}

impl Records for RowSink<'_> {
    async fn record(&mut self, mut record: Record) {
        if let Some(action) = self.action {
            record.action = action.to_string();
        }
        self.revoked_or_failed |=
            record.step == Change::RevokeSessions || record.status == Some(Status::Failed);
        let record = self.resume.after_failure(record);
        if !self.resume.keep(&record) {
            return;
        }
        if record.status == Some(Status::Planned) {
            self.buffer.push(record);
            return;
        }
        if record.status == Some(Status::Cancelled) {
            // Reported, but not journaled: `--resume` runs the step.
            let _ = self
                .events
                .send(Event::Cancelled {
                    record: Box::new(record),
                })
                .await;
            return;
        }
        if let Some(breaker) = &self.breaker
            && breaker.observe(&record)
        {
            // No write after this one: the rest of the job would be refused the same way.
            self.shutdown.enter(Phase::Draining);
        }
        let _ = self
            .events
            .send(Event::Finished {
                seq: self.seq,
                record: Box::new(record),
            })
            .await;
    }

    async fn before_write(&mut self, step: &Change) {
        if !self.journal {
            return;
        }
        self.resume.started(step);
        let (ack, acked) = oneshot::channel();
        let started = Event::Started {
            seq: self.seq,
            step: step.clone(),
            at: Utc::now(),
            ack,
        };
        let durable = self.events.send(started).await.is_ok() && acked.await.is_ok();
        if !durable {
            // The journal could not record the start (a full disk, an I/O error): no write may
            // go without its note. Stop the run; the executor then cancels this write and every
            // other one not yet sent.
            self.shutdown.enter(Phase::Draining);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{MethodType, PhoneType};
    use crate::plan::change::MethodName;
    use crate::report::Journal;

    fn op(revoke_sessions: bool) -> Operation {
        Operation {
            row: 1,
            line: 2,
            user: "user00001@contoso.onmicrosoft.com".into(),
            action: Action::ResetMfa {
                revoke_sessions,
                issue_tap: None,
            },
            extra: Vec::new(),
            expected_upn: None,
        }
    }

    /// A resume of one row (seq 0) whose earlier run finished these steps.
    fn resumed(done: &[Change]) -> Resume {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv.journal");
        let mut journal = Journal::create(&path, "job").unwrap();
        for step in done {
            let record = Record {
                row: 1,
                step: step.clone(),
                status: Some(Status::Ok),
                ..Record::default()
            };
            journal.done(0, &record).unwrap();
        }
        journal.sync().unwrap();
        drop(journal);
        Journal::resume(&path, "job").unwrap().1
    }

    #[tokio::test]
    async fn a_reset_interrupted_after_its_deletes_still_owes_its_revoke() {
        let (events, _received) = mpsc::channel(8);
        let sink = |resume: &Resume| RowSink {
            seq: 0,
            events: &events,
            journal: true,
            resume: RowResume::new(Some(resume), 0),
            buffer: Vec::new(),
            action: None,
            revoked_or_failed: false,
            shutdown: Shutdown::new(),
            breaker: None,
        };
        let key = Change::DeleteMethod {
            method: MethodName::Known(MethodType::Fido2),
            id: "k1".into(),
        };
        let mobile = Change::DeletePhone {
            phone_type: PhoneType::Mobile,
        };
        let deleted = resumed(&[key.clone(), mobile]);
        assert!(owes_revoke(&op(true), Some(&deleted), 0, &sink(&deleted)));
        assert!(!owes_revoke(&op(false), Some(&deleted), 0, &sink(&deleted)));
        let revoked = resumed(&[key, Change::RevokeSessions]);
        assert!(!owes_revoke(&op(true), Some(&revoked), 0, &sink(&revoked)));
        let untouched = resumed(&[]);
        assert!(!owes_revoke(
            &op(true),
            Some(&untouched),
            0,
            &sink(&untouched)
        ));
        assert!(!owes_revoke(&op(true), None, 0, &sink(&untouched)));
        let mut revoked_now = sink(&deleted);
        revoked_now.revoked_or_failed = true;
        assert!(!owes_revoke(&op(true), Some(&deleted), 0, &revoked_now));
    }
}
