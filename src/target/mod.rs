//! Where the rows of `run`, `export` and `status` come from ([`Input`]): job files (checked in a
//! first pass, then streamed) or enumerated targets ([`Targets`]: `--all-users`, `--group`), as
//! [`Row`]s; and the job's [`fingerprint`] that `--resume` checks. The sequence number `seq` is what
//! the journal keys rows by. Rows of job files are numbered in input order, the same on every run
//! of the same input. Rows of enumerated targets are tied to the user's object id: Graph gives no
//! order without `$orderby` (each paging session may list users in another order) and users come
//! and go between runs, so a resumed enumerated run gives a user the row an earlier run gave the
//! same object id, numbers users new to it after every row an earlier run used, and ends with
//! the users an earlier run began but no longer enumerated (checked directly: gone, or still to
//! finish).

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::exec::Executor;
use crate::graph::requests::{self, PAGE_SIZE};
use crate::graph::wire::{DirectoryGroup, DirectoryUser};
use crate::job::{self, Defaults, JobSource, Operation, Problem};
use crate::report::Resume;
use crate::report::journal::BitSet;

/// One unit of work: a valid operation, or a row that failed validation (with `--skip-invalid`).
#[derive(Debug)]
pub struct Row {
    /// Sequence number over the whole input, from 0.
    pub seq: u64,
    /// What the row holds.
    pub kind: RowKind,
    /// The user's object id when the input already gave it (enumerated targets), so it is not
    /// resolved again.
    pub user_id: Option<String>,
    /// An earlier run began this enumerated user, who is no longer enumerated: the user must be
    /// read directly first (gone from the tenant, or only no longer listed).
    pub check_gone: bool,
    /// The row as a saved plan holds it (`authbulk apply`): its steps and the state they were
    /// planned against.
    pub planned: Option<Box<crate::plan::file::PlannedRow>>,
}

/// What a [`Row`] holds.
#[derive(Debug)]
pub enum RowKind {
    /// A valid operation.
    Op(Operation),
    /// A row that failed validation: reported `skipped` with its problems.
    Invalid {
        /// Its data-row index in its file.
        row: u64,
        /// Why, every problem on one line.
        why: String,
    },
    /// Target enumeration failed part-way: reported `failed`.
    EnumerationFailed {
        /// The error as Graph gave it.
        error: crate::graph::GraphError,
    },
}

/// What the first pass over the job files found.
#[derive(Debug, Default)]
pub struct Checked {
    /// The job's extra columns, in order of first appearance (for the report header).
    pub extra: Vec<String>,
    /// Data rows.
    pub rows: u64,
    /// Rows with problems.
    pub invalid_rows: u64,
    /// Problems found.
    pub problems: u64,
    /// Some valid row has an action the authentication methods policy governs.
    pub governed: bool,
    /// The actions of the valid rows, each once.
    pub actions: Vec<job::ActionKind>,
    /// The first valid row whose action issues a temporary access pass: (file, line).
    pub issues_passes: Option<(String, u64)>,
}

/// The largest job read from stdin (it is copied whole, so a pipe cannot fill the disk).
const SPOOL_LIMIT: u64 = 1024 * 1024 * 1024;

/// The file holding what was read from stdin, so a job from a pipe can be read twice (check,
/// then run) like a file. The file has no name (it is removed as soon as it is created, and
/// reopened through `/proc/self/fd`), so no exit, not even `kill -9`, leaves the job's content
/// behind in the temporary folder. Closed when dropped: it is held only to be dropped.
pub struct Spooled {
    _file: Option<std::fs::File>,
}

/// Replace a stdin source by a temporary file holding what stdin gave.
pub fn spool_stdin(sources: Vec<JobSource>) -> Result<(Vec<JobSource>, Spooled)> {
    let mut spooled = None;
    let mut out = Vec::with_capacity(sources.len());
    for source in sources {
        match source {
            JobSource::Stdin { format } => {
                if spooled.is_some() {
                    bail!("stdin (-) can be given only once");
                }
                let mut file = tempfile::tempfile()
                    .context("cannot create a temporary file for the job on stdin")?;
                let copied = std::io::copy(
                    &mut std::io::Read::take(std::io::stdin().lock(), SPOOL_LIMIT + 1),
                    &mut file,
                )
                .and_then(|n| file.flush().map(|()| n))
                .context("cannot read the job from stdin")?;
                if copied > SPOOL_LIMIT {
                    bail!(
                        "the job on stdin is larger than {} MiB: give it as a file",
                        SPOOL_LIMIT / 1024 / 1024
                    );
                }
                let path = PathBuf::from(format!(
                    "/proc/self/fd/{}",
                    std::os::fd::AsRawFd::as_raw_fd(&file)
                ));
                out.push(JobSource::File {
                    path,
                    format: Some(format),
                });
                spooled = Some(file);
            }
            file => out.push(file),
        }
    }
    Ok((out, Spooled { _file: spooled }))
}

