//! Unit tests of the applier against a small in-memory tenant that speaks the Graph rules the
//! applier depends on (typed collections, 404 for a missing method, 400 `badRequest` for the
//! default method while others remain, 201 with the pass) and injects lost answers. The
//! simulator-backed tests in tests/plan_apply.rs cover the same flow end to end.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use percent_encoding::percent_decode_str;
use reqwest::Method as Http;
use serde_json::{Value, json};

use super::Applier;
use crate::graph::{ApiVersion, ErrorKind, GraphCall, GraphError, Request, Response, names};
use crate::job::{Action, DefaultMethod, MethodType, Operation, PhoneType, Selector, TapParams};
use crate::plan::state::{Method, MethodKind, SignInPreferences, SmsSignInState, UserState};
use crate::plan::summary::PlanSummary;
use crate::plan::tap_out::{IssuedTap, TapSink};
use crate::report::{Record, Status};

const ID: &str = "id-1";
const UPN: &str = "user00001@contoso.onmicrosoft.com";

/// A fault: when a request's method and URL suffix match, do what it says.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    /// Apply the write, then lose the answer.
    LoseAnswerAfter,
    /// Lose the answer without applying the write.
    LoseAnswerBefore,
}

struct Tenant {
    state: UserState,
    preferences_readable: bool,
    log: Vec<(Http, ApiVersion, String)>,
    faults: VecDeque<(Http, String, Fault)>,
    taps_created: u32,
}

#[derive(Clone)]
struct FakeGraph(Arc<Mutex<Tenant>>);

fn err(kind: ErrorKind, status: u16, code: &str, message: &str) -> GraphError {
    GraphError {
        kind,
        status: Some(status),
        code: code.into(),
        message: message.into(),
        request_id: Some("req-1".into()),
        attempts: 1,
    }
}

fn ok(status: u16, body: Value) -> Result<Response, GraphError> {
    Ok(Response {
        status,
        body: body.into(),
        request_id: Some("req-ok".into()),
        attempts: 1,
    })
}

fn method_json(m: &Method) -> Value {
    let mut v = json!({"id": m.id});
    let odata = match &m.kind {
        MethodKind::Password => "#microsoft.graph.passwordAuthenticationMethod".to_string(),
        MethodKind::Unknown { odata_type } => odata_type.clone(),
        _ => names::odata_type(m.method_type().unwrap()),
    };
    v["@odata.type"] = json!(odata);
    match &m.kind {
        MethodKind::Phone {
            phone_type,
            number,
            sms_sign_in,
        } => {
            v["phoneType"] = json!(phone_type.as_graph());
            v["phoneNumber"] = json!(number);
            v["smsSignInState"] = json!(sms_sign_in.as_graph());
        }
        MethodKind::Email { address } => v["emailAddress"] = json!(address),
        MethodKind::TemporaryAccessPass { usable, .. } => v["isUsable"] = json!(usable),
        _ => {}
    }
    if let Some(name) = &m.display_name {
        v["displayName"] = json!(name);
    }
    if let Some(c) = m.created {
        v["createdDateTime"] = json!(c.to_rfc3339());
    }
    v
}

