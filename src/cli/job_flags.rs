//! Job flags shared by `validate` and `run`: `--format` for stdin (or to override an extension)
//! and one flag per job column (`--action`, `--phone-type`, `--older-than`, ...) giving the
//! default for rows that leave that cell empty, and the parameters for `--all-users`/`--group`
//! targets. Flattened into each command's arguments; [`JobFlags::defaults`] validates them into
//! the [`Defaults`] the job readers use, with exactly the rules of a cell.

use anyhow::anyhow;
use clap::Args;

use crate::job::{ActionKind, Column, Defaults, Format, JobError, JobSource, phone};

/// Per-row default flags (DESIGN.md, "Job files").
#[derive(Debug, Clone, Default, Args)]
pub struct JobFlags {
    /// Job format: needed for `-` (stdin); overrides a file's extension.
    #[arg(long, value_name = "csv|json|jsonl", value_parser = clap::builder::ValueParser::new(parse_format))]
    pub format: Option<Format>,
    /// Action for rows without one (and for --all-users/--group targets); the actions are
    /// listed below.
    #[arg(long, value_name = "ACTION", help_heading = "Row defaults", value_parser = ActionNames, hide_possible_values = true)]
    pub action: Option<String>,
    /// Phone type: mobile (default), alternateMobile, office, or all (remove-phone).
    #[arg(long, value_name = "TYPE", help_heading = "Row defaults")]
    pub phone_type: Option<String>,
    /// Phone number for set-phone, with country code (+46 70 123 45 67).
    #[arg(long, value_name = "NUMBER", help_heading = "Row defaults")]
    pub phone_number: Option<String>,
    /// Read phone numbers written without a country code (070-123 45 67) as this country's
    /// (ISO code: SE, GB, US); without it such numbers are refused.
    #[arg(long, value_name = "COUNTRY", help_heading = "Row defaults")]
    pub default_region: Option<String>,
    /// Email address for set-email.
    #[arg(long, value_name = "ADDRESS", help_heading = "Row defaults")]
    pub email: Option<String>,
    /// Method type for remove-method (fido2, softwareOath, ...).
    #[arg(long, value_name = "TYPE", help_heading = "Row defaults")]
    pub method_type: Option<String>,
    /// Remove only the method with this id.
    #[arg(long, value_name = "ID", help_heading = "Row defaults")]
    pub method_id: Option<String>,
    /// Select methods created longer ago than this (180d, 12w). A method Graph gives no
    /// creation date (most Microsoft Authenticator registrations) is never selected by age; the
    /// report and summary count those left.
    #[arg(long, value_name = "DURATION", help_heading = "Row defaults")]
    pub older_than: Option<String>,
    /// Select methods not used for this long (90d), by beta lastUsedDateTime, else creation.
    /// A method with neither date is never selected; the report and summary count those left.
    #[arg(long, value_name = "DURATION", help_heading = "Row defaults")]
    pub unused_for: Option<String>,
    /// Select methods whose device name matches this glob (iPhone*).
    #[arg(long, value_name = "GLOB", help_heading = "Row defaults")]
    pub device: Option<String>,
    /// Keep the N newest methods of the type (by creation date), select the rest. Methods
    /// without a creation date are never selected; the report and summary count those left.
    #[arg(long, value_name = "N", help_heading = "Row defaults")]
    pub keep_newest: Option<String>,
    /// Temporary access pass lifetime, 10 to 43200 minutes.
    #[arg(long, value_name = "MINUTES", help_heading = "Row defaults")]
    pub lifetime_minutes: Option<String>,
    /// Temporary access pass usable for one sign-in only (true/false).
    #[arg(long, value_name = "BOOL", help_heading = "Row defaults")]
    pub usable_once: Option<String>,
    /// Temporary access pass start (2026-03-01T08:00:00Z).
    #[arg(long, value_name = "TIME", help_heading = "Row defaults")]
    pub start_time: Option<String>,
    /// Default MFA method for set-default (push, oath, sms, voiceMobile, ...).
    #[arg(long, value_name = "METHOD", help_heading = "Row defaults")]
    pub default_method: Option<String>,
    /// System-preferred MFA for set-default (true/false).
    #[arg(long, value_name = "BOOL", help_heading = "Row defaults")]
    pub system_preferred: Option<String>,
    /// reset-mfa: also revoke the user's sessions (true/false).
    #[arg(long, value_name = "BOOL", help_heading = "Row defaults")]
    pub revoke_sessions: Option<String>,
    /// reset-mfa: also issue a temporary access pass (true/false).
    #[arg(long, value_name = "BOOL", help_heading = "Row defaults")]
    pub issue_tap: Option<String>,
    /// issue-qr-pin: lifetime of the standard QR code, 1 to 395 days (default: the QR code
    /// PIN policy's standardQRCodeLifetimeInDays, else 365).
    #[arg(long, value_name = "DAYS", help_heading = "Row defaults")]
    pub qr_lifetime_days: Option<String>,
    /// issue-qr-pin: replace a QR code PIN method the user already has (deleted, then a new one
    /// created); without it such a user is `unchanged`. A `replace` column decides per row.
    #[arg(long, help_heading = "Row defaults")]
    pub replace: bool,
}

