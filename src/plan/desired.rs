//! Planning: `(action, user state, now) -> Plan`. Pure: compares the desired state an action
//! describes with the user's current state and lists the concrete steps that close the gap,
//! each with its [`Change`] and the [`Write`] it asks of Graph (no HTTP here: a delete names
//! the method's type and id, and `crate::graph::requests` sends it to the typed collection).
//! `reset-mfa` lives in `reset`. Called by [`super::apply`] and by tests.
use super::change::Change;
use super::default::{DefaultRules, guard_default, serves_default};
use super::policy::MethodsPolicy;
use super::reset;
use super::rules::PlanRules;
use super::select::choose_dated;
use super::state::{Method, UserState, same_number};
use super::step::{Effect, Listed, Plan, Refusal, Step, Undated, Write};
use crate::job::{
    Action, DefaultMethod, MethodType, PhoneSelector, PhoneType, Selector, TapParams,
};
use chrono::{DateTime, Utc};

/// Plan `action` for a user whose state is `state`, at time `now` (for `older_than` and
/// `unused_for`), under `rules` (how a default moves, the methods policy).
pub fn plan_with(
    action: &Action,
    state: &UserState,
    now: DateTime<Utc>,
    rules: &PlanRules,
) -> Plan {
    if let Some(plan) = super::qr_pin::plan(action, state, rules.qr_pin.as_ref()) {
        return plan;
    }
    let plan = plan_default_rules(action, state, now, &rules.default);
    match &rules.policy {
        Some(policy) => policy_refusals(action, plan, policy),
        None => plan,
    }
}

/// `plan` turned into a refusal where the authentication methods policy refuses its write
/// (`super::policy`): a pass it will not create (an `issue-tap` row, or a `reset-mfa` row that
/// asks for one: deleting every method without the pass would lock the user out, so the whole
/// reset is refused), SMS sign-in it does not allow.
fn policy_refusals(action: &Action, plan: Plan, policy: &MethodsPolicy) -> Plan {
    let issues_tap = plan.steps().iter().any(|s| s.change == Change::IssueTap);
    match action {
        Action::IssueTap(params)
        | Action::ResetMfa {
            issue_tap: Some(params),
            ..
        } if issues_tap => match policy.refuses_tap(params) {
            Some(mut refusal) => {
                if matches!(action, Action::ResetMfa { .. }) {
                    refusal.step = Change::ResetMfa;
                    refusal.message.push_str(
                        "; nothing was removed, so the user is not left without a way to sign in",
                    );
                }
                Plan::Refused(refusal)
            }
            None => plan,
        },
        Action::EnableSmsSignIn => {
            let enables = plan
                .steps()
                .iter()
                .any(|s| s.change == Change::SmsSignIn { on: true });
            let refused_by_policy =
                matches!(&plan, Plan::Refused(r) if r.code == "smsSignInNotAllowedByPolicy");
            match policy.refuses_sms_sign_in() {
                Some(refusal) if enables || refused_by_policy => Plan::Refused(refusal),
                _ => plan,
            }
        }
        _ => plan,
    }
}

fn plan_default_rules(
    action: &Action,
    state: &UserState,
    now: DateTime<Utc>,
    defaults: &DefaultRules,
) -> Plan {
    match action {
        Action::List => Plan::Listing(
            state
                .methods
                .iter()
                .map(|m| Listed {
                    step: Change::ListMethod {
                        method: m.name(),
                        id: m.id.clone(),
                    },
                    description: m.describe(),
                })
                .collect(),
        ),
        Action::SetPhone { phone_type, number } => set_phone(state, *phone_type, number),
        Action::RemovePhone(selector) => remove_phone(state, *selector, defaults),
        Action::SetEmail { address } => set_email(state, address),
        Action::RemoveEmail => match state.email() {
            Some((method, _)) => changes(delete_step(method).into_iter().collect()),
            None => Plan::Unchanged {
                step: Change::RemoveEmail,
                state: "no email method".into(),
            },
        },
        Action::RemoveAuthenticator(selector) => remove_methods(
            state,
            MethodType::MicrosoftAuthenticator,
            selector,
            now,
            defaults,
        ),
        Action::RemoveMethod {
            method_type,
            select,
        } => remove_methods(state, *method_type, select, now, defaults),
        Action::ResetMfa {
            revoke_sessions,
            issue_tap,
        } => reset::plan_reset(state, *revoke_sessions, issue_tap.as_ref()),
        Action::IssueTap(params) => changes(vec![issue_tap_step(params)]),
        Action::SetDefault {
            method,
            system_preferred,
        } => set_default(state, *method, *system_preferred),
        Action::EnableSmsSignIn => sms_sign_in(state, true),
        Action::DisableSmsSignIn => sms_sign_in(state, false),
        Action::RevokeSessions => changes(vec![revoke_step()]),
        Action::IssueQrPin(_) | Action::ResetQrPin => {
            super::qr_pin::plan(action, state, None).unwrap_or_else(|| changes(Vec::new()))
        }
        // Planned against the token inventory, not the user's methods: `super::oath`.
        // [`super::apply`] reads the token and plans these with `super::oath::plan`.
        Action::AssignOathToken { serial, .. } | Action::UnassignOathToken { serial } => {
            Plan::Refused(Refusal {
                step: Change::ReadOathToken {
                    serial: serial.clone(),
                },
                code: "tokenNotRead",
                message: "a hardware OATH token is planned against the token inventory".into(),
            })
        }
    }
}

