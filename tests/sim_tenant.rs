//! The simulated tenant: deterministic users with the realistic mix of methods, UPN naming,
//! addressing by UPN or id, `/users` paging and query options, groups and the report.

mod sim_support;

use std::collections::HashSet;

use authbulk::sim::{SimConfig, upn};
use serde_json::Value;
use sim_support::{Graph, default_of, enc, methods_of, non_password};

fn fingerprint(g: &Graph, users: usize) -> Vec<(String, String, Vec<String>)> {
    (0..users)
        .map(|i| {
            let s = g.state(i);
            let ids = s["methods"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| {
                    !m["@odata.type"]
                        .as_str()
                        .unwrap()
                        .contains("temporaryAccess")
                })
                .map(|m| m["id"].as_str().unwrap().to_string())
                .collect();
            (
                s["id"].as_str().unwrap().to_string(),
                s["userPrincipalName"].as_str().unwrap().to_string(),
                ids,
            )
        })
        .collect()
}

#[tokio::test]
async fn the_same_seed_gives_the_same_tenant_and_another_seed_another() {
    let config = |seed| SimConfig {
        users: 200,
        seed,
        ..SimConfig::default()
    };
    let a = Graph::start(config(42)).await;
    let b = Graph::start(config(42)).await;
    let c = Graph::start(config(7)).await;
    assert_eq!(fingerprint(&a, 200), fingerprint(&b, 200));
    assert_eq!(a.sim.tenant_id(), b.sim.tenant_id());
    assert_eq!(a.sim.client_secret(), b.sim.client_secret());
    assert_eq!(a.sim.group_ids(), b.sim.group_ids());
    assert_ne!(fingerprint(&a, 200)[0].0, fingerprint(&c, 200)[0].0);
    assert_ne!(a.sim.tenant_id(), c.sim.tenant_id());
}

#[tokio::test]
async fn upns_follow_the_shared_naming_with_guests_and_apostrophes() {
    assert_eq!(
        upn(7),
        "guest00007_fabrikam.com#EXT#@contoso.onmicrosoft.com"
    );
    assert_eq!(upn(5), "o'neil00005@contoso.onmicrosoft.com");
    assert_eq!(
        upn(57),
        "guest00057_fabrikam.com#EXT#@contoso.onmicrosoft.com"
    );
    assert_eq!(upn(42), "o'neil00042@contoso.onmicrosoft.com");
    assert_eq!(upn(0), "user00000@contoso.onmicrosoft.com");
    let g = Graph::with_users(60).await;
    let users = g.get("/v1.0/users?$top=999").await;
    let listed: Vec<&str> = users.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..60).map(upn).collect();
    assert_eq!(listed, expected);
    assert_eq!(users.body["value"][7]["userType"], "Guest");
    assert_eq!(users.body["value"][5]["userType"], "Member");
}

