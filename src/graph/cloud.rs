//! What Graph offers in each national cloud, as far as authbulk's actions meet it: the
//! "National cloud availability" table at the top of each API page on learn.microsoft.com.
//! The planner ([`crate::plan::apply`]) refuses a row whose action the chosen `--cloud` does not
//! offer (`failed`, `notInCloud`), before any request for it.
//!
//! Sources (the table "This API is available in the following national cloud deployments"):
//! - QR code PIN: "Get qrCodePinAuthenticationMethod", "Create qrCodePinAuthenticationMethod",
//!   (graph/api/qrcodepinauthenticationmethod-get, authentication-put-qrcodepinmethod): global
//!   service only.
//! - Hardware OATH tokens: "Delete hardwareOathAuthenticationMethod", "Create
//!   hardwareOathAuthenticationMethod", "hardwareOathAuthenticationMethod: activate" and the
//!   hardware OATH device pages (graph/api/authenticationmethoddevice-post-hardwareoathdevices,
//!   beta): global service only (remove-method of hardwareOath, assign-oath-token,
//!   unassign-oath-token; `authbulk tokens` refuses other clouds too).
//! - SMS sign-in: "phoneAuthenticationMethod: enableSmsSignIn" and "...: disableSmsSignIn"
//!   (graph/api/phoneauthenticationmethod-enablesmssignin, -disablesmssignin): global, US
//!   Government L4 and L5 (DOD); not China operated by 21Vianet.
//! - Not refused: "Update phoneAuthenticationMethod" lists every cloud, China included.

use crate::auth::Cloud;
use crate::job::{Action, MethodType};

/// A Graph capability that some national clouds lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// The QR code PIN method (`qrCodePinAuthenticationMethod`).
    QrCodePin,
    /// Hardware OATH token methods (`hardwareOathAuthenticationMethod`).
    HardwareOath,
    /// `enableSmsSignIn` / `disableSmsSignIn` on a mobile phone method.
    SmsSignIn,
}

impl Capability {
    /// Whether Graph offers this in `cloud`.
    pub fn offered_in(self, cloud: Cloud) -> bool {
        match self {
            Capability::QrCodePin | Capability::HardwareOath => cloud == Cloud::Global,
            Capability::SmsSignIn => cloud != Cloud::China,
        }
    }

    /// The capability an action needs beyond what every cloud offers, if any.
    pub fn needed_by(action: &Action) -> Option<Capability> {
        match action {
            Action::EnableSmsSignIn | Action::DisableSmsSignIn => Some(Capability::SmsSignIn),
            Action::RemoveMethod {
                method_type: MethodType::QrCodePin,
                ..
            } => Some(Capability::QrCodePin),
            Action::RemoveMethod {
                method_type: MethodType::HardwareOath,
                ..
            }
            | Action::AssignOathToken { .. }
            | Action::UnassignOathToken { .. } => Some(Capability::HardwareOath),
            Action::IssueQrPin(_) | Action::ResetQrPin => Some(Capability::QrCodePin),
            _ => None,
        }
    }

    /// What it is, for a person.
    pub fn describe(self) -> &'static str {
        match self {
            Capability::QrCodePin => "the QR code PIN method (qrCodePinAuthenticationMethod)",
            Capability::HardwareOath => {
                "hardware OATH token methods (hardwareOathAuthenticationMethod)"
            }
            Capability::SmsSignIn => "SMS sign-in (enableSmsSignIn / disableSmsSignIn)",
        }
    }

    /// Why a row needing this is refused in `cloud`.
    pub fn refusal(self, cloud: Cloud) -> String {
        format!(
            "Microsoft Graph does not offer {} in the {} cloud (--cloud {}): nothing was sent",
            self.describe(),
            cloud.display(),
            cloud.name()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Cloud; 4] = [Cloud::Global, Cloud::UsGov, Cloud::UsGovDod, Cloud::China];

    #[test]
    fn the_table_follows_the_national_cloud_availability_of_each_page() {
        for cloud in ALL {
            let global = cloud == Cloud::Global;
            assert_eq!(Capability::QrCodePin.offered_in(cloud), global);
            assert_eq!(Capability::HardwareOath.offered_in(cloud), global);
            assert_eq!(
                Capability::SmsSignIn.offered_in(cloud),
                cloud != Cloud::China
            );
        }
        assert!(Capability::refusal(Capability::SmsSignIn, Cloud::China).contains("21Vianet"));
    }

    #[test]
    fn only_the_actions_that_need_a_capability_name_one() {
        assert_eq!(
            Capability::needed_by(&Action::EnableSmsSignIn),
            Some(Capability::SmsSignIn)
        );
        assert_eq!(Capability::needed_by(&Action::RemoveEmail), None);
        assert_eq!(
            Capability::needed_by(&Action::UnassignOathToken { serial: "S".into() }),
            Some(Capability::HardwareOath)
        );
    }
}