impl Tenant {
    fn serve(&mut self, r: &Request) -> Result<Response, GraphError> {
        let url = r.url.clone();
        let Some(rest) = url.strip_prefix("/users/") else {
            return Err(err(ErrorKind::Rejected, 400, "badRequest", "bad url"));
        };
        let (user, rest) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let user = percent_decode_str(user).decode_utf8().unwrap().to_string();
        if user != ID && user != UPN {
            return Err(err(
                ErrorKind::NotFound,
                404,
                "Request_ResourceNotFound",
                "Resource does not exist",
            ));
        }
        let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        match (&r.method, parts.as_slice()) {
            (m, [q]) if *m == Http::GET && q.starts_with('?') => {
                ok(200, json!({"id": ID, "userPrincipalName": UPN}))
            }
            (m, ["authentication", "methods"]) if *m == Http::GET => ok(
                200,
                json!({"value": self.state.methods.iter().map(method_json).collect::<Vec<_>>()}),
            ),
            (m, ["authentication", "signInPreferences"]) if *m == Http::GET => {
                if !self.preferences_readable {
                    return Err(err(ErrorKind::Permission, 403, "accessDenied", "denied"));
                }
                let p = self.state.preferences.clone().unwrap_or_default();
                ok(
                    200,
                    json!({
                        "userPreferredMethodForSecondaryAuthentication": p.default_method.map(|d| d.as_graph()),
                        "isSystemPreferredAuthenticationMethodEnabled": p.system_preferred,
                    }),
                )
            }
            (m, ["authentication", "signInPreferences"]) if *m == Http::PATCH => {
                let body = r.body.clone().unwrap();
                let p = self
                    .state
                    .preferences
                    .get_or_insert_with(SignInPreferences::default);
                if let Some(d) = body["userPreferredMethodForSecondaryAuthentication"].as_str() {
                    p.default_method = DefaultMethod::from_graph(d);
                }
                if let Some(f) = body["isSystemPreferredAuthenticationMethodEnabled"].as_bool() {
                    p.system_preferred = Some(f);
                }
                ok(204, Value::Null)
            }
            (m, ["authentication", "phoneMethods"]) if *m == Http::POST => {
                let body = r.body.clone().unwrap();
                let t = PhoneType::from_graph(body["phoneType"].as_str().unwrap()).unwrap();
                if t == PhoneType::AlternateMobile && self.state.phone(PhoneType::Mobile).is_none()
                {
                    return Err(err(ErrorKind::Rejected, 400, "badRequest", "needs mobile"));
                }
                self.state.methods.push(Method {
                    id: names::phone_method_id(t).into(),
                    kind: MethodKind::Phone {
                        phone_type: t,
                        number: body["phoneNumber"].as_str().unwrap().into(),
                        sms_sign_in: SmsSignInState::NotEnabled,
                    },
                    display_name: None,
                    created: None,
                    last_used: None,
                });
                ok(201, json!({}))
            }
            (m, ["authentication", "phoneMethods", id]) if *m == Http::PATCH => {
                let number = r.body.clone().unwrap()["phoneNumber"]
                    .as_str()
                    .unwrap()
                    .to_string();
                for method in &mut self.state.methods {
                    if let MethodKind::Phone { number: n, .. } = &mut method.kind
                        && method.id == *id
                    {
                        *n = number.clone();
                    }
                }
                ok(204, Value::Null)
            }
            (m, ["authentication", "temporaryAccessPassMethods"]) if *m == Http::POST => {
                self.taps_created += 1;
                let id = format!("tap-new-{}", self.taps_created);
                // A new pass replaces the user's pass, as Graph does.
                self.state
                    .methods
                    .retain(|m| !matches!(m.kind, MethodKind::TemporaryAccessPass { .. }));
                self.state.methods.push(Method {
                    id: id.clone(),
                    kind: MethodKind::TemporaryAccessPass {
                        start: None,
                        lifetime_minutes: Some(60),
                        usable: Some(true),
                    },
                    display_name: None,
                    created: None,
                    last_used: None,
                });
                ok(
                    201,
                    json!({"id": id, "temporaryAccessPass": "S3cret!pass", "lifetimeInMinutes": 60,
                           "startDateTime": "2026-06-01T00:00:00Z"}),
                )
            }
            (m, [_]) if *m == Http::POST => ok(200, json!({"value": true})),
            (m, ["authentication", "emailMethods"]) if *m == Http::POST => {
                let address = r.body.clone().unwrap()["emailAddress"]
                    .as_str()
                    .unwrap()
                    .to_string();
                self.state.methods.push(Method {
                    id: crate::plan::effect::EMAIL_METHOD_ID.into(),
                    kind: MethodKind::Email { address },
                    display_name: None,
                    created: None,
                    last_used: None,
                });
                ok(201, json!({}))
            }
            (m, ["authentication", "phoneMethods", id, action]) if *m == Http::POST => {
                let on = *action == "enableSmsSignIn";
                for method in &mut self.state.methods {
                    if let MethodKind::Phone { sms_sign_in, .. } = &mut method.kind
                        && method.id == *id
                    {
                        *sms_sign_in = if on {
                            SmsSignInState::Ready
                        } else {
                            SmsSignInState::NotEnabled
                        };
                    }
                }
                ok(204, Value::Null)
            }
            (m, ["authentication", collection, id]) if *m == Http::DELETE => {
                let Some(pos) = self.state.methods.iter().position(|x| {
                    x.id == *id && x.method_type().map(names::collection) == Some(*collection)
                }) else {
                    return Err(err(ErrorKind::NotFound, 404, "itemNotFound", "not found"));
                };
                let target = self.state.methods[pos].clone();
                let default = self
                    .state
                    .preferences
                    .as_ref()
                    .and_then(|p| p.default_method);
                let others = self
                    .state
                    .methods
                    .iter()
                    .filter(|x| x.id != target.id && x.kind != MethodKind::Password)
                    .count();
                if let Some(d) = default
                    && crate::plan::default::serves_default(d, &target)
                    && others > 0
                {
                    return Err(err(
                        ErrorKind::Rejected,
                        400,
                        "badRequest",
                        "Cannot delete default method with other methods configured.",
                    ));
                }
                self.state.methods.remove(pos);
                ok(204, Value::Null)
            }
            _ => Err(err(ErrorKind::Rejected, 400, "badRequest", "unrouted")),
        }
    }
}

