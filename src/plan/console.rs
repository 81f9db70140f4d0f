//! The plan on the console: [`PlanConsole`] gathers what a plan shows (changes and failures) while
//! users are read in parallel, and prints it at the end grouped by user in job order, so a plan
//! reads like the job file that asked for it and can go to a change review as it is; [`Paint`]
//! colours it on a terminal. The `run` command feeds it during a dry run and during the planning
//! before confirmation; the CLI decides whether there is colour (`--color`, `NO_COLOR`).
//!
//! Only shown records are kept (a job of unchanged rows keeps nothing), each as one record.
//! They are gathered in a [`Spill`] (at most a few thousand in memory, the rest in an unnamed
//! temporary file), so the plan of a change to a million users takes no more memory than the
//! plan of a thousand: [`PlanConsole::group`] sorts them by user, counts the users to change
//! and sorts the users by their first row; [`GroupedPlan::print`] prints them.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

use super::spill::{DEFAULT_LIMIT, Sorted, Spill};
use super::summary::{changes_user, shown, write_user};
use crate::report::Record;

/// Whether to colour console output, and how. `Paint::default()` is plain text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Paint {
    on: bool,
}

impl Paint {
    /// Colour when `on`.
    pub fn new(on: bool) -> Self {
        Paint { on }
    }

    /// Whether this paints at all.
    pub fn is_on(self) -> bool {
        self.on
    }

    fn styled(self, style: Style, text: &str) -> String {
        match self.on {
            true => format!("{}{text}{}", style.render(), style.render_reset()),
            false => text.to_string(),
        }
    }

    /// A user's heading: bold.
    pub fn user(self, text: &str) -> String {
        self.styled(Style::new().bold(), text)
    }

    /// A change's mark in its colour, as Terraform colours its plan.
    pub fn mark(self, mark: char) -> String {
        let colour = match mark {
            '+' => AnsiColor::Green,
            '-' | '!' => AnsiColor::Red,
            '~' => AnsiColor::Yellow,
            _ => AnsiColor::Cyan,
        };
        let mut style = Style::new().fg_color(Some(colour.into()));
        if mark == '!' {
            style = style.bold();
        }
        self.styled(style, &mark.to_string())
    }

    /// Secondary text (where a line comes from): dimmed.
    pub fn dim(self, text: &str) -> String {
        self.styled(Style::new().dimmed(), text)
    }
}

/// The plan's shown records, gathered as rows finish in any order, printed in job order.
pub struct PlanConsole {
    /// By (user, row): each user's records together, in row order.
    by_user: Spill<(String, u64), Record>,
    /// The temporary file could not be written: reported when the plan is printed.
    error: Option<io::Error>,
}

impl Default for PlanConsole {
    fn default() -> Self {
        PlanConsole::with_limit(DEFAULT_LIMIT)
    }
}

impl std::fmt::Debug for PlanConsole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanConsole")
            .field("records", &self.by_user.len())
            .finish()
    }
}

impl PlanConsole {
    /// An empty plan.
    pub fn new() -> Self {
        PlanConsole::default()
    }

    /// An empty plan that keeps at most `limit` records (and as many users) in memory.
    pub fn with_limit(limit: usize) -> Self {
        PlanConsole {
            by_user: Spill::new(limit),
            error: None,
        }
    }

    /// Keep the records a plan shows (changes and failures); others only count in the totals.
    pub fn add(&mut self, records: &[Record]) {
        for record in records.iter().filter(|r| shown(r)) {
            if self.error.is_some() {
                return;
            }
            if let Err(error) = self
                .by_user
                .push((record.user.clone(), record.row), record.clone())
            {
                self.error = Some(error);
            }
        }
    }

