//! The first phase of a run: everything checked before any file is created or any request
//! sent. The flags that contradict each other ([`flags`]), then the job ([`job`]): every bad
//! row printed, its fingerprint for `--resume`, the places its secrets must go (`--tap-out`,
//! `--secrets-out`), the permissions its actions need, and the `--tap-columns` it copies.
//! A failure here is exit 2: nothing began.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};

use super::{RunConfig, failed_out, tenant_guard};
use crate::auth::permissions::{self, Need};
use crate::job::{ActionKind, Defaults};
use crate::report::format::stdout::Destination;
use crate::report::writer;
use crate::target::{self as source, Input, Spooled, Targets};

/// The job, checked: what the later phases need of it.
pub(super) struct Job {
    /// Job files (stdin spooled to a file) or targets.
    pub input: Input,
    /// The file holding what stdin gave, kept open for the run.
    pub _spooled: Option<Spooled>,
    /// The job's extra columns (the report's header).
    pub extra: Vec<String>,
    /// Data rows, when known before the run (job files).
    pub total: Option<u64>,
    /// What `--resume` compares with the journal's.
    pub fingerprint: String,
    /// Some row has an action the authentication methods policy governs.
    pub governed: bool,
    /// The job's actions that issue QR codes and PINs.
    pub qr_actions: Vec<ActionKind>,
    /// The permissions the job needs of the token.
    pub needs: Vec<Need>,
    /// The job columns copied beside each pass (`--tap-columns`).
    pub tap_columns: Vec<Arc<str>>,
}

/// Refuse flags that contradict each other or a file in the way; returns the report file (none
/// for a report on stdout, or a dry run without `--report`).
pub(super) fn flags(config: &RunConfig, now: DateTime<Utc>) -> Result<Option<PathBuf>> {
    if config.apply_plan.is_some() && !config.yes && !std::io::stdin().is_terminal() {
        bail!("refusing to apply the plan without a terminal to confirm on: add --yes");
    }
    if !config.dry_run && !config.yes && !std::io::stdin().is_terminal() {
        bail!(
            "refusing to write without a terminal to confirm on: add --yes to apply, or \
             --dry-run to preview"
        );
    }
    let report_file = match &config.report {
        Some(Destination::File(path)) => Some(path.clone()),
        Some(Destination::Stdout) => None,
        // A dry run's output is its plan; it writes a report only when asked to.
        None if config.dry_run => None,
        None => Some(writer::default_path(now)),
    };
    if config.resume && report_file.is_none() {
        bail!(
            "--resume needs the --report file of the run to continue (a report on stdout \
             cannot be continued)"
        );
    }
    if config.resume && config.dry_run {
        // Planned records would mix into the interrupted run's report.
        bail!("--resume continues a run that writes: it cannot be a --dry-run");
    }
    if let Some(Destination::File(path)) = &config.summary_json
        && std::fs::symlink_metadata(path).is_ok()
    {
        bail!(
            "--summary-json {} already exists (or is a symlink): it is never overwritten; \
             choose another file",
            path.display()
        );
    }
    if let Some(path) = &config.failed_out {
        failed_out::check(path, &config.input)?;
    }
    if let Some(path) = &config.plan_out
        && std::fs::symlink_metadata(path).is_ok()
    {
        bail!(
            "--plan-out {} already exists (or is a symlink): a plan is never overwritten; \
             choose another file",
            path.display()
        );
    }
    Ok(report_file)
}

/// Check the job (taken out of `config`): every bad row is printed before anything else
/// happens; then the places its secrets go, the permissions it needs and its `--tap-columns`.
pub(super) fn job(config: &mut RunConfig) -> Result<Job> {
    let input = std::mem::replace(&mut config.input, Input::Jobs(Vec::new()));
    let (mut job, passes, actions) = match (input, config.apply_plan.clone()) {
        (_, Some(plan)) => plan_job(&plan, config)?,
        (Input::Jobs(sources), None) => rows(sources, config)?,
        (Input::Targets(targets), None) => targets_job(targets, config)?,
    };
    if config.plan_out.is_some()
        && let Some(oath) = actions.iter().find(|a| {
            matches!(
                a,
                ActionKind::AssignOathToken | ActionKind::UnassignOathToken
            )
        })
    {
        bail!(
            "--plan-out cannot save {oath} rows: hardware OATH rows are planned against the \
             token inventory when they run (and an activation code is never written to a \
             file); run them without --plan-out"
        );
    }
    // A pass is a secret that goes only to the --tap-out file: without one, such a job cannot
    // run (a dry run previews the rows as failing instead).
    if let Some(place) = &passes
        && config.tap_out.is_none()
        && !config.dry_run
    {
        bail!(
            "{place} issues temporary access passes, which go only to a --tap-out file: add \
             --tap-out FILE (created with mode 0600; it must not exist)"
        );
    }
    job.qr_actions = qr_actions(&actions, &job.input, config)?;
    job.needs = needs(&actions, &job.input, config);
    job.tap_columns = tap_columns(&config.tap_columns, &job.input, &job.extra)?;
    Ok(job)
}