/// First pass: read every row of every file, hand each problem to `on_problem`, and learn the
/// extra columns. File-level errors (cannot open, broken part-way) are returned as errors.
pub fn check(
    sources: &[JobSource],
    defaults: &Defaults,
    mut on_problem: impl FnMut(&Problem),
) -> Result<Checked> {
    let mut checked = Checked::default();
    let mut seen: HashSet<String> = HashSet::new();
    for source in sources {
        let mut reader = job::open(source, defaults)?;
        let mut last_bad: Option<u64> = None;
        let mut took_extra = false;
        for item in reader.by_ref() {
            match item {
                Ok(op) => {
                    checked.rows += 1;
                    checked.governed |= crate::plan::policy::governs(&op.action);
                    let kind = op.action.kind();
                    if !checked.actions.contains(&kind) {
                        checked.actions.push(kind);
                    }
                    if checked.issues_passes.is_none() && op.action.issues_pass() {
                        checked.issues_passes = Some((source.name(), op.line));
                    }
                    if !took_extra {
                        took_extra = true;
                        for (name, _) in &op.extra {
                            if seen.insert(name.to_string()) {
                                checked.extra.push(name.to_string());
                            }
                        }
                    }
                }
                Err(problem) => {
                    on_problem(&problem);
                    checked.problems += 1;
                    if problem.row != 0 && last_bad != Some(problem.row) {
                        last_bad = Some(problem.row);
                        checked.rows += 1;
                        checked.invalid_rows += 1;
                    }
                }
            }
        }
        // Columns no action reads (a typo of a known one?) are named, once per file.
        for warning in reader.take_warnings() {
            eprintln!("{warning}");
        }
        reader.finish()?;
    }
    Ok(checked)
}

/// A fingerprint of the job: its files' bytes and the flags that shape its rows, so `--resume`
/// can refuse a different job.
pub fn fingerprint(sources: &[JobSource], shape: &str) -> Result<String> {
    let mut hash = Sha256::new();
    for source in sources {
        if let JobSource::File { path, .. } = source {
            let print = job::fingerprint_file(path)?;
            hash.update(print.0);
        }
    }
    hash.update(shape.as_bytes());
    Ok(hash.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The rows of a checked plan file (`authbulk apply`), in the file's order (a user's rows in
/// the order they were planned), from a reading thread; each carries its saved plan and the
/// user's object id.
pub fn plan_rows(path: PathBuf) -> impl Stream<Item = Row> + Send {
    let (tx, rx) = mpsc::channel::<Row>(1024);
    std::thread::spawn(move || {
        let Ok(rows) = crate::plan::file::rows(&path) else {
            return; // checked before the run; a file removed since is not run
        };
        for (seq, planned) in (0u64..).zip(rows) {
            let row = Row {
                seq,
                kind: RowKind::Op(planned.operation()),
                // Known by the plan's object id (the row's work takes it from there).
                user_id: None,
                check_gone: false,
                planned: Some(Box::new(planned)),
            };
            if tx.blocking_send(row).is_err() {
                return;
            }
        }
    });
    futures::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|row| (row, rx)) },
    )
}

