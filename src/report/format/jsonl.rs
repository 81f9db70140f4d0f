//! JSON Lines reports: one object per record, fields named as the CSV columns, numbers as
//! numbers, absent values as null, and the job's extra columns under their own names.

use std::io::{self, Write};

use serde_json::{Map, Value};

use super::{COLUMNS, Format, cells};
use crate::report::Record;

/// One JSON object per line; no header.
pub struct JsonLines;

impl Format for JsonLines {
    fn begin(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn record(&mut self, out: &mut dyn Write, record: &Record) -> io::Result<()> {
        let mut object = Map::new();
        for (name, cell) in COLUMNS.iter().zip(cells(record)) {
            let value = match *name {
                "row" => Value::from(record.row),
                "attempts" => Value::from(record.attempts),
                "elapsed_ms" => Value::from(record.elapsed_ms),
                "http_status" => record.http_status.map(Value::from).unwrap_or(Value::Null),
                _ if cell.is_empty() && !matches!(*name, "before" | "after") => Value::Null,
                _ => Value::String(cell.into_owned()),
            };
            object.insert((*name).to_string(), value);
        }
        for (header, value) in &record.extra {
            object
                .entry(header.to_string())
                .or_insert_with(|| Value::String(value.clone()));
        }
        serde_json::to_writer(&mut *out, &Value::Object(object))?;
        out.write_all(b"\n")
    }
}
