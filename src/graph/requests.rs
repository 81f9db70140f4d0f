//! The Graph request of each read and write the planner and the applier make: one place turns
//! a typed [`Write`] (what a planned step asks of Graph, in the domain's terms) or a read into
//! a [`Request`] with its version, method, path and body. The planner ([`crate::plan`]) holds
//! no HTTP; the applier ([`crate::plan::apply`]) calls these just before it sends, with the
//! user's object id. Paths come from [`super::names`] and [`super::path`], bodies from
//! [`super::methods`].
//!
//! Sources: "Microsoft Entra authentication methods API overview"
//! (<https://learn.microsoft.com/graph/api/resources/authenticationmethods-overview>),
//! "phoneAuthenticationMethod resource type" (SMS sign-in actions), "user: revokeSignInSessions"
//! and "Update signInPreferences" (beta); graph-contract.md, "Endpoints".

use serde_json::json;

use super::{ApiVersion, Request, methods, names, path};
use crate::job::MethodType;
use crate::plan::Write;

/// The query that resolves a user to its object id.
const USER_SELECT: &str = "?$select=id,userPrincipalName";

/// `/users/{u}/authentication`.
fn authentication(user: &str) -> String {
    let mut out = path::user(user);
    out.push_str("/authentication");
    out
}

/// [`authentication`] of `user` followed by `rest`.
fn authentication_then(user: &str, rest: &str) -> String {
    let mut out = authentication(user);
    out.push_str(rest);
    out
}

/// `GET /users/{u}?$select=id,userPrincipalName`: the user's object id.
pub fn resolve_user(user: &str) -> Request {
    let mut url = path::user(user);
    url.push_str(USER_SELECT);
    Request::get(ApiVersion::V1, url)
}

/// `GET /users/{id}/authentication/methods`, through beta when `beta` (`lastUsedDateTime`,
/// hardware OATH tokens).
pub fn read_methods(user_id: &str, beta: bool) -> Request {
    let version = if beta {
        ApiVersion::Beta
    } else {
        ApiVersion::V1
    };
    Request::get(version, authentication_then(user_id, "/methods"))
}

/// `GET /policies/authenticationMethodsPolicy/authenticationMethodConfigurations/{id}`: one
/// method's configuration in the authentication methods policy (`TemporaryAccessPass`, `Sms`).
pub fn read_method_configuration(id: &str) -> Request {
    Request::get(
        ApiVersion::V1,
        format!("/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/{id}"),
    )
}

/// `GET beta /users/{id}/authentication/signInPreferences`.
pub fn read_preferences(user_id: &str) -> Request {
    Request::get(
        ApiVersion::Beta,
        authentication_then(user_id, "/signInPreferences"),
    )
}

/// `GET /users/{id}/authentication/temporaryAccessPassMethods`: the user's passes.
pub fn list_taps(user_id: &str) -> Request {
    Request::get(
        ApiVersion::V1,
        format!(
            "{}/{}",
            authentication(user_id),
            names::collection(MethodType::TemporaryAccessPass)
        ),
    )
}

/// The largest page Graph gives of users, groups and members (`$top`).
pub const PAGE_SIZE: u32 = 999;

/// Characters encoded in a query value: all but RFC 3986 unreserved.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `GET /users?$select=id,userPrincipalName&$top={top}`: the first page of every user
/// (`--all-users`), optionally filtered by an OData `$filter`. A filter is always sent as an
/// advanced query (`ConsistencyLevel: eventual`, `$count=true`): `endsWith`, `ne` and `not`
/// need it, and the plain forms accept it.
pub fn list_users(filter: Option<&str>, top: u32) -> Request {
    let mut url = format!("/users?$select=id,userPrincipalName&$top={top}");
    let Some(filter) = filter else {
        return Request::get(ApiVersion::V1, url);
    };
    url.push_str("&$count=true&$filter=");
    url.extend(percent_encoding::utf8_percent_encode(filter, QUERY_VALUE));
    Request::get(ApiVersion::V1, url).advanced()
}