impl GraphCall for FakeGraph {
    fn call(
        &self,
        _user: &str,
        request: Request,
    ) -> impl std::future::Future<Output = Result<Response, GraphError>> + Send {
        let mut tenant = self.0.lock().unwrap();
        tenant
            .log
            .push((request.method.clone(), request.version, request.url.clone()));
        let fault = tenant
            .faults
            .iter()
            .position(|(m, suffix, _)| {
                *m == request.method && request.url.ends_with(suffix.as_str())
            })
            .and_then(|i| tenant.faults.remove(i))
            .map(|(_, _, f)| f);
        let lost = err(
            ErrorKind::UnknownOutcome,
            0,
            "",
            "connection lost after sending",
        );
        let result = match fault {
            Some(Fault::LoseAnswerBefore) => Err(GraphError {
                status: None,
                ..lost
            }),
            Some(Fault::LoseAnswerAfter) => {
                let _ = tenant.serve(&request);
                Err(GraphError {
                    status: None,
                    ..lost
                })
            }
            None => tenant.serve(&request),
        };
        std::future::ready(result)
    }
}

impl FakeGraph {
    fn new(methods: Vec<Method>, default: Option<DefaultMethod>) -> Self {
        FakeGraph(Arc::new(Mutex::new(Tenant {
            state: UserState {
                methods,
                preferences: Some(SignInPreferences {
                    default_method: default,
                    system_preferred: Some(false),
                }),
            },
            preferences_readable: true,
            log: Vec::new(),
            faults: VecDeque::new(),
            taps_created: 0,
        })))
    }

    fn writes(&self) -> usize {
        self.0
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|(m, _, _)| *m != Http::GET)
            .count()
    }

    fn methods(&self) -> Vec<Method> {
        self.0.lock().unwrap().state.methods.clone()
    }

    fn fault(&self, method: Http, suffix: &str, fault: Fault) {
        self.0
            .lock()
            .unwrap()
            .faults
            .push_back((method, suffix.into(), fault));
    }
}

#[derive(Default)]
struct Taps(Mutex<Vec<IssuedTap>>);

