//! The authentication methods policy, as far as authbulk's actions meet it: `GET
//! /policies/authenticationMethodsPolicy/authenticationMethodConfigurations/TemporaryAccessPass`
//! (lifetime bounds and default, pass length, one-time use, the groups it includes and
//! excludes) and `.../Sms` (whether SMS sign-in is enabled). The same settings decide what
//! [`super::methods`] accepts: a pass outside the lifetime bounds or for an excluded user, SMS
//! sign-in while the policy disables it.
//!
//! Sources: "temporaryAccessPassAuthenticationMethodConfiguration resource type" and
//! "smsAuthenticationMethodConfiguration resource type" (learn.microsoft.com/graph/api/resources/...),
//! "smsAuthenticationMethodTarget resource type" (`isUsableForSignIn`: the targets' users may
//! sign in with a text message), "Get temporaryAccessPassAuthenticationMethodConfiguration"
//! (learn.microsoft.com/graph/api/temporaryaccesspassauthenticationmethodconfiguration-get):
//! the application permission is Policy.Read.AuthenticationMethod (least privileged) or
//! Policy.ReadWrite.AuthenticationMethod; without either the GET is 403 (see `super::graph`).
//! `state` is `enabled` or `disabled`: a disabled TAP method creates no pass.

use serde_json::{Value, json};

use super::Sim;
use super::reply::Reply;

/// The `includeTargets` of a method enabled for every user.
fn all_users(registration: bool) -> Value {
    let mut target = json!({"targetType": "group", "id": "all_users"});
    if registration {
        target["isRegistrationRequired"] = json!(false);
    }
    json!([target])
}

/// Answer `GET .../authenticationMethodConfigurations/{id}`.
pub(crate) fn configuration(sim: &Sim, id: &str) -> Reply {
    if id.eq_ignore_ascii_case("TemporaryAccessPass") {
        let p = &sim.config.tap_policy;
        let exclude: Vec<Value> = sim
            .tenant
            .groups
            .iter()
            .filter(|g| g.name == super::generate::TAP_EXCLUDED_GROUP)
            .map(|g| json!({"targetType": "group", "id": g.id}))
            .collect();
        Reply::json(
            200,
            json!({
                "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration",
                "id": "TemporaryAccessPass",
                "state": if p.enabled { "enabled" } else { "disabled" },
                "defaultLifetimeInMinutes": p.default_minutes,
                "defaultLength": p.length,
                "minimumLifetimeInMinutes": p.min_minutes,
                "maximumLifetimeInMinutes": p.max_minutes,
                "isUsableOnce": p.usable_once,
                "includeTargets": all_users(true),
                "excludeTargets": exclude,
            }),
        )
    } else if id.eq_ignore_ascii_case("Sms") {
        let enabled = sim.config.sms_sign_in_allowed;
        let include = if enabled {
            json!([{"targetType": "group", "id": "all_users", "isUsableForSignIn": true}])
        } else {
            json!([])
        };
        Reply::json(
            200,
            json!({
                "@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration",
                "id": "Sms",
                "state": if enabled { "enabled" } else { "disabled" },
                "includeTargets": include,
                "excludeTargets": [],
            }),
        )
    } else if id.eq_ignore_ascii_case("qrCodePin") {
        super::qr_pin::configuration(sim)
    } else {
        Reply::not_found(id)
    }
}
