//! The domain model of one user's authentication state, as the planner sees it: the methods
//! (parsed from Graph's JSON by [`crate::graph::methods`]), and the default method from beta
//! `signInPreferences`. No HTTP here, so planning is tested without a network; serde only so a
//! run's kept plan ([`super::file::PlannedRow::read`]) can hold the state a row was planned against.
//! Built by [`crate::graph::methods`], read by [`super::desired`], changed in tests and dry runs by
//! [`UserState::apply`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::change::MethodName;
use crate::job::{DefaultMethod, MethodType, PhoneType};

/// Everything the planner knows about one user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserState {
    /// The user's methods, in the order Graph listed them.
    pub methods: Vec<Method>,
    /// Beta `signInPreferences`; `None` when not read or not readable.
    pub preferences: Option<SignInPreferences>,
}

/// One authentication method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Method {
    /// Graph's method id (opaque; fixed for phones and email).
    pub id: String,
    /// What it is, with the properties of its type.
    pub kind: MethodKind,
    /// `displayName` (the device name for Authenticator, the key name for FIDO2, ...).
    pub display_name: Option<String>,
    /// `createdDateTime`; null for old registrations and for passwords.
    pub created: Option<DateTime<Utc>>,
    /// Beta `lastUsedDateTime`; `None` when null or read through v1.0.
    pub last_used: Option<DateTime<Utc>>,
}

/// The type of a method and the properties the planner needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MethodKind {
    /// The password (never removed).
    Password,
    /// A phone.
    Phone {
        /// mobile, alternateMobile or office.
        phone_type: PhoneType,
        /// The number as Graph shows it (`+46 701234567`).
        number: String,
        /// `smsSignInState`.
        sms_sign_in: SmsSignInState,
    },
    /// The email method.
    Email {
        /// The address.
        address: String,
    },
    /// A temporary access pass.
    TemporaryAccessPass {
        /// `startDateTime`.
        start: Option<DateTime<Utc>>,
        /// `lifetimeInMinutes`.
        lifetime_minutes: Option<u32>,
        /// `isUsable`; `None` when Graph left it out.
        usable: Option<bool>,
    },
    /// Any other known type without properties the planner needs (Authenticator, FIDO2, ...).
    Other(MethodType),
    /// A type this version does not know (Graph adds types every year): kept and reported.
    Unknown {
        /// Its `@odata.type`.
        odata_type: String,
    },
}

/// A phone's `smsSignInState`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmsSignInState {
    /// SMS sign-in is on and usable.
    Ready,
    /// Off.
    NotEnabled,
    /// Off; not configured.
    NotConfigured,
    /// The phone type does not support it.
    NotSupported,
    /// The policy does not allow it.
    NotAllowedByPolicy,
    /// Another user has the same number.
    PhoneNumberNotUnique,
    /// Absent from the answer.
    Missing,
    /// A value this version does not know.
    Other(String),
}

impl SmsSignInState {
    /// Parse Graph's value.
    pub fn from_graph(value: Option<&str>) -> SmsSignInState {
        let Some(value) = value else {
            return SmsSignInState::Missing;
        };
        match value.to_ascii_lowercase().as_str() {
            "ready" => SmsSignInState::Ready,
            "notenabled" => SmsSignInState::NotEnabled,
            "notconfigured" => SmsSignInState::NotConfigured,
            "notsupported" => SmsSignInState::NotSupported,
            "notallowedbypolicy" => SmsSignInState::NotAllowedByPolicy,
            "phonenumbernotunique" => SmsSignInState::PhoneNumberNotUnique,
            _ => SmsSignInState::Other(value.to_string()),
        }
    }

    /// Graph's spelling.
    pub fn as_graph(&self) -> &str {
        match self {
            SmsSignInState::Ready => "ready",
            SmsSignInState::NotEnabled => "notEnabled",
            SmsSignInState::NotConfigured => "notConfigured",
            SmsSignInState::NotSupported => "notSupported",
            SmsSignInState::NotAllowedByPolicy => "notAllowedByPolicy",
            SmsSignInState::PhoneNumberNotUnique => "phoneNumberNotUnique",
            SmsSignInState::Missing => "unknown",
            SmsSignInState::Other(value) => value,
        }
    }

