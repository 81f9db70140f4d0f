//! `authbulk status`: each target user's registration status (MFA, SSPR, passwordless, the
//! methods registered) from the registration report, `GET
//! /reports/authenticationMethods/userRegistrationDetails` (v1.0, `AuditLog.Read.All`, Entra ID
//! P1/P2), one row per user in Graph's own property names ([`record::COLUMNS`]), as CSV (a
//! valid job file: its `id` column names the user) or JSON Lines. Called by the CLI with a
//! validated [`StatusConfig`].
//!
//! Read-only. Order, as in [`crate::export`]: check the job files; create the output (never an
//! existing file); connect and fetch the first token; then:
//! - The report is paged (`$top=999`, the filters Graph evaluates itself in `$filter`), so
//!   100,000 users take about a hundred requests. Job-file and `--group` targets (and
//!   `--all-users --filter`, which the report cannot evaluate) are joined to it: their users'
//!   keys (object id or UPN, lower case) are gathered first, then each report record whose id
//!   or UPN is among them is written as it comes; memory holds the keys, never the report.
//! - When the tenant has no P1/P2 (403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant`),
//!   each target user's methods and sign-in preferences are read through the executor instead
//!   (as `export` does) and the columns that can be derived from them are filled
//!   ([`record::derive`]; [`record::NOT_DERIVED`] stay empty); stderr says so.
//!
//! Every request goes through the same client, throttling and retries as `export`; the summary
//! on stderr gives the users listed, the share registered for MFA and the count per method.
//!
//! Sources: "List userRegistrationDetails"
//! (learn.microsoft.com/graph/api/authenticationmethodsroot-list-userregistrationdetails),
//! "userRegistrationDetails resource type".

use std::collections::{BTreeMap, HashSet};
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::Outcome;
use crate::exec::{DriveEnd, ExecConfig, Executor, UserWork, for_each_user};
use crate::export::format::csv::write_line;
use crate::export::format::{Destination, OutFormat, Output};
use crate::graph::{ApiVersion, GraphCall, GraphError, Request, methods, requests};
use crate::job::{ActionKind, Defaults};
use crate::session::{self, Connection, Session};
use crate::target::{self as source, Input, Row, RowKind, Targets};

pub mod record;

pub use record::Filters;

/// The validated settings of `authbulk status`.
#[derive(Debug)]
pub struct StatusConfig {
    /// Job files (only their users matter) or enumerated targets.
    pub input: Input,
    /// Row defaults of the job files (`list` unless given).
    pub defaults: Defaults,
    /// Which users are listed.
    pub filters: Filters,
    /// Where the table goes.
    pub out: Destination,
    /// Its format (`None`: by the file's extension; CSV on stdout).
    pub out_format: Option<OutFormat>,
    /// The tenant.
    pub connection: Connection,
    /// Rate, retries and concurrency.
    pub exec: ExecConfig,
}

/// The default output: `authbulk-status-<UTC time, to the millisecond>.csv`.
pub fn default_out(now: chrono::DateTime<chrono::Utc>) -> Destination {
    Destination::File(format!("authbulk-status-{}.csv", now.format("%Y%m%dT%H%M%S%.3fZ")).into())
}

/// The error code of the report's 403 in a tenant without Entra ID P1/P2.
const NON_PREMIUM: &str = "Authentication_RequestFromNonPremiumTenantOrB2CTenant";

