//! The operation model: one valid job row as a typed, per-user action with its parameters. No
//! HTTP in here; the job readers produce [`Operation`]s and the planner consumes them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// One valid job row: an action for one user, with the row's own extra columns.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// Index of the data row in its file, from 1 (the report's `row`).
    pub row: u64,
    /// Line of the row in its file as a spreadsheet program shows it (the header is line 1).
    pub line: u64,
    /// The user as the file names them: a UPN or an object id.
    pub user: String,
    /// What to do, with its parameters.
    pub action: Action,
    /// Columns the job file has beyond the known ones, echoed into the report: (header, value).
    pub extra: Vec<(Arc<str>, String)>,
    /// The UPN the job expects the user (named by object id) to have: a `Get-MgUser` export's
    /// `UserPrincipalName`, checked against the user Graph returns before any change.
    pub expected_upn: Option<String>,
}

impl Operation {
    /// The key that identifies the user across rows: UPNs are case-insensitive in Entra ID, so
    /// `Ann@Contoso.com` and `ann@contoso.com` are one user whose rows must run in file order.
    pub fn user_key(&self) -> String {
        self.user.to_lowercase()
    }
}

/// An action of DESIGN.md with its validated parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Report the user's methods (read-only).
    List,
    /// The user has `number` (normalised `+CC NATIONAL[xEXT]`) for `phone_type`.
    SetPhone {
        /// Which phone.
        phone_type: PhoneType,
        /// Graph's form of the number, e.g. `+46 701234567`.
        number: String,
    },
    /// The user has no phone of this type (`All`: none, alternateMobile before mobile).
    RemovePhone(PhoneSelector),
    /// The user's email method has this address.
    SetEmail {
        /// The address, trimmed.
        address: String,
    },
    /// The user has no email method.
    RemoveEmail,
    /// Remove the Microsoft Authenticator registrations chosen by the selector.
    RemoveAuthenticator(Selector),
    /// Remove the methods of this type chosen by the selector.
    RemoveMethod {
        /// The type of method.
        method_type: MethodType,
        /// Which of them.
        select: Selector,
    },
    /// Remove every method but the password, the default method last; then optionally revoke
    /// sessions and issue a temporary access pass.
    ResetMfa {
        /// Revoke the user's sessions after the removals.
        revoke_sessions: bool,
        /// Issue a temporary access pass after the removals, with these parameters.
        issue_tap: Option<TapParams>,
    },
    /// Create a temporary access pass (exactly once per row).
    IssueTap(TapParams),
    /// Set the default MFA method and/or the system-preferred flag (beta `signInPreferences`).
    SetDefault {
        /// The new default method, when given.
        method: Option<DefaultMethod>,
        /// The new system-preferred flag, when given.
        system_preferred: Option<bool>,
    },
    /// Enable SMS sign-in on the mobile phone.
    EnableSmsSignIn,
    /// Disable SMS sign-in on the mobile phone.
    DisableSmsSignIn,
    /// Invalidate the user's refresh tokens.
    RevokeSessions,
    /// The user holds the hardware OATH token with this serial number (beta, global cloud);
    /// with a verification code it is also activated.
    AssignOathToken {
        /// The token's serial number.
        serial: String,
        /// The token's current code, to activate it; never reported.
        code: Option<OathCode>,
    },
    /// The user does not hold the hardware OATH token with this serial number.
    UnassignOathToken {
        /// The token's serial number.
        serial: String,
    },
}

/// A hardware OATH token's 6-digit verification code: short-lived, but a credential while it
/// lasts, so its `Debug` hides it and no report or log shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct OathCode(String);

impl OathCode {
    /// A code of exactly six digits.
    pub fn parse(text: &str) -> Option<OathCode> {
        let text = text.trim();
        (text.len() == 6 && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| OathCode(text.to_string()))
    }

    /// The code, for the one request that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OathCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OathCode(******)")
    }
}

