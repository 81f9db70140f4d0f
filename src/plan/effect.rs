//! Steps' effects on the domain state: [`UserState::apply`] plays a step forward (a dry run
//! plans a user's later rows against it; tests prove idempotence with it) and
//! [`UserState::shows`] checks a re-read state for a write whose answer was lost. Called by
//! [`super::apply`].

use super::state::{Method, MethodKind, SignInPreferences, SmsSignInState, UserState, same_number};
use super::step::Effect;
use crate::graph::names;
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
                        id: names::phone_method_id(*phone_type).to_string(),
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
            Effect::QrPinIssued => {
                self.methods
                    .retain(|m| m.method_type() != Some(MethodType::QrCodePin));
                self.methods.push(Method {
                    id: "issued-qr-code-pin".into(),
                    kind: MethodKind::Other(MethodType::QrCodePin),
                    display_name: None,
                    created: None,
                    last_used: None,
                });
            }
            Effect::QrPinReset => {}
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
            // The token inventory shows it, not the user's methods (see `super::oath`).
            Effect::OathToken => {}
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
            Effect::SessionsRevoked
            | Effect::TapIssued
            | Effect::QrPinIssued
            | Effect::QrPinReset
            | Effect::OathToken => None,
        }
    }

    /// The ids of the user's temporary access passes.
    pub fn tap_ids(&self) -> Vec<String> {
        self.of_type(MethodType::TemporaryAccessPass)
            .map(|m| m.id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::DefaultMethod;

    fn mobile(sms: SmsSignInState) -> Method {
        Method {
            id: names::phone_method_id(PhoneType::Mobile).into(),
            kind: MethodKind::Phone {
                phone_type: PhoneType::Mobile,
                number: "+46 701234567".into(),
                sms_sign_in: sms,
            },
            display_name: None,
            created: None,
            last_used: None,
        }
    }

    #[test]
    fn a_re_read_state_shows_phone_email_and_removal_effects() {
        let state = UserState {
            methods: vec![mobile(SmsSignInState::Ready)],
            preferences: None,
        };
        let set = |n: &str| Effect::PhoneSet {
            phone_type: PhoneType::Mobile,
            number: n.into(),
        };
        assert_eq!(state.shows(&set("+46701234567")), Some(true));
        assert_eq!(state.shows(&set("+46 709999999")), Some(false));
        assert_eq!(
            state.shows(&Effect::EmailSet {
                address: "a@b.c".into()
            }),
            Some(false)
        );
        let removed = |id: &str| Effect::MethodRemoved {
            method_type: MethodType::Phone,
            id: id.into(),
        };
        assert_eq!(state.shows(&removed("other")), Some(true));
        assert_eq!(
            state.shows(&removed(names::phone_method_id(PhoneType::Mobile))),
            Some(false)
        );
        assert_eq!(state.shows(&Effect::SmsSignIn(true)), Some(true));
        assert_eq!(state.shows(&Effect::SmsSignIn(false)), Some(false));
        assert_eq!(state.shows(&Effect::SessionsRevoked), None);
        assert_eq!(state.shows(&Effect::TapIssued), None);
    }

    #[test]
    fn preference_effects_need_readable_preferences_to_be_shown() {
        let effect = Effect::Preferences {
            method: Some(DefaultMethod::Push),
            system_preferred: None,
        };
        let mut state = UserState::default();
        assert_eq!(state.shows(&effect), None);
        state.apply(&effect);
        assert_eq!(state.shows(&effect), Some(true));
        assert_eq!(
            state.preferences.as_ref().unwrap().system_preferred,
            None,
            "fields not in the effect stay as they were"
        );
    }

    #[test]
    fn applying_effects_creates_updates_and_removes_methods() {
        let mut state = UserState::default();
        state.apply(&Effect::PhoneSet {
            phone_type: PhoneType::Mobile,
            number: "+46 701234567".into(),
        });
        state.apply(&Effect::PhoneSet {
            phone_type: PhoneType::Mobile,
            number: "+46 709999999".into(),
        });
        assert_eq!(state.methods.len(), 1);
        assert_eq!(
            state.phone_details(PhoneType::Mobile).unwrap().1,
            "+46 709999999"
        );
        state.apply(&Effect::EmailSet {
            address: "a@b.c".into(),
        });
        assert_eq!(state.email().unwrap().0.id, EMAIL_METHOD_ID);
        state.apply(&Effect::MethodRemoved {
            method_type: MethodType::Phone,
            id: names::phone_method_id(PhoneType::Mobile).into(),
        });
        state.apply(&Effect::TapIssued);
        assert_eq!(state.tap_ids().len(), 1);
        assert!(state.phone(PhoneType::Mobile).is_none());
    }
}