/// The job files' rows, checked: a job with bad rows stops here unless `--skip-invalid`.
/// Returns the job, where its first pass is issued, and its actions.
fn rows(
    sources: Vec<crate::job::JobSource>,
    config: &RunConfig,
) -> Result<(Job, Option<String>, Vec<ActionKind>)> {
    let (sources, spooled) = source::spool_stdin(sources)?;
    let checked = source::check(&sources, &config.defaults, |p| eprintln!("{p}"))?;
    if checked.invalid_rows > 0 && !config.skip_invalid {
        bail!(
            "{} of {} rows are invalid ({} problems, listed above): fix them, or run \
             the valid rows with --skip-invalid",
            checked.invalid_rows,
            checked.rows,
            checked.problems
        );
    }
    let fingerprint = source::fingerprint(&sources, &config.shape)?;
    let passes = checked
        .issues_passes
        .map(|(file, line)| format!("{file}:{line}"));
    let job = Job {
        input: Input::Jobs(sources),
        _spooled: Some(spooled),
        extra: checked.extra,
        total: Some(checked.rows),
        fingerprint,
        governed: checked.governed,
        qr_actions: Vec::new(),
        needs: Vec::new(),
        tap_columns: Vec::new(),
    };
    Ok((job, passes, checked.actions))
}

/// A saved plan (`authbulk apply`), checked whole: its rows, fingerprint and actions. The
/// plan's own rules (`--default-order`, `--no-weaker-default`, `--strict`) become the run's.
fn plan_job(
    path: &std::path::Path,
    config: &mut RunConfig,
) -> Result<(Job, Option<String>, Vec<ActionKind>)> {
    let checked = crate::plan::file::check(path)?;
    let header = &checked.header;
    let cloud = format!("{:?}", config.connection.cloud()).to_lowercase();
    if header.cloud != cloud {
        bail!(
            "plan {} was made for the {} cloud, not {cloud}: give --cloud {}",
            path.display(),
            header.cloud,
            header.cloud
        );
    }
    config.rules.default.order.clone_from(&header.default_order);
    config.rules.default.no_weaker = header.no_weaker_default;
    config.strict = header.strict;
    let passes = checked
        .issues_passes
        .map(|line| format!("{}:{line}", path.display()));
    let job = Job {
        input: Input::Jobs(Vec::new()),
        _spooled: None,
        extra: checked.extra.clone(),
        total: Some(checked.end.rows),
        fingerprint: checked.fingerprint.clone(),
        governed: checked.governed,
        qr_actions: Vec::new(),
        needs: Vec::new(),
        tap_columns: Vec::new(),
    };
    let actions = checked.actions.clone();
    config.plan = Some(checked);
    Ok((job, passes, actions))
}

/// Enumerated targets with the flags' action. Returns the job, where its first pass is issued
/// (`--action`), and its action.
fn targets_job(
    targets: Targets,
    config: &RunConfig,
) -> Result<(Job, Option<String>, Vec<ActionKind>)> {
    // From the validated values: the same targets and flags, however written, are the
    // same run.
    let shape = format!(
        "targets\n{}\n--\n{}",
        targets.canonical(),
        config.defaults.canonical()
    );
    let fingerprint = source::fingerprint(&[], &shape)?;
    let governed = match config.defaults.action {
        Some(ActionKind::IssueTap | ActionKind::EnableSmsSignIn) => true,
        Some(ActionKind::ResetMfa) => config.defaults.issue_tap == Some(true),
        _ => false,
    };
    // Every target gets the flags' action: one stand-in row shows what it does.
    let passes = config
        .defaults
        .operation_for("preflight@example.invalid", 1)
        .is_ok_and(|op| op.action.issues_pass())
        .then(|| "--action".to_string());
    let actions = config.defaults.action.into_iter().collect();
    let job = Job {
        input: Input::Targets(targets),
        _spooled: None,
        extra: Vec::new(),
        total: None,
        fingerprint,
        governed,
        qr_actions: Vec::new(),
        needs: Vec::new(),
        tap_columns: Vec::new(),
    };
    Ok((job, passes, actions))
}