/// A plan of steps with nothing blocked.
fn changes(steps: Vec<Step>) -> Plan {
    Plan::Changes {
        steps,
        blocked: Vec::new(),
        undated: None,
    }
}

fn set_phone(state: &UserState, phone_type: PhoneType, number: &str) -> Plan {
    let effect = Effect::PhoneSet {
        phone_type,
        number: number.to_string(),
    };
    match state.phone_details(phone_type) {
        Some((_, current, _)) if same_number(current, number) => Plan::Unchanged {
            step: Change::SetPhone { phone_type },
            state: current.to_string(),
        },
        Some((method, current, _)) => changes(vec![Step {
            change: Change::UpdatePhone { phone_type },
            before: current.to_string(),
            after: number.to_string(),
            write: Write::UpdatePhone {
                id: method.id.clone(),
                number: number.to_string(),
            },
            effect,
        }]),
        None if phone_type == PhoneType::AlternateMobile
            && state.phone(PhoneType::Mobile).is_none() =>
        {
            Plan::Refused(Refusal {
                step: Change::CreatePhone {
                    phone_type: PhoneType::AlternateMobile,
                },
                code: "alternateMobileNeedsMobile",
                message: "an alternateMobile phone needs a mobile phone: set the mobile first \
                          (a set-phone row with phone_type mobile before this one)"
                    .into(),
            })
        }
        None => changes(vec![Step {
            change: Change::CreatePhone { phone_type },
            before: String::new(),
            after: number.to_string(),
            write: Write::CreatePhone {
                phone_type,
                number: number.to_string(),
            },
            effect,
        }]),
    }
}

fn remove_phone(state: &UserState, selector: PhoneSelector, rules: &DefaultRules) -> Plan {
    match selector {
        PhoneSelector::One(phone_type) => {
            let Some(method) = state.phone(phone_type) else {
                return Plan::Unchanged {
                    step: Change::RemovePhone { selector },
                    state: format!("no {phone_type} phone"),
                };
            };
            if phone_type == PhoneType::Mobile && state.phone(PhoneType::AlternateMobile).is_some()
            {
                return Plan::Refused(mobile_needed_refusal());
            }
            removals(state, vec![method], rules)
        }
        PhoneSelector::All => {
            // alternateMobile needs the mobile, so it goes before it (graph-contract.md, "Rules").
            let phones: Vec<&Method> = [
                PhoneType::AlternateMobile,
                PhoneType::Office,
                PhoneType::Mobile,
            ]
            .into_iter()
            .filter_map(|t| state.phone(t))
            .collect();
            if phones.is_empty() {
                Plan::Unchanged {
                    step: Change::RemovePhone { selector },
                    state: "no phones".into(),
                }
            } else {
                removals(state, phones, rules)
            }
        }
    }
}

fn mobile_needed_refusal() -> Refusal {
    Refusal {
        step: Change::DeletePhone {
            phone_type: PhoneType::Mobile,
        },
        code: "mobileNeededByAlternateMobile",
        message: "the user's alternateMobile phone needs the mobile phone: remove the \
                  alternateMobile first (remove-phone alternateMobile, or remove-phone all)"
            .into(),
    }
}

