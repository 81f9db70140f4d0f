//! The service rules of graph-contract.md as the simulator enforces them, with Graph's status
//! codes and error bodies.

use crate::support::graph::{Graph, default_of, methods_of, non_password, phone};
use authbulk::sim::{SimConfig, upn};
use serde_json::json;

const MOBILE: &str = "3179e48a-750b-4051-897c-87b9720928f7";
const ALTERNATE: &str = "b6332ec1-7057-4abe-9331-3d72feddfe41";

async fn graph() -> Graph {
    Graph::with_users(300).await
}

#[tokio::test]
async fn errors_have_graphs_body_shape_and_every_answer_a_request_id() {
    let g = graph().await;
    let missing = g
        .get("/v1.0/users/nobody%40contoso.onmicrosoft.com/authentication/methods")
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (404, "Request_ResourceNotFound")
    );
    let request_id = missing
        .header("request-id")
        .expect("request-id header")
        .to_string();
    assert_eq!(
        missing.body["error"]["innerError"]["request-id"],
        request_id.as_str()
    );
    assert!(missing.body["error"]["innerError"]["date"].is_string());
    assert!(missing.body["error"]["innerError"]["client-request-id"].is_string());
    let ok = g
        .get(&g.user_path("v1.0", 0, "/authentication/methods"))
        .await;
    assert_eq!(ok.status, 200);
    assert!(ok.header("request-id").is_some());
    assert_ne!(ok.header("request-id").unwrap(), request_id);
}

#[tokio::test]
async fn phone_numbers_outside_graphs_format_are_refused_on_create_and_update() {
    let g = graph().await;
    let i = g.find_user(300, |s| phone(s, "mobile").is_none());
    let path = g.user_path("v1.0", i, "/authentication/phoneMethods");
    for bad in ["+46701234567", "0701234567", "+46 70 123 45 67"] {
        let r = g
            .post(&path, json!({"phoneNumber": bad, "phoneType": "mobile"}))
            .await;
        assert_eq!((r.status, r.code()), (400, "badRequest"), "{bad}");
    }
    let created = g
        .post(
            &path,
            json!({"phoneNumber": "+46 701234567", "phoneType": "mobile"}),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["id"], MOBILE);
    assert_eq!(created.body["phoneNumber"], "+46 701234567");
    let bad_update = g
        .patch(
            &format!("{path}/{MOBILE}"),
            json!({"phoneNumber": "070-123"}),
        )
        .await;
    assert_eq!(bad_update.status, 400);
    let good_update = g
        .patch(
            &format!("{path}/{MOBILE}"),
            json!({"phoneNumber": "+1 4255550100x12"}),
        )
        .await;
    assert_eq!(good_update.status, 204);
    assert_eq!(
        phone(&g.state(i), "mobile").unwrap()["phoneNumber"],
        "+1 4255550100x12"
    );
}

#[tokio::test]
async fn one_phone_per_type_and_its_type_cannot_change() {
    let g = graph().await;
    let i = g.find_user(300, |s| phone(s, "mobile").is_some());
    let path = g.user_path("v1.0", i, "/authentication/phoneMethods");
    let second = g
        .post(
            &path,
            json!({"phoneNumber": "+46 709999999", "phoneType": "mobile"}),
        )
        .await;
    assert_eq!((second.status, second.code()), (400, "badRequest"));
    let retype = g
        .patch(&format!("{path}/{MOBILE}"), json!({"phoneType": "office"}))
        .await;
    assert_eq!(retype.status, 400);
    assert_eq!(
        methods_of(&g.state(i), "phone")
            .iter()
            .filter(|p| p["phoneType"] == "mobile")
            .count(),
        1
    );
}

