//! The per-row runner of the [`Applier`]: one of a user's operations from the row to its
//! records. [`Applier::apply_op`] refuses what the cloud or the flags forbid, resolves the
//! user once per [`UserContext`], reads the state (reused until a write
//! changes it), plans the row ([`crate::plan::desired`]), then reports the plan (dry run) or
//! runs the steps in order ([`Applier::run_steps`]): each step is sent by
//! [`super::send`], a failed step skips the rest of the row, and a delete refused as the
//! default method while other deletes remain is retried after them.

use std::collections::VecDeque;
use std::time::Instant;

use super::records::{
    NOT_IN_CLOUD, base_record, fill_failure, refusal_record, refused_as_default, refused_step,
    wants_tap, wire_failure,
};
use super::{Applier, Needs, Read, Records, UserContext};
use crate::graph::cloud::Capability;
use crate::graph::{ErrorKind, GraphCall, GraphError, methods, requests};
use crate::job::{Action, Operation};
use crate::plan::change::Change;
use crate::plan::desired;
use crate::plan::file;
use crate::plan::state::UserState;
use crate::plan::step::{Plan, Step};
use crate::report::{Record, Status};

impl<G: GraphCall> Applier<'_, G> {
    /// Carry out (or, in a dry run, plan) `ops`, all for the user `user` (as the job names
    /// them), in order; one record per step or per row without steps goes to `out`. The same
    /// as [`Applier::apply_op`] for each operation with one [`UserContext`].
    pub async fn apply_user<R: Records>(&self, user: &str, ops: &[Operation], out: &mut R) {
        let mut context = UserContext::new(user);
        // One read covers every row when it is made for all of them.
        context.needs = ops
            .iter()
            .map(|op| Needs::of(&op.action))
            .fold(Needs::default(), Needs::union);
        for op in ops {
            self.apply_op(&mut context, op, out).await;
        }
    }

    /// Carry out (or plan) one operation of the context's user. Call it for each of a user's
    /// rows in job order with the same context: the user is resolved once, a state read is
    /// reused until a write changes it, and in a dry run each row is planned against the state
    /// the earlier rows' planned steps lead to (so the plan's totals equal the apply's).
    pub async fn apply_op<R: Records>(
        &self,
        context: &mut UserContext,
        op: &Operation,
        out: &mut R,
    ) {
        context.planned_against = None;
        if let Some(record) = self.cloud_refusal(context, op) {
            out.record(record).await;
            return;
        }
        let Some(user_id) = self.user_id_of(context, op, out).await else {
            return;
        };
        if let Some(record) = self.refusal_for_user(context, op, &user_id) {
            out.record(record).await;
            return;
        }
        let user = context.user.clone();
        if matches!(
            op.action,
            Action::AssignOathToken { .. } | Action::UnassignOathToken { .. }
        ) {
            self.apply_oath(&user, &user_id, op, out).await;
            if !self.dry_run {
                // The user's methods changed (or may have): the next row reads them again.
                context.cached = None;
            }
            return;
        }
        let needs = context.needs.union(Needs::of(&op.action));
        let read = match self.state_for(context, &user, &user_id, needs).await {
            Ok(read) => read,
            Err((change, error)) => {
                let mut record = base_record(op, Some(&user_id));
                fill_failure(&mut record, change, &error, error.attempts);
                out.record(record).await;
                return;
            }
        };
        if let (Action::SetDefault { .. }, None, Some(error)) =
            (&op.action, &read.state.preferences, &read.preferences_error)
        {
            let mut record = base_record(op, Some(&user_id));
            fill_failure(&mut record, Change::ReadPreferences, error, error.attempts);
            out.record(record).await;
            context.cached = Some((read, needs));
            return;
        }
        self.plan_row(context, op, &user_id, read, needs, out).await;
    }

    /// The `notInCloud` record of a row whose action the run's cloud does not offer.
    fn cloud_refusal(&self, context: &UserContext, op: &Operation) -> Option<Record> {
        let capability = Capability::needed_by(&op.action)?;
        if capability.offered_in(self.cloud) {
            return None;
        }
        let mut record = base_record(op, context.user_id());
        record.step = refused_step(&op.action);
        record.status = Some(Status::Failed);
        record.error_code = Some(NOT_IN_CLOUD.into());
        record.error_message = Some(capability.refusal(self.cloud));
        Some(record)
    }

    /// The user's object id, resolved once per context; `None` after recording why the user
    /// cannot be read (or when the resolve was cancelled).
    async fn user_id_of<R: Records>(
        &self,
        context: &mut UserContext,
        op: &Operation,
        out: &mut R,
    ) -> Option<String> {
        if context.user_id.is_none() {
            let user = context.user.clone();
            self.resolve_into(context, &user).await;
        }
        let error = match context.user_id.as_ref()? {
            Ok(id) => return Some(id.clone()),
            Err(error) => error.clone(),
        };
        let mut record = base_record(op, None);
        fill_failure(&mut record, Change::ReadUser, &error, error.attempts);
        if error.kind == ErrorKind::NotFound {
            record.error_message = Some(format!("no such user in the tenant: {}", error.message));
        }
        out.record(record).await;
        // A cancelled resolve is tried again for a later row; a refusal is final.
        if error.kind == ErrorKind::Cancelled {
            context.user_id = None;
        }
        None
    }

    /// The record of a row refused before its user's state is read: a UPN that is not the
    /// user's, or a secret (a pass, a QR code and PIN) with nowhere to go.
    fn refusal_for_user(
        &self,
        context: &UserContext,
        op: &Operation,
        user_id: &str,
    ) -> Option<Record> {
        let refused = |step: Change, code: &str, message: String| {
            let mut record = base_record(op, Some(user_id));
            record.step = step;
            record.status = Some(Status::Failed);
            record.error_code = Some(code.into());
            record.error_message = Some(message);
            Some(record)
        };
        // A job that names the user by id and also gives a UPN (a Get-MgUser export) means
        // that person: a different UPN says the row is not about the user the admin thinks.
        if let (Some(expected), Some(actual)) = (&op.expected_upn, &context.upn)
            && !expected.eq_ignore_ascii_case(actual)
        {
            let message = format!(
                "the user with id {} is {actual}, not {expected} as the job's \
                 UserPrincipalName says: nothing was changed for this row",
                op.user
            );
            return refused(Change::ReadUser, "upnMismatch", message);
        }
        let can_deliver = self.taps.is_some() || (self.dry_run && self.tap_out_given);
        if wants_tap(&op.action) && !can_deliver {
            let message = "--tap-out is required: a temporary access pass is a secret that goes \
                           only to the --tap-out file";
            return refused(Change::IssueTap, "tapOutRequired", message.into());
        }
        let can_deliver_qr = self.secrets.is_some() || (self.dry_run && self.secrets_out_given);
        if op.action.issues_qr_secret() && !can_deliver_qr {
            let message = "--secrets-out is required: a QR code and its PIN are secrets that go \
                           only to the --secrets-out folder";
            return refused(
                refused_step(&op.action),
                "secretsOutRequired",
                message.into(),
            );
        }
        None
    }

    /// The user's state covering `needs`: the context's cached read when it covers them, else
    /// read again (with a dry run's earlier planned effects replayed on it).
    async fn state_for(
        &self,
        context: &mut UserContext,
        user: &str,
        user_id: &str,
        needs: Needs,
    ) -> Result<Read, (Change, GraphError)> {
        if let Some((read, covered)) = context.cached.take()
            && covered.union(needs) == covered
        {
            return Ok(read);
        }
        // The run's own plan, made moments ago against this read: not read again.
        if let Some(kept) = self.saved.and_then(|s| s.read.as_ref())
            && !context.wrote
            && context.planned.is_empty()
        {
            return Ok(Read {
                state: kept.clone(),
                preferences_error: None,
                from_plan: true,
            });
        }
        let mut read = self.read(user, user_id, needs).await?;
        // A dry run's earlier rows changed nothing in the tenant: replay them.
        for effect in &context.planned {
            read.state.apply(effect);
        }
        Ok(read)
    }

    /// Plan the row against `read`, report or run its steps, and keep what the next row of the
    /// user may reuse.
    async fn plan_row<R: Records>(
        &self,
        context: &mut UserContext,
        op: &Operation,
        user_id: &str,
        mut read: Read,
        needs: Needs,
        out: &mut R,
    ) {
        let user = context.user.clone();
        context.planned_against = Some(read.state.clone());
        let mut plan = desired::plan_with(&op.action, &read.state, self.now(), &self.rules);
        if let Some(saved) = self.saved {
            let (kept, drifted) = saved_or_drifted(context, saved, &read.state, plan);
            plan = kept;
            if let Some(why) = drifted {
                let mut record = base_record(op, Some(user_id));
                record.step = Change::ReadMethods;
                record.status = Some(Status::Skipped);
                record.error_code = Some(file::DRIFTED.into());
                record.error_message = Some(format!("drifted: re-planned ({why})"));
                record.before = steps_text(&saved.steps);
                record.after = steps_text(plan.steps());
                out.record(record).await;
            }
        }
        if self.dry_run
            && let Some(sink) = self.plan_out
        {
            let after_earlier_rows = !context.planned.is_empty();
            // A run's own plan keeps the state itself: planning is pure, so the same state, clock
            // and rules give the same steps again, and neither steps nor a digest are kept.
            let kept = sink.keeps_state() && !after_earlier_rows;
            sink.row(
                self.seq,
                file::PlannedRow {
                    row: op.row,
                    line: op.line,
                    user: op.user.clone(),
                    user_id: user_id.to_string(),
                    action: op.action.clone(),
                    extra: op
                        .extra
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect(),
                    state: match kept {
                        true => file::StateDigest::default(),
                        false => file::StateDigest::of(&read.state),
                    },
                    after_earlier_rows,
                    steps: match kept {
                        true => Vec::new(),
                        false => plan.steps().to_vec(),
                    },
                    read: kept.then(|| read.state.clone()),
                },
            );
        }
        let steps = plan.steps().to_vec();
        if !self.dry_run && !steps.is_empty() {
            context.wrote = true;
        }
        let conflict = self.emit_plan(&user, user_id, op, plan, &read, out).await;
        if conflict {
            // A write the run's own plan asked for met a conflict: the user changed since the
            // plan was made. Read the user now, plan again and apply that plan.
            context.cached = None;
            context.wrote = true;
            match self.read(&user, user_id, needs).await {
                Ok(read) => {
                    let plan = desired::plan_with(&op.action, &read.state, self.now(), &self.rules);
                    context.planned_against = Some(read.state.clone());
                    self.emit_plan(&user, user_id, op, plan, &read, out).await;
                }
                Err((change, error)) => {
                    let mut record = base_record(op, Some(user_id));
                    fill_failure(&mut record, change, &error, error.attempts);
                    out.record(record).await;
                }
            }
            return;
        }
        if steps.is_empty() {
            context.cached = Some((read, needs));
        } else if self.dry_run {
            for step in &steps {
                read.state.apply(&step.effect);
                context.planned.push(step.effect.clone());
            }
            context.cached = Some((read, needs));
        }
        // After real writes the state is whatever Graph now holds: the next row reads it.
    }

    /// Resolve the context's user to its object id (once per context) and return it; `None`
    /// when the user cannot be read (the next [`apply_op`](Self::apply_op) reports why).
    pub async fn resolve_user(&self, context: &mut UserContext) -> Option<String> {
        if context.user_id.is_none() {
            let user = context.user.clone();
            self.resolve_into(context, &user).await;
        }
        context.user_id().map(str::to_string)
    }

    /// Resolve `user` into the context: its object id, and the UPN Graph gives it.
    async fn resolve_into(&self, context: &mut UserContext, user: &str) {
        let resolved = self.resolve(user).await;
        context.upn = resolved.as_ref().ok().and_then(|(_, upn)| upn.clone());
        context.user_id = Some(resolved.map(|(id, _)| id));
    }

    /// GET the user's object id and UPN (`/users/{u}?$select=id,userPrincipalName`), refusing an
    /// answer for anyone but the user the row names.
    async fn resolve(&self, user: &str) -> Result<(String, Option<String>), GraphError> {
        let response = self.graph.call(user, requests::resolve_user(user)).await?;
        methods::check_user(&response.body, user).map_err(|e| GraphError {
            code: "userMismatch".into(),
            ..wire_failure(e, &response)
        })?;
        methods::parse_user(&response.body).map_err(|e| wire_failure(e, &response))
    }

    /// Read the user's methods (and `signInPreferences` when needed).
    pub(super) async fn read(
        &self,
        user: &str,
        user_id: &str,
        needs: Needs,
    ) -> Result<Read, (Change, GraphError)> {
        let response = self
            .graph
            .call(user, requests::read_methods(user_id, needs.beta))
            .await
            .map_err(|e| (Change::ReadMethods, e))?;
        let methods = methods::parse_methods(&response.body)
            .map_err(|e| (Change::ReadMethods, wire_failure(e, &response)))?;
        let mut read = Read {
            state: UserState {
                methods,
                preferences: None,
            },
            preferences_error: None,
            from_plan: false,
        };
        if needs.preferences {
            match self
                .graph
                .call(user, requests::read_preferences(user_id))
                .await
            {
                Ok(response) => match methods::parse_preferences(&response.body) {
                    Ok(prefs) => read.state.preferences = Some(prefs),
                    Err(e) => read.preferences_error = Some(wire_failure(e, &response)),
                },
                Err(e) if e.kind == ErrorKind::Cancelled => {
                    return Err((Change::ReadPreferences, e));
                }
                // Unreadable preferences (403 without the permission, 400 for some accounts):
                // reset-mfa orders by heuristics and retries a refused default delete.
                Err(e) => read.preferences_error = Some(e),
            }
        }
        Ok(read)
    }

    /// Report a plan (dry run) or carry it out. True when a step of a plan made against a state not read now (`read.from_plan`) met a
    /// conflict (400, 404, 409): its record says so, and the rest of the plan was not sent.
    pub(super) async fn emit_plan<R: Records>(
        &self,
        user: &str,
        user_id: &str,
        op: &Operation,
        plan: Plan,
        read: &Read,
        out: &mut R,
    ) -> bool {
        let state = &read.state;
        match plan {
            Plan::Unchanged { step, state } => {
                let mut record = base_record(op, Some(user_id));
                record.step = step;
                record.status = Some(Status::Unchanged);
                record.before = state.clone();
                record.after = state;
                out.record(record).await;
            }
            Plan::Refused(refusal) => {
                out.record(refusal_record(op, user_id, refusal, self.strict))
                    .await;
            }
            Plan::Listing(listed) => {
                for item in listed {
                    let mut record = base_record(op, Some(user_id));
                    record.step = item.step;
                    record.status = Some(Status::Ok);
                    record.before = item.description;
                    out.record(record).await;
                }
            }
            Plan::Changes {
                steps,
                blocked,
                undated,
            } => {
                if self.dry_run {
                    for step in steps {
                        let mut record = base_record(op, Some(user_id));
                        record.step = step.change;
                        record.status = Some(Status::Planned);
                        record.before = step.before;
                        record.after = step.after;
                        out.record(record).await;
                    }
                } else {
                    let conflict = self
                        .run_steps(user, user_id, op, steps, state, read.from_plan, out)
                        .await;
                    if conflict {
                        return true;
                    }
                }
                for refusal in blocked {
                    out.record(refusal_record(op, user_id, refusal, self.strict))
                        .await;
                }
                if let Some(undated) = undated {
                    let mut record = base_record(op, Some(user_id));
                    record.step = undated.change();
                    record.status = Some(Status::Unchanged);
                    record.before = undated.describe();
                    record.after = record.before.clone();
                    out.record(record).await;
                }
            }
        }
        false
    }

    /// Run a row's steps in order. With `from_plan` (the state was not read now), a step
    /// answered 400, 404 or 409 ends the row's steps with a `skipped` / `drifted` record of
    /// it, and true: the caller reads the user again and plans anew.
    #[allow(clippy::too_many_arguments)]
    async fn run_steps<R: Records>(
        &self,
        user: &str,
        user_id: &str,
        op: &Operation,
        steps: Vec<Step>,
        state: &UserState,
        from_plan: bool,
        out: &mut R,
    ) -> bool {
        // (step, deletes done when it was last deferred, attempts so far)
        let mut queue: VecDeque<(Step, Option<usize>, u32)> =
            steps.into_iter().map(|s| (s, None, 0)).collect();
        let mut deletes_done = 0usize;
        let mut stop: Option<(Status, &'static str)> = None;
        while let Some((step, deferred_at, earlier_attempts)) = queue.pop_front() {
            let mut record = base_record(op, Some(user_id));
            record.step = step.change.clone();
            record.before = step.before.clone();
            record.after = step.after.clone();
            if let Some((status, why)) = stop {
                record.status = Some(status);
                record.error_message = Some(why.into());
                out.record(record).await;
                continue;
            }
            out.before_write(&step.change).await;
            let started = Instant::now();
            let result = self.run_step(user, user_id, &op.extra, &step, state).await;
            record.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            match result {
                Ok(done) => {
                    if step.change.is_delete() {
                        deletes_done += 1;
                    }
                    record.status = Some(Status::Ok);
                    record.attempts = earlier_attempts + done.attempts;
                    record.request_id = done.response.and_then(|r| r.request_id);
                    if let Some(note) = done.note {
                        record.after = note;
                    }
                    out.record(record).await;
                }
                Err(failure)
                    if step.change.is_delete()
                        && refused_as_default(&failure.error)
                        && deferred_at != Some(deletes_done)
                        && queue.iter().any(|(s, _, _)| s.change.is_delete()) =>
                {
                    // Graph refuses to delete the default method while others remain: try it
                    // again after the other deletes (and before revoke / issue pass).
                    let at = queue
                        .iter()
                        .rposition(|(s, _, _)| s.change.is_delete())
                        .map_or(0, |i| i + 1);
                    queue.insert(
                        at,
                        (
                            step,
                            Some(deletes_done),
                            earlier_attempts + failure.attempts,
                        ),
                    );
                }
                Err(failure)
                    if from_plan && matches!(failure.error.status, Some(400 | 404 | 409)) =>
                {
                    let attempts = earlier_attempts + failure.attempts;
                    fill_failure(&mut record, step.change.clone(), &failure.error, attempts);
                    record.status = Some(Status::Skipped);
                    record.error_code = Some(file::DRIFTED.into());
                    record.error_message = Some(format!(
                        "drifted: re-planned (Graph answered {} {}: {}; the user changed since \
                         the plan was made, and was read again)",
                        failure.error.status.unwrap_or_default(),
                        failure.error.code,
                        failure.error.message
                    ));
                    out.record(record).await;
                    return true;
                }
                Err(failure) => {
                    let attempts = earlier_attempts + failure.attempts;
                    fill_failure(&mut record, step.change.clone(), &failure.error, attempts);
                    if failure.error.kind == ErrorKind::Cancelled {
                        record.status = Some(Status::Cancelled);
                        stop = Some((Status::Cancelled, "interrupted before it ran"));
                    } else {
                        stop = Some((Status::Skipped, "earlier step failed"));
                    }
                    out.record(record).await;
                }
            }
        }
        false
    }
}

