//! From one row's cells to an [`Operation`], or to every [`Problem`] the row has. Knows what each
//! action needs (set-phone a number, remove-method a method type, ...) and which columns it uses,
//! and fills empty cells from the [`Defaults`] that the command-line flags give. Called by the CSV
//! and JSON readers for each row, and by `run` for targets given as `--all-users`/`--group`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::job::glob;
use crate::job::header::{COLUMNS, Column};
use crate::job::op::{
    Action, ActionKind, DefaultMethod, MethodType, OathCode, Operation, PhoneSelector, PhoneType,
    QrPinParams, Selector, TapParams,
};
use crate::job::phone;
use crate::job::value::{self, ValueError};

/// A bad row, or one bad cell of it: where, what, why, and what to do. A row can have several.
/// Displayed on one line, e.g.
/// `jobs.csv:14: phone_number "4.67E+10": a spreadsheet turned this number into scientific
/// notation (hint: format the column as text and export again)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file as the user named it.
    pub file: Arc<str>,
    /// Index of the data row in its file, from 1.
    pub row: u64,
    /// Line as a spreadsheet program shows it (the header is line 1; for JSON the line where
    /// the object starts).
    pub line: u64,
    /// The column as the file writes its header (or the canonical name when the file has no
    /// such column); `None` for a problem of the whole row.
    pub column: Option<Arc<str>>,
    /// The cell's value as given; `None` when the cell is missing or empty.
    pub value: Option<String>,
    /// What is wrong.
    pub why: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        match (&self.column, &self.value) {
            (Some(column), Some(value)) => {
                let shown: String = value.chars().take(80).collect();
                let more = if shown.len() < value.len() { "..." } else { "" };
                write!(f, "{column} \"")?;
                // Quotes and control characters escaped so the line stays one line; apostrophes
                // (o'neil@...) left alone.
                for c in shown.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        c if c.is_control() => write!(f, "{}", c.escape_debug())?,
                        // Shown as what it is, not as the text it disguises itself as.
                        c if super::value::is_invisible(c) => {
                            write!(f, "{}", c.escape_unicode())?;
                        }
                        c => write!(f, "{c}")?,
                    }
                }
                write!(f, "{more}\": ")?;
            }
            (Some(column), None) => write!(f, "{column}: ")?,
            (None, _) => {}
        }
        f.write_str(&self.why)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

/// Validated defaults for empty cells, from the flags named like the columns (`--action`,
/// `--phone-type`, `--older-than`, ...). Each field is parsed with the same rules as a cell.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Defaults {
    /// `--action`
    pub action: Option<ActionKind>,
    /// `--phone-type`
    pub phone_type: Option<PhoneSelector>,
    /// `--phone-number`, normalised to Graph's form.
    pub phone_number: Option<String>,
    /// `--email`
    pub email: Option<String>,
    /// `--method-type`
    pub method_type: Option<MethodType>,
    /// `--method-id`
    pub method_id: Option<String>,
    /// `--older-than`
    pub older_than: Option<Duration>,
    /// `--unused-for`
    pub unused_for: Option<Duration>,
    /// `--device`
    pub device: Option<String>,
    /// `--keep-newest`
    pub keep_newest: Option<u32>,
    /// `--lifetime-minutes`
    pub lifetime_minutes: Option<u32>,
    /// `--usable-once`
    pub usable_once: Option<bool>,
    /// `--start-time`
    pub start_time: Option<DateTime<Utc>>,
    /// `--default-method`
    pub default_method: Option<DefaultMethod>,
    /// `--system-preferred`
    pub system_preferred: Option<bool>,
    /// `--revoke-sessions`
    pub revoke_sessions: Option<bool>,
    /// `--issue-tap`
    pub issue_tap: Option<bool>,
    /// `--default-region`: the country of phone numbers written without a country code.
    pub default_region: Option<phone::CountryId>,
    /// `--qr-lifetime-days`
    pub qr_lifetime_days: Option<u32>,
    /// `--replace`
    pub replace: Option<bool>,
}

