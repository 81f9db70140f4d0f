//! A run across many tenants (`run --tenants FILE`): one job applied in every tenant of the
//! tenants file ([`file`]), the tenants at once (at most `--tenant-concurrency`), each a whole
//! run of its own ([`super::run_collect`]): its own token, Graph client, executor, budgets and
//! adaptive rate (Graph's limits are per app and tenant, so N tenants go about N times faster
//! than one after another), and its own rate memory (kept per tenant and app).
//!
//! - The job is checked once, before any tenant starts (bad rows: exit 2).
//! - Each tenant writes its report to a temporary file beside the final one; at the end they
//!   are joined into the one report, tenant by tenant in the file's order, with a first column
//!   `tenant` (CSV) or a first key `tenant` (JSON Lines). A run of one tenant without
//!   `--tenants` keeps its columns.
//! - A tenant whose credential or permission check fails prints `error: tenant X: ...` and runs
//!   no row; the other tenants go on.
//! - At the end: each tenant's summary, then the total; `--summary-json` holds
//!   `{"tenants": [{tenant, name, exit_code, error, summary}], "total": summary}`.
//! - The exit code is the worst of the tenants': 130 (interrupted), 3, 2, 1, 0.
//! - Not with `--tenants`: `--resume` (the journals are per tenant and temporary), `--tap-out`,
//!   `--secrets-out`, `--failed-out`, `--max-changes`, a job on stdin, `--simulate`; writing
//!   needs `--yes` (nobody is asked once per tenant).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::Utc;

use super::RunConfig;
use crate::Outcome;
use crate::report::Summary;
use crate::report::format::stdout::{self, Destination};
use crate::report::summary::Traffic;
use crate::session::Connection;

pub mod file;

pub use file::{Settings, Tenant};

/// Held while one tenant's run prints its plan, so plans do not interleave.
pub(crate) static PRINTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The settings of a run across tenants.
pub struct TenantsConfig {
    /// The tenants file's tenants.
    pub tenants: Vec<Tenant>,
    /// At most this many tenants at once.
    pub concurrency: usize,
    /// The one report (`None`: `authbulk-<UTC time>.csv`, or none for a dry run).
    pub report: Option<Destination>,
    /// The summaries as JSON.
    pub summary_json: Option<Destination>,
    /// Plan only.
    pub dry_run: bool,
}

/// What one tenant's run gave.
struct Done {
    outcome: Outcome,
    summary: Option<Summary>,
    error: Option<String>,
}

/// Run the job `make` builds (given a tenant's connection) in every tenant.
pub async fn run(
    config: TenantsConfig,
    make: impl Fn(Connection) -> Result<RunConfig>,
) -> Result<Outcome> {
    let started = Instant::now();
    let now = Utc::now();
    let report = match &config.report {
        Some(Destination::File(path)) => Some(Destination::File(path.clone())),
        Some(Destination::Stdout) => Some(Destination::Stdout),
        None if config.dry_run => None,
        None => Some(Destination::File(crate::report::writer::default_path(now))),
    };
    for (flag, dest) in [
        ("--report", &report),
        ("--summary-json", &config.summary_json),
    ] {
        if let Some(Destination::File(path)) = dest
            && std::fs::symlink_metadata(path).is_ok()
        {
            bail!(
                "{flag} {} already exists: it is never overwritten; choose another file",
                path.display()
            );
        }
    }
    // The job, checked once: its bad rows are printed once, not once per tenant.
    {
        let mut probe = make(Connection::Tenant(config.tenants[0].auth.clone()))?;
        probe.report = None;
        super::check::flags(&probe, now)?;
        super::check::job(&mut probe)?;
    }
    let jsonl = matches!(&report, Some(Destination::File(p)) if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jsonl")));
    let ext = if jsonl { "jsonl" } else { "csv" };
    let place = match &report {
        Some(Destination::File(path)) => match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        },
        _ => std::env::temp_dir(),
    };
    let parts = tempfile::Builder::new()
        .prefix(".authbulk-tenants-")
        .tempdir_in(&place)
        .with_context(|| format!("creating a temporary folder in {}", place.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let ctrl_c = {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::SeqCst);
            }
        })
    };
    let gate = Arc::new(tokio::sync::Semaphore::new(config.concurrency.max(1)));
    let mut tasks = Vec::new();
    for (i, tenant) in config.tenants.iter().enumerate() {
        let mut run = make(Connection::Tenant(tenant.auth.clone()))?;
        run.tenant = Some(tenant.label());
        run.report = report
            .as_ref()
            .map(|_| Destination::File(parts.path().join(format!("{i}.{ext}"))));
        run.summary_json = None;
        let (gate, stop, label) = (gate.clone(), stop.clone(), tenant.label());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            if stop.load(Ordering::SeqCst) {
                return Done {
                    outcome: Outcome::Interrupted,
                    summary: None,
                    error: Some("not started: the run was interrupted".into()),
                };
            }
            match super::run_collect(run).await {
                Ok((outcome, summary)) => Done {
                    outcome,
                    summary,
                    error: None,
                },
                Err(err) => {
                    eprintln!("error: tenant {label}: {err:#}; the other tenants go on");
                    Done {
                        outcome: Outcome::Fatal,
                        summary: None,
                        error: Some(format!("{err:#}")),
                    }
                }
            }
        }));
    }
    let mut done = Vec::with_capacity(tasks.len());
    for task in tasks {
        done.push(task.await.unwrap_or_else(|err| Done {
            outcome: Outcome::Fatal,
            summary: None,
            error: Some(format!("the tenant's run failed: {err}")),
        }));
    }
    ctrl_c.abort();
    // The one report, tenant by tenant.
    let report_path = match &report {
        Some(dest) => match join_reports(dest, &config.tenants, parts.path(), ext) {
            Ok(path) => path,
            Err(err) => {
                let kept = parts.keep();
                eprintln!(
                    "error: {err:#}; each tenant's report is kept in {}",
                    kept.display()
                );
                return Ok(Outcome::Incomplete);
            }
        },
        None => None,
    };
    // The summaries, then the total.
    let mut total = Summary::default();
    let mut traffic = Traffic::default();
    let mut worst = Outcome::Success;
    let mut stderr = std::io::stderr().lock();
    let mut entries = Vec::new();
    for (tenant, mut d) in config.tenants.iter().zip(done) {
        let code = d.outcome.code();
        let _ = writeln!(stderr, "== tenant {}: exit code {code} ==", tenant.label());
        if let Some(summary) = &mut d.summary {
            summary.report.clone_from(&report_path);
            let _ = summary.print(&mut stderr);
            let _ = summary.print_failures(&mut stderr);
            total.absorb(summary);
            let t = summary.traffic;
            traffic.reads += t.reads;
            traffic.writes += t.writes;
            traffic.throttled += t.throttled;
            traffic.retries += t.retries;
            traffic.batches += t.batches;
        }
        if let Some(error) = &d.error {
            let _ = writeln!(stderr, "error: {error}");
        }
        worst = worse(worst, d.outcome);
        entries.push(serde_json::json!({
            "tenant": tenant.tenant,
            "name": tenant.name,
            "exit_code": code,
            "error": d.error,
            "summary": d.summary,
        }));
    }
    total.finish(traffic, started.elapsed());
    total.report = report_path;
    total.peak_memory_mib = crate::report::summary::peak_memory_mib();
    let _ = writeln!(
        stderr,
        "== all {} tenants: exit code {} ==",
        config.tenants.len(),
        worst.code()
    );
    let _ = total.print(&mut stderr);
    let _ = stderr.flush();
    let json = serde_json::json!({ "tenants": entries, "total": total });
    match &config.summary_json {
        Some(Destination::File(path)) => {
            if let Err(err) = write_new(path, &serde_json::to_vec_pretty(&json)?) {
                let _ = writeln!(stderr, "warning: --summary-json: {err:#}");
            }
        }
        Some(Destination::Stdout) => {
            let mut out = stdout::stdout();
            let _ = serde_json::to_writer_pretty(&mut out, &json);
            let _ = writeln!(out).and_then(|()| out.flush());
        }
        None => {}
    }
    Ok(worst)
}

