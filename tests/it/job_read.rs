//! Job files as admins' tools write them: every spreadsheet quirk and value form, read through
//! the public streaming API, with the problems a user would see (file, line, column, why).

use std::io::Cursor;

use authbulk::testing::job::{
    self, Action, ActionKind, Column, Defaults, Format, JobError, JobReader, MethodType, Operation,
    PhoneSelector, PhoneType, Problem, Selector, TapParams,
};
use sha2::{Digest, Sha256};

fn open(name: &str, format: Format, bytes: Vec<u8>) -> Result<JobReader, JobError> {
    job::open_reader(
        name,
        format,
        Box::new(Cursor::new(bytes)),
        &Defaults::default(),
    )
}

fn read(format: Format, text: &str) -> Vec<Result<Operation, Problem>> {
    open("jobs.csv", format, text.as_bytes().to_vec())
        .expect("a readable job")
        .collect()
}

fn ops(format: Format, text: &str) -> Vec<Operation> {
    read(format, text)
        .into_iter()
        .map(|r| r.unwrap_or_else(|p| panic!("unexpected problem: {p}")))
        .collect()
}

fn problems(format: Format, text: &str) -> Vec<String> {
    read(format, text)
        .into_iter()
        .filter_map(|r| r.err())
        .map(|p| p.to_string())
        .collect()
}

fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    let mut bytes = if big_endian {
        vec![0xFE, 0xFF]
    } else {
        vec![0xFF, 0xFE]
    };
    for unit in text.encode_utf16() {
        let pair = if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        };
        bytes.extend_from_slice(&pair);
    }
    bytes
}

