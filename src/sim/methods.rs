//! The `/users/{u}/authentication/...` endpoints of the simulated Graph: listing, creating,
//! updating and deleting methods with the service rules of graph-contract.md (phone format, one
//! phone per type, alternateMobile needs mobile, one email, the default method deleted last,
//! temporary access pass bounds and policy, SMS sign-in) and the beta `signInPreferences`.
//! Collections are the ones [`super::catalog`] spells from the docs: any other name is 400
//! "Resource not found for the segment", a body whose `@odata.type` is not the collection's is
//! 400, and an id looked up in another type's collection is 404.
//! Called by [`super::graph::dispatch`] once the user is resolved and the call admitted.

use chrono::{DateTime, Utc};
use hyper::Method as Verb;
use rand::Rng;
use serde_json::{Value, json};

use super::Sim;
use super::catalog::{Collection, EMAIL_ID, PhoneKind, SecondFactor};
use super::generate::uuid_from;
use super::graph::Call;
use super::reply::Reply;
use super::state::{IssuedTap, Kind, Method, UserState};
use super::tenant::User;

/// Graph's lower and upper bounds of a pass's lifetime, whatever the policy says.
const TAP_MINUTES: (u32, u32) = (10, 43_200);

/// Route `rest` (the segments after `/users/{u}/authentication`) for user `u`.
pub(crate) fn route(sim: &Sim, call: &Call, user: &User, rest: &[String]) -> Reply {
    let segs: Vec<&str> = rest.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["methods"] => match call.verb {
            Verb::GET => list(sim, call, user, |_| true),
            _ => Reply::method_not_allowed(),
        },
        ["methods", id] => match call.verb {
            Verb::GET => get_one(sim, call, user, id, |_| true),
            // The generic path does not route deletes for most types (graph-contract.md).
            _ => Reply::bad_request(
                "Use the typed collection of the method (for example fido2Methods) for this operation.",
            ),
        },
        ["signInPreferences"] if !call.beta => Reply::unknown_segment("signInPreferences"),
        ["signInPreferences"] => match call.verb {
            Verb::GET => Reply::json(200, user.lock().sign_in_preferences()),
            Verb::PATCH => write(user, |state| patch_preferences(state, call.body)),
            _ => Reply::method_not_allowed(),
        },
        ["passwordMethods"] if call.verb == Verb::GET => {
            list(sim, call, user, |m| matches!(m.kind, Kind::Password))
        }
        ["passwordMethods", id] if call.verb == Verb::GET => {
            get_one(sim, call, user, id, |m| matches!(m.kind, Kind::Password))
        }
        ["hardwareOathMethods", tail @ ..] if call.beta => {
            super::hardware_oath::user_route(sim, call, user, tail)
        }
        [collection, tail @ ..] => match Collection::from_segment(collection) {
            None => Reply::unknown_segment(collection),
            Some(Collection::QrCodePin) => super::qr_pin::route(sim, call, user, tail),
            Some(t) if t.singleton() => singleton(sim, call, user, t, tail),
            Some(t) if t.beta_only() && !call.beta => Reply::unknown_segment(collection),
            Some(t) => typed(sim, call, user, t, tail),
        },
        [] => Reply::unknown_segment("authentication"),
    }
}

/// A body's `@odata.type`, when it names another type than the collection's: Graph's OData
/// layer refuses a type it cannot resolve, or one that is not the collection's, with 400.
fn wrong_type(t: Collection, body: Option<&Value>) -> Option<Reply> {
    let given = body?.get("@odata.type")?.as_str()?;
    let wanted = t.odata_type();
    let matches = given == wanted || given == &wanted[1..];
    (!matches).then(|| {
        Reply::error(
            400,
            "BadRequest",
            format!(
                "A type named '{}' could not be resolved by the model. When a model is available, each type name must resolve to a valid type.",
                given.trim_start_matches('#')
            ),
        )
    })
}

