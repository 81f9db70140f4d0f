//! One user's registration status: the registration report's record, in Graph's own property
//! names ([`COLUMNS`]), the filters of `authbulk status` ([`Filters`]), and the columns derived
//! from a user's methods when the report is refused ([`derive`]).
//!
//! Sources: "userRegistrationDetails resource type" (the properties, `methodsRegistered`
//! values, `defaultMfaMethodType`), "List userRegistrationDetails"
//! (learn.microsoft.com/graph/api/authenticationmethodsroot-list-userregistrationdetails: the
//! `$filter` forms `isMfaRegistered eq false`, `isAdmin eq true`,
//! `methodsRegistered/any(m:m eq 'mobilePhone')`).

use std::io::{self, Write};

use serde_json::{Map, Value, json};

/// The columns of the status table, Graph's property names, in this order.
pub const COLUMNS: [&str; 15] = [
    "id",
    "userPrincipalName",
    "userDisplayName",
    "isAdmin",
    "isMfaRegistered",
    "isMfaCapable",
    "isPasswordlessCapable",
    "isSsprRegistered",
    "isSsprEnabled",
    "isSsprCapable",
    "methodsRegistered",
    "defaultMfaMethod",
    "userPreferredMethodForSecondaryAuthentication",
    "lastUpdatedDateTime",
    "userType",
];

/// The columns that cannot be derived from a user's methods (left empty when the report is
/// refused): they come from the directory roles, the SSPR and methods policies, the report's
/// own refresh, and the user object.
pub const NOT_DERIVED: [&str; 8] = [
    "userDisplayName",
    "isAdmin",
    "isMfaCapable",
    "isSsprRegistered",
    "isSsprEnabled",
    "isSsprCapable",
    "lastUpdatedDateTime",
    "userType",
];

/// The `methodsRegistered` values `--has` and `--lacks` accept.
pub const METHODS: [&str; 16] = [
    "mobilePhone",
    "alternateMobilePhone",
    "officePhone",
    "email",
    "microsoftAuthenticatorPush",
    "microsoftAuthenticatorPasswordless",
    "softwareOneTimePasscode",
    "hardwareOneTimePasscode",
    "fido2",
    "passKeyDeviceBound",
    "passKeyDeviceBoundAuthenticator",
    "passKeyDeviceBoundWindowsHello",
    "windowsHelloForBusiness",
    "macOsSecureEnclaveKey",
    "temporaryAccessPass",
    "securityQuestion",
];

/// The phone methods `--sms-only` means.
const PHONES: [&str; 3] = ["mobilePhone", "alternateMobilePhone", "officePhone"];

/// Validate a `--has`/`--lacks` value: Graph's name, spelt as Graph spells it (any case).
pub fn method_name(flag: &str, value: &str) -> Result<&'static str, String> {
    METHODS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(value.trim()))
        .copied()
        .ok_or_else(|| {
            format!(
                "{flag} {value:?}: not a registration report method; valid names: {}",
                METHODS.join(", ")
            )
        })
}

/// Which users `authbulk status` lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// `isMfaRegistered` false.
    pub without_mfa: bool,
    /// Phone methods only (and at least one).
    pub sms_only: bool,
    /// `isAdmin` true.
    pub admins: bool,
    /// Every one of these registered.
    pub has: Vec<&'static str>,
    /// None of these registered.
    pub lacks: Vec<&'static str>,
}

impl Filters {
    /// The report's server-side `$filter` for what Graph filters itself (`None`: no clause).
    pub fn odata(&self) -> Option<String> {
        let mut clauses = Vec::new();
        if self.without_mfa {
            clauses.push("isMfaRegistered eq false".to_string());
        }
        if self.admins {
            clauses.push("isAdmin eq true".to_string());
        }
        for method in &self.has {
            clauses.push(format!("methodsRegistered/any(m:m eq '{method}')"));
        }
        (!clauses.is_empty()).then(|| clauses.join(" and "))
    }