#[tokio::test]
async fn the_tenant_has_the_realistic_mix_of_methods_and_a_consistent_default() {
    let g = Graph::with_users(1000).await;
    let states: Vec<Value> = (0..1000).map(|i| g.state(i)).collect();
    let authenticators: Vec<&Value> = states
        .iter()
        .flat_map(|s| methods_of(s, "microsoftAuthenticator"))
        .collect();
    assert!(
        authenticators
            .iter()
            .any(|m| m["createdDateTime"].is_null()),
        "some null createdDateTime"
    );
    assert!(
        authenticators
            .iter()
            .any(|m| m["createdDateTime"].is_string())
    );
    assert!(
        authenticators
            .iter()
            .any(|m| m["lastUsedDateTime"].is_string()),
        "beta lastUsedDateTime on some"
    );
    assert!(
        authenticators
            .iter()
            .any(|m| m["lastUsedDateTime"].is_null())
    );
    assert!(
        states
            .iter()
            .any(|s| methods_of(s, "microsoftAuthenticator").len() == 3)
    );
    assert!(
        states.iter().any(|s| non_password(s) == 0),
        "users with no MFA method"
    );
    for kind in [
        "phone",
        "email",
        "fido2",
        "windowsHelloForBusiness",
        "softwareOath",
        "platformCredential",
        "temporaryAccessPass",
        "hardwareOath",
    ] {
        assert!(
            states.iter().any(|s| !methods_of(s, kind).is_empty()),
            "{kind}"
        );
    }
    assert!(
        states.iter().any(|s| sim_support::phone(s, "office")
            .is_some_and(|p| p["phoneNumber"].as_str().unwrap().contains('x'))),
        "office extensions"
    );
    let mut defaults = HashSet::new();
    for s in &states {
        let backing: &[(&str, &str)] = match default_of(s) {
            None => continue,
            Some("push") => &[("microsoftAuthenticator", "")],
            Some("oath") => &[("softwareOath", ""), ("hardwareOath", "")],
            Some("sms" | "voiceMobile") => &[("phone", "mobile")],
            Some("voiceAlternateMobile") => &[("phone", "alternateMobile")],
            Some("voiceOffice") => &[("phone", "office")],
            Some(other) => panic!("unexpected default {other}"),
        };
        defaults.insert(default_of(s).unwrap().to_string());
        assert!(
            backing.iter().any(|(kind, phone_type)| methods_of(s, kind)
                .iter()
                .any(|m| phone_type.is_empty() || m["phoneType"] == *phone_type)),
            "default of {} is backed by a method",
            s["userPrincipalName"]
        );
    }
    assert!(defaults.len() >= 3, "{defaults:?}");
    // v1.0 has no lastUsedDateTime.
    let i = (0..1000)
        .find(|i| !methods_of(&states[*i], "microsoftAuthenticator").is_empty())
        .unwrap();
    let v1 = g
        .get(&g.user_path("v1.0", i, "/authentication/microsoftAuthenticatorMethods"))
        .await;
    assert_eq!(v1.status, 200);
    assert!(v1.body["value"][0].get("lastUsedDateTime").is_none());
    let beta = g
        .get(&g.user_path("beta", i, "/authentication/microsoftAuthenticatorMethods"))
        .await;
    assert!(beta.body["value"][0].get("lastUsedDateTime").is_some());
}

#[tokio::test]
async fn a_user_is_addressed_by_upn_or_object_id_and_encoded_upns_decode() {
    let g = Graph::with_users(60).await;
    for i in [0, 5, 7] {
        let by_upn = g
            .get(&g.user_path("v1.0", i, "/authentication/methods"))
            .await;
        let id = g.sim.user_id(i).unwrap().to_string();
        let by_id = g
            .get(&format!("/v1.0/users/{id}/authentication/methods"))
            .await;
        assert_eq!(by_upn.status, 200, "{}", upn(i));
        assert_eq!(by_upn.body, by_id.body);
        let user = g.get(&format!("/v1.0/users/{}", enc(&upn(i)))).await;
        assert_eq!(user.body["id"], id.as_str());
    }
    // Object ids and UPNs are case-insensitive.
    let upper = g
        .get(&format!(
            "/v1.0/users/{}",
            g.sim.user_id(3).unwrap().to_uppercase()
        ))
        .await;
    assert_eq!(upper.body["userPrincipalName"], upn(3));
    let shouting = g.get("/v1.0/users/USER00003@CONTOSO.ONMICROSOFT.COM").await;
    assert_eq!(shouting.body["userPrincipalName"], upn(3));
    // Fully encoded apostrophe and guest hashes decode to the same user.
    let user = g
        .get("/v1.0/users/o%27neil00005%40contoso.onmicrosoft.com")
        .await;
    assert_eq!(user.body["userPrincipalName"], upn(5));
    let guest = g
        .get("/v1.0/users/guest00007_fabrikam.com%23EXT%23@contoso.onmicrosoft.com")
        .await;
    assert_eq!(guest.body["userPrincipalName"], upn(7));
}

#[tokio::test]
async fn users_are_paged_with_absolute_next_links_that_keep_the_query() {
    let g = Graph::with_users(400).await;
    let mut url = format!(
        "{}/v1.0/users?$select=id,userPrincipalName&$top=150",
        g.sim.url()
    );
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let path = url
            .strip_prefix(g.sim.url())
            .expect("next link on the simulator")
            .to_string();
        let page = g.get(&path).await;
        assert_eq!(page.status, 200);
        pages += 1;
        for u in page.body["value"].as_array().unwrap() {
            assert_eq!(
                u.as_object().unwrap().len(),
                2,
                "only the selected properties: {u}"
            );
            seen.push(u["userPrincipalName"].as_str().unwrap().to_string());
        }
        match page.body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (0..400).map(upn).collect::<Vec<_>>());
    let too_big = g.get("/v1.0/users?$top=1000").await;
    assert_eq!(too_big.status, 400);
}