/// The worse of two outcomes: interrupted, then incomplete, fatal, rows failed, success.
fn worse(a: Outcome, b: Outcome) -> Outcome {
    let rank = |o: Outcome| match o {
        Outcome::Success => 0,
        Outcome::RowsFailed => 1,
        Outcome::Fatal => 2,
        Outcome::Incomplete => 3,
        Outcome::Interrupted => 4,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// A new file (mode 0600), never over an existing one.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Join the tenants' reports into `dest`, each record with its tenant first; the path written.
fn join_reports(
    dest: &Destination,
    tenants: &[Tenant],
    parts: &Path,
    ext: &str,
) -> Result<Option<PathBuf>> {
    let (mut out, path): (Box<dyn Write>, Option<PathBuf>) = match dest {
        Destination::File(path) => {
            use std::os::unix::fs::OpenOptionsExt;
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot create the report {}", path.display()))?;
            (Box::new(std::io::BufWriter::new(file)), Some(path.clone()))
        }
        Destination::Stdout => (Box::new(stdout::stdout()), None),
    };
    let name = path
        .as_ref()
        .map_or_else(|| "the report".to_string(), |p| p.display().to_string());
    if ext == "jsonl" {
        for (i, tenant) in tenants.iter().enumerate() {
            let Ok(text) = std::fs::read_to_string(parts.join(format!("{i}.{ext}"))) else {
                continue;
            };
            let key = serde_json::to_string(&tenant.tenant)?;
            for line in text.lines().filter(|l| l.starts_with('{')) {
                let rest = &line[1..];
                let sep = if rest.trim_start().starts_with('}') {
                    ""
                } else {
                    ","
                };
                writeln!(out, "{{\"tenant\":{key}{sep}{rest}")
                    .with_context(|| format!("writing {name}"))?;
            }
        }
    } else {
        let mut writer = csv::Writer::from_writer(&mut out);
        let mut header_written = false;
        for (i, tenant) in tenants.iter().enumerate() {
            let Ok(mut reader) = csv::Reader::from_path(parts.join(format!("{i}.{ext}"))) else {
                continue;
            };
            if !header_written {
                let mut header = csv::StringRecord::from(vec!["tenant"]);
                header.extend(reader.headers()?.iter());
                writer.write_record(&header)?;
                header_written = true;
            }
            for record in reader.records() {
                let record = record?;
                let mut row = csv::StringRecord::from(vec![tenant.tenant.as_str()]);
                row.extend(record.iter());
                writer
                    .write_record(&row)
                    .with_context(|| format!("writing {name}"))?;
            }
        }
        writer.flush().with_context(|| format!("writing {name}"))?;
    }
    out.flush().with_context(|| format!("writing {name}"))?;
    Ok(path)
}
