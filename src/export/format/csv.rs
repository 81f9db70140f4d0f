//! CSV inventories: a header line of [`COLUMNS`], one line per row. Cells are made safe for
//! spreadsheet programs: one that starts with `=`, `+`, `-`, `@`, tab or carriage return would be
//! read as a formula (CSV injection, OWASP), so it gets a leading `'`, which spreadsheet programs
//! hide: a phone number `+46 701234567` still reads as such. The rule is the report's
//! ([`crate::report::format::neutralise`]). On a pipe the cells are raw
//! ([`crate::report::format::stdout`]).

use std::io::{self, Write};

use super::Format;
use crate::export::inventory::{COLUMNS, InventoryRow, format_date};
use crate::report::format::neutralise;

/// The CSV format.
pub struct Csv {
    /// Neutralise formula cells (a file); off for a pipe.
    pub safe: bool,
}

/// Write one CSV line of `cells`, each neutralised when `safe`.
pub fn write_line<'a>(
    out: &mut dyn Write,
    safe: bool,
    cells: impl IntoIterator<Item = &'a str>,
) -> io::Result<()> {
    let mut writer = csv::WriterBuilder::new().from_writer(out);
    match safe {
        true => writer.write_record(cells.into_iter().map(|c| neutralise(c).into_owned()))?,
        false => writer.write_record(cells)?,
    }
    writer.flush()
}

/// The cells of `row`, in [`COLUMNS`] order.
fn cells(row: &InventoryRow) -> [String; COLUMNS.len()] {
    let error = row.error.as_ref();
    [
        row.user.clone(),
        row.user_id.clone().unwrap_or_default(),
        row.method_type.clone(),
        row.method_id.clone(),
        row.display_name.clone(),
        row.detail.clone(),
        row.created.as_ref().map(format_date).unwrap_or_default(),
        row.last_used.as_ref().map(format_date).unwrap_or_default(),
        row.is_default.map(|d| d.to_string()).unwrap_or_default(),
        error
            .and_then(|e| e.http_status)
            .map(|s| s.to_string())
            .unwrap_or_default(),
        error.map(|e| e.code.clone()).unwrap_or_default(),
        error.map(|e| e.message.clone()).unwrap_or_default(),
        error.and_then(|e| e.request_id.clone()).unwrap_or_default(),
    ]
}

impl Format for Csv {
    fn begin(&mut self, out: &mut dyn Write) -> io::Result<()> {
        write_line(out, self.safe, COLUMNS)
    }

    fn row(&mut self, out: &mut dyn Write, row: &InventoryRow) -> io::Result<()> {
        write_line(out, self.safe, cells(row).iter().map(String::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_and_formulas_are_neutralised_and_quotes_escaped() {
        let row = InventoryRow {
            user: "o'neil@contoso.com".into(),
            user_id: Some("id".into()),
            method_type: "phone".into(),
            method_id: "m".into(),
            display_name: "+46 701234567".into(),
            detail: "=HYPERLINK(\"x\")".into(),
            is_default: Some(true),
            ..InventoryRow::default()
        };
        let mut out = Vec::new();
        Csv { safe: true }.row(&mut out, &row).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "o'neil@contoso.com,id,phone,m,'+46 701234567,\"'=HYPERLINK(\"\"x\"\")\",,,true,,,,\n"
        );
    }
}
