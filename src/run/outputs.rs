//! The second phase of a run: the files it writes, created before any request. The run lock
//! and the list of files created ([`Guard`]), then the report and journal (or, with
//! `--resume`, the report again from the journal's finished records), the `--tap-out` file and
//! the `--secrets-out` folder ([`create`]). A report on stdout (or none) has no journal: there
//! is no file for `--resume` to continue.
//!
//! Files this run creates are removed again if it stops before applying anything (a bad
//! credential, a refused plan), so the same command can simply be run again: the [`Guard`] is
//! made first and dropped last, removing them (unless kept) before the lock goes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, bail};

use super::check::Job;
use super::{RunConfig, lock};
use crate::plan::{SecretsDir, TapOutFile};
use crate::report::{Journal, ReportWriter, Resume, Summary, journal};

/// The run lock and the files created so far; dropped last. Fields drop in order: the created
/// files go while the lock is still held.
pub(super) struct Guard {
    /// Files this run created, removed on an early exit.
    pub created: CreatedFiles,
    /// One run at a time on a report file, held until the run ends (see [`lock`]).
    _lock: Option<lock::RunLock>,
}

impl Guard {
    /// Lock the report file (none for a report on stdout or no report).
    pub fn lock(report_file: Option<&Path>) -> Result<Guard> {
        let _lock = match report_file {
            Some(path) => Some(lock::RunLock::acquire(path)?),
            None => None,
        };
        Ok(Guard {
            created: CreatedFiles::default(),
            _lock,
        })
    }
}

/// What the run writes to.
pub(super) struct Outputs {
    /// Where created passes go (`--tap-out`; not for a dry run).
    pub taps: Option<Arc<TapOutFile>>,
    /// Where QR codes and PINs go (`--secrets-out`; not for a dry run).
    pub secrets: Option<Arc<SecretsDir>>,
    /// The journal (a report file, not a dry run).
    pub journal: Option<Journal>,
    /// What the interrupted run did (`--resume`).
    pub resume: Option<Arc<Resume>>,
    /// The report.
    pub report: ReportWriter,
    /// The counts of the records kept from the interrupted run (`--resume`).
    pub kept: Summary,
    /// The journal's path, when the report is a file.
    pub journal_path: Option<PathBuf>,
}

/// Create the report and journal (or reopen them with `--resume`), then the `--tap-out` file
/// and the `--secrets-out` folder, noting each in `guard` and in the journal.
pub(super) fn create(
    config: &RunConfig,
    report_file: Option<&Path>,
    job: &mut Job,
    guard: &mut Guard,
) -> Result<Outputs> {
    let journal_path = report_file.map(journal::path_for);
    let mut kept = Summary::keeping_failed_rows(config.failed_out.is_some());
    let (report, mut journal, resume) = if config.resume
        && let (Some(report_path), Some(journal_path)) = (report_file, &journal_path)
    {
        resumed(report_path, journal_path, job, &mut kept)?
    } else {
        let (report, journal) = fresh(config, report_file, journal_path.as_deref(), job, guard)?;
        (report, journal, None)
    };
    // One tenant of a run across several writes a part of that run's report, named at its end.
    match (report_file, &config.report) {
        _ if config.tenant.is_some() => {}
        (Some(path), _) => eprintln!("report: {}", path.display()),
        (None, Some(_)) => eprintln!("report: stdout"),
        (None, None) => {}
    }
    let taps = match (&config.tap_out, config.dry_run) {
        (Some(path), false) => {
            let file = TapOutFile::create(path, std::mem::take(&mut job.tap_columns))?;
            guard.created.0.push(path.clone());
            if let Some(journal) = journal.as_mut() {
                journal.tap_out(path)?;
            }
            Some(Arc::new(file))
        }
        _ => None,
    };
    let secrets = secrets_dir(config, job, guard, journal.as_mut())?;
    Ok(Outputs {
        taps,
        secrets,
        journal,
        resume,
        report,
        kept,
        journal_path,
    })
}

/// `--resume`: the journal of the interrupted run, and the report again from its finished
/// records, each once; their counts join this run's (in `kept`) so the summary and the exit
/// code cover the whole report.
fn resumed(
    report_path: &Path,
    journal_path: &Path,
    job: &Job,
    kept: &mut Summary,
) -> Result<(ReportWriter, Option<Journal>, Option<Arc<Resume>>)> {
    if !journal_path.exists() && report_path.exists() {
        bail!(
            "nothing to resume: the run that wrote {} finished (its journal is removed \
             once every row is done, unless --keep-journal)",
            report_path.display()
        );
    }
    let (journal, resume) = Journal::resume(journal_path, &job.fingerprint)?;
    let records = Journal::numbered_records(journal_path)?.map(|(seq, r)| {
        kept.add(&r);
        kept.note_failed_row(seq, &r);
        r
    });
    let report = ReportWriter::rewrite(report_path, &job.extra, records)?;
    eprintln!(
        "resuming {}: {} records kept from the interrupted run",
        report_path.display(),
        resume.records
    );
    Ok((report, Some(journal), Some(Arc::new(resume))))
}

/// A new report (a file, stdout, or none) and, for a report file of a run that writes, a new
/// journal.
fn fresh(
    config: &RunConfig,
    report_file: Option<&Path>,
    journal_path: Option<&Path>,
    job: &Job,
    guard: &mut Guard,
) -> Result<(ReportWriter, Option<Journal>)> {
    let report = match report_file {
        Some(report_path) => {
            let report = ReportWriter::create(report_path, &job.extra)?;
            guard.created.0.push(report_path.to_path_buf());
            report
        }
        None if config.report.is_some() => ReportWriter::stdout(&job.extra)?,
        None => ReportWriter::discard(),
    };
    let journal = match (journal_path, config.dry_run) {
        (None, _) | (_, true) => None,
        (Some(journal_path), false) => match Journal::create(journal_path, &job.fingerprint) {
            Ok(journal) => {
                guard.created.0.push(journal_path.to_path_buf());
                Some(journal)
            }
            Err(err) => {
                return Err(err.context(
                    "a journal of an earlier run is in the way: continue that run with \
                     --resume, or choose another --report",
                ));
            }
        },
    };
    Ok((report, journal))
}

/// The `--secrets-out` folder, for a job issuing QR codes and PINs (not a dry run).
fn secrets_dir(
    config: &RunConfig,
    job: &Job,
    guard: &mut Guard,
    journal: Option<&mut Journal>,
) -> Result<Option<Arc<SecretsDir>>> {
    match (&config.secrets_out, config.dry_run) {
        (Some(path), false) if !job.qr_actions.is_empty() => {
            let existed = path.exists();
            let dir = SecretsDir::create(path)?;
            guard
                .created
                .0
                .push(path.join(crate::plan::secrets_out::INDEX));
            if !existed {
                guard.created.0.push(path.clone());
            }
            if let Some(journal) = journal {
                journal.secrets_out(path)?;
            }
            Ok(Some(Arc::new(dir)))
        }
        _ => Ok(None),
    }
}

/// Files a run created, removed when dropped unless [`CreatedFiles::keep`] was called.
#[derive(Default)]
pub(super) struct CreatedFiles(Vec<PathBuf>);

impl CreatedFiles {
    /// The run goes on to apply: its files are the user's now.
    pub fn keep(&mut self) {
        self.0.clear();
    }
}

impl Drop for CreatedFiles {
    fn drop(&mut self) {
        for path in &self.0 {
            // A folder made for --secrets-out goes too, once its index is gone (never a
            // folder with anything in it).
            let _ = std::fs::remove_file(path).or_else(|_| std::fs::remove_dir(path));
        }
    }
}
