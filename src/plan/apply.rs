//! Carrying plans out. [`Applier::apply_op`] takes one of a user's operations (in job order,
//! with the user's [`UserContext`]), resolves the user's object id once, reads the state, plans
//! the operation ([`super::desired`]) and either reports the plan (dry run: GETs only) or runs
//! the steps one by one through [`GraphCall`], emitting one [`Record`] per step to a
//! [`Records`] sink as each step ends. [`Applier::apply_user`] does the same for a slice of a
//! user's operations. The `run` command calls them per row or per user, users in parallel.
//!
//! Rules it keeps (DESIGN.md, graph-contract.md): a failed step skips the rest of its row; a
//! delete answered 404 has reached the desired state; a write whose answer was lost is checked
//! against a re-read state before it is sent again, and a pass whose create answer was lost is
//! replaced once so that the pass in `--tap-out` is the one that works; a delete refused as the default method while other deletes remain is retried after
//! them; passes go to the [`TapSink`] only; a stable refusal (a default nothing can take over,
//! a type Graph cannot delete, the methods policy) is `skipped`, or `failed` when strict.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::change::Change;
use super::desired;
use super::rules::PlanRules;
use super::secrets_out::{IssuedQrPin, QrContent, SecretSink};
use super::state::UserState;
use super::step::{Effect, Plan, Refusal, Step};
use super::tap_out::{IssuedTap, TapSink};
use crate::auth::Cloud;
use crate::graph::cloud::Capability;
use crate::graph::{
    ApiVersion, ErrorKind, GraphCall, GraphError, Request, Response, methods, qr_pin, requests,
};
use crate::job::{Action, MethodType, Operation, Selector};
use crate::report::{Record, Status};

/// Where the applier sends its records, in order, as steps end. Implemented for a bounded
/// channel to the report collector and for a `Vec` (tests, small tools).
pub trait Records: Send {
    /// Take one record.
    fn record(&mut self, record: Record) -> impl Future<Output = ()> + Send;

    /// Called just before the write of `step` is sent, and awaited: a journal records the start
    /// here (write-ahead), so a resumed run knows the step's outcome must be checked.
    fn before_write(&mut self, step: &Change) -> impl Future<Output = ()> + Send {
        let _ = step;
        std::future::ready(())
    }
}

impl Records for Vec<Record> {
    fn record(&mut self, record: Record) -> impl Future<Output = ()> + Send {
        self.push(record);
        std::future::ready(())
    }
}

impl Records for tokio::sync::mpsc::Sender<Record> {
    async fn record(&mut self, record: Record) {
        // A closed channel means the collector is gone (the run is ending): nothing to keep.
        let _ = self.send(record).await;
    }
}

/// How many times a write whose answer was lost is sent in all, when the re-read state does not
/// show it done. Each resend is safe (the re-read shows the write not applied); five sends make
/// a row that fails only because every answer was lost rare even on a faulty day.
const MAX_SENDS_UNKNOWN: u32 = 5;

/// The `after` of a pass step whose first create was applied but its answer lost, so a second
/// create replaced that orphan.
const REPLACED_ORPHAN_PASS: &str = "pass issued; it replaced a pass whose create answer was lost \
     (that pass's value was known to nobody)";

/// What the state read must include for a set of operations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Needs {
    /// Read the methods through beta (`lastUsedDateTime`, hardware OATH).
    beta: bool,
    /// Read beta `signInPreferences`.
    preferences: bool,
}

impl Needs {
    fn of(action: &Action) -> Needs {
        let unused = |s: &Selector| s.unused_for.is_some();
        // Removals read the default method too: the last method behind it needs the default
        // moved first (see `super::default`).
        let backs_default = |t: MethodType| {
            matches!(
                t,
                MethodType::Phone
                    | MethodType::MicrosoftAuthenticator
                    | MethodType::SoftwareOath
                    | MethodType::HardwareOath
            )
        };
        match action {
            Action::RemoveAuthenticator(select) => Needs {
                beta: unused(select),
                preferences: true,
            },
            Action::RemoveMethod {
                method_type,
                select,
            } => Needs {
                beta: unused(select) || *method_type == MethodType::HardwareOath,
                preferences: backs_default(*method_type),
            },
            Action::RemovePhone(_) => Needs {
                beta: false,
                preferences: true,
            },
            Action::ResetMfa { .. } => Needs {
                beta: true,
                preferences: true,
            },
            Action::SetDefault { .. } => Needs {
                beta: false,
                preferences: true,
            },
            _ => Needs::default(),
        }
    }

