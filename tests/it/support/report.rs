//! Reading what a run wrote: reports (CSV or JSON Lines), pass files, file sizes.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// One record of a report, by column name.
pub type Row = BTreeMap<String, String>;

/// A pass as `--tap-out` holds it, without the `'` that keeps a spreadsheet from reading a
/// pass starting with `=`, `+`, `-`, `@` (or `'`) as a formula.
pub fn pass_value(cell: &str) -> String {
    cell.strip_prefix('\'').unwrap_or(cell).to_string()
}

/// The records of a `.csv` or `.jsonl` report (by extension), by column name; JSON nulls read
/// as empty text, other values as their JSON text.
pub fn rows(path: &Path) -> Vec<Row> {
    if path.extension().is_some_and(|e| e == "jsonl") {
        let text = std::fs::read_to_string(path).unwrap();
        return text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                v.as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| {
                        let text = match v {
                            Value::String(s) => s.clone(),
                            Value::Null => String::new(),
                            other => other.to_string(),
                        };
                        (k.clone(), text)
                    })
                    .collect()
            })
            .collect();
    }
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// The records of a `.jsonl` report.
pub fn jsonl_records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("the report")
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON record"))
        .collect()
}

/// The records of a `.csv` report, as a spreadsheet program sees them: (header, rows).
pub fn csv_records(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).expect("the report");
    let headers = reader
        .headers()
        .expect("a header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.expect("a CSV row").iter().map(str::to_string).collect())
        .collect();
    (headers, rows)
}

/// Bytes in a file, 0 when it does not exist yet.
pub fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