    /// Group the records by user: users in the order of their first row, each user's lines in
    /// row order (a user named on rows 3 and 50 shows once, with both rows). Counts the users
    /// with a change on the way.
    pub fn group(self) -> io::Result<GroupedPlan> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let limit = DEFAULT_LIMIT;
        let mut by_user = self.by_user.sorted()?;
        let mut users: Spill<u64, Vec<Record>> = Spill::new(limit);
        let mut users_changed = 0u64;
        let mut current: Vec<Record> = Vec::new();
        let mut flush = |current: &mut Vec<Record>| -> io::Result<()> {
            let Some(first) = current.first() else {
                return Ok(());
            };
            if current.iter().any(changes_user) {
                users_changed += 1;
            }
            users.push(first.row, std::mem::take(current))
        };
        while let Some((_, record)) = by_user.next_item()? {
            if current.first().is_some_and(|r| r.user != record.user) {
                flush(&mut current)?;
            }
            current.push(record);
        }
        flush(&mut current)?;
        Ok(GroupedPlan {
            users: users.sorted()?,
            users_changed,
        })
    }
}

/// The plan grouped by user, ready to print.
pub struct GroupedPlan {
    users: Sorted<u64, Vec<Record>>,
    /// Users with at least one change.
    pub users_changed: u64,
}

impl GroupedPlan {
    /// Print each user with its lines, users in the order of their first row.
    pub fn print(mut self, out: &mut impl Write, paint: Paint) -> io::Result<()> {
        while let Some((_, records)) = self.users.next_item()? {
            if let Some(first) = records.first() {
                write_user(out, &first.user, &records, paint)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::PhoneType;
    use crate::plan::Change;
    use crate::report::Status;

    fn record(row: u64, user: &str, step: Change, status: Status) -> Record {
        Record {
            row,
            user: user.into(),
            action: "set-phone".into(),
            step,
            status: Some(status),
            ..Record::default()
        }
    }

    #[test]
    fn the_plan_is_grouped_by_user_in_job_order_whatever_order_rows_end_in() {
        the_plan_is_grouped_with(PlanConsole::new());
    }

    #[test]
    fn a_plan_spilled_to_disk_prints_the_same_and_counts_its_users() {
        // Two records in memory at most: the others go to the temporary file.
        the_plan_is_grouped_with(PlanConsole::with_limit(2));
        let mut plan = PlanConsole::with_limit(1);
        for (row, user) in [(3, "b@x"), (1, "a@x"), (2, "b@x")] {
            plan.add(&[record(row, user, Change::SetEmail, Status::Planned)]);
        }
        plan.add(&[record(4, "c@x", Change::ReadMethods, Status::Failed)]);
        assert_eq!(plan.group().unwrap().users_changed, 2, "c@x only failed");
    }

    fn the_plan_is_grouped_with(mut plan: PlanConsole) {
        // Rows end out of order, as users run in parallel.
        plan.add(&[record(
            4,
            "b@x",
            Change::CreatePhone {
                phone_type: PhoneType::Office,
            },
            Status::Planned,
        )]);
        plan.add(&[record(
            2,
            "b@x",
            Change::UpdatePhone {
                phone_type: PhoneType::Mobile,
            },
            Status::Planned,
        )]);
        plan.add(&[record(3, "c@x", Change::SetEmail, Status::Unchanged)]);
        plan.add(&[record(
            5,
            "a@x",
            Change::CreatePhone {
                phone_type: PhoneType::Mobile,
            },
            Status::Planned,
        )]);
        plan.add(&[record(
            1,
            "a@x",
            Change::DeletePhone {
                phone_type: PhoneType::Office,
            },
            Status::Planned,
        )]);
        let mut out = Vec::new();
        plan.group()
            .unwrap()
            .print(&mut out, Paint::default())
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a@x\n\
             \x20 - delete phone office  (row 1, set-phone)\n\
             \x20 + create phone mobile  (row 5, set-phone)\n\
             b@x\n\
             \x20 ~ update phone mobile  (row 2, set-phone)\n\
             \x20 + create phone office  (row 4, set-phone)\n"
        );
    }

    #[test]
    fn paint_colours_marks_and_plain_leaves_text_alone() {
        let paint = Paint::new(true);
        assert_eq!(paint.mark('+'), "\u{1b}[32m+\u{1b}[0m");
        assert_eq!(paint.mark('-'), "\u{1b}[31m-\u{1b}[0m");
        assert!(paint.user("a@x").starts_with("\u{1b}[1m"));
        assert_eq!(Paint::default().mark('+'), "+");
        assert_eq!(Paint::default().user("a@x"), "a@x");
    }
}