    /// True when SMS sign-in is off for certain: nothing for `disable-sms-signin` to do.
    pub fn is_off(&self) -> bool {
        matches!(
            self,
            SmsSignInState::NotEnabled
                | SmsSignInState::NotConfigured
                | SmsSignInState::NotSupported
                | SmsSignInState::NotAllowedByPolicy
        )
    }
}

/// Beta `signInPreferences`: the default MFA method and the system-preferred flag.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignInPreferences {
    /// `userPreferredMethodForSecondaryAuthentication`, when set and known.
    pub default_method: Option<DefaultMethod>,
    /// `isSystemPreferredAuthenticationMethodEnabled`, when given.
    pub system_preferred: Option<bool>,
}

impl SignInPreferences {
    /// Short human text: `push, system-preferred on`.
    pub fn describe(&self) -> String {
        let method = self
            .default_method
            .map_or("no default", DefaultMethod::as_graph);
        match self.system_preferred {
            Some(true) => format!("{method}, system-preferred on"),
            Some(false) => format!("{method}, system-preferred off"),
            None => method.to_string(),
        }
    }
}

impl Method {
    /// The removable type of the method; `None` for the password and unknown types.
    pub fn method_type(&self) -> Option<MethodType> {
        match &self.kind {
            MethodKind::Password | MethodKind::Unknown { .. } => None,
            MethodKind::Phone { .. } => Some(MethodType::Phone),
            MethodKind::Email { .. } => Some(MethodType::Email),
            MethodKind::TemporaryAccessPass { .. } => Some(MethodType::TemporaryAccessPass),
            MethodKind::Other(t) => Some(*t),
        }
    }

    /// The phone type, for phones.
    pub fn phone_type(&self) -> Option<PhoneType> {
        match &self.kind {
            MethodKind::Phone { phone_type, .. } => Some(*phone_type),
            _ => None,
        }
    }

    /// The type as a step names it (`microsoftAuthenticator`, `phone`, the password, or the
    /// `@odata.type` of an unknown type).
    pub fn name(&self) -> MethodName {
        match (&self.kind, self.method_type()) {
            (MethodKind::Password, _) => MethodName::Password,
            (MethodKind::Unknown { odata_type }, _) => MethodName::Other(odata_type.clone()),
            (_, Some(method_type)) => MethodName::Known(method_type),
            (_, None) => MethodName::Other(String::new()),
        }
    }

    /// The name of the type for step texts (`microsoftAuthenticator`, `phone`, or the
    /// `@odata.type` of an unknown type).
    pub fn type_name(&self) -> String {
        match &self.kind {
            MethodKind::Password => "password".to_string(),
            MethodKind::Unknown { odata_type } => odata_type.clone(),
            _ => self
                .method_type()
                .map(|t| t.name().to_string())
                .unwrap_or_default(),
        }
    }

    /// Short human description for a report's before/after: `iPhone 14, created 2023-02-01`,
    /// `+46 701234567`, `a@b.c`.
    pub fn describe(&self) -> String {
        match &self.kind {
            MethodKind::Password => "password".to_string(),
            MethodKind::Phone {
                phone_type, number, ..
            } => format!("{phone_type} {number}"),
            MethodKind::Email { address } => address.clone(),
            MethodKind::TemporaryAccessPass {
                start,
                lifetime_minutes,
                usable,
            } => {
                let mut parts = vec!["temporary access pass".to_string()];
                if let Some(start) = start {
                    parts.push(format!("from {}", start.format("%Y-%m-%d %H:%M")));
                }
                if let Some(minutes) = lifetime_minutes {
                    parts.push(format!("{minutes} min"));
                }
                if *usable == Some(false) {
                    parts.push("not usable".to_string());
                }
                parts.join(", ")
            }
            MethodKind::Other(_) | MethodKind::Unknown { .. } => {
                let mut parts = Vec::new();
                match &self.display_name {
                    Some(name) if !name.trim().is_empty() => parts.push(name.trim().to_string()),
                    _ => parts.push(self.type_name()),
                }
                match self.created {
                    Some(created) => parts.push(format!("created {}", created.format("%Y-%m-%d"))),
                    None => parts.push("created unknown".to_string()),
                }
                if let Some(used) = self.last_used {
                    parts.push(format!("last used {}", used.format("%Y-%m-%d")));
                }
                parts.join(", ")
            }
        }
    }
}

