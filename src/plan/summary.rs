//! The plan as a user sees it before a mass change: [`PlanSummary`] (users changed, writes by
//! kind, unchanged rows, failed reads), computed from report records so a dry run's totals and
//! an apply's totals are counted the same way, and [`write_user`], which prints a user's part
//! of the plan: each change marked `+`, `~`, `-` or `>` with its before and after (a failure
//! `!`, a stable refusal `=`, each with its reason). The `run` command prints the plan before
//! asking for confirmation and at the end of a dry run, through
//! [`super::console::PlanConsole`], which puts it in job order and colours it, then the totals.

use std::collections::HashSet;
use std::io::{self, Write};

use super::console::Paint;
use super::step::ChangeKind;
use crate::report::{Record, Status};

/// Totals of a plan (from `planned` records) or of an apply (from `ok` records).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanSummary {
    /// Users with at least one change.
    pub users_changed: u64,
    /// `+` changes.
    pub creates: u64,
    /// `~` changes.
    pub updates: u64,
    /// `-` changes.
    pub deletes: u64,
    /// `>` actions (revoke sessions, SMS sign-in).
    pub actions: u64,
    /// Rows already in the desired state.
    pub unchanged: u64,
    /// Failed reads (`read user`, `read methods`, ...).
    pub failed_reads: u64,
    /// Other failed records (rows refused by the planner, failed writes).
    pub failed: u64,
    /// Skipped records (stable refusals, excluded users).
    pub skipped: u64,
    /// Defaults moved on the way to a removal.
    pub default_moves: u64,
}

impl PlanSummary {
    /// The totals of these records (held in memory), users changed included.
    pub fn from_records<'r>(records: impl IntoIterator<Item = &'r Record>) -> Self {
        let mut summary = PlanSummary::default();
        let mut users: HashSet<&str> = HashSet::new();
        for record in records {
            summary.add(record);
            if changes_user(record) && users.insert(record.user.as_str()) {
                summary.users_changed += 1;
            }
        }
        summary
    }

    /// Count one record. Users are not counted here (that would need a set of every user):
    /// [`PlanSummary::from_records`] counts them, and a run takes the count from
    /// [`super::console::PlanConsole::group`], which meets each user's records together.
    pub fn add(&mut self, record: &Record) {
        if crate::report::summary::is_default_move(record)
            && matches!(record.status, Some(Status::Planned | Status::Ok))
        {
            self.default_moves += 1;
        }
        match record.status {
            Some(Status::Skipped) => self.skipped += 1,
            Some(Status::Planned | Status::Ok) if is_change(record) => match record.step.kind() {
                ChangeKind::Create => self.creates += 1,
                ChangeKind::Update => self.updates += 1,
                ChangeKind::Delete => self.deletes += 1,
                ChangeKind::Action => self.actions += 1,
            },
            Some(Status::Unchanged) => self.unchanged += 1,
            Some(Status::Failed) if record.step.is_read() => self.failed_reads += 1,
            Some(Status::Failed) => self.failed += 1,
            _ => {}
        }
    }

    /// Every write (creates, updates, deletes and actions).
    pub fn writes(&self) -> u64 {
        self.creates + self.updates + self.deletes + self.actions
    }

    /// One line: `Plan: 2 users to change: 1 to create, 1 to update, 3 to delete, 1 action; ...`.
    pub fn line(&self) -> String {
        let users = if self.users_changed == 1 {
            "user"
        } else {
            "users"
        };
        let actions = if self.actions == 1 {
            "action"
        } else {
            "actions"
        };
        let reads = if self.failed_reads == 1 {
            "read"
        } else {
            "reads"
        };
        let mut extra = String::new();
        if self.skipped > 0 {
            extra.push_str(&format!("; {} skipped", self.skipped));
        }
        if self.default_moves > 0 {
            extra.push_str(&format!("; default method moved: {}", self.default_moves));
        }
        format!(
            "{} {users} to change: {} to create, {} to update, {} to delete, {} {actions}; \
             {} unchanged; {} failed {reads}; {} failed{extra}",
            self.users_changed,
            self.creates,
            self.updates,
            self.deletes,
            self.actions,
            self.unchanged,
            self.failed_reads,
            self.failed,
        )
    }
}

/// True for a record that makes its user one of the plan's users to change.
pub(crate) fn changes_user(record: &Record) -> bool {
    matches!(record.status, Some(Status::Planned | Status::Ok)) && is_change(record)
}

/// True for a record that stands for a write (not a `list` row's method line).
fn is_change(record: &Record) -> bool {
    record.action != "list"
}

/// One user's part of the plan: the user, then each shown record's line.
pub(crate) fn write_user<'r>(
    out: &mut impl Write,
    user: &str,
    records: impl IntoIterator<Item = &'r Record>,
    paint: Paint,
) -> io::Result<()> {
    writeln!(out, "{}", paint.user(&clean(user)))?;
    for record in records {
        let (mark, detail) = match record.status {
            Some(Status::Failed) => ('!', record.error_message.clone().unwrap_or_default()),
            Some(Status::Skipped) => ('=', record.error_message.clone().unwrap_or_default()),
            _ => (
                record.step.kind().mark(),
                change_text(&record.before, &record.after),
            ),
        };
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(": {}", clean(&detail))
        };
        writeln!(
            out,
            "  {} {}{detail}  {}",
            paint.mark(mark),
            clean(&record.step.to_string()),
            paint.dim(&format!("(row {}, {})", record.row, clean(&record.action)))
        )?;
    }
    Ok(())
}

