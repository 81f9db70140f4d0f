//! The whole state a row was planned against, as a plan kept for its own run holds it (`run`
//! that plans before it asks: the apply works from that plan without reading each user
//! again). A wire copy of [`UserState`], which keeps no serde of its own. Never in a
//! `--plan-out` file: a saved plan is applied against a fresh read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::job::{DefaultMethod, MethodType, PhoneType};
use crate::plan::state::{Method, MethodKind, SignInPreferences, SmsSignInState, UserState};

/// A [`UserState`] on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedState {
    methods: Vec<SavedMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    preferences: Option<(Option<DefaultMethod>, Option<bool>)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SavedMethod {
    id: String,
    kind: SavedKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_used: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SavedKind {
    Password,
    Phone {
        phone_type: PhoneType,
        number: String,
        /// Graph's spelling of `smsSignInState` (`unknown`: absent).
        sms: String,
    },
    Email {
        address: String,
    },
    Pass {
        start: Option<DateTime<Utc>>,
        lifetime_minutes: Option<u32>,
        usable: Option<bool>,
    },
    Other(MethodType),
    Unknown {
        odata_type: String,
    },
}

impl From<&UserState> for SavedState {
    fn from(state: &UserState) -> Self {
        SavedState {
            methods: state
                .methods
                .iter()
                .map(|m| SavedMethod {
                    id: m.id.clone(),
                    kind: match &m.kind {
                        MethodKind::Password => SavedKind::Password,
                        MethodKind::Phone {
                            phone_type,
                            number,
                            sms_sign_in,
                        } => SavedKind::Phone {
                            phone_type: *phone_type,
                            number: number.clone(),
                            sms: sms_sign_in.as_graph().to_string(),
                        },
                        MethodKind::Email { address } => SavedKind::Email {
                            address: address.clone(),
                        },
                        MethodKind::TemporaryAccessPass {
                            start,
                            lifetime_minutes,
                            usable,
                        } => SavedKind::Pass {
                            start: *start,
                            lifetime_minutes: *lifetime_minutes,
                            usable: *usable,
                        },
                        MethodKind::Other(t) => SavedKind::Other(*t),
                        MethodKind::Unknown { odata_type } => SavedKind::Unknown {
                            odata_type: odata_type.clone(),
                        },
                    },
                    name: m.display_name.clone(),
                    created: m.created,
                    last_used: m.last_used,
                })
                .collect(),
            preferences: state
                .preferences
                .as_ref()
                .map(|p| (p.default_method, p.system_preferred)),
        }
    }
}

impl From<&SavedState> for UserState {
    fn from(saved: &SavedState) -> Self {
        UserState {
            methods: saved
                .methods
                .iter()
                .map(|m| Method {
                    id: m.id.clone(),
                    kind: match &m.kind {
                        SavedKind::Password => MethodKind::Password,
                        SavedKind::Phone {
                            phone_type,
                            number,
                            sms,
                        } => MethodKind::Phone {
                            phone_type: *phone_type,
                            number: number.clone(),
                            sms_sign_in: match sms.as_str() {
                                "unknown" => SmsSignInState::Missing,
                                other => SmsSignInState::from_graph(Some(other)),
                            },
                        },
                        SavedKind::Email { address } => MethodKind::Email {
                            address: address.clone(),
                        },
                        SavedKind::Pass {
                            start,
                            lifetime_minutes,
                            usable,
                        } => MethodKind::TemporaryAccessPass {
                            start: *start,
                            lifetime_minutes: *lifetime_minutes,
                            usable: *usable,
                        },
                        SavedKind::Other(t) => MethodKind::Other(*t),
                        SavedKind::Unknown { odata_type } => MethodKind::Unknown {
                            odata_type: odata_type.clone(),
                        },
                    },
                    display_name: m.name.clone(),
                    created: m.created,
                    last_used: m.last_used,
                })
                .collect(),
            preferences: saved.preferences.map(|(default_method, system_preferred)| {
                SignInPreferences {
                    default_method,
                    system_preferred,
                }
            }),
        }
    }
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
        let text = serde_json::to_string(&SavedState::from(&state)).unwrap();
        let back: SavedState = serde_json::from_str(&text).unwrap();
        assert_eq!(UserState::from(&back), state);
    }
}
