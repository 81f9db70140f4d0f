//! A saved plan (`authbulk run --dry-run --plan-out FILE`, applied by `authbulk apply FILE`):
//! JSON Lines, written as the dry run plans ([`PlanWriter`]) and checked whole before it is
//! applied ([`check`], then streamed by [`rows`]).
//!
//! The file is a [`Header`] line (format version, authbulk version, the tenant id from the
//! token's `tid`, when it was made, the job's fingerprint and the flags that shape the plan,
//! the Graph root), then one [`PlannedRow`] line per planned job row (its row and line, the
//! user as named and by object id, the operation, the steps as typed [`Change`]s with the
//! request data ([`Write`]) Graph is to be sent, and the [`StateDigest`] of the state the
//! row was planned against), then an [`End`] line with the totals. A file without its end
//! line (a dry run that was stopped, a copy cut short) is refused.
//!
//! Never a secret: a step that creates one (a temporary access pass, a QR code PIN) carries
//! only its parameters; the secret is made when the request is sent. Hardware OATH rows
//! (whose activation code is a credential, and which are planned against the token inventory)
//! are refused by `--plan-out`.
//!
//! Applying a saved plan reads each planned user once ([`crate::run`]): a plan's deletes alone
//! cannot see a method registered since it was made, so reading is the honest way to find a
//! user whose state changed ("drifted"). The read state's [`StateDigest`] is compared with the
//! saved one; unchanged, the saved steps are applied exactly; changed, the row is planned again
//! against the current state and the new plan applied, with a `skipped` record `drifted`
//! saying what changed.
//!
//! [`Change`]: super::Change
//! [`Write`]: super::Write

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::state::{MethodKind, UserState};
use super::step::{ChangeKind, Step};
use crate::job::{Action, DefaultMethod, Operation};

mod once;
mod reader;
mod writer;

pub use once::{KeptPlan, PlanOnce};
pub use reader::{Checked, check, rows};
pub use writer::PlanWriter;

/// Where a dry run puts each planned row: a `--plan-out` file ([`PlanWriter`]) or the plan a
/// run keeps for its own apply ([`PlanOnce`]).
pub trait PlanSink: Send + Sync {
    /// Take the planned row of sequence number `seq`.
    fn row(&self, seq: u64, row: PlannedRow);

    /// Whether rows carry the whole state they were planned against
    /// ([`PlannedRow::read`]).
    fn keeps_state(&self) -> bool {
        false
    }
}

/// The format this authbulk writes and reads.
pub const FORMAT: u32 = 1;

/// The report code of a row whose user's state changed since the plan was made.
pub const DRIFTED: &str = "drifted";

/// One line of a plan file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Line {
    /// The first line.
    Header(Header),
    /// A planned job row.
    Row(Box<PlannedRow>),
    /// The last line.
    End(End),
}

/// What a plan was made for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// [`FORMAT`].
    pub format: u32,
    /// The authbulk version that made it.
    pub authbulk: String,
    /// The tenant id (the token's `tid`); `apply` refuses a token of another tenant.
    pub tenant: String,
    /// When the plan was made: also the clock of `older_than` / `unused_for` when a drifted
    /// row is planned again, so it chooses by the same cutoffs.
    pub created: DateTime<Utc>,
    /// The job's fingerprint (its files and the flags that shape its rows).
    pub job: String,
    /// How defaults move (`--default-order`, `--no-weaker-default`).
    pub default_order: Vec<DefaultMethod>,
    /// `--no-weaker-default`.
    pub no_weaker_default: bool,
    /// `--strict`.
    pub strict: bool,
    /// The Graph root the plan was read from.
    pub graph: String,
    /// The cloud (`--cloud`).
    pub cloud: String,
}

/// One planned job row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedRow {
    /// Data row of its job file (from 1), or the enumerated user's index.
    pub row: u64,
    /// Line of its job file (0 for an enumerated user).
    pub line: u64,
    /// The user as the job names them.
    pub user: String,
    /// The user's object id.
    pub user_id: String,
    /// What to do, with its parameters.
    pub action: Action,
    /// The job row's own extra columns, echoed into the report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<(String, String)>,
    /// The state the row was planned against.
    pub state: StateDigest,
    /// The row was planned against the state the user's earlier rows' steps lead to, not only
    /// against what was read: its state is checked after those steps are applied, by the steps
    /// planned again (created methods get their ids only then).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_earlier_rows: bool,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The whole state the row was planned against, only in a plan a run keeps for its own
    /// apply ([`PlanOnce`]): that apply plans the row again from it (planning is pure: the same
    /// steps) instead of reading the user again. Such a row keeps no steps and no digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<UserState>,
}

impl PlannedRow {
    /// The row as an operation again.
    pub fn operation(&self) -> Operation {
        Operation {
            row: self.row,
            line: self.line,
            user: self.user.clone(),
            action: self.action.clone(),
            extra: self
                .extra
                .iter()
                .map(|(k, v)| (std::sync::Arc::from(k.as_str()), v.clone()))
                .collect(),
            expected_upn: None,
        }
    }
}

/// The totals of a plan, on its last line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct End {
    /// Planned rows.
    pub rows: u64,
    /// Steps to create something.
    pub create: u64,
    /// Steps to change something in place.
    pub update: u64,
    /// Steps to remove something.
    pub delete: u64,
    /// Other actions (revoke sessions, SMS sign-in).
    pub action: u64,
}