impl TapSink for Taps {
    fn deliver(&self, tap: &IssuedTap) -> std::io::Result<()> {
        self.0.lock().unwrap().push(tap.clone());
        Ok(())
    }
}

fn m(id: &str, kind: MethodKind) -> Method {
    Method {
        id: id.into(),
        kind,
        display_name: None,
        created: None,
        last_used: None,
    }
}

fn password() -> Method {
    m("pw", MethodKind::Password)
}

fn phone(t: PhoneType, n: &str) -> Method {
    m(
        names::phone_method_id(t),
        MethodKind::Phone {
            phone_type: t,
            number: n.into(),
            sms_sign_in: SmsSignInState::NotEnabled,
        },
    )
}

fn typed(t: MethodType, id: &str) -> Method {
    m(id, MethodKind::Other(t))
}

fn mixed() -> Vec<Method> {
    vec![
        password(),
        typed(MethodType::MicrosoftAuthenticator, "auth1"),
        phone(PhoneType::Mobile, "+46 701234567"),
        phone(PhoneType::AlternateMobile, "+46 701234568"),
        typed(MethodType::Fido2, "key1"),
        typed(MethodType::SoftwareOath, "oath1"),
    ]
}

fn op(row: u64, action: Action) -> Operation {
    Operation {
        row,
        line: row + 1,
        user: UPN.into(),
        action,
        extra: vec![(Arc::from("ticket"), "T-1".to_string())],
        expected_upn: None,
    }
}

fn reset() -> Action {
    Action::ResetMfa {
        revoke_sessions: true,
        issue_tap: None,
    }
}

async fn run(
    graph: &FakeGraph,
    ops: &[Operation],
    dry_run: bool,
    taps: Option<&Taps>,
) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    let mut applier = Applier::new(graph).dry_run(dry_run);
    if let Some(taps) = taps {
        applier = applier.tap_sink(taps);
    }
    applier.apply_user(UPN, ops, &mut out).await;
    out
}

fn statuses(records: &[Record]) -> Vec<(String, Status)> {
    records
        .iter()
        .map(|r| (r.step.to_string(), r.status.unwrap()))
        .collect()
}

#[tokio::test]
async fn reset_mfa_leaves_only_the_password_and_a_second_run_is_unchanged_without_writes() {
    for default in [
        Some(DefaultMethod::Push),
        Some(DefaultMethod::Sms),
        Some(DefaultMethod::Oath),
        Some(DefaultMethod::VoiceAlternateMobile),
        None,
    ] {
        let graph = FakeGraph::new(mixed(), default);
        let records = run(&graph, &[op(1, reset())], false, None).await;
        assert!(
            records.iter().all(|r| r.status == Some(Status::Ok)),
            "{default:?}: {:?}",
            statuses(&records)
        );
        assert_eq!(graph.methods(), vec![password()], "{default:?}");
        assert_eq!(records.last().unwrap().step.to_string(), "revoke sessions");
        assert_eq!(records[0].user_id.as_deref(), Some(ID));
        assert_eq!(
            records[0].extra,
            vec![(Arc::from("ticket"), "T-1".to_string())]
        );
        let writes = graph.writes();
        let again = run(&graph, &[op(1, reset())], false, None).await;
        assert_eq!(
            statuses(&again),
            [("reset mfa".to_string(), Status::Unchanged)]
        );
        assert_eq!(graph.writes(), writes, "the second run wrote");
    }
}

