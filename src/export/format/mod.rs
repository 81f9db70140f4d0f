//! Inventory file formats, one file per format behind the small [`Format`] trait, and the
//! [`InventoryWriter`] that owns the output (a new file, or stdout). Chosen by `--out-format`,
//! else by the file's extension (`.csv` by default, `.jsonl`/`.ndjson`). Owned by the export's
//! collector task alone.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

use super::inventory::InventoryRow;
use crate::report::format::stdout;

pub mod csv;
mod jsonl;

/// An inventory format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutFormat {
    /// CSV with a header line, cells safe for spreadsheet programs.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl OutFormat {
    /// The format a file name asks for: `.jsonl`/`.ndjson` JSON Lines, `.csv` or none CSV.
    pub fn for_path(path: &Path) -> Result<OutFormat> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") | None => Ok(OutFormat::Csv),
            Some("jsonl") | Some("ndjson") => Ok(OutFormat::JsonLines),
            Some(other) => bail!(
                "unknown inventory format .{other}: name the --out file .csv or .jsonl, or pass \
                 --out-format"
            ),
        }
    }

    /// The format's writer; `safe` neutralises CSV formula cells (files, not pipes).
    fn writer(self, safe: bool) -> Box<dyn Format> {
        match self {
            OutFormat::Csv => Box::new(csv::Csv { safe }),
            OutFormat::JsonLines => Box::new(jsonl::JsonLines),
        }
    }
}

pub use crate::report::format::stdout::Destination;

/// One format: a header (when it has one) and rows.
pub trait Format: Send {
    /// Write whatever opens the output (the CSV header line).
    fn begin(&mut self, out: &mut dyn Write) -> io::Result<()>;
    /// Write one row.
    fn row(&mut self, out: &mut dyn Write, row: &InventoryRow) -> io::Result<()>;
}

/// A new output file (0600, never an existing file or a symlink) or stdout, before any line is
/// written; [`InventoryWriter`] and the status table ([`crate::status`]) write through it.
pub struct Output {
    /// The format asked for, or the file's extension's.
    pub format: OutFormat,
    /// Where the lines go.
    pub out: Box<dyn Write + Send>,
    /// Set once the reader of stdout has gone away (`| head`).
    pub closed: Arc<AtomicBool>,
    /// Neutralise formula cells (a file, or stdout redirected to one).
    pub safe: bool,
}

impl Output {
    /// Open `destination`: create the file (refusing one that exists), or take stdout.
    /// On stdout, CSV is raw unless stdout is redirected to a file, and a closed pipe ends the
    /// output quietly (see [`crate::report::format::stdout`]).
    pub fn open(destination: &Destination, format: Option<OutFormat>) -> Result<Self> {
        let mut closed = Arc::new(AtomicBool::new(false));
        let mut safe = true;
        let (format, out): (OutFormat, Box<dyn Write + Send>) = match destination {
            Destination::Stdout => {
                let pipe = stdout::stdout();
                closed = pipe.closed_flag();
                safe = stdout::stdout_is_file();
                (format.unwrap_or(OutFormat::Csv), Box::new(pipe))
            }
            Destination::File(path) => {
                // The format first, so a refused name leaves no empty file behind.
                let format = match format {
                    Some(format) => format,
                    None => OutFormat::for_path(path)?,
                };
                // Mode 0600: the output holds phone numbers, e-mail addresses, who is admin.
                // `create_new` refuses an existing file and a symlink (even a dangling one).
                let file: File = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .with_context(|| match path.exists() || path.is_symlink() {
                        true => format!(
                            "{} already exists: an output file is never overwritten; choose \
                             another --out",
                            path.display()
                        ),
                        false => format!("cannot create {}", path.display()),
                    })?;
                (format, Box::new(file))
            }
        };
        Ok(Output {
            format,
            out,
            closed,
            safe,
        })
    }
}

/// The open output of an export.
pub struct InventoryWriter {
    destination: Destination,
    format: Box<dyn Format>,
    out: BufWriter<Box<dyn Write + Send>>,
    rows: u64,
    /// Set once the reader of stdout has gone away (`| head`).
    closed: Arc<AtomicBool>,
}

impl InventoryWriter {
    /// Open the output: create the file (refusing one that exists), write the header.
    /// On stdout, CSV is raw unless stdout is redirected to a file, and a closed pipe ends the
    /// output quietly (see [`crate::report::format::stdout`]).
    pub fn create(destination: &Destination, format: Option<OutFormat>) -> Result<Self> {
        let Output {
            format,
            out,
            closed,
            safe,
        } = Output::open(destination, format)?;
        let mut writer = InventoryWriter {
            destination: destination.clone(),
            format: format.writer(safe),
            out: BufWriter::new(out),
            rows: 0,
            closed,
        };
        writer
            .format
            .begin(&mut writer.out)
            .and_then(|()| writer.out.flush())
            .with_context(|| format!("cannot write {}", writer.name()))?;
        Ok(writer)
    }

    /// The output as the summary names it.
    pub fn name(&self) -> String {
        match &self.destination {
            Destination::File(path) => path.display().to_string(),
            Destination::Stdout => "stdout".to_string(),
        }
    }

    /// Write one user's rows and flush them, so a stopped export keeps every user it read
    /// and a pipe sees users as they come.
    pub fn write_user(&mut self, rows: &[InventoryRow]) -> Result<()> {
        for row in rows {
            self.format
                .row(&mut self.out, row)
                .with_context(|| format!("cannot write {}", self.name()))?;
            self.rows += 1;
        }
        self.out
            .flush()
            .with_context(|| format!("cannot write {}", self.name()))
    }

    /// Whether the output has ended because its reader went away: nobody reads further rows.
    pub fn closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Remove the file of an export that failed before it read anyone (so the same `--out`
    /// works on the next try).
    pub fn discard(self) {
        let InventoryWriter {
            destination, out, ..
        } = self;
        drop(out);
        if let Destination::File(path) = destination {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_follows_the_extension_and_unknown_ones_are_refused() {
        assert_eq!(
            OutFormat::for_path(Path::new("a.CSV")).unwrap(),
            OutFormat::Csv
        );
        assert_eq!(OutFormat::for_path(Path::new("a")).unwrap(), OutFormat::Csv);
        assert_eq!(
            OutFormat::for_path(Path::new("a.jsonl")).unwrap(),
            OutFormat::JsonLines
        );
        let err = OutFormat::for_path(Path::new("a.xlsx")).unwrap_err();
        assert!(err.to_string().contains(".xlsx"));
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.csv");
        std::fs::write(&path, "keep me").unwrap();
        let err = InventoryWriter::create(&Destination::File(path.clone()), None)
            .err()
            .unwrap();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
    }
}
