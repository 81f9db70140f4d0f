//! Graph's vocabulary for authentication methods, spelled here from Microsoft's documentation and
//! on purpose not shared with the client (STYLE.md 13): the typed collections under
//! `/users/{u}/authentication/`, their `@odata.type` names, the phone types with their fixed ids,
//! and the default-method values of beta `signInPreferences`. A wrong entry in the client's own
//! tables then meets a simulator that disagrees, and a test fails.
//!
//! Sources: "authenticationMethod resource type" and the per-type resource pages
//! (learn.microsoft.com/graph/api/resources/authenticationmethods-overview), "phoneAuthenticationMethod
//! resource type" (fixed ids), "signInPreferences resource type" (beta), "Delete
//! qrCodePinAuthenticationMethod" (v1.0 singleton), "hardwareOathAuthenticationMethod" (beta).

use std::fmt;

/// The fixed id Graph usually gives the password method.
pub(crate) const PASSWORD_ID: &str = "28c10230-6103-485e-b985-444c60001490";
/// The fixed id of the email method.
pub(crate) const EMAIL_ID: &str = "3ddfcfc8-9383-446f-83cc-3ab9be4be18f";

/// A typed collection (or singleton) of methods under `/users/{u}/authentication/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Collection {
    /// `phoneMethods`
    Phone,
    /// `emailMethods`
    Email,
    /// `microsoftAuthenticatorMethods`
    MicrosoftAuthenticator,
    /// `softwareOathMethods`
    SoftwareOath,
    /// `fido2Methods`
    Fido2,
    /// `windowsHelloForBusinessMethods`
    WindowsHello,
    /// `platformCredentialMethods`
    PlatformCredential,
    /// `temporaryAccessPassMethods`
    TemporaryAccessPass,
    /// `externalAuthenticationMethods`
    External,
    /// `hardwareOathMethods` (beta only)
    HardwareOath,
    /// `qrCodePinMethod`: a single navigation property, addressed without an id.
    QrCodePin,
}

impl Collection {
    /// Every collection.
    pub const ALL: [Collection; 11] = [
        Collection::Phone,
        Collection::Email,
        Collection::MicrosoftAuthenticator,
        Collection::SoftwareOath,
        Collection::Fido2,
        Collection::WindowsHello,
        Collection::PlatformCredential,
        Collection::TemporaryAccessPass,
        Collection::External,
        Collection::HardwareOath,
        Collection::QrCodePin,
    ];

    /// The path segment.
    pub fn segment(self) -> &'static str {
        match self {
            Collection::Phone => "phoneMethods",
            Collection::Email => "emailMethods",
            Collection::MicrosoftAuthenticator => "microsoftAuthenticatorMethods",
            Collection::SoftwareOath => "softwareOathMethods",
            Collection::Fido2 => "fido2Methods",
            Collection::WindowsHello => "windowsHelloForBusinessMethods",
            Collection::PlatformCredential => "platformCredentialMethods",
            Collection::TemporaryAccessPass => "temporaryAccessPassMethods",
            Collection::External => "externalAuthenticationMethods",
            Collection::HardwareOath => "hardwareOathMethods",
            Collection::QrCodePin => "qrCodePinMethod",
        }
    }

    /// The `@odata.type` of the methods it holds.
    pub fn odata_type(self) -> &'static str {
        match self {
            Collection::Phone => "#microsoft.graph.phoneAuthenticationMethod",
            Collection::Email => "#microsoft.graph.emailAuthenticationMethod",
            Collection::MicrosoftAuthenticator => {
                "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod"
            }
            Collection::SoftwareOath => "#microsoft.graph.softwareOathAuthenticationMethod",
            Collection::Fido2 => "#microsoft.graph.fido2AuthenticationMethod",
            Collection::WindowsHello => {
                "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod"
            }
            Collection::PlatformCredential => {
                "#microsoft.graph.platformCredentialAuthenticationMethod"
            }
            Collection::TemporaryAccessPass => {
                "#microsoft.graph.temporaryAccessPassAuthenticationMethod"
            }
            Collection::External => "#microsoft.graph.externalAuthenticationMethod",
            Collection::HardwareOath => "#microsoft.graph.hardwareOathAuthenticationMethod",
            Collection::QrCodePin => "#microsoft.graph.qrCodePinAuthenticationMethod",
        }
    }

    /// The collection a path segment names. Graph matches segment names without regard to case;
    /// any other spelling is unknown.
    pub fn from_segment(segment: &str) -> Option<Collection> {
        Collection::ALL
            .into_iter()
            .find(|c| c.segment().eq_ignore_ascii_case(segment))
    }

    /// Only in the beta API ("hardwareOathAuthenticationMethod resource type" is a beta page).
    pub fn beta_only(self) -> bool {
        self == Collection::HardwareOath
    }

    /// Addressed without an id (`qrCodePinMethod`).
    pub fn singleton(self) -> bool {
        self == Collection::QrCodePin
    }
}

