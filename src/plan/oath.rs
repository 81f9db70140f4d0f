//! Hardware OATH tokens as desired state: `assign-oath-token` (the user holds the token with this
//! serial number, activated when the row gives a verification code) and `unassign-oath-token`
//! (the user does not hold it), planned against the token as the tenant's inventory shows it
//! (`hardwareOathTokenAuthenticationMethodDevice`: `id`, `status`, `assignedTo`), not against
//! the user's methods. Pure; [`super::apply`] reads the token (`crate::graph::oath`) and carries
//! the steps out.
//!
//! A token held by another user is a refusal (`tokenHeldByAnotherUser`): taking it from them is
//! an unassign row for that user first. A token missing from the inventory is refused
//! (`tokenNotInInventory`: import it with `authbulk tokens import`).

use super::change::Change;
use super::step::{Effect, Plan, Refusal, Step, Write};
use crate::job::Action;

/// A token of the inventory, as the planner needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Its id in the inventory (the holder's method has the same id).
    pub id: String,
    /// Its serial number.
    pub serial: String,
    /// `available`, `assigned`, `activated`, `failedActivation` (or a newer value).
    pub status: String,
    /// The object id of the user who holds it.
    pub assigned_to: Option<String>,
    /// That user's display name, when Graph gives it.
    pub assigned_to_name: Option<String>,
}

impl Token {
    fn held_by(&self, user_id: &str) -> bool {
        self.assigned_to
            .as_deref()
            .is_some_and(|holder| holder.eq_ignore_ascii_case(user_id))
    }

    /// `held by <name> (<id>)` or `available`, with the status.
    pub fn describe(&self) -> String {
        match (&self.assigned_to, &self.assigned_to_name) {
            (Some(id), Some(name)) => format!("{}, held by {name} ({id})", self.status),
            (Some(id), None) => format!("{}, held by {id}", self.status),
            (None, _) => self.status.clone(),
        }
    }
}

/// Plan an `assign-oath-token` or `unassign-oath-token` row for the user `user_id`, against
/// `token` (`None`: no token with the row's serial number is in the inventory).
pub fn plan(action: &Action, token: Option<&Token>, user_id: &str) -> Plan {
    let (serial, code, assign) = match action {
        Action::AssignOathToken { serial, code } => (serial, code.as_ref(), true),
        Action::UnassignOathToken { serial } => (serial, None, false),
        _ => unreachable!("oath::plan is called for the hardware OATH actions only"),
    };
    let check = if assign {
        Change::AssignOathToken {
            serial: serial.clone(),
        }
    } else {
        Change::UnassignOathToken {
            serial: serial.clone(),
        }
    };
    let Some(token) = token else {
        return Plan::Refused(Refusal {
            step: check,
            code: "tokenNotInInventory",
            message: format!(
                "no hardware OATH token with serial number {serial} is in the tenant's \
                 inventory: import it first (authbulk tokens import)"
            ),
        });
    };
    if !assign {
        if !token.held_by(user_id) {
            return Plan::Unchanged {
                step: check,
                state: format!("not held by this user ({})", token.describe()),
            };
        }
        return Plan::Changes {
            steps: vec![Step {
                change: check,
                before: token.describe(),
                after: "available".into(),
                write: Write::UnassignOathToken {
                    device_id: token.id.clone(),
                },
                effect: Effect::OathToken,
            }],
            blocked: Vec::new(),
            undated: None,
        };
    }
    if token.assigned_to.is_some() && !token.held_by(user_id) {
        return Plan::Refused(Refusal {
            step: check,
            code: "tokenHeldByAnotherUser",
            message: format!(
                "the hardware OATH token {serial} is {}: unassign it from that user first",
                token.describe()
            ),
        });
    }
    let mut steps = Vec::new();
    let held = token.held_by(user_id);
    if !held {
        steps.push(Step {
            change: check.clone(),
            before: token.describe(),
            after: "assigned".into(),
            write: Write::AssignOathToken {
                device_id: token.id.clone(),
            },
            effect: Effect::OathToken,
        });
    }
    if let Some(code) = code
        && !token.status.eq_ignore_ascii_case("activated")
    {
        steps.push(Step {
            change: Change::ActivateOathToken {
                serial: serial.clone(),
            },
            before: if held {
                token.status.clone()
            } else {
                "assigned".into()
            },
            after: "activated".into(),
            write: Write::ActivateOathToken {
                device_id: token.id.clone(),
                code: code.clone(),
            },
            effect: Effect::OathToken,
        });
    }
    if steps.is_empty() {
        return Plan::Unchanged {
            step: check,
            state: format!("held by this user, {}", token.status),
        };
    }
    Plan::Changes {
        steps,
        blocked: Vec::new(),
        undated: None,
    }
}

