//! Unit tests of planning: every action and selector against hand-built states, the requests
//! each step needs, ordering rules, and idempotence (planning against the state after the
//! steps gives nothing to do).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::plan_with;
use crate::graph::{ApiVersion, Request, names, requests};

/// The request a step sends for the user `U`.
fn request(step: &Step) -> Request {
    requests::write(U, &step.write)
}
use crate::job::{
    Action, DefaultMethod, MethodType, PhoneSelector, PhoneType, Selector, TapParams,
};
use crate::plan::PlanRules;
use crate::plan::change::Change;
use crate::plan::state::{Method, MethodKind, SignInPreferences, SmsSignInState, UserState};
use crate::plan::step::{ChangeKind, Plan, Step};

/// Plan `action` with the default rules.
fn plan(action: &Action, state: &UserState, now: DateTime<Utc>) -> Plan {
    plan_with(action, state, now, &PlanRules::default())
}

const U: &str = "11111111-2222-3333-4444-555555555555";
const BASE: &str = "/users/11111111-2222-3333-4444-555555555555/authentication";
const MOBILE_ID: &str = "3179e48a-750b-4051-897c-87b9720928f7";
const ALT_ID: &str = "b6332ec1-7057-4abe-9331-3d72feddfe41";
const OFFICE_ID: &str = "e37fc753-ff3b-4958-9484-eaa9425c82bc";
const EMAIL_ID: &str = "3ddfcfc8-9383-446f-83cc-3ab9be4be18f";
const DAY: u64 = 86_400;