#[tokio::test]
async fn alternate_mobile_needs_a_mobile_and_is_removed_before_it() {
    let g = graph().await;
    let i = g.find_user(300, |s| non_password(s) == 0);
    let path = g.user_path("v1.0", i, "/authentication/phoneMethods");
    let orphan = g
        .post(
            &path,
            json!({"phoneNumber": "+46 731111111", "phoneType": "alternateMobile"}),
        )
        .await;
    assert_eq!((orphan.status, orphan.code()), (400, "badRequest"));
    assert_eq!(
        g.post(
            &path,
            json!({"phoneNumber": "+46 701111111", "phoneType": "mobile"})
        )
        .await
        .status,
        201
    );
    assert_eq!(
        g.post(
            &path,
            json!({"phoneNumber": "+46 731111111", "phoneType": "alternateMobile"})
        )
        .await
        .status,
        201
    );
    let mobile_first = g.delete(&format!("{path}/{MOBILE}")).await;
    assert_eq!(mobile_first.status, 400);
    assert_eq!(g.delete(&format!("{path}/{ALTERNATE}")).await.status, 204);
    assert_eq!(g.delete(&format!("{path}/{MOBILE}")).await.status, 204);
    assert_eq!(non_password(&g.state(i)), 0);
}

#[tokio::test]
async fn the_default_method_is_deleted_last_and_then_the_default_is_cleared() {
    let g = Graph::with_users(1000).await;
    let i = g.find_user(1000, |s| {
        default_of(s) == Some("push")
            && methods_of(s, "microsoftAuthenticator").len() == 1
            && non_password(s) >= 2
            && methods_of(s, "qrCodePin").is_empty()
            && phone(s, "alternateMobile").is_none()
    });
    let state = g.state(i);
    let authenticator = methods_of(&state, "microsoftAuthenticator")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let refused = g
        .delete(&g.user_path(
            "v1.0",
            i,
            &format!("/authentication/microsoftAuthenticatorMethods/{authenticator}"),
        ))
        .await;
    assert_eq!((refused.status, refused.code()), (400, "badRequest"));
    assert_eq!(
        refused.message(),
        "Cannot delete default method with other methods configured. Please change default method before deletion."
    );
    // Remove every other method through its typed collection, then the default goes too.
    for m in state["methods"].as_array().unwrap() {
        let t = m["@odata.type"]
            .as_str()
            .unwrap()
            .trim_start_matches("#microsoft.graph.")
            .trim_end_matches("AuthenticationMethod")
            .to_string();
        if t == "password" || t == "microsoftAuthenticator" {
            continue;
        }
        let collection = format!("{t}Methods");
        let r = g
            .delete(&g.user_path(
                "beta",
                i,
                &format!("/authentication/{collection}/{}", m["id"].as_str().unwrap()),
            ))
            .await;
        assert_eq!(r.status, 204, "{collection}: {}", r.body);
    }
    let last = g
        .delete(&g.user_path(
            "v1.0",
            i,
            &format!("/authentication/microsoftAuthenticatorMethods/{authenticator}"),
        ))
        .await;
    assert_eq!(last.status, 204);
    let after = g.state(i);
    assert_eq!(non_password(&after), 0);
    assert_eq!(default_of(&after), None);
}

#[tokio::test]
async fn a_default_phone_is_refused_with_graphs_phone_message() {
    let g = Graph::with_users(1000).await;
    let i = g.find_user(1000, |s| {
        matches!(default_of(s), Some("sms" | "voiceMobile"))
            && phone(s, "alternateMobile").is_none()
            && non_password(s) >= 2
    });
    let r = g
        .delete(&g.user_path("v1.0", i, &format!("/authentication/phoneMethods/{MOBILE}")))
        .await;
    assert_eq!((r.status, r.code()), (400, "badRequest"));
    assert!(
        r.message()
            .contains("matches the user's current default authentication method"),
        "{}",
        r.message()
    );
}