/// Whether the plan shows `record`: planned changes, failures, and stable refusals (marked `=`:
/// kept, with the reason).
pub(crate) fn shown(record: &Record) -> bool {
    match record.status {
        Some(Status::Planned) => is_change(record),
        Some(Status::Failed) => true,
        Some(Status::Skipped) => record
            .error_code
            .as_deref()
            .is_some_and(|code| super::step::STABLE_REFUSALS.contains(&code)),
        _ => false,
    }
}

fn change_text(before: &str, after: &str) -> String {
    match (before.is_empty(), after.is_empty()) {
        (false, false) => format!("{before} -> {after}"),
        (false, true) => before.to_string(),
        (true, false) => after.to_string(),
        (true, true) => String::new(),
    }
}

/// Values from job files and from Graph reach a terminal: control characters (escape
/// sequences) are shown as `?`, invisible and direction-changing ones escaped (`\u{202e}`), so
/// the plan shows what the text really is.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.push('?');
        } else if crate::job::value::is_invisible(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{MethodType, PhoneType};
    use crate::plan::Change;
    use crate::plan::change::MethodName;

    #[test]
    fn invisible_and_direction_changing_characters_are_shown_escaped() {
        assert_eq!(
            clean("user\u{202e}moc.x@contoso.com\u{200b}\x1b[2J"),
            "user\\u{202e}moc.x@contoso.com\\u{200b}?[2J"
        );
    }

    fn record(row: u64, user: &str, action: &str, step: Change, status: Status) -> Record {
        Record {
            row,
            user: user.into(),
            action: action.into(),
            step,
            status: Some(status),
            ..Record::default()
        }
    }

    fn sample() -> Vec<Record> {
        let mut update = record(
            1,
            "a@x",
            "set-phone",
            Change::UpdatePhone {
                phone_type: PhoneType::Mobile,
            },
            Status::Planned,
        );
        update.before = "+46 701234567".into();
        update.after = "+46 709999999".into();
        let mut delete = record(
            2,
            "b@x",
            "remove-authenticator",
            Change::DeleteMethod {
                method: MethodName::Known(MethodType::MicrosoftAuthenticator),
                id: "m1".into(),
            },
            Status::Planned,
        );
        delete.before = "iPhone 8, created 2020-01-01".into();
        let mut create = record(
            3,
            "a@x",
            "set-phone",
            Change::CreatePhone {
                phone_type: PhoneType::Office,
            },
            Status::Planned,
        );
        create.after = "+46 8123456".into();
        let revoke = record(
            4,
            "b@x",
            "revoke-sessions",
            Change::RevokeSessions,
            Status::Planned,
        );
        let unchanged = record(5, "c@x", "set-email", Change::SetEmail, Status::Unchanged);
        let mut refused = record(
            6,
            "d@x\u{1b}[2J",
            "set-phone",
            Change::CreatePhone {
                phone_type: PhoneType::AlternateMobile,
            },
            Status::Failed,
        );
        refused.error_message = Some("needs a mobile".into());
        let read = record(7, "e@x", "list", Change::ReadUser, Status::Failed);
        let listed = record(
            8,
            "f@x",
            "list",
            Change::ListMethod {
                method: MethodName::Password,
                id: "pw".into(),
            },
            Status::Ok,
        );
        vec![
            update, delete, create, revoke, unchanged, refused, read, listed,
        ]
    }

    #[test]
    fn summary_counts_writes_by_kind_and_users_once() {
        let summary = PlanSummary::from_records(&sample());
        assert_eq!(summary.users_changed, 2);
        assert_eq!(
            (
                summary.creates,
                summary.updates,
                summary.deletes,
                summary.actions
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(summary.writes(), 4);
        assert_eq!(summary.unchanged, 1);
        assert_eq!(summary.failed_reads, 1);
        assert_eq!(summary.failed, 1);
    }

    #[test]
    fn the_plan_groups_changes_per_user_with_marks_and_totals() {
        let mut plan = crate::plan::console::PlanConsole::new();
        plan.add(&sample());
        let mut out = Vec::new();
        plan.group()
            .unwrap()
            .print(&mut out, Paint::default())
            .unwrap();
        let totals = PlanSummary::from_records(&sample()).line();
        writeln!(out, "\nPlan: {totals}.").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "a@x\n\
             \x20 ~ update phone mobile: +46 701234567 -> +46 709999999  (row 1, set-phone)\n\
             \x20 + create phone office: +46 8123456  (row 3, set-phone)\n\
             b@x\n\
             \x20 - delete microsoftAuthenticator m1: iPhone 8, created 2020-01-01  (row 2, remove-authenticator)\n\
             \x20 > revoke sessions  (row 4, revoke-sessions)\n\
             d@x?[2J\n\
             \x20 ! create phone alternateMobile: needs a mobile  (row 6, set-phone)\n\
             e@x\n\
             \x20 ! read user  (row 7, list)\n\
             \n\
             Plan: 2 users to change: 1 to create, 1 to update, 1 to delete, 1 action; \
             1 unchanged; 1 failed read; 1 failed.\n"
        );
    }
}