/// Second pass: stream the rows of the (checked) job files, in order, from a reading thread.
pub fn job_rows(sources: Vec<JobSource>, defaults: Defaults) -> impl Stream<Item = Row> + Send {
    let (tx, rx) = mpsc::channel::<Row>(1024);
    std::thread::spawn(move || {
        let mut seq = 0u64;
        for source in &sources {
            let Ok(reader) = job::open(source, &defaults) else {
                return; // checked in the first pass; a file changed since is not run
            };
            // Problems of one row come together: merge them into one invalid row.
            let mut pending: Option<(u64, Vec<String>)> = None;
            let flush = |pending: &mut Option<(u64, Vec<String>)>, seq: &mut u64| {
                pending.take().map(|(row, whys)| {
                    let out = Row {
                        user_id: None,
                        check_gone: false,
                        planned: None,
                        seq: *seq,
                        kind: RowKind::Invalid {
                            row,
                            why: whys.join("; "),
                        },
                    };
                    *seq += 1;
                    out
                })
            };
            for item in reader {
                let row = match item {
                    Ok(op) => {
                        if let Some(invalid) = flush(&mut pending, &mut seq)
                            && tx.blocking_send(invalid).is_err()
                        {
                            return;
                        }
                        let row = Row {
                            user_id: None,
                            check_gone: false,
                            planned: None,
                            seq,
                            kind: RowKind::Op(op),
                        };
                        seq += 1;
                        Some(row)
                    }
                    Err(problem) if problem.row == 0 => None,
                    Err(problem) => {
                        let text = problem.to_string();
                        match &mut pending {
                            Some((row, whys)) if *row == problem.row => {
                                whys.push(text);
                                None
                            }
                            _ => {
                                let invalid = flush(&mut pending, &mut seq);
                                pending = Some((problem.row, vec![text]));
                                invalid
                            }
                        }
                    }
                };
                if let Some(row) = row
                    && tx.blocking_send(row).is_err()
                {
                    return;
                }
            }
            if let Some(invalid) = flush(&mut pending, &mut seq)
                && tx.blocking_send(invalid).is_err()
            {
                return;
            }
        }
    });
    futures::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|row| (row, rx)) },
    )
}

/// What a command works on.
#[derive(Debug)]
pub enum Input {
    /// Rows of job files (`-` is stdin).
    Jobs(Vec<JobSource>),
    /// Enumerated users with the `--action` of the defaults.
    Targets(Targets),
}

/// Which users a run without job files works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Targets {
    /// Every user, optionally filtered (`--all-users [--filter]`).
    AllUsers {
        /// An OData `$filter`.
        filter: Option<String>,
    },
    /// The users among these groups' transitive members (`--group`, repeatable).
    Groups(Vec<String>),
}

