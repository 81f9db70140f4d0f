//! Reading one target user for the inventory, and the per-user work the executor's driver
//! ([`crate::exec::for_each_user`]) runs: resolve the user (v1.0
//! `/users/{u}?$select=id,userPrincipalName`), list the methods through beta (which adds
//! `lastUsedDateTime` and hardware OATH tokens), and read beta `signInPreferences` to mark the
//! default method. Every request goes through [`GraphCall`], so throttling, retries and
//! concurrency are those of `run`. Called by [`super::export`].

use serde_json::Value;

use super::inventory::InventoryRow;
use crate::exec::UserWork;
use crate::graph::{ApiVersion, ErrorKind, GraphCall, GraphError, Request, path};
use crate::plan::wire;
use crate::run::source::{Row, RowKind};

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
    let resolve = Request::get(
        ApiVersion::V1,
        format!("{}{}", path::user(user), wire::USER_SELECT),
    );
    let (id, upn) = match graph.call(user, resolve).await {
        Ok(answer) => match wire::parse_user_id(&answer.body) {
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
    let base = path::user(&id);
    let methods = Request::get(ApiVersion::Beta, format!("{base}/authentication/methods"));
    let methods = match graph.call(user, methods).await {
        Ok(answer) => answer.body,
        Err(error) => return failed(vec![InventoryRow::failed(&upn, Some(&id), &error)]),
    };
    let preferences = Request::get(
        ApiVersion::Beta,
        format!("{base}/authentication/signInPreferences"),
    );
    let (preferences, preferences_error) = match graph.call(user, preferences).await {
        Ok(answer) => match wire::parse_preferences(&answer.body) {
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
        tracing::warn!(user = %upn, %error, "default method unknown: signInPreferences unreadable");
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
