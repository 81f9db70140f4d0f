//! The text after each command's flags in `--help`: the actions with one line each, examples of
//! the common uses, and the exit codes, so an admin finds them where `az`, `gh` and `m365` put
//! them. The actions' lines come from [`action_line`], which matches every [`ActionKind`], so a
//! new action cannot be added without its line.

use crate::job::ActionKind;

/// One line on what `action` does.
pub fn action_line(action: ActionKind) -> &'static str {
    match action {
        ActionKind::List => "report the user's methods (read-only)",
        ActionKind::SetPhone => {
            "give the user this number for this phone type: create, update or leave it"
        }
        ActionKind::RemovePhone => "remove a phone type (all: every phone)",
        ActionKind::SetEmail => "give the user this email method (self-service password reset)",
        ActionKind::RemoveEmail => "remove the email method",
        ActionKind::RemoveAuthenticator => {
            "remove Authenticator registrations by id, device, age or last use, or all"
        }
        ActionKind::RemoveMethod => "remove methods of a --method-type, with the same selectors",
        ActionKind::ResetMfa => {
            "remove every method but the password; then revoke sessions, issue a pass"
        }
        ActionKind::IssueTap => {
            "issue a temporary access pass, once per row (to the --tap-out file only)"
        }
        ActionKind::SetDefault => "set the default MFA method and/or system-preferred MFA",
        ActionKind::EnableSmsSignIn => "allow SMS sign-in on the mobile phone",
        ActionKind::DisableSmsSignIn => "stop SMS sign-in on the mobile phone",
        ActionKind::RevokeSessions => "invalidate the user's refresh tokens (sign out everywhere)",
        ActionKind::IssueQrPin => {
            "create a QR code + PIN method (QR code and PIN to --secrets-out only)"
        }
        ActionKind::ResetQrPin => "reset the QR code PIN method's PIN (to --secrets-out only)",
        ActionKind::AssignOathToken => "assign the OATH token serial_number (+verification_code)",
        ActionKind::UnassignOathToken => "unassign the hardware OATH token serial_number",
    }
}

/// The actions, one line each, under a heading.
pub fn actions() -> String {
    let mut text = String::from("Actions (a job row's action column, or --action):\n");
    let width = ActionKind::ALL
        .iter()
        .map(|a| a.name().len())
        .max()
        .unwrap_or(0);
    for action in ActionKind::ALL {
        text.push_str(&format!(
            "  {:width$}  {}\n",
            action.name(),
            action_line(action)
        ));
    }
    text
}

/// The exit codes of `run` and `export` (DESIGN.md, "Exit codes").
pub const EXIT_CODES: &str = "\
Exit codes:
  0    every row ok, unchanged, planned or skipped (excluded, stable refusals)
  1    some rows failed (the report says which; --strict: stable refusals too)
  2    usage, job-file, credential or permission error before work began
  130  interrupted (Ctrl-C); continue with --resume";

const RUN_EXAMPLES: &str = "\
Examples:
  # Try a sample on the built-in simulated tenant (no credentials needed)
  authbulk run samples/phone-migration.csv --simulate --dry-run

  # Preview a job, then apply it (asks before writing; the report names every change)
  authbulk run phones.csv --dry-run
  authbulk run phones.csv --report phones-report.csv

  # Reset MFA for a group's members and issue passes, without asking
  authbulk run --group <GROUP-ID> --action reset-mfa --issue-tap true --tap-out taps.csv -y

  # Every user but admins and a group (by name); a removing action on every user needs the
  # tenant's default domain, typed or given
  authbulk run --all-users --action remove-phone --phone-type office --exclude-admins \\
    --exclude-group \"Break-glass\" --confirm-domain contoso.onmicrosoft.com -y

  # Nightly: remove Authenticator registrations unused for 180 days, never moving a
  # default to a weaker method (those registrations are kept and reported skipped)
  authbulk run --all-users --action remove-authenticator --unused-for 180d --no-weaker-default \\
    -y --report nightly.jsonl --confirm-domain contoso.onmicrosoft.com

  # Save the plan for a review (a change board, a second admin), then apply exactly it
  authbulk run phones.csv --dry-run --plan-out phones.plan.jsonl
  authbulk apply phones.plan.jsonl --report phones-report.csv

  # Continue a run that was interrupted
  authbulk run phones.csv --report phones-report.csv --resume -y

  # The report on stdout for another program (the plan then goes to stderr)
  authbulk run phones.csv --simulate -y --report - | ConvertFrom-Csv

  # QR code + PIN badges for frontline workers: a PNG and a PIN file per user, only in the
  # --secrets-out folder (new or empty; mode 0700); --replace renews existing ones
  authbulk run shift-a.csv --action issue-qr-pin --qr-lifetime-days 180 --secrets-out badges-a
  authbulk run forgot-pin.csv --action reset-qr-pin --secrets-out pins-0312";

