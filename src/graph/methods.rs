//! Graph's JSON for authentication methods: serde structs for the answers (methods,
//! `signInPreferences`, the user, a created temporary access pass), parsed into the domain model
//! ([`crate::plan::state`]), and the bodies of the writes. Kept apart from the domain model so
//! that Graph's spelling stays in `graph`. Called by the applier ([`crate::plan::apply`]) and
//! `export` (parsing answers) and by [`super::requests`] (building bodies).

use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use thiserror::Error;

use super::answer::Body;
use super::names;
use crate::job::{DefaultMethod, MethodType, PhoneType, TapParams};
use crate::plan::policy::{SmsPolicy, TapPolicy};
use crate::plan::state::{Method, MethodKind, SignInPreferences, SmsSignInState};

/// An answer that does not have the shape Graph documents.
#[derive(Debug, Clone, Error, PartialEq)]
#[error("unexpected answer from Graph: {0}")]
pub struct WireError(pub String);

/// An answer body the parsers read: a [`Value`], or a wire [`Body`], whose text the hot
/// parsers read straight into their structs (falling back to the [`Value`], and its errors,
/// when the text does not parse into them).
pub trait AnswerJson {
    /// The body as a [`Value`].
    fn value(&self) -> &Value;
    /// The body parsed straight from its text into `T`, when it has a text that parses.
    fn typed<T: DeserializeOwned>(&self) -> Option<T>;
}

impl AnswerJson for Value {
    fn value(&self) -> &Value {
        self
    }

    fn typed<T: DeserializeOwned>(&self) -> Option<T> {
        None
    }
}

impl AnswerJson for Body {
    fn value(&self) -> &Value {
        self
    }

    fn typed<T: DeserializeOwned>(&self) -> Option<T> {
        Body::typed(self)
    }
}

