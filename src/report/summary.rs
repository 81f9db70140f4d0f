//! The end-of-run summary: counts by status and by action, traffic (reads, writes, throttled
//! answers, retries), duration and achieved rates. Printed to stderr and, with
//! `--summary-json FILE`, written as JSON. Tallied by the collector from the records it writes.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::{Record, Status};
use crate::Outcome;
use crate::plan::Change;

/// Graph traffic of a run, from the executor's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    /// GET requests answered.
    pub reads: u64,
    /// POST, PATCH and DELETE requests answered.
    pub writes: u64,
    /// 429 answers received (items and whole batches).
    pub throttled: u64,
    /// Requests sent again after a throttled or transient failure.
    pub retries: u64,
    /// `$batch` calls sent.
    pub batches: u64,
}

/// Counts of a run's records and traffic.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Records by status.
    pub by_status: BTreeMap<Status, u64>,
    /// Records by action, then by status.
    pub by_action: BTreeMap<String, BTreeMap<Status, u64>>,
    /// Methods that age selectors (`--older-than`, `--unused-for`, `--keep-newest`) left
    /// because Graph gives them no date: "nothing stale" and "no date to judge by" differ.
    pub undated_left: u64,
    /// Default MFA methods moved on the way to a removal (the planner moves the default off
    /// the last method behind it before deleting it): done (`ok`) or, in a dry run, planned.
    pub default_moves: u64,
    /// Users of a saved plan (`authbulk apply`) whose state changed since it was made: planned
    /// again, each reported once `skipped` with the code `drifted`.
    pub drifted: u64,
    /// Graph traffic.
    pub traffic: Traffic,
    /// Wall-clock duration of the run, in seconds.
    pub duration_s: f64,
    /// Achieved writes per second.
    pub writes_per_s: f64,
    /// Achieved reads per second.
    pub reads_per_s: f64,
    /// Where the report is.
    pub report: Option<PathBuf>,
    /// The process's peak resident memory in MiB (Linux: `VmHWM`), read once the run's work,
    /// its plan print included, is done.
    pub peak_memory_mib: Option<f64>,
    /// Failed steps grouped by error code, most first (set by [`Summary::finish`]).
    pub failures: Vec<FailureGroup>,
    /// The failed steps' groups as they are counted, by error code.
    #[serde(skip)]
    groups: BTreeMap<String, FailureGroup>,
    /// The rows (by sequence number) with at least one failed step: for `--failed-out`, and
    /// kept only then (see [`Summary::keeping_failed_rows`]).
    #[serde(skip)]
    pub failed_rows: BTreeMap<u64, FailedRow>,
    #[serde(skip)]
    keep_failed_rows: bool,
}

/// This process's peak resident memory so far, in MiB (`VmHWM` of `/proc/self/status`; `None`
/// where there is no such file).
pub fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((kib / 1024.0 * 10.0).round() / 10.0)
}

/// A row with a failed step, as `--failed-out` needs it for enumerated targets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailedRow {
    /// The user as the run named them (the UPN for enumerated targets).
    pub user: String,
    /// The resolved object id, when known.
    pub user_id: Option<String>,
    /// The action.
    pub action: String,
}

/// Failed steps that share an error code, with one example.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FailureGroup {
    /// Graph's error code (or ours), `unknown` when the failure carried none.
    pub code: String,
    /// Failed steps with this code.
    pub count: u64,
    /// What usually fixes it, for the common codes.
    pub hint: Option<String>,
    /// A user one of these steps failed for.
    pub example_user: String,
    /// That step's Graph request id, when Graph gave one.
    pub example_request_id: Option<String>,
    /// That step's message.
    pub example_message: Option<String>,
}

