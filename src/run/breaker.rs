//! The circuit breaker of a run: `--max-denied N` identical refusals (HTTP 403 with the same
//! error code) in a row mean the credential cannot do this job, and every further write would
//! be refused too. The breaker then stops the run as a first Ctrl-C does (no new row, no new
//! write; rows not done stay open in the journal, so `--resume` runs them once the permission
//! is granted), and the run exits 2 naming the permission the refused calls need and how to
//! grant it. A step that succeeds, or a failure of another kind, starts the count again.

use std::sync::Mutex;

use crate::auth::claims::Principal;
use crate::auth::permissions;
use crate::job::ActionKind;
use crate::report::{Record, Status};

/// Counts identical refusals in a row.
#[derive(Debug)]
pub struct Breaker {
    limit: u32,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    code: Option<String>,
    run: u32,
    tripped: Option<Record>,
}

impl Breaker {
    /// A breaker that trips at `limit` identical refusals in a row.
    pub fn new(limit: u32) -> Breaker {
        Breaker {
            limit: limit.max(1),
            state: Mutex::new(State::default()),
        }
    }

    /// Count a record; true when it trips the breaker (once).
    pub fn observe(&self, record: &Record) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        match record.status {
            Some(Status::Failed) if record.http_status == Some(403) => {
                let code = record.error_code.clone().unwrap_or_default();
                if state.code.as_deref() == Some(code.as_str()) {
                    state.run += 1;
                } else {
                    state.code = Some(code);
                    state.run = 1;
                }
                if state.run >= self.limit && state.tripped.is_none() {
                    state.tripped = Some(record.clone());
                    return true;
                }
                false
            }
            Some(Status::Ok) | Some(Status::Failed) => {
                state.code = None;
                state.run = 0;
                false
            }
            _ => false,
        }
    }

    /// The refusal that tripped the breaker, if it tripped.
    pub fn tripped(&self) -> Option<Record> {
        self.state.lock().ok().and_then(|s| s.tripped.clone())
    }

    /// What to tell the operator once it tripped: the refusal, the permission the refused call
    /// needs (from the action's table) and how to grant it.
    pub fn explain(&self, record: &Record, principal: Option<Principal>) -> String {
        let mut text = format!(
            "the run stopped after {} refusals in a row (HTTP 403 {}: {}; e.g. {} {}{}): no \
             further write was sent; rows not done are left for --resume",
            self.limit,
            record.error_code.as_deref().unwrap_or("-"),
            record.error_message.as_deref().unwrap_or("-"),
            record.user,
            record.step,
            record
                .request_id
                .as_deref()
                .map(|id| format!(", request id {id}"))
                .unwrap_or_default()
        );
        let need = ActionKind::from_name(&record.action)
            .and_then(|action| permissions::for_refusal(action, &record.step));
        if let Some(need) = need {
            let principal = principal.unwrap_or(Principal::App);
            text.push_str(&format!(
                ". The refused call ({} {}) needs {}{}: {}. If the token holds it, the directory \
                 refuses it anyway: consent may have been withdrawn, or the signed-in user (or \
                 the target, an administrator) needs a directory role",
                record.action,
                need.purpose,
                need.permission,
                if need.accepted.len() > 1 {
                    format!(" (or one of {})", need.accepted[1..].join(", "))
                } else {
                    String::new()
                },
                permissions::how_to_grant(principal, need.permission)
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Change;

    fn record(status: Status, http: Option<u16>, code: &str) -> Record {
        Record {
            user: "u@contoso.com".into(),
            action: "revoke-sessions".into(),
            step: Change::RevokeSessions,
            status: Some(status),
            http_status: http,
            error_code: Some(code.into()),
            ..Record::default()
        }
    }

    #[test]
    fn trips_at_the_limit_of_identical_refusals_in_a_row_and_a_success_starts_again() {
        let breaker = Breaker::new(3);
        let denied = record(Status::Failed, Some(403), "Authorization_RequestDenied");
        assert!(!breaker.observe(&denied));
        assert!(!breaker.observe(&denied));
        assert!(!breaker.observe(&record(Status::Ok, None, "")));
        assert!(!breaker.observe(&denied));
        assert!(!breaker.observe(&record(Status::Failed, Some(403), "accessDenied")));
        assert!(!breaker.observe(&denied));
        // Unchanged and skipped records neither count nor reset.
        assert!(!breaker.observe(&record(Status::Unchanged, None, "")));
        assert!(!breaker.observe(&denied));
        assert!(breaker.observe(&denied), "the third in a row");
        assert!(!breaker.observe(&denied), "trips once");
        let tripped = breaker.tripped().expect("tripped");
        let text = breaker.explain(&tripped, Some(Principal::App));
        assert!(text.contains("3 refusals in a row"), "{text}");
        assert!(
            text.contains("needs User.RevokeSessions.All (or one of User.ReadWrite.All"),
            "{text}"
        );
        assert!(
            text.contains("Application permissions → User.RevokeSessions.All"),
            "{text}"
        );
    }
}
