//! Report file formats, one file per format behind the small [`Format`] trait (chosen by the
//! report path's extension). Called only by [`super::ReportWriter`].

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::Path;

use super::Record;

mod csv;
mod jsonl;
pub mod stdout;

pub use csv::neutralise;

/// The fixed columns of every report, in order; the job's extra columns follow them.
pub const COLUMNS: [&str; 14] = [
    "row",
    "user",
    "user_id",
    "action",
    "step",
    "status",
    "before",
    "after",
    "http_status",
    "error_code",
    "error_message",
    "request_id",
    "attempts",
    "elapsed_ms",
];

/// One report format: writes a header (when it has one) and records.
pub trait Format: Send {
    /// Write whatever opens a new file (the CSV header line).
    fn begin(&mut self, out: &mut dyn Write) -> io::Result<()>;
    /// Write one record.
    fn record(&mut self, out: &mut dyn Write, record: &Record) -> io::Result<()>;
}

/// The format for `path` by its extension: `.jsonl`/`.ndjson` JSON Lines, `.csv` (or none) CSV.
/// `extra` names the job's extra columns, in the order the report shows them.
pub fn for_path(path: &Path, extra: &[String]) -> Result<Box<dyn Format>, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") | None => Ok(Box::new(csv::Csv::new(extra))),
        Some("jsonl") | Some("ndjson") => Ok(Box::new(jsonl::JsonLines)),
        Some(other) => Err(format!(
            "unknown report format .{other}: use a .csv or .jsonl file name"
        )),
    }
}

/// The format of a report on standard output: CSV, raw when stdout is a pipe or a terminal and
/// made safe for spreadsheet programs when it is redirected to a file (see [`stdout`]).
pub fn for_stdout(extra: &[String]) -> Box<dyn Format> {
    match stdout::stdout_is_file() {
        true => Box::new(csv::Csv::new(extra)),
        false => Box::new(csv::Csv::raw(extra)),
    }
}

/// The report's cells for the fixed columns of `record`, in [`COLUMNS`] order.
/// Text cells are borrowed from the record; only numbers are formatted.
fn cells(record: &Record) -> [Cow<'_, str>; 14] {
    fn text(value: &Option<String>) -> Cow<'_, str> {
        Cow::Borrowed(value.as_deref().unwrap_or(""))
    }
    fn opt<T: ToString>(value: &Option<T>) -> Cow<'static, str> {
        Cow::Owned(value.as_ref().map(T::to_string).unwrap_or_default())
    }
    [
        Cow::Owned(record.row.to_string()),
        Cow::Borrowed(&record.user),
        text(&record.user_id),
        Cow::Borrowed(&record.action),
        Cow::Owned(record.step.to_string()),
        Cow::Borrowed(record.status.map(|s| s.as_str()).unwrap_or("")),
        Cow::Borrowed(&record.before),
        Cow::Borrowed(&record.after),
        opt(&record.http_status),
        text(&record.error_code),
        text(&record.error_message),
        text(&record.request_id),
        Cow::Owned(record.attempts.to_string()),
        Cow::Owned(record.elapsed_ms.to_string()),
    ]
}