#[tokio::test]
async fn sign_in_preferences_are_beta_only_and_refuse_a_method_the_user_lacks() {
    let g = graph().await;
    let i = g.find_user(300, |s| {
        phone(s, "mobile").is_some()
            && methods_of(s, "softwareOath").is_empty()
            && methods_of(s, "hardwareOath").is_empty()
    });
    let v1 = g
        .get(&g.user_path("v1.0", i, "/authentication/signInPreferences"))
        .await;
    assert_eq!((v1.status, v1.code()), (400, "BadRequest"));
    let path = g.user_path("beta", i, "/authentication/signInPreferences");
    let lacking = g
        .patch(
            &path,
            json!({"userPreferredMethodForSecondaryAuthentication": "oath"}),
        )
        .await;
    assert_eq!((lacking.status, lacking.code()), (400, "badRequest"));
    let ok = g.patch(&path, json!({"userPreferredMethodForSecondaryAuthentication": "voiceMobile", "isSystemPreferredAuthenticationMethodEnabled": false})).await;
    assert_eq!(ok.status, 204);
    let now = g.get(&path).await;
    assert_eq!(
        now.body["userPreferredMethodForSecondaryAuthentication"],
        "voiceMobile"
    );
    assert_eq!(
        now.body["isSystemPreferredAuthenticationMethodEnabled"],
        false
    );
}

#[tokio::test]
async fn hardware_oath_is_beta_only() {
    let g = graph().await;
    let v1 = g
        .get(&g.user_path("v1.0", 0, "/authentication/hardwareOathMethods"))
        .await;
    assert_eq!((v1.status, v1.code()), (400, "BadRequest"));
    let beta = g
        .get(&g.user_path("beta", 0, "/authentication/hardwareOathMethods"))
        .await;
    assert_eq!(beta.status, 200);
}

#[tokio::test]
async fn temporary_access_passes_respect_lifetime_bounds_policy_targets_and_replace_each_other() {
    let g = graph().await;
    let path = g.user_path("v1.0", 1, "/authentication/temporaryAccessPassMethods");
    for lifetime in [5, 30, 481, 50_000] {
        let r = g.post(&path, json!({"lifetimeInMinutes": lifetime})).await;
        assert_eq!((r.status, r.code()), (400, "badRequest"), "{lifetime}");
    }
    let first = g
        .post(
            &path,
            json!({"lifetimeInMinutes": 120, "isUsableOnce": true}),
        )
        .await;
    assert_eq!(first.status, 201);
    let pass = first.body["temporaryAccessPass"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(first.body["lifetimeInMinutes"], 120);
    let listed = g.get(&path).await;
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 1);
    assert!(
        listed.body["value"][0]["temporaryAccessPass"].is_null(),
        "the pass is shown only once"
    );
    let state = g.state(1);
    assert_eq!(
        state["issuedTemporaryAccessPasses"][0]["temporaryAccessPass"],
        pass.as_str()
    );
    let second = g.post(&path, json!({})).await;
    assert_eq!(second.status, 201);
    assert_eq!(second.body["lifetimeInMinutes"], 60, "the policy default");
    let listed = g.get(&path).await;
    assert_eq!(
        listed.body["value"].as_array().unwrap().len(),
        1,
        "the new pass replaced the old"
    );
    assert_eq!(listed.body["value"][0]["id"], second.body["id"]);
    let counters = g.sim.counters();
    assert_eq!(counters.taps_per_user.get(&upn(1)), Some(&2));
    assert_eq!(counters.duplicate_taps, 1);
    // User 10 is outside the policy's targets.
    let outside = g
        .post(
            &g.user_path("v1.0", 10, "/authentication/temporaryAccessPassMethods"),
            json!({}),
        )
        .await;
    assert_eq!(outside.status, 400);
    assert!(
        outside
            .message()
            .starts_with("Converged UserCredentialPolicy does not allow")
    );
}

