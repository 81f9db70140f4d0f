//! Hardware OATH tokens in the simulated Graph (beta only, global service only): the tenant's
//! token inventory `/directory/authenticationMethodDevices/hardwareOathDevices[/{id}]` and each
//! user's `/users/{u}/authentication/hardwareOathMethods[/{id}]` (list, assign, unassign,
//! `activate`, `assignAndActivateBySerialNumber`). Called by [`super::graph::dispatch`] (the
//! inventory) and [`super::methods::route`] (a user's tokens).
//!
//! Sources (learn.microsoft.com/graph/api/..., beta):
//! - "hardwareOathTokenAuthenticationMethodDevice resource type": `id`, `displayName`,
//!   `serialNumber`, `manufacturer`, `model`, `secretKey`, `timeIntervalInSeconds` (30 or 60),
//!   `hashFunction` (`hmacsha1`, `hmacsha256`; default `hmacsha1`), `status` (`available`,
//!   `assigned`, `activated`, `failedActivation`), `assignedTo` (an identity).
//! - "Create hardwareOathTokenAuthenticationMethodDevice" (authenticationmethoddevice-post-
//!   hardwareoathdevices): `serialNumber`, `manufacturer`, `model`, `secretKey` and
//!   `timeIntervalInSeconds` are required, `hashFunction`, `assignTo` and `displayName`
//!   optional; 201 with the device, whose `secretKey` is shown `null`; permission
//!   Policy.ReadWrite.AuthenticationMethod.
//! - "List hardwareOathDevices" / "Get hardwareOathTokenAuthenticationMethodDevice": `$filter`
//!   on `serialNumber` and `status` (the pages' examples); permission Policy.Read.All or
//!   Policy.ReadWrite.AuthenticationMethod. The list page's example wraps each token in a
//!   `hardwareOathAuthenticationMethod` with a `device`; the resource page and the create
//!   answer show the device itself, which is what this simulator lists.
//! - "Delete hardwareOathTokenAuthenticationMethodDevice": "Token needs to be unassigned first".
//! - "List hardwareOathAuthenticationMethod objects": each method with its `device` expanded;
//!   the method's `id` is the device's `id` (the page's example).
//! - "Create hardwareOathAuthenticationMethod": assign a token by its device id (the example's
//!   body `{"device": {"id": ...}}`), 201; "Delete hardwareOathAuthenticationMethod": unassign,
//!   "the token remains in the directory", 204; "hardwareOathAuthenticationMethod: activate":
//!   `verificationCode` (the 6-digit TOTP code) required, 204;
//!   "hardwareOathAuthenticationMethod: assignAndActivateBySerialNumber": `verificationCode`
//!   and `serialNumber` required, 204. Permission for another user:
//!   UserAuthenticationMethod.ReadWrite.All (application). "hardwareOathAuthenticationMethod:
//!   deactivate": the token stays assigned (status `assigned` again).
//!
//! Rules the pages leave open, and this simulator's choice:
//! - A second token with a serial number already in the inventory is refused 400
//!   `Request_BadRequest` "Another object with the same value for property serialNumber
//!   already exists." (the directory's answer for a unique property; the hardware OATH pages
//!   document no error).
//! - `secretKey` must be base32 (RFC 4648 alphabet, `=` padding and spaces allowed, case
//!   ignored) of at least 16 bytes (128 bits, RFC 4226's minimum); else 400.
//! - A token held by another user cannot be assigned (400); assigning a token the user already
//!   holds is 400 too.
//! - `activate` checks the code against the token's seed by RFC 6238 (TOTP: its interval, its
//!   hash, 6 digits), accepting the previous, current and next time step; a wrong code is 400
//!   and the token's status becomes `failedActivation`.

use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::Utc;
use hyper::Method as Verb;
use rand::Rng;
use serde_json::{Map, Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::Sim;
use super::catalog::Collection;
use super::generate::uuid_from;
use super::graph::Call;
use super::query::{Body, Item, literal, page, param, params};
use super::reply::Reply;
use super::state::{Kind, Method};
use super::tenant::{Tenant, User};

/// The hash function of a token (`hardwareOathTokenHashFunction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha256,
}