#[test]
fn the_same_job_reads_alike_in_every_encoding_delimiter_and_line_ending() {
    let rows = [
        ["User", "Action", "Phone Number"],
        ["ann@contoso.com", "set-phone", "+46 70-123 45 67"],
        ["bob@contoso.com", "list", ""],
    ];
    let expected = ops(
        Format::Csv,
        "user,action,phone_number\nann@contoso.com,set-phone,+46701234567\nbob@contoso.com,list,\n",
    );
    for delimiter in [",", ";", "\t"] {
        for newline in ["\n", "\r\n"] {
            let text: String = rows.iter().map(|r| r.join(delimiter) + newline).collect();
            let variants = [
                text.as_bytes().to_vec(),
                [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
                utf16(&text, false),
                utf16(&text, true),
            ];
            for bytes in variants {
                let got: Vec<Operation> = open("jobs.csv", Format::Csv, bytes)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                assert_eq!(got, expected, "delimiter {delimiter:?} newline {newline:?}");
            }
        }
    }
}

#[test]
fn blank_and_whitespace_lines_are_skipped_but_count_as_spreadsheet_lines() {
    let text = "\nuser,action\n\nann@contoso.com,list\n   \n,,\n\r\nbob@contoso.com , LIST \n";
    let got = ops(Format::Csv, text);
    assert_eq!(got.len(), 2);
    assert_eq!(
        (got[0].row, got[0].line, got[0].user.as_str()),
        (1, 4, "ann@contoso.com")
    );
    assert_eq!(
        (got[1].row, got[1].line, got[1].user.as_str()),
        (2, 8, "bob@contoso.com")
    );
    assert_eq!(got[1].action, Action::List);
}

#[test]
fn quoted_cells_with_newlines_are_one_spreadsheet_row() {
    let text = "user,action,note\r\n\"ann@contoso.com\",list,\"two\r\nlines\"\r\nbob,list,x\r\n";
    let items = read(Format::Csv, text);
    let first = items[0].as_ref().unwrap();
    assert_eq!(first.extra[0].1, "two\r\nlines");
    // Bob is on file line 4, but on spreadsheet line 3: the note's line break is inside a row.
    let err = items[1].as_ref().unwrap_err();
    assert_eq!(err.line, 3);
    assert_eq!(
        err.to_string(),
        "jobs.csv:3: user \"bob\": not a UPN or object id (hint: write the user's UPN \
         (ann@contoso.com) or object id (a GUID))"
    );
}

#[test]
fn extra_columns_are_kept_in_order_for_the_report() {
    let got = ops(
        Format::Csv,
        "Ticket,user,action,Cost centre\nINC-1,ann@contoso.com,list,4711\n",
    );
    let extra: Vec<(&str, &str)> = got[0]
        .extra
        .iter()
        .map(|(k, v)| (&**k, v.as_str()))
        .collect();
    assert_eq!(extra, vec![("Ticket", "INC-1"), ("Cost centre", "4711")]);
}

#[test]
fn header_only_files_say_no_rows() {
    for (format, text) in [(Format::Csv, "user,action\r\n\r\n"), (Format::Json, "[ ]")] {
        let err = open("jobs", format, text.as_bytes().to_vec())
            .err()
            .unwrap();
        assert!(matches!(err, JobError::NoRows { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "jobs: no rows: the file has a header but no data"
        );
    }
    let err = open("jobs.csv", Format::Csv, Vec::new()).err().unwrap();
    assert!(matches!(err, JobError::Empty { .. }));
}

#[test]
fn duplicate_headers_are_an_error_naming_both() {
    let err = open(
        "jobs.csv",
        Format::Csv,
        b"UPN;Action;User\nann@contoso.com;list;x\n".to_vec(),
    )
    .err()
    .unwrap();
    assert_eq!(
        err.to_string(),
        "jobs.csv:1: the headers \"UPN\" and \"User\" both name the user column (hint: keep one \
         of them)"
    );
}

#[test]
fn a_file_without_user_column_or_action_is_refused_up_front() {
    let err = open("j.csv", Format::Csv, b"name,action\nann,list\n".to_vec())
        .err()
        .unwrap();
    assert!(matches!(err, JobError::NoUserColumn { .. }), "{err}");
    let err = open("j.csv", Format::Csv, b"user\nann@contoso.com\n".to_vec())
        .err()
        .unwrap();
    assert!(matches!(err, JobError::NoAction { .. }), "{err}");
    // With --action the same file is fine.
    let defaults = Defaults {
        action: Some(ActionKind::RevokeSessions),
        ..Defaults::default()
    };
    let reader = job::open_reader(
        "j.csv",
        Format::Csv,
        Box::new(Cursor::new(b"user\nann@contoso.com\n".to_vec())),
        &defaults,
    )
    .unwrap();
    let got: Vec<_> = reader.map(Result::unwrap).collect();
    assert_eq!(got[0].action, Action::RevokeSessions);
}

#[test]
fn utf16_without_bom_and_windows_code_page_bytes_are_reported_clearly() {
    let err = open("j.txt", Format::Csv, b"u\0s\0e\0r\0".to_vec())
        .err()
        .unwrap();
    assert!(matches!(err, JobError::Undecodable { .. }), "{err}");
    let items: Vec<_> = open(
        "j.csv",
        Format::Csv,
        b"user,action,name\nann@contoso.com,list,J\xF6rg\n".to_vec(),
    )
    .unwrap()
    .collect();
    let p = items[0].as_ref().unwrap_err();
    assert_eq!((p.line, p.column.as_deref()), (2, Some("name")));
    assert!(
        p.to_string().contains("save the file as \"CSV UTF-8\""),
        "{p}"
    );
}

#[test]
fn cells_beyond_the_header_are_a_problem_but_trailing_empty_ones_are_not() {
    let got = problems(
        Format::Csv,
        "user,action\nann@contoso.com,list,,\nbob@contoso.com,list,oops\n",
    );
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with(
            "jobs.csv:3: column 3 \"oops\": the row has 3 cells but the header has 2 columns"
        ),
        "{}",
        got[0]
    );
}

#[test]
fn every_action_reads_with_its_parameters() {
    let text = "\
user,action,phone_type,phone_number,email,method_type,method_id,older_than,unused_for,device,keep_newest,lifetime_minutes,usable_once,start_time,default_method,system_preferred,revoke_sessions,issue_tap
a@x.com,list,,,,,,,,,,,,,,,,
a@x.com,set-phone,office,+1 425 555 0100 ext. 12,,,,,,,,,,,,,,
a@x.com,remove-phone,all,,,,,,,,,,,,,,,
a@x.com,set-email,,,ann@example.com,,,,,,,,,,,,,
a@x.com,remove-email,,,,,,,,,,,,,,,,
a@x.com,remove-authenticator,,,,,,180d,12h,iPhone*,2,,,,,,,
a@x.com,remove-method,,,,fido2,abc-1,,,,,,,,,,,
a@x.com,reset-mfa,,,,,,,,,,60,yes,2026-03-01T08:00:00Z,,,1,true
a@x.com,issue-tap,,,,,,,,,,43200,no,,,,,
a@x.com,set-default,,,,,,,,,,,,,voiceMobile,false,,
a@x.com,enable-sms-signin,mobile,,,,,,,,,,,,,,,
a@x.com,disable-sms-signin,,,,,,,,,,,,,,,,
9f0c6e4e-8a3b-4c7e-9a65-0d2f1c6b7a11,revoke-sessions,,,,,,,,,,,,,,,,
";
    let got: Vec<Action> = ops(Format::Csv, text)
        .into_iter()
        .map(|o| o.action)
        .collect();
    let tap = TapParams {
        lifetime_minutes: Some(60),
        usable_once: Some(true),
        start_time: Some("2026-03-01T08:00:00Z".parse().unwrap()),
    };
    assert_eq!(
        got,
        vec![
            Action::List,
            Action::SetPhone {
                phone_type: PhoneType::Office,
                number: "+1 4255550100x12".into()
            },
            Action::RemovePhone(PhoneSelector::All),
            Action::SetEmail {
                address: "ann@example.com".into()
            },
            Action::RemoveEmail,
            Action::RemoveAuthenticator(Selector {
                method_id: None,
                device: Some("iPhone*".into()),
                older_than: Some(std::time::Duration::from_secs(180 * 86_400)),
                unused_for: Some(std::time::Duration::from_secs(12 * 3600)),
                keep_newest: Some(2),
            }),
            Action::RemoveMethod {
                method_type: MethodType::Fido2,
                select: Selector {
                    method_id: Some("abc-1".into()),
                    ..Selector::default()
                },
            },
            Action::ResetMfa {
                revoke_sessions: true,
                issue_tap: Some(tap)
            },
            Action::IssueTap(TapParams {
                lifetime_minutes: Some(43_200),
                usable_once: Some(false),
                start_time: None
            }),
            Action::SetDefault {
                method: Some(authbulk::testing::job::DefaultMethod::VoiceMobile),
                system_preferred: Some(false)
            },
            Action::EnableSmsSignIn,
            Action::DisableSmsSignIn,
            Action::RevokeSessions,
        ]
    );
}

#[test]
fn each_actions_needs_are_checked_and_every_problem_is_reported() {
    let text = "\
user,action,phone_number,method_type,older_than,lifetime_minutes,email,default_method
ann@contoso.com,set-phone,,,,,,
ann@contoso.com,remove-method,,,,,,
ann@contoso.com,set-email,,,,,,
ann@contoso.com,set-default,,,,,,
ann@contoso.com,reset-mfa,,,90d,60,,
ann,set-phone,4.67012E+10,,,,,
ann@contoso.com,issue-tap,,,,5,,
ann@contoso.com,remove-phone,+46701234567,,,,,
";
    assert_eq!(
        problems(Format::Csv, text),
        vec![
            "jobs.csv:2: phone_number: set-phone needs a phone number (hint: fill the phone_number column or pass --phone-number)",
            "jobs.csv:3: method_type: remove-method needs a method type (hint: fill the method_type column or pass --method-type)",
            "jobs.csv:4: email: set-email needs an email address (hint: fill the email column or pass --email)",
            "jobs.csv:5: default_method: set-default needs a default_method or system_preferred (hint: fill the default_method column or pass --default-method)",
            "jobs.csv:6: older_than \"90d\": reset-mfa does not use this column (hint: clear the cell, or use an action that does: remove-authenticator, remove-method)",
            "jobs.csv:6: lifetime_minutes \"60\": a pass is only issued when issue_tap is true (hint: set issue_tap to true, or clear the cell)",
            "jobs.csv:7: user \"ann\": not a UPN or object id (hint: write the user's UPN (ann@contoso.com) or object id (a GUID))",
            "jobs.csv:7: phone_number \"4.67012E+10\": a spreadsheet turned this number into scientific notation (hint: format the column as text and export again)",
            "jobs.csv:8: lifetime_minutes \"5\": lifetime out of range (hint: a temporary access pass lives 10 to 43200 minutes (30 days))",
            "jobs.csv:9: phone_number \"+46701234567\": remove-phone does not use this column (hint: clear the cell, or use an action that does: set-phone)",
        ]
    );
}

#[test]
fn flags_fill_empty_cells_only() {
    let mut defaults = Defaults::default();
    defaults
        .set(Column::Action, "remove-authenticator")
        .unwrap();
    defaults.set(Column::OlderThan, "90d").unwrap();
    defaults
        .set(Column::PhoneNumber, "+46 70 123 45 67")
        .unwrap();
    let text =
        "user,action,older_than\nann@contoso.com,,\nbob@contoso.com,,2w\ncarl@contoso.com,list,\n";
    let got: Vec<Action> = job::open_reader(
        "j.csv",
        Format::Csv,
        Box::new(Cursor::new(text.as_bytes().to_vec())),
        &defaults,
    )
    .unwrap()
    .map(|r| r.unwrap().action)
    .collect();
    let days = |d: u64| Some(std::time::Duration::from_secs(d * 86_400));
    assert_eq!(
        got,
        vec![
            Action::RemoveAuthenticator(Selector {
                older_than: days(90),
                ..Selector::default()
            }),
            Action::RemoveAuthenticator(Selector {
                older_than: days(14),
                ..Selector::default()
            }),
            // A default the action does not use is not an error: it is for other rows.
            Action::List,
        ]
    );
    let op = defaults.operation_for("dave@contoso.com", 7).unwrap();
    assert_eq!((op.row, op.user.as_str()), (7, "dave@contoso.com"));
}

#[test]
fn json_arrays_and_json_lines_read_with_the_line_of_each_object() {
    let json = r#"[
  {"user": "ann@contoso.com", "action": "set-phone", "phone_number": "+46 70 123 45 67", "ticket": 17},
  {"User Principal Name": "bob@contoso.com", "Action": "reset-mfa", "revoke_sessions": true, "issue_tap": false, "note": null},
  {"user": "carl@contoso.com",
   "action": "remove-method", "method_type": ["fido2"]},
  "not an object",
]"#;
    let items = read(Format::Json, json);
    let ann = items[0].as_ref().unwrap();
    assert_eq!((ann.row, ann.line), (1, 2));
    assert_eq!(
        ann.extra,
        vec![(std::sync::Arc::from("ticket"), "17".to_string())]
    );
    let bob = items[1].as_ref().unwrap();
    assert_eq!(
        bob.action,
        Action::ResetMfa {
            revoke_sessions: true,
            issue_tap: None
        }
    );
    let carl = items[2].as_ref().unwrap_err();
    assert_eq!(
        carl.to_string(),
        "jobs.csv:4: method_type \"[\\\"fido2\\\"]\": a list or object is not a cell value \
         (hint: write one value per key; use one row per change)"
    );
    let text = items[3].as_ref().unwrap_err();
    assert_eq!((text.row, text.line), (4, 6));

    let jsonl = "{\"user\": \"ann@contoso.com\", \"action\": \"list\"}\n\n   \n{\"user\": \"bob@contoso.com\", \"action\": \"list\", \"user\": \"x\"}\n{broken\n";
    let items = read(Format::JsonLines, jsonl);
    assert_eq!(items[0].as_ref().unwrap().line, 1);
    let dup = items[1].as_ref().unwrap_err();
    assert_eq!(dup.line, 4);
    assert!(dup.why.contains("both name the user column"), "{dup}");
    assert_eq!(items[2].as_ref().unwrap_err().line, 5);
}

#[test]
fn a_broken_json_array_stops_with_a_located_error() {
    let mut reader = open(
        "j.json",
        Format::Json,
        b"[{\"user\":\"a@b.co\",\"action\":\"list\"} {".to_vec(),
    )
    .unwrap();
    assert!(reader.next().unwrap().is_ok());
    let last = reader.next().unwrap().unwrap_err();
    assert_eq!(last.row, 0);
    assert!(last.why.contains("expected , or ]"), "{last}");
    assert!(reader.next().is_none());
    assert!(matches!(
        reader.finish(),
        Err(JobError::Broken { line: 1, .. })
    ));
    let err = open("j.json", Format::Json, b"{\"user\": \"a@b.co\"}".to_vec())
        .err()
        .unwrap();
    assert!(err.to_string().contains("JSON Lines"), "{err}");
}

#[test]
fn an_unclosed_quote_stops_the_file_instead_of_eating_memory() {
    let mut text =
        String::from("user,action,note\nann@contoso.com,list,\ncarl@contoso.com,list,\"open\n");
    for _ in 0..40_000 {
        text.push_str("bob@contoso.com,list,some text here\n");
    }
    let mut reader = open("j.csv", Format::Csv, text.into_bytes()).unwrap();
    let items: Vec<_> = reader.by_ref().collect();
    assert!(items[0].is_ok());
    let last = items.last().unwrap().as_ref().unwrap_err();
    assert!(last.why.contains("never closed"), "{last}");
    // The line where the runaway row starts, not where reading gave up.
    assert_eq!(last.line, 3);
    assert!(matches!(reader.finish(), Err(JobError::Broken { .. })));
}

#[test]
fn rows_for_one_user_keep_file_order_and_share_a_user_key() {
    let text = "user,action\nAnn@Contoso.com,remove-email\nbob@contoso.com,list\nann@contoso.com,revoke-sessions\n";
    let got = ops(Format::Csv, text);
    let ann: Vec<(u64, &str)> = got
        .iter()
        .filter(|o| o.user_key() == "ann@contoso.com")
        .map(|o| (o.row, o.action.name()))
        .collect();
    assert_eq!(ann, vec![(1, "remove-email"), (3, "revoke-sessions")]);
}

#[test]
fn the_fingerprint_is_the_sha256_of_the_bytes_and_needs_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.csv");
    let content = "user,action\nann@contoso.com,list\n";
    std::fs::write(&path, content).unwrap();
    let source = job::JobSource::File {
        path: path.clone(),
        format: None,
    };
    let mut reader = job::open(&source, &Defaults::default()).unwrap();
    assert_eq!(reader.fingerprint(), None);
    for _ in reader.by_ref() {}
    let streamed = reader.fingerprint().unwrap();
    assert_eq!(streamed, job::fingerprint_file(&path).unwrap());
    let expected: [u8; 32] = Sha256::digest(content.as_bytes()).into();
    assert_eq!(streamed.0, expected);
    std::fs::write(&path, "user,action\nann@contoso.com,list\r\n").unwrap();
    assert_ne!(job::fingerprint_file(&path).unwrap(), streamed);
}

