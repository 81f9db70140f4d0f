//! Job files as PowerShell and HR systems write them, through the `authbulk` binary against a
//! simulator started in the test: a `Get-MgUser ... | Export-Csv` file (Id and
//! UserPrincipalName, MobilePhone, BusinessPhones), an unrecognised column named in a warning
//! with the closest known name, and `--default-region` for national-format numbers.

use crate::support::binary::authbulk;
use crate::support::report::Row;
use crate::support::tenant::*;
use authbulk::sim::upn;
use serde_json::Value;

fn number(state: &Value, phone_type: &str) -> Option<String> {
    phone(state, phone_type).map(|p| p["phoneNumber"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_mguser_export_sets_phones_by_id_and_checks_the_upn() {
    let t = tenant(20).await;
    let id = |i: usize| t.sim.user_id(i).unwrap().to_string();
    // As `Get-MgUser -Property Id,UserPrincipalName,DisplayName,MobilePhone,BusinessPhones |
    // Select-Object Id,UserPrincipalName,DisplayName,MobilePhone,@{n='BusinessPhones';e={$_.
    // BusinessPhones -join ';'}} | Export-Csv` writes it (Windows PowerShell's #TYPE line too).
    let job = t.job(
        "mguser.csv",
        &format!(
            "#TYPE Selected.Microsoft.Graph.PowerShell.Models.MicrosoftGraphUser\n\
             \"Id\",\"UserPrincipalName\",\"DisplayName\",\"MobilePhone\",\"BusinessPhones\"\n\
             \"{}\",\"{}\",\"Ann\",\"+46 70 111 11 11\",\"\"\n\
             \"{}\",\"{}\",\"Bo\",\"\",\"+46 8 222 222 22\"\n\
             \"{}\",\"{}\",\"Cy\",\"+46 70 333 33 33\",\"\"\n",
            id(1),
            upn(1),
            id(2),
            upn(2),
            id(3),
            // The wrong person: the id is user 3's, the UPN user 4's.
            upn(4),
        ),
    );
    let before_3 = t.state(3);
    let run = t
        .run(
            "report.csv",
            &[job.to_str().unwrap(), "--action", "set-phone", "--yes"],
        )
        .await;
    run.expect_code(1);
    // The id is the user; the MobilePhone is the mobile number.
    assert_eq!(
        number(&t.state(1), "mobile").as_deref(),
        Some("+46 701111111")
    );
    // Only BusinessPhones: an office number.
    assert_eq!(
        number(&t.state(2), "office").as_deref(),
        Some("+46 822222222")
    );
    // The UPN does not match the user the id names: refused, nothing written.
    let mismatch: Vec<&Row> = run.report.iter().filter(|r| r["row"] == "3").collect();
    assert_eq!(mismatch.len(), 1, "{mismatch:?}");
    assert_eq!(mismatch[0]["status"], "failed");
    assert_eq!(mismatch[0]["error_code"], "upnMismatch");
    assert!(
        mismatch[0]["error_message"].contains(&upn(3)),
        "{:?}",
        mismatch[0]
    );
    assert_eq!(number(&t.state(3), "mobile"), number(&before_3, "mobile"));
    // DisplayName is not a job column: named once in a warning, kept in the report.
    assert!(
        run.stderr
            .contains("mguser.csv:2: warning: column \"DisplayName\" is not a job column"),
        "{}",
        run.stderr
    );
    assert!(run.report.iter().any(|r| r["DisplayName"] == "Ann"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_export_on_a_row_that_does_not_set_a_phone_is_not_refused() {
    let t = tenant(5).await;
    let id = t.sim.user_id(1).unwrap().to_string();
    let job = t.job(
        "mguser.csv",
        &format!(
            "Id,UserPrincipalName,MobilePhone\n{id},{},+46 70 111 11 11\n",
            upn(1)
        ),
    );
    let run = t
        .run(
            "report.csv",
            &[job.to_str().unwrap(), "--action", "list", "--yes"],
        )
        .await;
    run.expect_code(0);
    assert!(
        run.report.iter().all(|r| r["status"] == "ok"),
        "{:?}",
        run.report
    );
}

#[test]
fn a_misspelt_column_is_named_with_the_closest_known_name() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("typo.csv");
    std::fs::write(
        &job,
        "user,Acton,Phone Numbr,ticket\nann@contoso.com,set-phone,+46 70 123 45 67,T-1\n",
    )
    .unwrap();
    let out = authbulk()
        .args(["validate", job.to_str().unwrap(), "--action", "set-phone"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains(
            "typo.csv:1: warning: column \"Phone Numbr\" (did you mean phone_number?) is not \
             a job column: it is only echoed into the report"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"Acton\" (did you mean action?)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("column \"ticket\" is not a job column"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_region_reads_national_numbers_only_when_given() {
    let t = tenant(10).await;
    let job = t.job(
        "hr.csv",
        &format!(
            "user,mobile phone\n{},070-123 45 68\n{},08-555 123 45\n",
            upn(1),
            upn(2)
        ),
    );
    // Without a region, a national number is refused before anything starts.
    let refused = t
        .run(
            "refused.csv",
            &[job.to_str().unwrap(), "--action", "set-phone", "--yes"],
        )
        .await;
    refused.expect_code(2);
    assert!(
        refused.stderr.contains("no country code"),
        "{}",
        refused.stderr
    );
    let applied = t
        .run(
            "report.csv",
            &[
                job.to_str().unwrap(),
                "--action",
                "set-phone",
                "--default-region",
                "SE",
                "--yes",
            ],
        )
        .await;
    applied.expect_code(0);
    assert_eq!(
        number(&t.state(1), "mobile").as_deref(),
        Some("+46 701234568")
    );
    assert_eq!(
        number(&t.state(2), "mobile").as_deref(),
        Some("+46 855512345")
    );
    let bad = t
        .run(
            "bad.csv",
            &[
                job.to_str().unwrap(),
                "--action",
                "set-phone",
                "--default-region",
                "Sweden",
            ],
        )
        .await;
    bad.expect_code(2);
    assert!(
        bad.stderr.contains("--default-region \"Sweden\""),
        "{}",
        bad.stderr
    );
}