/// What usually fixes a failure with this error code.
pub fn hint_for(code: &str) -> Option<&'static str> {
    Some(match code {
        "Authorization_RequestDenied" | "accessDenied" | "Forbidden" => {
            "the credential lacks a permission or the directory role for this change (an \
             administrator's methods need a privileged role): grant it, then run the failed rows \
             again"
        }
        "invalidPhoneNumber" | "invalidPhone" => {
            "fix the number's format: +<country code> <number>, e.g. +46 701234567"
        }
        "Request_ResourceNotFound" | "itemNotFound" | "userNotFound" => {
            "the user (or method) was not found: check the UPN or object id"
        }
        "TooManyRequests" | "throttled" | "retriesExhausted" => {
            "throttling outlasted the retries: lower --rate or raise --max-wait, then run the \
             failed rows again"
        }
        "userMismatch" => "the object id now names another user: check the job's UPN column",
        "unknownOutcome" => {
            "Graph never answered: check the user's methods (authbulk run --action list) before \
             running the row again"
        }
        _ => return None,
    })
}

impl Summary {
    /// An empty summary that keeps the failed rows ([`Summary::failed_rows`]) when `keep` is
    /// true (a run with `--failed-out`); otherwise they are only counted, so a run with many
    /// failures holds nothing per failed row.
    pub fn keeping_failed_rows(keep: bool) -> Self {
        Summary {
            keep_failed_rows: keep,
            ..Summary::default()
        }
    }

    /// Count one record.
    pub fn add(&mut self, record: &Record) {
        let Some(status) = record.status else { return };
        if status == Status::Failed {
            self.add_failure(record);
        }
        if let Change::KeepUndated { count, .. } = record.step {
            self.undated_left += u64::from(count);
        }
        if is_default_move(record) && matches!(status, Status::Ok | Status::Planned) {
            self.default_moves += 1;
        }
        if record.error_code.as_deref() == Some(crate::plan::file::DRIFTED) {
            self.drifted += 1;
        }
        *self.by_status.entry(status).or_default() += 1;
        *self
            .by_action
            .entry(record.action.clone())
            .or_default()
            .entry(status)
            .or_default() += 1;
    }

    /// Note that row `seq` has this failed record (for `--failed-out`); counted by [`add`].
    ///
    /// [`add`]: Summary::add
    pub fn note_failed_row(&mut self, seq: u64, record: &Record) {
        if self.keep_failed_rows && record.status == Some(Status::Failed) {
            self.failed_rows.entry(seq).or_insert_with(|| FailedRow {
                user: record.user.clone(),
                user_id: record.user_id.clone(),
                action: record.action.clone(),
            });
        }
    }

