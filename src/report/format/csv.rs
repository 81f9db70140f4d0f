//! CSV reports, safe to open in a spreadsheet program: a cell that starts with `=`, `+`, `-`, `@`,
//! tab or carriage return would be read as a formula (CSV injection, OWASP), so it is prefixed with
//! `'`, which spreadsheet programs hide. A phone number `+46 701234567` thus still reads as such.
//! CSV for another program (a pipe, `--report -`) is written raw: see [`super::stdout`].

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{COLUMNS, Format, cells};
use crate::report::Record;

/// CSV with a header line: the fixed columns, then the job's extra columns.
pub struct Csv {
    extra: Vec<String>,
    /// Neutralise formula cells (files); off for CSV read by another program.
    safe: bool,
    /// One CSV writer for every line (its buffer made once, not per record), writing into
    /// `line`, which each record then copies to the output.
    writer: csv::Writer<Line>,
    line: Line,
}

/// The text of the line being written, shared with the CSV writer that fills it.
#[derive(Clone, Default)]
struct Line(Arc<Mutex<Vec<u8>>>);

impl Line {
    fn bytes(&self) -> MutexGuard<'_, Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Write for Line {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.bytes().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Csv {
    /// A CSV format with these extra columns, cells made safe for spreadsheet programs.
    pub fn new(extra: &[String]) -> Self {
        Csv::with(extra, true)
    }

    /// A CSV format with these extra columns, cells exactly as they are (for a pipe).
    pub fn raw(extra: &[String]) -> Self {
        Csv::with(extra, false)
    }

    fn with(extra: &[String], safe: bool) -> Self {
        let line = Line::default();
        Csv {
            extra: extra.to_vec(),
            safe,
            writer: csv::WriterBuilder::new()
                .flexible(true)
                .buffer_capacity(1024)
                .from_writer(line.clone()),
            line,
        }
    }

    /// Write one line of `row`'s cells to `out`.
    fn write_row<'a>(
        &mut self,
        out: &mut dyn Write,
        row: impl IntoIterator<Item = &'a str>,
    ) -> io::Result<()> {
        for cell in row {
            match self.safe {
                true => self.writer.write_field(neutralise(cell).as_bytes())?,
                false => self.writer.write_field(cell)?,
            }
        }
        // An empty record ends the line of the fields written one by one.
        self.writer.write_record(std::iter::empty::<&[u8]>())?;
        self.writer.flush()?;
        let mut line = self.line.bytes();
        let written = out.write_all(&line);
        line.clear();
        written
    }
}

/// `cell` made safe for spreadsheet programs.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

impl Format for Csv {
    fn begin(&mut self, out: &mut dyn Write) -> io::Result<()> {
        let extra = self.extra.clone();
        self.write_row(
            out,
            COLUMNS
                .iter()
                .copied()
                .chain(extra.iter().map(String::as_str)),
        )
    }

    fn record(&mut self, out: &mut dyn Write, record: &Record) -> io::Result<()> {
        let fixed = cells(record);
        // Indexed once per record: a search per column was quadratic in the number of columns.
        let values: std::collections::HashMap<&str, &str> = record
            .extra
            .iter()
            .map(|(header, value)| (&**header, value.as_str()))
            .collect();
        let extra: Vec<&str> = self
            .extra
            .iter()
            .map(|name| values.get(name.as_str()).copied().unwrap_or(""))
            .collect();
        self.write_row(out, fixed.iter().map(|c| &**c).chain(extra))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_plain_ones_kept() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("+46 701234567"), "'+46 701234567");
        assert_eq!(neutralise("-1"), "'-1");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("\tx"), "'\tx");
        assert_eq!(
            neutralise("user00001@contoso.onmicrosoft.com"),
            "user00001@contoso.onmicrosoft.com"
        );
        assert_eq!(neutralise(""), "");
    }
}
