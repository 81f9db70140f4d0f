//! The rows of an inventory: one [`InventoryRow`] per existing method of a user, built from the
//! beta methods list (parsed by the planner's [`crate::graph::methods`]) and beta
//! `signInPreferences`; or one `error` row for a user, job row or enumeration that could not be
//! read. Pure (no HTTP), so the shape of every column is unit-tested. Called by
//! [`super::read`]; written by [`super::format`].

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::graph::GraphError;
use crate::graph::methods::{self as wire, WireError};
use crate::job::MethodType;
use crate::plan::default::serves_default;
use crate::plan::{Method, MethodKind, SignInPreferences};

/// The columns of the inventory, in order.
pub const COLUMNS: [&str; 13] = [
    "user",
    "user_id",
    "method_type",
    "method_id",
    "display_name",
    "detail",
    "created",
    "last_used",
    "is_default",
    "http_status",
    "error_code",
    "error_message",
    "request_id",
];

/// `method_type` of a row that says a user (or job row) could not be read.
pub const ERROR_TYPE: &str = "error";

/// `method_type` of the one row of a user who has no method at all, so that every target user
/// appears in the inventory.
pub const NONE_TYPE: &str = "none";

/// One line of the inventory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InventoryRow {
    /// The user's UPN as the directory spells it (as given when it could not be resolved).
    pub user: String,
    /// The user's object id, when resolved.
    pub user_id: Option<String>,
    /// `phone`, `microsoftAuthenticator`, `password`, ... (job files' `method_type` names; an
    /// unknown type by its `@odata.type` without the namespace), `none` or `error`.
    pub method_type: String,
    /// Graph's method id.
    pub method_id: String,
    /// What identifies the method to a person: device name, phone number, email address, key
    /// name or model, token serial number.
    pub display_name: String,
    /// The type's other properties as `name=value` pairs joined by `; ` (Graph's property
    /// names: `phoneType=mobile; smsSignInState=ready`).
    pub detail: String,
    /// `createdDateTime`.
    pub created: Option<DateTime<Utc>>,
    /// Beta `lastUsedDateTime`.
    pub last_used: Option<DateTime<Utc>>,
    /// True when the method answers the user's default MFA prompt; `None` when the default is
    /// unknown (`signInPreferences` could not be read).
    pub is_default: Option<bool>,
    /// Why the row is an `error` row.
    pub error: Option<RowError>,
}

/// The failure an `error` row reports, with Graph's own code and request id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowError {
    /// HTTP status, when an answer came.
    pub http_status: Option<u16>,
    /// Graph's `error.code`, or authbulk's own (`invalidRow`, `unexpectedAnswer`).
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// Graph's `request-id` (what Microsoft support asks for).
    pub request_id: Option<String>,
}

impl InventoryRow {
    /// The `error` row of a user whose methods could not be read.
    pub fn failed(user: &str, user_id: Option<&str>, error: &GraphError) -> InventoryRow {
        InventoryRow {
            user: user.to_string(),
            user_id: user_id.map(str::to_string),
            method_type: ERROR_TYPE.to_string(),
            error: Some(RowError {
                http_status: error.status,
                code: error.code.clone(),
                message: error.message.clone(),
                request_id: error.request_id.clone(),
            }),
            ..InventoryRow::default()
        }
    }

    /// An `error` row with authbulk's own code (a bad job row, an answer of the wrong shape).
    pub fn problem(user: &str, user_id: Option<&str>, code: &str, message: String) -> InventoryRow {
        InventoryRow {
            user: user.to_string(),
            user_id: user_id.map(str::to_string),
            method_type: ERROR_TYPE.to_string(),
            error: Some(RowError {
                code: code.to_string(),
                message,
                ..RowError::default()
            }),
            ..InventoryRow::default()
        }
    }
}

