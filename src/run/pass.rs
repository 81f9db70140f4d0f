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
    pub plan_out: Option<Arc<crate::plan::file::PlanWriter>>,
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
        match self.input {
            Input::Jobs(sources) => {
                source::job_rows(sources.clone(), config.defaults.clone()).boxed()
            }
            Input::Targets(targets) => source::target_rows(
                self.session.client.clone(),
                targets.clone(),
                config.defaults.clone(),
                config.exec.retry,
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
            // Only the pass that prints the plan saves it.
            plan_out: (dry_run && config.dry_run)
                .then(|| self.plan_out.clone())
                .flatten(),
        })
    }
}
