//! Job file columns: the known columns of DESIGN.md ("Job files"), their aliases, and the layout
//! that maps a file's header (or a JSON object's keys) onto them. Used by the CSV and JSON
//! readers; the validated defaults ([`crate::job::Defaults`]) are keyed by [`Column`] too.

use std::sync::Arc;

/// A known job column. Every other column is kept as an extra and echoed into the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// `user`: UPN or object id.
    User,
    /// `action`
    Action,
    /// `phone_type`
    PhoneType,
    /// `phone_number`
    PhoneNumber,
    /// `email` (for set-email)
    Email,
    /// `method_type`
    MethodType,
    /// `method_id`
    MethodId,
    /// `older_than`
    OlderThan,
    /// `unused_for`
    UnusedFor,
    /// `device`
    Device,
    /// `keep_newest`
    KeepNewest,
    /// `lifetime_minutes`
    LifetimeMinutes,
    /// `usable_once`
    UsableOnce,
    /// `start_time`
    StartTime,
    /// `default_method`
    DefaultMethod,
    /// `system_preferred`
    SystemPreferred,
    /// `revoke_sessions`
    RevokeSessions,
    /// `issue_tap`
    IssueTap,
}

/// How many known columns there are.
pub const COLUMNS: usize = 18;

impl Column {
    /// Every known column, in the order of DESIGN.md.
    pub const ALL: [Column; COLUMNS] = [
        Column::User,
        Column::Action,
        Column::PhoneType,
        Column::PhoneNumber,
        Column::Email,
        Column::MethodType,
        Column::MethodId,
        Column::OlderThan,
        Column::UnusedFor,
        Column::Device,
        Column::KeepNewest,
        Column::LifetimeMinutes,
        Column::UsableOnce,
        Column::StartTime,
        Column::DefaultMethod,
        Column::SystemPreferred,
        Column::RevokeSessions,
        Column::IssueTap,
    ];

    /// The column's canonical name (`phone_number`).
    pub fn name(self) -> &'static str {
        match self {
            Column::User => "user",
            Column::Action => "action",
            Column::PhoneType => "phone_type",
            Column::PhoneNumber => "phone_number",
            Column::Email => "email",
            Column::MethodType => "method_type",
            Column::MethodId => "method_id",
            Column::OlderThan => "older_than",
            Column::UnusedFor => "unused_for",
            Column::Device => "device",
            Column::KeepNewest => "keep_newest",
            Column::LifetimeMinutes => "lifetime_minutes",
            Column::UsableOnce => "usable_once",
            Column::StartTime => "start_time",
            Column::DefaultMethod => "default_method",
            Column::SystemPreferred => "system_preferred",
            Column::RevokeSessions => "revoke_sessions",
            Column::IssueTap => "issue_tap",
        }
    }

    /// The flag that gives this column's default (`--phone-number`).
    pub fn flag(self) -> String {
        format!("--{}", self.name().replace('_', "-"))
    }

    /// Position in [`Column::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The column a normalised header name means, leaving `email`/`mail` (whose meaning depends
    /// on the other headers) aside.
    fn from_normalised(name: &str) -> Option<Column> {
        Some(match name {
            "user" | "upn" | "userprincipalname" | "objectid" | "id" | "userid" => Column::User,
            "action" | "operation" | "op" => Column::Action,
            "phonetype" | "type" => Column::PhoneType,
            "phonenumber" | "phone" | "number" | "mobile" => Column::PhoneNumber,
            "emailaddress" => Column::Email,
            "methodtype" => Column::MethodType,
            "methodid" => Column::MethodId,
            "olderthan" => Column::OlderThan,
            "unusedfor" => Column::UnusedFor,
            "device" => Column::Device,
            "keepnewest" => Column::KeepNewest,
            "lifetimeminutes" => Column::LifetimeMinutes,
            "usableonce" => Column::UsableOnce,
            "starttime" => Column::StartTime,
            "defaultmethod" => Column::DefaultMethod,
            "systempreferred" => Column::SystemPreferred,
            "revokesessions" => Column::RevokeSessions,
            "issuetap" => Column::IssueTap,
            _ => return None,
        })
    }
}

/// A header name as matched: lowercase, without spaces, `_` and `-`.
pub fn normalise(header: &str) -> String {
    header
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-') && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// What one header cell of a file means.
#[derive(Debug, Clone, PartialEq)]
pub enum Slot {
    /// A known column.
    Known(Column),
    /// Another column, kept for the report under its header as written.
    Extra(Arc<str>),
}

/// Two headers of one file that name the same column.
#[derive(Debug, Clone, PartialEq)]
pub struct Duplicate {
    /// The column both mean.
    pub column: String,
    /// The first header as written.
    pub first: String,
    /// The second header as written.
    pub second: String,
}

/// The meaning of every header cell of a file, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// One slot per header cell.
    pub slots: Vec<Slot>,
    /// For each known column, the header as the file writes it (for problem messages).
    pub written: [Option<Arc<str>>; COLUMNS],
}

