//! A pass over the job's rows: the rows (job files read again, or the targets enumerated) and
//! the per-row work ([`super::work::RowWork`]) driven user by user ([`for_each_user`]), each
//! row's events to a collector. A run makes one pass to apply (or to plan, for a dry run), and
//! without `--yes` (or with `--max-changes`) one before it that only plans ([`super::confirm`]).

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

use super::breaker::Breaker;
use super::outputs::Outputs;
use super::session::Session;
use super::{RunConfig, work};
use crate::exec::{DriveEnd, for_each_user};
use crate::plan::file::{KeptPlan, PlanOnce, PlanSink, PlanWriter};
use crate::report::{Event, Resume};
use crate::target::{self as source, Input};

/// What every pass of a run shares.
pub(super) struct Pass<'a> {
    /// The run's settings.
    pub config: &'a RunConfig,
    /// The job's rows or targets.
    pub input: &'a Input,
    /// The tenant.
    pub session: &'a Session,
    taps: Option<Arc<crate::plan::TapOutFile>>,
    secrets: Option<Arc<crate::plan::SecretsDir>>,
    /// Stops the writes after identical refusals in a row (the apply pass only).
    pub breaker: Arc<Breaker>,
    /// The run's clock for `older_than` / `unused_for`.
    now: DateTime<Utc>,
    /// Where a dry run saves its plan (`--plan-out`).
    pub plan_out: Option<Arc<PlanWriter>>,
    /// The plan the planning pass before the question keeps for the apply ([`super::confirm`]).
    pub plan_once: Option<Arc<PlanOnce>>,
    /// That plan, kept: the apply pass's rows carry their planned rows from it.
    pub kept: Mutex<Option<KeptPlan>>,
}

impl<'a> Pass<'a> {
    /// The passes of a run over `input`.
    pub fn new(
        config: &'a RunConfig,
        input: &'a Input,
        session: &'a Session,
        outputs: &Outputs,
        now: DateTime<Utc>,
    ) -> Self {
        Pass {
            config,
            input,
            session,
            taps: outputs.taps.clone(),
            secrets: outputs.secrets.clone(),
            breaker: Arc::new(Breaker::new(config.max_denied)),
            now,
            plan_out: None,
            plan_once: None,
            kept: Mutex::new(None),
        }
    }

    /// Drive every row to its end (`dry_run`: plan only), the events to `events`.
    pub async fn drive(
        &self,
        dry_run: bool,
        events: mpsc::Sender<Event>,
        resume: Option<Arc<Resume>>,
    ) -> DriveEnd {
        for_each_user(
            self.work(dry_run, events.clone(), resume.clone()),
            self.rows(resume),
            self.config.exec.active_users,
            events,
            self.session.shutdown.clone(),
        )
        .await
    }

    fn rows(&self, resume: Option<Arc<Resume>>) -> BoxStream<'static, source::Row> {
        let config = self.config;
        if let Some(plan) = &config.apply_plan {
            return source::plan_rows(plan.clone()).boxed();
        }
        let rows = self.source_rows(resume);
        match self.kept.lock().ok().and_then(|mut k| k.take()) {
            Some(kept) => with_plan(rows, kept),
            None => rows,
        }
    }

    fn source_rows(&self, resume: Option<Arc<Resume>>) -> BoxStream<'static, source::Row> {
        let config = self.config;
        match self.input {
            Input::Jobs(sources) => {
                source::job_rows(sources.clone(), config.defaults.clone()).boxed()
            }
            Input::Targets(targets) => source::target_rows(
                self.session.exec.clone(),
                targets.clone(),
                config.defaults.clone(),
                resume,
            )
            .boxed(),
        }
    }

    fn work(
        &self,
        dry_run: bool,
        events: mpsc::Sender<Event>,
        resume: Option<Arc<Resume>>,
    ) -> Arc<work::RowWork> {
        let config = self.config;
        Arc::new(work::RowWork {
            // The plan phase reads only; the breaker guards the apply.
            breaker: (dry_run == config.dry_run).then(|| self.breaker.clone()),
            exec: self.session.exec.clone(),
            dry_run,
            taps: self.taps.clone(),
            tap_out_given: config.tap_out.is_some(),
            events,
            resume,
            exclusions: self.session.exclusions.clone(),
            now: self.now,
            rules: self.session.rules.clone(),
            strict: config.strict,
            contexts: Mutex::new(Default::default()),
            cloud: config.connection.cloud(),
            secrets: self.secrets.clone(),
            secrets_out_given: config.secrets_out.is_some(),
            // The dry run's pass saves its plan (`--plan-out`); the pass that plans before the
            // question keeps its plan for the apply.
            plan_out: match (dry_run, config.dry_run) {
                (true, true) => self.plan_out.clone().map(|w| w as Arc<dyn PlanSink>),
                (true, false) => self.plan_once.clone().map(|p| p as Arc<dyn PlanSink>),
                _ => None,
            },
        })
    }
}

/// The rows of `rows` with the planned rows of the run's own plan attached, matched by sequence
/// number (both in increasing order) and checked to be the same user and action: a row the
/// plan does not hold, or holds for someone else (an enumeration that came in another order),
/// is planned again as before.
fn with_plan(
    rows: BoxStream<'static, source::Row>,
    mut kept: KeptPlan,
) -> BoxStream<'static, source::Row> {
    rows.map(move |mut row| {
        if let source::RowKind::Op(op) = &row.kind
            && let Some(planned) = kept.next_for(row.seq)
            && planned.user == op.user
            && planned.action == op.action
            && row.user_id.as_ref().is_none_or(|id| *id == planned.user_id)
        {
            row.planned = Some(Box::new(planned));
        }
        row
    })
    .boxed()
}
