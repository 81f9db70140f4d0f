//! The QR code + PIN actions through the `authbulk` binary against a simulator started in the
//! test: `issue-qr-pin` and `reset-qr-pin` deliver the QR code (PNG) and the temporary PIN only
//! to the `--secrets-out` folder, a second run changes nothing, `--replace`, dry runs, the
//! refusals before anything begins, the global-cloud-only rule, and `--resume` of a killed run
//! that never issues a secret twice.

use std::path::Path;

use crate::support::binary::authbulk;
use crate::support::report::rows;
use crate::support::tenant::*;
use authbulk::sim::{AppliedTimeouts, QrPinPolicy, SimConfig, upn};
use authbulk::testing::report::Entry;
use authbulk::testing::report::Journal;
use base64::Engine;
use chrono::DateTime;
use serde_json::Value;

/// A tenant whose QR code PIN policy asks for 10-digit PINs and 200-day QR codes.
async fn qr_tenant() -> Tenant {
    tenant_with(SimConfig {
        users: 400,
        unthrottled: true,
        qr_pin_policy: QrPinPolicy {
            pin_length: 10,
            lifetime_days: 200,
        },
        ..SimConfig::default()
    })
    .await
}

fn has_qr(state: &Value) -> bool {
    !methods_of(state, "qrCodePin").is_empty()
}

