//! The simulated token endpoint's delegated grants (device code, authorization code with PKCE,
//! refresh token), the claims of the JWTs it issues, and AADSTS500011 for another resource's
//! scope, spoken to over HTTP as a client would.

use crate::support::graph::{Graph, enc};
use authbulk::sim::{SimConfig, upn};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;
use sha2::{Digest, Sha256};

const GRAPH_CLI: &str = "14d82eec-204b-4c2f-b7e8-296a70dab67e";

fn claims(jwt: &str) -> Value {
    let body = jwt.split('.').nth(1).expect("jwt body");
    serde_json::from_slice(&B64.decode(body).expect("base64url")).expect("json claims")
}

async fn post_form(g: &Graph, url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = g.http.post(url).form(form).send().await.unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

async fn sim_post(g: &Graph, path_and_query: &str) -> u16 {
    g.http
        .post(format!("{}/_sim/auth/{path_and_query}", g.sim.url()))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn graph_ok(g: &Graph, token: &str) -> u16 {
    g.http
        .get(format!(
            "{}/v1.0/users/{}/authentication/methods",
            g.sim.url(),
            enc(&upn(1))
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_scope_of_another_resource_is_refused_with_aadsts500011() {
    let g = Graph::with_users(5).await;
    let (client, secret) = (
        g.sim.client_id().to_string(),
        g.sim.client_secret().to_string(),
    );
    let (status, body) = post_form(
        &g,
        &g.sim.token_url(),
        &[
            ("client_id", &client),
            ("client_secret", &secret),
            ("grant_type", "client_credentials"),
            ("scope", "https://management.azure.com/.default"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_resource");
    assert_eq!(body["error_codes"][0], 500011);
    let devicecode = format!("{}/organizations/oauth2/v2.0/devicecode", g.sim.url());
    let (status, body) = post_form(
        &g,
        &devicecode,
        &[
            ("client_id", GRAPH_CLI),
            ("scope", "https://vault.azure.net/user_impersonation"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(500011))
    );
}

#[tokio::test]
async fn app_tokens_carry_the_granted_roles_and_no_scp() {
    let g = Graph::start(SimConfig {
        users: 5,
        deny: ["AuditLog.Read.All".to_string()].into(),
        ..SimConfig::default()
    })
    .await;
    let c = claims(&g.sim.mint_token());
    assert_eq!(c["idtyp"], "app");
    assert_eq!(c["tid"], g.sim.tenant_id());
    assert!(c.get("scp").is_none());
    let roles: Vec<&str> = c["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(roles.contains(&"UserAuthenticationMethod.ReadWrite.All"));
    assert!(!roles.contains(&"AuditLog.Read.All"), "{roles:?}");
}

#[tokio::test]
async fn device_code_pending_then_approved_gives_a_delegated_token_and_a_rotating_refresh_token() {
    let g = Graph::with_users(5).await;
    let admin = upn(2);
    assert_eq!(
        sim_post(
            &g,
            &format!(
                "device-plan?pending=1&interval=0&outcome=approve&upn={}&roles=Authentication%20Administrator",
                enc(&admin)
            )
        )
        .await,
        204
    );
    let base = g.sim.url().to_string();
    let (status, code) = post_form(
        &g,
        &format!("{base}/organizations/oauth2/v2.0/devicecode"),
        &[
            ("client_id", GRAPH_CLI),
            (
                "scope",
                "https://graph.microsoft.com/UserAuthenticationMethod.ReadWrite.All https://graph.microsoft.com/User.Read.All offline_access",
            ),
        ],
    )
    .await;
    assert_eq!(status, 200, "{code}");
    assert_eq!(code["interval"], 0);
    assert_eq!(
        code["verification_uri"],
        "https://microsoft.com/devicelogin"
    );
    let device_code = code["device_code"].as_str().expect("device_code");
    let token_url = format!("{base}/organizations/oauth2/v2.0/token");
    let poll = [
        ("client_id", GRAPH_CLI),
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device_code),
    ];
    let (status, body) = post_form(&g, &token_url, &poll).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    let (status, tokens) = post_form(&g, &token_url, &poll).await;
    assert_eq!(status, 200, "{tokens}");
    let c = claims(tokens["access_token"].as_str().expect("access token"));
    assert_eq!(c["idtyp"], "user");
    assert_eq!(c["upn"], admin.as_str());
    assert_eq!(
        c["scp"],
        "UserAuthenticationMethod.ReadWrite.All User.Read.All"
    );
    assert!(
        c["wids"]
            .as_array()
            .expect("wids")
            .iter()
            .any(|w| w == "c4e39bd9-1100-46d3-8c65-fb160da0071f")
    );
    assert!(c.get("roles").is_none());
    assert_eq!(
        graph_ok(&g, tokens["access_token"].as_str().unwrap()).await,
        200
    );
    // The device code is redeemed once.
    let (status, _) = post_form(&g, &token_url, &poll).await;
    assert_eq!(status, 400);

    // Refresh: a new pair; the redeemed refresh token stops working.
    let first = tokens["refresh_token"].as_str().expect("refresh token");
    let refresh = |rt: &str| {
        [
            ("client_id", GRAPH_CLI),
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
        ]
        .map(|(k, v)| (k, v.to_string()))
    };
    let form = refresh(first);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, renewed) = post_form(&g, &token_url, &form).await;
    assert_eq!(status, 200, "{renewed}");
    assert_ne!(renewed["refresh_token"], tokens["refresh_token"]);
    assert_eq!(
        claims(renewed["access_token"].as_str().unwrap())["upn"],
        admin.as_str()
    );
    let (status, body) = post_form(&g, &token_url, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn declined_and_expired_device_codes_end_the_polling() {
    let g = Graph::with_users(5).await;
    let base = g.sim.url().to_string();
    for (outcome, error) in [
        ("decline", "authorization_declined"),
        ("expire", "expired_token"),
    ] {
        sim_post(&g, &format!("device-plan?interval=0&outcome={outcome}")).await;
        let (_, code) = post_form(
            &g,
            &format!("{base}/organizations/oauth2/v2.0/devicecode"),
            &[("client_id", GRAPH_CLI), ("scope", "User.Read.All")],
        )
        .await;
        let (status, body) = post_form(
            &g,
            &format!("{base}/organizations/oauth2/v2.0/token"),
            &[
                ("client_id", GRAPH_CLI),
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", code["device_code"].as_str().unwrap()),
            ],
        )
        .await;
        assert_eq!((status, body["error"].as_str()), (400, Some(error)));
    }
}

#[tokio::test]
async fn authorization_code_needs_the_pkce_verifier_whose_sha256_is_the_challenge() {
    let g = Graph::with_users(5).await;
    sim_post(&g, &format!("browser?outcome=approve&upn={}", enc(&upn(3)))).await;
    let base = g.sim.url().to_string();
    let verifier = "a-verifier-of-enough-length-0123456789-abcdefghijklmnop";
    let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));
    let redirect = "http://127.0.0.1:9/";
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let authorize = |challenge: String| {
        no_redirects
            .get(format!("{base}/organizations/oauth2/v2.0/authorize"))
            .query(&[
                ("client_id", GRAPH_CLI),
                ("response_type", "code"),
                ("redirect_uri", redirect),
                ("scope", "User.Read.All offline_access"),
                ("state", "s1"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .send()
    };
    let code_of = |resp: reqwest::Response| {
        assert_eq!(resp.status().as_u16(), 302);
        let location = resp.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(redirect), "{location}");
        assert!(location.contains("state=s1"), "{location}");
        let url = reqwest::Url::parse(&location).unwrap();
        url.query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())
            .expect("code")
    };
    let token_url = format!("{base}/organizations/oauth2/v2.0/token");
    let code = code_of(authorize(challenge.clone()).await.unwrap());
    let redeem = |code: String, verifier: &'static str| {
        let token_url = token_url.clone();
        let g = &g;
        async move {
            post_form(
                g,
                &token_url,
                &[
                    ("client_id", GRAPH_CLI),
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("code_verifier", verifier),
                ],
            )
            .await
        }
    };
    let (status, body) = redeem(code, "not-the-verifier").await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(501481))
    );
    let code = code_of(authorize(challenge).await.unwrap());
    let (status, tokens) = redeem(code, verifier).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        claims(tokens["access_token"].as_str().unwrap())["upn"],
        upn(3).as_str()
    );
}