impl Action {
    /// The action's name as job files spell it (`set-phone`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Action::List => "list",
            Action::SetPhone { .. } => "set-phone",
            Action::RemovePhone(_) => "remove-phone",
            Action::SetEmail { .. } => "set-email",
            Action::RemoveEmail => "remove-email",
            Action::RemoveAuthenticator(_) => "remove-authenticator",
            Action::RemoveMethod { .. } => "remove-method",
            Action::ResetMfa { .. } => "reset-mfa",
            Action::IssueTap(_) => "issue-tap",
            Action::SetDefault { .. } => "set-default",
            Action::EnableSmsSignIn => "enable-sms-signin",
            Action::DisableSmsSignIn => "disable-sms-signin",
            Action::RevokeSessions => "revoke-sessions",
            Action::AssignOathToken { .. } => "assign-oath-token",
            Action::UnassignOathToken { .. } => "unassign-oath-token",
        }
    }

    /// Whether the action issues a temporary access pass (`issue-tap`, `reset-mfa` with a
    /// pass), which goes only to the `--tap-out` file.
    pub fn issues_pass(&self) -> bool {
        matches!(
            self,
            Action::IssueTap(_)
                | Action::ResetMfa {
                    issue_tap: Some(_),
                    ..
                }
        )
    }

    /// The action's name without its parameters.
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::List => ActionKind::List,
            Action::SetPhone { .. } => ActionKind::SetPhone,
            Action::RemovePhone(_) => ActionKind::RemovePhone,
            Action::SetEmail { .. } => ActionKind::SetEmail,
            Action::RemoveEmail => ActionKind::RemoveEmail,
            Action::RemoveAuthenticator(_) => ActionKind::RemoveAuthenticator,
            Action::RemoveMethod { .. } => ActionKind::RemoveMethod,
            Action::ResetMfa { .. } => ActionKind::ResetMfa,
            Action::IssueTap(_) => ActionKind::IssueTap,
            Action::SetDefault { .. } => ActionKind::SetDefault,
            Action::EnableSmsSignIn => ActionKind::EnableSmsSignIn,
            Action::DisableSmsSignIn => ActionKind::DisableSmsSignIn,
            Action::RevokeSessions => ActionKind::RevokeSessions,
            Action::AssignOathToken { .. } => ActionKind::AssignOathToken,
            Action::UnassignOathToken { .. } => ActionKind::UnassignOathToken,
        }
    }

    /// Every action name, in the order of DESIGN.md.
    pub const NAMES: [&'static str; 15] = [
        "list",
        "set-phone",
        "remove-phone",
        "set-email",
        "remove-email",
        "remove-authenticator",
        "remove-method",
        "reset-mfa",
        "issue-tap",
        "set-default",
        "enable-sms-signin",
        "disable-sms-signin",
        "revoke-sessions",
        "assign-oath-token",
        "unassign-oath-token",
    ];
}

/// An action's name without its parameters: what a job row's `action` cell or `--action` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionKind {
    /// `list`
    List,
    /// `set-phone`
    SetPhone,
    /// `remove-phone`
    RemovePhone,
    /// `set-email`
    SetEmail,
    /// `remove-email`
    RemoveEmail,
    /// `remove-authenticator`
    RemoveAuthenticator,
    /// `remove-method`
    RemoveMethod,
    /// `reset-mfa`
    ResetMfa,
    /// `issue-tap`
    IssueTap,
    /// `set-default`
    SetDefault,
    /// `enable-sms-signin`
    EnableSmsSignIn,
    /// `disable-sms-signin`
    DisableSmsSignIn,
    /// `revoke-sessions`
    RevokeSessions,
    /// `assign-oath-token`
    AssignOathToken,
    /// `unassign-oath-token`
    UnassignOathToken,
}

impl ActionKind {
    /// Every action, in the order of DESIGN.md (and of [`Action::NAMES`]).
    pub const ALL: [ActionKind; 15] = [
        ActionKind::List,
        ActionKind::SetPhone,
        ActionKind::RemovePhone,
        ActionKind::SetEmail,
        ActionKind::RemoveEmail,
        ActionKind::RemoveAuthenticator,
        ActionKind::RemoveMethod,
        ActionKind::ResetMfa,
        ActionKind::IssueTap,
        ActionKind::SetDefault,
        ActionKind::EnableSmsSignIn,
        ActionKind::DisableSmsSignIn,
        ActionKind::RevokeSessions,
        ActionKind::AssignOathToken,
        ActionKind::UnassignOathToken,
    ];