/// The `@odata.type` of the password method.
pub(crate) const PASSWORD_TYPE: &str = "#microsoft.graph.passwordAuthenticationMethod";

/// A phone method's `phoneType`; each type has a fixed method id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum PhoneKind {
    /// `mobile`
    Mobile,
    /// `alternateMobile` (needs a mobile)
    AlternateMobile,
    /// `office`
    Office,
}

impl PhoneKind {
    /// Every phone type.
    pub const ALL: [PhoneKind; 3] = [
        PhoneKind::Mobile,
        PhoneKind::AlternateMobile,
        PhoneKind::Office,
    ];

    /// Graph's `phoneType` value.
    pub fn graph_name(self) -> &'static str {
        match self {
            PhoneKind::Mobile => "mobile",
            PhoneKind::AlternateMobile => "alternateMobile",
            PhoneKind::Office => "office",
        }
    }

    /// The fixed id ("phoneAuthenticationMethod resource type": "the ID of the phone method
    /// ... is always" one of these three).
    pub fn fixed_id(self) -> &'static str {
        match self {
            PhoneKind::Mobile => "3179e48a-750b-4051-897c-87b9720928f7",
            PhoneKind::AlternateMobile => "b6332ec1-7057-4abe-9331-3d72feddfe41",
            PhoneKind::Office => "e37fc753-ff3b-4958-9484-eaa9425c82bc",
        }
    }

    /// Parse `phoneType` (Graph's enum members match without regard to case).
    pub fn parse(value: &str) -> Option<PhoneKind> {
        PhoneKind::ALL
            .into_iter()
            .find(|t| t.graph_name().eq_ignore_ascii_case(value))
    }

    /// The registration report's `methodsRegistered` value for this phone.
    pub fn registered_name(self) -> &'static str {
        match self {
            PhoneKind::Mobile => "mobilePhone",
            PhoneKind::AlternateMobile => "alternateMobilePhone",
            PhoneKind::Office => "officePhone",
        }
    }
}

impl fmt::Display for PhoneKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.graph_name())
    }
}

/// A value of beta `userPreferredMethodForSecondaryAuthentication` ("signInPreferences resource
/// type": push, oath, voiceMobile, voiceAlternateMobile, voiceOffice, sms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecondFactor {
    /// `push`
    Push,
    /// `oath`
    Oath,
    /// `sms`
    Sms,
    /// `voiceMobile`
    VoiceMobile,
    /// `voiceAlternateMobile`
    VoiceAlternateMobile,
    /// `voiceOffice`
    VoiceOffice,
}

impl SecondFactor {
    /// Every value.
    pub const ALL: [SecondFactor; 6] = [
        SecondFactor::Push,
        SecondFactor::Oath,
        SecondFactor::Sms,
        SecondFactor::VoiceMobile,
        SecondFactor::VoiceAlternateMobile,
        SecondFactor::VoiceOffice,
    ];

    /// Graph's value.
    pub fn graph_name(self) -> &'static str {
        match self {
            SecondFactor::Push => "push",
            SecondFactor::Oath => "oath",
            SecondFactor::Sms => "sms",
            SecondFactor::VoiceMobile => "voiceMobile",
            SecondFactor::VoiceAlternateMobile => "voiceAlternateMobile",
            SecondFactor::VoiceOffice => "voiceOffice",
        }
    }

    /// Parse Graph's value.
    pub fn parse(value: &str) -> Option<SecondFactor> {
        SecondFactor::ALL
            .into_iter()
            .find(|m| m.graph_name().eq_ignore_ascii_case(value))
    }
}

impl fmt::Display for SecondFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.graph_name())
    }
}
