//! Hostile or clumsy input files (issue 12, L6, L7, L10): many columns take linear time, an
//! exclusion list that names nobody is flagged, and UPNs with invisible or direction-changing
//! characters are refused by validate and never printed raw.

use crate::support::binary::authbulk;
use std::time::Instant;

/// Seconds `validate` and `run --simulate --dry-run` take on 20 rows of `columns` columns.
fn timings(dir: &std::path::Path, columns: usize) -> (f64, f64) {
    let job = dir.join(format!("cols{columns}.csv"));
    let mut text = String::from("user,action");
    for c in 0..columns {
        text.push_str(&format!(",c{c}"));
    }
    text.push('\n');
    for r in 0..20 {
        text.push_str(&format!("user{:05}@contoso.onmicrosoft.com,list", r + 10));
        text.push_str(&",x".repeat(columns));
        text.push('\n');
    }
    std::fs::write(&job, text).unwrap();
    let started = Instant::now();
    let out = authbulk().arg("validate").arg(&job).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let validate = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let out = authbulk()
        .arg("run")
        .arg(&job)
        .args(["--simulate", "--dry-run", "--report"])
        .arg(dir.join(format!("r{columns}.csv")))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (validate, started.elapsed().as_secs_f64())
}

#[test]
fn many_columns_take_linear_time() {
    // Four times the columns: linear work takes about 4 times as long, quadratic 16 times (a
    // 4.7 MB job of 100k columns never finished). The ratio holds on a slow or busy machine.
    let dir = tempfile::tempdir().unwrap();
    let (v1, r1) = timings(dir.path(), 5_000);
    let (v4, r4) = timings(dir.path(), 20_000);
    assert!(
        v4 < 8.0 * v1.max(0.05) && r4 < 8.0 * r1.max(0.05),
        "validate {v1:.2}s -> {v4:.2}s, run {r1:.2}s -> {r4:.2}s"
    );
}

#[test]
fn upns_with_invisible_or_direction_changing_characters_are_flagged_by_validate() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("bidi.csv");
    std::fs::write(
        &job,
        "user,action\nuser00200\u{202e}@contoso.onmicrosoft.com,list\n\
         user00201\u{200b}@contoso.onmicrosoft.com,list\n\
         \u{fffd}x@contoso.com,list\nuser00202@contoso.onmicrosoft.com,list\n",
    )
    .unwrap();
    let out = authbulk().arg("validate").arg(&job).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
    for line in [2, 3, 4] {
        assert!(
            text.contains(&format!("bidi.csv:{line}: user")),
            "line {line}: {text}"
        );
    }
    assert!(!text.contains('\u{202e}'), "printed raw: {text}");
}

#[test]
fn a_job_on_stdin_leaves_nothing_behind_even_when_killed() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let report = dir.path().join("r.csv");
    let mut child = authbulk()
        .args([
            "run",
            "-",
            "--format",
            "csv",
            "--simulate",
            "--sim-users",
            "3000",
        ])
        .args(["--dry-run", "--report"])
        .arg(&report)
        .env("TMPDIR", &tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        let mut job = String::from("user,action\n");
        for _ in 0..10 {
            for i in 0..3000 {
                job.push_str(&format!("user{i:05}@contoso.onmicrosoft.com,list\n"));
            }
        }
        stdin.write_all(job.as_bytes()).unwrap();
    }
    // While it runs (the report has records), the job is in no file of the temporary folder.
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::metadata(&report).map(|m| m.len()).unwrap_or(0) < 10_000 {
        assert!(child.try_wait().unwrap().is_none(), "ended too soon");
        assert!(Instant::now() < deadline, "no records within 60 s");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let during: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(during.is_empty(), "{during:?}");
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
}

#[test]
fn an_exclusion_file_that_names_nobody_is_refused_and_utf16_without_a_bom_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.csv");
    std::fs::write(
        &job,
        "user,action\nuser00170@contoso.onmicrosoft.com,list\nuser00171@contoso.onmicrosoft.com,list\n",
    )
    .unwrap();
    let run = |exclude: &std::path::Path, report: &str| {
        authbulk()
            .arg("run")
            .arg(&job)
            .args(["--simulate", "--dry-run", "--report"])
            .arg(dir.path().join(report))
            .arg("--exclude")
            .arg(format!("@{}", exclude.display()))
            .output()
            .unwrap()
    };
    // A display name in the first column: the list would protect nobody.
    let vip1 = dir.path().join("vip1.csv");
    std::fs::write(
        &vip1,
        "DisplayName,UserPrincipalName\nVIP One,user00170@contoso.onmicrosoft.com\n",
    )
    .unwrap();
    let out = run(&vip1, "r1.csv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("vip1.csv line 1"), "{stderr}");
    assert!(!dir.path().join("r1.csv").exists());

    // UTF-16 without a BOM (as some tools write "Unicode" text).
    let vip2 = dir.path().join("vip2.txt");
    let utf16: Vec<u8> = "user00170@contoso.onmicrosoft.com\r\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    std::fs::write(&vip2, utf16).unwrap();
    let out = run(&vip2, "r2.csv");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = std::fs::read_to_string(dir.path().join("r2.csv")).unwrap();
    let excluded: Vec<_> = report.lines().filter(|l| l.contains("excluded")).collect();
    assert_eq!(excluded.len(), 1, "{report}");
    assert!(excluded[0].contains("user00170"), "{report}");
}