    /// The name as job files spell it (`set-phone`, ...).
    pub fn name(self) -> &'static str {
        Action::NAMES[self as usize]
    }

    /// Parse an action name: case-insensitive, and `-`, `_` and spaces are ignored, so
    /// `Set Phone`, `set_phone` and `SETPHONE` all mean `set-phone`.
    pub fn from_name(value: &str) -> Option<ActionKind> {
        let mut wanted = [0u8; 24];
        let mut len = 0;
        for b in value.bytes() {
            if matches!(b, b'-' | b'_' | b' ') {
                continue;
            }
            if len == wanted.len() {
                return None;
            }
            wanted[len] = b.to_ascii_lowercase();
            len += 1;
        }
        let wanted = &wanted[..len];
        ActionKind::ALL.into_iter().find(|k| {
            let mut name = k.name().bytes().filter(|b| *b != b'-');
            wanted.iter().all(|w| name.next() == Some(*w)) && name.next().is_none()
        })
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The type of a phone method. Graph gives each a fixed method id (`crate::graph::names`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PhoneType {
    /// `mobile`
    Mobile,
    /// `alternateMobile` (needs a mobile)
    AlternateMobile,
    /// `office`
    Office,
}

impl PhoneType {
    /// Graph's `phoneType` value.
    pub fn as_graph(self) -> &'static str {
        match self {
            PhoneType::Mobile => "mobile",
            PhoneType::AlternateMobile => "alternateMobile",
            PhoneType::Office => "office",
        }
    }

    /// Parse Graph's `phoneType` value (case-insensitive).
    pub fn from_graph(value: &str) -> Option<PhoneType> {
        [
            PhoneType::Mobile,
            PhoneType::AlternateMobile,
            PhoneType::Office,
        ]
        .into_iter()
        .find(|t| t.as_graph().eq_ignore_ascii_case(value))
    }
}

impl fmt::Display for PhoneType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_graph())
    }
}

/// Which phones `remove-phone` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneSelector {
    /// The phone of this type.
    One(PhoneType),
    /// Every phone, alternateMobile before mobile.
    All,
}

/// A type of authentication method that can be removed. Graph's names for it (`@odata.type`,
/// collection) are in `crate::graph::names`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MethodType {
    /// FIDO2 security keys and passkeys.
    Fido2,
    /// Software OATH tokens.
    SoftwareOath,
    /// Windows Hello for Business.
    WindowsHelloForBusiness,
    /// Platform credentials (macOS).
    PlatformCredential,
    /// Temporary access passes.
    TemporaryAccessPass,
    /// Microsoft Authenticator registrations.
    MicrosoftAuthenticator,
    /// Hardware OATH tokens (beta only).
    HardwareOath,
    /// The email method.
    Email,
    /// Phone methods.
    Phone,
    /// The QR code + PIN method: at most one per user, addressed without an id
    /// (`/authentication/qrCodePinMethod`).
    QrCodePin,
    /// External authentication methods (a third-party MFA provider's registration), deleted
    /// through `DELETE /users/{u}/authentication/externalAuthenticationMethods/{id}` in v1.0
    /// (learn.microsoft.com/graph/api/authentication-delete-externalauthenticationmethods; the
    /// beta page adds a `/$ref` suffix, v1.0 does not).
    External,
}

impl MethodType {
    /// Every removable type.
    pub const ALL: [MethodType; 11] = [
        MethodType::Fido2,
        MethodType::SoftwareOath,
        MethodType::WindowsHelloForBusiness,
        MethodType::PlatformCredential,
        MethodType::TemporaryAccessPass,
        MethodType::MicrosoftAuthenticator,
        MethodType::HardwareOath,
        MethodType::Email,
        MethodType::Phone,
        MethodType::QrCodePin,
        MethodType::External,
    ];

    /// The name job files use (`fido2`, `softwareOath`, ...).
    pub fn name(self) -> &'static str {
        match self {
            MethodType::Fido2 => "fido2",
            MethodType::SoftwareOath => "softwareOath",
            MethodType::WindowsHelloForBusiness => "windowsHelloForBusiness",
            MethodType::PlatformCredential => "platformCredential",
            MethodType::TemporaryAccessPass => "temporaryAccessPass",
            MethodType::MicrosoftAuthenticator => "microsoftAuthenticator",
            MethodType::HardwareOath => "hardwareOath",
            MethodType::Email => "email",
            MethodType::Phone => "phone",
            MethodType::QrCodePin => "qrCodePin",
            MethodType::External => "external",
        }
    }

    /// Parse a job file's `method_type` (case-insensitive, `-`/`_` ignored).
    pub fn from_name(value: &str) -> Option<MethodType> {
        let wanted: String = value
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .collect();
        MethodType::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(&wanted))
    }
}