/// The report's first page: `$top=999`, and the server-side filter.
fn report_request(filters: &Filters) -> Request {
    let mut path = "/reports/authenticationMethods/userRegistrationDetails?$top=999".to_string();
    if let Some(filter) = filters.odata() {
        path.push_str("&$filter=");
        path.push_str(
            &percent_encoding::utf8_percent_encode(&filter, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
        );
    }
    Request::get(ApiVersion::V1, path)
}

/// The status table being written.
struct TableWriter {
    name: String,
    format: OutFormat,
    safe: bool,
    out: BufWriter<Box<dyn Write + Send>>,
    closed: Arc<AtomicBool>,
    destination: Destination,
}

impl TableWriter {
    fn create(destination: &Destination, format: Option<OutFormat>) -> Result<Self> {
        let Output {
            format,
            out,
            closed,
            safe,
        } = Output::open(destination, format)?;
        let name = match destination {
            Destination::File(path) => path.display().to_string(),
            Destination::Stdout => "stdout".to_string(),
        };
        let mut writer = TableWriter {
            name,
            format,
            safe,
            out: BufWriter::new(out),
            closed,
            destination: destination.clone(),
        };
        if format == OutFormat::Csv {
            write_line(&mut writer.out, safe, record::COLUMNS)
                .and_then(|()| writer.out.flush())
                .with_context(|| format!("cannot write {}", writer.name))?;
        }
        Ok(writer)
    }

    fn write(&mut self, record: &Map<String, Value>) -> Result<()> {
        let result = match self.format {
            OutFormat::Csv => {
                let cells: Vec<String> = record::COLUMNS
                    .iter()
                    .map(|c| record::cell(record.get(*c)))
                    .collect();
                write_line(&mut self.out, self.safe, cells.iter().map(String::as_str))
            }
            OutFormat::JsonLines => record::write_json(&mut self.out, record),
        };
        result
            .and_then(|()| self.out.flush())
            .with_context(|| format!("cannot write {}", self.name))
    }

    fn closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    fn discard(self) {
        drop(self.out);
        if let Destination::File(path) = self.destination {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// What the table holds, for the summary.
#[derive(Debug, Default)]
struct Summary {
    users: u64,
    mfa: u64,
    methods: BTreeMap<String, u64>,
    failed: u64,
    missing: u64,
}

impl Summary {
    fn add(&mut self, record: &Map<String, Value>) {
        self.users += 1;
        if record.get("isMfaRegistered").and_then(Value::as_bool) == Some(true) {
            self.mfa += 1;
        }
        for method in record::registered(record) {
            *self.methods.entry(method.to_string()).or_default() += 1;
        }
    }

    fn print(&self, out: &mut dyn Write, name: &str) -> std::io::Result<()> {
        let share = match self.users {
            0 => 0.0,
            n => self.mfa as f64 * 100.0 / n as f64,
        };
        writeln!(
            out,
            "status: {} users listed in {name}; {} registered for MFA ({share:.1}%)",
            self.users, self.mfa
        )?;
        if !self.methods.is_empty() {
            let counts: Vec<String> = self
                .methods
                .iter()
                .map(|(m, n)| format!("{m} {n}"))
                .collect();
            writeln!(out, "  by method: {}", counts.join(", "))?;
        }
        if self.missing > 0 {
            writeln!(
                out,
                "  {} target users are not in the registration report (unknown, or disabled: \
                 the report leaves disabled users out)",
                self.missing
            )?;
        }
        if self.failed > 0 {
            writeln!(out, "  {} users could not be read (see above)", self.failed)?;
        }
        Ok(())
    }
}

/// The keys (lower-case object id or UPN) of the target users, or `None` for every user.
async fn target_keys(
    input: Input,
    defaults: &Defaults,
    exec: &Executor,
) -> Result<Option<HashSet<String>>> {
    let mut rows: BoxStream<'static, Row> = match input {
        Input::Targets(Targets::AllUsers { filter: None }) => return Ok(None),
        Input::Jobs(sources) => source::job_rows(sources, defaults.clone()).boxed(),
        Input::Targets(targets) => {
            source::target_rows(exec.clone(), targets, list_defaults(), None).boxed()
        }
    };
    let mut keys = HashSet::new();
    while let Some(row) = rows.next().await {
        match row.kind {
            RowKind::Op(op) => {
                keys.insert(row.user_id.unwrap_or(op.user).to_lowercase());
            }
            RowKind::Invalid { row, why } => bail!("job row {row}: {why}"),
            RowKind::EnumerationFailed { error } => {
                bail!("enumerating the target users failed: {error}")
            }
        }
    }
    Ok(Some(keys))
}

fn list_defaults() -> Defaults {
    Defaults {
        action: Some(ActionKind::List),
        ..Defaults::default()
    }
}

/// List the status to the end; errors are fatal problems found before any row (exit 2).
pub async fn status(config: StatusConfig) -> Result<Outcome> {
    // 1. The job: every bad row printed before anything else happens.
    let (input, _spooled) = match config.input {
        Input::Jobs(sources) => {
            let (sources, spooled) = source::spool_stdin(sources)?;
            let checked = source::check(&sources, &config.defaults, |p| eprintln!("{p}"))?;
            if checked.invalid_rows > 0 {
                bail!(
                    "{} of {} rows are invalid ({} problems, listed above): status reads only \
                     the user column, but each row must still be a valid job row",
                    checked.invalid_rows,
                    checked.rows,
                    checked.problems
                );
            }
            (Input::Jobs(sources), Some(spooled))
        }
        targets => (targets, None),
    };

    // 2. The output, before any request.
    let mut writer = TableWriter::create(&config.out, config.out_format)?;

    // 3. The tenant, the first token, and the report's first page (a refused report is
    //    known before any user is listed).
    let started = async {
        let (tenant, _token) = session::open(&config.connection, config.exec.concurrency).await?;
        let session = tenant.start(config.exec);
        let exec = &session.exec;
        // `--group NAME`: each name to its one group's id, before any user is read.
        let input = match input {
            Input::Targets(targets) => Input::Targets(source::resolve_groups(exec, targets).await?),
            input => input,
        };
        let mut report = exec
            .pages::<Map<String, Value>>(report_request(&config.filters))
            .boxed()
            .peekable();
        let premium = match std::pin::Pin::new(&mut report).peek().await {
            Some(Err(error)) if error.status == Some(403) && error.code == NON_PREMIUM => false,
            Some(Err(error)) => bail!("the registration report could not be read: {error}"),
            _ => true,
        };
        if !premium && config.filters.admins {
            bail!(
                "--admins needs the registration report, which this tenant refuses (403 \
                 {NON_PREMIUM}: it has no Microsoft Entra ID P1/P2)"
            );
        }
        let keys = match premium {
            true => Ok(target_keys(input, &config.defaults, exec).await?),
            false => Err(input),
        };
        anyhow::Ok((session, report, keys))
    }
    .await;
    let (session, report, keys) = match started {
        Ok(ok) => ok,
        Err(err) => {
            writer.discard();
            return Err(err);
        }
    };
    let name = writer.name.clone();
    let mut summary = Summary::default();
    let end = match keys {
        Ok(keys) => {
            from_report(report, keys, &config.filters, &mut writer, &mut summary).await?;
            Outcome::Success
        }
        Err(input) => {
            drop(report);
            eprintln!(
                "status: the registration report is refused (403 {NON_PREMIUM}: no Microsoft \
                 Entra ID P1/P2); reading each user's methods instead. Not derived, left \
                 empty: {}",
                record::NOT_DERIVED.join(", ")
            );
            from_methods(
                input,
                &config.defaults,
                &session,
                config.exec,
                &config.filters,
                writer,
                &mut summary,
            )
            .await?
        }
    };
    let mut stderr = std::io::stderr().lock();
    let _ = summary.print(&mut stderr, &name);
    let _ = stderr.flush();
    drop(session);
    Ok(match end {
        Outcome::Success if summary.failed > 0 => Outcome::RowsFailed,
        end => end,
    })
}

/// Write the report's records of the target users (`keys`: `None` for every user).
async fn from_report(
    report: impl Stream<Item = Result<Map<String, Value>, GraphError>> + Unpin,
    keys: Option<HashSet<String>>,
    filters: &Filters,
    writer: &mut TableWriter,
    summary: &mut Summary,
) -> Result<()> {
    let mut report = report;
    let mut found: HashSet<String> = HashSet::new();
    while let Some(record) = report.next().await {
        let record = record
            .map_err(|error| anyhow::anyhow!("reading the registration report failed: {error}"))?;
        let text = |name: &str| {
            record
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_lowercase()
        };
        if let Some(keys) = &keys {
            let (id, upn) = (text("id"), text("userPrincipalName"));
            let key = [id, upn].into_iter().find(|k| keys.contains(k));
            match key {
                Some(key) => {
                    found.insert(key);
                }
                None => continue,
            }
        }
        if !filters.keeps(&record) {
            continue;
        }
        if writer.closed() {
            break;
        }
        summary.add(&record);
        writer.write(&record)?;
    }
    // A filter leaves users out on purpose; only an unfiltered listing misses users.
    if let Some(keys) = keys
        && filters == &Filters::default()
    {
        summary.missing = keys.len().saturating_sub(found.len()) as u64;
    }
    Ok(())
}

/// What reading one user's methods gave: its derived record, or why it failed.
type Read = Result<Map<String, Value>, String>;

/// Reading one target user's methods and preferences through the executor.
struct MethodsWork<G> {
    graph: G,
}

impl<G: GraphCall + 'static> UserWork for MethodsWork<G> {
    type Item = Row;
    type Output = Read;

    fn user_key(&self, row: &Row) -> String {
        match &row.kind {
            RowKind::Op(op) => op.user_key(),
            _ => format!("\u{0}row{}", row.seq),
        }
    }

    /// A user the run was stopped before: nothing to list (an empty reason).
    fn cancelled(&self, _row: Row) -> Read {
        Err(String::new())
    }

    async fn run(&self, row: Row) -> Read {
        let user = match row.kind {
            RowKind::Op(op) => row.user_id.unwrap_or(op.user),
            RowKind::Invalid { row, why } => return Err(format!("job row {row}: {why}")),
            RowKind::EnumerationFailed { error } => {
                return Err(format!("enumerating the target users failed: {error}"));
            }
        };
        let failed = |error: GraphError| format!("{user}: {error}");
        let answer = self
            .graph
            .call(&user, requests::resolve_user(&user))
            .await
            .map_err(failed)?;
        let id = methods::parse_user_id(&answer.body).map_err(|e| format!("{user}: {e}"))?;
        let upn = answer
            .body
            .get("userPrincipalName")
            .and_then(Value::as_str)
            .unwrap_or(&user)
            .to_string();
        let listed = self
            .graph
            .call(&user, requests::read_methods(&id, true))
            .await
            .map_err(failed)?;
        let list = listed
            .body
            .get("value")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let preferences = self
            .graph
            .call(&user, requests::read_preferences(&id))
            .await
            .ok()
            .map(|answer| answer.body.into_value());
        match record::derive(&id, &upn, list, preferences.as_ref()) {
            Value::Object(map) => Ok(map),
            _ => Err(format!("{user}: no record")),
        }
    }
}

/// Derive each target user's record from its methods, read through the executor.
async fn from_methods(
    input: Input,
    defaults: &Defaults,
    session: &Session,
    exec: ExecConfig,
    filters: &Filters,
    writer: TableWriter,
    summary: &mut Summary,
) -> Result<Outcome> {
    let ctrl_c = session.listen_for_ctrl_c();
    let rows: BoxStream<'static, Row> = match input {
        Input::Jobs(sources) => source::job_rows(sources, defaults.clone()).boxed(),
        Input::Targets(targets) => {
            source::target_rows(session.exec.clone(), targets, list_defaults(), None).boxed()
        }
    };
    let (reads, mut received) = mpsc::channel::<Read>(1024);
    let filters = filters.clone();
    let collector = tokio::spawn(async move {
        let mut writer = writer;
        let mut summary = Summary::default();
        let mut listed: HashSet<String> = HashSet::new();
        let mut failure = None;
        while let Some(read) = received.recv().await {
            if writer.closed() {
                break;
            }
            match read {
                Ok(record) => {
                    let id = record::cell(record.get("id")).to_lowercase();
                    if !listed.insert(id) || !filters.keeps(&record) {
                        continue;
                    }
                    summary.add(&record);
                    if failure.is_none() {
                        failure = writer.write(&record).err();
                    }
                }
                Err(why) if why.is_empty() => {}
                Err(why) => {
                    eprintln!("status: cannot read {why}");
                    summary.failed += 1;
                }
            }
        }
        (summary, failure)
    });
    let work = Arc::new(MethodsWork {
        graph: session.exec.clone(),
    });
    let end = for_each_user(
        work,
        rows,
        exec.active_users,
        reads,
        session.shutdown.clone(),
    )
    .await;
    let (collected, failure) = collector.await.context("the status task failed")?;
    ctrl_c.abort();
    *summary = collected;
    if let Some(failure) = failure {
        return Err(failure);
    }
    Ok(match end {
        DriveEnd::Drained | DriveEnd::Aborted => Outcome::Interrupted,
        _ => Outcome::Success,
    })
}