fn now() -> DateTime<Utc> {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

fn method(id: &str, kind: MethodKind) -> Method {
    Method {
        id: id.into(),
        kind,
        display_name: None,
        created: None,
        last_used: None,
    }
}

fn password() -> Method {
    method("28c10230-6103-485e-b985-444c60001490", MethodKind::Password)
}

fn phone(phone_type: PhoneType, number: &str) -> Method {
    method(
        names::phone_method_id(phone_type),
        MethodKind::Phone {
            phone_type,
            number: number.into(),
            sms_sign_in: SmsSignInState::NotEnabled,
        },
    )
}

fn email(address: &str) -> Method {
    method(
        EMAIL_ID,
        MethodKind::Email {
            address: address.into(),
        },
    )
}

fn typed(method_type: MethodType, id: &str) -> Method {
    method(id, MethodKind::Other(method_type))
}

fn authenticator(id: &str, name: &str, created: Option<&str>) -> Method {
    Method {
        display_name: Some(name.into()),
        created: created.map(|c| c.parse().unwrap()),
        ..typed(MethodType::MicrosoftAuthenticator, id)
    }
}

fn tap(id: &str, usable: Option<bool>) -> Method {
    method(
        id,
        MethodKind::TemporaryAccessPass {
            start: None,
            lifetime_minutes: Some(60),
            usable,
        },
    )
}

fn state(methods: Vec<Method>) -> UserState {
    UserState {
        methods,
        preferences: None,
    }
}

fn with_default(mut state: UserState, default: Option<DefaultMethod>) -> UserState {
    state.preferences = Some(SignInPreferences {
        default_method: default,
        system_preferred: Some(false),
    });
    state
}

fn steps(plan: &Plan) -> Vec<String> {
    plan.steps().iter().map(|s| s.change.to_string()).collect()
}

/// Planning again against the state after the steps gives nothing to do.
fn assert_idempotent(action: &Action, state: &UserState) {
    let first = plan(action, state, now());
    let mut after = state.clone();
    for step in first.steps() {
        after.apply(&step.effect);
    }
    let second = plan(action, &after, now());
    assert!(
        matches!(second, Plan::Unchanged { .. }),
        "second plan of {action:?} is {second:?}"
    );
}

fn only_step(plan: &Plan) -> &Step {
    match plan.steps() {
        [step] => step,
        other => panic!("expected one step, got {other:?} in {plan:?}"),
    }
}

// ---- set-phone ----

#[test]
fn set_phone_creates_a_missing_phone_with_a_post_on_phone_methods() {
    let action = Action::SetPhone {
        phone_type: PhoneType::Mobile,
        number: "+46 701234567".into(),
    };
    let s = state(vec![password()]);
    let p = plan(&action, &s, now());
    let step = only_step(&p);
    assert_eq!(step.change.to_string(), "create phone mobile");
    assert_eq!(step.change.kind(), ChangeKind::Create);
    assert_eq!(
        (step.before.as_str(), step.after.as_str()),
        ("", "+46 701234567")
    );
    assert_eq!(
        request(step),
        Request::post(
            ApiVersion::V1,
            format!("{BASE}/phoneMethods"),
            json!({"phoneNumber": "+46 701234567", "phoneType": "mobile"})
        )
    );
    assert_idempotent(&action, &s);
}

#[test]
fn set_phone_patches_a_different_number_on_the_phone_id() {
    let action = Action::SetPhone {
        phone_type: PhoneType::Office,
        number: "+46 8123456".into(),
    };
    let s = state(vec![password(), phone(PhoneType::Office, "+46 8999999")]);
    let p = plan(&action, &s, now());
    let step = only_step(&p);
    assert_eq!(step.change.to_string(), "update phone office");
    assert_eq!(step.change.kind(), ChangeKind::Update);
    assert_eq!(
        (step.before.as_str(), step.after.as_str()),
        ("+46 8999999", "+46 8123456")
    );
    assert_eq!(
        request(step),
        Request::patch(
            ApiVersion::V1,
            format!("{BASE}/phoneMethods/{OFFICE_ID}"),
            json!({"phoneNumber": "+46 8123456"})
        )
    );
    assert_idempotent(&action, &s);
}

#[test]
fn set_phone_is_unchanged_when_the_normalised_numbers_are_equal() {
    let action = Action::SetPhone {
        phone_type: PhoneType::Mobile,
        number: "+46 701234567".into(),
    };
    let s = state(vec![phone(PhoneType::Mobile, "+46 70 123 45 67")]);
    assert_eq!(
        plan(&action, &s, now()),
        Plan::Unchanged {
            step: Change::SetPhone {
                phone_type: PhoneType::Mobile
            },
            state: "+46 70 123 45 67".into()
        }
    );
}

#[test]
fn set_phone_refuses_an_alternate_mobile_without_a_mobile_before_any_request() {
    let action = Action::SetPhone {
        phone_type: PhoneType::AlternateMobile,
        number: "+46 701234567".into(),
    };
    let s = state(vec![password(), phone(PhoneType::Office, "+46 8123456")]);
    match plan(&action, &s, now()) {
        Plan::Refused(refusal) => {
            assert_eq!(refusal.step.to_string(), "create phone alternateMobile");
            assert_eq!(refusal.code, "alternateMobileNeedsMobile");
            assert!(
                refusal.message.contains("mobile phone"),
                "{}",
                refusal.message
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn set_phone_creates_an_alternate_mobile_when_the_mobile_exists() {
    let action = Action::SetPhone {
        phone_type: PhoneType::AlternateMobile,
        number: "+46 701234568".into(),
    };
    let s = state(vec![phone(PhoneType::Mobile, "+46 701234567")]);
    let p = plan(&action, &s, now());
    assert_eq!(steps(&p), ["create phone alternateMobile"]);
    assert_idempotent(&action, &s);
}

// ---- remove-phone ----

#[test]
fn remove_phone_all_removes_alternate_mobile_before_mobile() {
    let action = Action::RemovePhone(PhoneSelector::All);
    // Graph lists the mobile first; the plan must still delete the alternateMobile first.
    let s = state(vec![
        password(),
        phone(PhoneType::Mobile, "+46 701234567"),
        phone(PhoneType::Office, "+46 8123456"),
        phone(PhoneType::AlternateMobile, "+46 701234568"),
    ]);
    let p = plan(&action, &s, now());
    assert_eq!(
        steps(&p),
        [
            "delete phone alternateMobile",
            "delete phone office",
            "delete phone mobile"
        ]
    );
    assert_eq!(
        request(&p.steps()[0]),
        Request::delete(ApiVersion::V1, format!("{BASE}/phoneMethods/{ALT_ID}"))
    );
    assert_eq!(p.steps()[2].before, "mobile +46 701234567");
    assert_idempotent(&action, &s);
}

#[test]
fn remove_phone_of_an_absent_type_is_unchanged() {
    let s = state(vec![password(), phone(PhoneType::Mobile, "+46 701234567")]);
    let p = plan(
        &Action::RemovePhone(PhoneSelector::One(PhoneType::Office)),
        &s,
        now(),
    );
    assert_eq!(
        p,
        Plan::Unchanged {
            step: Change::RemovePhone {
                selector: PhoneSelector::One(PhoneType::Office)
            },
            state: "no office phone".into()
        }
    );
    let none = plan(
        &Action::RemovePhone(PhoneSelector::All),
        &state(vec![]),
        now(),
    );
    assert!(matches!(none, Plan::Unchanged { .. }));
}

#[test]
fn remove_phone_mobile_is_refused_while_an_alternate_mobile_needs_it() {
    let s = state(vec![
        phone(PhoneType::Mobile, "+46 701234567"),
        phone(PhoneType::AlternateMobile, "+46 701234568"),
    ]);
    let p = plan(
        &Action::RemovePhone(PhoneSelector::One(PhoneType::Mobile)),
        &s,
        now(),
    );
    assert!(
        matches!(&p, Plan::Refused(r) if r.code == "mobileNeededByAlternateMobile"),
        "{p:?}"
    );
}

#[test]
fn remove_phone_deletes_one_type_on_its_fixed_id() {
    let action = Action::RemovePhone(PhoneSelector::One(PhoneType::Mobile));
    let s = state(vec![phone(PhoneType::Mobile, "+46 701234567")]);
    let p = plan(&action, &s, now());
    let step = only_step(&p);
    assert_eq!(step.change.kind(), ChangeKind::Delete);
    assert_eq!(
        request(step),
        Request::delete(ApiVersion::V1, format!("{BASE}/phoneMethods/{MOBILE_ID}"))
    );
    assert_idempotent(&action, &s);
}

// ---- email ----

#[test]
fn set_email_creates_updates_or_leaves_the_email_method() {
    let action = Action::SetEmail {
        address: "jo@example.com".into(),
    };
    let created = plan(&action, &state(vec![password()]), now());
    assert_eq!(
        request(only_step(&created)),
        Request::post(
            ApiVersion::V1,
            format!("{BASE}/emailMethods"),
            json!({"emailAddress": "jo@example.com"})
        )
    );
    let s = state(vec![email("old@example.com")]);
    let updated = plan(&action, &s, now());
    let step = only_step(&updated);
    assert_eq!(step.change.to_string(), "update email");
    assert_eq!(
        request(step),
        Request::patch(
            ApiVersion::V1,
            format!("{BASE}/emailMethods/{EMAIL_ID}"),
            json!({"emailAddress": "jo@example.com"})
        )
    );
    assert_idempotent(&action, &s);
    let same = plan(&action, &state(vec![email("JO@example.com")]), now());
    assert!(matches!(same, Plan::Unchanged { .. }));
}

#[test]
fn remove_email_deletes_it_or_is_unchanged() {
    let s = state(vec![email("a@b.c")]);
    let p = plan(&Action::RemoveEmail, &s, now());
    assert_eq!(steps(&p), ["delete email"]);
    assert_eq!(
        request(&p.steps()[0]),
        Request::delete(ApiVersion::V1, format!("{BASE}/emailMethods/{EMAIL_ID}"))
    );
    assert_idempotent(&Action::RemoveEmail, &s);
}

// ---- remove-authenticator / remove-method ----

fn phones_fleet() -> UserState {
    state(vec![
        password(),
        authenticator("old", "iPhone 8", Some("2020-01-01T00:00:00Z")),
        authenticator("undated", "Pixel 3", None),
        authenticator("new", "iPhone 15", Some("2026-05-01T00:00:00Z")),
        typed(MethodType::Fido2, "key"),
    ])
}

#[test]
fn remove_authenticator_without_selector_deletes_every_registration_on_its_collection() {
    let action = Action::RemoveAuthenticator(Selector::default());
    let s = phones_fleet();
    let p = plan(&action, &s, now());
    assert_eq!(
        steps(&p),
        [
            "delete microsoftAuthenticator old",
            "delete microsoftAuthenticator undated",
            "delete microsoftAuthenticator new"
        ]
    );
    assert_eq!(
        request(&p.steps()[0]),
        Request::delete(
            ApiVersion::V1,
            format!("{BASE}/microsoftAuthenticatorMethods/old")
        )
    );
    assert_eq!(p.steps()[0].before, "iPhone 8, created 2020-01-01");
    assert_idempotent(&action, &s);
}

#[test]
fn remove_authenticator_by_device_glob_and_age() {
    let action = Action::RemoveAuthenticator(Selector {
        device: Some("iphone*".into()),
        older_than: Some(Duration::from_secs(365 * DAY)),
        ..Selector::default()
    });
    let s = phones_fleet();
    assert_eq!(
        steps(&plan(&action, &s, now())),
        ["delete microsoftAuthenticator old"]
    );
    assert_idempotent(&action, &s);
}

#[test]
fn remove_authenticator_older_than_never_selects_null_dates() {
    let action = Action::RemoveAuthenticator(Selector {
        older_than: Some(Duration::from_secs(DAY)),
        ..Selector::default()
    });
    let p = plan(&action, &phones_fleet(), now());
    assert_eq!(
        steps(&p),
        [
            "delete microsoftAuthenticator old",
            "delete microsoftAuthenticator new"
        ]
    );
}

#[test]
fn remove_authenticator_keep_newest_never_removes_undated_and_says_how_many_it_left() {
    let action = Action::RemoveAuthenticator(Selector {
        keep_newest: Some(2),
        ..Selector::default()
    });
    let s = phones_fleet();
    assert_eq!(
        plan(&action, &s, now()),
        Plan::Unchanged {
            step: Change::KeepUndated {
                method_type: MethodType::MicrosoftAuthenticator,
                count: 1
            },
            state: "1 microsoftAuthenticator method(s) without a date in Graph: never chosen \
                    by --older-than, --unused-for or --keep-newest"
                .into()
        }
    );
    let action = Action::RemoveAuthenticator(Selector {
        keep_newest: Some(1),
        ..Selector::default()
    });
    match plan(&action, &s, now()) {
        Plan::Changes { steps, undated, .. } => {
            assert_eq!(steps.len(), 1);
            assert_eq!(undated.map(|u| u.count), Some(1));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn remove_authenticator_with_nothing_selected_is_unchanged_and_says_why() {
    let action = Action::RemoveAuthenticator(Selector {
        method_id: Some("absent".into()),
        ..Selector::default()
    });
    assert_eq!(
        plan(&action, &phones_fleet(), now()),
        Plan::Unchanged {
            step: Change::RemoveMethods {
                method_type: MethodType::MicrosoftAuthenticator
            },
            state: "3 microsoftAuthenticator method(s), none selected".into()
        }
    );
    assert_eq!(
        plan(&action, &state(vec![password()]), now()),
        Plan::Unchanged {
            step: Change::RemoveMethods {
                method_type: MethodType::MicrosoftAuthenticator
            },
            state: "no microsoftAuthenticator methods".into()
        }
    );
}

#[test]
fn remove_authenticator_unused_for_uses_last_use_then_creation() {
    let mut used = authenticator("used", "Pixel 7", Some("2020-01-01T00:00:00Z"));
    used.last_used = Some("2026-05-30T00:00:00Z".parse().unwrap());
    let mut idle = authenticator("idle", "Pixel 6", Some("2020-01-01T00:00:00Z"));
    idle.last_used = Some("2025-01-01T00:00:00Z".parse().unwrap());
    let s = state(vec![used, idle, authenticator("undated", "x", None)]);
    let action = Action::RemoveAuthenticator(Selector {
        unused_for: Some(Duration::from_secs(90 * DAY)),
        ..Selector::default()
    });
    assert_eq!(
        steps(&plan(&action, &s, now())),
        ["delete microsoftAuthenticator idle"]
    );
}

#[test]
fn remove_method_uses_the_typed_collection_of_each_type() {
    for (method_type, collection) in [
        (MethodType::Fido2, "fido2Methods"),
        (MethodType::SoftwareOath, "softwareOathMethods"),
        (
            MethodType::WindowsHelloForBusiness,
            "windowsHelloForBusinessMethods",
        ),
        (MethodType::PlatformCredential, "platformCredentialMethods"),
        (
            MethodType::MicrosoftAuthenticator,
            "microsoftAuthenticatorMethods",
        ),
    ] {
        let s = state(vec![password(), typed(method_type, "m/1")]);
        let action = Action::RemoveMethod {
            method_type,
            select: Selector::default(),
        };
        let p = plan(&action, &s, now());
        let step = only_step(&p);
        assert_eq!(step.change.to_string(), format!("delete {method_type} m/1"));
        // The id is one encoded segment, never a path that walks elsewhere.
        assert_eq!(
            request(step),
            Request::delete(ApiVersion::V1, format!("{BASE}/{collection}/m%2F1"))
        );
        assert!(!request(step).url.contains("/authentication/methods/"));
        assert_idempotent(&action, &s);
    }
}

#[test]
fn remove_method_hardware_oath_goes_through_beta() {
    let s = state(vec![typed(MethodType::HardwareOath, "h1")]);
    let p = plan(
        &Action::RemoveMethod {
            method_type: MethodType::HardwareOath,
            select: Selector::default(),
        },
        &s,
        now(),
    );
    assert_eq!(
        request(only_step(&p)),
        Request::delete(ApiVersion::Beta, format!("{BASE}/hardwareOathMethods/h1"))
    );
}

#[test]
fn remove_method_temporary_access_pass_deletes_passes() {
    let s = state(vec![tap("t1", Some(true))]);
    let p = plan(
        &Action::RemoveMethod {
            method_type: MethodType::TemporaryAccessPass,
            select: Selector::default(),
        },
        &s,
        now(),
    );
    assert_eq!(
        request(only_step(&p)),
        Request::delete(
            ApiVersion::V1,
            format!("{BASE}/temporaryAccessPassMethods/t1")
        )
    );
}

#[test]
fn remove_method_phone_orders_alternate_mobile_before_mobile_and_refuses_orphaning_it() {
    let s = state(vec![
        phone(PhoneType::Mobile, "+46 701234567"),
        phone(PhoneType::AlternateMobile, "+46 701234568"),
    ]);
    let all = Action::RemoveMethod {
        method_type: MethodType::Phone,
        select: Selector::default(),
    };
    assert_eq!(
        steps(&plan(&all, &s, now())),
        ["delete phone alternateMobile", "delete phone mobile"]
    );
    let mobile_only = Action::RemoveMethod {
        method_type: MethodType::Phone,
        select: Selector {
            method_id: Some(MOBILE_ID.into()),
            ..Selector::default()
        },
    };
    assert!(matches!(plan(&mobile_only, &s, now()), Plan::Refused(_)));
}

// ---- reset-mfa ----

fn mixed() -> UserState {
    state(vec![
        password(),
        authenticator("auth1", "iPhone 14", Some("2024-01-01T00:00:00Z")),
        phone(PhoneType::Mobile, "+46 701234567"),
        phone(PhoneType::AlternateMobile, "+46 701234568"),
        phone(PhoneType::Office, "+46 8123456"),
        typed(MethodType::SoftwareOath, "oath1"),
        typed(MethodType::HardwareOath, "hw1"),
        typed(MethodType::Fido2, "key1"),
        email("a@b.c"),
        tap("tap1", Some(true)),
        authenticator("auth2", "Pixel 7", None),
    ])
}

fn reset(revoke: bool, tap: Option<TapParams>) -> Action {
    Action::ResetMfa {
        revoke_sessions: revoke,
        issue_tap: tap,
    }
}

fn last_types(p: &Plan, n: usize) -> Vec<String> {
    let s = steps(p);
    s[s.len() - n..].iter().map(|x| x.to_string()).collect()
}

#[test]
fn reset_mfa_removes_everything_but_the_password() {
    let s = with_default(mixed(), Some(DefaultMethod::Push));
    let p = plan(&reset(false, None), &s, now());
    assert_eq!(p.steps().len(), 10);
    assert!(
        p.steps()
            .iter()
            .all(|step| step.change.kind() == ChangeKind::Delete)
    );
    assert!(!steps(&p).iter().any(|s| s.contains("password")));
    let mut after = s.clone();
    for step in p.steps() {
        after.apply(&step.effect);
    }
    assert_eq!(after.methods, vec![password()]);
    assert_idempotent(&reset(false, None), &s);
}

#[test]
fn reset_mfa_with_push_default_deletes_authenticators_last() {
    let p = plan(
        &reset(false, None),
        &with_default(mixed(), Some(DefaultMethod::Push)),
        now(),
    );
    assert_eq!(
        last_types(&p, 2),
        [
            "delete microsoftAuthenticator auth1",
            "delete microsoftAuthenticator auth2"
        ]
    );
}

#[test]
fn reset_mfa_with_sms_or_voice_mobile_default_deletes_the_mobile_last() {
    for default in [DefaultMethod::Sms, DefaultMethod::VoiceMobile] {
        let p = plan(
            &reset(false, None),
            &with_default(mixed(), Some(default)),
            now(),
        );
        let s = steps(&p);
        assert_eq!(
            s.last().map(String::as_str),
            Some("delete phone mobile"),
            "{default}"
        );
        let alt = s.iter().position(|x| *x == "delete phone alternateMobile");
        assert!(alt < Some(s.len() - 1));
    }
}

#[test]
fn reset_mfa_with_oath_default_deletes_oath_tokens_last() {
    let p = plan(
        &reset(false, None),
        &with_default(mixed(), Some(DefaultMethod::Oath)),
        now(),
    );
    assert_eq!(
        last_types(&p, 2),
        ["delete softwareOath oath1", "delete hardwareOath hw1"]
    );
    let hw = p.steps().last().unwrap();
    assert_eq!(request(hw).version, ApiVersion::Beta);
}

#[test]
fn reset_mfa_with_office_default_deletes_the_office_phone_last() {
    let p = plan(
        &reset(false, None),
        &with_default(mixed(), Some(DefaultMethod::VoiceOffice)),
        now(),
    );
    assert_eq!(last_types(&p, 1), ["delete phone office"]);
}

#[test]
fn reset_mfa_with_alternate_mobile_default_moves_the_default_to_the_mobile_first() {
    let s = with_default(mixed(), Some(DefaultMethod::VoiceAlternateMobile));
    let p = plan(&reset(false, None), &s, now());
    let first = &p.steps()[0];
    assert_eq!(first.change.to_string(), "set default method");
    assert_eq!(
        request(first),
        Request::patch(
            ApiVersion::Beta,
            format!("{BASE}/signInPreferences"),
            json!({"userPreferredMethodForSecondaryAuthentication": "voiceMobile"})
        )
    );
    let s2 = steps(&p);
    assert_eq!(s2.last().map(String::as_str), Some("delete phone mobile"));
    assert!(
        s2.iter().position(|x| *x == "delete phone alternateMobile")
            < s2.iter().position(|x| *x == "delete phone mobile")
    );
    // Without a mobile, the alternateMobile simply goes last.
    let mut no_mobile = s.clone();
    no_mobile
        .methods
        .retain(|m| m.phone_type() != Some(PhoneType::Mobile));
    let p = plan(&reset(false, None), &no_mobile, now());
    assert_eq!(last_types(&p, 1), ["delete phone alternateMobile"]);
    assert!(!steps(&p).contains(&"set default method".to_string()));
}

#[test]
fn reset_mfa_without_known_default_puts_authenticators_last_and_alternate_before_mobile() {
    for s in [mixed(), with_default(mixed(), None)] {
        let p = plan(&reset(false, None), &s, now());
        let s = steps(&p);
        assert_eq!(
            &s[s.len() - 2..],
            [
                "delete microsoftAuthenticator auth1",
                "delete microsoftAuthenticator auth2"
            ]
        );
        assert!(
            s.iter().position(|x| *x == "delete phone alternateMobile")
                < s.iter().position(|x| *x == "delete phone mobile")
        );
        // Methods that can never be the default go first.
        assert!(s[..4].contains(&"delete fido2 key1".to_string()));
    }
}

#[test]
fn reset_mfa_revokes_sessions_and_issues_a_pass_after_the_deletes() {
    let params = TapParams {
        lifetime_minutes: Some(60),
        ..TapParams::default()
    };
    let s = with_default(mixed(), Some(DefaultMethod::Push));
    let p = plan(&reset(true, Some(params.clone())), &s, now());
    let names = steps(&p);
    assert_eq!(
        &names[names.len() - 2..],
        ["revoke sessions", "issue temporaryAccessPass"]
    );
    // The existing pass goes with the rest: Graph keeps the default while any method remains.
    assert!(
        names
            .iter()
            .position(|n| *n == "delete temporaryAccessPass tap1")
            < names
                .iter()
                .position(|n| *n == "delete microsoftAuthenticator auth1")
    );
    let revoke = &p.steps()[names.len() - 2];
    assert_eq!(
        request(revoke),
        Request::post(
            ApiVersion::V1,
            "/users/11111111-2222-3333-4444-555555555555/revokeSignInSessions",
            json!({})
        )
    );
    let issue = p.steps().last().unwrap();
    assert_eq!(
        request(issue),
        Request::post(
            ApiVersion::V1,
            format!("{BASE}/temporaryAccessPassMethods"),
            json!({"lifetimeInMinutes": 60})
        )
    );
    assert_idempotent(&reset(true, Some(params)), &s);
}

#[test]
fn reset_mfa_of_a_password_only_user_is_unchanged_and_revokes_nothing() {
    let s = with_default(state(vec![password()]), None);
    assert_eq!(
        plan(&reset(true, None), &s, now()),
        Plan::Unchanged {
            step: Change::ResetMfa,
            state: "only the password".into()
        }
    );
}

#[test]
fn reset_mfa_issues_a_pass_when_the_existing_one_is_no_longer_usable() {
    let s = state(vec![password(), tap("spent", Some(false))]);
    let p = plan(&reset(true, Some(TapParams::default())), &s, now());
    assert_eq!(steps(&p), ["revoke sessions", "issue temporaryAccessPass"]);
    let fresh = state(vec![password(), tap("fresh", Some(true))]);
    assert!(matches!(
        plan(&reset(true, Some(TapParams::default())), &fresh, now()),
        Plan::Unchanged { .. }
    ));
}

#[test]
fn reset_mfa_reports_unknown_types_it_cannot_delete() {
    let s = state(vec![
        password(),
        method(
            "q1",
            MethodKind::Unknown {
                odata_type: "#microsoft.graph.externalAuthenticationMethod".into(),
            },
        ),
        typed(MethodType::Fido2, "key1"),
    ]);
    match plan(&reset(false, None), &s, now()) {
        Plan::Changes { steps, blocked, .. } => {
            assert_eq!(steps.len(), 1);
            assert_eq!(blocked.len(), 1);
            assert_eq!(blocked[0].code, "unsupportedMethodType");
            assert!(
                blocked[0]
                    .step
                    .to_string()
                    .contains("externalAuthentication")
            );
        }
        other => panic!("{other:?}"),
    }
}

// ---- issue-tap, revoke-sessions ----

#[test]
fn issue_tap_always_creates_one_pass() {
    let params = TapParams {
        lifetime_minutes: Some(120),
        usable_once: Some(true),
        start_time: None,
    };
    let s = state(vec![password(), tap("t", Some(true))]);
    let p = plan(&Action::IssueTap(params), &s, now());
    let step = only_step(&p);
    assert_eq!(step.change.to_string(), "issue temporaryAccessPass");
    assert_eq!(step.change.kind(), ChangeKind::Create);
    assert_eq!(step.after, "pass to --tap-out, 120 min, usable once");
    assert_eq!(
        request(step).body,
        Some(json!({"lifetimeInMinutes": 120, "isUsableOnce": true}))
    );
}

#[test]
fn revoke_sessions_is_one_action() {
    let p = plan(&Action::RevokeSessions, &state(vec![]), now());
    let step = only_step(&p);
    assert_eq!(step.change.kind(), ChangeKind::Action);
    assert_eq!(step.change.to_string(), "revoke sessions");
}

// ---- set-default ----

#[test]
fn set_default_patches_sign_in_preferences_on_beta_with_only_the_changes() {
    let s = with_default(
        state(vec![
            password(),
            phone(PhoneType::Mobile, "+46 701234567"),
            authenticator("a", "iPhone", None),
        ]),
        Some(DefaultMethod::Sms),
    );
    let action = Action::SetDefault {
        method: Some(DefaultMethod::Push),
        system_preferred: Some(false),
    };
    let p = plan(&action, &s, now());
    let step = only_step(&p);
    assert_eq!(step.change.to_string(), "set default method");
    assert_eq!(step.change.kind(), ChangeKind::Update);
    assert_eq!(step.before, "sms, system-preferred off");
    assert_eq!(step.after, "push, system-preferred off");
    assert_eq!(
        request(step),
        Request::patch(
            ApiVersion::Beta,
            format!("{BASE}/signInPreferences"),
            json!({"userPreferredMethodForSecondaryAuthentication": "push"})
        )
    );
    assert_idempotent(&action, &s);
}

#[test]
fn set_default_is_unchanged_when_already_so() {
    let s = with_default(
        state(vec![phone(PhoneType::Mobile, "+46 701234567")]),
        Some(DefaultMethod::Sms),
    );
    let action = Action::SetDefault {
        method: Some(DefaultMethod::Sms),
        system_preferred: Some(false),
    };
    assert_eq!(
        plan(&action, &s, now()),
        Plan::Unchanged {
            step: Change::SetDefaultMethod,
            state: "sms, system-preferred off".into()
        }
    );
}

#[test]
fn set_default_refuses_a_method_the_user_lacks_or_unknown_preferences() {
    let action = Action::SetDefault {
        method: Some(DefaultMethod::VoiceOffice),
        system_preferred: None,
    };
    let s = with_default(
        state(vec![phone(PhoneType::Mobile, "+46 701234567")]),
        Some(DefaultMethod::Sms),
    );
    assert!(
        matches!(plan(&action, &s, now()), Plan::Refused(r) if r.code == "defaultMethodNotRegistered")
    );
    let unknown = state(vec![phone(PhoneType::Office, "+46 8123456")]);
    assert!(
        matches!(plan(&action, &unknown, now()), Plan::Refused(r) if r.code == "preferencesUnknown")
    );
}

#[test]
fn set_default_system_preferred_flag_alone() {
    let s = with_default(state(vec![]), None);
    let action = Action::SetDefault {
        method: None,
        system_preferred: Some(true),
    };
    let p = plan(&action, &s, now());
    assert_eq!(
        request(only_step(&p)).body,
        Some(json!({"isSystemPreferredAuthenticationMethodEnabled": true}))
    );
    assert_idempotent(&action, &s);
}

// ---- SMS sign-in ----

fn mobile_with(sms: SmsSignInState) -> UserState {
    state(vec![method(
        MOBILE_ID,
        MethodKind::Phone {
            phone_type: PhoneType::Mobile,
            number: "+46 701234567".into(),
            sms_sign_in: sms,
        },
    )])
}

#[test]
fn enable_sms_sign_in_posts_the_action_on_the_mobile() {
    let s = mobile_with(SmsSignInState::NotEnabled);
    let p = plan(&Action::EnableSmsSignIn, &s, now());
    let step = only_step(&p);
    assert_eq!(step.change.to_string(), "enable smsSignIn");
    assert_eq!(step.change.kind(), ChangeKind::Action);
    assert_eq!(
        request(step),
        Request::post(
            ApiVersion::V1,
            format!("{BASE}/phoneMethods/{MOBILE_ID}/enableSmsSignIn"),
            json!({})
        )
    );
    assert_idempotent(&Action::EnableSmsSignIn, &s);
    assert!(matches!(
        plan(
            &Action::EnableSmsSignIn,
            &mobile_with(SmsSignInState::Ready),
            now()
        ),
        Plan::Unchanged { .. }
    ));
}

#[test]
fn enable_sms_sign_in_without_a_mobile_is_refused() {
    let s = state(vec![phone(PhoneType::Office, "+46 8123456")]);
    assert!(matches!(
        plan(&Action::EnableSmsSignIn, &s, now()),
        Plan::Refused(r) if r.code == "noMobilePhone"
    ));
}

#[test]
fn disable_sms_sign_in_only_when_it_is_on() {
    let s = mobile_with(SmsSignInState::Ready);
    let p = plan(&Action::DisableSmsSignIn, &s, now());
    assert_eq!(
        request(only_step(&p)).url,
        format!("{BASE}/phoneMethods/{MOBILE_ID}/disableSmsSignIn")
    );
    assert_idempotent(&Action::DisableSmsSignIn, &s);
    for off in [
        SmsSignInState::NotEnabled,
        SmsSignInState::NotConfigured,
        SmsSignInState::NotAllowedByPolicy,
    ] {
        assert!(matches!(
            plan(&Action::DisableSmsSignIn, &mobile_with(off), now()),
            Plan::Unchanged { .. }
        ));
    }
    assert!(matches!(
        plan(&Action::DisableSmsSignIn, &state(vec![]), now()),
        Plan::Unchanged { .. }
    ));
}

// ---- list, encoding ----

#[test]
fn list_reports_every_method_including_unknown_types() {
    let s = state(vec![
        password(),
        authenticator("a", "iPhone 14", Some("2023-02-01T10:00:00Z")),
        method(
            "q",
            MethodKind::Unknown {
                odata_type: "#microsoft.graph.externalAuthenticationMethod".into(),
            },
        ),
    ]);
    match plan(&Action::List, &s, now()) {
        Plan::Listing(items) => {
            let lines: Vec<(String, String)> = items
                .into_iter()
                .map(|i| (i.step.to_string(), i.description))
                .collect();
            assert_eq!(
                lines,
                [
                    (
                        "method password 28c10230-6103-485e-b985-444c60001490".into(),
                        "password".into()
                    ),
                    (
                        "method microsoftAuthenticator a".into(),
                        "iPhone 14, created 2023-02-01".into()
                    ),
                    (
                        "method #microsoft.graph.externalAuthenticationMethod q".into(),
                        "#microsoft.graph.externalAuthenticationMethod, created unknown".into()
                    ),
                ]
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn guest_upns_are_encoded_as_one_path_segment_in_every_request() {
    let guest = "guest00007_fabrikam.com#EXT#@contoso.onmicrosoft.com";
    let p = plan(
        &Action::SetPhone {
            phone_type: PhoneType::Mobile,
            number: "+46 701234567".into(),
        },
        &state(vec![]),
        now(),
    );
    assert_eq!(
        requests::write(guest, &only_step(&p).write).url,
        "/users/guest00007_fabrikam.com%23EXT%23@contoso.onmicrosoft.com/authentication/phoneMethods"
    );
}

#[test]
fn reset_mfa_keeps_the_last_default_method_when_undeletable_methods_stay() {
    let s = with_default(
        state(vec![
            password(),
            authenticator("a1", "iPhone", None),
            authenticator("a2", "Pixel", None),
            typed(MethodType::Fido2, "key1"),
            method(
                "q1",
                MethodKind::Unknown {
                    odata_type: "#microsoft.graph.externalAuthenticationMethod".into(),
                },
            ),
        ]),
        Some(DefaultMethod::Push),
    );
    match plan(&reset(false, None), &s, now()) {
        Plan::Changes { steps, blocked, .. } => {
            let names: Vec<String> = steps.iter().map(|s| s.change.to_string()).collect();
            assert_eq!(
                names,
                ["delete fido2 key1", "delete microsoftAuthenticator a1"]
            );
            let codes: Vec<&str> = blocked.iter().map(|b| b.code).collect();
            assert_eq!(codes, ["defaultMethodKept", "unsupportedMethodType"]);
            assert_eq!(
                blocked[0].step.to_string(),
                "delete microsoftAuthenticator a2"
            );
            assert!(
                blocked[0].message.contains("externalAuthentication"),
                "{}",
                blocked[0].message
            );
        }
        other => panic!("{other:?}"),
    }
}

// ---- the default method during removals ----

#[test]
fn removing_the_last_method_behind_the_default_moves_the_default_first() {
    let s = with_default(
        state(vec![
            password(),
            authenticator("a1", "iPhone", None),
            phone(PhoneType::Mobile, "+46 701234567"),
        ]),
        Some(DefaultMethod::Push),
    );
    let action = Action::RemoveAuthenticator(Selector::default());
    let p = plan(&action, &s, now());
    assert_eq!(
        steps(&p),
        ["set default method", "delete microsoftAuthenticator a1"]
    );
    let first = &p.steps()[0];
    assert_eq!(
        request(first).body,
        Some(json!({"userPreferredMethodForSecondaryAuthentication": "sms"}))
    );
    assert_eq!(first.before, "push, system-preferred off");
    assert!(first.after.starts_with("sms"), "{}", first.after);
    assert_idempotent(&action, &s);
}

#[test]
fn removing_one_of_several_methods_behind_the_default_leaves_the_default_alone() {
    let s = with_default(
        state(vec![
            authenticator("a1", "iPhone", Some("2020-01-01T00:00:00Z")),
            authenticator("a2", "Pixel", Some("2025-01-01T00:00:00Z")),
            phone(PhoneType::Mobile, "+46 701234567"),
        ]),
        Some(DefaultMethod::Push),
    );
    let action = Action::RemoveAuthenticator(Selector {
        keep_newest: Some(1),
        ..Selector::default()
    });
    assert_eq!(
        steps(&plan(&action, &s, now())),
        ["delete microsoftAuthenticator a1"]
    );
}

#[test]
fn removing_the_default_phone_moves_the_default_to_the_strongest_method_left() {
    let s = with_default(
        state(vec![
            phone(PhoneType::Office, "+46 8123456"),
            typed(MethodType::SoftwareOath, "o1"),
            phone(PhoneType::Mobile, "+46 701234567"),
        ]),
        Some(DefaultMethod::VoiceOffice),
    );
    let action = Action::RemovePhone(PhoneSelector::One(PhoneType::Office));
    let p = plan(&action, &s, now());
    assert_eq!(steps(&p), ["set default method", "delete phone office"]);
    assert_eq!(
        request(&p.steps()[0]).body,
        Some(json!({"userPreferredMethodForSecondaryAuthentication": "oath"}))
    );
    assert_idempotent(&action, &s);
}

#[test]
fn removing_everything_behind_the_default_needs_no_move_when_nothing_else_stays() {
    let s = with_default(
        state(vec![
            password(),
            phone(PhoneType::Mobile, "+46 701234567"),
            phone(PhoneType::AlternateMobile, "+46 701234568"),
        ]),
        Some(DefaultMethod::Sms),
    );
    let p = plan(&Action::RemovePhone(PhoneSelector::All), &s, now());
    assert_eq!(
        steps(&p),
        ["delete phone alternateMobile", "delete phone mobile"]
    );
}

#[test]
fn the_default_that_no_remaining_method_can_take_is_kept_and_reported() {
    let s = with_default(
        state(vec![
            authenticator("a1", "iPhone", None),
            typed(MethodType::Fido2, "k1"),
        ]),
        Some(DefaultMethod::Push),
    );
    match plan(&Action::RemoveAuthenticator(Selector::default()), &s, now()) {
        Plan::Changes { steps, blocked, .. } => {
            assert!(steps.is_empty());
            assert_eq!(blocked.len(), 1);
            assert_eq!(blocked[0].code, "defaultMethodKept");
            assert_eq!(
                blocked[0].step.to_string(),
                "delete microsoftAuthenticator a1"
            );
            assert!(
                blocked[0].message.contains("fido2"),
                "{}",
                blocked[0].message
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn reset_mfa_with_a_pass_and_undeletable_methods_issues_the_pass_once() {
    let s = with_default(
        state(vec![
            password(),
            phone(PhoneType::Mobile, "+46 701234567"),
            typed(MethodType::Fido2, "key1"),
            method(
                "q1",
                MethodKind::Unknown {
                    odata_type: "#microsoft.graph.externalAuthenticationMethod".into(),
                },
            ),
        ]),
        Some(DefaultMethod::Sms),
    );
    let action = reset(false, Some(TapParams::default()));
    let first = plan(&action, &s, now());
    assert_eq!(
        steps(&first),
        ["delete fido2 key1", "issue temporaryAccessPass"]
    );
    let mut after = s.clone();
    for step in first.steps() {
        after.apply(&step.effect);
    }
    // The mobile (default) and the external method stay and are reported; no second pass.
    match plan(&action, &after, now()) {
        Plan::Changes { steps, blocked, .. } => {
            assert!(steps.is_empty(), "{steps:?}");
            assert_eq!(blocked.len(), 2);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn reset_mfa_deletes_the_qr_code_pin_through_its_singleton_path_before_the_default() {
    let s = with_default(
        state(vec![
            password(),
            authenticator("a1", "iPhone", None),
            typed(MethodType::QrCodePin, "q1"),
        ]),
        Some(DefaultMethod::Push),
    );
    let p = plan(&reset(false, None), &s, now());
    assert_eq!(
        steps(&p),
        ["delete qrCodePin q1", "delete microsoftAuthenticator a1"]
    );
    assert_eq!(
        request(&p.steps()[0]).url,
        format!("/users/{U}/authentication/qrCodePinMethod")
    );
    assert!(matches!(&p, Plan::Changes { blocked, .. } if blocked.is_empty()));
    assert_idempotent(&reset(false, None), &s);
}

#[test]
fn remove_method_qr_code_pin_deletes_the_one_method_without_an_id_in_the_path() {
    let action = Action::RemoveMethod {
        method_type: MethodType::QrCodePin,
        select: Selector::default(),
    };
    let s = state(vec![password(), typed(MethodType::QrCodePin, "q1")]);
    let p = plan(&action, &s, now());
    assert_eq!(steps(&p), ["delete qrCodePin q1"]);
    assert!(
        request(&p.steps()[0])
            .url
            .ends_with("/authentication/qrCodePinMethod")
    );
    assert_idempotent(&action, &s);
    assert!(matches!(
        plan(&action, &state(vec![password()]), now()),
        Plan::Unchanged { .. }
    ));
}

#[test]
fn enable_sms_sign_in_is_refused_in_the_plan_on_a_shared_number_or_when_policy_forbids_it() {
    for (state, code) in [
        (SmsSignInState::PhoneNumberNotUnique, "phoneNumberNotUnique"),
        (
            SmsSignInState::NotAllowedByPolicy,
            "smsSignInNotAllowedByPolicy",
        ),
    ] {
        match plan(&Action::EnableSmsSignIn, &mobile_with(state), now()) {
            Plan::Refused(refusal) => assert_eq!(refusal.code, code),
            other => panic!("{other:?}"),
        }
    }
}

// ---- default rules: --no-weaker-default, --default-order ----

fn rules(order: &[DefaultMethod], no_weaker: bool) -> crate::plan::PlanRules {
    let mut rules = crate::plan::PlanRules::default();
    if !order.is_empty() {
        rules.default.order = order.to_vec();
    }
    rules.default.no_weaker = no_weaker;
    rules
}

fn push_with_mobile() -> UserState {
    with_default(
        state(vec![
            password(),
            authenticator("a1", "iPhone", None),
            phone(PhoneType::Mobile, "+46 701234567"),
        ]),
        Some(DefaultMethod::Push),
    )
}

#[test]
fn no_weaker_default_keeps_a_push_default_instead_of_falling_to_sms() {
    let s = push_with_mobile();
    let action = Action::RemoveAuthenticator(Selector::default());
    match super::plan_with(&action, &s, now(), &rules(&[], true)) {
        Plan::Changes { steps, blocked, .. } => {
            assert!(steps.is_empty(), "{steps:?}");
            assert_eq!(blocked.len(), 1);
            assert_eq!(blocked[0].code, "weakerDefaultRefused");
            assert!(blocked[0].is_stable());
            assert_eq!(
                blocked[0].step.to_string(),
                "delete microsoftAuthenticator a1"
            );
            assert!(blocked[0].message.contains("sms"), "{}", blocked[0].message);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_weaker_default_still_moves_to_an_equally_strong_method() {
    let s = with_default(
        state(vec![
            authenticator("a1", "iPhone", None),
            phone(PhoneType::Mobile, "+46 701234567"),
            typed(MethodType::SoftwareOath, "o1"),
        ]),
        Some(DefaultMethod::Push),
    );
    // sms first in the order, but weaker: the oath token takes the default.
    let r = rules(&[DefaultMethod::Sms, DefaultMethod::Oath], true);
    let p = super::plan_with(
        &Action::RemoveAuthenticator(Selector::default()),
        &s,
        now(),
        &r,
    );
    assert_eq!(
        steps(&p),
        ["set default method", "delete microsoftAuthenticator a1"]
    );
    assert_eq!(
        request(&p.steps()[0]).body,
        Some(json!({"userPreferredMethodForSecondaryAuthentication": "oath"}))
    );
    // A weaker default may move to a stronger one.
    let s = with_default(
        state(vec![
            phone(PhoneType::Office, "+46 8123456"),
            typed(MethodType::SoftwareOath, "o1"),
        ]),
        Some(DefaultMethod::VoiceOffice),
    );
    let p = super::plan_with(
        &Action::RemovePhone(PhoneSelector::One(PhoneType::Office)),
        &s,
        now(),
        &rules(&[], true),
    );
    assert_eq!(steps(&p), ["set default method", "delete phone office"]);
}

#[test]
fn default_order_decides_the_fallback_and_leaves_out_what_it_does_not_name() {
    let s = with_default(
        state(vec![
            phone(PhoneType::Office, "+46 8123456"),
            typed(MethodType::SoftwareOath, "o1"),
            phone(PhoneType::Mobile, "+46 701234567"),
        ]),
        Some(DefaultMethod::VoiceOffice),
    );
    let action = Action::RemovePhone(PhoneSelector::One(PhoneType::Office));
    // By default the strongest (oath); with sms first, sms.
    let p = super::plan_with(
        &action,
        &s,
        now(),
        &rules(&[DefaultMethod::Sms, DefaultMethod::Oath], false),
    );
    assert_eq!(
        request(&p.steps()[0]).body,
        Some(json!({"userPreferredMethodForSecondaryAuthentication": "sms"}))
    );
    // An order naming only push: nothing that stays can take the default, so it is kept.
    match super::plan_with(&action, &s, now(), &rules(&[DefaultMethod::Push], false)) {
        Plan::Changes { steps, blocked, .. } => {
            assert!(steps.is_empty(), "{steps:?}");
            assert_eq!(blocked[0].code, "defaultMethodKept");
            assert!(
                blocked[0].message.contains("--default-order push"),
                "{}",
                blocked[0].message
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn default_order_names_are_validated() {
    use crate::plan::default::parse_order;
    assert_eq!(
        parse_order("oath, push,SMS").unwrap(),
        [DefaultMethod::Oath, DefaultMethod::Push, DefaultMethod::Sms]
    );
    let err = parse_order("push,email").unwrap_err();
    assert!(err.contains("\"email\""), "{err}");
    assert!(
        err.contains("push, oath, sms, voiceMobile, voiceAlternateMobile, voiceOffice"),
        "{err}"
    );
    assert!(parse_order("push,,oath").is_err());
    assert!(parse_order("push,push").unwrap_err().contains("twice"));
}

#[test]
fn stable_refusals_are_the_ones_nothing_can_change() {
    let s = with_default(
        state(vec![
            authenticator("a1", "iPhone", None),
            typed(MethodType::Fido2, "k1"),
        ]),
        Some(DefaultMethod::Push),
    );
    match plan(&Action::RemoveAuthenticator(Selector::default()), &s, now()) {
        Plan::Changes { blocked, .. } => assert!(blocked[0].is_stable()),
        other => panic!("{other:?}"),
    }
    let s = state(vec![authenticator("a1", "iPhone", None)]);
    match plan(
        &Action::SetPhone {
            phone_type: PhoneType::AlternateMobile,
            number: "+46 701234567".into(),
        },
        &s,
        now(),
    ) {
        Plan::Refused(refusal) => assert!(!refusal.is_stable(), "{refusal:?}"),
        other => panic!("{other:?}"),
    }
}

// ---- the authentication methods policy ----

fn with_policy(tap_max: u32, tap_enabled: bool, sms_enabled: bool) -> crate::plan::PlanRules {
    use crate::plan::policy::{MethodsPolicy, SmsPolicy, TapPolicy};
    crate::plan::PlanRules {
        policy: Some(std::sync::Arc::new(MethodsPolicy {
            tap: Some(TapPolicy {
                enabled: tap_enabled,
                min_minutes: 10,
                max_minutes: tap_max,
            }),
            sms: Some(SmsPolicy {
                enabled: sms_enabled,
                sign_in_for_some: true,
            }),
        })),
        ..crate::plan::PlanRules::default()
    }
}

#[test]
fn a_pass_the_policy_refuses_is_refused_in_the_plan_and_a_reset_with_it_removes_nothing() {
    let params = TapParams {
        lifetime_minutes: Some(120),
        usable_once: None,
        start_time: None,
    };
    let s = state(vec![password(), authenticator("a1", "iPhone", None)]);
    let rules = with_policy(60, true, true);
    match super::plan_with(&Action::IssueTap(params.clone()), &s, now(), &rules) {
        Plan::Refused(r) => {
            assert_eq!((r.code, r.step), ("policyRefuses", Change::IssueTap));
        }
        other => panic!("{other:?}"),
    }
    let reset = Action::ResetMfa {
        revoke_sessions: true,
        issue_tap: Some(params.clone()),
    };
    match super::plan_with(&reset, &s, now(), &rules) {
        Plan::Refused(r) => {
            assert_eq!((r.code, r.step), ("policyRefuses", Change::ResetMfa));
        }
        other => panic!("{other:?}"),
    }
    // A reset without a pass, and a pass within the policy, are planned as usual.
    let no_pass = Action::ResetMfa {
        revoke_sessions: false,
        issue_tap: None,
    };
    assert_eq!(
        super::plan_with(&no_pass, &s, now(), &rules),
        plan(&no_pass, &s, now())
    );
    let short = Action::IssueTap(TapParams {
        lifetime_minutes: Some(30),
        ..params
    });
    assert_eq!(
        steps(&super::plan_with(&short, &s, now(), &rules)),
        ["issue temporaryAccessPass"]
    );
    // A disabled method refuses any pass.
    let off = with_policy(60, false, true);
    assert!(matches!(
        super::plan_with(&short, &s, now(), &off),
        Plan::Refused(r) if r.message.contains("disabled")
    ));
}

#[test]
fn sms_sign_in_the_policy_disables_is_refused_but_turning_it_off_is_not() {
    let s = state(vec![phone(PhoneType::Mobile, "+46 701234567")]);
    let rules = with_policy(60, true, false);
    match super::plan_with(&Action::EnableSmsSignIn, &s, now(), &rules) {
        Plan::Refused(r) => {
            assert_eq!(r.code, "policyRefuses");
            assert!(r.is_stable());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        super::plan_with(&Action::DisableSmsSignIn, &s, now(), &rules),
        plan(&Action::DisableSmsSignIn, &s, now())
    );
    // No mobile: the usual refusal, which says what to do.
    let none = state(vec![password()]);
    match super::plan_with(&Action::EnableSmsSignIn, &none, now(), &rules) {
        Plan::Refused(r) => assert_eq!(r.code, "noMobilePhone"),
        other => panic!("{other:?}"),
    }
}