impl Defaults {
    /// The defaults as canonical text (one `name=value` line per flag given, values in their
    /// validated form), for the fingerprint `--resume` compares: the same flags give the same
    /// text whatever way they were written.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        let mut put = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                out.push_str(name);
                out.push('=');
                out.push_str(&value);
                out.push('\n');
            }
        };
        put("action", self.action.map(|a| a.to_string()));
        put(
            "phone_type",
            self.phone_type.and_then(|p| serde_json::to_string(&p).ok()),
        );
        put("phone_number", self.phone_number.clone());
        put("email", self.email.as_ref().map(|e| e.to_lowercase()));
        put("method_type", self.method_type.map(|m| m.to_string()));
        put("method_id", self.method_id.clone());
        put(
            "older_than",
            self.older_than.map(|d| d.as_secs().to_string()),
        );
        put(
            "unused_for",
            self.unused_for.map(|d| d.as_secs().to_string()),
        );
        put("device", self.device.clone());
        put("keep_newest", self.keep_newest.map(|n| n.to_string()));
        put(
            "lifetime_minutes",
            self.lifetime_minutes.map(|n| n.to_string()),
        );
        put("usable_once", self.usable_once.map(|b| b.to_string()));
        put("start_time", self.start_time.map(|t| t.to_rfc3339()));
        put("default_method", self.default_method.map(|m| m.to_string()));
        put(
            "system_preferred",
            self.system_preferred.map(|b| b.to_string()),
        );
        put(
            "revoke_sessions",
            self.revoke_sessions.map(|b| b.to_string()),
        );
        put("issue_tap", self.issue_tap.map(|b| b.to_string()));
        put(
            "qr_lifetime_days",
            self.qr_lifetime_days.map(|n| n.to_string()),
        );
        put("replace", self.replace.map(|b| b.to_string()));
        put(
            "default_region",
            self.default_region
                .map(|r| AsRef::<str>::as_ref(&r).to_string()),
        );
        out
    }

    /// Set the default of `column` from a flag's text, with the rules of a cell.
    /// `user` has no default: a default user would turn every row into the same person.
    pub fn set(&mut self, column: Column, text: &str) -> Result<(), ValueError> {
        let text = text.trim();
        match column {
            Column::User => {
                return Err(ValueError::bare(
                    "the user cannot have a default: name users in the job file",
                ));
            }
            Column::Action => self.action = Some(value::action(text)?),
            Column::PhoneType => self.phone_type = Some(value::phone_type(text)?),
            Column::PhoneNumber => {
                self.phone_number = Some(phone::normalise_in(text, self.default_region)?)
            }
            Column::Email => {
                value::email(text)?;
                self.email = Some(text.to_string());
            }
            Column::MethodType => self.method_type = Some(value::method_type(text)?),
            Column::MethodId => {
                value::method_id(text)?;
                self.method_id = Some(text.to_string());
            }
            Column::OlderThan => self.older_than = Some(value::duration(text)?),
            Column::UnusedFor => self.unused_for = Some(value::duration(text)?),
            Column::Device => {
                glob::check(text)?;
                self.device = Some(text.to_string());
            }
            Column::KeepNewest => self.keep_newest = Some(value::keep_newest(text)?),
            Column::LifetimeMinutes => self.lifetime_minutes = Some(value::lifetime_minutes(text)?),
            Column::UsableOnce => self.usable_once = Some(value::boolean(text)?),
            Column::StartTime => self.start_time = Some(value::start_time(text)?),
            Column::DefaultMethod => self.default_method = Some(value::default_method(text)?),
            Column::SystemPreferred => self.system_preferred = Some(value::boolean(text)?),
            Column::RevokeSessions => self.revoke_sessions = Some(value::boolean(text)?),
            Column::IssueTap => self.issue_tap = Some(value::boolean(text)?),
            Column::QrLifetimeDays => self.qr_lifetime_days = Some(value::qr_lifetime_days(text)?),
            Column::Replace => self.replace = Some(value::boolean(text)?),
            Column::ExpectedUpn | Column::MobilePhone | Column::BusinessPhones => {
                return Err(ValueError::bare(
                    "describes the user in a job file: it has no default",
                ));
            }
            Column::SerialNumber | Column::VerificationCode => {
                return Err(ValueError::bare(
                    "names one token of one row in a job file: it has no default",
                ));
            }
        }
        Ok(())
    }

    /// The operation for a target user given outside a job file (`--all-users`, `--group`):
    /// every parameter comes from the flags, checked as for a job row with only a user.
    pub fn operation_for(&self, user: &str, row: u64) -> Result<Operation, Vec<Problem>> {
        let names: [Option<Arc<str>>; COLUMNS] = Default::default();
        let ctx = RowContext {
            file: Arc::from("--action"),
            names: &names,
            defaults: self,
        };
        let mut cells: Cells<'_> = [None; COLUMNS];
        cells[Column::User.index()] = Some(user);
        build(&ctx, row, row, &cells, Vec::new())
    }
}

