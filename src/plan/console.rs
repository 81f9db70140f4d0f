//! The plan on the console: [`PlanConsole`] gathers what a plan shows (changes and failures) while
//! users are read in parallel, and prints it at the end grouped by user in job order, so a plan
//! reads like the job file that asked for it and can go to a change review as it is; [`Paint`]
//! colours it on a terminal. The `run` command feeds it during a dry run and during the planning
//! before confirmation; the CLI decides whether there is colour (`--color`, `NO_COLOR`).
//!
//! Only shown records are kept (a job of unchanged rows keeps nothing), each as one record;
//! the plan of a very large change is held until it is printed, which is when a reviewer reads
//! it anyway.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};

use super::summary::{shown, write_changes};
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
#[derive(Debug, Default)]
pub struct PlanConsole {
    records: Vec<Record>,
}

impl PlanConsole {
    /// An empty plan.
    pub fn new() -> Self {
        PlanConsole::default()
    }

    /// Keep the records a plan shows (changes and failures); others only count in the totals.
    pub fn add(&mut self, records: &[Record]) {
        self.records
            .extend(records.iter().filter(|r| shown(r)).cloned());
    }

    /// Print the plan: users in the order of their first row, each user's lines in row order
    /// (a user named on rows 3 and 50 shows once, with both rows).
    pub fn print(mut self, out: &mut impl Write, paint: Paint) -> io::Result<()> {
        // Stable: a row's steps keep the order they were planned in.
        self.records.sort_by_key(|r| r.row);
        write_changes(out, &self.records, paint)
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
        let mut plan = PlanConsole::new();
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
        plan.print(&mut out, Paint::default()).unwrap();
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