    /// Count a failed step in its error code's group (the first one seen is the example).
    fn add_failure(&mut self, record: &Record) {
        let code = record
            .error_code
            .clone()
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "unknown".into());
        let group = self
            .groups
            .entry(code.clone())
            .or_insert_with(|| FailureGroup {
                hint: hint_for(&code).map(str::to_string),
                code,
                count: 0,
                example_user: record.user.clone(),
                example_request_id: record.request_id.clone(),
                example_message: record.error_message.clone(),
            });
        group.count += 1;
        // Prefer an example Graph can trace.
        if group.example_request_id.is_none() && record.request_id.is_some() {
            group.example_user = record.user.clone();
            group.example_request_id = record.request_id.clone();
            group.example_message = record.error_message.clone();
        }
    }

    /// Add the counts of `earlier` (a resumed run's records kept from the interrupted run, so
    /// the summary and the exit code cover the whole report).
    pub fn absorb(&mut self, earlier: &Summary) {
        self.undated_left += earlier.undated_left;
        self.default_moves += earlier.default_moves;
        self.drifted += earlier.drifted;
        for (status, n) in &earlier.by_status {
            *self.by_status.entry(*status).or_default() += n;
        }
        for (code, theirs) in &earlier.groups {
            let mine = self
                .groups
                .entry(code.clone())
                .or_insert_with(|| FailureGroup {
                    count: 0,
                    ..theirs.clone()
                });
            mine.count += theirs.count;
        }
        for (seq, row) in &earlier.failed_rows {
            self.failed_rows.entry(*seq).or_insert_with(|| row.clone());
        }
        for (action, counts) in &earlier.by_action {
            let mine = self.by_action.entry(action.clone()).or_default();
            for (status, n) in counts {
                *mine.entry(*status).or_default() += n;
            }
        }
    }

    /// Records with this status.
    pub fn count(&self, status: Status) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }

    /// Set the traffic and duration once the run is over, deriving the rates.
    pub fn finish(&mut self, traffic: Traffic, duration: Duration) {
        self.traffic = traffic;
        self.duration_s = duration.as_secs_f64();
        let secs = self.duration_s.max(1e-3);
        self.writes_per_s = traffic.writes as f64 / secs;
        self.reads_per_s = traffic.reads as f64 / secs;
        self.failures = self.groups.values().cloned().collect();
        // Most first; ties by code, so the order is stable.
        self.failures
            .sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(&b.code)));
    }

    /// Print the failures by error code, most first (stderr after the summary).
    pub fn print_failures(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.failures.is_empty() {
            return Ok(());
        }
        writeln!(out, "failures by error code:")?;
        for group in &self.failures {
            writeln!(out, "  {} x{}", group.code, group.count)?;
            if let Some(hint) = &group.hint {
                writeln!(out, "    hint: {hint}")?;
            }
            let request = group
                .example_request_id
                .as_deref()
                .map(|id| format!(" (request id {id})"))
                .unwrap_or_default();
            let message = group
                .example_message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            writeln!(out, "    e.g. {}{request}{message}", group.example_user)?;
        }
        Ok(())
    }

    /// The exit outcome the records call for: failures give [`Outcome::RowsFailed`], cancelled
    /// steps [`Outcome::Interrupted`].
    pub fn outcome(&self) -> Outcome {
        if self.count(Status::Cancelled) > 0 {
            Outcome::Interrupted
        } else if self.count(Status::Failed) > 0 {
            Outcome::RowsFailed
        } else {
            Outcome::Success
        }
    }

    /// Print the summary for a person (stderr at the end of a run).
    pub fn print(&self, out: &mut dyn Write) -> io::Result<()> {
        let statuses: Vec<String> = self
            .by_status
            .iter()
            .map(|(status, n)| format!("{status} {n}"))
            .collect();
        writeln!(
            out,
            "summary: {}",
            if statuses.is_empty() {
                "no records".to_string()
            } else {
                statuses.join(", ")
            }
        )?;
        for (action, counts) in &self.by_action {
            let counts: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
            writeln!(out, "  {action}: {}", counts.join(", "))?;
        }
        if self.undated_left > 0 {
            writeln!(
                out,
                "left for lack of a date: {} method(s) (Graph gives them no creation or last-use \
                 date, so age selectors never choose them)",
                self.undated_left
            )?;
        }
        if self.default_moves > 0 {
            writeln!(
                out,
                "default method moved: {} (off a method that was removed; see the report's \
                 `set default method` records)",
                self.default_moves
            )?;
        }
        if self.drifted > 0 {
            writeln!(
                out,
                "drifted: {} user(s) (changed since the plan was made: planned again; see the \
                 report's `drifted` records)",
                self.drifted
            )?;
        }
        let t = &self.traffic;
        writeln!(
            out,
            "traffic: {} reads, {} writes in {} batches; {} throttled, {} retries",
            t.reads, t.writes, t.batches, t.throttled, t.retries
        )?;
        writeln!(
            out,
            "duration: {:.1}s; {:.1} writes/s, {:.1} reads/s",
            self.duration_s, self.writes_per_s, self.reads_per_s
        )?;
        if let Some(report) = &self.report {
            writeln!(out, "report: {}", report.display())?;
        }
        Ok(())
    }
}

