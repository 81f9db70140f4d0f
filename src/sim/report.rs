//! The registration report, `GET /reports/authenticationMethods/userRegistrationDetails[/{id}]`
//! (v1.0): one record per user derived from the user's actual methods, with the `$filter` forms
//! the docs list, `$orderby`, paging, the reports limit (5 requests per 10 s per app+tenant)
//! and the 403 of a tenant without Entra ID P1/P2.
//!
//! Sources: "userRegistrationDetails resource type" and "List userRegistrationDetails"
//! (learn.microsoft.com/graph/api/authenticationmethodsroot-list-userregistrationdetails; the
//! example shows an Authenticator registration as `microsoftAuthenticatorPush` and
//! `softwareOneTimePasscode`; `defaultMfaMethod` is a `defaultMfaMethodType`, and
//! `userPreferredMethodForSecondaryAuthentication` a `userDefaultAuthenticationMethod` whose
//! unset value is `none`; the permission is `AuditLog.Read.All`, checked in
//! [`super::graph`]), "Identity and access reports service limits" in "Microsoft Graph
//! service-specific throttling limits". Called by [`super::graph::dispatch`].

use serde_json::{Value, json};

use super::Sim;
use super::catalog::SecondFactor;
use super::graph::Call;
use super::query::{Body, Item, literal, page, param, params};
use super::reply::Reply;
use super::state::{Kind, UserState};
use super::tenant::{Identity, User};

/// Answer the report's paths (`rest` follows `userRegistrationDetails`).
pub(crate) fn route(sim: &Sim, call: &Call, rest: &[&str]) -> Reply {
    if !sim.config.premium {
        return Reply::error(
            403,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Tenant does not have a SKU required for this call.",
        );
    }
    if let Err(t) = sim.throttle.admit_report() {
        return sim.throttled(t);
    }
    match rest {
        [] => list(sim, call),
        [id] => match sim.tenant.find(id) {
            Some(user) if user.identity.id.eq_ignore_ascii_case(id) => {
                Reply::json(200, record(&user))
            }
            _ => Reply::not_found(id),
        },
        [_, other, ..] => Reply::unknown_segment(other),
    }
}

/// The `methodsRegistered` names of one method (none for the password, QR code PIN and an
/// external method, which the docs' list of values does not name).
fn registered(kind: &Kind) -> Vec<&'static str> {
    match kind {
        Kind::Password | Kind::QrCodePin | Kind::External { .. } => vec![],
        Kind::Phone { phone_type, .. } => vec![phone_type.registered_name()],
        Kind::Email { .. } => vec!["email"],
        Kind::Authenticator {
            passwordless: true, ..
        } => vec![
            "microsoftAuthenticatorPush",
            "softwareOneTimePasscode",
            "microsoftAuthenticatorPasswordless",
        ],
        Kind::Authenticator { .. } => vec!["microsoftAuthenticatorPush", "softwareOneTimePasscode"],
        Kind::SoftwareOath => vec!["softwareOneTimePasscode"],
        Kind::HardwareOath { .. } => vec!["hardwareOneTimePasscode"],
        Kind::Fido2 { .. } => vec!["fido2"],
        Kind::WindowsHello { .. } => vec!["windowsHelloForBusiness"],
        Kind::PlatformCredential { .. } => vec!["macOsSecureEnclaveKey"],
        Kind::Tap { .. } => vec!["temporaryAccessPass"],
    }
}

/// The facts of one user's record.
struct Facts {
    methods: Vec<&'static str>,
    mfa: bool,
    passwordless: bool,
    sspr_registered: bool,
}