/// The endpoints of one typed collection.
fn typed(sim: &Sim, call: &Call, user: &User, t: Collection, tail: &[&str]) -> Reply {
    let of_type = |m: &Method| m.collection() == Some(t);
    if matches!(call.verb, Verb::POST | Verb::PATCH)
        && let Some(refusal) = wrong_type(t, call.body)
    {
        return refusal;
    }
    match (tail, &call.verb) {
        ([], &Verb::GET) => list(sim, call, user, of_type),
        ([], &Verb::POST) => match t {
            Collection::Phone => write(user, |s| create_phone(sim, s, call.body)),
            Collection::Email => write(user, |s| create_email(s, call.body)),
            Collection::TemporaryAccessPass => write(user, |s| create_tap(sim, user, s, call.body)),
            _ => Reply::method_not_allowed(),
        },
        ([id], &Verb::GET) => get_one(sim, call, user, id, of_type),
        ([id], &Verb::DELETE) => write(user, |s| delete(sim, s, t, id)),
        ([id], &Verb::PATCH) => match t {
            Collection::Phone => write(user, |s| update_phone(sim, s, id, call.body)),
            Collection::Email => write(user, |s| update_email(s, id, call.body)),
            _ => Reply::method_not_allowed(),
        },
        ([id, action], &Verb::POST)
            if t == Collection::Phone
                && matches!(*action, "enableSmsSignIn" | "disableSmsSignIn") =>
        {
            write(user, |s| {
                sms_sign_in(sim, s, id, *action == "enableSmsSignIn")
            })
        }
        ([_, action], _) | ([_, _, action, ..], _) => Reply::unknown_segment(action),
        _ => Reply::method_not_allowed(),
    }
}

/// The endpoints of a method addressed without an id (`qrCodePinMethod`, v1.0 and beta): GET
/// the one method, DELETE it; 404 when the user has none.
pub(crate) fn singleton(
    sim: &Sim,
    call: &Call,
    user: &User,
    t: Collection,
    tail: &[&str],
) -> Reply {
    let find = |state: &UserState| {
        state
            .methods
            .iter()
            .find(|m| m.collection() == Some(t))
            .map(|m| m.id.clone())
    };
    match (tail, &call.verb) {
        ([], &Verb::GET) => {
            let state = user.lock();
            match state.methods.iter().find(|m| m.collection() == Some(t)) {
                Some(m) => Reply::json(200, sim.tenant.method_json(m, call.beta, Utc::now())),
                None => Reply::not_found(t.segment()),
            }
        }
        ([], &Verb::DELETE) => write(user, |s| match find(s) {
            Some(id) => delete(sim, s, t, &id),
            None => Reply::not_found(t.segment()),
        }),
        ([], _) => Reply::method_not_allowed(),
        ([segment, ..], _) => Reply::unknown_segment(segment),
    }
}

/// Run a change on user `u`'s state under its lock, counting it when it succeeded.
fn write(user: &User, change: impl FnOnce(&mut UserState) -> Reply) -> Reply {
    let mut state = user.lock();
    let reply = change(&mut state);
    if reply.applied {
        state.writes += 1;
        state.updated = Utc::now();
    }
    reply
}

fn list(sim: &Sim, call: &Call, user: &User, keep: impl Fn(&Method) -> bool) -> Reply {
    let now = Utc::now();
    let state = user.lock();
    let value: Vec<Value> = state
        .methods
        .iter()
        .filter(|m| keep(m))
        .map(|m| sim.tenant.method_json(m, call.beta, now))
        .collect();
    Reply::json(200, json!({ "value": value }))
}

fn get_one(sim: &Sim, call: &Call, user: &User, id: &str, keep: impl Fn(&Method) -> bool) -> Reply {
    let state = user.lock();
    match state.methods.iter().find(|m| m.id == id && keep(m)) {
        Some(m) => Reply::json(200, sim.tenant.method_json(m, call.beta, Utc::now())),
        None => Reply::not_found(id),
    }
}

fn str_field<'a>(body: Option<&'a Value>, name: &str) -> Option<&'a str> {
    body.and_then(|b| b.get(name)).and_then(Value::as_str)
}

