//! The end-of-export summary on stderr: users read, methods by type, users that failed (the
//! first few named), users whose default method is unknown, and Graph traffic. Tallied by the
//! collector as users finish; its outcome gives the exit code.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use super::read::{ReadOutcome, UserRead};
use crate::Outcome;
use crate::exec::StatsSnapshot;

/// How many failures the summary names one by one (the inventory has them all).
const NAMED_FAILURES: usize = 10;

/// Tallies of an export.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ExportSummary {
    /// Users whose methods were read.
    pub users: u64,
    /// Method rows written.
    pub methods: u64,
    /// Methods by type.
    pub by_type: BTreeMap<String, u64>,
    /// Users (or job rows, or enumerations) that could not be read.
    pub failed: u64,
    /// Users read whose default method is unknown (`signInPreferences` unreadable).
    pub default_unknown: u64,
    /// Users read again under another name (their object id after their UPN), listed once.
    pub repeated: u64,
    /// Items not started because the export was stopped.
    pub cancelled: u64,
    /// The first failures, as one line each.
    pub failures: Vec<String>,
}

impl ExportSummary {
    /// Count one item's outcome.
    pub fn add(&mut self, read: &UserRead) {
        match &read.outcome {
            ReadOutcome::Read { preferences_error } => {
                self.users += 1;
                if preferences_error.is_some() {
                    self.default_unknown += 1;
                }
                for row in &read.rows {
                    if row.method_type != super::inventory::NONE_TYPE {
                        self.methods += 1;
                        *self.by_type.entry(row.method_type.clone()).or_default() += 1;
                    }
                }
            }
            ReadOutcome::Failed => {
                self.failed += 1;
                if self.failures.len() < NAMED_FAILURES {
                    for row in &read.rows {
                        if let Some(error) = &row.error {
                            let who = match row.user.is_empty() {
                                true => "-",
                                false => row.user.as_str(),
                            };
                            let status = error
                                .http_status
                                .map(|s| format!("{s} "))
                                .unwrap_or_default();
                            let request = error
                                .request_id
                                .as_deref()
                                .map(|id| format!(" (request-id {id})"))
                                .unwrap_or_default();
                            self.failures.push(format!(
                                "{who}: {status}{}: {}{request}",
                                error.code, error.message
                            ));
                        }
                    }
                }
            }
            ReadOutcome::Cancelled => self.cancelled += 1,
        }
    }

    /// The exit outcome: rows failed when any item failed.
    pub fn outcome(&self) -> Outcome {
        match self.failed {
            0 => Outcome::Success,
            _ => Outcome::RowsFailed,
        }
    }

    /// Print the summary.
    pub fn print(
        &self,
        out: &mut dyn Write,
        destination: &str,
        traffic: &StatsSnapshot,
        elapsed: Duration,
    ) -> io::Result<()> {
        let types: Vec<String> = self
            .by_type
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        writeln!(
            out,
            "export: {} users, {} methods{}, {} failed -> {destination}",
            self.users,
            self.methods,
            match types.is_empty() {
                true => String::new(),
                false => format!(" ({})", types.join(", ")),
            },
            self.failed
        )?;
        for failure in &self.failures {
            writeln!(out, "  failed: {failure}")?;
        }
        if self.failed as usize > self.failures.len() {
            writeln!(
                out,
                "  ... and {} more (method_type \"error\" rows)",
                self.failed as usize - self.failures.len()
            )?;
        }
        if self.default_unknown > 0 {
            writeln!(
                out,
                "default method unknown for {} users (signInPreferences could not be read; \
                 is_default left empty)",
                self.default_unknown
            )?;
        }
        if self.repeated > 0 {
            writeln!(
                out,
                "{} users named again under another spelling were listed once",
                self.repeated
            )?;
        }
        if self.cancelled > 0 {
            writeln!(out, "stopped: {} users not read", self.cancelled)?;
        }
        let seconds = elapsed.as_secs_f64();
        writeln!(
            out,
            "graph: {} reads in {} batches, {} throttled, {} retries; {:.1} s ({:.0} users/s)",
            traffic.reads,
            traffic.batches,
            traffic.throttled,
            traffic.retries,
            seconds,
            match seconds > 0.0 {
                true => (self.users + self.failed) as f64 / seconds,
                false => 0.0,
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::inventory::InventoryRow;
    use crate::graph::{ErrorKind, GraphError};

    fn method(t: &str) -> InventoryRow {
        InventoryRow {
            user: "a".into(),
            method_type: t.into(),
            ..InventoryRow::default()
        }
    }

    #[test]
    fn tallies_methods_by_type_failures_and_unknown_defaults() {
        let mut summary = ExportSummary::default();
        summary.add(&UserRead {
            rows: vec![method("password"), method("phone"), method("phone")],
            outcome: ReadOutcome::Read {
                preferences_error: None,
            },
        });
        let error = GraphError {
            kind: ErrorKind::Permission,
            status: Some(403),
            code: "Authorization_RequestDenied".into(),
            message: "denied".into(),
            request_id: Some("r1".into()),
            attempts: 1,
        };
        summary.add(&UserRead {
            rows: vec![method("none")],
            outcome: ReadOutcome::Read {
                preferences_error: Some(error.clone()),
            },
        });
        summary.add(&UserRead {
            rows: vec![InventoryRow::failed("ghost", None, &error)],
            outcome: ReadOutcome::Failed,
        });
        assert_eq!(summary.users, 2);
        assert_eq!(summary.methods, 3);
        assert_eq!(summary.by_type["phone"], 2);
        assert_eq!(summary.default_unknown, 1);
        assert_eq!(summary.outcome(), Outcome::RowsFailed);
        let mut out = Vec::new();
        summary
            .print(
                &mut out,
                "inv.csv",
                &StatsSnapshot::default(),
                Duration::from_secs(1),
            )
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(
                "export: 2 users, 3 methods (password 1, phone 2), 1 failed -> inv.csv\n  \
                 failed: ghost: 403 Authorization_RequestDenied: denied (request-id r1)\n"
            ),
            "{text}"
        );
        assert!(text.contains("default method unknown for 1 users"));
    }
}
