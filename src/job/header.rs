//! Job file columns: the known columns of DESIGN.md ("Job files"), their aliases, and the layout
//! that maps a file's header (or a JSON object's keys) onto them. Used by the CSV and JSON
//! readers; the validated defaults ([`crate::job::Defaults`]) are keyed by [`Column`] too.
//!
//! Files as PowerShell writes them (`Get-MgUser -Property Id,UserPrincipalName,MobilePhone |
//! Export-Csv`) are jobs too: with both an object-id header (`Id`) and a UPN header
//! (`UserPrincipalName`), the id names the user and the UPN becomes a check against the user
//! Graph returns ([`Column::ExpectedUpn`]); `MobilePhone` and `BusinessPhones` (the Graph user's
//! properties) are the mobile and office numbers. A header that is none of these is kept as an
//! extra column, and [`Layout::unknown`] lists it with the closest known name, so a typo
//! (`Phone Numbr`) is a warning rather than a silently ignored column.

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
    /// `user_principal_name`: the UPN of a user named by object id in a file that has both
    /// (a `Get-MgUser` export); checked against the user Graph returns, never a target itself.
    ExpectedUpn,
    /// `mobile_phone`: the Graph user's `mobilePhone`, the number of a mobile set-phone.
    MobilePhone,
    /// `business_phones`: the Graph user's `businessPhones`, the number of an office set-phone.
    BusinessPhones,
    /// `qr_lifetime_days`: lifetime of the standard QR code of an issue-qr-pin row.
    QrLifetimeDays,
    /// `replace`: issue-qr-pin replaces a QR code PIN method the user already has.
    Replace,
    /// `serial_number`: a hardware OATH token's serial number (assign/unassign-oath-token).
    SerialNumber,
    /// `verification_code`: the token's current 6-digit code, to activate it on assignment.
    VerificationCode,
}

/// How many known columns there are.
pub const COLUMNS: usize = 25;

/// Header names (normalised) and the column each means; `email`/`mail` and the UPN-or-id
/// choice are settled by [`Layout::new`].
const ALIASES: &[(&str, Column)] = &[
    ("user", Column::User),
    ("upn", Column::User),
    ("userprincipalname", Column::User),
    ("objectid", Column::User),
    ("id", Column::User),
    ("userid", Column::User),
    ("action", Column::Action),
    ("operation", Column::Action),
    ("op", Column::Action),
    ("phonetype", Column::PhoneType),
    ("type", Column::PhoneType),
    ("phonenumber", Column::PhoneNumber),
    ("phone", Column::PhoneNumber),
    ("number", Column::PhoneNumber),
    ("mobile", Column::PhoneNumber),
    ("email", Column::Email),
    ("mail", Column::Email),
    ("emailaddress", Column::Email),
    ("methodtype", Column::MethodType),
    ("methodid", Column::MethodId),
    ("olderthan", Column::OlderThan),
    ("unusedfor", Column::UnusedFor),
    ("device", Column::Device),
    ("keepnewest", Column::KeepNewest),
    ("lifetimeminutes", Column::LifetimeMinutes),
    ("usableonce", Column::UsableOnce),
    ("starttime", Column::StartTime),
    ("defaultmethod", Column::DefaultMethod),
    ("systempreferred", Column::SystemPreferred),
    ("revokesessions", Column::RevokeSessions),
    ("issuetap", Column::IssueTap),
    ("mobilephone", Column::MobilePhone),
    ("businessphones", Column::BusinessPhones),
    ("businessphone", Column::BusinessPhones),
    ("qrlifetimedays", Column::QrLifetimeDays),
    ("replace", Column::Replace),
    ("serialnumber", Column::SerialNumber),
    ("serial", Column::SerialNumber),
    ("verificationcode", Column::VerificationCode),
];