/// One row's non-empty, trimmed cells, by [`Column::index`].
pub type Cells<'a> = [Option<&'a str>; COLUMNS];

/// What a row check needs besides the row: the file's name, its headers as written, defaults.
pub struct RowContext<'a> {
    /// The file as the user named it.
    pub file: Arc<str>,
    /// Header as written per known column.
    pub names: &'a [Option<Arc<str>>; COLUMNS],
    /// Defaults for empty cells.
    pub defaults: &'a Defaults,
}

/// The columns each action uses besides `user` and `action`.
fn uses(kind: ActionKind) -> &'static [Column] {
    use Column::*;
    const SELECTORS: &[Column] = &[MethodId, Device, OlderThan, UnusedFor, KeepNewest];
    match kind {
        ActionKind::List | ActionKind::RemoveEmail | ActionKind::RevokeSessions => &[],
        ActionKind::SetPhone => &[PhoneType, PhoneNumber],
        ActionKind::RemovePhone | ActionKind::EnableSmsSignIn | ActionKind::DisableSmsSignIn => {
            &[PhoneType]
        }
        ActionKind::SetEmail => &[Email],
        ActionKind::RemoveAuthenticator => SELECTORS,
        ActionKind::RemoveMethod => &[
            MethodType, MethodId, Device, OlderThan, UnusedFor, KeepNewest,
        ],
        ActionKind::ResetMfa => &[
            RevokeSessions,
            IssueTap,
            LifetimeMinutes,
            UsableOnce,
            StartTime,
        ],
        ActionKind::IssueTap => &[LifetimeMinutes, UsableOnce, StartTime],
        ActionKind::SetDefault => &[DefaultMethod, SystemPreferred],
        ActionKind::IssueQrPin => &[QrLifetimeDays, Replace],
        ActionKind::ResetQrPin => &[],
        ActionKind::AssignOathToken => &[SerialNumber, VerificationCode],
        ActionKind::UnassignOathToken => &[SerialNumber],
    }
}

/// Collects a row's problems.
struct Check<'c, 'a> {
    ctx: &'c RowContext<'a>,
    cells: &'c Cells<'c>,
    row: u64,
    line: u64,
    problems: Vec<Problem>,
}

impl Check<'_, '_> {
    fn column_name(&self, column: Column) -> Arc<str> {
        self.ctx.names[column.index()]
            .clone()
            .unwrap_or_else(|| Arc::from(column.name()))
    }

    fn problem(&mut self, column: Option<Column>, value: Option<&str>, err: ValueError) {
        self.problems.push(Problem {
            file: self.ctx.file.clone(),
            row: self.row,
            line: self.line,
            column: column.map(|c| self.column_name(c)),
            value: value.map(str::to_string),
            why: err.why,
            hint: err.hint,
        });
    }

