//! `run --failed-out FILE`: the rows with a failed step, written as a job file to run again.
//!
//! For CSV job files the rows are written with the job's own columns: the header as the job
//! spells it and each cell as the job reader reads it (trimmed), extra columns included, one
//! line per failed row however many of its steps failed. Cells are written as they are, with
//! no spreadsheet formula guard, because the file is a job to run again (the job reader reads
//! a guarded `'+46...` as the text it is). Several job files are merged under the union of their
//! columns (a column a file lacks is empty, which the reader takes as "not given"). For
//! enumerated targets (`--all-users`, `--group`) the file is `userPrincipalName,id,action`:
//! the object id names the user and the UPN is checked against it before any change; the
//! action's parameters come from the flags, given again.
//!
//! Like the report, the file is created with mode 0600, never over an existing file and never
//! through a symlink.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::job::{self, Defaults, Format, JobSource};
use crate::report::summary::FailedRow;
use crate::target::Input;

/// Refuse, before anything begins, a `--failed-out` that exists (or is a symlink), or a job
/// whose rows cannot be written back out.
pub fn check(path: &Path, input: &Input) -> Result<()> {
    if std::fs::symlink_metadata(path).is_ok() {
        bail!(
            "--failed-out {} already exists (or is a symlink): it is never overwritten; choose \
             another file",
            path.display()
        );
    }
    if let Input::Jobs(sources) = input {
        for source in sources {
            let format = source.format()?;
            if format != Format::Csv {
                bail!(
                    "--failed-out writes CSV jobs: {} is {} (convert the job to CSV, or run \
                     without --failed-out and take the failed rows from the report)",
                    source.name(),
                    format.name()
                );
            }
        }
    }
    Ok(())
}

/// Write the failed rows (by sequence number) to `path`; returns how many were written.
pub fn write(
    path: &Path,
    input: &Input,
    defaults: &Defaults,
    failed: &BTreeMap<u64, FailedRow>,
) -> Result<u64> {
    let (header, rows) = match input {
        Input::Jobs(sources) => job_rows(sources, defaults, failed)?,
        Input::Targets(_) => target_rows(failed),
    };
    if rows.is_empty() {
        return Ok(0);
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create --failed-out {}", path.display()))?;
    let mut out = csv::Writer::from_writer(std::io::BufWriter::new(file));
    let context = || format!("cannot write --failed-out {}", path.display());
    out.write_record(&header).with_context(context)?;
    for row in &rows {
        out.write_record(row).with_context(context)?;
    }
    out.flush().with_context(context)?;
    let mut inner = out
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(context)?;
    inner.flush().with_context(context)?;
    inner.get_ref().sync_all().with_context(context)?;
    Ok(rows.len() as u64)
}

type Rows = (Vec<String>, Vec<Vec<String>>);

/// The failed rows of the job files, under the union of their headers.
fn job_rows(
    sources: &[JobSource],
    defaults: &Defaults,
    failed: &BTreeMap<u64, FailedRow>,
) -> Result<Rows> {
    let mut header: Vec<String> = Vec::new();
    let mut picked: Vec<Vec<(String, String)>> = Vec::new();
    let mut seq = 0u64;
    for source in sources {
        job::csv_cells(source, defaults, |names, cells| {
            if failed.contains_key(&seq) {
                for name in names {
                    if !header.contains(name) {
                        header.push(name.clone());
                    }
                }
                picked.push(names.iter().cloned().zip(cells).collect());
            }
            seq += 1;
        })
        .with_context(|| format!("cannot read {} again for --failed-out", source.name()))?;
    }
    let rows = picked
        .into_iter()
        .map(|cells| {
            header
                .iter()
                .map(|name| {
                    cells
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect();
    Ok((header, rows))
}

/// The failed enumerated users: UPN, object id and action.
fn target_rows(failed: &BTreeMap<u64, FailedRow>) -> Rows {
    let header = ["userPrincipalName", "id", "action"]
        .map(String::from)
        .to_vec();
    let rows = failed
        .values()
        // A failed enumeration names no user: nothing to run again.
        .filter_map(|row| {
            let id = row.user_id.clone()?;
            let upn = if row.user.eq_ignore_ascii_case(&id) {
                String::new()
            } else {
                row.user.clone()
            };
            Some(vec![upn, id, row.action.clone()])
        })
        .collect();
    (header, rows)
}
