//! Graph's names for the domain's method types, in one table: the `@odata.type` of each
//! [`MethodType`], the typed collection under `/users/{u}/authentication/` that lists and
//! deletes it, whether it is a singleton or beta-only, and the fixed ids Graph gives phones.
//! The job model ([`crate::job`]) and the planner ([`crate::plan`]) name types in the domain's
//! terms; this module and [`super::requests`] alone spell them for Graph. The simulator keeps
//! its own reading of the same documentation (`src/sim`), so a wrong entry here shows up as a
//! failed test instead of a shared mistake.
//!
//! Sources: "Microsoft Entra authentication methods API overview"
//! (<https://learn.microsoft.com/graph/api/resources/authenticationmethods-overview>) for the
//! types and their collections, "phoneAuthenticationMethod resource type"
//! (<https://learn.microsoft.com/graph/api/resources/phoneauthenticationmethod>) for the fixed
//! phone ids, and graph-contract.md, "Endpoints".

use super::path;
use crate::job::{MethodType, PhoneType};

/// What every method's `@odata.type` begins with.
const ODATA_PREFIX: &str = "#microsoft.graph.";

/// What every method's `@odata.type` ends with.
const ODATA_SUFFIX: &str = "AuthenticationMethod";

/// The `@odata.type` of methods of this type, e.g. `#microsoft.graph.fido2AuthenticationMethod`.
pub fn odata_type(method_type: MethodType) -> String {
    format!("{ODATA_PREFIX}{}{ODATA_SUFFIX}", method_type.name())
}

/// The type of an `@odata.type` value (case-insensitive); `None` for the password and for types
/// this version does not know. Compared piece by piece, without spelling each type's
/// [`odata_type`] (every method of every answer is named here).
pub fn method_type(odata: &str) -> Option<MethodType> {
    let bytes = odata.as_bytes();
    if bytes.len() < ODATA_PREFIX.len() + ODATA_SUFFIX.len() {
        return None;
    }
    let (prefix, rest) = bytes.split_at(ODATA_PREFIX.len());
    let (name, suffix) = rest.split_at(rest.len() - ODATA_SUFFIX.len());
    if !prefix.eq_ignore_ascii_case(ODATA_PREFIX.as_bytes())
        || !suffix.eq_ignore_ascii_case(ODATA_SUFFIX.as_bytes())
    {
        return None;
    }
    MethodType::ALL
        .into_iter()
        .find(|t| t.name().as_bytes().eq_ignore_ascii_case(name))
}

/// The typed collection under `/users/{u}/authentication/` that lists and deletes methods of
/// this type. For [`MethodType::QrCodePin`] it is a single navigation property, not a
/// collection: see [`is_singleton`]. Deletes go here, never to the generic
/// `/authentication/methods/{id}`, which most types do not route (graph-contract.md,
/// "Endpoints").
pub fn collection(method_type: MethodType) -> &'static str {
    match method_type {
        MethodType::Fido2 => "fido2Methods",
        MethodType::SoftwareOath => "softwareOathMethods",
        MethodType::WindowsHelloForBusiness => "windowsHelloForBusinessMethods",
        MethodType::PlatformCredential => "platformCredentialMethods",
        MethodType::TemporaryAccessPass => "temporaryAccessPassMethods",
        MethodType::MicrosoftAuthenticator => "microsoftAuthenticatorMethods",
        MethodType::HardwareOath => "hardwareOathMethods",
        MethodType::Email => "emailMethods",
        MethodType::Phone => "phoneMethods",
        MethodType::QrCodePin => "qrCodePinMethod",
        // v1.0 `DELETE /users/{id}/authentication/externalAuthenticationMethods/{id}` ("Delete
        // externalAuthenticationMethod"; the beta page adds `/$ref`, v1.0 does not).
        MethodType::External => "externalAuthenticationMethods",
    }
}

/// True when the user has at most one method of the type and Graph addresses it without an id:
/// GET and DELETE `/users/{u}/authentication/qrCodePinMethod` (v1.0 and beta).
pub fn is_singleton(method_type: MethodType) -> bool {
    matches!(method_type, MethodType::QrCodePin)
}

/// True when the collection exists only in the beta API.
pub fn beta_only(method_type: MethodType) -> bool {
    matches!(method_type, MethodType::HardwareOath)
}

/// The path that reads or deletes the method `id` of this type for `user` (an object id or
/// UPN, encoded here): the typed collection and the encoded id, or the singleton's path alone.
pub fn method_path(user: &str, method_type: MethodType, id: &str) -> String {
    let mut out = path::user(user);
    out.push_str("/authentication/");
    out.push_str(collection(method_type));
    if !is_singleton(method_type) {
        out.push('/');
        path::push_segment(&mut out, id);
    }
    out
}

/// The fixed method id Graph gives the phone of this type ("phoneAuthenticationMethod resource
/// type": one phone per type, each with a well-known id).
pub fn phone_method_id(phone_type: PhoneType) -> &'static str {
    match phone_type {
        PhoneType::Mobile => "3179e48a-750b-4051-897c-87b9720928f7",
        PhoneType::AlternateMobile => "b6332ec1-7057-4abe-9331-3d72feddfe41",
        PhoneType::Office => "e37fc753-ff3b-4958-9484-eaa9425c82bc",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_odata_type_and_has_its_own_collection() {
        for t in MethodType::ALL {
            assert_eq!(method_type(&odata_type(t)), Some(t));
            let others = MethodType::ALL
                .iter()
                .filter(|o| collection(**o) == collection(t));
            assert_eq!(others.count(), 1, "{t}");
        }
        assert_eq!(
            method_type("#microsoft.graph.passwordAuthenticationMethod"),
            None
        );
        assert_eq!(
            method_type("#Microsoft.Graph.FIDO2authenticationmethod"),
            Some(MethodType::Fido2)
        );
        for odata in [
            "",
            "#microsoft.graph.AuthenticationMethod",
            "#microsoft.graph.fido2",
            "microsoft.graph.fido2AuthenticationMethod",
            "#microsoft.graph.fido2AuthenticationMethods",
            "#microsoft.graph.fidö2AuthenticationMethod",
        ] {
            assert_eq!(method_type(odata), None, "{odata}");
        }
        assert_eq!(
            method_path("a/b", MethodType::Fido2, "k/1"),
            "/users/a%2Fb/authentication/fido2Methods/k%2F1"
        );
        assert_eq!(
            method_path("u", MethodType::QrCodePin, "ignored"),
            "/users/u/authentication/qrCodePinMethod"
        );
        assert_eq!(
            method_type("#microsoft.graph.qrCodePinAuthenticationMethod"),
            Some(MethodType::QrCodePin)
        );
        assert_eq!(
            phone_method_id(PhoneType::Mobile),
            "3179e48a-750b-4051-897c-87b9720928f7"
        );
    }
}
