//! The report file. Created (and a bad path refused) before any request is sent; records are
//! appended as steps finish and flushed at least once a second, so a crash keeps what was done.
//! Owned by the collector task alone. A report can also go to standard output (`--report -`, raw
//! CSV that ends quietly on a closed pipe, see [`format::stdout`]) or nowhere (a dry run without
//! `--report`: the plan on the terminal is its output).

use std::borrow::Borrow;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::Record;
use super::format::{self, Format};

/// How long a finished record may sit in the buffer before it reaches the file.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// An open report file.
pub struct ReportWriter {
    path: PathBuf,
    format: Box<dyn Format>,
    out: BufWriter<Box<dyn Write + Send>>,
    last_flush: Instant,
    records: u64,
}

impl ReportWriter {
    /// Create a new report at `path`, refusing to overwrite an existing file (a previous run's
    /// report is never lost; `--resume` continues one instead).
    pub fn create(path: &Path, extra: &[String]) -> Result<Self> {
        // Check the format first, so a refused name leaves no empty file behind.
        format::for_path(path, extra).map_err(anyhow::Error::msg)?;
        // Mode 0600: the report holds users' phone numbers and e-mail addresses.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| match path.exists() {
                true => format!(
                    "report {} already exists: choose another --report, or continue that run with --resume",
                    path.display()
                ),
                false => format!("cannot create report {}", path.display()),
            })?;
        Self::start(path, file, extra)
    }

    /// Rewrite the report at `path` from `records` (a resumed run's finished records, each
    /// exactly once), then keep appending.
    pub fn rewrite<R: Borrow<Record>>(
        path: &Path,
        extra: &[String],
        records: impl IntoIterator<Item = R>,
    ) -> Result<Self> {
        // A new file (mode 0600) beside it, renamed over the report: never written through a
        // symlink put in the report's place (the link itself is replaced).
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let file = tempfile::NamedTempFile::new_in(dir)
            .and_then(|temp| temp.persist(path).map_err(|e| e.error))
            .with_context(|| format!("cannot rewrite report {}", path.display()))?;
        let mut writer = Self::start(path, file, extra)?;
        for record in records {
            writer.write(record.borrow())?;
        }
        writer.flush()?;
        Ok(writer)
    }

    /// A report on standard output (`--report -`): CSV, raw unless stdout is redirected to a
    /// file; a reader that goes away ends the output, not the run.
    pub fn stdout(extra: &[String]) -> Result<Self> {
        let format = format::for_stdout(extra);
        Self::open(
            Path::new("stdout"),
            format,
            Box::new(format::stdout::stdout()),
        )
    }

    /// No report: records are counted, not kept (a dry run without `--report`).
    pub fn discard() -> Self {
        ReportWriter {
            path: PathBuf::from("(none)"),
            format: format::for_stdout(&[]),
            out: BufWriter::new(Box::new(std::io::sink())),
            last_flush: Instant::now(),
            records: 0,
        }
    }

    fn start(path: &Path, file: File, extra: &[String]) -> Result<Self> {
        let format = format::for_path(path, extra).map_err(anyhow::Error::msg)?;
        Self::open(path, format, Box::new(file))
    }

    fn open(path: &Path, mut format: Box<dyn Format>, out: Box<dyn Write + Send>) -> Result<Self> {
        let mut out = BufWriter::new(out);
        format
            .begin(&mut out)
            .and_then(|()| out.flush())
            .with_context(|| format!("cannot write report {}", path.display()))?;
        Ok(ReportWriter {
            path: path.to_path_buf(),
            format,
            out,
            last_flush: Instant::now(),
            records: 0,
        })
    }

    /// Append one record; flushes when the last flush is [`FLUSH_EVERY`] old.
    pub fn write(&mut self, record: &Record) -> Result<()> {
        self.format
            .record(&mut self.out, record)
            .with_context(|| format!("cannot write report {}", self.path.display()))?;
        self.records += 1;
        if self.last_flush.elapsed() >= FLUSH_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    /// Push buffered records to the file.
    pub fn flush(&mut self) -> Result<()> {
        self.last_flush = Instant::now();
        self.out
            .flush()
            .with_context(|| format!("cannot write report {}", self.path.display()))
    }

    /// The report's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The default report name: `authbulk-<UTC time, to the millisecond>.csv` in the current folder
/// (two runs started in the same second get two reports).
pub fn default_path(now: chrono::DateTime<chrono::Utc>) -> PathBuf {
    PathBuf::from(format!("authbulk-{}.csv", now.format("%Y%m%dT%H%M%S%.3fZ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::PhoneType;
    use crate::plan::Change;
    use crate::report::Status;
    use std::sync::Arc;

    fn record(row: u64, step: Change, before: &str) -> Record {
        Record {
            row,
            user: "o'neil00005@contoso.onmicrosoft.com".into(),
            action: "set-phone".into(),
            step,
            status: Some(Status::Ok),
            before: before.into(),
            after: "+46 701234567".into(),
            attempts: 1,
            extra: vec![(Arc::from("ticket"), "=cmd|' /C calc'!A0".into())],
            ..Record::default()
        }
    }

    #[test]
    fn csv_report_has_header_extra_columns_and_neutralised_cells() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut writer = ReportWriter::create(&path, &["ticket".to_string()]).unwrap();
        writer
            .write(&record(
                1,
                Change::UpdatePhone {
                    phone_type: PhoneType::Mobile,
                },
                "",
            ))
            .unwrap();
        writer.flush().unwrap();
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let headers = reader.headers().unwrap().clone();
        assert_eq!(headers.len(), 15);
        assert_eq!(&headers[14], "ticket");
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(&row[1], "o'neil00005@contoso.onmicrosoft.com");
        assert_eq!(&row[5], "ok");
        assert_eq!(&row[7], "'+46 701234567");
        assert_eq!(&row[14], "'=cmd|' /C calc'!A0");
    }

    #[test]
    fn jsonl_report_keeps_numbers_and_extra_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let mut writer = ReportWriter::create(&path, &[]).unwrap();
        writer
            .write(&record(
                7,
                Change::CreatePhone {
                    phone_type: PhoneType::Mobile,
                },
                "",
            ))
            .unwrap();
        writer.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let value: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(value["row"], 7);
        assert_eq!(value["after"], "+46 701234567");
        assert_eq!(value["http_status"], serde_json::Value::Null);
        assert_eq!(value["ticket"], "=cmd|' /C calc'!A0");
    }

    #[test]
    fn an_existing_report_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(&path, "earlier run").unwrap();
        let err = ReportWriter::create(&path, &[]).err().unwrap();
        assert!(format!("{err:#}").contains("--resume"), "{err:#}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "earlier run");
    }

    #[test]
    fn a_report_in_a_missing_folder_fails_with_its_path() {
        let err = ReportWriter::create(Path::new("/nonexistent-dir/r.csv"), &[])
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("/nonexistent-dir/r.csv"));
    }

    #[test]
    fn an_unknown_extension_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ReportWriter::create(&dir.path().join("r.xlsx"), &[]).is_err());
    }
}