/// True for a record of a default moved on the way to a removal (a `set default method` step of
/// any action but `set-default`, whose whole point it is).
pub fn is_default_move(record: &Record) -> bool {
    record.step == Change::SetDefaultMethod && record.action != "set-default"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(action: &str, status: Status) -> Record {
        Record {
            action: action.into(),
            status: Some(status),
            ..Record::default()
        }
    }

    #[test]
    fn counts_by_status_and_action_and_derives_the_exit_outcome() {
        let mut summary = Summary::default();
        summary.add(&record("set-phone", Status::Ok));
        summary.add(&record("set-phone", Status::Unchanged));
        summary.add(&record("reset-mfa", Status::Ok));
        assert_eq!(summary.outcome(), Outcome::Success);
        summary.add(&record("reset-mfa", Status::Failed));
        assert_eq!(summary.outcome(), Outcome::RowsFailed);
        summary.add(&record("reset-mfa", Status::Cancelled));
        assert_eq!(summary.outcome(), Outcome::Interrupted);
        assert_eq!(summary.count(Status::Ok), 2);
        assert_eq!(summary.by_action["reset-mfa"][&Status::Failed], 1);

        let mut resumed = Summary::default();
        resumed.add(&record("set-phone", Status::Ok));
        resumed.absorb(&summary);
        assert_eq!(resumed.count(Status::Ok), 3);
        assert_eq!(resumed.by_action["set-phone"][&Status::Ok], 2);
        assert_eq!(resumed.outcome(), Outcome::Interrupted);

        summary.finish(
            Traffic {
                reads: 100,
                writes: 50,
                ..Traffic::default()
            },
            Duration::from_secs(10),
        );
        let mut text = Vec::new();
        summary.print(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains("summary: ok 2, unchanged 1, failed 1, cancelled 1"),
            "{text}"
        );
        assert!(text.contains("5.0 writes/s, 10.0 reads/s"), "{text}");
        assert!(!text.contains("default method moved"), "{text}");
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["by_status"]["failed"], 1);
        assert_eq!(json["default_moves"], 0);
        assert_eq!(json["traffic"]["writes"], 50);
    }

    #[test]
    fn default_moves_on_the_way_are_counted_but_not_set_default_rows() {
        let mut summary = Summary::default();
        let mut moved = record("remove-authenticator", Status::Ok);
        moved.step = Change::SetDefaultMethod;
        summary.add(&moved);
        let mut planned = record("remove-phone", Status::Planned);
        planned.step = Change::SetDefaultMethod;
        summary.add(&planned);
        let mut asked = record("set-default", Status::Ok);
        asked.step = Change::SetDefaultMethod;
        summary.add(&asked);
        let mut failed = record("remove-phone", Status::Failed);
        failed.step = Change::SetDefaultMethod;
        summary.add(&failed);
        assert_eq!(summary.default_moves, 2);
        let mut text = Vec::new();
        summary.print(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("default method moved: 2"), "{text}");
        let mut resumed = Summary::default();
        resumed.absorb(&summary);
        assert_eq!(resumed.default_moves, 2);
    }

    #[test]
    fn failures_are_grouped_by_code_most_first_with_an_example_that_graph_can_trace() {
        let failed = |user: &str, code: Option<&str>, request: Option<&str>| Record {
            user: user.into(),
            action: "set-phone".into(),
            status: Some(Status::Failed),
            error_code: code.map(String::from),
            request_id: request.map(String::from),
            ..Record::default()
        };
        let mut summary = Summary::default();
        summary.add(&failed("a", Some("invalidPhoneNumber"), None));
        summary.add(&failed("b", Some("Authorization_RequestDenied"), None));
        summary.add(&failed(
            "c",
            Some("Authorization_RequestDenied"),
            Some("r-c"),
        ));
        summary.add(&failed("d", None, None));
        summary.add(&record("set-phone", Status::Ok));
        let mut earlier = Summary::default();
        earlier.add(&failed("e", Some("invalidPhoneNumber"), None));
        earlier.add(&failed("f", Some("invalidPhoneNumber"), None));
        summary.absorb(&earlier);
        summary.finish(Traffic::default(), Duration::from_secs(1));
        let codes: Vec<(&str, u64)> = summary
            .failures
            .iter()
            .map(|g| (g.code.as_str(), g.count))
            .collect();
        assert_eq!(
            codes,
            [
                ("invalidPhoneNumber", 3),
                ("Authorization_RequestDenied", 2),
                ("unknown", 1)
            ]
        );
        assert_eq!(summary.failures[1].example_user, "c");
        assert_eq!(
            summary.failures[1].example_request_id.as_deref(),
            Some("r-c")
        );
        assert!(
            summary.failures[0]
                .hint
                .as_deref()
                .unwrap()
                .contains("format")
        );
        assert_eq!(summary.failures[2].hint, None);
        let mut text = Vec::new();
        summary.print_failures(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.starts_with("failures by error code:\n  invalidPhoneNumber x3\n"),
            "{text}"
        );
        assert!(text.contains("e.g. c (request id r-c)"), "{text}");
    }
}