fn set_email(state: &UserState, address: &str) -> Plan {
    let effect = Effect::EmailSet {
        address: address.to_string(),
    };
    match state.email() {
        // Addresses differ only in case: the mailbox is the same, so nothing to do.
        Some((_, current)) if current.eq_ignore_ascii_case(address) => Plan::Unchanged {
            step: Change::SetEmail,
            state: current.to_string(),
        },
        Some((method, current)) => changes(vec![Step {
            change: Change::UpdateEmail,
            before: current.to_string(),
            after: address.to_string(),
            write: Write::UpdateEmail {
                id: method.id.clone(),
                address: address.to_string(),
            },
            effect,
        }]),
        None => changes(vec![Step {
            change: Change::CreateEmail,
            before: String::new(),
            after: address.to_string(),
            write: Write::CreateEmail {
                address: address.to_string(),
            },
            effect,
        }]),
    }
}

fn remove_methods(
    state: &UserState,
    method_type: MethodType,
    selector: &Selector,
    now: DateTime<Utc>,
    rules: &DefaultRules,
) -> Plan {
    let candidates: Vec<&Method> = state.of_type(method_type).collect();
    let (mut chosen, left) = choose_dated(selector, &candidates, now);
    let undated = (left > 0).then(|| Undated {
        method_type,
        count: u32::try_from(left).unwrap_or(u32::MAX),
    });
    if chosen.is_empty() {
        return match undated {
            Some(undated) => Plan::Unchanged {
                step: undated.change(),
                state: undated.describe(),
            },
            None => Plan::Unchanged {
                step: Change::RemoveMethods { method_type },
                state: match candidates.len() {
                    0 => format!("no {method_type} methods"),
                    n => format!("{n} {method_type} method(s), none selected"),
                },
            },
        };
    }
    if method_type == MethodType::Phone {
        let removes = |t: PhoneType| chosen.iter().any(|m| m.phone_type() == Some(t));
        if removes(PhoneType::Mobile)
            && !removes(PhoneType::AlternateMobile)
            && state.phone(PhoneType::AlternateMobile).is_some()
        {
            return Plan::Refused(mobile_needed_refusal());
        }
        chosen.sort_by_key(|m| m.phone_type() == Some(PhoneType::Mobile));
    }
    match removals(state, chosen, rules) {
        Plan::Changes { steps, blocked, .. } => Plan::Changes {
            steps,
            blocked,
            undated,
        },
        other => other,
    }
}

/// The plan that deletes `methods` in order, keeping the default method deletable: when they
/// take the last method behind the user's default while other methods stay, Graph refuses the
/// delete (graph-contract.md, "Rules"), so the default first moves to a method that stays, or,
/// when none can take it, that one delete is reported blocked.
fn removals(state: &UserState, mut methods: Vec<&Method>, rules: &DefaultRules) -> Plan {
    let mut steps = Vec::new();
    let mut blocked = Vec::new();
    match guard_default(state, &methods, rules) {
        Ok(Some(step)) => steps.push(step),
        Ok(None) => {}
        Err((kept, refusal)) => {
            methods.retain(|m| m.id != kept);
            blocked.push(refusal);
        }
    }
    steps.extend(methods.into_iter().filter_map(delete_step));
    Plan::Changes {
        steps,
        blocked,
        undated: None,
    }
}

/// The change that deletes `method` (any method, so a refusal can name one of an unknown type).
pub(super) fn delete_change(method: &Method) -> Change {
    Change::delete(method.name(), method.phone_type(), &method.id)
}

/// The step that deletes `method` through its typed collection; `None` for the password and
/// unknown types, which have none.
pub(super) fn delete_step(method: &Method) -> Option<Step> {
    let method_type = method.method_type()?;
    Some(Step {
        change: delete_change(method),
        before: method.describe(),
        after: String::new(),
        write: Write::Delete {
            method_type,
            id: method.id.clone(),
        },
        effect: Effect::MethodRemoved {
            method_type,
            id: method.id.clone(),
        },
    })
}

/// The step that creates a temporary access pass.
pub(super) fn issue_tap_step(params: &TapParams) -> Step {
    let mut after = vec!["pass to --tap-out".to_string()];
    if let Some(minutes) = params.lifetime_minutes {
        after.push(format!("{minutes} min"));
    }
    if params.usable_once == Some(true) {
        after.push("usable once".into());
    }
    if let Some(start) = params.start_time {
        after.push(format!("from {}", start.format("%Y-%m-%d %H:%M")));
    }
    Step {
        change: Change::IssueTap,
        before: String::new(),
        after: after.join(", "),
        write: Write::IssueTap(params.clone()),
        effect: Effect::TapIssued,
    }
}