#[derive(Deserialize)]
struct WireMethods {
    value: Vec<WireMethod>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMethod {
    #[serde(rename = "@odata.type", default)]
    odata_type: Option<String>,
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    created_date_time: Option<String>,
    #[serde(default)]
    last_used_date_time: Option<String>,
    #[serde(default)]
    phone_number: Option<String>,
    #[serde(default)]
    phone_type: Option<String>,
    #[serde(default)]
    sms_sign_in_state: Option<String>,
    #[serde(default)]
    email_address: Option<String>,
    #[serde(default)]
    start_date_time: Option<String>,
    #[serde(default)]
    lifetime_in_minutes: Option<u32>,
    #[serde(default)]
    is_usable: Option<bool>,
}

const PASSWORD_TYPE: &str = "#microsoft.graph.passwordAuthenticationMethod";

fn date(value: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value?)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

impl WireMethod {
    fn into_method(self) -> Method {
        let odata_type = self.odata_type.unwrap_or_default();
        let unknown = |odata_type: String| MethodKind::Unknown { odata_type };
        let kind = if odata_type.eq_ignore_ascii_case(PASSWORD_TYPE) {
            MethodKind::Password
        } else {
            match names::method_type(&odata_type) {
                Some(MethodType::Phone) => {
                    match (
                        self.phone_type.as_deref().and_then(PhoneType::from_graph),
                        self.phone_number,
                    ) {
                        (Some(phone_type), Some(number)) => MethodKind::Phone {
                            phone_type,
                            number,
                            sms_sign_in: SmsSignInState::from_graph(
                                self.sms_sign_in_state.as_deref(),
                            ),
                        },
                        // A phone without a known type or number cannot be planned for;
                        // keep it visible rather than guess.
                        _ => unknown(odata_type),
                    }
                }
                Some(MethodType::Email) => match self.email_address {
                    Some(address) => MethodKind::Email { address },
                    None => unknown(odata_type),
                },
                Some(MethodType::TemporaryAccessPass) => MethodKind::TemporaryAccessPass {
                    start: date(self.start_date_time.as_deref()),
                    lifetime_minutes: self.lifetime_in_minutes,
                    usable: self.is_usable,
                },
                Some(other) => MethodKind::Other(other),
                None => unknown(odata_type),
            }
        };
        Method {
            id: self.id,
            kind,
            display_name: self.display_name,
            created: date(self.created_date_time.as_deref()),
            last_used: date(self.last_used_date_time.as_deref()),
        }
    }
}

/// The methods of a `GET /users/{u}/authentication/methods` answer (`{"value":[...]}`).
/// Elements of unknown types, or that do not parse, are kept as [`MethodKind::Unknown`].
pub fn parse_methods<B: AnswerJson + ?Sized>(body: &B) -> Result<Vec<Method>, WireError> {
    if let Some(wire) = body.typed::<WireMethods>() {
        return Ok(wire
            .value
            .into_iter()
            .map(WireMethod::into_method)
            .collect());
    }
    let items = body
        .value()
        .get("value")
        .and_then(Value::as_array)
        .ok_or_else(|| WireError("the methods list has no `value` array".into()))?;
    Ok(items
        .iter()
        .map(|item| match WireMethod::deserialize(item) {
            Ok(wire) => wire.into_method(),
            Err(_) => Method {
                id: item
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                kind: MethodKind::Unknown {
                    odata_type: item
                        .get("@odata.type")
                        .and_then(Value::as_str)
                        .unwrap_or("unparsable method")
                        .to_string(),
                },
                display_name: None,
                created: None,
                last_used: None,
            },
        })
        .collect())
}

/// When each pass of a `temporaryAccessPassMethods` list was created; passes without a
/// readable `createdDateTime`, and an answer without a `value` array, give none. Times keep
/// the offset Graph wrote.
pub fn parse_pass_created_times(body: &Value) -> Vec<DateTime<FixedOffset>> {
    body.get("value")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|pass| pass.get("createdDateTime")?.as_str())
        .filter_map(|text| DateTime::parse_from_rfc3339(text).ok())
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePreferences {
    #[serde(default)]
    user_preferred_method_for_secondary_authentication: Option<String>,
    #[serde(default)]
    is_system_preferred_authentication_method_enabled: Option<bool>,
}

/// Beta `signInPreferences`. Unknown default values read as no default.
pub fn parse_preferences<B: AnswerJson + ?Sized>(body: &B) -> Result<SignInPreferences, WireError> {
    let wire = match body.typed::<WirePreferences>() {
        Some(wire) => wire,
        None => WirePreferences::deserialize(body.value())
            .map_err(|e| WireError(format!("signInPreferences: {e}")))?,
    };
    Ok(SignInPreferences {
        default_method: wire
            .user_preferred_method_for_secondary_authentication
            .as_deref()
            .and_then(DefaultMethod::from_graph),
        system_preferred: wire.is_system_preferred_authentication_method_enabled,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireTapConfiguration {
    state: String,
    minimum_lifetime_in_minutes: u32,
    maximum_lifetime_in_minutes: u32,
}

/// Parse the `temporaryAccessPassAuthenticationMethodConfiguration` ("Get
/// temporaryAccessPassAuthenticationMethodConfiguration").
pub fn parse_tap_policy(body: &Value) -> Result<TapPolicy, WireError> {
    let wire = WireTapConfiguration::deserialize(body)
        .map_err(|e| WireError(format!("temporaryAccessPass configuration: {e}")))?;
    Ok(TapPolicy {
        enabled: wire.state.eq_ignore_ascii_case("enabled"),
        min_minutes: wire.minimum_lifetime_in_minutes,
        max_minutes: wire.maximum_lifetime_in_minutes,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSmsTarget {
    #[serde(default)]
    is_usable_for_sign_in: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSmsConfiguration {
    state: String,
    #[serde(default)]
    include_targets: Vec<WireSmsTarget>,
}

/// Parse the `smsAuthenticationMethodConfiguration`; its targets are
/// `smsAuthenticationMethodTarget`s (`isUsableForSignIn`).
pub fn parse_sms_policy(body: &Value) -> Result<SmsPolicy, WireError> {
    let wire = WireSmsConfiguration::deserialize(body)
        .map_err(|e| WireError(format!("sms configuration: {e}")))?;
    Ok(SmsPolicy {
        enabled: wire.state.eq_ignore_ascii_case("enabled"),
        sign_in_for_some: wire
            .include_targets
            .iter()
            .any(|t| t.is_usable_for_sign_in != Some(false)),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireUser {
    id: String,
    #[serde(default)]
    user_principal_name: Option<String>,
}

/// Check that a `GET /users/{u}?$select=id,userPrincipalName` answer names `requested` (the
/// row's UPN or object id), by id or by UPN, case-insensitively. Graph always does; a proxy that
/// swapped `$batch` answers once had one user's phone written to another, so an answer for
/// anyone else is refused.
pub fn check_user<B: AnswerJson + ?Sized>(body: &B, requested: &str) -> Result<(), WireError> {
    let user = wire_user(body)?;
    let upn = user.user_principal_name.as_deref();
    if user.id.eq_ignore_ascii_case(requested)
        || upn.is_some_and(|upn| upn.to_lowercase() == requested.to_lowercase())
    {
        return Ok(());
    }
    Err(WireError(format!(
        "Graph answered for another user ({}, id {}) than the row names ({requested}): nothing \
         was done for this row",
        upn.unwrap_or("no userPrincipalName"),
        user.id
    )))
}

/// The object id of a `GET /users/{u}?$select=id,userPrincipalName` answer.
pub fn parse_user_id<B: AnswerJson + ?Sized>(body: &B) -> Result<String, WireError> {
    wire_user(body).map(|u| u.id)
}

/// The object id and UPN of a `GET /users/{u}?$select=id,userPrincipalName` answer.
pub fn parse_user<B: AnswerJson + ?Sized>(body: &B) -> Result<(String, Option<String>), WireError> {
    wire_user(body).map(|u| (u.id, u.user_principal_name))
}

fn wire_user<B: AnswerJson + ?Sized>(body: &B) -> Result<WireUser, WireError> {
    match body.typed::<WireUser>() {
        Some(user) => Ok(user),
        None => WireUser::deserialize(body.value()).map_err(|e| WireError(format!("user: {e}"))),
    }
}

/// The parts of a created temporary access pass (the 201 of the POST). The pass itself is a
/// secret: [`crate::plan::tap_out::IssuedTap`] carries it and hides it from `Debug`.
pub struct CreatedTap {
    /// `temporaryAccessPass`: the secret.
    pub pass: String,
    /// `startDateTime`.
    pub start: Option<DateTime<Utc>>,
    /// `lifetimeInMinutes`.
    pub lifetime_minutes: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCreatedTap {
    temporary_access_pass: Option<String>,
    #[serde(default)]
    start_date_time: Option<String>,
    #[serde(default)]
    lifetime_in_minutes: Option<u32>,
}

/// The pass of a TAP create answer. The error never quotes the body (it may hold the secret).
pub fn parse_created_tap(body: &Value) -> Result<CreatedTap, WireError> {
    let wire = WireCreatedTap::deserialize(body)
        .map_err(|_| WireError("the created pass has an unexpected shape".into()))?;
    let pass = wire
        .temporary_access_pass
        .filter(|p| !p.is_empty())
        .ok_or_else(|| WireError("the answer holds no temporaryAccessPass".into()))?;
    Ok(CreatedTap {
        pass,
        start: date(wire.start_date_time.as_deref()),
        lifetime_minutes: wire.lifetime_in_minutes,
    })
}

/// Body of a phone create: `{"phoneNumber","phoneType"}`.
pub fn phone_create_body(phone_type: PhoneType, number: &str) -> Value {
    json!({ "phoneNumber": number, "phoneType": phone_type.as_graph() })
}

/// Body of a phone update: `{"phoneNumber"}`.
pub fn phone_update_body(number: &str) -> Value {
    json!({ "phoneNumber": number })
}

/// Body of an email create or update: `{"emailAddress"}`.
pub fn email_body(address: &str) -> Value {
    json!({ "emailAddress": address })
}

/// Body of a TAP create: only the parameters the row gives (the policy decides the rest).
pub fn tap_body(params: &TapParams) -> Value {
    let mut body = Map::new();
    if let Some(minutes) = params.lifetime_minutes {
        body.insert("lifetimeInMinutes".into(), json!(minutes));
    }
    if let Some(once) = params.usable_once {
        body.insert("isUsableOnce".into(), json!(once));
    }
    if let Some(start) = params.start_time {
        body.insert(
            "startDateTime".into(),
            json!(start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        );
    }
    Value::Object(body)
}

/// Body of a `signInPreferences` PATCH with only the fields that change.
pub fn preferences_body(method: Option<DefaultMethod>, system_preferred: Option<bool>) -> Value {
    let mut body = Map::new();
    if let Some(method) = method {
        body.insert(
            "userPreferredMethodForSecondaryAuthentication".into(),
            json!(method.as_graph()),
        );
    }
    if let Some(flag) = system_preferred {
        body.insert(
            "isSystemPreferredAuthenticationMethodEnabled".into(),
            json!(flag),
        );
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_dispatch_on_odata_type_and_keep_unknown_types() {
        let body = json!({"value": [
            {"@odata.type": "#microsoft.graph.passwordAuthenticationMethod", "id": "pw", "createdDateTime": null},
            {"@odata.type": "#microsoft.graph.phoneAuthenticationMethod", "id": "3179e48a-750b-4051-897c-87b9720928f7",
             "phoneNumber": "+46 701234567", "phoneType": "mobile", "smsSignInState": "ready"},
            {"@odata.type": "#microsoft.graph.emailAuthenticationMethod", "id": "e", "emailAddress": "a@b.c"},
            {"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod", "id": "ma",
             "displayName": "iPhone 14", "createdDateTime": "2023-02-01T10:00:00Z", "lastUsedDateTime": null},
            {"@odata.type": "#microsoft.graph.resourceAccountKeyAuthenticationMethod", "id": "q"},
            {"@odata.type": "#microsoft.graph.fido2AuthenticationMethod", "id": 17},
            {"@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod", "id": "t",
             "startDateTime": "2024-01-01T00:00:00Z", "lifetimeInMinutes": 60, "isUsable": false}
        ]});
        let methods = parse_methods(&body).unwrap();
        assert_eq!(methods.len(), 7);
        assert_eq!(methods[0].kind, MethodKind::Password);
        assert_eq!(
            methods[1].kind,
            MethodKind::Phone {
                phone_type: PhoneType::Mobile,
                number: "+46 701234567".into(),
                sms_sign_in: SmsSignInState::Ready
            }
        );
        assert_eq!(
            methods[2].kind,
            MethodKind::Email {
                address: "a@b.c".into()
            }
        );
        assert_eq!(
            methods[3].method_type(),
            Some(MethodType::MicrosoftAuthenticator)
        );
        assert_eq!(methods[3].display_name.as_deref(), Some("iPhone 14"));
        assert!(methods[3].created.is_some() && methods[3].last_used.is_none());
        assert_eq!(
            methods[4].kind,
            MethodKind::Unknown {
                odata_type: "#microsoft.graph.resourceAccountKeyAuthenticationMethod".into()
            }
        );
        // A malformed element (numeric id) is kept as unknown instead of failing the list.
        assert!(matches!(methods[5].kind, MethodKind::Unknown { .. }));
        assert_eq!(
            methods[6].kind,
            MethodKind::TemporaryAccessPass {
                start: Some("2024-01-01T00:00:00Z".parse().unwrap()),
                lifetime_minutes: Some(60),
                usable: Some(false)
            }
        );
    }

    #[test]
    fn a_methods_answer_without_value_is_an_error() {
        assert!(parse_methods(&json!({"error": {}})).is_err());
    }

    #[test]
    fn preferences_parse_default_and_flag() {
        let prefs = parse_preferences(&json!({
            "userPreferredMethodForSecondaryAuthentication": "voiceMobile",
            "isSystemPreferredAuthenticationMethodEnabled": false,
            "systemPreferredAuthenticationMethod": "push"
        }))
        .unwrap();
        assert_eq!(prefs.default_method, Some(DefaultMethod::VoiceMobile));
        assert_eq!(prefs.system_preferred, Some(false));
        let none = parse_preferences(&json!({
            "userPreferredMethodForSecondaryAuthentication": null
        }))
        .unwrap();
        assert_eq!(none, SignInPreferences::default());
    }

    #[test]
    fn created_tap_errors_never_quote_the_secret() {
        let err = parse_created_tap(&json!({"temporaryAccessPass": 12345678, "id": "x"}))
            .err()
            .unwrap();
        assert!(!err.to_string().contains("12345678"));
        let tap = parse_created_tap(&json!({
            "id": "t1", "temporaryAccessPass": "Secret#1", "lifetimeInMinutes": 60,
            "startDateTime": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(tap.pass, "Secret#1");
        assert_eq!(tap.lifetime_minutes, Some(60));
    }

    #[test]
    fn tap_and_preference_bodies_carry_only_given_fields() {
        assert_eq!(tap_body(&TapParams::default()), json!({}));
        assert_eq!(
            tap_body(&TapParams {
                lifetime_minutes: Some(60),
                usable_once: Some(true),
                start_time: Some("2026-01-01T08:00:00Z".parse().unwrap()),
            }),
            json!({"lifetimeInMinutes": 60, "isUsableOnce": true, "startDateTime": "2026-01-01T08:00:00Z"})
        );
        assert_eq!(
            preferences_body(None, Some(true)),
            json!({"isSystemPreferredAuthenticationMethodEnabled": true})
        );
    }

    #[test]
    fn policy_configurations_parse_state_bounds_and_sign_in_targets() {
        let tap = parse_tap_policy(&json!({
            "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration",
            "id": "TemporaryAccessPass",
            "state": "enabled",
            "defaultLifetimeInMinutes": 60,
            "minimumLifetimeInMinutes": 30,
            "maximumLifetimeInMinutes": 480,
            "isUsableOnce": false,
            "includeTargets": [{"targetType": "group", "id": "all_users"}],
            "excludeTargets": []
        }))
        .unwrap();
        assert_eq!(
            tap,
            TapPolicy {
                enabled: true,
                min_minutes: 30,
                max_minutes: 480
            }
        );
        assert!(parse_tap_policy(&json!({"state": "enabled"})).is_err());
        let sms = parse_sms_policy(&json!({
            "state": "enabled",
            "includeTargets": [{"targetType": "group", "id": "all_users", "isUsableForSignIn": false}]
        }))
        .unwrap();
        assert_eq!(
            sms,
            SmsPolicy {
                enabled: true,
                sign_in_for_some: false
            }
        );
        let off = parse_sms_policy(&json!({"state": "disabled", "includeTargets": []})).unwrap();
        assert!(!off.enabled && !off.sign_in_for_some);
    }
}