/// Graph's phone format: `+{country code} {number}` with an optional `x{extension}`.
pub(crate) fn valid_phone(number: &str) -> bool {
    let digits = |s: &str, min: usize, max: usize| {
        (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    let Some((cc, national)) = number.strip_prefix('+').and_then(|r| r.split_once(' ')) else {
        return false;
    };
    let (main, ext) = match national.split_once('x') {
        Some((main, ext)) => (main, Some(ext)),
        None => (national, None),
    };
    digits(cc, 1, 3)
        && !cc.starts_with('0')
        && digits(main, 4, 15)
        && ext.is_none_or(|e| digits(e, 1, 10))
}

fn invalid_phone(number: &str) -> Reply {
    Reply::bad_request(format!(
        "Invalid phone number '{number}'. Phone numbers must be in the format \"+{{country code}} {{subscriber number}}x{{extension}}\"."
    ))
}

fn create_phone(sim: &Sim, state: &mut UserState, body: Option<&Value>) -> Reply {
    let Some(number) = str_field(body, "phoneNumber") else {
        return Reply::bad_request("The property 'phoneNumber' is required.");
    };
    let Some(phone_type) = str_field(body, "phoneType").and_then(PhoneKind::parse) else {
        return Reply::bad_request("The property 'phoneType' is missing or has an invalid value.");
    };
    if !valid_phone(number) {
        return invalid_phone(number);
    }
    if state.phone(phone_type).is_some() {
        return Reply::bad_request(format!(
            "A phone method of type {phone_type} already exists for this user. Update it instead."
        ));
    }
    if phone_type == PhoneKind::AlternateMobile && state.phone(PhoneKind::Mobile).is_none() {
        return Reply::bad_request(
            "An alternateMobile phone can only be added to a user who has a mobile phone.",
        );
    }
    if phone_type == PhoneKind::Mobile {
        sim.tenant.count_mobile(number, true);
    }
    let method = Method {
        id: phone_type.fixed_id().to_string(),
        created: None,
        kind: Kind::Phone {
            phone_type,
            number: number.to_string(),
            sms_sign_in: false,
        },
    };
    let reply = Reply::json(201, sim.tenant.method_json(&method, false, Utc::now()));
    state.methods.push(method);
    reply
}

fn update_phone(sim: &Sim, state: &mut UserState, id: &str, body: Option<&Value>) -> Reply {
    let Some(method) = state.methods.iter_mut().find(|m| m.id == id) else {
        return Reply::not_found(id);
    };
    let Kind::Phone {
        phone_type, number, ..
    } = &mut method.kind
    else {
        return Reply::not_found(id);
    };
    if let Some(t) = str_field(body, "phoneType")
        && PhoneKind::parse(t) != Some(*phone_type)
    {
        return Reply::bad_request("The phoneType of an existing phone method cannot be changed.");
    }
    if let Some(new) = str_field(body, "phoneNumber") {
        if !valid_phone(new) {
            return invalid_phone(new);
        }
        if *phone_type == PhoneKind::Mobile {
            sim.tenant.count_mobile(number, false);
            sim.tenant.count_mobile(new, true);
        }
        *number = new.to_string();
    }
    Reply::empty(204)
}

fn sms_sign_in(sim: &Sim, state: &mut UserState, id: &str, enable: bool) -> Reply {
    let Some(method) = state.methods.iter_mut().find(|m| m.id == id) else {
        return Reply::not_found(id);
    };
    match &mut method.kind {
        Kind::Phone {
            phone_type: PhoneKind::Mobile,
            number,
            sms_sign_in,
        } => {
            if enable && !sim.config.sms_sign_in_allowed {
                return Reply::bad_request(
                    "SMS sign-in cannot be enabled: the authentication methods policy does not allow it (notAllowedByPolicy).",
                );
            }
            if enable && !sim.tenant.mobile_unique(number) {
                return Reply::bad_request(
                    "SMS sign-in cannot be enabled: the phone number is not unique in the tenant (phoneNumberNotUnique).",
                );
            }
            *sms_sign_in = enable;
            Reply::empty(204)
        }
        Kind::Phone { .. } => {
            Reply::bad_request("SMS sign-in can only be enabled on a phone of type mobile.")
        }
        _ => Reply::not_found(id),
    }
}

fn create_email(state: &mut UserState, body: Option<&Value>) -> Reply {
    let Some(address) = str_field(body, "emailAddress").filter(|a| a.contains('@')) else {
        return Reply::bad_request("The property 'emailAddress' is missing or is not an address.");
    };
    if state
        .methods
        .iter()
        .any(|m| matches!(m.kind, Kind::Email { .. }))
    {
        return Reply::bad_request("An email authentication method already exists for this user.");
    }
    let method = Method {
        id: EMAIL_ID.to_string(),
        created: None,
        kind: Kind::Email {
            address: address.to_string(),
        },
    };
    let reply = Reply::json(201, method.json(false, Utc::now(), true));
    state.methods.push(method);
    reply
}

fn update_email(state: &mut UserState, id: &str, body: Option<&Value>) -> Reply {
    let Some(Kind::Email { address }) = state
        .methods
        .iter_mut()
        .find(|m| m.id == id)
        .map(|m| &mut m.kind)
    else {
        return Reply::not_found(id);
    };
    match str_field(body, "emailAddress").filter(|a| a.contains('@')) {
        Some(new) => {
            *address = new.to_string();
            Reply::empty(204)
        }
        None => Reply::bad_request("The property 'emailAddress' is missing or is not an address."),
    }
}

fn create_tap(sim: &Sim, user: &User, state: &mut UserState, body: Option<&Value>) -> Reply {
    if !sim.config.tap_policy.enabled {
        return Reply::bad_request(
            "Converged UserCredentialPolicy does not allow creating or updating this authentication method. The Temporary Access Pass method is disabled in the authentication methods policy.",
        );
    }
    if !user.identity.tap_target {
        return Reply::bad_request(
            "Converged UserCredentialPolicy does not allow creating or updating this authentication method. AuthCollection [TemporaryAccessPass].",
        );
    }
    let policy = &sim.config.tap_policy;
    let lifetime = match body.and_then(|b| b.get("lifetimeInMinutes")) {
        None | Some(Value::Null) => policy.default_minutes,
        Some(v) => match v.as_u64().and_then(|v| u32::try_from(v).ok()) {
            Some(v) => v,
            None => return Reply::bad_request("Invalid value for 'lifetimeInMinutes'."),
        },
    };
    let min = policy.min_minutes.max(TAP_MINUTES.0);
    let max = policy.max_minutes.min(TAP_MINUTES.1);
    if !(min..=max).contains(&lifetime) {
        return Reply::bad_request(format!(
            "The lifetime of a Temporary Access Pass must be between {min} and {max} minutes (requested {lifetime})."
        ));
    }
    let now = Utc::now();
    let start = match str_field(body, "startDateTime") {
        None => now,
        Some(s) => match DateTime::parse_from_rfc3339(s) {
            Ok(d) => d.with_timezone(&Utc),
            Err(_) => return Reply::bad_request("Invalid value for 'startDateTime'."),
        },
    };
    // "isUsableOnce: If true, all the passes in the tenant will be restricted to one-time use"
    // (temporaryAccessPassAuthenticationMethodConfiguration).
    let usable_once = policy.usable_once
        || body
            .and_then(|b| b.get("isUsableOnce"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
    // A new pass replaces the one the user has (one pass per user).
    state
        .methods
        .retain(|m| !matches!(m.kind, Kind::Tap { .. }));
    let mut rng = rand::rng();
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789+#%";
    let value: String = (0..policy.length.clamp(8, 48))
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect();
    let method = Method {
        id: uuid_from(&mut rng),
        created: Some(now),
        kind: Kind::Tap {
            start,
            lifetime,
            usable_once,
        },
    };
    let mut shown = method.json(false, now, true);
    shown["temporaryAccessPass"] = Value::String(value.clone());
    if state.taps_ever > 0 {
        sim.counters.count_duplicate_tap();
    }
    state.taps_ever += 1;
    state.taps_issued += 1;
    state.issued.push(IssuedTap {
        id: method.id.clone(),
        value,
        created: now,
    });
    state.methods.push(method);
    Reply::json(201, shown)
}

pub(crate) fn delete(sim: &Sim, state: &mut UserState, t: Collection, id: &str) -> Reply {
    let Some(index) = state
        .methods
        .iter()
        .position(|m| m.id == id && m.collection() == Some(t))
    else {
        return Reply::not_found(id);
    };
    let method = &state.methods[index];
    if let Kind::Phone {
        phone_type: PhoneKind::Mobile,
        ..
    } = method.kind
        && state.phone(PhoneKind::AlternateMobile).is_some()
    {
        return Reply::bad_request(
            "The mobile phone cannot be deleted while the user has an alternateMobile phone. Delete the alternateMobile phone first.",
        );
    }
    if t == Collection::WindowsHello
        && sim.config.hello_refusal_rate > 0.0
        && rand::rng().random_bool(sim.config.hello_refusal_rate.min(1.0))
    {
        return Reply::bad_request("MFA is required for a 'RemoveKey' operation.");
    }
    let mut clear_default = false;
    if let Some(default) = state.preferred
        && method.backs(default)
        && !state
            .methods
            .iter()
            .enumerate()
            .any(|(j, m)| j != index && m.backs(default))
    {
        let others = state
            .methods
            .iter()
            .enumerate()
            .filter(|(j, m)| *j != index && !matches!(m.kind, Kind::Password))
            .count();
        if others > 0 {
            return Reply::bad_request(match method.kind {
                Kind::Phone { .. } => format!(
                    "The requested authentication method id of [{id}] matches the user's current default authentication method, and cannot be deleted until the default authentication method is changed"
                ),
                _ => "Cannot delete default method with other methods configured. Please change default method before deletion.".to_string(),
            });
        }
        clear_default = true;
    }
    let removed = state.methods.remove(index);
    if let Kind::Phone {
        phone_type: PhoneKind::Mobile,
        number,
        ..
    } = &removed.kind
    {
        sim.tenant.count_mobile(number, false);
    }
    if clear_default {
        state.preferred = None;
    }
    Reply::empty(204)
}

fn patch_preferences(state: &mut UserState, body: Option<&Value>) -> Reply {
    let Some(body) = body.and_then(Value::as_object) else {
        return Reply::bad_request("A JSON object body is required.");
    };
    let preferred = match body.get("userPreferredMethodForSecondaryAuthentication") {
        None => state.preferred,
        Some(Value::Null) => None,
        Some(v) => {
            let Some(d) = v.as_str().and_then(SecondFactor::parse) else {
                return Reply::bad_request(format!(
                    "Invalid value '{v}' for 'userPreferredMethodForSecondaryAuthentication'."
                ));
            };
            if !state.methods.iter().any(|m| m.backs(d)) {
                return Reply::bad_request(format!(
                    "The user does not have a registered method that supports '{d}'."
                ));
            }
            Some(d)
        }
    };
    let system = match body.get("isSystemPreferredAuthenticationMethodEnabled") {
        None => state.system_preferred,
        Some(v) => match v.as_bool() {
            Some(b) => b,
            None => {
                return Reply::bad_request(
                    "Invalid value for 'isSystemPreferredAuthenticationMethodEnabled'.",
                );
            }
        },
    };
    state.preferred = preferred;
    state.system_preferred = system;
    Reply::empty(204)
}

#[cfg(test)]
mod tests {
    use super::valid_phone;

    #[test]
    fn phone_format_is_graphs_plus_country_space_number_with_optional_extension() {
        for ok in ["+46 701234567", "+1 4255550123x123", "+358 401234567"] {
            assert!(valid_phone(ok), "{ok}");
        }
        for bad in [
            "+46701234567",
            "0701234567",
            "+46 70 123 45 67",
            "+46 70-1234567",
            "+46 7012x",
            "+0 701234567",
            "+1234 5678901",
            "+46 701234567x",
        ] {
            assert!(!valid_phone(bad), "{bad}");
        }
    }
}
