//! `authbulk tokens`: the tenant's hardware OATH token inventory (Microsoft Graph beta, global
//! cloud only; see [`crate::graph::oath`]).
//! - `tokens import FILE`: a vendor's seed file ([`seed`]) into the inventory. Every row is
//!   checked before any request (a bad row is exit 2 naming the file and line); the inventory
//!   is read once, a token whose serial number is there already is `unchanged`, the others are
//!   created through the executor (`$batch`, the rate budget, retries), and a create whose
//!   answer was lost is checked by serial number before it is sent again. A report line per
//!   row (CSV or JSON Lines, stdout or `--report`), never the key.
//! - `tokens list`: every token with its status and who holds it (CSV or JSON Lines), never
//!   the key (Graph shows it `null`; it is not even read).
//!
//! Permissions ("Create hardwareOathTokenAuthenticationMethodDevice", "List
//! hardwareOathDevices"): Policy.ReadWrite.AuthenticationMethod to import, Policy.Read.All (or
//! the former) to list.

pub mod seed;

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Value, json};

use crate::Outcome;
use crate::exec::{ExecConfig, Executor};
use crate::export::format::csv::write_line;
use crate::export::format::{Destination, OutFormat, Output};
use crate::graph::cloud::Capability;
use crate::graph::oath::{self as wire, Device};
use crate::graph::{ApiVersion, ErrorKind, GraphCall, GraphError, Request};
use crate::session::{Connection, Session};
use seed::SeedRow;

/// What `tokens import` is asked to do.
#[derive(Debug)]
pub struct ImportConfig {
    /// The seed file.
    pub file: PathBuf,
    /// Where the report goes (stdout by default).
    pub report: Destination,
    /// Plan only: read the inventory, create nothing.
    pub dry_run: bool,
    /// The tenant.
    pub connection: Connection,
    /// Rate, retries, concurrency.
    pub exec: ExecConfig,
}

/// What `tokens list` is asked to do.
#[derive(Debug)]
pub struct ListConfig {
    /// Where the listing goes (stdout by default).
    pub output: Destination,
    /// The tenant.
    pub connection: Connection,
    /// Rate, retries, concurrency.
    pub exec: ExecConfig,
}

/// The columns of the import report.
const REPORT_COLUMNS: [&str; 10] = [
    "line",
    "serialNumber",
    "manufacturer",
    "model",
    "status",
    "id",
    "http_status",
    "error_code",
    "error_message",
    "request_id",
];

/// The columns of the listing.
const LIST_COLUMNS: [&str; 10] = [
    "id",
    "serialNumber",
    "displayName",
    "manufacturer",
    "model",
    "status",
    "timeIntervalInSeconds",
    "hashFunction",
    "assignedToId",
    "assignedToName",
];

/// A CSV or JSON Lines table: a new file or stdout.
struct Table {
    name: String,
    format: OutFormat,
    safe: bool,
    columns: &'static [&'static str],
    out: BufWriter<Box<dyn Write + Send>>,
}

impl Table {
    fn create(destination: &Destination, columns: &'static [&'static str]) -> Result<Table> {
        let Output {
            format, out, safe, ..
        } = Output::open(destination, None)?;
        let name = match destination {
            Destination::File(path) => path.display().to_string(),
            Destination::Stdout => "stdout".to_string(),
        };
        let mut table = Table {
            name,
            format,
            safe,
            columns,
            out: BufWriter::new(out),
        };
        if format == OutFormat::Csv {
            write_line(&mut table.out, safe, columns.iter().copied())
                .with_context(|| format!("cannot write {}", table.name))?;
        }
        Ok(table)
    }

    fn write(&mut self, row: &Map<String, Value>) -> Result<()> {
        let result = match self.format {
            OutFormat::Csv => {
                let cells: Vec<String> = self
                    .columns
                    .iter()
                    .map(|c| match row.get(*c) {
                        None | Some(Value::Null) => String::new(),
                        Some(Value::String(s)) => s.clone(),
                        Some(other) => other.to_string(),
                    })
                    .collect();
                write_line(&mut self.out, self.safe, cells.iter().map(String::as_str))
            }
            OutFormat::JsonLines => serde_json::to_writer(&mut self.out, row)
                .map_err(std::io::Error::from)
                .and_then(|()| self.out.write_all(b"\n")),
        };
        result
            .and_then(|()| self.out.flush())
            .with_context(|| format!("cannot write {}", self.name))
    }
}

