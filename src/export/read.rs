//! Reading one target user for the inventory, and the per-user work the executor's driver
//! ([`crate::exec::for_each_user`]) runs: resolve the user (v1.0
//! `/users/{u}?$select=id,userPrincipalName`), list the methods through beta (which adds
//! `lastUsedDateTime` and hardware OATH tokens), and read beta `signInPreferences` to mark the
//! default method. Every request goes through [`GraphCall`], so throttling, retries and
//! concurrency are those of `run`. Called by [`super::export`].

use serde_json::Value;

use super::inventory::InventoryRow;
use crate::exec::UserWork;
use crate::graph::{ErrorKind, GraphCall, GraphError, methods, requests};
use crate::target::{Row, RowKind};

/// What reading one work item gave.
#[derive(Debug)]
pub struct UserRead {
    /// The item's rows: its methods, or one `error` row.
    pub rows: Vec<InventoryRow>,
    /// How the read ended.
    pub outcome: ReadOutcome,
}

/// How reading one work item ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadOutcome {
    /// The methods were read. `preferences_error` says why the default method is unknown,
    /// when `signInPreferences` could not be read.
    Read {
        /// The failure of the `signInPreferences` read, if any.
        preferences_error: Option<GraphError>,
    },
    /// The user (or job row, or enumeration) could not be read: the rows hold one `error` row.
    Failed,
    /// The run was stopped before the item started.
    Cancelled,
}

/// Read `user` (a UPN or object id) through `graph`: its rows, or one `error` row.
pub async fn read_user<G: GraphCall>(graph: &G, user: &str) -> UserRead {
    let failed = |rows| UserRead {
        rows,
        outcome: ReadOutcome::Failed,
    };
    let (id, upn) = match graph.call(user, requests::resolve_user(user)).await {
        Ok(answer) => match methods::parse_user_id(&answer.body) {
            Ok(id) => {
                let upn = answer
                    .body
                    .get("userPrincipalName")
                    .and_then(Value::as_str)
                    .filter(|upn| !upn.is_empty())
                    .unwrap_or(user)
                    .to_string();
                (id, upn)
            }
            Err(err) => {
                return failed(vec![InventoryRow::problem(
                    user,
                    None,
                    "unexpectedAnswer",
                    err.to_string(),
                )]);
            }
        },
        Err(error) => return failed(vec![InventoryRow::failed(user, None, &error)]),
    };
    let methods = match graph.call(user, requests::read_methods(&id, true)).await {
        Ok(answer) => answer.body,
        Err(error) => return failed(vec![InventoryRow::failed(&upn, Some(&id), &error)]),
    };
    let preferences = requests::read_preferences(&id);
    let (preferences, preferences_error) = match graph.call(user, preferences).await {
        Ok(answer) => match methods::parse_preferences(&answer.body) {
            Ok(prefs) => (Some(prefs), None),
            Err(err) => {
                let error = GraphError {
                    kind: ErrorKind::Rejected,
                    status: Some(answer.status),
                    code: "unexpectedAnswer".into(),
                    message: err.to_string(),
                    request_id: answer.request_id,
                    attempts: answer.attempts,
                };
                (None, Some(error))
            }
        },
        Err(error) => (None, Some(error)),
    };
    if let Some(error) = &preferences_error {
        // Debug, not warn: a missing permission would repeat this for every user; the summary
        // counts them.
        tracing::debug!(user = %upn, %error, "default method unknown: signInPreferences unreadable");
    }
    match super::inventory::method_rows(&upn, &id, &methods, preferences.as_ref()) {
        Ok(rows) => UserRead {
            rows,
            outcome: ReadOutcome::Read { preferences_error },
        },
        Err(err) => failed(vec![InventoryRow::problem(
            &upn,
            Some(&id),
            "unexpectedAnswer",
            err.to_string(),
        )]),
    }
}

/// The per-item work of an export: each job row or target user read through `graph`, the
/// outcome sent back by the driver to the single collector. Rows of one user run one after
/// another, so a user named twice in a job is read twice (and listed twice), like `run` would.
pub struct ExportWork<G> {
    /// Sends every request (the executor).
    pub graph: G,
}

