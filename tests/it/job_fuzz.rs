//! Property tests: random bytes and random CSV/JSON shapes never panic the readers, every
//! stream ends, and every item is an operation or a located problem.

use std::io::Cursor;

use authbulk::testing::job::{self, Defaults, Format};
use proptest::prelude::*;

/// Read everything; return (operations, problems) or the file-level error's text.
fn drain(format: Format, bytes: Vec<u8>) -> Result<(usize, usize), String> {
    let reader = job::open_reader(
        "f",
        format,
        Box::new(Cursor::new(bytes)),
        &Defaults::default(),
    )
    .map_err(|e| e.to_string())?;
    let (mut ok, mut bad) = (0, 0);
    for item in reader {
        match item {
            Ok(op) => {
                assert!(op.row >= 1 && op.line >= 1);
                ok += 1;
            }
            Err(p) => {
                assert!(!p.why.is_empty());
                assert!(p.to_string().starts_with("f:"), "{p}");
                bad += 1;
            }
        }
    }
    Ok((ok, bad))
}

fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("ann@contoso.com".to_string()),
        Just("set-phone".to_string()),
        Just("reset-mfa".to_string()),
        Just("+46 70 123 45 67".to_string()),
        Just("4.67E+10".to_string()),
        Just("90d".to_string()),
        Just("\"quoted, \"\"cell\"\"\nwith newline\"".to_string()),
        Just("\"unclosed".to_string()),
        "[ -~]{0,12}",
        any::<String>(),
    ]
}

fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("user".to_string()),
        Just("UPN".to_string()),
        Just("action".to_string()),
        Just("Phone Number".to_string()),
        Just("older_than".to_string()),
        Just("email".to_string()),
        "[a-z ]{1,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic_any_reader(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        for format in [Format::Csv, Format::Json, Format::JsonLines] {
            let _ = drain(format, bytes.clone());
        }
    }

    #[test]
    fn random_csv_shapes_become_rows_or_problems(
        headers in proptest::collection::vec(header(), 1..6),
        rows in proptest::collection::vec(proptest::collection::vec(cell(), 0..7), 0..12),
        delimiter in prop_oneof![Just(","), Just(";"), Just("\t")],
        newline in prop_oneof![Just("\n"), Just("\r\n")],
        bom in any::<bool>(),
    ) {
        let mut text = String::new();
        if bom {
            text.push('\u{FEFF}');
        }
        text.push_str(&headers.join(delimiter));
        text.push_str(newline);
        for row in &rows {
            text.push_str(&row.join(delimiter));
            text.push_str(newline);
        }
        if let Ok((ok, bad)) = drain(Format::Csv, text.into_bytes()) {
            prop_assert!(ok + bad >= 1);
        }
    }

    #[test]
    fn random_json_objects_become_rows_or_problems(
        rows in proptest::collection::vec(proptest::collection::vec((header(), cell()), 0..5), 1..8),
    ) {
        let objects: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| serde_json::Value::Object(r.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect()))
            .collect();
        let array = serde_json::to_vec(&objects).unwrap();
        let (ok, bad) = drain(Format::Json, array).unwrap();
        prop_assert!(ok + bad >= rows.len());
        let lines: String = objects.iter().map(|o| format!("{o}\n")).collect();
        let (ok, bad) = drain(Format::JsonLines, lines.into_bytes()).unwrap();
        prop_assert!(ok + bad >= rows.len());
    }
}
