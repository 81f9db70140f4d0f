//! The tenant's authentication methods policy, as far as it decides whether Graph accepts a
//! row's write: the Temporary Access Pass configuration (enabled or not, lifetime bounds) and
//! the SMS configuration (enabled or not, whether any target may sign in with a text message).
//! The run reads both once, before planning ([`crate::graph::methods::parse_tap_policy`],
//! [`crate::graph::methods::parse_sms_policy`]); [`super::desired::plan_with`] then refuses in
//! the plan what the policy will refuse (code `policyRefuses`, a stable refusal: `skipped`), so
//! no request is sent for it and a dry run predicts the apply.
//!
//! Sources: "temporaryAccessPassAuthenticationMethodConfiguration resource type" (`state`,
//! `minimumLifetimeInMinutes`, `maximumLifetimeInMinutes`, `isUsableOnce`, `includeTargets`,
//! `excludeTargets`), "smsAuthenticationMethodConfiguration resource type" and
//! "smsAuthenticationMethodTarget resource type" (`isUsableForSignIn`).
//!
//! Decided here: the method disabled; a pass lifetime outside the bounds; SMS sign-in when no
//! include target allows it. Not decided here (Graph decides, and the report shows its answer):
//! whether a user is in the include or exclude groups, because that needs each user's group
//! memberships (a read per user or of every member of every target group); and one-time use:
//! a policy with `isUsableOnce` true makes every pass one-time instead of refusing a multi-use
//! request, so there is nothing to refuse.

use super::change::Change;
use super::step::Refusal;
use crate::job::{Action, TapParams};

/// The TAP configuration's settings that decide a create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapPolicy {
    /// `state` is `enabled`.
    pub enabled: bool,
    /// `minimumLifetimeInMinutes`.
    pub min_minutes: u32,
    /// `maximumLifetimeInMinutes`.
    pub max_minutes: u32,
}

/// The SMS configuration's settings that decide enabling SMS sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsPolicy {
    /// `state` is `enabled`.
    pub enabled: bool,
    /// Some include target has `isUsableForSignIn` true (or unset).
    pub sign_in_for_some: bool,
}

/// The policy as the run read it; a part that could not be read is `None` and decides nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MethodsPolicy {
    /// The Temporary Access Pass configuration.
    pub tap: Option<TapPolicy>,
    /// The SMS configuration.
    pub sms: Option<SmsPolicy>,
}

/// True when the authentication methods policy decides `action`'s writes: `issue-tap`,
/// `reset-mfa` with a pass, `enable-sms-signin`. A run reads the policy only for such jobs.
pub fn governs(action: &Action) -> bool {
    matches!(
        action,
        Action::IssueTap(_)
            | Action::ResetMfa {
                issue_tap: Some(_),
                ..
            }
            | Action::EnableSmsSignIn
    )
}

/// The code of a policy refusal.
pub const POLICY_REFUSES: &str = "policyRefuses";

impl MethodsPolicy {
    /// Why the policy refuses a pass with `params`, if it does.
    pub fn refuses_tap(&self, params: &TapParams) -> Option<Refusal> {
        let tap = self.tap.as_ref()?;
        let message = if !tap.enabled {
            "the Temporary Access Pass method is disabled in the tenant's authentication methods \
             policy: no pass can be created"
                .to_string()
        } else {
            let lifetime = params.lifetime_minutes?;
            if (tap.min_minutes..=tap.max_minutes).contains(&lifetime) {
                return None;
            }
            format!(
                "a pass of {lifetime} minutes is outside the tenant's Temporary Access Pass \
                 policy ({} to {} minutes): ask for a lifetime within it",
                tap.min_minutes, tap.max_minutes
            )
        };
        Some(Refusal {
            step: Change::IssueTap,
            code: POLICY_REFUSES,
            message,
        })
    }

    /// Why the policy refuses enabling SMS sign-in, if it does.
    pub fn refuses_sms_sign_in(&self) -> Option<Refusal> {
        let sms = self.sms.as_ref()?;
        let message = if !sms.enabled {
            "the text message (SMS) method is disabled in the tenant's authentication methods \
             policy, so SMS sign-in cannot be enabled"
        } else if !sms.sign_in_for_some {
            "the tenant's authentication methods policy allows text messages for no one to sign \
             in with (no target has isUsableForSignIn), so SMS sign-in cannot be enabled"
        } else {
            return None;
        };
        Some(Refusal {
            step: Change::SmsSignIn { on: true },
            code: POLICY_REFUSES,
            message: message.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tap(lifetime: Option<u32>) -> TapParams {
        TapParams {
            lifetime_minutes: lifetime,
            usable_once: None,
            start_time: None,
        }
    }

    #[test]
    fn a_lifetime_outside_the_bounds_or_a_disabled_method_is_refused() {
        let mut policy = MethodsPolicy {
            tap: Some(TapPolicy {
                enabled: true,
                min_minutes: 60,
                max_minutes: 120,
            }),
            sms: None,
        };
        assert!(policy.refuses_tap(&tap(Some(60))).is_none());
        assert!(policy.refuses_tap(&tap(Some(120))).is_none());
        // Without a lifetime Graph takes the policy's default, which is within the bounds.
        assert!(policy.refuses_tap(&tap(None)).is_none());
        let long = policy.refuses_tap(&tap(Some(121))).unwrap();
        assert_eq!(long.code, "policyRefuses");
        assert!(long.is_stable());
        assert!(
            long.message.contains("60 to 120 minutes"),
            "{}",
            long.message
        );
        assert!(policy.refuses_tap(&tap(Some(59))).is_some());
        policy.tap.as_mut().unwrap().enabled = false;
        let off = policy.refuses_tap(&tap(None)).unwrap();
        assert!(off.message.contains("disabled"), "{}", off.message);
        assert!(
            MethodsPolicy::default()
                .refuses_tap(&tap(Some(99_999)))
                .is_none()
        );
    }

    #[test]
    fn sms_sign_in_is_refused_when_disabled_or_usable_for_no_one() {
        let policy = |enabled, sign_in_for_some| MethodsPolicy {
            tap: None,
            sms: Some(SmsPolicy {
                enabled,
                sign_in_for_some,
            }),
        };
        assert!(policy(true, true).refuses_sms_sign_in().is_none());
        assert!(policy(false, true).refuses_sms_sign_in().is_some());
        assert!(policy(true, false).refuses_sms_sign_in().is_some());
        assert!(MethodsPolicy::default().refuses_sms_sign_in().is_none());
    }
}