#[tokio::test]
async fn reset_mfa_without_readable_preferences_retries_the_refused_default_after_the_others() {
    // Default is the mobile (sms): the heuristic order deletes the mobile before the
    // Authenticator, Graph refuses it, and it goes again after the others.
    let graph = FakeGraph::new(mixed(), Some(DefaultMethod::Sms));
    graph.0.lock().unwrap().preferences_readable = false;
    let records = run(&graph, &[op(1, reset())], false, None).await;
    let steps = statuses(&records);
    assert!(steps.iter().all(|(_, s)| *s == Status::Ok), "{steps:?}");
    let names: Vec<&str> = steps.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        &names[names.len() - 3..],
        [
            "delete microsoftAuthenticator auth1",
            "delete phone mobile",
            "revoke sessions"
        ]
    );
    let mobile = records
        .iter()
        .find(|r| r.step.to_string() == "delete phone mobile")
        .unwrap();
    assert_eq!(mobile.attempts, 2, "the refused send counts");
    assert_eq!(graph.methods(), vec![password()]);
}

#[tokio::test]
async fn a_refused_default_is_retried_once_the_other_deletes_made_progress() {
    let methods = vec![
        password(),
        phone(PhoneType::Office, "+46 8123456"),
        typed(MethodType::MicrosoftAuthenticator, "a"),
    ];
    let graph = FakeGraph::new(methods, Some(DefaultMethod::VoiceOffice));
    graph.0.lock().unwrap().preferences_readable = false;
    // Office goes first by heuristics and is refused; the Authenticator goes; office again: ok.
    let records = run(&graph, &[op(1, reset())], false, None).await;
    assert_eq!(
        statuses(&records),
        [
            ("delete microsoftAuthenticator a".to_string(), Status::Ok),
            ("delete phone office".to_string(), Status::Ok),
            ("revoke sessions".to_string(), Status::Ok)
        ]
    );
}

#[tokio::test]
async fn a_failed_step_skips_the_rest_of_its_row() {
    let graph = FakeGraph::new(vec![password(), typed(MethodType::Fido2, "k")], None);
    for _ in 0..5 {
        graph.fault(Http::DELETE, "/fido2Methods/k", Fault::LoseAnswerBefore);
    }
    let records = run(&graph, &[op(1, reset())], false, None).await;
    assert_eq!(
        statuses(&records),
        [
            ("delete fido2 k".to_string(), Status::Failed),
            ("revoke sessions".to_string(), Status::Skipped)
        ]
    );
    assert_eq!(
        records[1].error_message.as_deref(),
        Some("earlier step failed")
    );
    assert_eq!(records[0].attempts, 5);
    assert_eq!(graph.writes(), 5, "the revoke was never sent");
}

#[tokio::test]
async fn a_lost_delete_answer_is_confirmed_by_re_reading_not_resent() {
    let graph = FakeGraph::new(vec![password(), typed(MethodType::Fido2, "k")], None);
    graph.fault(Http::DELETE, "/fido2Methods/k", Fault::LoseAnswerAfter);
    let action = Action::RemoveMethod {
        method_type: MethodType::Fido2,
        select: Selector::default(),
    };
    let records = run(&graph, &[op(1, action)], false, None).await;
    assert_eq!(records[0].status, Some(Status::Ok));
    assert!(
        records[0].after.contains("confirmed by re-reading"),
        "{}",
        records[0].after
    );
    assert_eq!(graph.writes(), 1, "a confirmed write is not sent again");
}

#[tokio::test]
async fn a_delete_answered_404_is_ok_and_says_the_method_was_already_gone() {
    // The method was read, then deleted by someone else before our delete.
    let graph = FakeGraph::new(vec![password()], None);
    let state = UserState {
        methods: vec![password(), typed(MethodType::Fido2, "k")],
        preferences: None,
    };
    let step = crate::plan::desired::delete_step(&state.methods[1]).unwrap();
    let applier = Applier::new(&graph);
    let done = applier
        .run_step(UPN, ID, &[], &step, &state)
        .await
        .ok()
        .unwrap();
    assert!(
        done.note
            .unwrap()
            .starts_with("already gone (Graph answered 404")
    );
}