    fn union(self, other: Needs) -> Needs {
        Needs {
            beta: self.beta || other.beta,
            preferences: self.preferences || other.preferences,
        }
    }
}

/// A state read: the state, and why `signInPreferences` are missing when they are.
#[derive(Default)]
struct Read {
    state: UserState,
    preferences_error: Option<GraphError>,
}

/// How a step ended well.
struct Done {
    response: Option<Response>,
    /// Replaces the step's `after` when set (404 on a delete, a confirmed lost answer).
    note: Option<String>,
    attempts: u32,
}

/// How a step ended badly.
struct Failure {
    error: GraphError,
    attempts: u32,
}

/// What the applier keeps about one user between that user's rows: the resolved object id,
/// the last state read (while no write changed it) and, in a dry run, the planned effects.
/// Create one per user with [`UserContext::new`] and pass it to [`Applier::apply_op`] for each
/// of the user's rows in order; drop it when the user's rows are done.
#[derive(Default)]
pub struct UserContext {
    user: String,
    user_id: Option<Result<String, GraphError>>,
    /// The UPN Graph returned when it resolved the user.
    upn: Option<String>,
    cached: Option<(Read, Needs)>,
    needs: Needs,
    planned: Vec<Effect>,
    /// The state the last row was planned against (`--resume` checks an earlier run's
    /// unrecorded writes against it).
    planned_against: Option<UserState>,
}

impl UserContext {
    /// The context of `user`, as the job names them (UPN or object id).
    pub fn new(user: impl Into<String>) -> Self {
        UserContext {
            user: user.into(),
            ..UserContext::default()
        }
    }

    /// The context of a user whose object id is already known, e.g. from the enumeration of
    /// `--all-users` or `--group` (`/users` and `transitiveMembers` return it): no GET resolves
    /// the user again, a third of the reads of a run over enumerated targets.
    pub fn resolved(user: impl Into<String>, id: impl Into<String>) -> Self {
        UserContext {
            user: user.into(),
            user_id: Some(Ok(id.into())),
            ..UserContext::default()
        }
    }

    /// The state the last [`Applier::apply_op`] planned its row against, taken (so it is not
    /// mistaken for a later row's); `None` when that row read no state (a failed read).
    pub fn take_planned_against(&mut self) -> Option<UserState> {
        self.planned_against.take()
    }

    /// The user's object id, once resolved.
    pub fn user_id(&self) -> Option<&str> {
        match &self.user_id {
            Some(Ok(id)) => Some(id),
            _ => None,
        }
    }
}

impl std::fmt::Debug for UserContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserContext")
            .field("user", &self.user)
            .field("user_id", &self.user_id())
            .finish_non_exhaustive()
    }
}

/// Runs users' operations against Graph through a [`GraphCall`].
pub struct Applier<'a, G> {
    graph: &'a G,
    dry_run: bool,
    taps: Option<&'a dyn TapSink>,
    tap_out_given: bool,
    now: Option<DateTime<Utc>>,
    rules: PlanRules,
    strict: bool,
    cloud: Cloud,
    secrets: Option<&'a dyn SecretSink>,
    secrets_out_given: bool,
}

impl<'a, G: GraphCall> Applier<'a, G> {
    /// An applier that writes, with no `--tap-out` and the system clock.
    pub fn new(graph: &'a G) -> Self {
        Applier {
            graph,
            dry_run: false,
            taps: None,
            tap_out_given: false,
            now: None,
            rules: PlanRules::default(),
            strict: false,
            cloud: Cloud::Global,
            secrets: None,
            secrets_out_given: false,
        }
    }

    /// Where issued QR codes and PINs go (`--secrets-out`). Without one, `issue-qr-pin` and
    /// `reset-qr-pin` rows fail before any write.
    pub fn secret_sink(mut self, sink: &'a dyn SecretSink) -> Self {
        self.secrets = Some(sink);
        self
    }

    /// In a dry run, whether `--secrets-out` was given (a dry run does not create the folder).
    pub fn secrets_out_given(mut self, given: bool) -> Self {
        self.secrets_out_given = given;
        self
    }

    /// Plan under these rules (`--default-order`, `--no-weaker-default`).
    pub fn rules(mut self, rules: PlanRules) -> Self {
        self.rules = rules;
        self
    }