/// `GET /groups?$filter=displayName eq '...'`: the groups whose display name is `name`
/// (quotes in the name doubled; "List groups": `eq` on `displayName` is a default query).
pub fn groups_named(name: &str) -> Request {
    let filter = format!("displayName eq '{}'", name.replace('\'', "''"));
    Request::get(
        ApiVersion::V1,
        format!(
            "/groups?$select=id,displayName&$top={PAGE_SIZE}&$filter={}",
            percent_encoding::utf8_percent_encode(&filter, QUERY_VALUE)
        ),
    )
}

/// `GET /groups/{id}/transitiveMembers/microsoft.graph.user`: the first page of the users
/// among a group's transitive members (`--group`). The OData cast needs the advanced query
/// parameters ("List group transitive members").
pub fn group_members(group_id: &str, top: u32) -> Request {
    Request::get(
        ApiVersion::V1,
        format!(
            "/groups/{}/transitiveMembers/microsoft.graph.user?$select=id,userPrincipalName&$top={top}&$count=true",
            path::segment(group_id)
        ),
    )
    .advanced()
}

/// The request that makes `write` for the user `user_id`.
pub fn write(user_id: &str, write: &Write) -> Request {
    let typed = |t: MethodType| format!("{}/{}", authentication(user_id), names::collection(t));
    let one = |t: MethodType, id: &str| format!("{}/{}", typed(t), path::segment(id));
    match write {
        Write::CreatePhone { phone_type, number } => Request::post(
            ApiVersion::V1,
            typed(MethodType::Phone),
            methods::phone_create_body(*phone_type, number),
        ),
        Write::UpdatePhone { id, number } => Request::patch(
            ApiVersion::V1,
            one(MethodType::Phone, id),
            methods::phone_update_body(number),
        ),
        Write::CreateEmail { address } => Request::post(
            ApiVersion::V1,
            typed(MethodType::Email),
            methods::email_body(address),
        ),
        Write::UpdateEmail { id, address } => Request::patch(
            ApiVersion::V1,
            one(MethodType::Email, id),
            methods::email_body(address),
        ),
        // Deletes go to the typed collection; the QR code PIN method is a singleton addressed
        // without its id.
        Write::Delete { method_type, id } => Request::delete(
            if names::beta_only(*method_type) {
                ApiVersion::Beta
            } else {
                ApiVersion::V1
            },
            names::method_path(user_id, *method_type, id),
        ),
        Write::IssueTap(params) => Request::post(
            ApiVersion::V1,
            typed(MethodType::TemporaryAccessPass),
            methods::tap_body(params),
        ),
        Write::RevokeSessions => Request::post(
            ApiVersion::V1,
            format!("{}/revokeSignInSessions", path::user(user_id)),
            json!({}),
        ),
        Write::SetPreferences {
            method,
            system_preferred,
        } => Request::patch(
            ApiVersion::Beta,
            format!("{}/signInPreferences", authentication(user_id)),
            methods::preferences_body(*method, *system_preferred),
        ),
        Write::SmsSignIn { phone_id, on } => Request::post(
            ApiVersion::V1,
            format!(
                "{}/{}SmsSignIn",
                one(MethodType::Phone, phone_id),
                if *on { "enable" } else { "disable" }
            ),
            json!({}),
        ),
        Write::IssueQrPin {
            lifetime_days,
            pin_length,
        } => super::qr_pin::create(user_id, *lifetime_days, *pin_length),
        Write::ResetQrPin => super::qr_pin::reset_pin(user_id),
        Write::AssignOathToken { device_id } => super::oath::assign(user_id, device_id),
        Write::ActivateOathToken { device_id, code } => {
            super::oath::activate(user_id, device_id, code)
        }
        Write::UnassignOathToken { device_id } => super::oath::unassign(user_id, device_id),
    }
}