/// A saved row against the state read now (`authbulk apply`): the plan to apply, and why the
/// row drifted when it did. A row of a run's own plan holds the state it was planned against
/// instead of its steps: planned again from that state, it is the plan shown. The saved steps are kept when the state is the one the plan saw
/// (its [`file::StateDigest`]) and planning it again gives the same steps; a row planned after
/// the user's earlier rows (whose writes this run made, creating methods with new ids) is
/// compared by its steps' changes only, and runs the steps planned now.
fn saved_or_drifted(
    context: &UserContext,
    saved: &file::PlannedRow,
    state: &UserState,
    now: Plan,
) -> (Plan, Option<String>) {
    if saved.read.is_some() {
        // A run's own plan, planned again from the state it kept: the plan it showed.
        return (now, None);
    }
    let after_own = saved.after_earlier_rows || context.wrote;
    if after_own {
        let changes = |steps: &[Step]| steps.iter().map(|s| s.change.clone()).collect::<Vec<_>>();
        if changes(now.steps()) == changes(&saved.steps) {
            return (now, None);
        }
        let why = "its steps, planned again after the user's earlier rows, differ from the plan's";
        return (now, Some(why.into()));
    }
    let changed = saved.state.changes_to(&file::StateDigest::of(state));
    if changed.is_empty() && now.steps() == saved.steps.as_slice() {
        let mut now = now;
        if let Plan::Changes { steps, .. } = &mut now {
            steps.clone_from(&saved.steps);
        }
        return (now, None);
    }
    let why = match changed.is_empty() {
        false => changed,
        true => "the same state now plans other steps (a method's last use, or the \
                 authentication methods policy, changed)"
            .into(),
    };
    (now, Some(why))
}

/// `2 step(s): delete phone mobile, revoke sessions`, or `no step`.
fn steps_text(steps: &[Step]) -> String {
    if steps.is_empty() {
        return "no step".into();
    }
    let names: Vec<String> = steps.iter().map(|s| s.change.to_string()).collect();
    format!("{} step(s): {}", steps.len(), names.join(", "))
}