impl Hash {
    fn name(self) -> &'static str {
        match self {
            Hash::Sha1 => "hmacsha1",
            Hash::Sha256 => "hmacsha256",
        }
    }
}

/// One token of the inventory.
#[derive(Debug, Clone)]
struct Device {
    id: String,
    display_name: Option<String>,
    serial: String,
    manufacturer: String,
    model: String,
    /// The decoded seed; never shown.
    secret: Vec<u8>,
    interval: u32,
    hash: Hash,
    status: &'static str,
    /// The object id of the user who holds it.
    assigned_to: Option<String>,
}

/// The tenant's hardware OATH token inventory.
#[derive(Debug, Default)]
pub(crate) struct Inventory {
    devices: Mutex<Vec<Device>>,
}

impl Inventory {
    /// The inventory holding the tokens the generated users already have (activated, with
    /// seeds nobody knows).
    pub fn from_tenant(tenant: &Tenant) -> Inventory {
        let mut rng = rand::rng();
        let mut devices = Vec::new();
        for user in tenant.live() {
            let state = user.lock();
            for method in &state.methods {
                if let Kind::HardwareOath { serial } = &method.kind {
                    devices.push(Device {
                        id: method.id.clone(),
                        display_name: Some(serial.clone()),
                        serial: serial.clone(),
                        manufacturer: "Contoso Tokens".into(),
                        model: "OTP-6".into(),
                        secret: (0..20).map(|_| rng.random()).collect(),
                        interval: 30,
                        hash: Hash::Sha1,
                        status: "activated",
                        assigned_to: Some(user.identity.id.clone()),
                    });
                }
            }
        }
        Inventory {
            devices: Mutex::new(devices),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Device>> {
        self.devices.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The device as Graph shows it: `secretKey` is always `null`.
fn device_json(sim: &Sim, d: &Device) -> Value {
    let assigned = d.assigned_to.as_ref().map(|id| {
        let name = sim.tenant.find(id).map(|u| u.identity.display_name.clone());
        json!({"id": id, "displayName": name})
    });
    json!({
        "@odata.type": "#microsoft.graph.hardwareOathTokenAuthenticationMethodDevice",
        "id": d.id,
        "displayName": d.display_name,
        "serialNumber": d.serial,
        "manufacturer": d.manufacturer,
        "model": d.model,
        "secretKey": null,
        "timeIntervalInSeconds": d.interval,
        "status": d.status,
        "hashFunction": d.hash.name(),
        "assignedTo": assigned,
        "lastUsedDateTime": null,
    })
}

/// Decode base32 (RFC 4648): case ignored, spaces and `=` padding allowed.
fn base32(text: &str) -> Option<Vec<u8>> {
    let mut bits: u64 = 0;
    let mut held = 0u32;
    let mut out = Vec::new();
    let trimmed = text.trim_end_matches(|c: char| c == '=' || c.is_whitespace());
    for c in trimmed.chars() {
        if c == ' ' {
            continue;
        }
        let value = match c.to_ascii_uppercase() {
            u @ 'A'..='Z' => u as u64 - 'A' as u64,
            d @ '2'..='7' => d as u64 - '2' as u64 + 26,
            _ => return None,
        };
        bits = (bits << 5) | value;
        held += 5;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
            bits &= (1 << held) - 1;
        }
    }
    Some(out)
}

/// HMAC (RFC 2104) with a 64-byte block hash.
fn hmac<D: Digest + Default>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        let digest = D::digest(key);
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let mut inner = D::default();
    inner.update(pad(0x36));
    inner.update(data);
    let inner = inner.finalize();
    let mut outer = D::default();
    outer.update(pad(0x5c));
    outer.update(inner);
    outer.finalize().to_vec()
}

/// The 6-digit TOTP code (RFC 6238, dynamic truncation of RFC 4226) at time step `step`.
fn totp(secret: &[u8], hash: Hash, step: u64) -> String {
    let counter = step.to_be_bytes();
    let mac = match hash {
        Hash::Sha1 => hmac::<Sha1>(secret, &counter),
        Hash::Sha256 => hmac::<Sha256>(secret, &counter),
    };
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let code = (u32::from(mac[offset] & 0x7f) << 24)
        | (u32::from(mac[offset + 1]) << 16)
        | (u32::from(mac[offset + 2]) << 8)
        | u32::from(mac[offset + 3]);
    format!("{:06}", code % 1_000_000)
}

/// True when `code` is the token's code for the previous, current or next time step.
fn code_matches(d: &Device, code: &str) -> bool {
    let now = u64::try_from(Utc::now().timestamp()).unwrap_or(0);
    let step = now / u64::from(d.interval);
    [step.saturating_sub(1), step, step + 1]
        .into_iter()
        .any(|s| totp(&d.secret, d.hash, s) == code)
}

fn str_field<'a>(body: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

fn missing(name: &str) -> Reply {
    Reply::bad_request(format!(
        "The property '{name}' is required and was not provided."
    ))
}

/// `/directory/authenticationMethodDevices/...`: `rest` follows `authenticationMethodDevices`.
pub(crate) fn inventory_route(sim: &Sim, call: &Call, rest: &[&str]) -> Reply {
    if !call.beta {
        return Reply::unknown_segment("authenticationMethodDevices");
    }
    match rest {
        ["hardwareOathDevices"] => match call.verb {
            Verb::GET => list_devices(sim, call),
            Verb::POST => create_device(sim, call.body),
            _ => Reply::method_not_allowed(),
        },
        ["hardwareOathDevices", id] => match call.verb {
            Verb::GET => {
                let devices = sim.oath.lock();
                match devices.iter().find(|d| d.id == *id) {
                    Some(d) => Reply::json(200, device_json(sim, d)),
                    None => Reply::not_found(id),
                }
            }
            Verb::DELETE => {
                let mut devices = sim.oath.lock();
                match devices.iter().position(|d| d.id == *id) {
                    None => Reply::not_found(id),
                    Some(i) if devices[i].assigned_to.is_some() => Reply::bad_request(
                        "The hardware OATH token is assigned to a user: unassign it first.",
                    ),
                    Some(i) => {
                        devices.remove(i);
                        Reply::empty(204)
                    }
                }
            }
            _ => Reply::method_not_allowed(),
        },
        [] => Reply::unknown_segment("authenticationMethodDevices"),
        [other, ..] => Reply::unknown_segment(other),
    }
}

/// `GET hardwareOathDevices[?$filter=serialNumber eq '..' | status eq '..']`, paged.
fn list_devices(sim: &Sim, call: &Call) -> Reply {
    let params = params(call.query);
    let filter = match param(&params, "$filter") {
        None => None,
        Some(f) => {
            let f = f.trim();
            let parsed = ["serialNumber", "status"].into_iter().find_map(|field| {
                f.strip_prefix(field)
                    .and_then(|r| r.trim_start().strip_prefix("eq "))
                    .and_then(literal)
                    .map(|v| (field, v))
            });
            match parsed {
                Some(p) => Some(p),
                None => {
                    return Reply::error(
                        400,
                        "BadRequest",
                        format!("Invalid filter clause: '{f}'."),
                    );
                }
            }
        }
    };
    let devices = sim.oath.lock();
    let items = devices
        .iter()
        .filter(|d| match &filter {
            None => true,
            Some(("serialNumber", v)) => d.serial == *v,
            Some((_, v)) => d.status.eq_ignore_ascii_case(v),
        })
        .map(|d| Item {
            id: d.id.clone(),
            sort: d.serial.to_lowercase(),
            json: Body::Ready(device_json(sim, d)),
        })
        .collect();
    drop(devices);
    page(sim, call, &params, items, false, false, (100, 999))
}

/// `POST hardwareOathDevices`: a new token, optionally assigned (`assignTo`).
fn create_device(sim: &Sim, body: Option<&Value>) -> Reply {
    let Some(body) = body.and_then(Value::as_object) else {
        return Reply::bad_request("A request body is required.");
    };
    for name in ["serialNumber", "manufacturer", "model", "secretKey"] {
        if str_field(body, name).is_none() {
            return missing(name);
        }
    }
    let interval = match body.get("timeIntervalInSeconds") {
        None | Some(Value::Null) => return missing("timeIntervalInSeconds"),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())),
    };
    let interval = match interval {
        Some(i @ (30 | 60)) => i as u32,
        _ => {
            return Reply::bad_request("timeIntervalInSeconds must be 30 or 60.".to_string());
        }
    };
    let hash = match body.get("hashFunction").and_then(Value::as_str) {
        None => Hash::Sha1,
        Some(h) if h.eq_ignore_ascii_case("hmacsha1") => Hash::Sha1,
        Some(h) if h.eq_ignore_ascii_case("hmacsha256") => Hash::Sha256,
        Some(h) => {
            return Reply::bad_request(format!(
                "Requested value '{h}' was not found for hashFunction: use hmacsha1 or hmacsha256."
            ));
        }
    };
    let secret = match str_field(body, "secretKey").and_then(base32) {
        Some(s) if s.len() >= 16 => s,
        _ => {
            return Reply::bad_request(
                "The secretKey is not a valid base32-encoded key of at least 128 bits.",
            );
        }
    };
    let assign_to = match body.get("assignTo") {
        None | Some(Value::Null) => None,
        Some(v) => match v.get("id").and_then(Value::as_str) {
            Some(id) => match sim.tenant.find(id) {
                Some(user) => Some(user),
                None => return Reply::not_found(id),
            },
            None => return missing("assignTo.id"),
        },
    };
    let serial = str_field(body, "serialNumber").unwrap_or_default().trim();
    let mut devices = sim.oath.lock();
    if devices.iter().any(|d| d.serial == serial) {
        return Reply::error(
            400,
            "Request_BadRequest",
            "Another object with the same value for property serialNumber already exists.",
        );
    }
    let device = Device {
        id: uuid_from(&mut rand::rng()),
        display_name: str_field(body, "displayName").map(str::to_string),
        serial: serial.to_string(),
        manufacturer: str_field(body, "manufacturer").unwrap_or_default().into(),
        model: str_field(body, "model").unwrap_or_default().into(),
        secret,
        interval,
        hash,
        status: if assign_to.is_some() {
            "assigned"
        } else {
            "available"
        },
        assigned_to: assign_to.as_ref().map(|u| u.identity.id.clone()),
    };
    if let Some(user) = &assign_to {
        give(user, &device);
    }
    let shown = device_json(sim, &device);
    devices.push(device);
    Reply::json(201, shown)
}

