//! What a report record is about: a [`Change`] names each step the planner emits (a read, a
//! create, an update, a delete, an action) and the checks and guards that end a row without
//! one. It is typed so that the resume logic, the summary's kinds and the plan printer decide
//! on the enum; its [`Display`](fmt::Display) is the report's `step` text, and the journal
//! stores it with serde. Made by [`super::desired`], `reset`, [`super::default`],
//! [`super::apply`] and `run`'s per-row work; read by [`crate::run`]'s resume and
//! [`super::summary`].
//!
//! Two changes are equal exactly when their texts are: a variant carries only what its text
//! shows (the phone type, the method's type and id), so a step an earlier run journaled is
//! recognised in the new plan as before.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::step::ChangeKind;
use crate::job::{MethodType, PhoneSelector, PhoneType};

/// The type of a method as a step names it: a type this version knows, the password, or the
/// `@odata.type` of a type it does not know (a future method type still gets its records).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodName {
    /// A type this version knows.
    Known(MethodType),
    /// The password method.
    Password,
    /// An unknown type, by Graph's `@odata.type`.
    Other(String),
}

impl fmt::Display for MethodName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MethodName::Known(method_type) => f.write_str(method_type.name()),
            MethodName::Password => f.write_str("password"),
            MethodName::Other(odata_type) => f.write_str(odata_type),
        }
    }
}

/// One step of a row as the report names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// `read user`: resolve the user's object id.
    ReadUser,
    /// `read methods`: read the user's authentication methods.
    ReadMethods,
    /// `read sign-in preferences` (beta `signInPreferences`).
    ReadPreferences,
    /// `method <type> <id>`: one method of a `list` row.
    ListMethod {
        /// The method's type.
        method: MethodName,
        /// Its id.
        id: String,
    },
    /// `set phone <type>`: the check of a `set-phone` row that found the number in place.
    SetPhone {
        /// Which phone.
        phone_type: PhoneType,
    },
    /// `create phone <type>`.
    CreatePhone {
        /// Which phone.
        phone_type: PhoneType,
    },
    /// `update phone <type>`.
    UpdatePhone {
        /// Which phone.
        phone_type: PhoneType,
    },
    /// `delete phone <type>`.
    DeletePhone {
        /// Which phone.
        phone_type: PhoneType,
    },
    /// `remove phone <type>` / `remove phone all`: the check of a `remove-phone` row that found
    /// nothing to remove.
    RemovePhone {
        /// Which phones.
        selector: PhoneSelector,
    },
    /// `set email`: the check of a `set-email` row.
    SetEmail,
    /// `create email`.
    CreateEmail,
    /// `update email`.
    UpdateEmail,
    /// `delete email`.
    DeleteEmail,
    /// `remove email`: the check of a `remove-email` row.
    RemoveEmail,
    /// `remove <type>`: the check of a removal that chose no method.
    RemoveMethods {
        /// The type the row removes.
        method_type: MethodType,
    },
    /// `keep <n> undated <type>`: methods an age selector never chooses because Graph gives
    /// them no date.
    KeepUndated {
        /// The type the row removes.
        method_type: MethodType,
        /// How many were left.
        count: u32,
    },
    /// `delete <type> <id>`: delete one method other than a phone or the email.
    DeleteMethod {
        /// The method's type (an unknown type only in a refusal: it has no collection).
        method: MethodName,
        /// Its id.
        id: String,
    },
    /// `reset mfa`: the check of a `reset-mfa` row that found nothing to reset.
    ResetMfa,
    /// `issue temporaryAccessPass`.
    IssueTap,
    /// `revoke sessions`.
    RevokeSessions,
    /// `set default method` (beta `signInPreferences`), also the check of a `set-default` row.
    SetDefaultMethod,
    /// `enable smsSignIn` (`true`) or `disable smsSignIn`.
    SmsSignIn {
        /// On or off.
        on: bool,
    },
    /// `validate row`: a job row that failed validation.
    ValidateRow,
    /// `enumerate targets`: `--all-users` / `--group` could not be listed.
    EnumerateTargets,
    /// `all steps`: a row skipped as a whole (an excluded user).
    AllSteps,
    /// `not started`: a row an interruption cancelled before it ran. The default, until a
    /// record names its step.
    #[default]
    NotStarted,
    /// `create qrCodePin`: a QR code + PIN method (also the check of an `issue-qr-pin` row
    /// that found one).
    IssueQrPin,
    /// `reset qrCodePin pin`: a new temporary PIN.
    ResetQrPin,
    /// `read hardwareOath token <serial>`: look the token up in the tenant's inventory.
    ReadOathToken {
        /// Its serial number.
        serial: String,
    },
    /// `assign hardwareOath token <serial>`, also the check of an `assign-oath-token` row.
    AssignOathToken {
        /// Its serial number.
        serial: String,
    },
    /// `activate hardwareOath token <serial>`.
    ActivateOathToken {
        /// Its serial number.
        serial: String,
    },
    /// `unassign hardwareOath token <serial>`, also the check of an `unassign-oath-token` row.
    UnassignOathToken {
        /// Its serial number.
        serial: String,
    },
}