/// The step that revokes the user's sessions.
pub(super) fn revoke_step() -> Step {
    Step {
        change: Change::RevokeSessions,
        before: String::new(),
        after: "refresh tokens revoked".into(),
        write: Write::RevokeSessions,
        effect: Effect::SessionsRevoked,
    }
}

/// The step that sets `signInPreferences` (beta only).
pub(super) fn preferences_step(
    before: String,
    method: Option<DefaultMethod>,
    system_preferred: Option<bool>,
    after: String,
) -> Step {
    Step {
        change: Change::SetDefaultMethod,
        before,
        after,
        write: Write::SetPreferences {
            method,
            system_preferred,
        },
        effect: Effect::Preferences {
            method,
            system_preferred,
        },
    }
}

fn set_default(
    state: &UserState,
    method: Option<DefaultMethod>,
    system_preferred: Option<bool>,
) -> Plan {
    let Some(current) = &state.preferences else {
        return Plan::Refused(Refusal {
            step: Change::SetDefaultMethod,
            code: "preferencesUnknown",
            message: "the user's signInPreferences (beta) could not be read".into(),
        });
    };
    let method = method.filter(|m| current.default_method != Some(*m));
    let system_preferred = system_preferred.filter(|f| current.system_preferred != Some(*f));
    if method.is_none() && system_preferred.is_none() {
        return Plan::Unchanged {
            step: Change::SetDefaultMethod,
            state: current.describe(),
        };
    }
    if let Some(wanted) = method
        && !state.methods.iter().any(|m| serves_default(wanted, m))
    {
        return Plan::Refused(Refusal {
            step: Change::SetDefaultMethod,
            code: "defaultMethodNotRegistered",
            message: format!(
                "the user has no method that can serve as the default `{wanted}`: register it first"
            ),
        });
    }
    let mut after = current.clone();
    if method.is_some() {
        after.default_method = method;
    }
    if system_preferred.is_some() {
        after.system_preferred = system_preferred;
    }
    Plan::Changes {
        steps: vec![preferences_step(
            current.describe(),
            method,
            system_preferred,
            after.describe(),
        )],
        blocked: Vec::new(),
        undated: None,
    }
}

fn sms_sign_in(state: &UserState, on: bool) -> Plan {
    let target = if on { "ready" } else { "notEnabled" };
    let Some((method, _, current)) = state.phone_details(PhoneType::Mobile) else {
        return if on {
            Plan::Refused(Refusal {
                step: Change::SmsSignIn { on: true },
                code: "noMobilePhone",
                message: "SMS sign-in works only on a mobile phone and the user has none: \
                          set the mobile first"
                    .into(),
            })
        } else {
            Plan::Unchanged {
                step: Change::SmsSignIn { on: false },
                state: "no mobile phone".into(),
            }
        };
    };
    let done = if on {
        *current == super::state::SmsSignInState::Ready
    } else {
        current.is_off()
    };
    if done {
        return Plan::Unchanged {
            step: Change::SmsSignIn { on },
            state: current.as_graph().to_string(),
        };
    }
    // The service refuses to enable SMS sign-in on a number another user shares or when the
    // policy forbids it (graph-contract.md, "Rules"): say so in the plan, so a dry run
    // predicts the apply instead of planning a write that must fail.
    let refused = match current {
        super::state::SmsSignInState::PhoneNumberNotUnique => Some((
            "phoneNumberNotUnique",
            "another user has the same mobile number, so SMS sign-in cannot be enabled: give              the user a unique mobile number first",
        )),
        super::state::SmsSignInState::NotAllowedByPolicy => Some((
            "smsSignInNotAllowedByPolicy",
            "the tenant's authentication methods policy does not allow SMS sign-in for this              user",
        )),
        _ => None,
    };
    if on && let Some((code, message)) = refused {
        return Plan::Refused(Refusal {
            step: Change::SmsSignIn { on: true },
            code,
            message: message.into(),
        });
    }
    changes(vec![Step {
        change: Change::SmsSignIn { on },
        before: current.as_graph().to_string(),
        after: target.to_string(),
        write: Write::SmsSignIn {
            phone_id: method.id.clone(),
            on,
        },
        effect: Effect::SmsSignIn(on),
    }])
}

#[cfg(test)]
#[path = "desired_tests.rs"]
mod tests;
