//! Planning the QR code + PIN actions: `issue-qr-pin` (a user has a QR code PIN method: create
//! one when there is none; with `replace`, delete the one there is, then create) and
//! `reset-qr-pin` (a new temporary PIN for the method the user has). Pure, like
//! [`super::desired`], which hands these actions here.
//!
//! The QR code PIN policy ([`QrPinPolicy`], read once per run when the job issues QR codes)
//! gives the PIN length and the QR code lifetime of rows without one; a method the policy
//! disables is refused in the plan (`policyRefuses`). Sources: "Create
//! qrCodePinAuthenticationMethod" ("A user can have only one active QR code authentication
//! method ... To create a new QR code authentication method ... you must first delete existing
//! respective objects"), "Update qrPin" (the reset), "qrCodePinAuthenticationMethodConfiguration
//! resource type" (`pinLength` 8 to 20, `standardQRCodeLifetimeInDays` default 365).
//!
//! The methods list shows that a user has the method, not whether its QR code has expired: a
//! user with one, active or not, is `unchanged` unless the row asks to replace it.

use super::change::Change;
use super::desired::delete_step;
use super::state::UserState;
use super::step::{Effect, Plan, Refusal, Step, Write};
use crate::job::{Action, MethodType, QrPinParams};

/// The QR code PIN configuration's settings that shape a create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QrPinPolicy {
    /// `state` is `enabled`.
    pub enabled: bool,
    /// `pinLength`: digits of a PIN.
    pub pin_length: u32,
    /// `standardQRCodeLifetimeInDays`: the lifetime of a QR code created without one.
    pub lifetime_days: u32,
}

impl Default for QrPinPolicy {
    /// Microsoft's defaults, used when the policy cannot be read.
    fn default() -> Self {
        QrPinPolicy {
            enabled: true,
            pin_length: 8,
            lifetime_days: 365,
        }
    }
}

/// The plan of a QR code PIN action; `None` for other actions.
pub fn plan(action: &Action, state: &UserState, policy: Option<&QrPinPolicy>) -> Option<Plan> {
    match action {
        Action::IssueQrPin(params) => Some(plan_issue(state, params, policy)),
        Action::ResetQrPin => Some(plan_reset(state, policy)),
        _ => None,
    }
}

fn disabled(step: Change) -> Plan {
    Plan::Refused(Refusal {
        step,
        code: "policyRefuses",
        message: "the QR code PIN method is disabled in the authentication methods policy \
                  (qrCodePin state \"disabled\"): Graph creates no QR code or PIN"
            .into(),
    })
}

fn plan_issue(state: &UserState, params: &QrPinParams, policy: Option<&QrPinPolicy>) -> Plan {
    let existing = state.of_type(MethodType::QrCodePin).next();
    if let Some(method) = existing
        && !params.replace
    {
        return Plan::Unchanged {
            step: Change::IssueQrPin,
            state: format!(
                "has a QR code PIN method ({}); --replace (or a replace column) issues a new one",
                method.describe()
            ),
        };
    }
    let rules = policy.copied().unwrap_or_default();
    if !rules.enabled {
        return disabled(Change::IssueQrPin);
    }
    let lifetime_days = params.lifetime_days.unwrap_or(rules.lifetime_days);
    let mut steps: Vec<Step> = existing.and_then(delete_step).into_iter().collect();
    steps.push(Step {
        change: Change::IssueQrPin,
        before: existing.map(|m| m.describe()).unwrap_or_default(),
        after: format!(
            "QR code for {lifetime_days} days and a {}-digit PIN to --secrets-out",
            rules.pin_length
        ),
        write: Write::IssueQrPin {
            lifetime_days,
            pin_length: rules.pin_length,
        },
        effect: Effect::QrPinIssued,
    });
    Plan::Changes {
        steps,
        blocked: Vec::new(),
        undated: None,
    }
}

fn plan_reset(state: &UserState, policy: Option<&QrPinPolicy>) -> Plan {
    let Some(method) = state.of_type(MethodType::QrCodePin).next() else {
        return Plan::Refused(Refusal {
            step: Change::ResetQrPin,
            code: "noQrCodePinMethod",
            message: "the user has no QR code PIN method whose PIN could be reset: issue one \
                      with issue-qr-pin"
                .into(),
        });
    };
    if policy.is_some_and(|p| !p.enabled) {
        return disabled(Change::ResetQrPin);
    }
    Plan::Changes {
        steps: vec![Step {
            change: Change::ResetQrPin,
            before: method.describe(),
            after: "new temporary PIN to --secrets-out".into(),
            write: Write::ResetQrPin,
            effect: Effect::QrPinReset,
        }],
        blocked: Vec::new(),
        undated: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::state::{Method, MethodKind};

    fn qr() -> Method {
        Method {
            id: "q1".into(),
            kind: MethodKind::Other(MethodType::QrCodePin),
            display_name: None,
            created: None,
            last_used: None,
        }
    }

    fn steps(plan: &Plan) -> Vec<String> {
        plan.steps().iter().map(|s| s.change.to_string()).collect()
    }

    #[test]
    fn issue_creates_only_when_missing_and_replaces_when_asked() {
        let none = UserState::default();
        let has = UserState {
            methods: vec![qr()],
            preferences: None,
        };
        let params = QrPinParams::default();
        let p = plan(&Action::IssueQrPin(params), &none, None).unwrap();
        assert_eq!(steps(&p), ["create qrCodePin"]);
        assert_eq!(
            p.steps()[0].write,
            Write::IssueQrPin {
                lifetime_days: 365,
                pin_length: 8
            }
        );
        assert!(matches!(
            plan(&Action::IssueQrPin(params), &has, None).unwrap(),
            Plan::Unchanged { .. }
        ));
        let replace = QrPinParams {
            replace: true,
            lifetime_days: Some(30),
        };
        let policy = QrPinPolicy {
            pin_length: 12,
            ..QrPinPolicy::default()
        };
        let p = plan(&Action::IssueQrPin(replace), &has, Some(&policy)).unwrap();
        assert_eq!(steps(&p), ["delete qrCodePin q1", "create qrCodePin"]);
        assert_eq!(
            p.steps()[1].write,
            Write::IssueQrPin {
                lifetime_days: 30,
                pin_length: 12
            }
        );
        // Planned against the state after its steps, the row is done.
        let mut after = has.clone();
        p.steps().iter().for_each(|s| after.apply(&s.effect));
        assert!(matches!(
            plan(&Action::IssueQrPin(params), &after, None).unwrap(),
            Plan::Unchanged { .. }
        ));
    }

    #[test]
    fn reset_needs_a_method_and_a_disabled_policy_refuses_both() {
        let none = UserState::default();
        let refused = plan(&Action::ResetQrPin, &none, None).unwrap();
        assert!(matches!(refused, Plan::Refused(r) if r.code == "noQrCodePinMethod"));
        let has = UserState {
            methods: vec![qr()],
            preferences: None,
        };
        assert_eq!(
            steps(&plan(&Action::ResetQrPin, &has, None).unwrap()),
            ["reset qrCodePin pin"]
        );
        let off = QrPinPolicy {
            enabled: false,
            ..QrPinPolicy::default()
        };
        for (action, state) in [
            (Action::ResetQrPin, &has),
            (Action::IssueQrPin(QrPinParams::default()), &none),
        ] {
            let p = plan(&action, state, Some(&off)).unwrap();
            assert!(matches!(p, Plan::Refused(r) if r.code == "policyRefuses"));
        }
    }
}
