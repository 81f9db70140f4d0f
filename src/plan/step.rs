//! What planning produces: a [`Plan`] of concrete [`Step`]s, each with its typed
//! [`Change`] (the report's text and its kind: `+`, `~`, `-`, action), the Graph request it needs and the [`Effect`] it has on the state.
//! Made by [`super::desired`], carried out by [`super::apply`], counted by [`super::summary`].

use std::fmt;

use super::change::Change;
use crate::job::{DefaultMethod, MethodType, OathCode, PhoneType, TapParams};

/// The kind of a change, as the plan printer marks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// `+` something is created.
    Create,
    /// `~` something is changed in place.
    Update,
    /// `-` something is removed.
    Delete,
    /// `>` an action without a stored result (revoke sessions, SMS sign-in switch).
    Action,
}

impl ChangeKind {
    /// The plan printer's mark.
    pub fn mark(self) -> char {
        match self {
            ChangeKind::Create => '+',
            ChangeKind::Update => '~',
            ChangeKind::Delete => '-',
            ChangeKind::Action => '>',
        }
    }

    /// The word the totals use (`create`, `update`, `delete`, `action`).
    pub fn word(self) -> &'static str {
        match self {
            ChangeKind::Create => "create",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
            ChangeKind::Action => "action",
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// What a step does to the user's state once done. Used to check a write whose answer was lost
/// (does the re-read state show it?), to plan a user's later rows in a dry run, and to prove in
/// tests that planning against the state after the steps gives nothing.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// The phone of this type has this number.
    PhoneSet {
        /// Which phone.
        phone_type: PhoneType,
        /// Its number.
        number: String,
    },
    /// The email method has this address.
    EmailSet {
        /// The address.
        address: String,
    },
    /// The method with this id is gone.
    MethodRemoved {
        /// Its type.
        method_type: MethodType,
        /// Its id.
        id: String,
    },
    /// SMS sign-in on the mobile is on (`true`) or off.
    SmsSignIn(bool),
    /// `signInPreferences` show these values (`None`: unchanged).
    Preferences {
        /// Default method.
        method: Option<DefaultMethod>,
        /// System-preferred flag.
        system_preferred: Option<bool>,
    },
    /// Sessions were revoked: nothing in the state shows it.
    SessionsRevoked,
    /// A temporary access pass was created.
    TapIssued,
    /// A QR code + PIN method was created.
    QrPinIssued,
    /// The QR code PIN method's PIN was reset: nothing in the methods list shows it.
    QrPinReset,
    /// A hardware OATH token was assigned, activated or unassigned: the token inventory shows
    /// it, not the user's methods ([`super::oath`] checks it there).
    OathToken,
}

/// The write a step asks of Graph, in the domain's terms: the method's type and id, the
/// values to set. [`crate::graph::requests::write`] turns it into the request, so the planner
/// holds no HTTP. Saved in a plan file ([`super::file`]) as the step's request data: never a
/// secret (a pass, a PIN are made when the request is; OATH rows are not saved).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Write {
    /// Add the phone of this type with this number.
    CreatePhone {
        /// Which phone.
        phone_type: PhoneType,
        /// Its number.
        number: String,
    },
    /// Change the number of the phone method `id`.
    UpdatePhone {
        /// The phone method's id.
        id: String,
        /// The new number.
        number: String,
    },
    /// Add the email method with this address.
    CreateEmail {
        /// The address.
        address: String,
    },
    /// Change the address of the email method `id`.
    UpdateEmail {
        /// The email method's id.
        id: String,
        /// The new address.
        address: String,
    },
    /// Delete the method `id` of this type through its typed collection.
    Delete {
        /// Its type.
        method_type: MethodType,
        /// Its id.
        id: String,
    },
    /// Create a temporary access pass with these parameters.
    IssueTap(TapParams),
    /// Invalidate the user's refresh tokens.
    RevokeSessions,
    /// Set `signInPreferences` (beta): the fields given change.
    SetPreferences {
        /// The new default method.
        method: Option<DefaultMethod>,
        /// The new system-preferred flag.
        system_preferred: Option<bool>,
    },
    /// Turn SMS sign-in on the phone method `phone_id` on or off.
    SmsSignIn {
        /// The mobile phone's method id.
        phone_id: String,
        /// On or off.
        on: bool,
    },
    /// Create the QR code + PIN method: a standard QR code usable from when the request is
    /// made for `lifetime_days`, and a temporary PIN of `pin_length` random digits (made when
    /// the request is, never part of the plan).
    IssueQrPin {
        /// Lifetime of the standard QR code, days.
        lifetime_days: u32,
        /// Digits of the PIN.
        pin_length: u32,
    },
    /// Reset the QR code PIN method's PIN (Entra generates the new temporary PIN).
    ResetQrPin,
    /// Assign the hardware OATH token `device_id` (beta) to the user.
    AssignOathToken {
        /// The token's id in the inventory.
        device_id: String,
    },
    /// Activate the user's hardware OATH token `device_id` with its current code (beta).
    ActivateOathToken {
        /// The token's id (the user's method has the same id).
        device_id: String,
        /// The code the token shows.
        code: OathCode,
    },
    /// Unassign the hardware OATH token `device_id` from the user (beta).
    UnassignOathToken {
        /// The token's id (the user's method has the same id).
        device_id: String,
    },
}