impl<G: GraphCall + 'static> UserWork for ExportWork<G> {
    type Item = Row;
    type Output = UserRead;

    fn user_key(&self, row: &Row) -> String {
        match &row.kind {
            RowKind::Op(op) => op.user_key(),
            _ => format!("\u{0}row{}", row.seq),
        }
    }

    async fn run(&self, row: Row) -> UserRead {
        match row.kind {
            RowKind::Op(op) => read_user(&self.graph, &op.user).await,
            RowKind::Invalid { row, why } => UserRead {
                rows: vec![InventoryRow::problem(
                    "",
                    None,
                    "invalidRow",
                    format!("job row {row} skipped: {why}"),
                )],
                outcome: ReadOutcome::Failed,
            },
            RowKind::EnumerationFailed { error } => UserRead {
                rows: vec![InventoryRow::failed(
                    "",
                    None,
                    &GraphError {
                        message: format!("enumerating the target users failed: {}", error.message),
                        ..error
                    },
                )],
                outcome: ReadOutcome::Failed,
            },
        }
    }

    fn cancelled(&self, _row: Row) -> UserRead {
        UserRead {
            rows: Vec::new(),
            outcome: ReadOutcome::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{ApiVersion, Request, Response};
    use serde_json::json;
    use std::sync::Mutex;

    /// Answers by URL prefix; records the URLs asked for.
    struct Fake {
        answers: Vec<(&'static str, Result<Value, GraphError>)>,
        asked: Mutex<Vec<(ApiVersion, String)>>,
    }

    impl GraphCall for Fake {
        async fn call(&self, _user: &str, request: Request) -> Result<Response, GraphError> {
            if let Ok(mut asked) = self.asked.lock() {
                asked.push((request.version, request.url.clone()));
            }
            let (_, answer) = self
                .answers
                .iter()
                .find(|(suffix, _)| request.url.contains(suffix))
                .unwrap();
            answer.clone().map(|body| Response {
                status: 200,
                body: body.into(),
                request_id: None,
                attempts: 1,
            })
        }
    }

    fn denied() -> GraphError {
        GraphError {
            kind: ErrorKind::Permission,
            status: Some(403),
            code: "Authorization_RequestDenied".into(),
            message: "Insufficient privileges".into(),
            request_id: Some("rid".into()),
            attempts: 1,
        }
    }

    fn user() -> (&'static str, Result<Value, GraphError>) {
        (
            "$select",
            Ok(json!({"id": "id-1", "userPrincipalName": "Jo_fabrikam.com#EXT#@contoso.com"})),
        )
    }

    #[tokio::test]
    async fn resolves_then_reads_methods_and_preferences_through_beta_by_object_id() {
        let fake = Fake {
            answers: vec![
                user(),
                (
                    "/authentication/methods",
                    Ok(
                        json!({"value": [{"@odata.type": "#microsoft.graph.emailAuthenticationMethod",
                        "id": "e", "emailAddress": "jo@fabrikam.com"}]}),
                    ),
                ),
                (
                    "/signInPreferences",
                    Ok(json!({"userPreferredMethodForSecondaryAuthentication": "push"})),
                ),
            ],
            asked: Mutex::new(Vec::new()),
        };
        let read = read_user(&fake, "jo_fabrikam.com#EXT#@contoso.com").await;
        assert_eq!(
            read.outcome,
            ReadOutcome::Read {
                preferences_error: None
            }
        );
        assert_eq!(read.rows.len(), 1);
        assert_eq!(read.rows[0].user, "Jo_fabrikam.com#EXT#@contoso.com");
        assert_eq!(read.rows[0].display_name, "jo@fabrikam.com");
        assert_eq!(read.rows[0].is_default, Some(false));
        let asked = fake.asked.lock().unwrap().clone();
        assert_eq!(
            asked,
            vec![
                (
                    ApiVersion::V1,
                    "/users/jo_fabrikam.com%23EXT%23@contoso.com?$select=id,userPrincipalName"
                        .to_string()
                ),
                (
                    ApiVersion::Beta,
                    "/users/id-1/authentication/methods".to_string()
                ),
                (
                    ApiVersion::Beta,
                    "/users/id-1/authentication/signInPreferences".to_string()
                ),
            ]
        );
    }

    #[tokio::test]
    async fn unreadable_preferences_keep_the_methods_with_the_default_unknown() {
        let fake = Fake {
            answers: vec![
                user(),
                (
                    "/authentication/methods",
                    Ok(
                        json!({"value": [{"@odata.type": "#microsoft.graph.softwareOathAuthenticationMethod", "id": "o"}]}),
                    ),
                ),
                ("/signInPreferences", Err(denied())),
            ],
            asked: Mutex::new(Vec::new()),
        };
        let read = read_user(&fake, "jo").await;
        assert_eq!(
            read.outcome,
            ReadOutcome::Read {
                preferences_error: Some(denied())
            }
        );
        assert_eq!(read.rows.len(), 1);
        assert_eq!(read.rows[0].is_default, None);
    }

    #[tokio::test]
    async fn an_unreadable_methods_list_is_one_error_row_with_the_resolved_user() {
        let fake = Fake {
            answers: vec![user(), ("/authentication/methods", Err(denied()))],
            asked: Mutex::new(Vec::new()),
        };
        let read = read_user(&fake, "jo").await;
        assert_eq!(read.outcome, ReadOutcome::Failed);
        assert_eq!(read.rows.len(), 1);
        let row = &read.rows[0];
        assert!(row.error.is_some());
        assert_eq!(row.user_id.as_deref(), Some("id-1"));
        assert_eq!(
            row.error.as_ref().map(|e| e.code.as_str()),
            Some("Authorization_RequestDenied")
        );
        // Nothing more was asked after the failure.
        assert_eq!(fake.asked.lock().unwrap().len(), 2);
    }
}