#[tokio::test]
async fn one_email_method_per_user() {
    let g = graph().await;
    let i = g.find_user(300, |s| methods_of(s, "email").is_empty());
    let path = g.user_path("v1.0", i, "/authentication/emailMethods");
    let created = g
        .post(&path, json!({"emailAddress": "a@example.net"}))
        .await;
    assert_eq!(created.status, 201);
    let second = g
        .post(&path, json!({"emailAddress": "b@example.net"}))
        .await;
    assert_eq!((second.status, second.code()), (400, "badRequest"));
    let update = g
        .patch(
            &format!("{path}/{}", created.body["id"].as_str().unwrap()),
            json!({"emailAddress": "c@example.net"}),
        )
        .await;
    assert_eq!(update.status, 204);
    assert_eq!(
        methods_of(&g.state(i), "email")[0]["emailAddress"],
        "c@example.net"
    );
}

#[tokio::test]
async fn sms_sign_in_needs_a_mobile_with_a_number_unique_in_the_tenant() {
    let g = graph().await;
    let a = g.find_user(300, |s| {
        phone(s, "mobile").is_some() && phone(s, "office").is_some()
    });
    let b = g.find_user(300, |s| non_password(s) == 0);
    let office = g
        .post(
            &g.user_path(
                "v1.0",
                a,
                "/authentication/phoneMethods/e37fc753-ff3b-4958-9484-eaa9425c82bc/enableSmsSignIn",
            ),
            json!({}),
        )
        .await;
    assert_eq!(office.status, 400);
    let enable = g.user_path(
        "v1.0",
        a,
        &format!("/authentication/phoneMethods/{MOBILE}/enableSmsSignIn"),
    );
    assert_eq!(g.post(&enable, json!({})).await.status, 204);
    assert_eq!(
        phone(&g.state(a), "mobile").unwrap()["smsSignInState"],
        "ready"
    );
    // b takes a's number: neither is unique any more.
    let number = phone(&g.state(a), "mobile").unwrap()["phoneNumber"]
        .as_str()
        .unwrap()
        .to_string();
    let dup = g
        .post(
            &g.user_path("v1.0", b, "/authentication/phoneMethods"),
            json!({"phoneNumber": number, "phoneType": "mobile"}),
        )
        .await;
    assert_eq!(dup.status, 201);
    assert_eq!(
        phone(&g.state(a), "mobile").unwrap()["smsSignInState"],
        "phoneNumberNotUnique"
    );
    let refused = g
        .post(
            &g.user_path(
                "v1.0",
                b,
                &format!("/authentication/phoneMethods/{MOBILE}/enableSmsSignIn"),
            ),
            json!({}),
        )
        .await;
    assert_eq!(refused.status, 400);
}

#[tokio::test]
async fn deletes_use_typed_collections_and_unknown_method_ids_are_404() {
    let g = graph().await;
    let i = g.find_user(300, |s| !methods_of(s, "fido2").is_empty());
    let id = methods_of(&g.state(i), "fido2")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let generic = g
        .delete(&g.user_path("v1.0", i, &format!("/authentication/methods/{id}")))
        .await;
    assert_eq!(generic.status, 400);
    let wrong_collection = g
        .delete(&g.user_path(
            "v1.0",
            i,
            &format!("/authentication/softwareOathMethods/{id}"),
        ))
        .await;
    assert_eq!(
        (wrong_collection.status, wrong_collection.code()),
        (404, "Request_ResourceNotFound")
    );
    let fetched = g
        .get(&g.user_path("v1.0", i, &format!("/authentication/methods/{id}")))
        .await;
    assert_eq!(
        fetched.body["@odata.type"],
        "#microsoft.graph.fido2AuthenticationMethod"
    );
}

#[tokio::test]
async fn windows_hello_deletes_can_be_refused_for_mfa() {
    let g = Graph::start(SimConfig {
        users: 300,
        hello_refusal_rate: 1.0,
        ..SimConfig::default()
    })
    .await;
    let i = g.find_user(300, |s| {
        !methods_of(s, "windowsHelloForBusiness").is_empty()
    });
    let id = methods_of(&g.state(i), "windowsHelloForBusiness")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = g
        .delete(&g.user_path(
            "v1.0",
            i,
            &format!("/authentication/windowsHelloForBusinessMethods/{id}"),
        ))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.message(), "MFA is required for a 'RemoveKey' operation.");
}

