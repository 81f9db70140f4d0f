//! CSV reports, safe to open in a spreadsheet program: a cell that starts with `=`, `+`, `-`, `@`,
//! tab or carriage return would be read as a formula (CSV injection, OWASP), so it is prefixed with
//! `'`, which spreadsheet programs hide. A phone number `+46 701234567` thus still reads as such.
//! CSV for another program (a pipe, `--report -`) is written raw: see [`super::stdout`].

use std::io::{self, Write};

use super::{COLUMNS, Format, cells};
use crate::report::Record;

/// CSV with a header line: the fixed columns, then the job's extra columns.
pub struct Csv {
    extra: Vec<String>,
    /// Neutralise formula cells (files); off for CSV read by another program.
    safe: bool,
}

impl Csv {
    /// A CSV format with these extra columns, cells made safe for spreadsheet programs.
    pub fn new(extra: &[String]) -> Self {
        Csv {
            extra: extra.to_vec(),
            safe: true,
        }
    }

    /// A CSV format with these extra columns, cells exactly as they are (for a pipe).
    pub fn raw(extra: &[String]) -> Self {
        Csv {
            extra: extra.to_vec(),
            safe: false,
        }
    }
}

/// `cell` made safe for spreadsheet programs.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

fn write_row<'a>(
    out: &mut dyn Write,
    safe: bool,
    row: impl IntoIterator<Item = &'a str>,
) -> io::Result<()> {
    let mut writer = csv::WriterBuilder::new().from_writer(out);
    match safe {
        true => writer.write_record(row.into_iter().map(|c| neutralise(c).into_owned()))?,
        false => writer.write_record(row)?,
    }
    writer.flush()
}

impl Format for Csv {
    fn begin(&mut self, out: &mut dyn Write) -> io::Result<()> {
        write_row(
            out,
            self.safe,
            COLUMNS
                .iter()
                .copied()
                .chain(self.extra.iter().map(String::as_str)),
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
        let extra = self
            .extra
            .iter()
            .map(|name| values.get(name.as_str()).copied().unwrap_or(""));
        write_row(
            out,
            self.safe,
            fixed.iter().map(String::as_str).chain(extra),
        )
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