/// The job's actions that issue QR codes and PINs. Those are secrets that go only to the
/// --secrets-out folder: without one, such a job cannot run (a dry run previews the rows as
/// failing instead).
fn qr_actions(
    actions: &[ActionKind],
    input: &Input,
    config: &RunConfig,
) -> Result<Vec<ActionKind>> {
    let qr_actions: Vec<ActionKind> = actions
        .iter()
        .copied()
        .filter(|a| matches!(a, ActionKind::IssueQrPin | ActionKind::ResetQrPin))
        .collect();
    if let Some(first) = qr_actions.first() {
        if config.secrets_out.is_none() && !config.dry_run {
            let place = match input {
                Input::Targets(_) => "--action".to_string(),
                Input::Jobs(_) => format!("the job's {first} rows"),
            };
            bail!(
                "{place} issue QR codes and PINs, which go only to a --secrets-out folder: add \
                 --secrets-out DIR (created with mode 0700; it must not exist, or be empty)"
            );
        }
        if let Some(path) = &config.secrets_out {
            crate::plan::secrets_out::check(path)?;
        }
    }
    Ok(qr_actions)
}

/// The permissions the job needs: its actions', its targets', its exclusions', and the
/// default domain's read for a guarded `--all-users` run.
fn needs(actions: &[ActionKind], input: &Input, config: &RunConfig) -> Vec<Need> {
    let mut needs: Vec<Need> = actions
        .iter()
        .flat_map(|a| permissions::for_action(*a))
        .collect();
    match input {
        Input::Targets(Targets::AllUsers { .. }) => needs.push(permissions::for_all_users()),
        Input::Targets(Targets::Groups(_)) => needs.push(permissions::for_group()),
        Input::Jobs(_) => {}
    }
    needs.extend(config.exclusions.needs());
    if guarded_all_users(input, config) {
        needs.push(permissions::for_default_domain());
    }
    needs
}

/// True when the run is `--all-users` (not a dry run) with an action that needs the tenant's
/// default domain confirmed (see [`guarded`]).
pub(super) fn guarded_all_users(input: &Input, config: &RunConfig) -> bool {
    if let (Input::Targets(Targets::AllUsers { .. }), Some(action), false) =
        (input, config.defaults.action, config.dry_run)
    {
        return guarded(action, &config.defaults);
    }
    false
}

/// True when `--all-users` with `action` needs the tenant's default domain confirmed: a
/// removing action, or `issue-qr-pin --replace`, which deletes every user's QR code PIN method
/// (their printed badges stop working) before issuing new ones.
fn guarded(action: ActionKind, defaults: &Defaults) -> bool {
    tenant_guard::removes(action)
        || (action == ActionKind::IssueQrPin && defaults.replace == Some(true))
}

/// The job columns `--tap-columns` names, spelled as the job spells them (names are matched
/// ignoring case). Every name must be a column of the job beyond the ones authbulk reads.
fn tap_columns(given: &[String], input: &Input, extra: &[String]) -> Result<Vec<Arc<str>>> {
    if given.is_empty() {
        return Ok(Vec::new());
    }
    if let Input::Targets(_) = input {
        bail!("--tap-columns copies columns of job files: enumerated targets have none");
    }
    given
        .iter()
        .map(|name| {
            extra
                .iter()
                .find(|column| column.eq_ignore_ascii_case(name.trim()))
                .map(|column| Arc::from(column.as_str()))
                .ok_or_else(|| {
                    let known: Vec<&str> = extra.iter().map(String::as_str).collect();
                    anyhow::anyhow!(
                        "--tap-columns {name}: the job has no such column (its own columns: {})",
                        match known.is_empty() {
                            true => "none".to_string(),
                            false => known.join(", "),
                        }
                    )
                })
        })
        .collect()
}