impl UserState {
    /// The phone of this type.
    pub fn phone(&self, phone_type: PhoneType) -> Option<&Method> {
        self.methods
            .iter()
            .find(|m| m.phone_type() == Some(phone_type))
    }

    /// The phone of this type with its number and SMS sign-in state.
    pub fn phone_details(&self, phone_type: PhoneType) -> Option<(&Method, &str, &SmsSignInState)> {
        self.methods.iter().find_map(|m| match &m.kind {
            MethodKind::Phone {
                phone_type: t,
                number,
                sms_sign_in,
            } if *t == phone_type => Some((m, number.as_str(), sms_sign_in)),
            _ => None,
        })
    }

    /// The email method and its address.
    pub fn email(&self) -> Option<(&Method, &str)> {
        self.methods.iter().find_map(|m| match &m.kind {
            MethodKind::Email { address } => Some((m, address.as_str())),
            _ => None,
        })
    }

    /// The methods of a type, in Graph's order.
    pub fn of_type(&self, method_type: MethodType) -> impl Iterator<Item = &Method> {
        self.methods
            .iter()
            .filter(move |m| m.method_type() == Some(method_type))
    }
}

/// Two phone numbers are the same when their digits (and extension) are: Graph's `+46 701234567`
/// equals `+46701234567` and `+46 70 123 45 67`.
pub fn same_number(a: &str, b: &str) -> bool {
    canonical_number(a) == canonical_number(b)
}

fn canonical_number(number: &str) -> String {
    number
        .chars()
        .filter_map(|c| match c {
            '0'..='9' | '+' => Some(c),
            'x' | 'X' => Some('x'),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_comes_back_whole() {
        let state = UserState {
            methods: vec![
                Method {
                    id: "p".into(),
                    kind: MethodKind::Phone {
                        phone_type: PhoneType::Mobile,
                        number: "+46 701".into(),
                        sms_sign_in: SmsSignInState::Missing,
                    },
                    display_name: None,
                    created: Some(Utc::now()),
                    last_used: None,
                },
                Method {
                    id: "x".into(),
                    kind: MethodKind::Unknown {
                        odata_type: "#microsoft.graph.new".into(),
                    },
                    display_name: Some("n".into()),
                    created: None,
                    last_used: Some(Utc::now()),
                },
            ],
            preferences: Some(SignInPreferences {
                default_method: Some(DefaultMethod::Sms),
                system_preferred: Some(true),
            }),
        };
        let text = serde_json::to_string(&state).unwrap();
        let back: UserState = serde_json::from_str(&text).unwrap();
        assert_eq!(back, state);
    }

    #[test]
    fn numbers_compare_by_digits_and_extension_only() {
        assert!(same_number("+46 701234567", "+46701234567"));
        assert!(same_number("+46 70 123 45 67", "+46 701234567"));
        assert!(same_number("+1 4255550100x12", "+1 4255550100 X12"));
        assert!(!same_number("+46 701234567", "+46 701234568"));
        assert!(!same_number("+1 4255550100x12", "+1 4255550100"));
    }

    #[test]
    fn authenticator_descriptions_show_device_and_dates() {
        let method = Method {
            id: "a".into(),
            kind: MethodKind::Other(MethodType::MicrosoftAuthenticator),
            display_name: Some("iPhone 14".into()),
            created: Some("2023-02-01T10:00:00Z".parse().unwrap()),
            last_used: None,
        };
        assert_eq!(method.describe(), "iPhone 14, created 2023-02-01");
        let undated = Method {
            display_name: None,
            created: None,
            last_used: Some("2024-05-06T00:00:00Z".parse().unwrap()),
            ..method
        };
        assert_eq!(
            undated.describe(),
            "microsoftAuthenticator, created unknown, last used 2024-05-06"
        );
    }

    #[test]
    fn sms_sign_in_states_parse_case_insensitively_and_keep_unknown_values() {
        assert_eq!(
            SmsSignInState::from_graph(Some("READY")),
            SmsSignInState::Ready
        );
        assert_eq!(
            SmsSignInState::from_graph(Some("somethingNew")),
            SmsSignInState::Other("somethingNew".into())
        );
        assert_eq!(SmsSignInState::from_graph(None), SmsSignInState::Missing);
        assert!(SmsSignInState::NotEnabled.is_off());
        assert!(!SmsSignInState::PhoneNumberNotUnique.is_off());
    }
}
