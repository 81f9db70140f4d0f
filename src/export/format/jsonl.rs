//! JSON Lines inventories: one object per row, keys named as the CSV columns, dates as RFC 3339
//! strings, `is_default` a boolean, `http_status` a number, absent values null.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::Format;
use crate::export::inventory::{InventoryRow, format_date};

/// The JSON Lines format.
pub struct JsonLines;

fn text(value: &str) -> Value {
    match value.is_empty() {
        true => Value::Null,
        false => Value::String(value.to_string()),
    }
}

impl Format for JsonLines {
    fn begin(&mut self, _out: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn row(&mut self, out: &mut dyn Write, row: &InventoryRow) -> io::Result<()> {
        let error = row.error.as_ref();
        let object = json!({
            "user": row.user,
            "user_id": row.user_id,
            "method_type": row.method_type,
            "method_id": text(&row.method_id),
            "display_name": text(&row.display_name),
            "detail": text(&row.detail),
            "created": row.created.as_ref().map(format_date),
            "last_used": row.last_used.as_ref().map(format_date),
            "is_default": row.is_default,
            "http_status": error.and_then(|e| e.http_status),
            "error_code": error.map(|e| e.code.as_str()),
            "error_message": error.map(|e| e.message.as_str()),
            "request_id": error.and_then(|e| e.request_id.as_deref()),
        });
        serde_json::to_writer(&mut *out, &object)?;
        out.write_all(b"\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::inventory::COLUMNS;

    #[test]
    fn rows_are_objects_with_every_column_and_typed_values() {
        let row = InventoryRow {
            user: "a@b.c".into(),
            user_id: Some("id".into()),
            method_type: "microsoftAuthenticator".into(),
            method_id: "m".into(),
            created: Some("2023-02-01T10:00:00Z".parse().unwrap()),
            is_default: Some(false),
            ..InventoryRow::default()
        };
        let mut out = Vec::new();
        JsonLines.row(&mut out, &row).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with('\n') && text.lines().count() == 1);
        let value: Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = COLUMNS.to_vec();
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(value["created"], "2023-02-01T10:00:00Z");
        assert_eq!(value["is_default"], false);
        assert_eq!(value["last_used"], Value::Null);
        assert_eq!(value["display_name"], Value::Null);
    }
}