fn parse_format(value: &str) -> Result<Format, String> {
    value.parse()
}

/// `--action`'s parser: the text as given (validated with a cell's rules, which accept
/// `Set Phone` and `set_phone`, by [`JobFlags::defaults`]), offering the action names to shell
/// completion.
#[derive(Debug, Clone, Copy)]
struct ActionNames;

impl clap::builder::TypedValueParser for ActionNames {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(ActionKind::ALL.into_iter().map(|action| {
            clap::builder::PossibleValue::new(action.name())
                .help(crate::cli::help::action_line(action))
        })))
    }
}

impl JobFlags {
    /// The validated defaults; an error names the flag, its value, why and what to do.
    pub fn defaults(&self) -> anyhow::Result<Defaults> {
        let mut defaults = Defaults::default();
        // First: --phone-number is read in that country.
        if let Some(code) = &self.default_region {
            defaults.default_region =
                Some(phone::region(code).map_err(|e| anyhow!("--default-region {code:?}: {e}"))?);
        }
        let flags = [
            (Column::Action, &self.action),
            (Column::PhoneType, &self.phone_type),
            (Column::PhoneNumber, &self.phone_number),
            (Column::Email, &self.email),
            (Column::MethodType, &self.method_type),
            (Column::MethodId, &self.method_id),
            (Column::OlderThan, &self.older_than),
            (Column::UnusedFor, &self.unused_for),
            (Column::Device, &self.device),
            (Column::KeepNewest, &self.keep_newest),
            (Column::LifetimeMinutes, &self.lifetime_minutes),
            (Column::UsableOnce, &self.usable_once),
            (Column::StartTime, &self.start_time),
            (Column::DefaultMethod, &self.default_method),
            (Column::SystemPreferred, &self.system_preferred),
            (Column::RevokeSessions, &self.revoke_sessions),
            (Column::IssueTap, &self.issue_tap),
            (Column::QrLifetimeDays, &self.qr_lifetime_days),
        ];
        for (column, value) in flags {
            if let Some(value) = value {
                defaults
                    .set(column, value)
                    .map_err(|e| anyhow!("{} {value:?}: {e}", column.flag()))?;
            }
        }
        if self.replace {
            defaults.replace = Some(true);
        }
        Ok(defaults)
    }

    /// The job sources the command-line arguments name (`-` is stdin).
    pub fn sources(&self, args: &[String]) -> Result<Vec<JobSource>, JobError> {
        args.iter()
            .map(|arg| JobSource::from_arg(arg, self.format))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{PhoneSelector, PhoneType};

    #[test]
    fn flags_become_validated_defaults() {
        let flags = JobFlags {
            action: Some("Set Phone".into()),
            phone_type: Some("office".into()),
            phone_number: Some("+46 70-123 45 67".into()),
            older_than: Some("90d".into()),
            ..JobFlags::default()
        };
        let d = flags.defaults().unwrap();
        assert_eq!(d.action, Some(ActionKind::SetPhone));
        assert_eq!(d.phone_type, Some(PhoneSelector::One(PhoneType::Office)));
        assert_eq!(d.phone_number.as_deref(), Some("+46 701234567"));
        assert_eq!(
            d.older_than,
            Some(std::time::Duration::from_secs(90 * 86_400))
        );
    }

    #[test]
    fn a_bad_flag_names_itself_its_value_and_why() {
        let flags = JobFlags {
            phone_number: Some("4.67E+10".into()),
            ..JobFlags::default()
        };
        let err = flags.defaults().unwrap_err().to_string();
        assert_eq!(
            err,
            "--phone-number \"4.67E+10\": a spreadsheet turned this number into scientific \
             notation (hint: format the column as text and export again)"
        );
    }

    #[test]
    fn stdin_needs_a_format() {
        let flags = JobFlags::default();
        assert!(matches!(
            flags.sources(&["-".into()]),
            Err(JobError::StdinNeedsFormat)
        ));
        let flags = JobFlags {
            format: Some(Format::JsonLines),
            ..JobFlags::default()
        };
        assert_eq!(
            flags.sources(&["-".into()]).unwrap(),
            vec![JobSource::Stdin {
                format: Format::JsonLines
            }]
        );
    }
}
