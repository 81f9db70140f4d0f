//! A user's authentication methods and settings as the simulated Graph keeps them: each method
//! with its properties, how Graph renders it (`@odata.type`, v1.0 or beta properties), which
//! second factor it backs, and the per-user counters introspection shows. Read and changed by
//! [`super::methods`] under the user's lock ([`super::tenant::User::lock`]).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::catalog::{Collection, PASSWORD_TYPE, PhoneKind, SecondFactor};

/// What a method is, with the properties that matter for it.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// The password (cannot be deleted).
    Password,
    /// A phone; the id is the fixed id of its type.
    Phone {
        /// mobile, alternateMobile or office.
        phone_type: PhoneKind,
        /// `+CC NATIONAL[xEXT]`.
        number: String,
        /// SMS sign-in was enabled on it.
        sms_sign_in: bool,
    },
    /// The email method.
    Email {
        /// The address.
        address: String,
    },
    /// A Microsoft Authenticator registration.
    Authenticator {
        /// Device name.
        display_name: String,
        /// Registered for passwordless phone sign-in (only those have a `createdDateTime`).
        passwordless: bool,
        /// Last use (beta only; often null).
        last_used: Option<DateTime<Utc>>,
    },
    /// A software OATH token.
    SoftwareOath,
    /// A FIDO2 key or passkey.
    Fido2 {
        /// Name.
        display_name: String,
        /// Model.
        model: String,
    },
    /// Windows Hello for Business.
    WindowsHello {
        /// Device name.
        display_name: String,
    },
    /// A macOS platform credential.
    PlatformCredential {
        /// Device name.
        display_name: String,
    },
    /// A temporary access pass.
    Tap {
        /// When it becomes usable.
        start: DateTime<Utc>,
        /// Minutes it lasts.
        lifetime: u32,
        /// One sign-in only.
        usable_once: bool,
    },
    /// A hardware OATH token (beta collection).
    HardwareOath {
        /// Serial number.
        serial: String,
    },
    /// An external authentication method (a third-party MFA provider).
    External {
        /// The provider's name.
        display_name: String,
        /// The id of the external method configuration in the tenant's policy.
        configuration_id: String,
    },
    /// A QR code + PIN method (at most one; deleted through the singleton `qrCodePinMethod`;
    /// never a default method).
    QrCodePin,
}

/// One authentication method of a user.
#[derive(Debug, Clone)]
pub(crate) struct Method {
    /// Its id (fixed for phones, email and password; opaque otherwise).
    pub id: String,
    /// `createdDateTime` (null for some Authenticator registrations, always for the password).
    pub created: Option<DateTime<Utc>>,
    /// Its type and properties.
    pub kind: Kind,
}

impl Method {
    /// The typed collection that holds it; `None` for the password.
    pub fn collection(&self) -> Option<Collection> {
        Some(match self.kind {
            Kind::Password => return None,
            Kind::QrCodePin => Collection::QrCodePin,
            Kind::Phone { .. } => Collection::Phone,
            Kind::Email { .. } => Collection::Email,
            Kind::Authenticator { .. } => Collection::MicrosoftAuthenticator,
            Kind::SoftwareOath => Collection::SoftwareOath,
            Kind::Fido2 { .. } => Collection::Fido2,
            Kind::WindowsHello { .. } => Collection::WindowsHello,
            Kind::PlatformCredential { .. } => Collection::PlatformCredential,
            Kind::Tap { .. } => Collection::TemporaryAccessPass,
            Kind::HardwareOath { .. } => Collection::HardwareOath,
            Kind::External { .. } => Collection::External,
        })
    }