/// Headers that name a user by object id, and by UPN: a file with one of each is a
/// `Get-MgUser` export, whose id is the user and whose UPN is a check.
const ID_HEADERS: [&str; 3] = ["objectid", "id", "userid"];
const UPN_HEADERS: [&str; 2] = ["upn", "userprincipalname"];

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
        Column::ExpectedUpn,
        Column::MobilePhone,
        Column::BusinessPhones,
        Column::QrLifetimeDays,
        Column::Replace,
        Column::SerialNumber,
        Column::VerificationCode,
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
            Column::ExpectedUpn => "user_principal_name",
            Column::MobilePhone => "mobile_phone",
            Column::BusinessPhones => "business_phones",
            Column::QrLifetimeDays => "qr_lifetime_days",
            Column::Replace => "replace",
            Column::SerialNumber => "serial_number",
            Column::VerificationCode => "verification_code",
        }
    }

    /// True for a column that describes the user rather than asking for a change (the UPN
    /// check, the user's phone properties): a row whose action does not use it is not refused
    /// for it, since a user export carries it on every row.
    pub fn describes_user(self) -> bool {
        matches!(
            self,
            Column::ExpectedUpn | Column::MobilePhone | Column::BusinessPhones
        )
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
        match name {
            "email" | "mail" => None,
            _ => ALIASES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c),
        }
    }
}

/// The known column closest to an unknown header, as its canonical name, when the header
/// looks like a misspelling of one (`Phone Numbr` -> `phone_number`): an edit distance of at
/// most a third of the header's length, and at least 1.
pub fn closest(header: &str) -> Option<&'static str> {
    let wanted = normalise(header);
    let limit = (wanted.chars().count() / 3).max(1);
    ALIASES
        .iter()
        .map(|(alias, column)| (edit_distance(&wanted, alias), *column))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, column)| column.name())
}

/// Levenshtein distance (headers are short: a two-row table is enough).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
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

/// A header that names no known column: kept as an extra column, and worth a warning in case it
/// was meant as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    /// The header as written.
    pub header: Arc<str>,
    /// The known column it is closest to, if it looks like a misspelling of one.
    pub closest: Option<&'static str>,
}

/// A warning about a file's header: a column no action reads (it is echoed into the report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnWarning {
    /// The file as the user named it.
    pub file: Arc<str>,
    /// The header's line (for JSON, the line of the first object with the key).
    pub line: u64,
    /// The header.
    pub unknown: Unknown,
}

impl std::fmt::Display for ColumnWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: warning: column {} is not a job column: it is only echoed into the report",
            self.file, self.line, self.unknown
        )
    }
}

impl std::fmt::Display for Unknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\"", self.header)?;
        if let Some(closest) = self.closest {
            write!(f, " (did you mean {closest}?)")?;
        }
        Ok(())
    }
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
        // A Get-MgUser export: the object id is the user, the UPN a check.
        let id_and_upn = normalised.iter().any(|n| ID_HEADERS.contains(&n.as_str()))
            && normalised.iter().any(|n| UPN_HEADERS.contains(&n.as_str()));
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
                upn if id_and_upn && UPN_HEADERS.contains(&upn) => Some(Column::ExpectedUpn),
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

    /// The headers that name no known column, each with the closest known name when it looks
    /// like a misspelling of one.
    pub fn unknown(&self) -> Vec<Unknown> {
        self.slots
            .iter()
            .filter_map(|slot| match slot {
                Slot::Extra(header) => Some(Unknown {
                    header: header.clone(),
                    closest: closest(header),
                }),
                Slot::Known(_) => None,
            })
            .collect()
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
    fn a_get_mguser_export_names_the_user_by_id_and_checks_the_upn() {
        let layout = Layout::new(&[
            "Id",
            "UserPrincipalName",
            "MobilePhone",
            "BusinessPhones",
            "DisplayName",
        ])
        .unwrap();
        assert_eq!(
            layout.slots[..4],
            [
                Slot::Known(Column::User),
                Slot::Known(Column::ExpectedUpn),
                Slot::Known(Column::MobilePhone),
                Slot::Known(Column::BusinessPhones),
            ]
        );
        // Two UPN headers, or two id headers, are still a guess.
        assert!(Layout::new(&["upn", "UserPrincipalName", "id"]).is_err());
        assert!(Layout::new(&["user", "upn"]).is_err());
    }

    #[test]
    fn unknown_headers_are_listed_with_the_closest_known_name() {
        let layout =
            Layout::new(&["user", "Phone Numbr", "Acton", "ticket", "Mobil Phone"]).unwrap();
        let unknown: Vec<String> = layout.unknown().iter().map(|u| u.to_string()).collect();
        assert_eq!(
            unknown,
            [
                "\"Phone Numbr\" (did you mean phone_number?)",
                "\"Acton\" (did you mean action?)",
                "\"ticket\"",
                "\"Mobil Phone\" (did you mean mobile_phone?)",
            ]
        );
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
