//! Hardware OATH tokens on the wire (beta only, global cloud only): the token inventory
//! `/directory/authenticationMethodDevices/hardwareOathDevices` and a user's
//! `/users/{id}/authentication/hardwareOathMethods`. Requests, bodies and the parse of a token.
//! Used by [`super::requests`] (a run's assign/activate/unassign writes), by
//! [`crate::plan::apply`] (a row's token lookup) and by `authbulk tokens` ([`crate::tokens`]).
//!
//! Sources (learn.microsoft.com/graph/api/..., beta): "List hardwareOathDevices" (`$filter`
//! on `serialNumber`), "Create hardwareOathTokenAuthenticationMethodDevice" (the body: required
//! `serialNumber`, `manufacturer`, `model`, `secretKey`, `timeIntervalInSeconds`; optional
//! `hashFunction`), "Create hardwareOathAuthenticationMethod" (assign: `{"device": {"id"}}`),
//! "hardwareOathAuthenticationMethod: activate" (`verificationCode`), "Delete
//! hardwareOathAuthenticationMethod" (unassign). The list page's example wraps each token in a
//! method with a `device`; the resource page shows the device itself: both are read.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::methods::WireError;
use super::{ApiVersion, Request, path};
use crate::job::OathCode;
use crate::plan::oath::Token;

/// The token inventory, below the version.
pub const INVENTORY: &str = "/directory/authenticationMethodDevices/hardwareOathDevices";

/// `/users/{id}/authentication/hardwareOathMethods`.
fn user_tokens(user_id: &str) -> String {
    format!("{}/authentication/hardwareOathMethods", path::user(user_id))
}

/// `GET beta hardwareOathDevices?$filter=serialNumber eq '{serial}'` (quotes doubled).
pub fn find_by_serial(serial: &str) -> Request {
    let filter = format!("serialNumber eq '{}'", serial.replace('\'', "''"));
    Request::get(
        ApiVersion::Beta,
        format!(
            "{INVENTORY}?$filter={}",
            utf8_percent_encode(&filter, NON_ALPHANUMERIC)
        ),
    )
}

/// `POST beta /users/{id}/authentication/hardwareOathMethods` `{"device": {"id"}}`.
pub fn assign(user_id: &str, device_id: &str) -> Request {
    Request::post(
        ApiVersion::Beta,
        user_tokens(user_id),
        json!({"device": {"id": device_id}}),
    )
}

/// `POST beta .../hardwareOathMethods/{id}/activate` `{"verificationCode"}`.
pub fn activate(user_id: &str, device_id: &str, code: &OathCode) -> Request {
    Request::post(
        ApiVersion::Beta,
        format!(
            "{}/{}/activate",
            user_tokens(user_id),
            path::segment(device_id)
        ),
        json!({"verificationCode": code.expose()}),
    )
}

/// `DELETE beta .../hardwareOathMethods/{id}`.
pub fn unassign(user_id: &str, device_id: &str) -> Request {
    Request::delete(
        ApiVersion::Beta,
        format!("{}/{}", user_tokens(user_id), path::segment(device_id)),
    )
}

/// The identity a token is assigned to.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Holder {
    /// The user's object id.
    #[serde(default)]
    pub id: Option<String>,
    /// The user's display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// A token of the inventory as Graph shows it (its `secretKey` is always `null` and never
/// read).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Its id.
    pub id: String,
    /// `displayName`.
    #[serde(default)]
    pub display_name: Option<String>,
    /// `serialNumber`.
    #[serde(default)]
    pub serial_number: String,
    /// `manufacturer`.
    #[serde(default)]
    pub manufacturer: Option<String>,
    /// `model`.
    #[serde(default)]
    pub model: Option<String>,
    /// `timeIntervalInSeconds`.
    #[serde(default)]
    pub time_interval_in_seconds: Option<u32>,
    /// `hashFunction`.
    #[serde(default)]
    pub hash_function: Option<String>,
    /// `status`.
    #[serde(default)]
    pub status: Option<String>,
    /// `assignedTo`.
    #[serde(default)]
    pub assigned_to: Option<Holder>,
}

/// A list element: the device itself, or a method wrapping it in `device`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Listed {
    Wrapped { device: Device },
    Flat(Device),
}

/// One element of a token listing (either shape).
pub fn parse_device(value: Value) -> Result<Device, WireError> {
    serde_json::from_value::<Listed>(value)
        .map(|l| match l {
            Listed::Wrapped { device } | Listed::Flat(device) => device,
        })
        .map_err(|e| WireError(format!("a hardware OATH token: {e}")))
}

impl Device {
    /// The planner's view of it.
    pub fn token(&self) -> Token {
        let holder = self.assigned_to.clone().unwrap_or_default();
        Token {
            id: self.id.clone(),
            serial: self.serial_number.clone(),
            status: self.status.clone().unwrap_or_else(|| "unknown".into()),
            assigned_to: holder.id.filter(|id| !id.is_empty()),
            assigned_to_name: holder.display_name,
        }
    }
}

/// The token with `serial` in a `find_by_serial` answer; `None` when there is none.
pub fn parse_found(body: &Value, serial: &str) -> Result<Option<Token>, WireError> {
    let value = body
        .get("value")
        .and_then(Value::as_array)
        .ok_or_else(|| WireError("the token listing has no value array".into()))?;
    for item in value {
        let device = parse_device(item.clone())?;
        if device.serial_number == serial {
            return Ok(Some(device.token()));
        }
    }
    Ok(None)
}

/// The body that creates a token in the inventory. `secret` is the seed, base32: this body is
/// the only place it goes.
pub fn create_body(
    serial: &str,
    manufacturer: &str,
    model: &str,
    secret: &str,
    interval: u32,
    hash: &str,
) -> Value {
    json!({
        "serialNumber": serial,
        "manufacturer": manufacturer,
        "model": model,
        "secretKey": secret,
        "timeIntervalInSeconds": interval,
        "hashFunction": hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_of_a_listed_token_are_read() {
        let flat = json!({"id": "d", "serialNumber": "S", "status": "assigned",
            "assignedTo": {"id": "u", "displayName": "Ann"}, "secretKey": null});
        let wrapped = json!({"@odata.type": "#microsoft.graph.hardwareOathAuthenticationMethod",
            "id": "d", "device": flat.clone()});
        for body in [flat, wrapped] {
            let token = parse_device(body).unwrap().token();
            assert_eq!(token.id, "d");
            assert_eq!(token.assigned_to.as_deref(), Some("u"));
        }
        let found = parse_found(&json!({"value": []}), "S").unwrap();
        assert!(found.is_none());
    }

    #[test]
    fn the_serial_filter_is_encoded_with_quotes_doubled() {
        let request = find_by_serial("A'B 1");
        assert_eq!(request.version, ApiVersion::Beta);
        assert!(
            request
                .url
                .ends_with("serialNumber%20eq%20%27A%27%27B%201%27"),
            "{}",
            request.url
        );
    }
}