/// Add the token to the user's methods (the method's id is the device's).
fn give(user: &User, device: &Device) {
    let mut state = user.lock();
    state.methods.push(Method {
        id: device.id.clone(),
        created: Some(Utc::now()),
        kind: Kind::HardwareOath {
            serial: device.serial.clone(),
        },
    });
    state.writes += 1;
    state.updated = Utc::now();
}

/// A user's method as the per-user pages show it: the method and its `device`.
fn method_json(sim: &Sim, method: &Method, devices: &[Device]) -> Value {
    let mut shown = sim.tenant.method_json(method, true, Utc::now());
    let device = devices.iter().find(|d| d.id == method.id);
    if let Some(object) = shown.as_object_mut() {
        object.insert(
            "device".into(),
            device.map_or(Value::Null, |d| device_json(sim, d)),
        );
    }
    shown
}

/// `/users/{u}/authentication/hardwareOathMethods/...` (beta): `rest` follows the collection.
pub(crate) fn user_route(sim: &Sim, call: &Call, user: &User, rest: &[&str]) -> Reply {
    let is_token = |m: &Method| matches!(m.kind, Kind::HardwareOath { .. });
    match (rest, &call.verb) {
        ([], &Verb::GET) => {
            let devices = sim.oath.lock();
            let state = user.lock();
            let value: Vec<Value> = state
                .methods
                .iter()
                .filter(|m| is_token(m))
                .map(|m| method_json(sim, m, &devices))
                .collect();
            Reply::json(200, json!({ "value": value }))
        }
        ([], &Verb::POST) => assign(sim, user, call.body),
        (["assignAndActivateBySerialNumber"], &Verb::POST) => {
            assign_and_activate_by_serial(sim, user, call.body)
        }
        ([id], &Verb::GET) => {
            let devices = sim.oath.lock();
            let state = user.lock();
            match state.methods.iter().find(|m| m.id == *id && is_token(m)) {
                Some(m) => Reply::json(200, method_json(sim, m, &devices)),
                None => Reply::not_found(id),
            }
        }
        ([id], &Verb::DELETE) => unassign(sim, user, id),
        ([id, "activate"], &Verb::POST) => activate(sim, user, id, call.body),
        ([id, "deactivate"], &Verb::POST) => deactivate(sim, user, id),
        ([_, action], _) | ([_, _, action, ..], _) => Reply::unknown_segment(action),
        _ => Reply::method_not_allowed(),
    }
}