/// Refuse a cloud whose Graph has no hardware OATH tokens, before anything else.
fn check_cloud(connection: &Connection) -> Result<()> {
    let cloud = connection.cloud();
    if !Capability::HardwareOath.offered_in(cloud) {
        bail!(
            "{}",
            Capability::HardwareOath.refusal(cloud).replace(
                ": nothing was sent",
                ": the token inventory exists only in the global cloud; nothing was sent"
            )
        );
    }
    Ok(())
}

/// Connect, get a first token, and start the executor for the tenant.
async fn open(connection: &Connection, exec: ExecConfig) -> Result<Session> {
    let (tenant, _token) = crate::session::open(connection, exec.concurrency).await?;
    Ok(tenant.start(exec))
}

/// Every token of the inventory, paged through the executor.
async fn inventory(exec: &Executor) -> Result<Vec<Device>, GraphError> {
    exec.pages::<Value>(Request::get(
        ApiVersion::Beta,
        format!("{}?$top=999", wire::INVENTORY),
    ))
    .and_then(|value| async move {
        wire::parse_device(value).map_err(|e| GraphError {
            kind: ErrorKind::Rejected,
            status: None,
            code: "unexpectedAnswer".into(),
            message: e.to_string(),
            request_id: None,
            attempts: 1,
        })
    })
    .try_collect()
    .await
}

fn inventory_error(error: GraphError, needs: &str) -> anyhow::Error {
    let hint = if error.status == Some(403) {
        format!(" (the app needs {needs})")
    } else {
        String::new()
    };
    anyhow::anyhow!("the hardware OATH token inventory could not be read: {error}{hint}")
}

/// `tokens list`.
pub async fn list(config: ListConfig) -> Result<Outcome> {
    check_cloud(&config.connection)?;
    let mut table = Table::create(&config.output, &LIST_COLUMNS)?;
    let session = open(&config.connection, config.exec).await?;
    let devices = inventory(&session.exec)
        .await
        .map_err(|e| inventory_error(e, "Policy.Read.All"))?;
    let mut held = 0;
    for d in &devices {
        let holder = d.assigned_to.clone().unwrap_or_default();
        held += usize::from(holder.id.is_some());
        let row = json!({
            "id": d.id,
            "serialNumber": d.serial_number,
            "displayName": d.display_name,
            "manufacturer": d.manufacturer,
            "model": d.model,
            "status": d.status,
            "timeIntervalInSeconds": d.time_interval_in_seconds,
            "hashFunction": d.hash_function,
            "assignedToId": holder.id,
            "assignedToName": holder.display_name,
        });
        if let Value::Object(row) = row {
            table.write(&row)?;
        }
    }
    eprintln!(
        "{} hardware OATH token(s), {held} held by a user, listed to {}",
        devices.len(),
        table.name
    );
    Ok(Outcome::Success)
}

/// How one seed row ended.
struct RowEnd {
    status: &'static str,
    id: Option<String>,
    error: Option<GraphError>,
}