fn facts(state: &UserState) -> Facts {
    let mut methods: Vec<&'static str> = Vec::new();
    for m in &state.methods {
        for name in registered(&m.kind) {
            if !methods.contains(&name) {
                methods.push(name);
            }
        }
    }
    // A strong method for MFA: anything but the password, email and a temporary access pass.
    let mfa = state.methods.iter().any(|m| {
        !matches!(
            m.kind,
            Kind::Password | Kind::Email { .. } | Kind::Tap { .. } | Kind::QrCodePin
        )
    });
    let passwordless = state.methods.iter().any(|m| {
        matches!(
            m.kind,
            Kind::Fido2 { .. }
                | Kind::WindowsHello { .. }
                | Kind::PlatformCredential { .. }
                | Kind::Authenticator {
                    passwordless: true,
                    ..
                }
        )
    });
    // The tenant's SSPR policy asks for one method: email, a phone or the Authenticator app.
    let sspr_registered = state.methods.iter().any(|m| {
        matches!(
            m.kind,
            Kind::Email { .. } | Kind::Phone { .. } | Kind::Authenticator { .. }
        )
    });
    Facts {
        methods,
        mfa,
        passwordless,
        sspr_registered,
    }
}

/// The report's record of `user`.
fn record(user: &User) -> Value {
    let id: &Identity = &user.identity;
    let state = user.lock();
    let f = facts(&state);
    let sspr_enabled = !id.guest;
    let system: Vec<&str> = state
        .system_method()
        .filter(|_| state.system_preferred)
        .map(SecondFactor::graph_name)
        .into_iter()
        .collect();
    json!({
        "id": id.id,
        "userPrincipalName": id.upn,
        "userDisplayName": id.display_name,
        "userType": if id.guest { "guest" } else { "member" },
        "isAdmin": id.admin,
        "isSsprRegistered": f.sspr_registered,
        "isSsprEnabled": sspr_enabled,
        "isSsprCapable": sspr_enabled && f.sspr_registered,
        "isMfaRegistered": f.mfa,
        "isMfaCapable": f.mfa,
        "isPasswordlessCapable": f.passwordless,
        "lastUpdatedDateTime": state.updated.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "methodsRegistered": f.methods,
        "isSystemPreferredAuthenticationMethodEnabled": state.system_preferred,
        "systemPreferredAuthenticationMethods": system,
        "userPreferredMethodForSecondaryAuthentication":
            state.preferred.map_or("none", SecondFactor::graph_name),
        "defaultMfaMethod": state.preferred.map_or("none", default_mfa_method),
    })
}

/// `defaultMfaMethod` (a `defaultMfaMethodType`: `none`, `mobilePhone`, `alternateMobilePhone`,
/// `officePhone`, `microsoftAuthenticatorPush`, `softwareOneTimePasscode`) of the user's default
/// second factor.
fn default_mfa_method(factor: SecondFactor) -> &'static str {
    match factor {
        SecondFactor::Push => "microsoftAuthenticatorPush",
        SecondFactor::Oath => "softwareOneTimePasscode",
        SecondFactor::Sms | SecondFactor::VoiceMobile => "mobilePhone",
        SecondFactor::VoiceAlternateMobile => "alternateMobilePhone",
        SecondFactor::VoiceOffice => "officePhone",
    }
}