#[tokio::test]
async fn a_lost_answer_not_shown_in_the_state_is_sent_again() {
    let graph = FakeGraph::new(vec![password()], None);
    graph.fault(Http::POST, "/phoneMethods", Fault::LoseAnswerBefore);
    let action = Action::SetPhone {
        phone_type: PhoneType::Mobile,
        number: "+46 701234567".into(),
    };
    let records = run(&graph, &[op(1, action)], false, None).await;
    assert_eq!(
        statuses(&records),
        [("create phone mobile".to_string(), Status::Ok)]
    );
    assert_eq!(records[0].attempts, 2);
    assert_eq!(graph.writes(), 2);
    assert!(
        graph
            .methods()
            .iter()
            .any(|x| x.phone_type() == Some(PhoneType::Mobile))
    );
}

#[tokio::test]
async fn issue_tap_goes_to_the_sink_only_and_never_into_records() {
    let graph = FakeGraph::new(vec![password()], None);
    let taps = Taps::default();
    let records = run(
        &graph,
        &[op(1, Action::IssueTap(TapParams::default()))],
        false,
        Some(&taps),
    )
    .await;
    assert_eq!(
        statuses(&records),
        [("issue temporaryAccessPass".to_string(), Status::Ok)]
    );
    let delivered = taps.0.lock().unwrap().clone();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].pass(), "S3cret!pass");
    assert_eq!(
        (delivered[0].user.as_str(), delivered[0].user_id.as_str()),
        (UPN, ID)
    );
    assert!(!format!("{records:?}").contains("S3cret"));
}

#[tokio::test]
async fn issue_tap_without_tap_out_fails_before_any_write() {
    let graph = FakeGraph::new(vec![password()], None);
    for dry_run in [false, true] {
        let records = run(
            &graph,
            &[op(1, Action::IssueTap(TapParams::default()))],
            dry_run,
            None,
        )
        .await;
        assert_eq!(records[0].status, Some(Status::Failed));
        assert_eq!(records[0].error_code.as_deref(), Some("tapOutRequired"));
        assert!(
            records[0]
                .error_message
                .as_deref()
                .unwrap()
                .contains("--tap-out is required")
        );
    }
    assert_eq!(graph.writes(), 0);
}

#[tokio::test]
async fn a_lost_tap_answer_is_replaced_once_and_only_the_working_pass_is_delivered() {
    // Created, answer lost: the re-read shows a pass nobody knows; one more create replaces it
    // and that pass, the one that works, is delivered.
    let graph = FakeGraph::new(vec![password()], None);
    graph.fault(
        Http::POST,
        "/temporaryAccessPassMethods",
        Fault::LoseAnswerAfter,
    );
    let taps = Taps::default();
    let records = run(
        &graph,
        &[op(1, Action::IssueTap(TapParams::default()))],
        false,
        Some(&taps),
    )
    .await;
    assert_eq!(records[0].status, Some(Status::Ok));
    assert!(
        records[0].after.contains("replaced a pass"),
        "{}",
        records[0].after
    );
    assert_eq!(taps.0.lock().unwrap().len(), 1);
    assert_eq!(graph.0.lock().unwrap().taps_created, 2);
    let passes: Vec<_> = graph
        .methods()
        .into_iter()
        .filter(|m| matches!(m.kind, MethodKind::TemporaryAccessPass { .. }))
        .map(|m| m.id)
        .collect();
    assert_eq!(passes, ["tap-new-2"]);

    // Not created: the re-read shows no pass, so it is created now, once, and delivered.
    let graph = FakeGraph::new(vec![password()], None);
    graph.fault(
        Http::POST,
        "/temporaryAccessPassMethods",
        Fault::LoseAnswerBefore,
    );
    let taps = Taps::default();
    let records = run(
        &graph,
        &[op(1, Action::IssueTap(TapParams::default()))],
        false,
        Some(&taps),
    )
    .await;
    assert_eq!(records[0].status, Some(Status::Ok));
    assert!(
        !records[0].after.contains("replaced"),
        "{}",
        records[0].after
    );
    assert_eq!(taps.0.lock().unwrap().len(), 1);
    assert_eq!(graph.0.lock().unwrap().taps_created, 1);
    assert_eq!(graph.writes(), 2);
}