    /// The cell's parsed value, else the default, else `None`; a bad cell is recorded.
    fn get<T: Clone>(
        &mut self,
        column: Column,
        parse: impl Fn(&str) -> Result<T, ValueError>,
        default: &Option<T>,
    ) -> Option<T> {
        match self.cells[column.index()] {
            Some(text) => match parse(text) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.problem(Some(column), Some(text), e);
                    None
                }
            },
            None => default.clone(),
        }
    }

    /// A text cell checked by `check`, else the default.
    fn text(
        &mut self,
        column: Column,
        check: impl Fn(&str) -> Result<(), ValueError>,
        default: &Option<String>,
    ) -> Option<String> {
        self.get(column, |t| check(t).map(|()| t.to_string()), default)
    }

    fn missing(&mut self, column: Column, why: String) {
        let hint = format!(
            "fill the {} column or pass {}",
            self.column_name(column),
            column.flag()
        );
        self.problem(Some(column), None, ValueError::new(why, hint));
    }

    fn selector(&mut self) -> Selector {
        let d = self.ctx.defaults;
        Selector {
            method_id: self.text(Column::MethodId, value::method_id, &d.method_id),
            device: self.text(Column::Device, glob::check, &d.device),
            older_than: self.get(Column::OlderThan, value::duration, &d.older_than),
            unused_for: self.get(Column::UnusedFor, value::duration, &d.unused_for),
            keep_newest: self.get(Column::KeepNewest, value::keep_newest, &d.keep_newest),
        }
    }

    fn tap(&mut self) -> TapParams {
        let d = self.ctx.defaults;
        TapParams {
            lifetime_minutes: self.get(
                Column::LifetimeMinutes,
                value::lifetime_minutes,
                &d.lifetime_minutes,
            ),
            usable_once: self.get(Column::UsableOnce, value::boolean, &d.usable_once),
            start_time: self.get(Column::StartTime, value::start_time, &d.start_time),
        }
    }

    fn phone_type(&mut self, all_allowed: bool) -> PhoneType {
        let d = self.ctx.defaults.phone_type;
        match self.get(Column::PhoneType, value::phone_type, &d) {
            Some(PhoneSelector::One(t)) => t,
            Some(PhoneSelector::All) if !all_allowed => {
                let text = self.cells[Column::PhoneType.index()];
                self.problem(
                    Some(Column::PhoneType),
                    Some(text.unwrap_or("all")),
                    ValueError::new(
                        "`all` is only for remove-phone",
                        "name one phone type: mobile, alternateMobile or office",
                    ),
                );
                PhoneType::Mobile
            }
            _ => PhoneType::Mobile,
        }
    }
}