/// `POST hardwareOathMethods` `{"device": {"id": ...}}`: assign the token without activation.
fn assign(sim: &Sim, user: &User, body: Option<&Value>) -> Reply {
    let Some(id) = body
        .and_then(|b| b.get("device"))
        .and_then(|d| d.get("id"))
        .and_then(Value::as_str)
    else {
        return missing("device.id");
    };
    let mut devices = sim.oath.lock();
    let Some(device) = devices.iter_mut().find(|d| d.id == id) else {
        return Reply::not_found(id);
    };
    if let Some(refusal) = taken(device, user) {
        return refusal;
    }
    device.assigned_to = Some(user.identity.id.clone());
    device.status = "assigned";
    give(user, device);
    let state = user.lock();
    let method = state.methods.iter().rev().find(|m| m.id == device.id);
    let shown = method.map_or(Value::Null, |m| {
        method_json(sim, m, std::slice::from_ref(device))
    });
    Reply::json(201, shown)
}

/// The refusal of assigning `device` to `user`, when it is held.
fn taken(device: &Device, user: &User) -> Option<Reply> {
    match &device.assigned_to {
        Some(holder) if *holder == user.identity.id => Some(Reply::bad_request(
            "The hardware OATH token is already assigned to this user.",
        )),
        Some(_) => Some(Reply::bad_request(
            "The hardware OATH token is already assigned to another user.",
        )),
        None => None,
    }
}

