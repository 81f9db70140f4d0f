//! The report: one [`Record`] per planned step (and per row that produced none), its statuses,
//! the report file, the journal for `--resume` and the end-of-run summary. One collector task
//! owns the writer; everyone else sends records to it.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::plan::Change;

pub mod collector;
pub mod format;
pub mod frame;
pub mod journal;
pub mod journal_wire;
pub mod progress;
pub mod summary;
pub mod writer;

pub use collector::{Event, collect};
pub use journal::{Journal, Resume};
pub use summary::Summary;
pub use writer::ReportWriter;

/// The status of a step (DESIGN.md, "Statuses and the report").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Done.
    Ok,
    /// Nothing to do: the state already was the desired one.
    Unchanged,
    /// Dry-run: would be done.
    Planned,
    /// Tried and failed.
    Failed,
    /// Not tried: the user is excluded, a guard refused, an earlier step failed, or a stable
    /// refusal (`crate::plan::step::STABLE_REFUSALS`) without `--strict`.
    Skipped,
    /// Interrupted before it ran.
    Cancelled,
}

impl Status {
    /// The status as the report spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Unchanged => "unchanged",
            Status::Planned => "planned",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Record {
    /// Data row of the job file (from 1), or the target's index.
    pub row: u64,
    /// The user as given.
    pub user: String,
    /// The resolved object id, once known.
    pub user_id: Option<String>,
    /// The action's name.
    pub action: String,
    /// The concrete change, e.g. `delete microsoftAuthenticator <id>`, `read methods`; the
    /// report shows its text.
    pub step: Change,
    /// The outcome.
    pub status: Option<Status>,
    /// What the step changes, before (short and human).
    pub before: String,
    /// What the step changes, after.
    pub after: String,
    /// For failures: the HTTP status.
    pub http_status: Option<u16>,
    /// For failures: Graph's error code, or ours.
    pub error_code: Option<String>,
    /// For failures: the message.
    pub error_message: Option<String>,
    /// For failures: Graph's request id.
    pub request_id: Option<String>,
    /// Times the step's request was sent.
    pub attempts: u32,
    /// Time from the step's first send to its final answer.
    pub elapsed_ms: u64,
    /// The job row's extra columns: (header, value).
    pub extra: Vec<(Arc<str>, String)>,
}