/// Check one row and build its operation, or return every problem it has.
pub fn build(
    ctx: &RowContext<'_>,
    row: u64,
    line: u64,
    cells: &Cells<'_>,
    extra: Vec<(Arc<str>, String)>,
) -> Result<Operation, Vec<Problem>> {
    let mut c = Check {
        ctx,
        cells,
        row,
        line,
        problems: Vec::new(),
    };
    let user = match cells[Column::User.index()] {
        Some(text) => match value::user(text) {
            Ok(()) => Some(text),
            Err(e) => {
                c.problem(Some(Column::User), Some(text), e);
                None
            }
        },
        None => {
            let hint = "every row names its user by UPN or object id".to_string();
            c.problem(
                Some(Column::User),
                None,
                ValueError::new("the user is missing", hint),
            );
            None
        }
    };
    // The UPN a Get-MgUser export puts next to the id: checked against Graph's answer.
    let expected_upn = c.text(Column::ExpectedUpn, value::user, &None);
    let kind = match c.get(Column::Action, value::action, &ctx.defaults.action) {
        Some(kind) => kind,
        None => {
            if cells[Column::Action.index()].is_none() {
                c.missing(Column::Action, "the action is missing".to_string());
            }
            return Err(c.problems);
        }
    };
    // A filled cell the action does not use is refused rather than ignored: an `older_than`
    // on a reset-mfa row, or a number on a remove-phone row, says the admin expects a narrower
    // change than the action makes. Defaults from flags apply only where they are used.
    let used = uses(kind);
    for column in Column::ALL.into_iter().skip(2) {
        if let Some(text) = cells[column.index()]
            && !used.contains(&column)
            && !column.describes_user()
        {
            let users: Vec<&str> = ActionKind::ALL
                .into_iter()
                .filter(|k| uses(*k).contains(&column))
                .map(ActionKind::name)
                .collect();
            c.problem(
                Some(column),
                Some(text),
                ValueError::new(
                    format!("{kind} does not use this column"),
                    format!(
                        "clear the cell, or use an action that does: {}",
                        users.join(", ")
                    ),
                ),
            );
        }
    }
    let d = ctx.defaults;
    let action = match kind {
        ActionKind::List => Action::List,
        ActionKind::SetPhone => {
            let region = d.default_region;
            let normalise = |text: &str| phone::normalise_in(text, region);
            // A user export's office number alone (no phone_number, no MobilePhone, no type
            // given) is an office set-phone.
            let only_business = cells[Column::PhoneType.index()].is_none()
                && d.phone_type.is_none()
                && cells[Column::PhoneNumber.index()].is_none()
                && cells[Column::MobilePhone.index()].is_none()
                && cells[Column::BusinessPhones.index()].is_some();
            let phone_type = match only_business {
                true => PhoneType::Office,
                false => c.phone_type(false),
            };
            // The phone_number cell, else the user property of that phone type, else
            // --phone-number.
            let property = match phone_type {
                PhoneType::Mobile => Some(Column::MobilePhone),
                PhoneType::Office => Some(Column::BusinessPhones),
                PhoneType::AlternateMobile => None,
            }
            .filter(|column| cells[column.index()].is_some());
            let number = match property {
                Some(column) if cells[Column::PhoneNumber.index()].is_none() => c.get(
                    column,
                    |text| phone::normalise_property(text, region),
                    &None,
                ),
                _ => c.get(Column::PhoneNumber, normalise, &d.phone_number),
            };
            if number.is_none()
                && cells[Column::PhoneNumber.index()].is_none()
                && property.is_none()
            {
                c.missing(Column::PhoneNumber, "set-phone needs a phone number".into());
            }
            Action::SetPhone {
                phone_type,
                number: number.unwrap_or_default(),
            }
        }
        ActionKind::RemovePhone => {
            match c.get(Column::PhoneType, value::phone_type, &d.phone_type) {
                Some(selector) => Action::RemovePhone(selector),
                None => Action::RemovePhone(PhoneSelector::One(PhoneType::Mobile)),
            }
        }
        ActionKind::SetEmail => {
            let address = c.text(Column::Email, value::email, &d.email);
            if address.is_none() && cells[Column::Email.index()].is_none() {
                c.missing(Column::Email, "set-email needs an email address".into());
            }
            Action::SetEmail {
                address: address.unwrap_or_default(),
            }
        }
        ActionKind::RemoveEmail => Action::RemoveEmail,
        ActionKind::RemoveAuthenticator => Action::RemoveAuthenticator(c.selector()),
        ActionKind::RemoveMethod => {
            let method_type = c.get(Column::MethodType, value::method_type, &d.method_type);
            if method_type.is_none() && cells[Column::MethodType.index()].is_none() {
                c.missing(
                    Column::MethodType,
                    "remove-method needs a method type".into(),
                );
            }
            Action::RemoveMethod {
                method_type: method_type.unwrap_or(MethodType::MicrosoftAuthenticator),
                select: c.selector(),
            }
        }
        ActionKind::ResetMfa => {
            let revoke_sessions = c
                .get(Column::RevokeSessions, value::boolean, &d.revoke_sessions)
                .unwrap_or(false);
            let issue_tap = c
                .get(Column::IssueTap, value::boolean, &d.issue_tap)
                .unwrap_or(false);
            let tap = c.tap();
            let tap_cells = [
                Column::LifetimeMinutes,
                Column::UsableOnce,
                Column::StartTime,
            ];
            if !issue_tap {
                for column in tap_cells {
                    if let Some(text) = cells[column.index()] {
                        c.problem(
                            Some(column),
                            Some(text),
                            ValueError::new(
                                "a pass is only issued when issue_tap is true",
                                "set issue_tap to true, or clear the cell",
                            ),
                        );
                    }
                }
            }
            Action::ResetMfa {
                revoke_sessions,
                issue_tap: issue_tap.then_some(tap),
            }
        }
        ActionKind::IssueTap => Action::IssueTap(c.tap()),
        ActionKind::SetDefault => {
            let method = c.get(
                Column::DefaultMethod,
                value::default_method,
                &d.default_method,
            );
            let system_preferred =
                c.get(Column::SystemPreferred, value::boolean, &d.system_preferred);
            if method.is_none()
                && system_preferred.is_none()
                && cells[Column::DefaultMethod.index()].is_none()
                && cells[Column::SystemPreferred.index()].is_none()
            {
                c.missing(
                    Column::DefaultMethod,
                    "set-default needs a default_method or system_preferred".into(),
                );
            }
            Action::SetDefault {
                method,
                system_preferred,
            }
        }
        ActionKind::EnableSmsSignIn | ActionKind::DisableSmsSignIn => {
            if let Some(text) = cells[Column::PhoneType.index()]
                && !matches!(
                    value::phone_type(text),
                    Ok(PhoneSelector::One(PhoneType::Mobile))
                )
            {
                c.problem(
                    Some(Column::PhoneType),
                    Some(text),
                    ValueError::new(
                        "SMS sign-in exists only on the mobile phone",
                        "write mobile, or clear the cell",
                    ),
                );
            }
            if kind == ActionKind::EnableSmsSignIn {
                Action::EnableSmsSignIn
            } else {
                Action::DisableSmsSignIn
            }
        }
        ActionKind::RevokeSessions => Action::RevokeSessions,
        ActionKind::IssueQrPin => {
            let d = c.ctx.defaults;
            Action::IssueQrPin(QrPinParams {
                lifetime_days: c.get(
                    Column::QrLifetimeDays,
                    value::qr_lifetime_days,
                    &d.qr_lifetime_days,
                ),
                replace: c
                    .get(Column::Replace, value::boolean, &d.replace)
                    .unwrap_or(false),
            })
        }
        ActionKind::ResetQrPin => Action::ResetQrPin,
        ActionKind::AssignOathToken | ActionKind::UnassignOathToken => {
            let serial = match cells[Column::SerialNumber.index()] {
                Some(text) => text.to_string(),
                None => {
                    c.missing(
                        Column::SerialNumber,
                        format!("{kind} needs the token's serial_number"),
                    );
                    String::new()
                }
            };
            if kind == ActionKind::UnassignOathToken {
                Action::UnassignOathToken { serial }
            } else {
                let code = match cells[Column::VerificationCode.index()] {
                    Some(text) => match OathCode::parse(text) {
                        Some(code) => Some(code),
                        None => {
                            // The value is not echoed: a code is a credential while it lasts.
                            c.problem(
                                Some(Column::VerificationCode),
                                None,
                                ValueError::new(
                                    "not a 6-digit verification code",
                                    "write the six digits the token shows, or clear the cell",
                                ),
                            );
                            None
                        }
                    },
                    None => None,
                };
                Action::AssignOathToken { serial, code }
            }
        }
    };
    match user {
        Some(user) if c.problems.is_empty() => Ok(Operation {
            row,
            line,
            user: user.to_string(),
            action,
            extra,
            expected_upn,
        }),
        _ => Err(c.problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_display_on_one_line_with_apostrophes_intact() {
        let p = Problem {
            file: Arc::from("jobs.csv"),
            row: 3,
            line: 4,
            column: Some(Arc::from("UPN")),
            value: Some("o'neil \"x\"\nnext".into()),
            why: "not a UPN or object id".into(),
            hint: None,
        };
        assert_eq!(
            p.to_string(),
            "jobs.csv:4: UPN \"o'neil \\\"x\\\"\\nnext\": not a UPN or object id"
        );
        let long = Problem {
            value: Some("x".repeat(100)),
            ..p
        };
        assert!(
            long.to_string()
                .contains(&format!("{}...\"", "x".repeat(80)))
        );
    }
}
