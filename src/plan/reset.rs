//! `reset-mfa` planning: delete every method but the password, the default method last, then
//! revoke sessions and issue a temporary access pass when the row asks. Graph refuses to delete
//! the default method while other methods remain (400 `badRequest`, graph-contract.md, "Rules"),
//! so the order matters. When `signInPreferences` were readable the default goes last; when
//! not, the order follows the usual defaults (Authenticator last) and [`super::apply`] retries a
//! delete refused as the default after the others. Called by [`super::desired`].

use super::change::Change;
use super::default::serves_default;
use super::desired::{delete_change, delete_step, issue_tap_step, preferences_step, revoke_step};
use super::state::{Method, MethodKind, UserState};
use super::step::{Plan, Refusal, Step};
use crate::job::{DefaultMethod, MethodType, PhoneType, TapParams};

/// Position of a method in the heuristic order used when the default is not known: types that
/// can never be the default first, then the phones (alternateMobile before mobile, which it
/// needs), then OATH, then Authenticator, the most common default.
fn heuristic_rank(method: &Method) -> u8 {
    match method.method_type() {
        Some(MethodType::Phone) => match method.phone_type() {
            Some(PhoneType::Office) => 1,
            Some(PhoneType::AlternateMobile) => 2,
            _ => 4,
        },
        Some(MethodType::SoftwareOath | MethodType::HardwareOath) => 5,
        Some(MethodType::MicrosoftAuthenticator) => 6,
        _ => 0,
    }
}

/// Plan `reset-mfa`.
///
/// With `issue_tap`, the reset counts as done when only the password and a usable pass remain,
/// so a second run changes nothing; otherwise existing passes are deleted with the rest (a pass
/// is a method too, and Graph keeps the default while any other method remains) and the new
/// pass comes last. `revoke_sessions` and the pass follow only a reset that changed something.
pub(super) fn plan_reset(
    state: &UserState,
    revoke_sessions: bool,
    issue_tap: Option<&TapParams>,
) -> Plan {
    let is_tap = |m: &Method| m.method_type() == Some(MethodType::TemporaryAccessPass);
    let mut removable: Vec<&Method> = state
        .methods
        .iter()
        .filter(|m| m.method_type().is_some())
        .collect();
    let mut blocked: Vec<Refusal> = state
        .methods
        .iter()
        .filter_map(|m| match &m.kind {
            MethodKind::Unknown { odata_type } => Some(Refusal {
                step: delete_change(m),
                code: "unsupportedMethodType",
                message: format!(
                    "this version of authbulk knows no Graph collection that deletes `{odata_type}`: \
                     remove it in the Entra admin center"
                ),
            }),
            _ => None,
        })
        .collect();

    let mut default = state.preferences.as_ref().and_then(|p| p.default_method);
    let has = |t: PhoneType| removable.iter().any(|m| m.phone_type() == Some(t));
    // The alternateMobile can't go last (the default) and also before the mobile (which it
    // needs): make the mobile the default first, then it goes last.
    let move_to_mobile = default == Some(DefaultMethod::VoiceAlternateMobile)
        && has(PhoneType::AlternateMobile)
        && has(PhoneType::Mobile);
    if move_to_mobile {
        default = Some(DefaultMethod::VoiceMobile);
    }
    // Stable sort: Graph's order within a rank.
    removable.sort_by_key(|m| match default {
        Some(d) if serves_default(d, m) => 10,
        _ => heuristic_rank(m),
    });
    // Graph deletes the default method only as the last one left (graph-contract.md, "Rules").
    // When methods this version cannot delete stay, the last method that backs a known default
    // can never go: report it kept instead of sending a delete that must fail.
    if !blocked.is_empty()
        && let Some(d) = default
        && removable.last().is_some_and(|m| serves_default(d, m))
        && let Some(kept) = removable.pop()
    {
        let stays: Vec<&str> = state
            .methods
            .iter()
            .filter_map(|m| match &m.kind {
                MethodKind::Unknown { odata_type } => Some(odata_type.as_str()),
                _ => None,
            })
            .collect();
        blocked.insert(
            0,
            Refusal {
                step: delete_change(kept),
                code: "defaultMethodKept",
                message: format!(
                    "kept: it is the user's default ({d}), which Graph deletes only when no other \
                     method is left, and the user keeps {} that authbulk cannot delete",
                    stays.join(", ")
                ),
            },
        );
    }
    let only_taps_left = removable.iter().all(|m| is_tap(m));
    if issue_tap.is_some() && only_taps_left {
        // Nothing but passes: a new pass replaces them, deleting them first gains nothing.
        removable.clear();
    }
    let has_usable_tap = state.methods.iter().any(|m| {
        matches!(
            m.kind,
            MethodKind::TemporaryAccessPass { usable, .. } if usable != Some(false)
        )
    });
    let needs_tap = issue_tap.is_some() && (!removable.is_empty() || !has_usable_tap);
    if removable.is_empty() && !needs_tap && blocked.is_empty() {
        return Plan::Unchanged {
            step: Change::ResetMfa,
            state: if issue_tap.is_some() && has_usable_tap {
                "only the password and a usable temporary access pass".into()
            } else {
                "only the password".into()
            },
        };
    }

    let mut steps: Vec<Step> = Vec::new();
    if move_to_mobile && !removable.is_empty() {
        let before = state
            .preferences
            .as_ref()
            .map(|p| p.describe())
            .unwrap_or_default();
        steps.push(preferences_step(
            before,
            Some(DefaultMethod::VoiceMobile),
            None,
            "voiceMobile, to delete the phones in order".into(),
        ));
    }
    steps.extend(removable.into_iter().filter_map(delete_step));
    if revoke_sessions && (!steps.is_empty() || needs_tap) {
        steps.push(revoke_step());
    }
    if let Some(params) = issue_tap
        && needs_tap
    {
        steps.push(issue_tap_step(params));
    }
    Plan::Changes {
        steps,
        blocked,
        undated: None,
    }
}