    /// Whether `record` passes every filter (all of them, the server-side ones again too).
    /// A value the record lacks (a derived record's `isAdmin`) passes no filter on it.
    pub fn keeps(&self, record: &Map<String, Value>) -> bool {
        let methods = registered(record);
        let flag = |name: &str| record.get(name).and_then(Value::as_bool);
        (!self.without_mfa || flag("isMfaRegistered") == Some(false))
            && (!self.admins || flag("isAdmin") == Some(true))
            && (!self.sms_only
                || (!methods.is_empty() && methods.iter().all(|m| PHONES.contains(m))))
            && self.has.iter().all(|m| methods.contains(m))
            && !self.lacks.iter().any(|m| methods.contains(m))
    }
}

/// The record's `methodsRegistered`.
pub fn registered(record: &Map<String, Value>) -> Vec<&str> {
    record
        .get("methodsRegistered")
        .and_then(Value::as_array)
        .map(|ms| ms.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The record's [`COLUMNS`] alone (Graph may add properties).
pub fn columns(record: &Map<String, Value>) -> Map<String, Value> {
    COLUMNS
        .iter()
        .map(|c| {
            (
                c.to_string(),
                record.get(*c).cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// One cell's text: a list joined with `;`, a null empty.
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| cell(Some(v)))
            .collect::<Vec<_>>()
            .join(";"),
        Some(other) => other.to_string(),
    }
}

/// Write `record` as one JSON Lines line (its [`COLUMNS`]).
pub fn write_json(out: &mut dyn Write, record: &Map<String, Value>) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &Value::Object(columns(record)))?;
    out.write_all(b"\n")
}

/// The `methodsRegistered` names of one method of `GET /users/{id}/authentication/methods`.
fn method_names(method: &Value) -> &'static [&'static str] {
    let odata = method
        .get("@odata.type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim_start_matches("#microsoft.graph.");
    match odata {
        "phoneAuthenticationMethod" => match method.get("phoneType").and_then(Value::as_str) {
            Some("alternateMobile") => &["alternateMobilePhone"],
            Some("office") => &["officePhone"],
            _ => &["mobilePhone"],
        },
        "emailAuthenticationMethod" => &["email"],
        "microsoftAuthenticatorAuthenticationMethod" => {
            &["microsoftAuthenticatorPush", "softwareOneTimePasscode"]
        }
        "softwareOathAuthenticationMethod" => &["softwareOneTimePasscode"],
        "hardwareOathAuthenticationMethod" => &["hardwareOneTimePasscode"],
        "fido2AuthenticationMethod" => &["fido2"],
        "windowsHelloForBusinessAuthenticationMethod" => &["windowsHelloForBusiness"],
        "platformCredentialAuthenticationMethod" => &["macOsSecureEnclaveKey"],
        "temporaryAccessPassAuthenticationMethod" => &["temporaryAccessPass"],
        _ => &[],
    }
}

/// Whether a method of the methods list is a strong method for MFA.
fn strong(method: &Value) -> bool {
    let odata = method
        .get("@odata.type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim_start_matches("#microsoft.graph.");
    !matches!(
        odata,
        "passwordAuthenticationMethod"
            | "emailAuthenticationMethod"
            | "temporaryAccessPassAuthenticationMethod"
            | "qrCodePinAuthenticationMethod"
            | ""
    )
}

/// `defaultMfaMethod` of a `userPreferredMethodForSecondaryAuthentication`.
fn default_mfa_method(preferred: &str) -> &'static str {
    match preferred {
        "push" => "microsoftAuthenticatorPush",
        "oath" => "softwareOneTimePasscode",
        "sms" | "voiceMobile" => "mobilePhone",
        "voiceAlternateMobile" => "alternateMobilePhone",
        "voiceOffice" => "officePhone",
        _ => "none",
    }
}

/// The record derived from a user's methods (`methods`: the `value` array) and sign-in
/// preferences (`None`: unreadable); the [`NOT_DERIVED`] columns are null.
/// `isPasswordlessCapable` counts FIDO2, Windows Hello and platform credentials (the methods
/// list does not say whether the Authenticator app is set up for passwordless sign-in).
pub fn derive(id: &str, upn: &str, methods: &[Value], preferences: Option<&Value>) -> Value {
    let mut names: Vec<&str> = Vec::new();
    for method in methods {
        for name in method_names(method) {
            if !names.contains(name) {
                names.push(name);
            }
        }
    }
    let passwordless = names.iter().any(|n| {
        matches!(
            *n,
            "fido2" | "windowsHelloForBusiness" | "macOsSecureEnclaveKey"
        )
    });
    let preferred = preferences.map(|p| {
        p.get("userPreferredMethodForSecondaryAuthentication")
            .and_then(Value::as_str)
            .unwrap_or("none")
            .to_string()
    });
    json!({
        "id": id,
        "userPrincipalName": upn,
        "isMfaRegistered": methods.iter().any(strong),
        "isPasswordlessCapable": passwordless,
        "methodsRegistered": names,
        "defaultMfaMethod": preferred.as_deref().map(default_mfa_method),
        "userPreferredMethodForSecondaryAuthentication": preferred,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn method_names_are_validated_and_listed() {
        assert_eq!(method_name("--has", "FIDO2").unwrap(), "fido2");
        let err = method_name("--lacks", "sms").unwrap_err();
        assert!(
            err.contains("--lacks") && err.contains("mobilePhone"),
            "{err}"
        );
    }

    #[test]
    fn the_server_filter_holds_what_graph_filters() {
        let f = Filters {
            without_mfa: true,
            admins: true,
            has: vec!["fido2"],
            lacks: vec!["email"],
            sms_only: true,
        };
        assert_eq!(
            f.odata().unwrap(),
            "isMfaRegistered eq false and isAdmin eq true and \
             methodsRegistered/any(m:m eq 'fido2')"
        );
        assert_eq!(Filters::default().odata(), None);
    }

    #[test]
    fn sms_only_means_phones_alone_and_at_least_one() {
        let f = Filters {
            sms_only: true,
            ..Filters::default()
        };
        let with = |ms: Value| f.keeps(&record(json!({ "methodsRegistered": ms })));
        assert!(with(json!(["mobilePhone", "officePhone"])));
        assert!(!with(json!(["mobilePhone", "fido2"])));
        assert!(!with(json!([])));
    }

    #[test]
    fn has_and_lacks_and_flags_filter() {
        let r = record(json!({"isAdmin": true, "isMfaRegistered": false,
                              "methodsRegistered": ["email"]}));
        let keeps = |f: Filters| f.keeps(&r);
        assert!(keeps(Filters {
            has: vec!["email"],
            ..Filters::default()
        }));
        assert!(!keeps(Filters {
            lacks: vec!["email"],
            ..Filters::default()
        }));
        assert!(keeps(Filters {
            admins: true,
            without_mfa: true,
            ..Filters::default()
        }));
        // A derived record has no isAdmin: --admins keeps nothing of it.
        assert!(
            !Filters {
                admins: true,
                ..Filters::default()
            }
            .keeps(&record(json!({"methodsRegistered": []})))
        );
    }

    #[test]
    fn a_record_is_derived_from_the_methods() {
        let methods = [
            json!({"@odata.type": "#microsoft.graph.passwordAuthenticationMethod"}),
            json!({"@odata.type": "#microsoft.graph.phoneAuthenticationMethod",
                   "phoneType": "office"}),
            json!({"@odata.type": "#microsoft.graph.fido2AuthenticationMethod"}),
        ];
        let prefs = json!({"userPreferredMethodForSecondaryAuthentication": "voiceOffice"});
        let r = derive("i", "u@x", &methods, Some(&prefs));
        assert_eq!(r["methodsRegistered"], json!(["officePhone", "fido2"]));
        assert_eq!(r["isMfaRegistered"], true);
        assert_eq!(r["isPasswordlessCapable"], true);
        assert_eq!(r["defaultMfaMethod"], "officePhone");
        let r = derive("i", "u@x", &methods[..1], None);
        assert_eq!(r["isMfaRegistered"], false);
        assert_eq!(r["defaultMfaMethod"], Value::Null);
        assert_eq!(cell(r.get("methodsRegistered")), "");
        assert_eq!(cell(Some(&json!(["a", "b"]))), "a;b");
    }
}