#[tokio::test]
async fn users_filter_by_upn_prefix_and_user_type_and_refuse_other_filters() {
    let g = Graph::with_users(200).await;
    let guests = g
        .get("/v1.0/users?$filter=userType%20eq%20'Guest'&$top=999")
        .await;
    let guests: Vec<&str> = guests.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap())
        .collect();
    assert_eq!(guests, vec![upn(7), upn(57), upn(107), upn(157)]);
    let oneil = g
        .get("/v1.0/users?$filter=startswith(userPrincipalName,'o''neil')&$top=999")
        .await;
    let oneil: Vec<&str> = oneil.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap())
        .collect();
    assert_eq!(
        oneil,
        vec![upn(5), upn(42), upn(79), upn(116), upn(153), upn(190)]
    );
    let members = g
        .get(
            "/v1.0/users?$filter=userType eq 'Member' and startswith(userPrincipalName,'user0000')",
        )
        .await;
    assert_eq!(
        members.body["value"].as_array().unwrap().len(),
        8,
        "user00000..09 minus o'neil05 and guest07"
    );
    let bad = g
        .get("/v1.0/users?$filter=accountEnabled%20eq%20true")
        .await;
    assert_eq!((bad.status, bad.code()), (400, "Request_UnsupportedQuery"));
}

#[tokio::test]
async fn group_members_are_paged_and_transitive_members_include_nested_groups_users() {
    let g = Graph::with_users(1000).await;
    let engineering = &g.sim.group_ids()[1];
    let contractors = &g.sim.group_ids()[2];
    let collect = |path: String| {
        let g = &g;
        async move {
            let mut out: Vec<Value> = Vec::new();
            let mut path = path;
            loop {
                let page = g.get(&path).await;
                assert_eq!(page.status, 200, "{}", page.body);
                out.extend(page.body["value"].as_array().unwrap().iter().cloned());
                match page.body["@odata.nextLink"].as_str() {
                    Some(next) => path = next.strip_prefix(g.sim.url()).unwrap().to_string(),
                    None => return out,
                }
            }
        }
    };
    let direct = collect(format!("/v1.0/groups/{engineering}/members?$top=30")).await;
    assert!(
        direct.iter().any(
            |m| m["@odata.type"] == "#microsoft.graph.group" && m["id"] == contractors.as_str()
        )
    );
    let direct_users = direct
        .iter()
        .filter(|m| m["@odata.type"] == "#microsoft.graph.user")
        .count();
    let transitive = collect(format!("/v1.0/groups/{engineering}/transitiveMembers/microsoft.graph.user?$select=id,userPrincipalName&$top=40")).await;
    assert!(
        transitive.len() > direct_users,
        "{} > {direct_users}",
        transitive.len()
    );
    assert!(
        transitive
            .iter()
            .all(|m| m["userPrincipalName"].is_string() && m.get("displayName").is_none())
    );
    let ids: HashSet<&str> = transitive
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), transitive.len(), "each user once");
    let missing = g
        .get("/v1.0/groups/00000000-0000-0000-0000-000000000000/members")
        .await;
    assert_eq!(
        (missing.status, missing.code()),
        (404, "Request_ResourceNotFound")
    );
}

#[tokio::test]
async fn the_registration_report_lists_every_user_with_its_default() {
    let g = Graph::with_users(30).await;
    let report = g
        .get("/v1.0/reports/authenticationMethods/userRegistrationDetails?$top=20")
        .await;
    assert_eq!(report.status, 200);
    assert_eq!(report.body["value"].as_array().unwrap().len(), 20);
    assert!(report.body["@odata.nextLink"].is_string());
    let first = &report.body["value"][0];
    assert_eq!(first["userPrincipalName"], upn(0));
    assert_eq!(
        first["defaultMfaMethod"],
        default_of(&g.state(0)).unwrap_or("none")
    );
}

#[tokio::test]
async fn the_registration_report_needs_a_premium_tenant() {
    let g = Graph::start(SimConfig {
        users: 10,
        premium: false,
        ..SimConfig::default()
    })
    .await;
    let report = g
        .get("/v1.0/reports/authenticationMethods/userRegistrationDetails")
        .await;
    assert_eq!(
        (report.status, report.code()),
        (403, "Authentication_RequestFromNonPremiumTenantOrB2CTenant")
    );
}
