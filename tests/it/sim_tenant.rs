//! The simulated tenant: deterministic users with the realistic mix of methods, UPN naming,
//! addressing by UPN or id, `/users` paging and query options, groups and the report.

use std::collections::HashSet;

use crate::support::graph::{Graph, default_of, enc, methods_of, non_password};
use authbulk::sim::{SimConfig, upn};
use serde_json::Value;

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
    let listed: HashSet<&str> = users.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..60).map(upn).collect();
    assert_eq!(listed, expected.iter().map(String::as_str).collect());
    let user_type = |i: usize| {
        users.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["userPrincipalName"] == upn(i).as_str())
            .unwrap()["userType"]
            .clone()
    };
    assert_eq!(user_type(7), "Guest");
    assert_eq!(user_type(5), "Member");
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
        states
            .iter()
            .any(|s| crate::support::graph::phone(s, "office")
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
    seen.sort();
    let mut all: Vec<String> = (0..400).map(upn).collect();
    all.sort();
    assert_eq!(seen, all, "every user once");
    let too_big = g.get("/v1.0/users?$top=1000").await;
    assert_eq!(too_big.status, 400);
}

#[tokio::test]
async fn users_filter_by_upn_prefix_and_user_type_and_refuse_other_filters() {
    let g = Graph::with_users(200).await;
    let guests = g
        .get("/v1.0/users?$filter=userType%20eq%20'Guest'&$top=999")
        .await;
    let guests: HashSet<String> = guests.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(guests, HashSet::from([upn(7), upn(57), upn(107), upn(157)]));
    let oneil = g
        .get("/v1.0/users?$filter=startswith(userPrincipalName,'o''neil')&$top=999")
        .await;
    let oneil: HashSet<String> = oneil.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        oneil,
        HashSet::from([upn(5), upn(42), upn(79), upn(116), upn(153), upn(190)])
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
    let bad = g.get("/v1.0/users?$filter=city%20eq%20'Paris'").await;
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
    let transitive = g
        .collect(
            &format!("/v1.0/groups/{engineering}/transitiveMembers/microsoft.graph.user?$select=id,userPrincipalName&$count=true&$top=40"),
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
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
async fn the_registration_report_derives_each_record_from_the_users_methods() {
    // Unthrottled: this test reads the report more often than its limit allows.
    let g = Graph::start(SimConfig {
        users: 300,
        unthrottled: true,
        ..SimConfig::default()
    })
    .await;
    let base = "/v1.0/reports/authenticationMethods/userRegistrationDetails";
    let all = g.collect(&format!("{base}?$top=120"), &[]).await;
    assert_eq!(all.len(), 300);
    for record in &all {
        let state = g.sim.user_state(record["id"].as_str().unwrap()).unwrap();
        let registered: HashSet<&str> = record["methodsRegistered"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        let has = |kind: &str| !methods_of(&state, kind).is_empty();
        assert_eq!(
            registered.contains("mobilePhone"),
            crate::support::graph::phone(&state, "mobile").is_some()
        );
        assert_eq!(registered.contains("email"), has("email"));
        assert_eq!(registered.contains("fido2"), has("fido2"));
        assert_eq!(
            registered.contains("microsoftAuthenticatorPush"),
            has("microsoftAuthenticator")
        );
        assert_eq!(
            registered.contains("windowsHelloForBusiness"),
            has("windowsHelloForBusiness")
        );
        assert_eq!(
            registered.contains("temporaryAccessPass"),
            has("temporaryAccessPass")
        );
        let strong = [
            "microsoftAuthenticator",
            "phone",
            "fido2",
            "windowsHelloForBusiness",
            "softwareOath",
            "hardwareOath",
            "platformCredential",
            "external",
        ]
        .iter()
        .any(|k| has(k));
        assert_eq!(record["isMfaRegistered"], strong, "{record}");
        assert_eq!(record["isAdmin"], state["isAdmin"]);
        assert_eq!(
            record["userPreferredMethodForSecondaryAuthentication"],
            default_of(&state).unwrap_or("none")
        );
        assert_eq!(
            record["userType"],
            if state["userType"] == "Guest" {
                "guest"
            } else {
                "member"
            }
        );
    }
    assert!(all.iter().any(|r| r["isAdmin"] == true), "some admins");
    assert!(
        all.iter().any(|r| r["isMfaRegistered"] == false),
        "some users without MFA"
    );
    // The documented filter forms.
    let count = |filter: &str| {
        let filter = filter.to_string();
        let g = &g;
        async move { g.collect(&format!("{base}?$filter={filter}"), &[]).await }
    };
    let unregistered = count("isMfaRegistered eq false").await;
    assert_eq!(
        unregistered.len(),
        all.iter().filter(|r| r["isMfaRegistered"] == false).count()
    );
    assert!(unregistered.iter().all(|r| r["isMfaRegistered"] == false));
    let admins = count("isAdmin eq true").await;
    assert_eq!(
        admins.len(),
        all.iter().filter(|r| r["isAdmin"] == true).count()
    );
    let mobiles = count("methodsRegistered/any(m:m eq 'mobilePhone')").await;
    assert!(!mobiles.is_empty());
    assert!(mobiles.iter().all(|r| {
        r["methodsRegistered"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "mobilePhone")
    }));
    let members = count("userType eq 'member' and isMfaRegistered eq true").await;
    assert!(
        members
            .iter()
            .all(|r| r["userType"] == "member" && r["isMfaRegistered"] == true)
    );
    let one = count(&format!(
        "userPrincipalName eq '{}'",
        upn(5).replace('\'', "''")
    ))
    .await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["userPrincipalName"], upn(5));
    let by_id = count(&format!("id eq '{}'", g.sim.user_id(9).unwrap())).await;
    assert_eq!(by_id[0]["userPrincipalName"], upn(9));
    let bad = g
        .get(&format!("{base}?$filter=isMfaRegistered ne false"))
        .await;
    assert_eq!(bad.status, 400);
    let too_big = g.get(&format!("{base}?$top=1000")).await;
    assert_eq!(too_big.status, 400);
    // A change of methods shows in the next report.
    let user = (0..300)
        .find(|&i| {
            all.iter().any(|r| {
                r["userPrincipalName"] == upn(i)
                    && r["isMfaRegistered"] == false
                    && r["userType"] == "member"
            })
        })
        .unwrap();
    let added = g
        .post(
            &g.user_path("v1.0", user, "/authentication/phoneMethods"),
            serde_json::json!({"phoneNumber": "+46 709999999", "phoneType": "mobile"}),
        )
        .await;
    assert_eq!(added.status, 201);
    let after = g
        .get(&format!("{base}/{}", g.sim.user_id(user).unwrap()))
        .await;
    assert_eq!(after.body["isMfaRegistered"], true);
    assert_eq!(
        after.body["methodsRegistered"],
        serde_json::json!(["mobilePhone"])
    );
}

#[tokio::test]
async fn the_registration_report_is_under_the_reports_limit_of_five_requests_per_ten_seconds() {
    let g = Graph::with_users(20).await;
    let base = "/v1.0/reports/authenticationMethods/userRegistrationDetails";
    for _ in 0..5 {
        assert_eq!(g.get(base).await.status, 200);
    }
    let refused = g.get(base).await;
    assert_eq!((refused.status, refused.code()), (429, "TooManyRequests"));
    let wait: f64 = refused.header("Retry-After").unwrap().parse().unwrap();
    assert!(wait > 1.0 && wait <= 2.0, "{wait}");
    // Other requests are not held by the reports limit.
    assert_eq!(g.get("/v1.0/users?$top=1").await.status, 200);
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

fn upns(page: &[Value]) -> Vec<String> {
    page.iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn advanced_queries_need_consistency_level_eventual_and_count_on_every_page() {
    let g = Graph::with_users(300).await;
    let engineering = &g.sim.group_ids()[1];
    let cast = format!(
        "/v1.0/groups/{engineering}/transitiveMembers/microsoft.graph.user?$select=id,userPrincipalName&$top=10"
    );
    let guests = "/v1.0/users?$filter=endsWith(userPrincipalName,'%23EXT%23@contoso.onmicrosoft.com')&$top=2";
    for path in [
        cast.clone(),
        guests.to_string(),
        "/v1.0/users?$filter=userType%20ne%20'Guest'".into(),
        "/v1.0/users?$filter=not(startswith(userPrincipalName,'user'))".into(),
        "/v1.0/users?$filter=startswith(userPrincipalName,'user')&$orderby=userPrincipalName"
            .into(),
    ] {
        // Neither the header alone nor $count alone will do.
        let bare = g.get(&path).await;
        assert_eq!(
            (bare.status, bare.code()),
            (400, "Request_UnsupportedQuery"),
            "{path}"
        );
        let header_only = g.get_eventual(&path).await;
        assert_eq!(header_only.status, 400, "{path}");
        let count_only = g.get(&format!("{path}&$count=true")).await;
        assert_eq!(count_only.status, 400, "{path}");
        let both = g.get_eventual(&format!("{path}&$count=true")).await;
        assert_eq!(both.status, 200, "{path}: {}", both.body);
        assert!(both.body["@odata.count"].is_u64(), "{path}");
    }
    // endsWith filters, and every nextLink keeps $count=true.
    let first = g.get_eventual(&format!("{guests}&$count=true")).await;
    let next = first.body["@odata.nextLink"].as_str().unwrap();
    assert!(next.contains("$count=true"), "{next}");
    let all = g
        .collect(
            &format!("{guests}&$count=true"),
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
    let mut got = upns(&all);
    got.sort();
    let mut want: Vec<String> = (0..300).filter(|i| i % 50 == 7).map(upn).collect();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(first.body["@odata.count"], want.len());
    // A nextLink page sent without the header is refused like a first page.
    let path = next.strip_prefix(g.sim.url()).unwrap();
    assert_eq!(g.get(path).await.status, 400);
    // startswith and eq stay plain queries.
    let plain = g
        .get("/v1.0/users?$filter=startswith(userPrincipalName,'user')")
        .await;
    assert_eq!(plain.status, 200);
}

#[tokio::test]
async fn a_batch_item_carries_its_own_consistency_level_the_envelopes_does_not_count() {
    let g = Graph::with_users(100).await;
    let url = "/users?$filter=endsWith(userPrincipalName,'%23EXT%23@contoso.onmicrosoft.com')&$count=true";
    let envelope_only = g
        .send_with(
            reqwest::Method::POST,
            "/v1.0/$batch",
            Some(serde_json::json!({"requests": [{"id": "1", "method": "GET", "url": url}]})),
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
    let item = &envelope_only.body["responses"][0];
    assert_eq!(item["status"], 400, "{item}");
    assert_eq!(item["body"]["error"]["code"], "Request_UnsupportedQuery");
    let own = g
        .batch(
            "v1.0",
            serde_json::json!([{"id": "1", "method": "GET", "url": url,
                "headers": {"ConsistencyLevel": "eventual"}}]),
        )
        .await;
    let item = &own.body["responses"][0];
    assert_eq!(item["status"], 200, "{item}");
    assert_eq!(item["body"]["value"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_next_link_goes_as_a_batch_item_relative_to_its_version_with_its_own_consistency_level() {
    // "JSON batching": an item's url is relative to the batch's version, and a header such as
    // ConsistencyLevel goes in the item's own `headers`; "Paging": the next page is the whole
    // @odata.nextLink, which keeps every query option of the first.
    let g = Graph::with_users(100).await;
    let guests = "/users?$filter=endsWith(userPrincipalName,'%23EXT%23@contoso.onmicrosoft.com')&$count=true&$top=1";
    let item = |url: &str, eventual: bool| {
        let mut item = serde_json::json!({"id": "1", "method": "GET", "url": url});
        if eventual {
            item["headers"] = serde_json::json!({"ConsistencyLevel": "eventual"});
        }
        serde_json::json!([item])
    };
    let first = g.batch("v1.0", item(guests, true)).await;
    let first = &first.body["responses"][0];
    assert_eq!(first["status"], 200, "{first}");
    let link = first["body"]["@odata.nextLink"].as_str().unwrap();
    let relative = link.strip_prefix(&format!("{}/v1.0", g.sim.url())).unwrap();
    assert!(relative.starts_with("/users?") && relative.contains("$count=true"));
    let next = g.batch("v1.0", item(relative, true)).await;
    let next = &next.body["responses"][0];
    assert_eq!(next["status"], 200, "{next}");
    let seen = [first, next].map(|page| {
        page["body"]["value"][0]["userPrincipalName"]
            .as_str()
            .unwrap()
            .to_string()
    });
    let mut want = [upn(7), upn(57)];
    want.sort();
    let mut seen = seen;
    seen.sort();
    assert_eq!(seen, want, "the two guests, one a page");
    // The next page without the item's header is refused like a first page; the absolute link
    // is no item url.
    let bare = g.batch("v1.0", item(relative, false)).await;
    assert_eq!(bare.body["responses"][0]["status"], 400, "{}", bare.body);
    let absolute = g.batch("v1.0", item(link, true)).await;
    assert_eq!(absolute.status, 400, "{}", absolute.body);
}

#[tokio::test]
async fn each_enumeration_has_its_own_order_stable_across_its_pages() {
    let g = Graph::with_users(300).await;
    let a = upns(&g.collect("/v1.0/users?$top=50", &[]).await);
    let b = upns(&g.collect("/v1.0/users?$top=50", &[]).await);
    assert_eq!(a.len(), 300);
    assert_eq!(
        a.iter().collect::<HashSet<_>>().len(),
        300,
        "one session gives every user once"
    );
    assert_ne!(a, b, "two enumerations, two orders");
    let mut sorted_a = a.clone();
    sorted_a.sort();
    let mut sorted_b = b;
    sorted_b.sort();
    assert_eq!(sorted_a, sorted_b);
    // The same nextLink twice gives the same page: the order is the session's.
    let first = g.get("/v1.0/users?$top=50").await;
    let next = first.body["@odata.nextLink"].as_str().unwrap();
    let path = next.strip_prefix(g.sim.url()).unwrap();
    assert_eq!(g.get(path).await.body, g.get(path).await.body);
}

#[tokio::test]
async fn users_deleted_and_created_while_a_job_runs_change_what_graph_answers() {
    let g = Graph::with_users(100).await;
    let first = g.get("/v1.0/users?$top=40").await;
    let seen = upns(first.body["value"].as_array().unwrap());
    // Delete a user not yet listed, through the introspection API.
    let gone = (0..100).map(upn).find(|u| !seen.contains(u)).unwrap();
    let http = reqwest::Client::new();
    let deleted = http
        .delete(format!("{}/_sim/users/{}", g.sim.url(), enc(&gone)))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let created: Value = http
        .post(format!("{}/_sim/users", g.sim.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_upn = created["userPrincipalName"].as_str().unwrap().to_string();
    assert_eq!(new_upn, upn(100));
    // The session goes on without the deleted user, and without repeating anyone.
    let next = first.body["@odata.nextLink"].as_str().unwrap();
    let rest = upns(
        &g.collect(next.strip_prefix(g.sim.url()).unwrap(), &[])
            .await,
    );
    assert!(!rest.contains(&gone));
    assert!(rest.iter().all(|u| !seen.contains(u)));
    // A new enumeration lists the new user, not the deleted one.
    let all = upns(&g.collect("/v1.0/users?$top=999", &[]).await);
    assert_eq!(all.len(), 100);
    assert!(all.contains(&new_upn) && !all.contains(&gone));
    let lost = g
        .get(&format!(
            "/v1.0/users/{}/authentication/methods",
            enc(&gone)
        ))
        .await;
    assert_eq!(
        (lost.status, lost.code()),
        (404, "Request_ResourceNotFound")
    );
    let found = g
        .get(&format!(
            "/v1.0/users/{}/authentication/methods",
            enc(&new_upn)
        ))
        .await;
    assert_eq!(found.status, 200);
    assert!(g.sim.delete_user(&new_upn));
    assert!(!g.sim.delete_user(&new_upn), "already gone");
}

#[tokio::test]
async fn authenticator_registrations_mostly_have_no_dates_as_graph_gives_them() {
    let g = Graph::with_users(2000).await;
    let all: Vec<Value> = (0..2000)
        .flat_map(|i| {
            methods_of(&g.state(i), "microsoftAuthenticator")
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(all.len() > 1000, "{}", all.len());
    let share =
        |f: &dyn Fn(&Value) -> bool| all.iter().filter(|m| f(m)).count() as f64 / all.len() as f64;
    // createdDateTime only for passwordless phone sign-in: a minority (~15%).
    let dated = share(&|m| m["createdDateTime"].is_string());
    assert!((0.10..0.20).contains(&dated), "{dated}");
    // Beta lastUsedDateTime often null (~50%).
    let unused = share(&|m| m["lastUsedDateTime"].is_null());
    assert!((0.40..0.60).contains(&unused), "{unused}");
}