#[tokio::test]
async fn dry_run_writes_nothing_and_its_totals_equal_the_apply() {
    // Row 2 needs the mobile row 1 creates: the dry run plans it against the planned state.
    let ops = vec![
        op(
            1,
            Action::SetPhone {
                phone_type: PhoneType::Mobile,
                number: "+46 709999999".into(),
            },
        ),
        op(
            2,
            Action::SetPhone {
                phone_type: PhoneType::AlternateMobile,
                number: "+46 701111111".into(),
            },
        ),
        op(3, Action::RemoveAuthenticator(Selector::default())),
        op(
            4,
            Action::SetEmail {
                address: "a@b.c".into(),
            },
        ),
        op(5, Action::EnableSmsSignIn),
    ];
    let methods = vec![
        password(),
        typed(MethodType::MicrosoftAuthenticator, "auth1"),
        typed(MethodType::Fido2, "key1"),
        typed(MethodType::SoftwareOath, "oath1"),
    ];
    let graph = FakeGraph::new(methods, Some(DefaultMethod::Oath));
    let planned = run(&graph, &ops, true, None).await;
    assert_eq!(graph.writes(), 0);
    let names: Vec<String> = planned.iter().map(|r| r.step.to_string()).collect();
    assert_eq!(
        names,
        [
            "create phone mobile",
            "create phone alternateMobile",
            "delete microsoftAuthenticator auth1",
            "create email",
            "enable smsSignIn"
        ]
    );
    assert!(
        planned.iter().all(|r| r.status == Some(Status::Planned)),
        "{:?}",
        statuses(&planned)
    );
    let plan = PlanSummary::from_records(&planned);
    let applied = run(&graph, &ops, false, None).await;
    assert!(
        applied.iter().all(|r| r.status == Some(Status::Ok)),
        "{:?}",
        statuses(&applied)
    );
    let done = PlanSummary::from_records(&applied);
    assert_eq!(plan, done);
    assert_eq!(done.writes() as usize, graph.writes());
    let again = run(&graph, &ops, false, None).await;
    assert!(
        again.iter().all(|r| r.status == Some(Status::Unchanged)),
        "{:?}",
        statuses(&again)
    );
    assert_eq!(
        done.writes() as usize,
        graph.writes(),
        "the second run wrote"
    );
}

#[tokio::test]
async fn an_unknown_user_gives_one_failed_read_user_record_per_row() {
    let graph = FakeGraph::new(vec![password()], None);
    let mut out: Vec<Record> = Vec::new();
    let ops = [op(1, Action::List), op(2, Action::RevokeSessions)];
    Applier::new(&graph)
        .apply_user("nobody@contoso.onmicrosoft.com", &ops, &mut out)
        .await;
    assert_eq!(out.len(), 2);
    for r in &out {
        assert_eq!(r.step.to_string(), "read user");
        assert_eq!(r.status, Some(Status::Failed));
        assert_eq!(r.http_status, Some(404));
        assert_eq!(r.error_code.as_deref(), Some("Request_ResourceNotFound"));
        assert_eq!(r.request_id.as_deref(), Some("req-1"));
        assert!(
            r.error_message
                .as_deref()
                .unwrap()
                .starts_with("no such user")
        );
    }
    assert_eq!(graph.writes(), 0);
}

#[tokio::test]
async fn set_default_without_readable_preferences_fails_with_graphs_error() {
    let graph = FakeGraph::new(mixed(), Some(DefaultMethod::Sms));
    graph.0.lock().unwrap().preferences_readable = false;
    let records = run(
        &graph,
        &[op(
            1,
            Action::SetDefault {
                method: Some(DefaultMethod::Push),
                system_preferred: None,
            },
        )],
        false,
        None,
    )
    .await;
    assert_eq!(records[0].step.to_string(), "read sign-in preferences");
    assert_eq!(records[0].http_status, Some(403));
    assert_eq!(graph.writes(), 0);
}