/// `tokens import`.
pub async fn import(config: ImportConfig) -> Result<Outcome> {
    check_cloud(&config.connection)?;
    let rows = match seed::read(&config.file)? {
        Ok(rows) => rows,
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            bail!(
                "{} line(s) of {} are invalid (listed above): nothing was imported",
                problems.len(),
                config.file.display()
            );
        }
    };
    let mut table = Table::create(&config.report, &REPORT_COLUMNS)?;
    let session = open(&config.connection, config.exec).await?;
    let existing: HashMap<String, String> = inventory(&session.exec)
        .await
        .map_err(|e| inventory_error(e, "Policy.ReadWrite.AuthenticationMethod"))?
        .into_iter()
        .map(|d| (d.serial_number, d.id))
        .collect();
    let _ctrl_c = session.listen_for_ctrl_c();
    let exec = &session.exec;
    let dry_run = config.dry_run;
    let mut results = futures::stream::iter(rows.into_iter().map(|row| {
        let known = existing.get(&row.serial).cloned();
        async move {
            let ended = match known {
                Some(id) => RowEnd {
                    status: "unchanged",
                    id: Some(id),
                    error: None,
                },
                None if dry_run => RowEnd {
                    status: "planned",
                    id: None,
                    error: None,
                },
                None => create(exec, &row).await,
            };
            (row, ended)
        }
    }))
    .buffered(config.exec.concurrency.max(1) * 20);
    let (mut created, mut planned, mut unchanged, mut failed, mut cancelled) = (0, 0, 0, 0, 0);
    while let Some((row, ended)) = results.next().await {
        match ended.status {
            "ok" => created += 1,
            "planned" => planned += 1,
            "unchanged" => unchanged += 1,
            "cancelled" => cancelled += 1,
            "failed" => failed += 1,
            _ => {}
        }
        let error = ended.error.as_ref();
        let record = json!({
            "line": row.line,
            "serialNumber": row.serial,
            "manufacturer": row.manufacturer,
            "model": row.model,
            "status": ended.status,
            "id": ended.id,
            "http_status": error.and_then(|e| e.status),
            "error_code": error.map(|e| e.code.clone()),
            "error_message": error.map(|e| e.message.clone()),
            "request_id": error.and_then(|e| e.request_id.clone()),
        });
        if let Value::Object(record) = record {
            table.write(&record)?;
        }
    }
    drop(results);
    let verb = if dry_run { "to create" } else { "created" };
    eprintln!(
        "tokens import: {} {verb}, {unchanged} unchanged, {failed} failed{}; report: {}",
        if dry_run { planned } else { created },
        if cancelled > 0 {
            format!(", {cancelled} cancelled")
        } else {
            String::new()
        },
        table.name
    );
    Ok(if cancelled > 0 {
        Outcome::Interrupted
    } else if failed > 0 {
        Outcome::RowsFailed
    } else {
        Outcome::Success
    })
}

/// Create one token; a lost answer is checked by serial number before a resend.
async fn create(exec: &Executor, row: &SeedRow) -> RowEnd {
    let request = Request::post(
        ApiVersion::Beta,
        wire::INVENTORY,
        wire::create_body(
            &row.serial,
            &row.manufacturer,
            &row.model,
            &row.secret,
            row.interval,
            row.hash,
        ),
    );
    for _ in 0..5 {
        match exec.call(&row.serial, request.clone()).await {
            Ok(response) => {
                let id = response
                    .body
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                return RowEnd {
                    status: "ok",
                    id,
                    error: None,
                };
            }
            Err(error) if error.kind == ErrorKind::UnknownOutcome => {
                match exec
                    .call(&row.serial, wire::find_by_serial(&row.serial))
                    .await
                    .ok()
                    .and_then(|r| wire::parse_found(&r.body, &row.serial).ok().flatten())
                {
                    Some(token) => {
                        return RowEnd {
                            status: "ok",
                            id: Some(token.id),
                            error: None,
                        };
                    }
                    None => continue,
                }
            }
            Err(error) => {
                return RowEnd {
                    status: if error.kind == ErrorKind::Cancelled {
                        "cancelled"
                    } else {
                        "failed"
                    },
                    id: None,
                    error: Some(error),
                };
            }
        }
    }
    RowEnd {
        status: "failed",
        id: None,
        error: Some(GraphError {
            kind: ErrorKind::UnknownOutcome,
            status: None,
            code: "unknownOutcome".into(),
            message: "the answer to the create was lost 5 times and the inventory does not \
                      show the token"
                .into(),
            request_id: None,
            attempts: 5,
        }),
    }
}
