//! Writing a plan file as the dry run plans: the header when the file is created, one line per
//! planned row as the row is planned (from any of the run's tasks, through a buffer behind a
//! lock, so memory stays flat however many users the plan holds), the end line with the
//! totals and an fsync at [`PlanWriter::finish`].

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, anyhow};

use super::{End, Header, Line, PlanSink, PlannedRow};

/// A plan file being written.
pub struct PlanWriter {
    path: PathBuf,
    inner: Mutex<Inner>,
}

struct Inner {
    out: BufWriter<File>,
    end: End,
    /// The first write that failed: the plan is incomplete, and `finish` says so.
    failed: Option<String>,
}

impl PlanWriter {
    /// Create the plan file at `path` (mode 0600, a new file: an existing file or a symlink in
    /// its place is refused) and write its header.
    pub fn create(path: &Path, header: &Header) -> Result<PlanWriter> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| match std::fs::symlink_metadata(path).is_ok() {
                true => format!(
                    "--plan-out {} already exists: a plan is never overwritten; choose another file",
                    path.display()
                ),
                false => format!("--plan-out: cannot create {}", path.display()),
            })?;
        let writer = PlanWriter {
            path: path.to_path_buf(),
            inner: Mutex::new(Inner {
                out: BufWriter::with_capacity(64 * 1024, file),
                end: End::default(),
                failed: None,
            }),
        };
        writer.line(&Line::Header(header.clone()));
        Ok(writer)
    }

    /// Where the plan goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Add a planned row.
    pub fn add(&self, row: PlannedRow) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.end.add(&row.steps);
        }
        self.line(&Line::Row(Box::new(row)));
    }

    fn line(&self, line: &Line) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.failed.is_some() {
            return;
        }
        let written = serde_json::to_writer(&mut inner.out, line)
            .map_err(|e| e.to_string())
            .and_then(|()| inner.out.write_all(b"\n").map_err(|e| e.to_string()));
        if let Err(error) = written {
            inner.failed = Some(error);
        }
    }

    /// Write the end line with the totals and make the file durable; the totals. An error when
    /// any line could not be written (the file is then incomplete, and `apply` refuses it).
    pub fn finish(self) -> Result<End> {
        let end = self
            .inner
            .lock()
            .map_err(|_| anyhow!("the plan writer failed"))?
            .end;
        self.line(&Line::End(end));
        let inner = self
            .inner
            .into_inner()
            .map_err(|_| anyhow!("the plan writer failed"))?;
        let path = self.path.display();
        if let Some(error) = inner.failed {
            return Err(anyhow!("cannot write the plan to {path}: {error}"));
        }
        let file = inner
            .out
            .into_inner()
            .map_err(|e| anyhow!("cannot write the plan to {path}: {}", e.error()))?;
        file.sync_all()
            .with_context(|| format!("cannot write the plan to {path}"))?;
        Ok(end)
    }
}

impl PlanSink for PlanWriter {
    fn row(&self, _seq: u64, row: PlannedRow) {
        self.add(row);
    }
}