const EXPORT_EXIT_CODES: &str = "\
Exit codes:
  0    every user read
  1    some users could not be read (their rows are \"error\" rows)
  2    usage, job-file or credential error before reading
  130  interrupted (Ctrl-C): the output holds every user read so far";

const EXPORT_EXAMPLES: &str = "\
Examples:
  # Every user's methods, to a timestamped CSV in the current folder
  authbulk export --all-users

  # The users of a job file, before changing them
  authbulk export phones.csv --out before.csv

  # A group, as JSON Lines on stdout
  authbulk export --group <GROUP-ID> --out - --out-format jsonl | jq .method_type

  # On the simulated tenant
  authbulk export --all-users --simulate --sim-users 50 --out -";

const STATUS_EXIT_CODES: &str = "\
Exit codes:
  0    every target user listed (or left out by a filter)
  1    some users' methods could not be read (without P1/P2; each named on stderr)
  2    usage, job-file, credential or permission error before listing
  130  interrupted (Ctrl-C): the output holds every user listed so far";

const VALIDATE_EXAMPLES: &str = "\
Examples:
  authbulk validate phones.csv
  authbulk validate users.csv --action set-phone --default-region SE
  Get-Content job.csv | authbulk validate - --format csv";

const VALIDATE_EXIT_CODES: &str = "\
Exit codes:
  0  every file is a valid job
  2  some file has problems (each printed with its line)";

/// `run --help`'s closing text.
pub fn run_after() -> String {
    format!("{}\n{RUN_EXAMPLES}\n\n{EXIT_CODES}", actions())
}

const APPLY_TEXT: &str = "\
The plan is checked whole first (a bad line is exit 2 naming FILE:LINE; a plan of another
format version, or one without its end line, is refused), and a token for another tenant than
the plan's is refused (exit 2, naming both). Then the plan's totals are shown and, as with
`run`, confirmed on a terminal (--yes without one; --max-changes guards the totals).

Each planned user is read once (a plan's deletes alone cannot see a method registered since it
was made). A user whose methods are what the plan saw gets exactly the plan's steps. A user
whose state changed since (\"drifted\") is planned again against the current state, with the
plan's own clock and rules, and that new plan is applied; a `skipped` record with the code
`drifted` says what changed, and the summary counts the drifted users. Passes and QR code PINs
are made now, into --tap-out / --secrets-out: a plan never holds a secret.

Examples:
  authbulk run --group <GROUP-ID> --action reset-mfa --dry-run --plan-out reset.plan.jsonl
  authbulk apply reset.plan.jsonl --max-changes 500 -y --report reset-report.csv";

/// `apply --help`'s closing text.
pub fn apply_after() -> String {
    format!("{APPLY_TEXT}\n\n{EXIT_CODES}")
}

/// `export --help`'s closing text.
pub fn export_after() -> String {
    format!(
        "Rows of job files are read for their users; a row without an action is `list`.\n\n\
         {EXPORT_EXAMPLES}\n\n{EXPORT_EXIT_CODES}"
    )
}

const STATUS_TEXT: &str = "\
Columns are Graph's userRegistrationDetails properties: id, userPrincipalName, userDisplayName,
isAdmin, isMfaRegistered, isMfaCapable, isPasswordlessCapable, isSsprRegistered, isSsprEnabled,
isSsprCapable, methodsRegistered (joined with ;), defaultMfaMethod,
userPreferredMethodForSecondaryAuthentication, lastUpdatedDateTime, userType. The CSV is a valid
job file (its id column names the user). The report needs AuditLog.Read.All and Microsoft Entra
ID P1/P2; without P1/P2 each user's methods are read instead and the columns that cannot be
derived from them are left empty (stderr says which).

Filters: --without-mfa, --sms-only, --admins, --has METHOD, --lacks METHOD (methodsRegistered
names: mobilePhone, alternateMobilePhone, officePhone, email, microsoftAuthenticatorPush,
microsoftAuthenticatorPasswordless, softwareOneTimePasscode, hardwareOneTimePasscode, fido2,
passKeyDeviceBound, passKeyDeviceBoundAuthenticator, passKeyDeviceBoundWindowsHello,
windowsHelloForBusiness, macOsSecureEnclaveKey, temporaryAccessPass, securityQuestion).

Examples:
  # Users without MFA, then a Temporary Access Pass for each of them
  authbulk status --all-users --without-mfa --out no-mfa.csv
  authbulk run no-mfa.csv --action issue-tap --tap-out taps.csv

  # Users who sign in with phones alone
  authbulk status --all-users --sms-only --out - | less

  # A group's admins without a FIDO2 key, as JSON Lines
  authbulk status --group <GROUP-ID> --admins --lacks fido2 --out admins.jsonl";

/// `status --help`'s closing text.
pub fn status_after() -> String {
    format!("{STATUS_TEXT}\n\n{STATUS_EXIT_CODES}")
}

/// `validate --help`'s closing text.
pub fn validate_after() -> String {
    format!(
        "{}\n{VALIDATE_EXAMPLES}\n\n{VALIDATE_EXIT_CODES}",
        actions()
    )
}

/// `sim --help`'s closing text.
pub fn sim_after() -> &'static str {
    "\
Examples:
  # A tenant of 5,000 users; point runs at it with --graph-url and AZURE_AUTHORITY_HOST
  authbulk sim --users 5000 --listen 127.0.0.1:8080

Exit codes:
  0  stopped with Ctrl-C
  2  bad flags, or the address is in use"
}

/// The top-level `--help`'s closing text.
pub fn main_after() -> String {
    format!(
        "Examples:\n  \
           authbulk run samples/phone-migration.csv --simulate --dry-run\n  \
           authbulk run job.csv --dry-run\n  \
           authbulk export --all-users --out before.csv\n  \
           authbulk completions bash > ~/.local/share/bash-completion/completions/authbulk\n\n\
         {EXIT_CODES}\n\n\
         `authbulk <COMMAND> --help` lists each command's flags, actions and examples."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_one_line() {
        let text = actions();
        for action in ActionKind::ALL {
            let line = text
                .lines()
                .find(|l| l.split_whitespace().next() == Some(action.name()))
                .unwrap_or_else(|| panic!("{} missing:\n{text}", action.name()));
            assert!(line.len() <= 100, "{line}");
        }
    }
}