impl End {
    /// Count one row and its steps.
    pub fn add(&mut self, steps: &[Step]) {
        self.rows += 1;
        for step in steps {
            match step.change.kind() {
                ChangeKind::Create => self.create += 1,
                ChangeKind::Update => self.update += 1,
                ChangeKind::Delete => self.delete += 1,
                ChangeKind::Action => self.action += 1,
            }
        }
    }

    /// Writes in all.
    pub fn writes(&self) -> u64 {
        self.create + self.update + self.delete + self.action
    }

    /// `3 rows: 1 to create, 0 to update, 4 to delete, 1 action`.
    pub fn line(&self) -> String {
        format!(
            "{} row(s): {} to create, {} to update, {} to delete, {} action(s)",
            self.rows, self.create, self.update, self.delete, self.action
        )
    }
}

/// What a row was planned against: each method as `type id #hash` (the hash covers what the
/// planner reads of it: number and SMS sign-in state, address, name, creation date, a pass's
/// times), sorted, and the default method. A method's `lastUsedDateTime` is left out: it moves
/// with every sign-in, and a row that chooses by it (`unused_for`) is compared by its steps
/// planned again as well.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDigest {
    /// `type id #hash`, sorted.
    pub methods: Vec<String>,
    /// The default method and the system-preferred flag, when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

impl StateDigest {
    /// The digest of `state`.
    pub fn of(state: &UserState) -> StateDigest {
        let mut methods: Vec<String> = state
            .methods
            .iter()
            .map(|m| {
                let content = match &m.kind {
                    MethodKind::Phone {
                        number,
                        sms_sign_in,
                        ..
                    } => format!("{number}|{}", sms_sign_in.as_graph()),
                    MethodKind::Email { address } => address.clone(),
                    MethodKind::TemporaryAccessPass {
                        start,
                        lifetime_minutes,
                        usable,
                    } => format!("{start:?}|{lifetime_minutes:?}|{usable:?}"),
                    _ => String::new(),
                };
                let hash = fnv(&format!("{content}|{:?}|{:?}", m.display_name, m.created));
                format!("{} {} #{:08x}", m.type_name(), m.id, hash as u32)
            })
            .collect();
        methods.sort();
        StateDigest {
            methods,
            default: state.preferences.as_ref().map(|p| p.describe()),
        }
    }

    /// What changed from `self` (the saved state) to `now`, short: `added phone 3179e48a...;
    /// removed microsoftAuthenticator 6a2f...; default push -> sms`. Empty when nothing did.
    pub fn changes_to(&self, now: &StateDigest) -> String {
        let key = |entry: &String| {
            entry
                .rsplit_once(" #")
                .map_or(entry.clone(), |(k, _)| k.into())
        };
        let before: BTreeSet<String> = self.methods.iter().map(key).collect();
        let after: BTreeSet<String> = now.methods.iter().map(key).collect();
        let mut parts = Vec::new();
        for added in after.difference(&before) {
            parts.push(format!("added {added}"));
        }
        for removed in before.difference(&after) {
            parts.push(format!("removed {removed}"));
        }
        let old: BTreeSet<&String> = self.methods.iter().collect();
        for entry in &now.methods {
            if !old.contains(entry) && before.contains(&key(entry)) {
                parts.push(format!("changed {}", key(entry)));
            }
        }
        if self.default != now.default {
            let show = |d: &Option<String>| d.clone().unwrap_or_else(|| "not read".into());
            parts.push(format!(
                "default {} -> {}",
                show(&self.default),
                show(&now.default)
            ));
        }
        parts.join("; ")
    }
}

/// FNV-1a, 64 bits: a hash that is the same in every build (std's is not promised to be).
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{MethodType, PhoneType};
    use crate::plan::state::{Method, SmsSignInState};

    fn phone(id: &str, number: &str) -> Method {
        Method {
            id: id.into(),
            kind: MethodKind::Phone {
                phone_type: PhoneType::Mobile,
                number: number.into(),
                sms_sign_in: SmsSignInState::NotEnabled,
            },
            display_name: None,
            created: None,
            last_used: None,
        }
    }

    fn app(id: &str) -> Method {
        Method {
            id: id.into(),
            kind: MethodKind::Other(MethodType::MicrosoftAuthenticator),
            display_name: Some("iPhone".into()),
            created: None,
            last_used: None,
        }
    }

    #[test]
    fn the_digest_names_what_was_added_removed_and_changed_and_ignores_last_use() {
        let before = UserState {
            methods: vec![phone("p1", "+46 701"), app("a1")],
            preferences: None,
        };
        let same = StateDigest::of(&before);
        let mut used = before.clone();
        used.methods[1].last_used = Some(Utc::now());
        assert_eq!(StateDigest::of(&used), same);
        let after = UserState {
            methods: vec![phone("p1", "+46 702"), app("a2")],
            preferences: None,
        };
        let changes = same.changes_to(&StateDigest::of(&after));
        assert_eq!(
            changes,
            "added microsoftAuthenticator a2; removed microsoftAuthenticator a1; changed phone p1"
        );
        assert_eq!(same.changes_to(&same), "");
    }
}