    /// The `@odata.type` Graph gives it.
    pub fn odata_type(&self) -> &'static str {
        self.collection()
            .map_or(PASSWORD_TYPE, Collection::odata_type)
    }

    /// True when this method lets the user answer an MFA prompt of kind `default`.
    pub fn backs(&self, default: SecondFactor) -> bool {
        match (&self.kind, default) {
            (Kind::Authenticator { .. }, SecondFactor::Push) => true,
            (Kind::SoftwareOath | Kind::HardwareOath { .. }, SecondFactor::Oath) => true,
            (Kind::Phone { phone_type, .. }, d) => matches!(
                (phone_type, d),
                (
                    PhoneKind::Mobile,
                    SecondFactor::Sms | SecondFactor::VoiceMobile
                ) | (
                    PhoneKind::AlternateMobile,
                    SecondFactor::VoiceAlternateMobile
                ) | (PhoneKind::Office, SecondFactor::VoiceOffice)
            ),
            _ => false,
        }
    }

    /// The method as Graph shows it. `beta` adds the beta-only properties; `number_unique`
    /// decides a mobile phone's `smsSignInState`.
    pub fn json(&self, beta: bool, now: DateTime<Utc>, number_unique: bool) -> Value {
        let created = self.created.map(|d| d.to_rfc3339());
        let mut v = match &self.kind {
            Kind::Password => json!({
                "createdDateTime": null, "password": null }),
            Kind::Phone {
                phone_type,
                number,
                sms_sign_in,
            } => {
                let state = match (phone_type, sms_sign_in, number_unique) {
                    (PhoneKind::Mobile, true, true) => "ready",
                    (PhoneKind::Mobile, _, false) => "phoneNumberNotUnique",
                    (PhoneKind::Mobile, false, true) => "notEnabled",
                    _ => "notSupported",
                };
                json!({ "phoneNumber": number, "phoneType": phone_type.graph_name(), "smsSignInState": state })
            }
            Kind::Email { address } => json!({
                "emailAddress": address }),
            Kind::Authenticator {
                display_name,
                last_used,
                ..
            } => {
                let mut v = json!({
                    "displayName": display_name, "deviceTag": "SoftwareTokenActivated",
                    "phoneAppVersion": "6.2409.6094", "createdDateTime": created });
                if beta {
                    v["lastUsedDateTime"] = json!(last_used.map(|d| d.to_rfc3339()));
                    v["clientAppName"] = json!("microsoftAuthenticator");
                }
                v
            }
            Kind::SoftwareOath => json!({
                "secretKey": null }),
            Kind::Fido2 {
                display_name,
                model,
            } => json!({
                "displayName": display_name, "model": model,
                "aaGuid": "cb69481e-8ff7-4039-93ec-0a2729a154a8",
                "attestationLevel": "attested", "createdDateTime": created }),
            Kind::WindowsHello { display_name } => json!({
                "displayName": display_name, "keyStrength": "normal", "createdDateTime": created }),
            Kind::PlatformCredential { display_name } => json!({
                "displayName": display_name, "platform": "macOS", "keyStrength": "strong",
                "createdDateTime": created }),
            Kind::Tap {
                start,
                lifetime,
                usable_once,
            } => {
                let end = *start + Duration::minutes(i64::from(*lifetime));
                let (usable, reason) = if now < *start {
                    (false, "NotYetValid")
                } else if now >= end {
                    (false, "Expired")
                } else {
                    (true, "EnabledByPolicy")
                };
                json!({
                    "temporaryAccessPass": null, "createdDateTime": created,
                    "startDateTime": start.to_rfc3339(), "lifetimeInMinutes": lifetime,
                    "isUsableOnce": usable_once, "isUsable": usable, "methodUsabilityReason": reason })
            }
            Kind::HardwareOath { serial } => json!({
                "serialNumber": serial, "manufacturer": "Contoso Tokens", "model": "OTP-6",
                "displayName": serial, "createdDateTime": created }),
            Kind::External {
                display_name,
                configuration_id,
            } => json!({
                "displayName": display_name, "configurationId": configuration_id,
                "createdDateTime": created }),
            Kind::QrCodePin => json!({
                "createdDateTime": created }),
        };
        v["@odata.type"] = Value::String(self.odata_type().to_string());
        v["id"] = Value::String(self.id.clone());
        v
    }
}

/// A temporary access pass the simulator issued, kept for introspection.
#[derive(Debug, Clone)]
pub(crate) struct IssuedTap {
    /// The method id.
    pub id: String,
    /// The pass itself.
    pub value: String,
    /// When it was issued.
    pub created: DateTime<Utc>,
}

/// A user's mutable state: methods, default method and the per-user counters.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserState {
    /// The methods, password first.
    pub methods: Vec<Method>,
    /// Beta `userPreferredMethodForSecondaryAuthentication`.
    pub preferred: Option<SecondFactor>,
    /// Beta `isSystemPreferredAuthenticationMethodEnabled`.
    pub system_preferred: bool,
    /// How often `revokeSignInSessions` was called.
    pub sessions_revoked: u64,
    /// Successful writes since the last counter reset.
    pub writes: u64,
    /// Passes issued since the last counter reset.
    pub taps_issued: u64,
    /// Passes issued in the simulator's life.
    pub taps_ever: u64,
    /// Every pass issued in the simulator's life, with its value.
    pub issued: Vec<IssuedTap>,
    /// The last change of the user's methods (the registration report's
    /// `lastUpdatedDateTime`).
    pub updated: DateTime<Utc>,
    /// The standard QR code and PIN of QR code PIN methods created through the API.
    pub qr_pins: Vec<super::qr_pin::QrDetails>,
    /// Every QR code PIN secret issued in the simulator's life (creates and PIN resets).
    pub issued_qr_pins: Vec<super::qr_pin::IssuedQrPin>,
}

impl UserState {
    /// The phone of this type.
    pub fn phone(&self, t: PhoneKind) -> Option<&Method> {
        self.methods
            .iter()
            .find(|m| matches!(&m.kind, Kind::Phone { phone_type, .. } if *phone_type == t))
    }

    /// Beta `systemPreferredAuthenticationMethod`: the strongest method the user has.
    pub fn system_method(&self) -> Option<SecondFactor> {
        [
            SecondFactor::Push,
            SecondFactor::Oath,
            SecondFactor::Sms,
            SecondFactor::VoiceAlternateMobile,
            SecondFactor::VoiceOffice,
        ]
        .into_iter()
        .find(|d| self.methods.iter().any(|m| m.backs(*d)))
    }

    /// The beta `signInPreferences` object.
    pub fn sign_in_preferences(&self) -> Value {
        let system = self
            .system_preferred
            .then(|| self.system_method())
            .flatten();
        json!({
            "@odata.type": "#microsoft.graph.signInPreferences",
            "userPreferredMethodForSecondaryAuthentication": self.preferred.map(|d| d.graph_name()),
            "isSystemPreferredAuthenticationMethodEnabled": self.system_preferred,
            "systemPreferredAuthenticationMethod": system.map(|d| d.graph_name()),
        })
    }
}