/// One concrete change for one user.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    /// The change, whose text the report shows: `create phone mobile`,
    /// `delete microsoftAuthenticator <id>`, ...; its kind is [`Change::kind`].
    pub change: Change,
    /// The state before, short and human (`+46 701234567`, `iPhone 14, created 2023-02-01`).
    pub before: String,
    /// The state after.
    pub after: String,
    /// What Graph is asked to do; [`crate::graph::requests::write`] makes the request.
    pub write: Write,
    /// What the change does to the state.
    pub effect: Effect,
}

/// Why a row cannot be carried out as asked, found before any write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The step that cannot be made (`create phone alternateMobile`).
    pub step: Change,
    /// A stable code for the report's `error_code` (`alternateMobileNeedsMobile`).
    pub code: &'static str,
    /// What is wrong and what to do about it.
    pub message: String,
}

/// Codes of the refusals that no retry and no fix of the job file changes: the default method
/// nothing can take over (`defaultMethodKept`, `weakerDefaultRefused`), a method type Graph has
/// no collection to delete (`unsupportedMethodType`), the authentication methods policy
/// (`policyRefuses`, `smsSignInNotAllowedByPolicy`). They are reported `skipped` (a nightly job stays green), or `failed` with
/// `--strict`.
pub const STABLE_REFUSALS: [&str; 5] = [
    "defaultMethodKept",
    "weakerDefaultRefused",
    "unsupportedMethodType",
    "policyRefuses",
    "smsSignInNotAllowedByPolicy",
];

impl Refusal {
    /// True for a stable refusal ([`STABLE_REFUSALS`]).
    pub fn is_stable(&self) -> bool {
        STABLE_REFUSALS.contains(&self.code)
    }
}

/// A method the planner met but cannot act on; reported on its own record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The listed method (`method microsoftAuthenticator <id>`).
    pub step: Change,
    /// Its description.
    pub description: String,
}

/// Methods of one type that an age selector left because Graph gives them no date
/// (graph-contract.md: Authenticator `createdDateTime` is null unless the device is registered
/// for passwordless sign-in; beta `lastUsedDateTime` is often null).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Undated {
    /// The type the row removes.
    pub method_type: MethodType,
    /// How many of its methods were left.
    pub count: u32,
}

impl Undated {
    /// The record's step (`keep 3 undated microsoftAuthenticator`).
    pub fn change(&self) -> Change {
        Change::KeepUndated {
            method_type: self.method_type,
            count: self.count,
        }
    }

    /// The record's `before`/`after` text.
    pub fn describe(&self) -> String {
        format!(
            "{} {} method(s) without a date in Graph: never chosen by --older-than, \
             --unused-for or --keep-newest",
            self.count, self.method_type
        )
    }
}

/// The result of planning one operation against one user's state.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Nothing to do: the state already is the desired one.
    Unchanged {
        /// What was checked (`set phone mobile`).
        step: Change,
        /// The state found, short and human.
        state: String,
    },
    /// Changes to make, in order. `blocked` are parts of the desired state that cannot be
    /// reached (methods of types this version cannot remove, a default nothing can take over);
    /// each becomes a `skipped` record after the steps (`failed` with `--strict`).
    Changes {
        /// The steps, in the order they must run.
        steps: Vec<Step>,
        /// What stays out of reach.
        blocked: Vec<Refusal>,
        /// Methods an age selector left because Graph gives them no date: one `unchanged`
        /// record after the steps, so a cleanup that found little to do says why.
        undated: Option<Undated>,
    },
    /// The row cannot be done as asked; nothing is written.
    Refused(Refusal),
    /// `list`: the user's methods, one record each.
    Listing(Vec<Listed>),
}

impl Plan {
    /// The steps, empty when there are none.
    pub fn steps(&self) -> &[Step] {
        match self {
            Plan::Changes { steps, .. } => steps,
            _ => &[],
        }
    }
}