/// The secrets the simulator issued to user `i` (creates and resets), oldest first.
fn issued(t: &Tenant, i: usize) -> Vec<Value> {
    t.state(i)["issuedQrCodePins"].as_array().unwrap().clone()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The rows of the folder's `index.csv` (`user,user_id,files,start,expiry`).
fn index(dir: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(dir.join("index.csv")).unwrap();
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["user", "user_id", "files", "start", "expiry"]
    );
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// Checks that `png` is a PNG of the QR code of `raw` at error correction level L: each
/// module's centre pixel is black exactly where the code has a dark module, inside a white
/// quiet zone of 4 modules, 8 pixels a module.
fn assert_png_holds(png: &[u8], raw: &[u8]) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    let mut reader = png::Decoder::new(png).read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(info.width, info.height);
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let code = qrcode::QrCode::with_error_correction_level(raw, qrcode::EcLevel::L).unwrap();
    let modules = code.width();
    assert_eq!(info.width as usize, (modules + 8) * 8, "size");
    let side = info.width as usize;
    let at = |x: usize, y: usize| pixels[(y * 8 + 4) * side + x * 8 + 4];
    assert_eq!(at(0, 0), 255, "quiet zone");
    for (i, color) in code.to_colors().iter().enumerate() {
        let (x, y) = (i % modules + 4, i / modules + 4);
        let dark = *color == qrcode::Color::Dark;
        assert_eq!(at(x, y) == 0, dark, "module ({x}, {y})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_delivers_qr_codes_and_pins_only_to_the_folder_and_a_second_run_changes_nothing() {
    let t = qr_tenant().await;
    let mut taken = Vec::new();
    let users: Vec<usize> = (0..3).map(|_| t.pick(&mut taken, |s| !has_qr(s))).collect();
    let job = t.job(
        "issue.csv",
        &format!(
            "user,action,qr_lifetime_days,ticket\n\
             {},issue-qr-pin,,T1\n{},issue-qr-pin,30,T2\n{},issue-qr-pin,,T3\n",
            upn(users[0]),
            upn(users[1]),
            upn(users[2])
        ),
    );
    let secrets = t.path("secrets");
    let run = t
        .run(
            "report.csv",
            &[
                job.to_str().unwrap(),
                "--yes",
                "--secrets-out",
                secrets.to_str().unwrap(),
            ],
        )
        .await;
    run.expect_code(0);
    #[cfg(unix)]
    assert_eq!(mode(&secrets), 0o700);
    let rows = index(&secrets);
    assert_eq!(rows.len(), 3, "{rows:?}");
    let report_text = std::fs::read_to_string(t.path("report.csv")).unwrap();
    for (n, &i) in users.iter().enumerate() {
        let state = t.state(i);
        let methods = methods_of(&state, "qrCodePin");
        assert_eq!(methods.len(), 1, "{state}");
        let secret = &issued(&t, i)[0];
        let pin = secret["pin"].as_str().unwrap();
        assert!(
            pin.len() == 10 && pin.bytes().all(|b| b.is_ascii_digit()),
            "{pin}"
        );
        let id = state["id"].as_str().unwrap();
        let row = rows.iter().find(|r| r[1] == id).expect("an index line");
        assert_eq!(row[0], upn(i));
        assert_eq!(row[2], format!("{id}.png;{id}.pin"));
        let start = DateTime::parse_from_rfc3339(&row[3]).unwrap();
        let expiry = DateTime::parse_from_rfc3339(&row[4]).unwrap();
        let days = if n == 1 { 30 } else { 200 };
        assert_eq!(expiry - start, chrono::Duration::days(days), "{row:?}");
        let pin_file = secrets.join(format!("{id}.pin"));
        assert_eq!(std::fs::read_to_string(&pin_file).unwrap().trim(), pin);
        let png_file = secrets.join(format!("{id}.png"));
        let raw = base64::engine::general_purpose::STANDARD
            .decode(secret["rawContent"].as_str().unwrap())
            .unwrap();
        assert_png_holds(&std::fs::read(&png_file).unwrap(), &raw);
        #[cfg(unix)]
        for file in [&pin_file, &png_file, &secrets.join("index.csv")] {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
        // The PIN is in the folder only: not in the report, nor on the console.
        assert!(!report_text.contains(pin));
        assert!(!run.stderr.contains(pin) && !run.stdout.contains(pin));
        let record = &run.of(&upn(i))[0];
        assert_eq!(
            (record["step"].as_str(), record["status"].as_str()),
            ("create qrCodePin", "ok")
        );
        assert!(record["after"].contains(&format!("{id}.png")), "{record:?}");
    }

    // The same job again: every user has the method, nothing is written or issued.
    t.sim.reset_counters();
    let again = t
        .run(
            "second.csv",
            &[
                job.to_str().unwrap(),
                "--yes",
                "--secrets-out",
                t.path("secrets-2").to_str().unwrap(),
            ],
        )
        .await;
    again.expect_code(0);
    assert!(
        again.report.iter().all(|r| r["status"] == "unchanged"),
        "{:?}",
        again.report
    );
    assert_eq!(t.sim.counters().writes, 0);
    assert!(users.iter().all(|&i| issued(&t, i).len() == 1));
    assert!(index(&t.path("secrets-2")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_issues_a_new_method_and_reset_a_new_pin() {
    let t = qr_tenant().await;
    let mut taken = Vec::new();
    let replaced = t.pick(&mut taken, has_qr);
    let reset = t.pick(&mut taken, has_qr);
    let without = t.pick(&mut taken, |s| !has_qr(s));
    let old_id = t.methods(replaced, "qrCodePin")[0]["id"].clone();
    let job = t.job(
        "qr.csv",
        &format!(
            "user,action\n{},issue-qr-pin\n{},reset-qr-pin\n{},reset-qr-pin\n",
            upn(replaced),
            upn(reset),
            upn(without)
        ),
    );
    let secrets = t.path("secrets");
    let run = t
        .run(
            "report.csv",
            &[
                job.to_str().unwrap(),
                "--yes",
                "--replace",
                "--secrets-out",
                secrets.to_str().unwrap(),
            ],
        )
        .await;
    // The user without a method cannot have a PIN reset: that row fails.
    run.expect_code(1);
    assert_eq!(
        run.steps_of(&upn(replaced)),
        [
            (
                format!("delete qrCodePin {}", old_id.as_str().unwrap()),
                "ok".to_string()
            ),
            ("create qrCodePin".to_string(), "ok".to_string()),
        ]
    );
    let now = t.methods(replaced, "qrCodePin");
    assert_eq!(now.len(), 1);
    assert_ne!(now[0]["id"], old_id);

    assert_eq!(
        run.steps_of(&upn(reset)),
        [("reset qrCodePin pin".to_string(), "ok".to_string())]
    );
    let secret = &issued(&t, reset)[0];
    assert_eq!(secret["kind"], "reset");
    let id = t.state(reset)["id"].as_str().unwrap().to_string();
    let pin = secret["pin"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(secrets.join(format!("{id}.pin")))
            .unwrap()
            .trim(),
        pin
    );
    // A reset has no QR code: a PIN file and an index line without dates.
    assert!(!secrets.join(format!("{id}.png")).exists());
    let line = index(&secrets).into_iter().find(|r| r[1] == id).unwrap();
    assert_eq!(
        (line[2].as_str(), line[3].as_str()),
        (format!("{id}.pin").as_str(), "")
    );

    let refused = &run.of(&upn(without))[0];
    assert_eq!(refused["status"], "failed");
    assert_eq!(refused["error_code"], "noQrCodePinMethod");
    assert!(issued(&t, without).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_plans_without_writing_or_making_the_folder() {
    let t = qr_tenant().await;
    let mut taken = Vec::new();
    let new = t.pick(&mut taken, |s| !has_qr(s));
    let old = t.pick(&mut taken, has_qr);
    let job = t.job(
        "qr.csv",
        &format!(
            "user,action\n{},issue-qr-pin\n{},issue-qr-pin\n",
            upn(new),
            upn(old)
        ),
    );
    let secrets = t.path("secrets");
    t.sim.reset_counters();
    let run = t
        .run(
            "plan.csv",
            &[
                job.to_str().unwrap(),
                "--dry-run",
                "--secrets-out",
                secrets.to_str().unwrap(),
            ],
        )
        .await;
    run.expect_code(0);
    assert_eq!(t.sim.counters().writes, 0);
    assert!(!secrets.exists());
    assert_eq!(
        run.steps_of(&upn(new)),
        [("create qrCodePin".to_string(), "planned".to_string())]
    );
    assert_eq!(
        run.of(&upn(new))[0]["after"],
        "QR code for 200 days and a 10-digit PIN to --secrets-out"
    );
    assert_eq!(run.of(&upn(old))[0]["status"], "unchanged");
    assert!(run.stdout.contains("+ create qrCodePin"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_empty_secrets_folder_nothing_begins() {
    let t = qr_tenant().await;
    let user = t.find(|s| !has_qr(s));
    let job = t.job(
        "qr.csv",
        &format!("user,action\n{},issue-qr-pin\n", upn(user)),
    );
    t.sim.reset_counters();
    let missing = t
        .run("missing.csv", &[job.to_str().unwrap(), "--yes"])
        .await;
    missing.expect_code(2);
    assert!(
        missing.stderr.contains("--secrets-out"),
        "{}",
        missing.stderr
    );
    assert!(!t.path("missing.csv").exists());

    let used = t.path("used");
    std::fs::create_dir(&used).unwrap();
    std::fs::write(used.join("old.pin"), "12345678\n").unwrap();
    let full = t
        .run(
            "full.csv",
            &[
                job.to_str().unwrap(),
                "--yes",
                "--secrets-out",
                used.to_str().unwrap(),
            ],
        )
        .await;
    full.expect_code(2);
    assert!(full.stderr.contains("is not empty"), "{}", full.stderr);
    assert_eq!(t.sim.counters().http_requests, 0);
    assert!(issued(&t, user).is_empty());

    // An empty folder is taken (and made private).
    let empty = t.path("empty");
    std::fs::create_dir(&empty).unwrap();
    let ok = t
        .run(
            "ok.csv",
            &[
                job.to_str().unwrap(),
                "--yes",
                "--secrets-out",
                empty.to_str().unwrap(),
            ],
        )
        .await;
    ok.expect_code(0);
    #[cfg(unix)]
    assert_eq!(mode(&empty), 0o700);
    assert_eq!(index(&empty).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_every_users_qr_code_needs_the_tenants_domain() {
    let t = qr_tenant().await;
    t.sim.reset_counters();
    let secrets = t.path("secrets");
    let run = t
        .run(
            "all.csv",
            &[
                "--all-users",
                "--action",
                "issue-qr-pin",
                "--replace",
                "--yes",
                "--secrets-out",
                secrets.to_str().unwrap(),
            ],
        )
        .await;
    run.expect_code(2);
    assert!(run.stderr.contains("--confirm-domain"), "{}", run.stderr);
    assert_eq!(t.sim.counters().writes, 0);
    // Nothing began: the folder made for the run is gone again.
    assert!(!secrets.exists());
}

/// Every write is applied and then answered 504 (a gateway timeout after the change): the
/// create's answer, with the QR code and PIN, is lost. The re-read shows the new method, so the
/// row fails with `qrPinValueLost` and nothing is sent again (a second create would be refused
/// while that method is active); a lost PIN reset is sent again, each new PIN replacing the
/// lost one, and fails once every answer was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_was_lost_is_reported_and_never_sent_again() {
    let t = tenant_with(SimConfig {
        users: 400,
        unthrottled: true,
        applied_timeouts: AppliedTimeouts {
            item: 1.0,
            batch: 0.0,
        },
        ..SimConfig::default()
    })
    .await;
    let mut taken = Vec::new();
    let new = t.pick(&mut taken, |s| !has_qr(s));
    let reset = t.pick(&mut taken, has_qr);
    let job = t.job(
        "qr.csv",
        &format!(
            "user,action\n{},issue-qr-pin\n{},reset-qr-pin\n",
            upn(new),
            upn(reset)
        ),
    );
    let secrets = t.path("secrets");
    let run = t
        .run(
            "report.csv",
            &[
                job.to_str().unwrap(),
                "--yes",
                "--secrets-out",
                secrets.to_str().unwrap(),
            ],
        )
        .await;
    run.expect_code(1);
    let created = &run.of(&upn(new))[0];
    assert_eq!(created["status"], "failed", "{created:?}");
    assert_eq!(created["error_code"], "qrPinValueLost");
    assert_eq!(issued(&t, new).len(), 1);
    assert_eq!(t.methods(new, "qrCodePin").len(), 1);
    let reset_record = &run.of(&upn(reset))[0];
    assert_eq!(
        reset_record["error_code"], "unknownOutcome",
        "{reset_record:?}"
    );
    assert_eq!(issued(&t, reset).len(), 5);
    assert!(index(&secrets).is_empty());
}

#[test]
fn the_us_government_cloud_refuses_qr_code_pin_rows() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("qr.csv");
    std::fs::write(
        &job,
        format!(
            "user,action\n{},issue-qr-pin\n{},reset-qr-pin\n",
            upn(1),
            upn(2)
        ),
    )
    .unwrap();
    let report = dir.path().join("report.jsonl");
    let mut command = authbulk();
    let out = command
        .arg("run")
        .arg(&job)
        .args(["--simulate", "--cloud", "usgov", "--yes", "--report"])
        .arg(&report)
        .arg("--secrets-out")
        .arg(dir.path().join("secrets"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = rows(&report);
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r["status"], "failed", "{r:?}");
        assert_eq!(r["error_code"], "notInCloud", "{r:?}");
        assert!(r["error_message"].contains("US Government"), "{r:?}");
    }
    assert!(index(&dir.path().join("secrets")).is_empty());
}

/// A run killed while it issued QR codes: for user A the create reached the tenant and its
/// secret the folder, for user B the create reached the tenant but the run died before the
/// secret was written, for user C (a `replace` row) the old method's delete and the create
/// reached the tenant; no record reached the journal. The killed run is made exact by cutting
/// a finished run's journal (and B's secret) back to what it would have left. The resume
/// issues nothing again (C's row, planned again, would replace the new method): A and C are
/// `ok` (their secrets are in the first folder), B `failed` / `qrPinValueLost`, and the
/// simulator issued one secret to each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_run_never_issues_a_qr_code_twice() {
    let t = qr_tenant().await;
    let mut taken = Vec::new();
    let a = t.pick(&mut taken, |s| !has_qr(s));
    let b = t.pick(&mut taken, |s| !has_qr(s));
    let c = t.pick(&mut taken, has_qr);
    let job = t.job(
        "qr.csv",
        &format!(
            "user,action,replace\n{},issue-qr-pin,\n{},issue-qr-pin,\n{},issue-qr-pin,yes\n",
            upn(a),
            upn(b),
            upn(c)
        ),
    );
    let first = t.path("secrets-1");
    let args = |folder: &Path, resume: bool| {
        vec![
            job.to_str().unwrap().to_string(),
            "--yes".into(),
            "--secrets-out".into(),
            folder.to_str().unwrap().to_string(),
            if resume { "--resume" } else { "--keep-journal" }.into(),
        ]
    };
    let argv = args(&first, false);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    t.run("report.csv", &argv).await.expect_code(0);

    // The killed run's journal: the starts, no finished record, no finished row.
    let journal = t.path("report.csv.journal");
    let kept: Vec<Entry> = Journal::entries(&journal)
        .unwrap()
        .into_iter()
        .filter(|e| !matches!(e, Entry::Done { .. } | Entry::Row { .. }))
        .collect();
    assert_eq!(
        kept.iter()
            .filter(|e| matches!(e, Entry::Start { .. }))
            .count(),
        4,
        "{kept:?}"
    );
    Journal::write_entries(&journal, &kept).unwrap();
    // B's secret never reached the folder.
    let b_id = t.state(b)["id"].as_str().unwrap().to_string();
    let index_text = std::fs::read_to_string(first.join("index.csv")).unwrap();
    let without_b: Vec<&str> = index_text.lines().filter(|l| !l.contains(&b_id)).collect();
    std::fs::write(first.join("index.csv"), without_b.join("\n") + "\n").unwrap();
    std::fs::remove_file(first.join(format!("{b_id}.png"))).unwrap();
    std::fs::remove_file(first.join(format!("{b_id}.pin"))).unwrap();

    let second = t.path("secrets-2");
    let argv = args(&second, true);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let resumed = t.run("report.csv", &argv).await;
    resumed.expect_code(1);
    let a_records = resumed.of(&upn(a));
    assert_eq!(a_records.len(), 1, "{:?}", resumed.report);
    assert_eq!(a_records[0]["status"], "ok");
    assert!(
        a_records[0]["after"].contains(first.to_str().unwrap()),
        "{:?}",
        a_records[0]
    );
    let b_records = resumed.of(&upn(b));
    assert_eq!(b_records.len(), 1, "{:?}", resumed.report);
    assert_eq!(b_records[0]["status"], "failed");
    assert_eq!(b_records[0]["error_code"], "qrPinValueLost");
    // C: the create is found done, and the delete the killed run sent before it is reported.
    let c_records = resumed.steps_of(&upn(c));
    assert_eq!(c_records.len(), 2, "{:?}", resumed.report);
    assert!(
        c_records.iter().all(|(_, status)| status == "ok"),
        "{c_records:?}"
    );
    assert_eq!(t.methods(c, "qrCodePin").len(), 1);
    assert_eq!(
        t.methods(c, "qrCodePin")[0]["id"],
        issued(&t, c)[0]["methodId"]
    );
    assert_eq!(issued(&t, a).len(), 1);
    assert_eq!(issued(&t, b).len(), 1);
    assert_eq!(issued(&t, c).len(), 1);
    assert!(index(&second).is_empty());
}

/// The simulator refuses what Graph's pages call required or invalid: a create without
/// `standardQRCode`, its dates or `pin`; a PIN shorter than the policy's `pinLength`, longer
/// than 20 or not digits; a lifetime over 395 days or an expiry before the start; a second
/// active method. A valid create answers 201 with the QR code's `rawContent` and the PIN, and
/// a GET afterwards shows neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_refuses_qr_code_pin_creates_the_docs_call_invalid() {
    let t = qr_tenant().await;
    let i = t.find(|s| !has_qr(s));
    let id = t.state(i)["id"].as_str().unwrap().to_string();
    let http = reqwest::Client::new();
    let token = t.sim.mint_token();
    let url = format!(
        "{}/v1.0/users/{id}/authentication/qrCodePinMethod",
        t.sim.url()
    );
    let put = |body: Value| http.put(&url).bearer_auth(&token).json(&body).send();
    let code = |start: &str, expire: &str| serde_json::json!({"startDateTime": start, "expireDateTime": expire});
    let good = code("2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z");
    let bad = [
        serde_json::json!({"pin": {"code": "1234567890"}}),
        serde_json::json!({"standardQRCode": {"startDateTime": "2026-01-01T00:00:00Z"},
            "pin": {"code": "1234567890"}}),
        serde_json::json!({"standardQRCode": good}),
        serde_json::json!({"standardQRCode": good, "pin": {"code": "123456789"}}),
        serde_json::json!({"standardQRCode": good, "pin": {"code": "1".repeat(21)}}),
        serde_json::json!({"standardQRCode": good, "pin": {"code": "12345abcde"}}),
        serde_json::json!({"standardQRCode": code("2026-01-01T00:00:00Z", "2027-02-01T00:00:00Z"),
            "pin": {"code": "1234567890"}}),
        serde_json::json!({"standardQRCode": code("2026-06-01T00:00:00Z", "2026-01-01T00:00:00Z"),
            "pin": {"code": "1234567890"}}),
    ];
    for body in bad {
        let answer = put(body.clone()).await.unwrap();
        assert_eq!(answer.status(), 400, "{body}");
        let error: Value = answer.json().await.unwrap();
        assert_eq!(error["error"]["code"], "badRequest", "{body}");
    }
    assert!(!has_qr(&t.state(i)));
    let later = chrono::Utc::now() + chrono::Duration::days(30);
    let valid = serde_json::json!({"standardQRCode": code(
        &chrono::Utc::now().to_rfc3339(), &later.to_rfc3339()), "pin": {"code": "0123456789"}});
    let created = put(valid.clone()).await.unwrap();
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    assert_eq!(body["pin"]["code"], "0123456789");
    assert!(body["standardQRCode"]["image"]["rawContent"].is_string());
    let again = put(valid).await.unwrap();
    assert_eq!(again.status(), 400, "a second active method");
    let got: Value = http
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(got["pin"]["code"].is_null() && got["standardQRCode"]["image"].is_null());
}