/// The required `verificationCode` of a body, 6 digits.
fn verification_code(body: Option<&Value>) -> Result<String, Reply> {
    let Some(code) = body
        .and_then(Value::as_object)
        .and_then(|b| str_field(b, "verificationCode"))
    else {
        return Err(missing("verificationCode"));
    };
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Reply::bad_request(
            "The verificationCode must be the token's 6-digit code.",
        ));
    }
    Ok(code.to_string())
}

/// Check `code` against the token and set its status.
fn check_code(device: &mut Device, code: &str, display_name: Option<&str>) -> Reply {
    if !code_matches(device, code) {
        device.status = "failedActivation";
        let mut reply = Reply::bad_request("The verification code is invalid for this token.");
        // The status change is kept, but no method changed: not a write for the counters.
        reply.applied = false;
        return reply;
    }
    device.status = "activated";
    if let Some(name) = display_name {
        device.display_name = Some(name.to_string());
    }
    Reply::empty(204)
}

/// `POST hardwareOathMethods/{id}/activate` `{"verificationCode": ...}`.
fn activate(sim: &Sim, user: &User, id: &str, body: Option<&Value>) -> Reply {
    let code = match verification_code(body) {
        Ok(code) => code,
        Err(reply) => return reply,
    };
    let mut devices = sim.oath.lock();
    let Some(device) = devices
        .iter_mut()
        .find(|d| d.id == id && d.assigned_to.as_deref() == Some(&user.identity.id))
    else {
        return Reply::not_found(id);
    };
    let name = body
        .and_then(|b| b.get("displayName"))
        .and_then(Value::as_str);
    let reply = check_code(device, &code, name);
    if reply.applied {
        let mut state = user.lock();
        state.writes += 1;
        state.updated = Utc::now();
    }
    reply
}