/// Whether `token` (re-read after a write whose answer was lost) shows `write` done for
/// `user_id`.
pub fn shows(write: &Write, token: Option<&Token>, user_id: &str) -> bool {
    match write {
        Write::AssignOathToken { .. } => token.is_some_and(|t| t.held_by(user_id)),
        Write::ActivateOathToken { .. } => {
            token.is_some_and(|t| t.held_by(user_id) && t.status.eq_ignore_ascii_case("activated"))
        }
        Write::UnassignOathToken { .. } => token.is_none_or(|t| !t.held_by(user_id)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::OathCode;

    fn token(holder: Option<&str>, status: &str) -> Token {
        Token {
            id: "dev1".into(),
            serial: "S1".into(),
            status: status.into(),
            assigned_to: holder.map(str::to_string),
            assigned_to_name: None,
        }
    }

    fn assign(code: bool) -> Action {
        Action::AssignOathToken {
            serial: "S1".into(),
            code: code.then(|| OathCode::parse("123456").unwrap()),
        }
    }

    fn changes(plan: &Plan) -> Vec<String> {
        plan.steps().iter().map(|s| s.change.to_string()).collect()
    }

    #[test]
    fn an_available_token_is_assigned_then_activated_when_a_code_is_given() {
        let available = token(None, "available");
        assert_eq!(
            changes(&plan(&assign(false), Some(&available), "u")),
            ["assign hardwareOath token S1"]
        );
        assert_eq!(
            changes(&plan(&assign(true), Some(&available), "u")),
            [
                "assign hardwareOath token S1",
                "activate hardwareOath token S1"
            ]
        );
    }

    #[test]
    fn a_held_token_is_unchanged_or_only_activated_and_another_holder_refuses() {
        let held = token(Some("U"), "assigned");
        assert!(matches!(
            plan(&assign(false), Some(&held), "u"),
            Plan::Unchanged { .. }
        ));
        assert_eq!(
            changes(&plan(&assign(true), Some(&held), "u")),
            ["activate hardwareOath token S1"]
        );
        let active = token(Some("u"), "activated");
        assert!(matches!(
            plan(&assign(true), Some(&active), "u"),
            Plan::Unchanged { .. }
        ));
        let other = token(Some("someone"), "activated");
        assert!(matches!(
            plan(&assign(false), Some(&other), "u"),
            Plan::Refused(Refusal {
                code: "tokenHeldByAnotherUser",
                ..
            })
        ));
        assert!(matches!(
            plan(&assign(false), None, "u"),
            Plan::Refused(Refusal {
                code: "tokenNotInInventory",
                ..
            })
        ));
    }

    #[test]
    fn unassign_removes_only_a_token_the_user_holds() {
        let unassign = Action::UnassignOathToken {
            serial: "S1".into(),
        };
        let held = token(Some("u"), "activated");
        assert_eq!(
            changes(&plan(&unassign, Some(&held), "u")),
            ["unassign hardwareOath token S1"]
        );
        let other = token(Some("x"), "activated");
        assert!(matches!(
            plan(&unassign, Some(&other), "u"),
            Plan::Unchanged { .. }
        ));
        let write = Write::UnassignOathToken {
            device_id: "dev1".into(),
        };
        assert!(shows(&write, Some(&other), "u"));
        assert!(!shows(&write, Some(&held), "u"));
    }
}