#[test]
fn powershell_export_csv_with_type_line_and_quoted_cells_reads() {
    let text = "#TYPE System.Management.Automation.PSCustomObject\r\n\"UserPrincipalName\",\"Action\",\"OlderThan\"\r\n\"ann@contoso.com\",\"remove-authenticator\",\"180d\"\r\n";
    let got = ops(Format::Csv, text);
    assert_eq!((got[0].line, got[0].user.as_str()), (3, "ann@contoso.com"));
    assert_eq!(
        got[0].action,
        Action::RemoveAuthenticator(Selector {
            older_than: Some(std::time::Duration::from_secs(180 * 86_400)),
            ..Selector::default()
        })
    );
}

#[test]
fn excels_sep_line_names_the_delimiter() {
    let got = ops(
        Format::Csv,
        "sep=|\r\nuser|action|note\r\nann@contoso.com|list|a;b,c\r\n",
    );
    assert_eq!((got[0].line, got[0].extra[0].1.as_str()), (3, "a;b,c"));
}

#[test]
fn classic_mac_line_endings_are_refused_with_a_hint() {
    let err = open(
        "mac.csv",
        Format::Csv,
        b"user,action\rann@contoso.com,list\r".to_vec(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("CR alone"), "{err}");
}

#[test]
fn a_get_mguser_json_export_gives_office_phones_from_its_business_phones_list() {
    // `Get-MgUser -Property Id,UserPrincipalName,BusinessPhones,MobilePhone | ConvertTo-Json`
    let text = r#"[
      {"Id": "9f0c6e4e-8a3b-4c7e-9a65-0d2f1c6b7a11", "UserPrincipalName": "ann@contoso.com",
       "BusinessPhones": ["+1 425 555 0100"], "MobilePhone": null, "action": "set-phone"},
      {"Id": "0b1d2c3e-8a3b-4c7e-9a65-0d2f1c6b7a12", "UserPrincipalName": "bo@contoso.com",
       "BusinessPhones": [], "MobilePhone": "+46 70 123 45 67", "action": "set-phone"}
    ]"#;
    let ops = ops(Format::Json, text);
    assert_eq!(ops[0].user, "9f0c6e4e-8a3b-4c7e-9a65-0d2f1c6b7a11");
    assert_eq!(ops[0].expected_upn.as_deref(), Some("ann@contoso.com"));
    assert_eq!(
        ops[0].action,
        Action::SetPhone {
            phone_type: PhoneType::Office,
            number: "+1 4255550100".into()
        }
    );
    assert_eq!(
        ops[1].action,
        Action::SetPhone {
            phone_type: PhoneType::Mobile,
            number: "+46 701234567".into()
        }
    );
}