    /// `--strict`: stable refusals ([`super::step::STABLE_REFUSALS`]) are `failed`, not
    /// `skipped`.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Plan for this cloud's Graph (`--cloud`): a row whose action it does not offer is refused
    /// before any request (see [`crate::graph::cloud`]).
    pub fn cloud(mut self, cloud: Cloud) -> Self {
        self.cloud = cloud;
        self
    }

    /// Dry run: read and report `planned` steps, write nothing.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Where created passes go (`--tap-out`). Without one, `issue-tap` rows and `reset-mfa` rows
    /// that ask for a pass fail before any write.
    pub fn tap_sink(mut self, sink: &'a dyn TapSink) -> Self {
        self.taps = Some(sink);
        self
    }

    /// In a dry run, whether `--tap-out` was given. A dry run must not create the file (the real
    /// run would then refuse it as existing), so it is told instead; without it, pass rows are
    /// planned as failing the way the real run would.
    pub fn tap_out_given(mut self, given: bool) -> Self {
        self.tap_out_given = given;
        self
    }

    /// Plan with this time instead of the system clock (`older_than`, `unused_for`).
    pub fn clock(mut self, now: DateTime<Utc>) -> Self {
        self.now = Some(now);
        self
    }

    fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }

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
        if let Some(capability) = Capability::needed_by(&op.action)
            && !capability.offered_in(self.cloud)
        {
            let mut record = base_record(op, context.user_id());
            record.step = refused_step(&op.action);
            record.status = Some(Status::Failed);
            record.error_code = Some(NOT_IN_CLOUD.into());
            record.error_message = Some(capability.refusal(self.cloud));
            out.record(record).await;
            return;
        }
        let user = context.user.clone();
        let user = user.as_str();
        if context.user_id.is_none() {
            self.resolve_into(context, user).await;
        }
        let user_id = match &context.user_id {
            Some(Ok(id)) => id.clone(),
            Some(Err(error)) => {
                let mut record = base_record(op, None);
                fill_failure(&mut record, Change::ReadUser, error, error.attempts);
                if error.kind == ErrorKind::NotFound {
                    record.error_message =
                        Some(format!("no such user in the tenant: {}", error.message));
                }
                out.record(record).await;
                // A cancelled resolve is tried again for a later row; a refusal is final.
                if error.kind == ErrorKind::Cancelled {
                    context.user_id = None;
                }
                return;
            }
            None => return,
        };
        // A job that names the user by id and also gives a UPN (a Get-MgUser export) means
        // that person: a different UPN says the row is not about the user the admin thinks.
        if let (Some(expected), Some(actual)) = (&op.expected_upn, &context.upn)
            && !expected.eq_ignore_ascii_case(actual)
        {
            let mut record = base_record(op, Some(&user_id));
            record.step = Change::ReadUser;
            record.status = Some(Status::Failed);
            record.error_code = Some("upnMismatch".into());
            record.error_message = Some(format!(
                "the user with id {} is {actual}, not {expected} as the job's \
                 UserPrincipalName says: nothing was changed for this row",
                op.user
            ));
            out.record(record).await;
            return;
        }
        if matches!(
            op.action,
            Action::AssignOathToken { .. } | Action::UnassignOathToken { .. }
        ) {
            self.apply_oath(user, &user_id, op, out).await;
            if !self.dry_run {
                // The user's methods changed (or may have): the next row reads them again.
                context.cached = None;
            }
            return;
        }
        let can_deliver = self.taps.is_some() || (self.dry_run && self.tap_out_given);
        if wants_tap(&op.action) && !can_deliver {
            let mut record = base_record(op, Some(&user_id));
            record.step = Change::IssueTap;
            record.status = Some(Status::Failed);
            record.error_code = Some("tapOutRequired".into());
            record.error_message = Some(
                "--tap-out is required: a temporary access pass is a secret that goes only \
                 to the --tap-out file"
                    .into(),
            );
            out.record(record).await;
            return;
        }
        let can_deliver_qr = self.secrets.is_some() || (self.dry_run && self.secrets_out_given);
        if op.action.issues_qr_secret() && !can_deliver_qr {
            let mut record = base_record(op, Some(&user_id));
            record.step = refused_step(&op.action);
            record.status = Some(Status::Failed);
            record.error_code = Some("secretsOutRequired".into());
            record.error_message = Some(
                "--secrets-out is required: a QR code and its PIN are secrets that go only to \
                 the --secrets-out folder"
                    .into(),
            );
            out.record(record).await;
            return;
        }
        let needs = context.needs.union(Needs::of(&op.action));
        let read = match context.cached.take() {
            Some((read, covered)) if covered.union(needs) == covered => read,
            _ => match self.read(user, &user_id, needs).await {
                Ok(mut read) => {
                    // A dry run's earlier rows changed nothing in the tenant: replay them.
                    for effect in &context.planned {
                        read.state.apply(effect);
                    }
                    read
                }
                Err((change, error)) => {
                    let mut record = base_record(op, Some(&user_id));
                    fill_failure(&mut record, change, &error, error.attempts);
                    out.record(record).await;
                    return;
                }
            },
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
        context.planned_against = Some(read.state.clone());
        let plan = desired::plan_with(&op.action, &read.state, self.now(), &self.rules);
        let steps = plan.steps().to_vec();
        self.emit_plan(user, &user_id, op, plan, &read.state, out)
            .await;
        if steps.is_empty() {
            context.cached = Some((read, needs));
        } else if self.dry_run {
            let mut read = read;
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
    async fn read(
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

    /// Report a plan (dry run) or carry it out.
    async fn emit_plan<R: Records>(
        &self,
        user: &str,
        user_id: &str,
        op: &Operation,
        plan: Plan,
        state: &UserState,
        out: &mut R,
    ) {
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
                    self.run_steps(user, user_id, op, steps, state, out).await;
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
    }

    /// Run a row's steps in order.
    async fn run_steps<R: Records>(
        &self,
        user: &str,
        user_id: &str,
        op: &Operation,
        steps: Vec<Step>,
        state: &UserState,
        out: &mut R,
    ) {
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
    }

    /// Send one step, handling a lost answer, a 404 delete and a created pass.
    async fn run_step(
        &self,
        user: &str,
        user_id: &str,
        extra: &[(Arc<str>, String)],
        step: &Step,
        before: &UserState,
    ) -> Result<Done, Failure> {
        let mut attempts = 0;
        let request = requests::write(user_id, &step.write);
        // A pass created by an earlier send whose answer was lost: its value is known to nobody.
        let mut orphan_pass = false;
        // A PIN reset whose answer was lost: the resend's PIN replaces that one.
        let mut lost_reset = false;
        for _ in 0..MAX_SENDS_UNKNOWN {
            match self.graph.call(user, request.clone()).await {
                Ok(response) => {
                    attempts += response.attempts;
                    if matches!(step.effect, Effect::QrPinIssued | Effect::QrPinReset) {
                        let mut done =
                            self.deliver_qr(user, user_id, step, &request, response, attempts)?;
                        if lost_reset {
                            done.note = done.note.map(|n| {
                                format!("{n}; it replaced a PIN whose reset answer was lost")
                            });
                        }
                        return Ok(done);
                    }
                    if step.effect == Effect::TapIssued {
                        let mut done =
                            self.deliver_tap(user, user_id, extra, response, attempts)?;
                        if orphan_pass {
                            done.note = Some(REPLACED_ORPHAN_PASS.into());
                        }
                        return Ok(done);
                    }
                    return Ok(Done {
                        response: Some(response),
                        note: None,
                        attempts,
                    });
                }
                Err(error) if error.kind == ErrorKind::NotFound && step.change.is_delete() => {
                    attempts += error.attempts;
                    return Ok(Done {
                        response: None,
                        note: Some(format!(
                            "already gone (Graph answered 404{})",
                            error
                                .request_id
                                .as_deref()
                                .map(|id| format!(", request-id {id}"))
                                .unwrap_or_default()
                        )),
                        attempts,
                    });
                }
                Err(error) if error.kind == ErrorKind::UnknownOutcome => {
                    attempts += error.attempts;
                    tracing::warn!(user, step = %step.change, "answer lost; re-reading the state");
                    let needs = Needs {
                        beta: request.version == ApiVersion::Beta,
                        preferences: matches!(step.effect, Effect::Preferences { .. }),
                    };
                    let reread = match self.read(user, user_id, needs).await {
                        Ok(read) => read.state,
                        Err((_, read_error)) => {
                            let mut error = error;
                            error.message = format!(
                                "{}; the state could not be re-read to check it ({})",
                                error.message, read_error.message
                            );
                            return Err(Failure { error, attempts });
                        }
                    };
                    if step.effect == Effect::QrPinReset {
                        // Resetting again makes the PIN whose answer was lost void.
                        lost_reset = true;
                        continue;
                    }
                    if step.effect == Effect::QrPinIssued {
                        let known = before.of_type(MethodType::QrCodePin).map(|m| m.id.clone());
                        let known: Vec<String> = known.collect();
                        let created = reread
                            .of_type(MethodType::QrCodePin)
                            .any(|m| !known.contains(&m.id));
                        if created {
                            // Graph keeps no copy of the QR code's key: it is lost for good,
                            // and a second create would be refused while this one is active.
                            return Err(Failure {
                                error: GraphError {
                                    kind: ErrorKind::Rejected,
                                    status: error.status,
                                    code: "qrPinValueLost".into(),
                                    message: "the QR code PIN method was created but the answer \
                                              holding its QR code and PIN was lost; nothing \
                                              reached --secrets-out: issue a new one with \
                                              --replace"
                                        .into(),
                                    request_id: error.request_id.clone(),
                                    attempts,
                                },
                                attempts,
                            });
                        }
                        continue;
                    }
                    if step.effect == Effect::TapIssued {
                        // A new pass the state did not have before was created by the lost send;
                        // nobody knows its value. The next send replaces it (a user has one pass,
                        // and "creating a new pass replaces the existing one"), so the pass that
                        // reaches --tap-out is the one that works. None: the create did not run.
                        let known = before.tap_ids();
                        orphan_pass |= reread.tap_ids().iter().any(|id| !known.contains(id));
                        continue;
                    }
                    if reread.shows(&step.effect) == Some(true) {
                        return Ok(Done {
                            response: None,
                            note: Some(format!(
                                "{} (answer lost; confirmed by re-reading)",
                                step.after
                            )),
                            attempts,
                        });
                    }
                }
                Err(error) => {
                    attempts += error.attempts;
                    return Err(Failure { error, attempts });
                }
            }
        }
        let message = if step.effect == Effect::TapIssued {
            format!(
                "the answer to the pass create was lost {MAX_SENDS_UNKNOWN} times: a pass whose \
                 value nobody knows may exist (it expires on its own); run the row again to \
                 replace it with one that reaches --tap-out"
            )
        } else if step.effect == Effect::QrPinReset {
            format!(
                "the answer to the PIN reset was lost {MAX_SENDS_UNKNOWN} times: the PIN was \
                 reset to one nobody knows; reset it again with a new row"
            )
        } else {
            format!(
                "the answer was lost {MAX_SENDS_UNKNOWN} times and the state does not show \
                 the change"
            )
        };
        Err(Failure {
            error: GraphError {
                kind: ErrorKind::UnknownOutcome,
                status: None,
                code: "unknownOutcome".into(),
                message,
                request_id: None,
                attempts,
            },
            attempts,
        })
    }

    /// Hand an issued QR code and PIN to the `--secrets-out` sink; the response (which holds
    /// them) is dropped here. The record's `after` names the files, never their content.
    fn deliver_qr(
        &self,
        user: &str,
        user_id: &str,
        step: &Step,
        request: &Request,
        response: Response,
        attempts: u32,
    ) -> Result<Done, Failure> {
        let request_id = response.request_id.clone();
        let fail = |code: &str, message: String| Failure {
            error: GraphError {
                kind: ErrorKind::Rejected,
                status: Some(response.status),
                code: code.into(),
                message,
                request_id: request_id.clone(),
                attempts,
            },
            attempts,
        };
        let secret = if step.effect == Effect::QrPinIssued {
            let created =
                qr_pin::parse_created(&response.body, qr_pin::sent_pin(request).as_deref())
                    .map_err(|e| {
                        fail(
                            "qrPinMissingInAnswer",
                            format!("the QR code PIN method was created but {e}"),
                        )
                    })?;
            let qr = QrContent {
                raw: created.raw_content,
                level: created.level,
            };
            IssuedQrPin::new(user.into(), user_id.into(), created.pin, Some(qr))
                .valid(created.start, created.expiry)
        } else {
            let pin = qr_pin::parse_reset(&response.body)
                .map_err(|e| fail("qrPinMissingInAnswer", format!("the PIN was reset but {e}")))?;
            IssuedQrPin::new(user.into(), user_id.into(), pin, None)
        };
        let Some(sink) = self.secrets else {
            return Err(fail(
                "secretsOutRequired",
                "the secret was issued but --secrets-out is not set".into(),
            ));
        };
        let files = sink.deliver(&secret).map_err(|e| {
            fail(
                "secretsOutWriteFailed",
                format!(
                    "the secret was issued but could not be written to --secrets-out ({e}); \
                     issue a new one"
                ),
            )
        })?;
        let what = match step.effect {
            Effect::QrPinIssued => "QR code and PIN",
            _ => "new temporary PIN",
        };
        Ok(Done {
            response: Some(Response {
                status: response.status,
                body: serde_json::Value::Null.into(),
                request_id,
                attempts: response.attempts,
            }),
            note: Some(format!("{what} in --secrets-out: {}", files.join(", "))),
            attempts,
        })
    }

    /// Hand a created pass to the sink; the response (which holds the secret) is dropped here.
    fn deliver_tap(
        &self,
        user: &str,
        user_id: &str,
        extra: &[(Arc<str>, String)],
        response: Response,
        attempts: u32,
    ) -> Result<Done, Failure> {
        let request_id = response.request_id.clone();
        let fail = |code: &str, message: String| Failure {
            error: GraphError {
                kind: ErrorKind::Rejected,
                status: Some(response.status),
                code: code.into(),
                message,
                request_id: request_id.clone(),
                attempts,
            },
            attempts,
        };
        let created = methods::parse_created_tap(&response.body).map_err(|e| {
            fail(
                "tapMissingInAnswer",
                format!("the pass was created but {e}"),
            )
        })?;
        let Some(sink) = self.taps else {
            return Err(fail(
                "tapOutRequired",
                "the pass was created but --tap-out is not set".into(),
            ));
        };
        let tap = IssuedTap::new(
            user.to_string(),
            user_id.to_string(),
            created.pass,
            created.start,
            created.lifetime_minutes,
        )
        .with_extra(extra.to_vec());
        sink.deliver(&tap).map_err(|e| {
            fail(
                "tapOutWriteFailed",
                format!(
                    "the pass was created but could not be written to --tap-out ({e}); issue a \
                     new one"
                ),
            )
        })?;
        Ok(Done {
            response: Some(Response {
                status: response.status,
                body: serde_json::Value::Null.into(),
                request_id,
                attempts: response.attempts,
            }),
            note: None,
            attempts,
        })
    }
}

/// True for the answer Graph gives when a delete hits the default method while other methods
/// remain: 400 `badRequest` (graph-contract.md, "Rules"). The message is not parsed; the
/// caller also requires other deletes to be pending.
fn refused_as_default(error: &GraphError) -> bool {
    error.kind == ErrorKind::Rejected
        && error.status == Some(400)
        && error.code.eq_ignore_ascii_case("badRequest")
}

/// True when the action creates a pass.
fn wants_tap(action: &Action) -> bool {
    action.issues_pass()
}

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

fn fill_failure(record: &mut Record, step: Change, error: &GraphError, attempts: u32) {
    record.step = step;
    record.status = Some(if error.kind == ErrorKind::Cancelled {
        Status::Cancelled
    } else {
        Status::Failed
    });
    record.http_status = error.status;
    record.error_code = (!error.code.is_empty()).then(|| error.code.clone());
    record.error_message = Some(error.message.clone());
    record.request_id = error.request_id.clone();
    record.attempts = attempts;
}

/// The code of a row whose action the chosen cloud's Graph does not offer.
pub const NOT_IN_CLOUD: &str = "notInCloud";

/// The step a row refused in its cloud is reported on: the action's own check.
fn refused_step(action: &Action) -> Change {
    match action {
        Action::EnableSmsSignIn => Change::SmsSignIn { on: true },
        Action::DisableSmsSignIn => Change::SmsSignIn { on: false },
        Action::RemoveMethod { method_type, .. } => Change::RemoveMethods {
            method_type: *method_type,
        },
        Action::IssueQrPin(_) => Change::IssueQrPin,
        Action::ResetQrPin => Change::ResetQrPin,
        _ => Change::AllSteps,
    }
}

/// The record of a refusal: `skipped` when it is stable (nothing can change it) unless
/// `strict`, else `failed`.
fn refusal_record(op: &Operation, user_id: &str, refusal: Refusal, strict: bool) -> Record {
    let mut record = base_record(op, Some(user_id));
    record.status = Some(if refusal.is_stable() && !strict {
        Status::Skipped
    } else {
        Status::Failed
    });
    record.step = refusal.step;
    record.error_code = Some(refusal.code.to_string());
    record.error_message = Some(refusal.message);
    record
}

fn wire_failure(error: methods::WireError, response: &Response) -> GraphError {
    GraphError {
        kind: ErrorKind::Rejected,
        status: Some(response.status),
        code: "unexpectedAnswer".into(),
        message: error.to_string(),
        request_id: response.request_id.clone(),
        attempts: response.attempts,
    }
}

#[path = "apply_oath.rs"]
mod oath;

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