impl Layout {
    /// Map header names (already trimmed) onto columns.
    ///
    /// `email` and `mail` are aliases of `user` (a sheet of users by address) unless another
    /// header already names the user, in which case `email` is the set-email address column.
    /// Two headers meaning the same column are an error, since which one wins would be a guess.
    pub fn new<S: AsRef<str>>(headers: &[S]) -> Result<Layout, Duplicate> {
        let normalised: Vec<String> = headers.iter().map(|h| normalise(h.as_ref())).collect();
        let has_user = normalised
            .iter()
            .any(|n| Column::from_normalised(n) == Some(Column::User));
        let mut user_taken = has_user;
        let mut slots = Vec::with_capacity(headers.len());
        let mut written: [Option<Arc<str>>; COLUMNS] = Default::default();
        // By name: a linear search per column made a header of 100k columns take minutes.
        let mut seen_extra: std::collections::HashMap<String, usize> =
            std::collections::HashMap::new();
        for (i, (raw, norm)) in headers.iter().zip(&normalised).enumerate() {
            let raw = raw.as_ref();
            let column = match norm.as_str() {
                "email" | "mail" if !user_taken => {
                    user_taken = true;
                    Some(Column::User)
                }
                "email" | "mail" => Some(Column::Email),
                other => Column::from_normalised(other),
            };
            match column {
                Some(column) => {
                    if let Some(first) = &written[column.index()] {
                        return Err(Duplicate {
                            column: column.name().to_string(),
                            first: first.to_string(),
                            second: raw.to_string(),
                        });
                    }
                    written[column.index()] = Some(Arc::from(raw));
                    slots.push(Slot::Known(column));
                }
                None => {
                    // Extra columns are echoed into the report by name: two with the same
                    // name would collide there, so they are duplicates too.
                    if let Some(j) = seen_extra.get(norm.as_str()) {
                        return Err(Duplicate {
                            column: headers[*j].as_ref().to_string(),
                            first: headers[*j].as_ref().to_string(),
                            second: raw.to_string(),
                        });
                    }
                    seen_extra.insert(norm.clone(), i);
                    slots.push(Slot::Extra(Arc::from(raw)));
                }
            }
        }
        Ok(Layout { slots, written })
    }

    /// True when some header names the column.
    pub fn has(&self, column: Column) -> bool {
        self.written[column.index()].is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_match_ignoring_case_spaces_underscores_and_dashes() {
        let layout = Layout::new(&[
            "User Principal Name",
            "OPERATION",
            "Phone-Type",
            "phone_number",
            "Older Than",
            "Cost centre",
        ])
        .unwrap();
        assert_eq!(
            layout.slots,
            vec![
                Slot::Known(Column::User),
                Slot::Known(Column::Action),
                Slot::Known(Column::PhoneType),
                Slot::Known(Column::PhoneNumber),
                Slot::Known(Column::OlderThan),
                Slot::Extra(Arc::from("Cost centre")),
            ]
        );
        assert_eq!(
            layout.written[Column::User.index()].as_deref(),
            Some("User Principal Name")
        );
    }

    #[test]
    fn email_names_the_user_unless_another_column_does() {
        let alone = Layout::new(&["Email", "action"]).unwrap();
        assert_eq!(alone.slots[0], Slot::Known(Column::User));
        let with_upn = Layout::new(&["action", "Email", "UPN"]).unwrap();
        assert_eq!(with_upn.slots[1], Slot::Known(Column::Email));
        assert_eq!(with_upn.slots[2], Slot::Known(Column::User));
        let both = Layout::new(&["mail", "email address"]).unwrap();
        assert_eq!(both.slots[0], Slot::Known(Column::User));
        assert_eq!(both.slots[1], Slot::Known(Column::Email));
    }

    #[test]
    fn two_headers_for_one_column_are_a_duplicate() {
        let err = Layout::new(&["upn", "action", "User"]).unwrap_err();
        assert_eq!(err.column, "user");
        assert_eq!((err.first.as_str(), err.second.as_str()), ("upn", "User"));
        let err = Layout::new(&["user", "Note", "note"]).unwrap_err();
        assert_eq!(err.second, "note");
    }
}
