//! The default MFA method's rules for planning: which methods back a default, and how removals
//! keep the default deletable. Graph refuses to delete the last method behind the user's
//! default while other methods remain (400 `badRequest`, graph-contract.md, "Rules"). Called by
//! [`super::desired`] and `reset`.
//!
//! When a removal takes the last method behind the default, the default first moves to a
//! method that stays, chosen by [`DefaultRules`]: the first of its `order` (`--default-order`;
//! by default push, oath, sms, voiceAlternateMobile, voiceOffice, strongest first) that a
//! staying method serves. With `no_weaker` (`--no-weaker-default`) a move to a weaker method
//! ([`strength`]: Authenticator push and OATH codes over phones) is never made: the removal is
//! kept instead, a stable refusal (`weakerDefaultRefused`). E-mail is never a default MFA
//! method in Graph's `signInPreferences`, so it is never a fallback.

use super::desired::preferences_step;
use super::state::{Method, MethodKind, UserState};
use super::step::{Refusal, Step};
use crate::job::{DefaultMethod, MethodType, PhoneType};

/// How the planner picks the method a default moves to when a removal takes the method
/// behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultRules {
    /// The defaults tried, in order; a default not listed is never chosen.
    pub order: Vec<DefaultMethod>,
    /// Never move the default to a weaker method ([`strength`]).
    pub no_weaker: bool,
}

impl Default for DefaultRules {
    fn default() -> Self {
        DefaultRules {
            order: FALLBACK.to_vec(),
            no_weaker: false,
        }
    }
}

/// How strong a default MFA method is: Authenticator push and OATH codes (3) over phone calls
/// and text messages (2). (E-mail, the weakest, is never a default MFA method.)
pub fn strength(method: DefaultMethod) -> u8 {
    match method {
        DefaultMethod::Push | DefaultMethod::Oath => 3,
        DefaultMethod::Sms
        | DefaultMethod::VoiceMobile
        | DefaultMethod::VoiceAlternateMobile
        | DefaultMethod::VoiceOffice => 2,
    }
}

/// Parse `--default-order`: default method names separated by commas (`push,oath,sms`), each
/// once. The error names the bad value and the valid names.
pub fn parse_order(list: &str) -> Result<Vec<DefaultMethod>, String> {
    let valid = DefaultMethod::ALL.map(DefaultMethod::as_graph).join(", ");
    let mut order = Vec::new();
    for name in list.split(',').map(str::trim) {
        if name.is_empty() {
            return Err(format!(
                "an empty name in {list:?}; the valid names are {valid}"
            ));
        }
        let Some(method) = DefaultMethod::from_graph(name) else {
            return Err(format!(
                "{name:?} is not a default method; the valid names are {valid}"
            ));
        };
        if order.contains(&method) {
            return Err(format!("{name:?} is named twice"));
        }
        order.push(method);
    }
    Ok(order)
}

/// True when `method` lets the user answer an MFA prompt of kind `default`.
pub fn serves_default(default: DefaultMethod, method: &Method) -> bool {
    match default {
        DefaultMethod::Push => method.method_type() == Some(MethodType::MicrosoftAuthenticator),
        DefaultMethod::Oath => matches!(
            method.method_type(),
            Some(MethodType::SoftwareOath | MethodType::HardwareOath)
        ),
        DefaultMethod::Sms | DefaultMethod::VoiceMobile => {
            method.phone_type() == Some(PhoneType::Mobile)
        }
        DefaultMethod::VoiceAlternateMobile => {
            method.phone_type() == Some(PhoneType::AlternateMobile)
        }
        DefaultMethod::VoiceOffice => method.phone_type() == Some(PhoneType::Office),
    }
}

/// The default a user falls back to, strongest first (the order of Microsoft's
/// system-preferred method).
const FALLBACK: [DefaultMethod; 5] = [
    DefaultMethod::Push,
    DefaultMethod::Oath,
    DefaultMethod::Sms,
    DefaultMethod::VoiceAlternateMobile,
    DefaultMethod::VoiceOffice,
];

/// What removing `removed` from `state` needs for the default method:
/// - `Ok(None)`: nothing (no known default, another method still backs it, or nothing else
///   stays so the last delete is allowed);
/// - `Ok(Some(step))`: first move the default to a method that stays;
/// - `Err((id, refusal))`: no staying method can be the default, so the last method behind it
///   (`id`) cannot be deleted; the refusal says why.
pub fn guard_default(
    state: &UserState,
    removed: &[&Method],
    rules: &DefaultRules,
) -> Result<Option<Step>, (String, Refusal)> {
    let Some(prefs) = &state.preferences else {
        return Ok(None);
    };
    let Some(default) = prefs.default_method else {
        return Ok(None);
    };
    let goes = |m: &Method| removed.iter().any(|r| r.id == m.id && r.kind == m.kind);
    let stays: Vec<&Method> = state
        .methods
        .iter()
        .filter(|m| m.kind != MethodKind::Password && !goes(m))
        .collect();
    let backing_removed: Vec<&&Method> = removed
        .iter()
        .filter(|m| serves_default(default, m))
        .collect();
    if backing_removed.is_empty()
        || stays.iter().any(|m| serves_default(default, m))
        || stays.is_empty()
    {
        return Ok(None);
    }
    let served: Vec<DefaultMethod> = rules
        .order
        .iter()
        .copied()
        .filter(|d| stays.iter().any(|m| serves_default(*d, m)))
        .collect();
    let strong_enough = |d: &DefaultMethod| !rules.no_weaker || strength(*d) >= strength(default);
    match served.iter().copied().find(strong_enough) {
        Some(fallback) => {
            let mut after = prefs.clone();
            after.default_method = Some(fallback);
            Ok(Some(preferences_step(
                prefs.describe(),
                Some(fallback),
                None,
                format!("{}, so the {default} method can go", after.describe()),
            )))
        }
        None => {
            let Some(last) = backing_removed.last() else {
                return Ok(None);
            };
            let step = super::desired::delete_change(last);
            let kinds: Vec<String> = stays.iter().map(|m| m.type_name()).collect();
            let refusal = match served.first() {
                Some(weaker) => Refusal {
                    step,
                    code: "weakerDefaultRefused",
                    message: format!(
                        "kept: it is the user's default ({default}), and the only default the \
                         methods that stay could take is weaker ({weaker}); --no-weaker-default \
                         forbids that move"
                    ),
                },
                None => Refusal {
                    step,
                    code: "defaultMethodKept",
                    message: format!(
                        "kept: it is the user's default ({default}), which Graph deletes only \
                         when no other method is left, and none of the methods that stay ({}) \
                         can become the default{}",
                        kinds.join(", "),
                        if rules.order == FALLBACK {
                            String::new()
                        } else {
                            format!(
                                " in the --default-order {}",
                                rules
                                    .order
                                    .iter()
                                    .map(|d| d.as_graph())
                                    .collect::<Vec<_>>()
                                    .join(",")
                            )
                        }
                    ),
                },
            };
            Err((last.id.clone(), refusal))
        }
    }
}
