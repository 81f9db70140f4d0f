//! The third phase of a run: the tenant, once the run's files exist. Connect and fetch the
//! first token ([`crate::session`]; a bad credential stops here, exit 2); check the token's
//! permissions against what the job needs ([`crate::auth::permissions`]); open the rate memory
//! where the rate starts, and start the executor there; then turn `--group` names into ids, confirm
//! the tenant for a guarded `--all-users` run ([`tenant_guard`]), read the exclusions, probe
//! `--group`/`--filter`; last, listen for Ctrl-C and read the authentication methods
//! policy the plan checks rows against ([`policy`]).

use anyhow::{Result, bail};
use chrono::Utc;

use super::check::{self, Job};
use super::{Exclusions, RunConfig, policy, rate_memory, tenant_guard};
use crate::auth::claims;
use crate::auth::permissions::{self, Need};
use crate::exec::{Executor, Shutdown};
use crate::plan::PlanRules;
use crate::session::{self, Connected};
use crate::target::{self as source, Input};

/// The tenant, connected. Fields drop in order: the simulator (when simulating) goes last.
pub(super) struct Session {
    /// Sends every request: the rows', and the pages of enumerated targets.
    pub exec: Executor,
    /// The Ctrl-C listener, stopped when the run ends.
    pub ctrl_c: tokio::task::JoinHandle<()>,
    /// Stops the rows (Ctrl-C, the breaker).
    pub shutdown: Shutdown,
    /// How the planner moves defaults, with the policy read from the tenant.
    pub rules: PlanRules,
    /// Users never touched, resolved.
    pub exclusions: Exclusions,
    /// What this tenant allowed this app in an earlier run, kept again at the end.
    pub rate_memory: Option<rate_memory::Opened>,
    /// Who the token speaks for, when its claims say.
    pub principal: Option<claims::Principal>,
    /// The tenant the token is for (its `tid`), when its claims say.
    pub tenant_id: Option<String>,
    /// The Graph root the run talks to.
    pub graph_root: String,
    /// The auth settings and the simulator kept alive.
    pub connected: Connected,
}

/// Connect, check the token, and prepare everything the rows need; `--group` names in the
/// job's targets become ids.
pub(super) async fn open(config: &RunConfig, job: &mut Job) -> Result<Session> {
    let (tenant, token) = session::open(&config.connection, config.exec.concurrency).await?;
    let principal = check_permissions(&token, &job.needs, config.dry_run)?;
    // Where the rate starts: what this tenant allowed this app in an earlier run.
    let auth = &tenant.connected.auth;
    let place = rate_memory::Place {
        dir: config.rate_memory.as_deref(),
        own_graph: auth.graph_root() == auth.cloud().graph_root(),
        forget: config.forget_rate,
    };
    let rate_memory = rate_memory::open(&token, place, Utc::now());
    let tenant_id = claims::read_claims(&token).and_then(|c| c.tid);
    let graph_root = auth.graph_root().to_string();
    if let Some(plan) = &config.plan {
        same_tenant(config, plan, tenant_id.as_deref())?;
    }
    if config.plan_out.is_some() && tenant_id.is_none() {
        bail!(
            "--plan-out: the access token names no tenant (no `tid` claim), and a plan must say \
             which tenant it is for"
        );
    }
    drop(token);
    let mut exec_config = config.exec;
    exec_config.rate.start = rate_memory.as_ref().and_then(|m| m.start);
    let started = tenant.start(exec_config);
    let exclusions = prepare(config, job, &started.exec).await?;
    let ctrl_c = started.listen_for_ctrl_c();
    let session::Session {
        exec,
        shutdown,
        connected,
    } = started;
    // The authentication methods policy, read once before planning when the job has rows it
    // governs, so the plan refuses what the policy will refuse (dry run and apply alike).
    let mut rules = config.rules.clone();
    if job.governed {
        rules.policy = policy::read(&exec).await.map(std::sync::Arc::new);
    }
    if !job.qr_actions.is_empty() {
        rules.qr_pin = policy::read_qr(&exec).await;
    }
    Ok(Session {
        exec,
        ctrl_c,
        shutdown,
        rules,
        exclusions,
        rate_memory,
        principal,
        tenant_id,
        graph_root,
        connected,
    })
}

/// A saved plan is applied only in the tenant it was made for.
fn same_tenant(
    config: &RunConfig,
    plan: &crate::plan::file::Checked,
    tenant_id: Option<&str>,
) -> Result<()> {
    let path = config
        .apply_plan
        .as_deref()
        .unwrap_or(std::path::Path::new("plan"));
    let wanted = &plan.header.tenant;
    match tenant_id {
        Some(tid) if tid.eq_ignore_ascii_case(wanted) => Ok(()),
        Some(tid) => bail!(
            "plan {} was made for tenant {wanted}, but the credential's token is for tenant \
             {tid}: nothing was applied (sign in to tenant {wanted}, or make the plan again)",
            path.display()
        ),
        None => bail!(
            "plan {} was made for tenant {wanted}, but the access token names no tenant (no \
             `tid` claim): nothing was applied",
            path.display()
        ),
    }
}

/// What is read once before any row: `--group` names to ids, the tenant's default domain for
/// a guarded `--all-users` run, the exclusions, and the probe of the targets.
async fn prepare(config: &RunConfig, job: &mut Job, exec: &Executor) -> Result<Exclusions> {
    // `--group NAME`: each name to its one group's id, before any user is read.
    let input = std::mem::replace(&mut job.input, Input::Jobs(Vec::new()));
    job.input = match input {
        Input::Targets(targets) => Input::Targets(source::resolve_groups(exec, targets).await?),
        input => input,
    };
    // `--all-users` with a removing action: the tenant's default domain, typed or given.
    if check::guarded_all_users(&job.input, config)
        && let Some(action) = config.defaults.action
    {
        tenant_guard::check(exec, action, config.confirm_domain.as_deref()).await?;
    }
    // `--exclude-group`, `--exclude-admins`: read once, before any row.
    let exclusions = config.exclusions.clone().resolve(exec).await?;
    if let Input::Targets(targets) = &job.input {
        source::probe(exec, targets).await?;
    }
    Ok(exclusions)
}

/// Check the token's claims against what the job's actions need: a missing permission stops
/// the run before any Graph request (a dry run only warns: it reads, and shows what would be
/// refused). An opaque token cannot be judged: the check is skipped.
/// Returns who the token speaks for, when its claims say.
fn check_permissions(
    token: &str,
    needs: &[Need],
    dry_run: bool,
) -> Result<Option<claims::Principal>> {
    let Some(claims) = claims::read_claims(token) else {
        tracing::info!(
            "the access token is opaque (its claims cannot be read): the permission check was \
             skipped, Graph judges each call"
        );
        return Ok(None);
    };
    let missing = permissions::missing(&claims, needs);
    let principal = Some(missing.granted.principal);
    if missing.is_empty() {
        return Ok(principal);
    }
    if dry_run {
        eprintln!("warning: {missing}; applying this job would be refused");
        return Ok(principal);
    }
    bail!("{missing}; nothing was sent");
}