impl Change {
    /// The step that deletes a method of this type and id: the phone of its type, the email,
    /// or the typed method by id.
    pub fn delete(method: MethodName, phone_type: Option<PhoneType>, id: &str) -> Change {
        match (method, phone_type) {
            (_, Some(phone_type)) => Change::DeletePhone { phone_type },
            (MethodName::Known(MethodType::Email), _) => Change::DeleteEmail,
            (method, None) => Change::DeleteMethod {
                method,
                id: id.to_string(),
            },
        }
    }

    /// Create, update, delete or action, as the plan printer marks it and the totals count it.
    /// Checks (`set phone mobile`, `set default method`) count as the update they check for;
    /// reads and other records are actions (they are counted only as failures).
    pub fn kind(&self) -> ChangeKind {
        match self {
            Change::CreatePhone { .. }
            | Change::CreateEmail
            | Change::IssueTap
            | Change::IssueQrPin
            | Change::AssignOathToken { .. } => ChangeKind::Create,
            Change::ResetQrPin => ChangeKind::Update,
            Change::UpdatePhone { .. }
            | Change::UpdateEmail
            | Change::SetPhone { .. }
            | Change::SetEmail
            | Change::SetDefaultMethod => ChangeKind::Update,
            Change::DeletePhone { .. }
            | Change::DeleteEmail
            | Change::DeleteMethod { .. }
            | Change::UnassignOathToken { .. } => ChangeKind::Delete,
            _ => ChangeKind::Action,
        }
    }

