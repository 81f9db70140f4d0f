//! The default MFA method's rules for planning: which methods back a default, and how removals
//! keep the default deletable. Graph refuses to delete the last method behind the user's
//! default while other methods remain (400 `badRequest`, graph-contract.md, "Rules"). Called by
//! [`super::desired`] and `reset`.

use super::desired::preferences_step;
use super::state::{Method, MethodKind, UserState};
use super::step::{Refusal, Step};
use crate::job::{DefaultMethod, MethodType, PhoneType};

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
    match FALLBACK
        .into_iter()
        .find(|d| stays.iter().any(|m| serves_default(*d, m)))
    {
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
            Err((
                last.id.clone(),
                Refusal {
                    step,
                    code: "defaultMethodKept",
                    message: format!(
                        "kept: it is the user's default ({default}), which Graph deletes only \
                         when no other method is left, and none of the methods that stay ({}) \
                         can become the default",
                        kinds.join(", ")
                    ),
                },
            ))
        }
    }
}