/// A date as the inventory writes it: RFC 3339 in UTC, whole seconds.
pub fn format_date(date: &DateTime<Utc>) -> String {
    date.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The rows of one user from the body of beta `GET /users/{id}/authentication/methods` and the
/// user's preferences (`None`: unknown). A user without any method gets one `none` row.
pub fn method_rows(
    user: &str,
    user_id: &str,
    methods_body: &Value,
    preferences: Option<&SignInPreferences>,
) -> Result<Vec<InventoryRow>, WireError> {
    let methods = wire::parse_methods(methods_body)?;
    // parse_methods maps the `value` array one to one, so each method keeps its raw object for
    // the properties the planner does not model (app version, key model, ...).
    let raw = methods_body
        .get("value")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let base = InventoryRow {
        user: user.to_string(),
        user_id: Some(user_id.to_string()),
        ..InventoryRow::default()
    };
    if methods.is_empty() {
        return Ok(vec![InventoryRow {
            method_type: NONE_TYPE.to_string(),
            is_default: preferences.map(|_| false),
            ..base
        }]);
    }
    Ok(methods
        .iter()
        .zip(raw.iter().map(Some).chain(std::iter::repeat(None)))
        .map(|(method, raw)| {
            let raw = raw.unwrap_or(&Value::Null);
            let is_default = preferences.map(|p| {
                p.default_method
                    .is_some_and(|default| serves_default(default, method))
            });
            let mut detail = detail(method, raw);
            if is_default == Some(true)
                && let Some(default) = preferences.and_then(|p| p.default_method)
            {
                detail.push(format!("default={}", default.as_graph()));
            }
            InventoryRow {
                method_type: type_name(method),
                method_id: method.id.clone(),
                display_name: display_name(method, raw),
                detail: detail.join("; "),
                created: method.created,
                last_used: method.last_used,
                is_default,
                ..base.clone()
            }
        })
        .collect())
}

/// The type's name: job files' `method_type` names, `password`, or an unknown `@odata.type`
/// without its namespace and suffix (`#microsoft.graph.qrCodePinAuthenticationMethod` is
/// `qrCodePin`).
fn type_name(method: &Method) -> String {
    match &method.kind {
        MethodKind::Unknown { odata_type } => {
            let short = odata_type
                .trim_start_matches('#')
                .trim_start_matches("microsoft.graph.")
                .trim_end_matches("AuthenticationMethod");
            match short.is_empty() {
                true => "unknown".to_string(),
                false => short.to_string(),
            }
        }
        _ => method.type_name(),
    }
}

fn text(raw: &Value, name: &str) -> Option<String> {
    match raw.get(name)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A hardware token's property: beta puts the token's serial number, manufacturer and model
/// under `device`; older answers (and the simulator) have them on the method.
fn token_text(raw: &Value, name: &str) -> Option<String> {
    text(raw, name).or_else(|| raw.get("device").and_then(|d| text(d, name)))
}

fn display_name(method: &Method, raw: &Value) -> String {
    let named = method
        .display_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    match &method.kind {
        MethodKind::Password | MethodKind::TemporaryAccessPass { .. } => None,
        MethodKind::Phone { number, .. } => Some(number.clone()),
        MethodKind::Email { address } => Some(address.clone()),
        MethodKind::Other(MethodType::Fido2) => named.or_else(|| text(raw, "model")),
        MethodKind::Other(MethodType::HardwareOath) => {
            named.or_else(|| token_text(raw, "serialNumber"))
        }
        _ => named,
    }
    .unwrap_or_default()
}

/// The properties each type's `detail` shows, by Graph's names (graph-contract.md, "Method
/// objects"). Secrets (`temporaryAccessPass`, `secretKey`) are never among them.
fn detail_properties(method: &Method) -> &'static [&'static str] {
    match &method.kind {
        MethodKind::Phone { .. } => &["phoneType", "smsSignInState"],
        MethodKind::TemporaryAccessPass { .. } => &[
            "startDateTime",
            "lifetimeInMinutes",
            "isUsableOnce",
            "isUsable",
            "methodUsabilityReason",
        ],
        MethodKind::Other(MethodType::MicrosoftAuthenticator) => {
            &["deviceTag", "phoneAppVersion", "clientAppName"]
        }
        MethodKind::Other(MethodType::Fido2) => &["model", "aaGuid", "attestationLevel"],
        MethodKind::Other(MethodType::WindowsHelloForBusiness) => &["keyStrength"],
        MethodKind::Other(MethodType::PlatformCredential) => &["platform", "keyStrength"],
        MethodKind::Other(MethodType::HardwareOath) => &["serialNumber", "manufacturer", "model"],
        _ => &[],
    }
}

fn detail(method: &Method, raw: &Value) -> Vec<String> {
    detail_properties(method)
        .iter()
        .filter_map(|name| token_text(raw, name).map(|value| format!("{name}={value}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::ErrorKind;
    use crate::job::DefaultMethod;
    use serde_json::json;

    fn body() -> Value {
        json!({"value": [
            {"@odata.type": "#microsoft.graph.passwordAuthenticationMethod", "id": "pw",
             "createdDateTime": null, "password": null},
            {"@odata.type": "#microsoft.graph.phoneAuthenticationMethod",
             "id": "3179e48a-750b-4051-897c-87b9720928f7", "phoneNumber": "+46 701234567",
             "phoneType": "mobile", "smsSignInState": "ready"},
            {"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
             "id": "ma1", "displayName": "iPhone 14", "deviceTag": "SoftwareTokenActivated",
             "phoneAppVersion": "6.2409.6094", "clientAppName": "microsoftAuthenticator",
             "createdDateTime": "2023-02-01T10:00:00Z", "lastUsedDateTime": "2025-01-02T03:04:05.123Z"},
            {"@odata.type": "#microsoft.graph.fido2AuthenticationMethod", "id": "f1",
             "displayName": null, "model": "YubiKey 5", "aaGuid": "cb69", "attestationLevel": "attested",
             "createdDateTime": "2024-01-01T00:00:00Z"},
            {"@odata.type": "#microsoft.graph.hardwareOathAuthenticationMethod", "id": "h1",
             "device": {"serialNumber": "SN-1", "manufacturer": "Contoso", "model": "OTP-6"}},
            {"@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod", "id": "t1",
             "temporaryAccessPass": null, "startDateTime": "2026-01-01T00:00:00Z",
             "lifetimeInMinutes": 60, "isUsableOnce": false, "isUsable": true,
             "methodUsabilityReason": "EnabledByPolicy"},
            {"@odata.type": "#microsoft.graph.qrCodePinAuthenticationMethod", "id": "q1"}
        ]})
    }

    #[test]
    fn every_method_becomes_one_row_with_its_identifying_name_and_properties() {
        let prefs = SignInPreferences {
            default_method: Some(DefaultMethod::Sms),
            system_preferred: Some(false),
        };
        let rows = method_rows("a@contoso.com", "id-1", &body(), Some(&prefs)).unwrap();
        let shown: Vec<(&str, &str, &str, &str, Option<bool>)> = rows
            .iter()
            .map(|r| {
                (
                    r.method_type.as_str(),
                    r.method_id.as_str(),
                    r.display_name.as_str(),
                    r.detail.as_str(),
                    r.is_default,
                )
            })
            .collect();
        assert_eq!(
            shown,
            vec![
                ("password", "pw", "", "", Some(false)),
                (
                    "phone",
                    "3179e48a-750b-4051-897c-87b9720928f7",
                    "+46 701234567",
                    "phoneType=mobile; smsSignInState=ready; default=sms",
                    Some(true)
                ),
                (
                    "microsoftAuthenticator",
                    "ma1",
                    "iPhone 14",
                    "deviceTag=SoftwareTokenActivated; phoneAppVersion=6.2409.6094; \
                     clientAppName=microsoftAuthenticator",
                    Some(false)
                ),
                (
                    "fido2",
                    "f1",
                    "YubiKey 5",
                    "model=YubiKey 5; aaGuid=cb69; attestationLevel=attested",
                    Some(false)
                ),
                (
                    "hardwareOath",
                    "h1",
                    "SN-1",
                    "serialNumber=SN-1; manufacturer=Contoso; model=OTP-6",
                    Some(false)
                ),
                (
                    "temporaryAccessPass",
                    "t1",
                    "",
                    "startDateTime=2026-01-01T00:00:00Z; lifetimeInMinutes=60; \
                     isUsableOnce=false; isUsable=true; methodUsabilityReason=EnabledByPolicy",
                    Some(false)
                ),
                ("qrCodePin", "q1", "", "", Some(false)),
            ]
        );
        assert!(rows.iter().all(|r| r.user == "a@contoso.com"
            && r.user_id.as_deref() == Some("id-1")
            && r.error.is_none()));
        assert_eq!(
            rows[2].created.as_ref().map(format_date).as_deref(),
            Some("2023-02-01T10:00:00Z")
        );
        assert_eq!(
            rows[2].last_used.as_ref().map(format_date).as_deref(),
            Some("2025-01-02T03:04:05Z")
        );
        assert_eq!(rows[0].created, None);
    }

    #[test]
    fn an_unknown_default_leaves_is_default_empty_and_no_default_marks_none() {
        let unknown = method_rows("a", "1", &body(), None).unwrap();
        assert!(unknown.iter().all(|r| r.is_default.is_none()));
        let none = method_rows("a", "1", &body(), Some(&SignInPreferences::default())).unwrap();
        assert!(none.iter().all(|r| r.is_default == Some(false)));
    }

    #[test]
    fn push_marks_every_authenticator_registration() {
        let body = json!({"value": [
            {"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod", "id": "a"},
            {"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod", "id": "b"},
            {"@odata.type": "#microsoft.graph.softwareOathAuthenticationMethod", "id": "c", "secretKey": null}
        ]});
        let prefs = SignInPreferences {
            default_method: Some(DefaultMethod::Push),
            system_preferred: None,
        };
        let rows = method_rows("a", "1", &body, Some(&prefs)).unwrap();
        let defaults: Vec<_> = rows.iter().map(|r| r.is_default).collect();
        assert_eq!(defaults, vec![Some(true), Some(true), Some(false)]);
        assert_eq!(rows[2].detail, "");
    }

    #[test]
    fn a_user_without_methods_still_gets_a_row() {
        let rows = method_rows("a", "1", &json!({"value": []}), None).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].method_type, NONE_TYPE);
    }

    #[test]
    fn an_answer_without_value_is_a_wire_error() {
        assert!(method_rows("a", "1", &json!({}), None).is_err());
    }

    #[test]
    fn error_rows_carry_graphs_code_message_and_request_id() {
        let error = GraphError {
            kind: ErrorKind::NotFound,
            status: Some(404),
            code: "Request_ResourceNotFound".into(),
            message: "no such user".into(),
            request_id: Some("rid-1".into()),
            attempts: 1,
        };
        let row = InventoryRow::failed("ghost@contoso.com", None, &error);
        assert_eq!(row.method_type, ERROR_TYPE);
        let err = row.error.unwrap();
        assert_eq!(err.http_status, Some(404));
        assert_eq!(err.code, "Request_ResourceNotFound");
        assert_eq!(err.request_id.as_deref(), Some("rid-1"));
    }
}