/// One `$filter` clause of the report.
enum Clause {
    /// `isMfaRegistered eq true` and the other boolean properties.
    Flag(&'static str, bool),
    /// `userType eq 'member'`, `id eq '...'`, `userPrincipalName eq '...'`, ...
    Text(&'static str, String),
    /// `startswith(userPrincipalName,'...')` or of `userDisplayName`.
    StartsWith(&'static str, String),
    /// `methodsRegistered/any(m:m eq 'mobilePhone')`.
    Registered(String),
}

const FLAGS: [&str; 8] = [
    "isAdmin",
    "isMfaRegistered",
    "isMfaCapable",
    "isPasswordlessCapable",
    "isSsprRegistered",
    "isSsprEnabled",
    "isSsprCapable",
    "isSystemPreferredAuthenticationMethodEnabled",
];
const TEXTS: [&str; 4] = ["id", "userPrincipalName", "userDisplayName", "userType"];

fn parse_clause(c: &str) -> Option<Clause> {
    let c = c.trim();
    if let Some(rest) = c.strip_prefix("methodsRegistered/any(") {
        let body = rest.strip_suffix(')')?;
        let (var, test) = body.split_once(':')?;
        let value = test
            .trim()
            .strip_prefix(var.trim())?
            .trim()
            .strip_prefix("eq ")?;
        return Some(Clause::Registered(literal(value)?));
    }
    if c.to_ascii_lowercase().starts_with("startswith(") {
        let (field, value) = c[11..].strip_suffix(')')?.split_once(',')?;
        let field = TEXTS[1..3].iter().find(|f| **f == field.trim())?;
        return Some(Clause::StartsWith(field, literal(value)?.to_lowercase()));
    }
    let mut words = c.splitn(3, ' ');
    let (field, op, value) = (words.next()?, words.next()?, words.next()?.trim());
    if op != "eq" {
        return None;
    }
    if let Some(flag) = FLAGS.iter().find(|f| **f == field) {
        return match value {
            "true" => Some(Clause::Flag(flag, true)),
            "false" => Some(Clause::Flag(flag, false)),
            _ => None,
        };
    }
    let field = TEXTS.iter().find(|f| **f == field)?;
    Some(Clause::Text(field, literal(value)?.to_lowercase()))
}

fn holds(clause: &Clause, record: &Value) -> bool {
    match clause {
        Clause::Flag(name, want) => record[*name].as_bool() == Some(*want),
        Clause::Text(name, want) => record[*name]
            .as_str()
            .is_some_and(|v| v.to_lowercase() == *want),
        Clause::StartsWith(name, prefix) => record[*name]
            .as_str()
            .is_some_and(|v| v.to_lowercase().starts_with(prefix.as_str())),
        Clause::Registered(method) => record["methodsRegistered"]
            .as_array()
            .is_some_and(|ms| ms.iter().any(|m| m == method.as_str())),
    }
}

fn list(sim: &Sim, call: &Call) -> Reply {
    let params = params(call.query);
    let clauses = match param(&params, "$filter") {
        None => Vec::new(),
        Some(f) => match f
            .split(" and ")
            .map(parse_clause)
            .collect::<Option<Vec<_>>>()
        {
            Some(c) => c,
            None => {
                return Reply::error(400, "BadRequest", format!("Invalid filter clause: '{f}'."));
            }
        },
    };
    let order = match param(&params, "$orderby").map(|o| o.split_whitespace().next().unwrap_or(""))
    {
        None => None,
        Some(f @ ("userPrincipalName" | "userDisplayName")) => Some(f),
        Some(other) => {
            return Reply::error(
                400,
                "BadRequest",
                format!("$orderby is not supported on '{other}'."),
            );
        }
    };
    let items = sim
        .tenant
        .live()
        .iter()
        .map(|u| record(u))
        .filter(|r| clauses.iter().all(|c| holds(c, r)))
        .map(|json| Item {
            id: json["id"].as_str().unwrap_or_default().to_string(),
            sort: order
                .and_then(|o| json[o].as_str())
                .unwrap_or_default()
                .to_lowercase(),
            json: Body::Ready(json),
        })
        .collect();
    page(
        sim,
        call,
        &params,
        items,
        false,
        order.is_some(),
        (999, 999),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_filter_forms_parse() {
        for f in [
            "isMfaRegistered eq false",
            "isAdmin eq true",
            "methodsRegistered/any(m:m eq 'mobilePhone')",
            "methodsRegistered/any(x: x eq 'fido2')",
            "userType eq 'member'",
            "id eq '86462606-fde0-4fc4-9e0c-a20eb73e54c6'",
            "userPrincipalName eq 'AlexW@Contoso.com'",
            "startswith(userPrincipalName,'alex')",
        ] {
            assert!(parse_clause(f).is_some(), "{f}");
        }
        for f in [
            "isMfaRegistered ne false",
            "isAdmin eq 'yes'",
            "userType gt 'a'",
        ] {
            assert!(parse_clause(f).is_none(), "{f}");
        }
    }
}