    /// True for the reads that plan a row: when one fails, the row's state is unknown.
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            Change::ReadUser
                | Change::ReadMethods
                | Change::ReadPreferences
                | Change::ReadOathToken { .. }
        )
    }

    /// True for the deletion of a method.
    pub fn is_delete(&self) -> bool {
        self.kind() == ChangeKind::Delete
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::ReadUser => f.write_str("read user"),
            Change::ReadMethods => f.write_str("read methods"),
            Change::ReadPreferences => f.write_str("read sign-in preferences"),
            Change::ListMethod { method, id } => write!(f, "method {method} {id}"),
            Change::SetPhone { phone_type } => write!(f, "set phone {phone_type}"),
            Change::CreatePhone { phone_type } => write!(f, "create phone {phone_type}"),
            Change::UpdatePhone { phone_type } => write!(f, "update phone {phone_type}"),
            Change::DeletePhone { phone_type } => write!(f, "delete phone {phone_type}"),
            Change::RemovePhone {
                selector: PhoneSelector::One(phone_type),
            } => write!(f, "remove phone {phone_type}"),
            Change::RemovePhone {
                selector: PhoneSelector::All,
            } => f.write_str("remove phone all"),
            Change::SetEmail => f.write_str("set email"),
            Change::CreateEmail => f.write_str("create email"),
            Change::UpdateEmail => f.write_str("update email"),
            Change::DeleteEmail => f.write_str("delete email"),
            Change::RemoveEmail => f.write_str("remove email"),
            Change::RemoveMethods { method_type } => write!(f, "remove {method_type}"),
            Change::KeepUndated { method_type, count } => {
                write!(f, "keep {count} undated {method_type}")
            }
            Change::DeleteMethod { method, id } => write!(f, "delete {method} {id}"),
            Change::ResetMfa => f.write_str("reset mfa"),
            Change::IssueTap => f.write_str("issue temporaryAccessPass"),
            Change::RevokeSessions => f.write_str("revoke sessions"),
            Change::SetDefaultMethod => f.write_str("set default method"),
            Change::SmsSignIn { on: true } => f.write_str("enable smsSignIn"),
            Change::SmsSignIn { on: false } => f.write_str("disable smsSignIn"),
            Change::ValidateRow => f.write_str("validate row"),
            Change::EnumerateTargets => f.write_str("enumerate targets"),
            Change::AllSteps => f.write_str("all steps"),
            Change::NotStarted => f.write_str("not started"),
            Change::IssueQrPin => f.write_str("create qrCodePin"),
            Change::ResetQrPin => f.write_str("reset qrCodePin pin"),
            Change::ReadOathToken { serial } => write!(f, "read hardwareOath token {serial}"),
            Change::AssignOathToken { serial } => write!(f, "assign hardwareOath token {serial}"),
            Change::ActivateOathToken { serial } => {
                write!(f, "activate hardwareOath token {serial}")
            }
            Change::UnassignOathToken { serial } => {
                write!(f, "unassign hardwareOath token {serial}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_display_as_the_report_steps_and_map_to_their_kinds() {
        let cases = [
            (
                Change::CreatePhone {
                    phone_type: PhoneType::Mobile,
                },
                "create phone mobile",
                ChangeKind::Create,
            ),
            (
                Change::IssueTap,
                "issue temporaryAccessPass",
                ChangeKind::Create,
            ),
            (Change::UpdateEmail, "update email", ChangeKind::Update),
            (
                Change::SetDefaultMethod,
                "set default method",
                ChangeKind::Update,
            ),
            (
                Change::DeleteMethod {
                    method: MethodName::Known(MethodType::Fido2),
                    id: "x".into(),
                },
                "delete fido2 x",
                ChangeKind::Delete,
            ),
            (
                Change::DeleteMethod {
                    method: MethodName::Other("#microsoft.graph.newAuthenticationMethod".into()),
                    id: "x".into(),
                },
                "delete #microsoft.graph.newAuthenticationMethod x",
                ChangeKind::Delete,
            ),
            (
                Change::RevokeSessions,
                "revoke sessions",
                ChangeKind::Action,
            ),
            (
                Change::SmsSignIn { on: true },
                "enable smsSignIn",
                ChangeKind::Action,
            ),
            (
                Change::RemovePhone {
                    selector: PhoneSelector::All,
                },
                "remove phone all",
                ChangeKind::Action,
            ),
            (
                Change::ListMethod {
                    method: MethodName::Known(MethodType::Phone),
                    id: "m".into(),
                },
                "method phone m",
                ChangeKind::Action,
            ),
        ];
        for (change, text, kind) in cases {
            assert_eq!(change.to_string(), text);
            assert_eq!(change.kind(), kind, "{text}");
        }
    }

    #[test]
    fn a_change_survives_the_journal_and_deletes_of_phones_and_email_name_no_id() {
        let change = Change::DeleteMethod {
            method: MethodName::Known(MethodType::MicrosoftAuthenticator),
            id: "a1".into(),
        };
        let text = serde_json::to_string(&change).unwrap();
        assert_eq!(serde_json::from_str::<Change>(&text).unwrap(), change);
        assert_eq!(
            Change::delete(
                MethodName::Known(MethodType::Phone),
                Some(PhoneType::Office),
                "e37f"
            ),
            Change::DeletePhone {
                phone_type: PhoneType::Office
            }
        );
        assert_eq!(
            Change::delete(MethodName::Known(MethodType::Email), None, "3ddf"),
            Change::DeleteEmail
        );
    }
}