#[tokio::test]
async fn revoking_sessions_answers_true_and_counts_as_a_write() {
    let g = graph().await;
    let r = g
        .post(&g.user_path("v1.0", 3, "/revokeSignInSessions"), json!({}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["value"], true);
    assert_eq!(g.state(3)["sessionsRevoked"], 1);
    assert_eq!(g.sim.counters().writes_per_user.get(&upn(3)), Some(&1));
}

/// The client's table of method types (collections, `@odata.type`s, beta placement) checked
/// against the simulator's own reading of the docs: a wrong entry on either side fails here.
#[tokio::test]
async fn the_clients_method_table_agrees_with_the_simulators_reading_of_graph() {
    use authbulk::testing::graph::names;
    use authbulk::testing::job::MethodType;
    let g = Graph::with_users(1000).await;
    for t in MethodType::ALL {
        let version = if names::beta_only(t) { "beta" } else { "v1.0" };
        let i = (0..1000)
            .find(|&i| methods_of(&g.state(i), t.name()).len() == 1)
            .unwrap_or_else(|| panic!("a user with one {t}"));
        let listed = g
            .get(&g.user_path(
                version,
                i,
                &format!("/authentication/{}", names::collection(t)),
            ))
            .await;
        assert_eq!(listed.status, 200, "{t}: {}", listed.body);
        let method = if names::is_singleton(t) {
            listed.body.clone()
        } else {
            listed.body["value"][0].clone()
        };
        assert_eq!(method["@odata.type"], names::odata_type(t).as_str(), "{t}");
        let id = method["id"].as_str().unwrap();
        let path = format!("/{version}{}", names::method_path(&upn(i), t, id));
        let gone = g.delete(&path).await;
        // A default method with others left is refused by rule, never by routing.
        assert!(
            gone.status == 204 || (gone.status == 400 && gone.code() == "badRequest"),
            "{t}: {} {}",
            gone.status,
            gone.body
        );
    }
}

#[tokio::test]
async fn wrong_collection_type_and_cast_names_are_refused_as_graph_refuses_them() {
    let g = graph().await;
    let i = g.find_user(200, |s| !methods_of(s, "microsoftAuthenticator").is_empty());
    // A collection Graph does not have: 400 "Resource not found for the segment".
    for wrong in [
        "phoneMethod",
        "authenticatorMethods",
        "windowsHelloMethods",
        "tapMethods",
    ] {
        let a = g
            .get(&g.user_path("v1.0", i, &format!("/authentication/{wrong}")))
            .await;
        assert_eq!((a.status, a.code()), (400, "BadRequest"), "{wrong}");
        assert!(a.message().contains(wrong), "{}", a.message());
    }
    // hardwareOathMethods exists only in beta.
    let v1 = g
        .get(&g.user_path("v1.0", i, "/authentication/hardwareOathMethods"))
        .await;
    assert_eq!(v1.status, 400);
    // A body whose @odata.type Graph cannot resolve.
    let typo = g
        .post(
            &g.user_path("v1.0", i, "/authentication/phoneMethods"),
            json!({"@odata.type": "#microsoft.graph.phoneMethod", "phoneNumber": "+46 701234567", "phoneType": "office"}),
        )
        .await;
    assert_eq!((typo.status, typo.code()), (400, "BadRequest"));
    // A method deleted through another type's collection is not found there.
    let authenticator = methods_of(&g.state(i), "microsoftAuthenticator")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let elsewhere = g
        .delete(&g.user_path(
            "v1.0",
            i,
            &format!("/authentication/fido2Methods/{authenticator}"),
        ))
        .await;
    assert_eq!(
        (elsewhere.status, elsewhere.code()),
        (404, "Request_ResourceNotFound")
    );
    // An OData cast to a type that is not Graph's.
    let group = &g.sim.group_ids()[0];
    let cast = g
        .get_eventual(&format!(
            "/v1.0/groups/{group}/transitiveMembers/microsoft.graph.users?$count=true"
        ))
        .await;
    assert_eq!(cast.status, 400);
}

#[tokio::test]
async fn external_authentication_methods_are_listed_and_deleted_in_their_typed_collection() {
    let g = Graph::with_users(200).await;
    let i = g.find_user(200, |s| !methods_of(s, "external").is_empty());
    let listed = g
        .get(&g.user_path("v1.0", i, "/authentication/externalAuthenticationMethods"))
        .await;
    assert_eq!(listed.status, 200);
    let m = &listed.body["value"][0];
    assert_eq!(
        m["@odata.type"],
        "#microsoft.graph.externalAuthenticationMethod"
    );
    let id = m["id"].as_str().unwrap();
    let gone = g
        .delete(&g.user_path(
            "v1.0",
            i,
            &format!("/authentication/externalAuthenticationMethods/{id}"),
        ))
        .await;
    assert!(
        gone.status == 204 || gone.code() == "badRequest",
        "{}",
        gone.body
    );
}

#[tokio::test]
async fn the_methods_policy_shows_the_tap_and_sms_settings_that_decide_the_writes() {
    let g = Graph::start(SimConfig {
        users: 60,
        tap_policy: authbulk::sim::TapPolicy {
            min_minutes: 30,
            max_minutes: 120,
            default_minutes: 45,
            usable_once: true,
            length: 12,
            ..Default::default()
        },
        sms_sign_in_allowed: false,
        ..SimConfig::default()
    })
    .await;
    let base = "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations";
    let tap = g.get(&format!("{base}/TemporaryAccessPass")).await;
    assert_eq!(tap.status, 200, "{}", tap.body);
    assert_eq!(
        tap.body["@odata.type"],
        "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration"
    );
    for (field, value) in [
        ("minimumLifetimeInMinutes", json!(30)),
        ("maximumLifetimeInMinutes", json!(120)),
        ("defaultLifetimeInMinutes", json!(45)),
        ("defaultLength", json!(12)),
        ("isUsableOnce", json!(true)),
    ] {
        assert_eq!(tap.body[field], value, "{field}");
    }
    let excluded = tap.body["excludeTargets"][0]["id"].as_str().unwrap();
    assert!(g.sim.group_ids().iter().any(|id| id == excluded));
    // A lifetime outside the policy is refused; inside it, the pass has the policy's length
    // and is one-time use although the create did not ask.
    let user = g.find_user(60, |s| s["tapPolicyTarget"] == true);
    let path = g.user_path("v1.0", user, "/authentication/temporaryAccessPassMethods");
    let long = g.post(&path, json!({"lifetimeInMinutes": 121})).await;
    assert_eq!((long.status, long.code()), (400, "badRequest"));
    let ok = g
        .post(
            &path,
            json!({"lifetimeInMinutes": 120, "isUsableOnce": false}),
        )
        .await;
    assert_eq!(ok.status, 201);
    assert_eq!(ok.body["temporaryAccessPass"].as_str().unwrap().len(), 12);
    assert_eq!(ok.body["isUsableOnce"], true);
    // SMS sign-in disabled by policy.
    let sms = g.get(&format!("{base}/Sms")).await;
    assert_eq!(sms.body["state"], "disabled");
    let i = g.find_user(60, |s| phone(s, "mobile").is_some());
    assert_eq!(
        phone(&g.state(i), "mobile").unwrap()["smsSignInState"],
        "notAllowedByPolicy"
    );
    let refused = g
        .post(
            &g.user_path(
                "v1.0",
                i,
                "/authentication/phoneMethods/3179e48a-750b-4051-897c-87b9720928f7/enableSmsSignIn",
            ),
            json!({}),
        )
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(g.get(&format!("{base}/Voice")).await.status, 404);
}
