//! Steps' effects on the domain state: [`UserState::apply`] plays a step forward (a dry run
//! plans a user's later rows against it; tests prove idempotence with it) and
//! [`UserState::shows`] checks a re-read state for a write whose answer was lost. Called by
//! [`super::apply`].

use super::state::{Method, MethodKind, SignInPreferences, SmsSignInState, UserState, same_number};
use super::step::Effect;
use crate::job::{MethodType, PhoneType};

/// The fixed id of the email method (graph-contract.md, "Fixed ids").
pub const EMAIL_METHOD_ID: &str = "3ddfcfc8-9383-446f-83cc-3ab9be4be18f";

impl UserState {
    /// The state after `effect`, as Graph would show it.
    pub fn apply(&mut self, effect: &Effect) {
        match effect {
            Effect::PhoneSet { phone_type, number } => {
                let existing = self.methods.iter_mut().find_map(|m| match &mut m.kind {
                    MethodKind::Phone {
                        phone_type: t,
                        number,
                        ..
                    } if t == phone_type => Some(number),
                    _ => None,
                });
                match existing {
                    Some(old) => *old = number.clone(),
                    None => self.methods.push(Method {
                        id: phone_type.method_id().to_string(),
                        kind: MethodKind::Phone {
                            phone_type: *phone_type,
                            number: number.clone(),
                            sms_sign_in: SmsSignInState::Missing,
                        },
                        display_name: None,
                        created: None,
                        last_used: None,
                    }),
                }
            }
            Effect::EmailSet { address } => {
                let existing = self.methods.iter_mut().find_map(|m| match &mut m.kind {
                    MethodKind::Email { address } => Some(address),
                    _ => None,
                });
                match existing {
                    Some(old) => *old = address.clone(),
                    None => self.methods.push(Method {
                        id: EMAIL_METHOD_ID.to_string(),
                        kind: MethodKind::Email {
                            address: address.clone(),
                        },
                        display_name: None,
                        created: None,
                        last_used: None,
                    }),
                }
            }
            Effect::MethodRemoved { method_type, id } => self
                .methods
                .retain(|m| !(m.id == *id && m.method_type() == Some(*method_type))),
            Effect::SmsSignIn(on) => {
                for method in &mut self.methods {
                    if let MethodKind::Phone {
                        phone_type: PhoneType::Mobile,
                        sms_sign_in,
                        ..
                    } = &mut method.kind
                    {
                        *sms_sign_in = if *on {
                            SmsSignInState::Ready
                        } else {
                            SmsSignInState::NotEnabled
                        };
                    }
                }
            }
            Effect::Preferences {
                method,
                system_preferred,
            } => {
                let prefs = self
                    .preferences
                    .get_or_insert_with(SignInPreferences::default);
                if method.is_some() {
                    prefs.default_method = *method;
                }
                if system_preferred.is_some() {
                    prefs.system_preferred = *system_preferred;
                }
            }
            Effect::SessionsRevoked => {}
            Effect::TapIssued => self.methods.push(Method {
                id: format!("issued-tap-{}", self.methods.len()),
                kind: MethodKind::TemporaryAccessPass {
                    start: None,
                    lifetime_minutes: None,
                    usable: Some(true),
                },
                display_name: None,
                created: None,
                last_used: None,
            }),
        }
    }

    /// Whether this (re-read) state shows `effect` done; `None` when the state cannot tell
    /// (revoked sessions; a pass, which [`super::apply`] checks by its own rule).
    pub fn shows(&self, effect: &Effect) -> Option<bool> {
        match effect {
            Effect::PhoneSet { phone_type, number } => Some(
                self.phone_details(*phone_type)
                    .is_some_and(|(_, current, _)| same_number(current, number)),
            ),
            Effect::EmailSet { address } => Some(
                self.email()
                    .is_some_and(|(_, current)| current.eq_ignore_ascii_case(address)),
            ),
            Effect::MethodRemoved { method_type, id } => Some(
                !self
                    .methods
                    .iter()
                    .any(|m| m.id == *id && m.method_type() == Some(*method_type)),
            ),
            Effect::SmsSignIn(on) => {
                let state = self
                    .phone_details(PhoneType::Mobile)
                    .map(|(_, _, state)| state);
                Some(match state {
                    Some(state) if *on => *state == SmsSignInState::Ready,
                    Some(state) => state.is_off(),
                    None => !on,
                })
            }
            Effect::Preferences {
                method,
                system_preferred,
            } => {
                let prefs = self.preferences.as_ref()?;
                Some(
                    method.is_none_or(|m| prefs.default_method == Some(m))
                        && system_preferred.is_none_or(|f| prefs.system_preferred == Some(f)),
                )
            }
            Effect::SessionsRevoked | Effect::TapIssued => None,
        }
    }

    /// The ids of the user's temporary access passes.
    pub fn tap_ids(&self) -> Vec<String> {
        self.of_type(MethodType::TemporaryAccessPass)
            .map(|m| m.id.clone())
            .collect()
    }
}
