//! Benchmark: validate a generated 1,000,000-row CSV job (a realistic mix of actions, then a
//! phone-number migration where every row is a set-phone) and report rows per second and peak
//! memory against the targets: more than 500,000 rows/s and less than 64 MiB. Prints
//! achieved/target ratios and exits 1 when a target is missed.
//!
//! Run: `cargo bench --bench job_read` (ROWS=... to change the size).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use authbulk::testing::job::{self, Defaults, JobSource};

const TARGET_ROWS_PER_SEC: f64 = 500_000.0;
const MEMORY_LIMIT_MIB: f64 = 64.0;

fn upn(i: u64) -> String {
    if i % 50 == 7 {
        format!("guest{i:05}_fabrikam.com#EXT#@contoso.onmicrosoft.com")
    } else if i % 37 == 5 {
        format!("o'neil{i:05}@contoso.onmicrosoft.com")
    } else {
        format!("user{i:05}@contoso.onmicrosoft.com")
    }
}

/// A phone number in one of the notations admins' sheets use, unique per row.
fn phone(i: u64) -> String {
    let n = i % 10_000_000;
    match i % 4 {
        0 => format!(
            "+46 70-{:03} {:02} {:02}",
            n / 10_000 % 1000,
            n / 100 % 100,
            n % 100
        ),
        1 => format!("+1 (425) {:03}-{:04}", 200 + n / 10_000 % 800, n % 10_000),
        2 => format!("0049 151 {:08}", n),
        _ => format!(
            "+33 6 {:02} {:02} {:02} {:02}",
            n / 1_000_000 % 100,
            n / 10_000 % 100,
            n / 100 % 100,
            n % 100
        ),
    }
}

fn generate(path: &Path, rows: u64, phones_only: bool) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(256 * 1024, File::create(path)?);
    out.write_all(
        b"UserPrincipalName,Action,Phone Number,Older Than,Revoke Sessions,Default Method,Lifetime Minutes,Ticket\r\n",
    )?;
    for i in 0..rows {
        let user = upn(i % 200_000);
        let line = if phones_only {
            format!("{user},set-phone,{},,,,,T{i}\r\n", phone(i))
        } else {
            match i % 20 {
                0..=5 => format!("{user},remove-authenticator,,180d,,,,T{i}\r\n"),
                6..=10 => format!("{user},reset-mfa,,,yes,,,T{i}\r\n"),
                11..=14 => format!("{user},set-phone,{},,,,,T{i}\r\n", phone(i)),
                15..=16 => format!("{user},set-default,,,,push,,T{i}\r\n"),
                17..=18 => format!("{user},issue-tap,,,,,60,T{i}\r\n"),
                _ => format!("{user},list,,,,,,T{i}\r\n"),
            }
        };
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

/// The same job as UTF-16 LE with BOM (Excel's "Unicode text") and as a JSON array, to show
/// that transcoding and the array splitter stream too.
fn convert(csv: &Path, utf16: &Path, json: &Path) -> std::io::Result<()> {
    use std::io::{BufRead, BufReader};
    let mut u = BufWriter::new(File::create(utf16)?);
    let mut j = BufWriter::new(File::create(json)?);
    u.write_all(&[0xFF, 0xFE])?;
    j.write_all(b"[\n")?;
    let mut headers: Vec<String> = Vec::new();
    for (i, line) in BufReader::new(File::open(csv)?).lines().enumerate() {
        let line = line?;
        for unit in line.encode_utf16().chain("\r\n".encode_utf16()) {
            u.write_all(&unit.to_le_bytes())?;
        }
        let cells: Vec<&str> = line.split(',').collect();
        if i == 0 {
            headers = cells.iter().map(|c| c.to_string()).collect();
            continue;
        }
        let object: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .zip(&cells)
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.to_string())))
            .collect();
        if i > 1 {
            j.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut j, &object)?;
    }
    j.write_all(b"\n]\n")?;
    u.flush()?;
    j.flush()
}

/// Peak resident memory (VmHWM) in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Reset the peak so that each phase measures itself (Linux: `echo 5 > clear_refs`).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn phase(name: &str, path: &Path, rows: u64) -> bool {
    reset_peak();
    let start = Instant::now();
    let source = JobSource::File {
        path: path.to_path_buf(),
        format: None,
    };
    let reports = job::validate_files(&[source], &Defaults::default(), |p| {
        panic!("generated job has a problem: {p}")
    });
    let elapsed = start.elapsed().as_secs_f64();
    let report = &reports[0];
    assert!(report.is_valid(), "{:?}", report.error);
    assert_eq!(report.stats.rows, rows);
    let rate = rows as f64 / elapsed;
    let peak = peak_mib();
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    println!(
        "{name}: {rows} rows ({:.0} MiB) in {elapsed:.2} s: {rate:.0} rows/s, speed ratio {:.2} \
         (target {TARGET_ROWS_PER_SEC:.0} rows/s); peak memory {peak:.1} MiB, memory ratio {:.2} \
         (limit {MEMORY_LIMIT_MIB} MiB, lower is better)",
        bytes as f64 / 1048576.0,
        rate / TARGET_ROWS_PER_SEC,
        peak / MEMORY_LIMIT_MIB,
    );
    rate >= TARGET_ROWS_PER_SEC && peak < MEMORY_LIMIT_MIB
}

fn main() {
    let rows: u64 = std::env::var("ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let mixed = dir.path().join("mixed.csv");
    let phones = dir.path().join("phones.csv");
    generate(&mixed, rows, false).expect("write the mixed job");
    generate(&phones, rows, true).expect("write the phone job");
    let utf16 = dir.path().join("mixed-unicode.txt");
    let json = dir.path().join("mixed.json");
    convert(&mixed, &utf16, &json).expect("write the UTF-16 and JSON jobs");
    let mixed_ok = phase("mixed actions (20% set-phone)", &mixed, rows);
    let phones_ok = phase("phone migration (100% set-phone)", &phones, rows);
    // Speed is reported but only memory is a target for these two.
    phase(
        "mixed, UTF-16 LE with BOM (Excel Unicode text)",
        &utf16,
        rows,
    );
    phase("mixed, JSON array", &json, rows);
    println!(
        "targets: mixed {}, phone migration {}",
        if mixed_ok { "MET" } else { "MISSED" },
        if phones_ok { "MET" } else { "MISSED" }
    );
    if !mixed_ok {
        std::process::exit(1);
    }
}
