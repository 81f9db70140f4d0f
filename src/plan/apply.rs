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
//! replaced once so that the pass in `--tap-out` is the one that works; a delete refused as
//! the default method while other deletes remain is retried after them; passes go to the
//! [`TapSink`] only; a stable refusal (a default nothing can take over, a type Graph cannot
//! delete, the methods policy) is `skipped`, or `failed` when strict.
//!
//! Where each part lives, in the order a row goes through them:
//! - here: the [`Applier`] and its builder (graph, sinks, rules, clock), the per-user
//!   [`UserContext`], the [`Records`] sink, and what the parts share (what a read needs, how a
//!   step ended);
//! - `row` (`apply_row.rs`): [`Applier::apply_op`] and [`Applier::apply_user`]: the row's
//!   refusals before any read, the user resolved once, the state read (and reused), the plan,
//!   and the steps run in order (a refused default delete deferred after the other deletes);
//! - `oath` (`apply_oath.rs`): hardware OATH rows, planned against the token inventory;
//! - `send` (`apply_send.rs`): one step sent, with the re-read after a lost answer;
//! - `deliver` (`apply_deliver.rs`): a created pass to `--tap-out`, a QR code and PIN to
//!   `--secrets-out`;
//! - `records` (`apply_records.rs`): the records of steps, failures and refusals.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::change::Change;
use super::rules::PlanRules;
use super::secrets_out::SecretSink;
use super::state::UserState;
use super::step::Effect;
use super::tap_out::TapSink;
use crate::auth::Cloud;
use crate::graph::{GraphCall, GraphError, Response};
use crate::job::{Action, MethodType, Selector};
use crate::report::Record;

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
    /// Not read now: the state a run's own plan was made against, moments ago (a write that
    /// meets a conflict reads the user again).
    from_plan: bool,
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
    /// A row of this user already wrote in this run: a later row's state is what those writes
    /// made, not what a saved plan saw.
    wrote: bool,
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
    plan_out: Option<&'a dyn super::file::PlanSink>,
    seq: u64,
    saved: Option<&'a super::file::PlannedRow>,
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
            plan_out: None,
            seq: 0,
            saved: None,
        }
    }

    /// In a dry run, hand each planned row to this sink: a `--plan-out` file, or the plan a
    /// run keeps for its own apply. `seq` is the row's sequence number.
    pub fn plan_out(mut self, sink: Option<&'a dyn super::file::PlanSink>, seq: u64) -> Self {
        self.plan_out = sink;
        self.seq = seq;
        self
    }

    /// Apply this saved row of a plan file (`authbulk apply`) instead of what the row's plan
    /// would be: when the user's state is what the plan saw, exactly its steps; else the row is
    /// planned again, reported `drifted`, and the new plan applied (see [`super::file`]).
    pub fn saved(mut self, row: Option<&'a super::file::PlannedRow>) -> Self {
        self.saved = row;
        self
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
}

#[path = "apply_deliver.rs"]
mod deliver;
#[path = "apply_oath.rs"]
mod oath;
#[path = "apply_records.rs"]
mod records;
#[path = "apply_row.rs"]
mod row;
#[path = "apply_send.rs"]
mod send;

use records::{base_record, fill_failure, wire_failure};

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