/// `POST hardwareOathMethods/{id}/deactivate`: the token stays assigned, no longer active
/// ("hardwareOathAuthenticationMethod: deactivate").
fn deactivate(sim: &Sim, user: &User, id: &str) -> Reply {
    let mut devices = sim.oath.lock();
    let Some(device) = devices
        .iter_mut()
        .find(|d| d.id == id && d.assigned_to.as_deref() == Some(&user.identity.id))
    else {
        return Reply::not_found(id);
    };
    device.status = "assigned";
    let mut state = user.lock();
    state.writes += 1;
    state.updated = Utc::now();
    Reply::empty(204)
}

/// `POST hardwareOathMethods/assignAndActivateBySerialNumber`.
fn assign_and_activate_by_serial(sim: &Sim, user: &User, body: Option<&Value>) -> Reply {
    let code = match verification_code(body) {
        Ok(code) => code,
        Err(reply) => return reply,
    };
    let Some(serial) = body
        .and_then(Value::as_object)
        .and_then(|b| str_field(b, "serialNumber"))
    else {
        return missing("serialNumber");
    };
    let mut devices = sim.oath.lock();
    let Some(device) = devices.iter_mut().find(|d| d.serial == serial.trim()) else {
        return Reply::not_found(serial);
    };
    if let Some(refusal) = taken(device, user) {
        return refusal;
    }
    let name = body
        .and_then(|b| b.get("displayName"))
        .and_then(Value::as_str);
    let reply = check_code(device, &code, name);
    if reply.applied {
        device.assigned_to = Some(user.identity.id.clone());
        give(user, device);
    }
    reply
}

/// `DELETE hardwareOathMethods/{id}`: unassign, with the rules of every delete (the default
/// method last, `super::methods::delete`); the token stays in the inventory, available.
fn unassign(sim: &Sim, user: &User, id: &str) -> Reply {
    let mut devices = sim.oath.lock();
    let mut state = user.lock();
    let reply = super::methods::delete(sim, &mut state, Collection::HardwareOath, id);
    if reply.applied {
        state.writes += 1;
        state.updated = Utc::now();
        if let Some(device) = devices.iter_mut().find(|d| d.id == id) {
            device.assigned_to = None;
            device.status = "available";
        }
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_decodes_rfc_4648_and_refuses_other_letters() {
        assert_eq!(base32("MZXW6YTBOI======").unwrap(), b"foobar");
        assert_eq!(base32("mzxw 6ytb oi").unwrap(), b"foobar");
        assert!(base32("MZXW1").is_none());
        assert!(base32("MZXW8").is_none());
    }

    #[test]
    fn totp_matches_the_rfc_6238_test_vectors() {
        // RFC 6238 appendix B: seed "12345678901234567890" (SHA-1) and its 32-byte SHA-256
        // form; the 8-digit codes' last 6 digits.
        let sha1 = b"12345678901234567890";
        assert_eq!(totp(sha1, Hash::Sha1, 59 / 30), "287082");
        assert_eq!(totp(sha1, Hash::Sha1, 1_111_111_109 / 30), "081804");
        let sha256 = b"12345678901234567890123456789012";
        assert_eq!(totp(sha256, Hash::Sha256, 59 / 30), "119246");
        assert_eq!(totp(sha256, Hash::Sha256, 1_111_111_109 / 30), "084774");
    }
}