#[tokio::test]
async fn list_reports_each_method_and_records_go_through_a_channel() {
    let graph = FakeGraph::new(mixed(), None);
    let (mut tx, mut rx) = tokio::sync::mpsc::channel::<Record>(4);
    let ops = [op(1, Action::List)];
    let applier = Applier::new(&graph);
    let (_, received) = tokio::join!(
        async move {
            applier.apply_user(UPN, &ops, &mut tx).await;
        },
        async move {
            let mut got = Vec::new();
            while let Some(r) = rx.recv().await {
                got.push(r);
            }
            got
        }
    );
    assert_eq!(received.len(), 6);
    assert!(received.iter().all(|r| r.status == Some(Status::Ok)));
    assert_eq!(
        received[2].step.to_string(),
        format!("method phone {}", names::phone_method_id(PhoneType::Mobile))
    );
    assert_eq!(received[2].before, "mobile +46 701234567");
}

#[tokio::test]
async fn rows_applied_one_by_one_share_the_user_context() {
    let graph = FakeGraph::new(vec![password(), typed(MethodType::Fido2, "k")], None);
    let applier = Applier::new(&graph).dry_run(true);
    let mut context = super::UserContext::new(UPN);
    let mut out: Vec<Record> = Vec::new();
    let set_mobile = op(
        1,
        Action::SetPhone {
            phone_type: PhoneType::Mobile,
            number: "+46 701234567".into(),
        },
    );
    applier.apply_op(&mut context, &set_mobile, &mut out).await;
    // reset-mfa needs a beta read and the preferences: the state is read again, and the
    // planned mobile of row 1 is replayed onto it.
    applier
        .apply_op(&mut context, &op(2, reset()), &mut out)
        .await;
    let names: Vec<String> = out.iter().map(|r| r.step.to_string()).collect();
    assert_eq!(
        names,
        [
            "create phone mobile",
            "delete fido2 k",
            "delete phone mobile",
            "revoke sessions"
        ]
    );
    assert_eq!(context.user_id(), Some(ID));
    assert_eq!(graph.writes(), 0);
    let gets = graph.0.lock().unwrap().log.len();
    // user, v1 methods, beta methods, preferences.
    assert_eq!(gets, 4);
}

#[tokio::test]
async fn a_dry_run_told_of_tap_out_plans_the_pass_without_a_sink() {
    let graph = FakeGraph::new(vec![password()], None);
    let mut out: Vec<Record> = Vec::new();
    Applier::new(&graph)
        .dry_run(true)
        .tap_out_given(true)
        .apply_user(
            UPN,
            &[op(1, Action::IssueTap(TapParams::default()))],
            &mut out,
        )
        .await;
    assert_eq!(
        statuses(&out),
        [("issue temporaryAccessPass".to_string(), Status::Planned)]
    );
    assert_eq!(graph.writes(), 0);
}

#[tokio::test]
async fn a_context_with_a_known_object_id_reads_no_user() {
    let graph = FakeGraph::new(vec![password(), typed(MethodType::Fido2, "k")], None);
    let applier = Applier::new(&graph).dry_run(true);
    let mut context = super::UserContext::resolved(UPN, ID);
    let mut out: Vec<Record> = Vec::new();
    applier
        .apply_op(&mut context, &op(1, Action::List), &mut out)
        .await;
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|r| r.user_id.as_deref() == Some(ID)));
    let log = graph.0.lock().unwrap().log.clone();
    assert_eq!(log.len(), 1, "only the methods are read");
    assert!(
        log[0].2.ends_with("/authentication/methods"),
        "{:?}",
        log[0].2
    );
}
