//! The token endpoint (client secret and certificate assertions, RS256 and PS256), token
//! expiry, and the 401 and 403 answers of Graph. Test certificates are made here with rsa and
//! rcgen; no key is committed.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::support::graph::{Graph, enc};
use authbulk::sim::{SimConfig, upn};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand_chacha_03::ChaCha8Rng;
use rand_chacha_03::rand_core::SeedableRng;
use rsa::RsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// A test key and its self-signed certificate.
struct TestCert {
    key: RsaPrivateKey,
    pem: String,
    der: Vec<u8>,
}

fn make_cert(seed: u64) -> TestCert {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let key = RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let key_pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let pair =
        rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["authbulk-test".to_string()])
        .unwrap()
        .self_signed(&pair)
        .unwrap();
    TestCert {
        key,
        pem: cert.pem(),
        der: cert.der().to_vec(),
    }
}

fn trusted() -> &'static TestCert {
    static CERT: OnceLock<TestCert> = OnceLock::new();
    CERT.get_or_init(|| make_cert(1))
}

fn impostor() -> &'static TestCert {
    static CERT: OnceLock<TestCert> = OnceLock::new();
    CERT.get_or_init(|| make_cert(2))
}

#[derive(Clone, Copy)]
enum Alg {
    Rs256,
    Ps256,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A client assertion signed by `signer`, naming `named`'s thumbprint.
fn assertion(
    signer: &TestCert,
    named: &TestCert,
    alg: Alg,
    aud: &str,
    client: &str,
    exp: u64,
) -> String {
    let header = match alg {
        Alg::Rs256 => {
            json!({"alg": "RS256", "typ": "JWT", "x5t": B64.encode(Sha1::digest(&named.der))})
        }
        Alg::Ps256 => {
            json!({"alg": "PS256", "typ": "JWT", "x5t#S256": B64.encode(Sha256::digest(&named.der))})
        }
    };
    let claims = json!({"aud": aud, "iss": client, "sub": client, "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now() - 10, "iat": now() - 10, "exp": exp});
    let signed = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let signature = match alg {
        Alg::Rs256 => rsa::pkcs1v15::SigningKey::<Sha256>::new(signer.key.clone())
            .sign(signed.as_bytes())
            .to_vec(),
        Alg::Ps256 => rsa::pss::BlindedSigningKey::<Sha256>::new(signer.key.clone())
            .sign_with_rng(&mut ChaCha8Rng::seed_from_u64(3), signed.as_bytes())
            .to_vec(),
    };
    format!("{signed}.{}", B64.encode(signature))
}

async fn token_call(g: &Graph, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = g
        .http
        .post(g.sim.token_url())
        .form(form)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn secret_token(g: &Graph, client: &str, secret: &str) -> (u16, Value) {
    token_call(
        g,
        &[
            ("client_id", client),
            ("client_secret", secret),
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await
}

async fn assertion_token(g: &Graph, jwt: &str) -> (u16, Value) {
    let client = g.sim.client_id().to_string();
    token_call(
        g,
        &[
            ("client_id", &client),
            ("client_assertion", jwt),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await
}

async fn graph_status(g: &Graph, token: &str) -> (u16, Value) {
    let resp = g
        .http
        .get(format!(
            "{}/v1.0/users/{}/authentication/methods",
            g.sim.url(),
            enc(&upn(1))
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn with_cert() -> SimConfig {
    SimConfig {
        users: 20,
        client_certificates: vec![trusted().pem.clone()],
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn a_client_secret_gets_a_token_that_graph_accepts() {
    let g = Graph::with_users(20).await;
    let (client, secret) = (
        g.sim.client_id().to_string(),
        g.sim.client_secret().to_string(),
    );
    let (status, body) = secret_token(&g, &client, &secret).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["token_type"].as_str(), body["expires_in"].as_u64()),
        (Some("Bearer"), Some(3599))
    );
    assert_eq!(
        graph_status(&g, body["access_token"].as_str().unwrap())
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn a_wrong_secret_or_an_unknown_client_is_refused_with_aadsts_codes() {
    let g = Graph::with_users(20).await;
    let client = g.sim.client_id().to_string();
    let (status, body) = secret_token(&g, &client, "not-the-secret").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_eq!(body["error_codes"][0], 7000215);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215")
    );
    let (status, body) = secret_token(&g, "00000000-0000-0000-0000-000000000000", "x").await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64()),
        (400, Some(700016))
    );
}

#[tokio::test]
async fn certificate_assertions_signed_rs256_with_x5t_and_ps256_with_x5t_s256_get_tokens() {
    let g = Graph::start(with_cert()).await;
    let client = g.sim.client_id().to_string();
    for alg in [Alg::Rs256, Alg::Ps256] {
        let jwt = assertion(
            trusted(),
            trusted(),
            alg,
            &g.sim.token_url(),
            &client,
            now() + 300,
        );
        let (status, body) = assertion_token(&g, &jwt).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            graph_status(&g, body["access_token"].as_str().unwrap())
                .await
                .0,
            200
        );
    }
}

#[tokio::test]
async fn assertions_with_a_wrong_audience_an_expired_exp_or_a_bad_signature_are_refused() {
    let g = Graph::start(with_cert()).await;
    let client = g.sim.client_id().to_string();
    let url = g.sim.token_url();
    let cases = [
        (
            "wrong aud",
            assertion(
                trusted(),
                trusted(),
                Alg::Ps256,
                "https://login.microsoftonline.com/other/oauth2/v2.0/token",
                &client,
                now() + 300,
            ),
            700212,
        ),
        (
            "expired",
            assertion(trusted(), trusted(), Alg::Ps256, &url, &client, now() - 60),
            700024,
        ),
        (
            "signed by another key",
            assertion(
                impostor(),
                trusted(),
                Alg::Rs256,
                &url,
                &client,
                now() + 300,
            ),
            700027,
        ),
        (
            "unknown certificate",
            assertion(
                impostor(),
                impostor(),
                Alg::Ps256,
                &url,
                &client,
                now() + 300,
            ),
            700027,
        ),
    ];
    for (name, jwt, code) in cases {
        let (status, body) = assertion_token(&g, &jwt).await;
        assert_eq!(
            (status, body["error_codes"][0].as_u64()),
            (401, Some(code)),
            "{name}: {body}"
        );
    }
    // The assertion's client must be the registered one.
    let (status, _) = token_call(
        &g,
        &[
            ("client_id", "someone-else"),
            (
                "client_assertion",
                &assertion(trusted(), trusted(), Alg::Ps256, &url, &client, now() + 300),
            ),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("grant_type", "client_credentials"),
            ("scope", "x/.default"),
        ],
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn graph_answers_401_to_a_missing_or_expired_token() {
    let g = Graph::start(SimConfig {
        users: 20,
        token_ttl: Duration::ZERO,
        ..SimConfig::default()
    })
    .await;
    let missing = g
        .http
        .get(format!("{}/v1.0/users", g.sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 401);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    // With a ttl of 0 every issued token is already expired.
    let (client, secret) = (
        g.sim.client_id().to_string(),
        g.sim.client_secret().to_string(),
    );
    let (_, issued) = secret_token(&g, &client, &secret).await;
    let (status, body) = graph_status(&g, issued["access_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationToken"))
    );
    let (status, _) = graph_status(
        &g,
        "eyJhbGciOiJIUzI1NiJ9.eyJleHBfbXMiOjk5OTk5OTk5OTk5OTk5fQ.forged",
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_withheld_permission_gives_403_to_the_operations_that_need_it() {
    let g = Graph::start(SimConfig {
        users: 20,
        deny: ["UserAuthenticationMethod.ReadWrite.All".to_string()].into(),
        ..SimConfig::default()
    })
    .await;
    let read = g
        .get(&g.user_path("v1.0", 1, "/authentication/methods"))
        .await;
    assert_eq!(
        read.status, 200,
        "reads still work with UserAuthenticationMethod.Read.All"
    );
    let write = g
        .post(
            &g.user_path("v1.0", 1, "/authentication/temporaryAccessPassMethods"),
            json!({}),
        )
        .await;
    assert_eq!(
        (write.status, write.code()),
        (403, "Authorization_RequestDenied")
    );
    let g = Graph::start(SimConfig {
        users: 20,
        deny: [
            "GroupMember.Read.All".to_string(),
            "Group.Read.All".to_string(),
        ]
        .into(),
        ..SimConfig::default()
    })
    .await;
    let group = &g.sim.group_ids()[0];
    let members = g.get(&format!("/v1.0/groups/{group}/members")).await;
    assert_eq!(
        (members.status, members.code()),
        (403, "Authorization_RequestDenied")
    );
}