impl fmt::Display for MethodType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which methods of a type a removal chooses. All fields empty: every method of the type.
/// Fields combine with AND; `keep_newest` applies last, to what the others chose.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector {
    /// Exactly this method id.
    pub method_id: Option<String>,
    /// Glob on the method's display name (`iPhone*`), case-insensitive.
    pub device: Option<String>,
    /// Created before now minus this. Methods with no creation date are never chosen by age.
    pub older_than: Option<Duration>,
    /// Last used (beta `lastUsedDateTime`) before now minus this; never-used methods count by
    /// their creation date, and methods with neither date are not chosen.
    pub unused_for: Option<Duration>,
    /// Keep the N newest (by creation date) and choose the rest.
    pub keep_newest: Option<u32>,
}

impl Selector {
    /// True when no selector field is set (the removal takes every method of the type).
    pub fn is_all(&self) -> bool {
        *self == Selector::default()
    }
}

/// Parameters of a temporary access pass; `None` leaves the tenant policy's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TapParams {
    /// Lifetime in minutes, 10 to 43200.
    pub lifetime_minutes: Option<u32>,
    /// One sign-in only.
    pub usable_once: Option<bool>,
    /// When the pass becomes usable.
    pub start_time: Option<DateTime<Utc>>,
}

/// A default MFA method (beta `userPreferredMethodForSecondaryAuthentication`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultMethod {
    /// Authenticator push notification.
    Push,
    /// An OATH code.
    Oath,
    /// A text message.
    Sms,
    /// A call to the mobile phone.
    VoiceMobile,
    /// A call to the alternate mobile phone.
    VoiceAlternateMobile,
    /// A call to the office phone.
    VoiceOffice,
}

impl DefaultMethod {
    /// Every default method.
    pub const ALL: [DefaultMethod; 6] = [
        DefaultMethod::Push,
        DefaultMethod::Oath,
        DefaultMethod::Sms,
        DefaultMethod::VoiceMobile,
        DefaultMethod::VoiceAlternateMobile,
        DefaultMethod::VoiceOffice,
    ];

    /// Graph's value, as job files spell it too.
    pub fn as_graph(self) -> &'static str {
        match self {
            DefaultMethod::Push => "push",
            DefaultMethod::Oath => "oath",
            DefaultMethod::Sms => "sms",
            DefaultMethod::VoiceMobile => "voiceMobile",
            DefaultMethod::VoiceAlternateMobile => "voiceAlternateMobile",
            DefaultMethod::VoiceOffice => "voiceOffice",
        }
    }

    /// Parse Graph's value (case-insensitive).
    pub fn from_graph(value: &str) -> Option<DefaultMethod> {
        DefaultMethod::ALL
            .into_iter()
            .find(|m| m.as_graph().eq_ignore_ascii_case(value))
    }
}

impl fmt::Display for DefaultMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_graph())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_types_round_trip_through_their_names() {
        for t in MethodType::ALL {
            assert_eq!(MethodType::from_name(t.name()), Some(t));
        }
        assert_eq!(
            MethodType::from_name("Windows_Hello-For Business"),
            Some(MethodType::WindowsHelloForBusiness)
        );
    }

    #[test]
    fn action_kinds_parse_from_names_ignoring_case_dashes_and_spaces() {
        for k in ActionKind::ALL {
            assert_eq!(ActionKind::from_name(k.name()), Some(k));
        }
        assert_eq!(
            ActionKind::from_name("Set Phone"),
            Some(ActionKind::SetPhone)
        );
        assert_eq!(
            ActionKind::from_name("RESET_MFA"),
            Some(ActionKind::ResetMfa)
        );
        assert_eq!(ActionKind::from_name("setphones"), None);
        assert_eq!(ActionKind::from_name("set"), None);
        assert_eq!(ActionKind::from_name(""), None);
    }

    #[test]
    fn phone_types_parse_ignoring_case() {
        assert_eq!(
            PhoneType::from_graph("ALTERNATEMOBILE"),
            Some(PhoneType::AlternateMobile)
        );
    }
}