/// Resolve each `--group` that is not an object id (a GUID) by its display name: exactly one
/// group must have it. None, several (listed by id) or a failed lookup is an error before any
/// user is read (exit 2). The lookups go through the executor, like every Graph read.
pub async fn resolve_groups(exec: &Executor, targets: Targets) -> Result<Targets> {
    let Targets::Groups(groups) = targets else {
        return Ok(targets);
    };
    let mut ids = Vec::with_capacity(groups.len());
    for group in groups {
        if job::value::is_object_id(&group) {
            ids.push(group);
            continue;
        }
        let mut found = Vec::new();
        let mut named =
            std::pin::pin!(exec.pages::<DirectoryGroup>(requests::groups_named(&group)));
        while let Some(one) = named.next().await {
            found.push(one.map_err(|error| {
                anyhow::anyhow!("--group {group:?}: looking the group up by name failed: {error}")
            })?);
        }
        match found.as_slice() {
            [] => bail!(
                "--group {group:?}: no group named {group:?} (give its name exactly, or its object id)"
            ),
            [one] => {
                tracing::info!(group = %group, id = %one.id, "--group: the group of this name");
                ids.push(one.id.clone());
            }
            several => bail!(
                "--group {group:?}: {} groups are named {group:?}; give one's object id: {}",
                several.len(),
                several
                    .iter()
                    .map(|g| g.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    Ok(Targets::Groups(ids))
}

/// Preflight of the targets, before any write: one cheap read (`$top=1`) per `--group` and
/// for `--filter`, so a group that does not exist or a filter Graph refuses stops the run as a
/// usage error naming the flag and Graph's answer, instead of one failed row after the plan.
pub async fn probe(exec: &Executor, targets: &Targets) -> Result<()> {
    match targets {
        Targets::AllUsers { filter: None } => Ok(()),
        Targets::AllUsers {
            filter: Some(filter),
        } => match Box::pin(exec.pages::<DirectoryUser>(requests::list_users(Some(filter), 1)))
            .next()
            .await
        {
            Some(Err(error)) => bail!(
                "--filter {filter:?}: Graph refused it ({} {}: {}{})",
                error.status.map_or_else(|| "-".into(), |s| s.to_string()),
                error.code,
                error.message,
                request_id(&error)
            ),
            _ => Ok(()),
        },
        Targets::Groups(groups) => {
            for group in groups {
                let members = exec.pages::<DirectoryUser>(requests::group_members(group, 1));
                if let Some(Err(error)) = Box::pin(members).next().await {
                    let what = match error.status {
                        Some(404) => "no such group in the tenant",
                        _ => "Graph refused to list its members",
                    };
                    bail!(
                        "--group {group}: {what} ({} {}: {}{})",
                        error.status.map_or_else(|| "-".into(), |s| s.to_string()),
                        error.code,
                        error.message,
                        request_id(&error)
                    );
                }
            }
            Ok(())
        }
    }
}

fn request_id(error: &crate::graph::GraphError) -> String {
    error
        .request_id
        .as_deref()
        .map(|id| format!("; request id {id}"))
        .unwrap_or_default()
}

impl Targets {
    /// The targets as canonical text, for the job's fingerprint: the same targets give the same
    /// text whatever order or letter case the flags used.
    pub fn canonical(&self) -> String {
        match self {
            Targets::AllUsers { filter } => match filter {
                Some(filter) => format!("all-users\nfilter={}", filter.trim()),
                None => "all-users".into(),
            },
            Targets::Groups(groups) => {
                let mut groups: Vec<String> =
                    groups.iter().map(|g| g.trim().to_lowercase()).collect();
                groups.sort();
                groups.dedup();
                format!("groups\n{}", groups.join("\n"))
            }
        }
    }
}

/// Where enumerated users get their row numbers: the rows an earlier run gave them, and new
/// numbers after every row an earlier run used. Nothing here grows with the tenant for
/// `--all-users`: Graph lists each user once (a collection of distinct directory objects),
/// and what a resumed run must remember is one bit per earlier row. `--group` targets are
/// de-duplicated (a user in several groups, or reached through several nested groups of one,
/// is worked on once) in an [`IdSet`], 16 bytes per user.
struct Numbering {
    resume: Option<Arc<Resume>>,
    next: u64,
    /// Users already given a row by this run, for `--group` targets.
    dedup: Option<IdSet>,
    /// The earlier run's rows this run enumerated again.
    again: BitSet,
    failed: bool,
}

impl Numbering {
    /// The row of user `id`, or `None` when this run already gave the user one.
    fn seq(&mut self, id: &str) -> Option<u64> {
        if let Some(dedup) = &mut self.dedup
            && !dedup.insert(id)
        {
            return None;
        }
        match self.known(id) {
            Some(seq) if self.again.contains(seq) => None,
            Some(seq) => {
                self.again.insert(seq);
                Some(seq)
            }
            None => Some(self.fresh()),
        }
    }

    fn known(&self, id: &str) -> Option<u64> {
        self.resume.as_deref().and_then(|r| r.seq_of_user(id))
    }

    fn fresh(&mut self) -> u64 {
        let seq = self.next;
        self.next += 1;
        seq
    }

    /// The users an earlier run began, did not finish, and this run did not enumerate.
    fn left_behind(&self) -> Vec<(u64, String, String)> {
        match (&self.resume, self.failed) {
            (Some(resume), false) => resume
                .unfinished_users()
                .into_iter()
                .filter(|(seq, _, _)| !self.again.contains(*seq))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A set of object ids in 16 bytes each: GUIDs as numbers, most of them in one sorted vector
/// (searched by halves), the latest in a small hash set merged into it when it fills. Ids that
/// are not GUIDs (Graph's are) are kept as lower-case text.
#[derive(Default)]
pub(crate) struct IdSet {
    sorted: Vec<u128>,
    recent: HashSet<u128>,
    other: HashSet<String>,
}

/// Ids held in [`IdSet`]'s hash set before they are merged into its sorted vector.
const RECENT: usize = 64 * 1024;

impl IdSet {
    /// Add `id`; false when it was already there (letter case aside).
    pub(crate) fn insert(&mut self, id: &str) -> bool {
        let Ok(guid) = uuid::Uuid::parse_str(id).map(|u| u.as_u128()) else {
            return self.other.insert(id.to_lowercase());
        };
        if self.sorted.binary_search(&guid).is_ok() || !self.recent.insert(guid) {
            return false;
        }
        if self.recent.len() >= RECENT {
            self.sorted.reserve_exact(self.recent.len());
            self.sorted.extend(self.recent.drain());
            self.sorted.sort_unstable();
        }
        true
    }
}

/// The row of `defaults`' action for user `name`, row number `seq`.
fn target_row(defaults: &Defaults, seq: u64, name: &str, id: String, check_gone: bool) -> Row {
    let index = seq + 1;
    let kind = match defaults.operation_for(name, index) {
        Ok(op) => RowKind::Op(op),
        Err(problems) => RowKind::Invalid {
            row: index,
            why: problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        },
    };
    Row {
        seq,
        kind,
        user_id: Some(id),
        check_gone,
        planned: None,
    }
}

/// Stream the target users as rows of the `--action` given by `defaults`. A user in several
/// groups is worked on once. Enumeration errors become one failed row, and end the stream. With
/// `resume` (an earlier run's journal), users keep the rows the earlier run gave them, and the
/// users it began but this enumeration no longer lists come last, marked
/// [`check_gone`](Row::check_gone). The pages are read through `exec` ([`Executor::pages`]).
pub fn target_rows(
    exec: Executor,
    targets: Targets,
    defaults: Defaults,
    resume: Option<Arc<Resume>>,
) -> impl Stream<Item = Row> + Send {
    let dedup = matches!(targets, Targets::Groups(_)).then(IdSet::default);
    let users = match targets {
        Targets::AllUsers { filter } => exec
            .pages::<DirectoryUser>(requests::list_users(filter.as_deref(), PAGE_SIZE))
            .boxed(),
        Targets::Groups(groups) => futures::stream::iter(groups)
            .flat_map(move |group| {
                exec.pages::<DirectoryUser>(requests::group_members(&group, PAGE_SIZE))
            })
            .boxed(),
    };
    let numbering = Arc::new(Mutex::new(Numbering {
        next: resume.as_deref().map_or(0, Resume::next_seq),
        resume,
        dedup,
        again: BitSet::default(),
        failed: false,
    }));
    let tail = numbering.clone();
    let tail_defaults = defaults.clone();
    let listed = users.filter_map(move |user| {
        let mut numbering = numbering.lock().expect("the numbering");
        let row = match user {
            _ if numbering.failed => None,
            Ok(user) => {
                let name = if user.user_principal_name.is_empty() {
                    user.id.clone()
                } else {
                    user.user_principal_name.clone()
                };
                numbering
                    .seq(&user.id)
                    .map(|seq| target_row(&defaults, seq, &name, user.id, false))
            }
            Err(error) => {
                numbering.failed = true;
                let seq = numbering.fresh();
                Some(Row {
                    seq,
                    kind: RowKind::EnumerationFailed { error },
                    user_id: None,
                    check_gone: false,
                    planned: None,
                })
            }
        };
        std::future::ready(row)
    });
    let left = futures::stream::once(async move {
        let left = tail.lock().expect("the numbering").left_behind();
        futures::stream::iter(
            left.into_iter()
                .map(move |(seq, id, name)| target_row(&tail_defaults, seq, &name, id, true)),
        )
    })
    .flatten();
    listed.chain(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_set_knows_each_id_once_whatever_its_case_across_merges() {
        let mut set = IdSet::default();
        let id = |n: u128| uuid::Uuid::from_u128(n * 7919).to_string();
        for n in 0..(RECENT as u128 + 10) {
            assert!(set.insert(&id(n)));
        }
        assert!(
            !set.recent.is_empty() && !set.sorted.is_empty(),
            "merged once"
        );
        assert!(!set.insert(&id(3)), "in the sorted part");
        assert!(
            !set.insert(&id(RECENT as u128 + 5).to_uppercase()),
            "in the recent part"
        );
        assert!(set.insert("not-a-guid") && !set.insert("NOT-A-GUID"));
        assert!(set.insert(&id(RECENT as u128 + 20)));
    }

    #[test]
    fn targets_are_fingerprinted_by_canonical_values() {
        let a = Targets::Groups(vec!["G-1".into(), "g-2".into()]);
        let b = Targets::Groups(vec!["g-2".into(), "g-1".into(), "G-2".into()]);
        assert_eq!(a.canonical(), b.canonical());
        assert_ne!(
            Targets::AllUsers { filter: None }.canonical(),
            Targets::AllUsers {
                filter: Some("accountEnabled eq true".into())
            }
            .canonical()
        );
        assert_ne!(
            fingerprint(&[], &a.canonical()).unwrap(),
            fingerprint(&[], "all-users").unwrap()
        );
    }
}
