//! Test support shared by the `auth_*` tests: an RSA test certificate (PEM, PFX), and a small
//! Microsoft Entra look-alike on 127.0.0.1 that checks client-credentials requests the way the
//! real token endpoint does (secret, or an assertion whose PS256 signature it verifies with the
//! registered certificate) plus a "Graph" path that accepts only unexpired tokens it issued.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::signature::Verifier;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// One RSA key per test binary: key generation is the slow part.
pub fn test_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("rsa key"))
}

/// A self-signed certificate for `key`, valid from 2020 to `not_after_year`.
pub fn certificate_for(key: &RsaPrivateKey, not_after_year: i32) -> (String, Vec<u8>) {
    let key_pem = key.to_pkcs8_pem(LineEnding::LF).expect("pkcs8 pem");
    let key_pair = rcgen::KeyPair::from_pem(&key_pem).expect("rcgen key");
    let mut params =
        rcgen::CertificateParams::new(vec!["authbulk-test".to_string()]).expect("params");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(not_after_year, 1, 1);
    let cert = params.self_signed(&key_pair).expect("self-signed");
    (cert.pem(), cert.der().to_vec())
}

/// The test certificate: PEM text and DER.
pub fn test_certificate() -> &'static (String, Vec<u8>) {
    static CERT: OnceLock<(String, Vec<u8>)> = OnceLock::new();
    CERT.get_or_init(|| certificate_for(test_key(), 2099))
}

/// A PFX holding `key` and `cert_der`, protected by `password`.
pub fn pfx(key: &RsaPrivateKey, cert_der: &[u8], password: &str) -> Vec<u8> {
    let key_der = key.to_pkcs8_der().expect("pkcs8 der");
    let chain = p12_keystore::PrivateKeyChain::new(
        key_der.as_bytes(),
        b"key-1",
        vec![p12_keystore::Certificate::from_der(cert_der).expect("certificate")],
    );
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(
        "authbulk",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(chain),
    );
    store.writer(password).write().expect("pfx")
}

/// What the fake Entra accepts and how it behaves.
pub struct Entra {
    /// The app's client id.
    pub client_id: String,
    /// The tenant in the path.
    pub tenant: String,
    /// The accepted client secret.
    pub secret: String,
    /// The registered certificate (DER), if any.
    pub certificate: Option<Vec<u8>>,
    /// An accepted federated token (workload identity).
    pub federated: Option<String>,
    /// Token lifetime in seconds.
    pub ttl: u64,
    /// Filled in once serving.
    pub addr: Mutex<Option<SocketAddr>>,
    /// Token requests received.
    pub token_requests: AtomicUsize,
    in_flight: AtomicUsize,
    /// Most token requests handled at the same time.
    pub max_in_flight: AtomicUsize,
    /// Graph calls answered 401 because the token was unknown or expired.
    pub graph_401: AtomicUsize,
    /// Graph calls answered 200.
    pub graph_200: AtomicUsize,
    issued: Mutex<HashMap<String, Instant>>,
    jtis: Mutex<HashSet<String>>,
    /// Managed identity header expected on the App Service path.
    pub identity_header: String,
    /// Answer this many token requests 503 (with `Retry-After: 0`) before serving.
    pub fail_next: AtomicUsize,
    /// Answer this many IMDS requests 404 ("identity not ready yet") before serving.
    pub imds_not_ready: AtomicUsize,
    /// The Azure Arc agent's challenge: the file the 401 names and the content it expects back.
    pub arc_challenge: Mutex<Option<(std::path::PathBuf, String)>>,
}

impl Entra {
    /// An Entra with this secret and certificate.
    pub fn new(ttl: u64, certificate: Option<Vec<u8>>) -> Arc<Self> {
        Arc::new(Entra {
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            tenant: "contoso.onmicrosoft.com".into(),
            secret: "right~secret".into(),
            certificate,
            federated: Some("federated.jwt.token".into()),
            ttl,
            addr: Mutex::new(None),
            token_requests: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            graph_401: AtomicUsize::new(0),
            graph_200: AtomicUsize::new(0),
            issued: Mutex::new(HashMap::new()),
            jtis: Mutex::new(HashSet::new()),
            identity_header: "app-service-header".into(),
            fail_next: AtomicUsize::new(0),
            imds_not_ready: AtomicUsize::new(0),
            arc_challenge: Mutex::new(None),
        })
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!(
            "http://{}",
            self.addr.lock().expect("addr").expect("serving")
        )
    }

    fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.url(), self.tenant)
    }

    fn issue(&self) -> Value {
        let token = format!("tok-{}", uuid::Uuid::new_v4());
        let expires = Instant::now() + Duration::from_secs(self.ttl);
        self.issued
            .lock()
            .expect("issued")
            .insert(token.clone(), expires);
        json!({"token_type": "Bearer", "expires_in": self.ttl, "ext_expires_in": self.ttl, "access_token": token})
    }

    fn refuse(status: StatusCode, error: &str, code: u32, text: &str) -> Response {
        let body = json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: trace-1\r\nCorrelation ID: corr-1\r\nTimestamp: 2026-01-01 00:00:00Z"),
            "error_codes": [code],
            "trace_id": "trace-1",
            "correlation_id": "corr-1",
        });
        (status, axum::Json(body)).into_response()
    }

    /// Check a client assertion the way Entra does; `Err` is the AADSTS700027 text.
    fn verify_assertion(&self, assertion: &str) -> Result<(), &'static str> {
        let bad = |text: &'static str| Err(text);
        if self.federated.as_deref() == Some(assertion) {
            return Ok(());
        }
        let Some(cert_der) = &self.certificate else {
            return bad("Client assertion contains an invalid signature.");
        };
        let parts: Vec<&str> = assertion.split('.').collect();
        let [header, claims, signature] = parts.as_slice() else {
            return bad("Client assertion is not a JWT.");
        };
        let decode = |part: &str| -> Option<Value> {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
        };
        let (Some(header_json), Some(claims_json)) = (decode(header), decode(claims)) else {
            return bad("Client assertion is not a JWT.");
        };
        let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(cert_der));
        if header_json["alg"] != "PS256" || header_json["x5t#S256"] != thumbprint.as_str() {
            return bad(
                "Client assertion contains an invalid signature. [Reason - The key was not found.]",
            );
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        let claim_ok = claims_json["aud"] == self.token_url().as_str()
            && claims_json["iss"] == self.client_id.as_str()
            && claims_json["sub"] == self.client_id.as_str()
            && claims_json["exp"]
                .as_i64()
                .is_some_and(|exp| exp > now && exp <= now + 3600)
            && claims_json["nbf"]
                .as_i64()
                .is_some_and(|nbf| nbf <= now + 300);
        if !claim_ok {
            return bad("Client assertion has wrong claims.");
        }
        let Some(jti) = claims_json["jti"].as_str() else {
            return bad("Client assertion has no jti.");
        };
        if !self.jtis.lock().expect("jtis").insert(jti.to_string()) {
            return bad("Client assertion was replayed.");
        }
        let (_, cert) =
            x509_parser::parse_x509_certificate(cert_der).expect("registered certificate");
        let x509_parser::public_key::PublicKey::RSA(rsa_key) =
            cert.public_key().parsed().expect("rsa")
        else {
            panic!("registered certificate is not RSA");
        };
        let public = RsaPublicKey::new(
            rsa::BigUint::from_bytes_be(rsa_key.modulus),
            rsa::BigUint::from_bytes_be(rsa_key.exponent),
        )
        .expect("public key");
        let verifying = rsa::pss::VerifyingKey::<Sha256>::new(public);
        let Ok(sig_bytes) = URL_SAFE_NO_PAD.decode(signature) else {
            return bad("Client assertion signature is not base64url.");
        };
        let Ok(sig) = rsa::pss::Signature::try_from(sig_bytes.as_slice()) else {
            return bad("Client assertion contains an invalid signature.");
        };
        if verifying
            .verify(format!("{header}.{claims}").as_bytes(), &sig)
            .is_err()
        {
            return bad("Client assertion contains an invalid signature.");
        }
        Ok(())
    }

    /// Whether `token` was issued here and is unexpired.
    pub fn valid(&self, token: &str) -> bool {
        self.issued
            .lock()
            .expect("issued")
            .get(token)
            .is_some_and(|exp| Instant::now() < *exp)
    }
}

async fn token(
    State(entra): State<Arc<Entra>>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    entra.token_requests.fetch_add(1, Ordering::SeqCst);
    let now_in = entra.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    entra.max_in_flight.fetch_max(now_in, Ordering::SeqCst);
    // Let concurrent requests overlap, if a client sent any.
    tokio::task::yield_now().await;
    let busy = entra
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let response = if busy {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "0")],
            "busy",
        )
            .into_response()
    } else {
        answer(&entra, &tenant, &form)
    };
    entra.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

fn answer(entra: &Entra, tenant: &str, form: &HashMap<String, String>) -> Response {
    let field = |name: &str| form.get(name).map(String::as_str);
    if tenant != entra.tenant {
        return Entra::refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            "Tenant not found.",
        );
    }
    if field("grant_type") != Some("client_credentials")
        || field("scope") != Some("https://graph.microsoft.com/.default")
    {
        return Entra::refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type' or 'scope'.",
        );
    }
    if field("client_id") != Some(entra.client_id.as_str()) {
        return Entra::refuse(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            "Application was not found in the directory.",
        );
    }
    match (
        field("client_secret"),
        field("client_assertion_type"),
        field("client_assertion"),
    ) {
        (Some(secret), None, None) if secret == entra.secret => {
            axum::Json(entra.issue()).into_response()
        }
        (Some(_), None, None) => Entra::refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        ),
        (None, Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), Some(assertion)) => {
            match entra.verify_assertion(assertion) {
                Ok(()) => axum::Json(entra.issue()).into_response(),
                Err(text) => {
                    Entra::refuse(StatusCode::UNAUTHORIZED, "invalid_client", 700027, text)
                }
            }
        }
        _ => Entra::refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ),
    }
}

async fn graph(State(entra): State<Arc<Entra>>, headers: HeaderMap) -> StatusCode {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if entra.valid(token) {
        entra.graph_200.fetch_add(1, Ordering::SeqCst);
        StatusCode::OK
    } else {
        entra.graph_401.fetch_add(1, Ordering::SeqCst);
        StatusCode::UNAUTHORIZED
    }
}

async fn imds(
    State(entra): State<Arc<Entra>>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    entra.token_requests.fetch_add(1, Ordering::SeqCst);
    let app_service = headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok());
    let imds = headers.get("metadata").and_then(|v| v.to_str().ok()) == Some("true");
    if app_service.is_none()
        && entra
            .imds_not_ready
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    {
        return (StatusCode::NOT_FOUND, "identity not found").into_response();
    }
    let authorised = match app_service {
        Some(header) => {
            header == entra.identity_header
                && query.get("api-version").map(String::as_str) == Some("2019-08-01")
        }
        None => imds && query.get("api-version").map(String::as_str) == Some("2018-02-01"),
    };
    if !authorised {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error":"invalid_request","error_description":"Required metadata header not specified"}))).into_response();
    }
    if query.get("resource").map(String::as_str) != Some("https://graph.microsoft.com") {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error":"invalid_resource","error_description":"AADSTS500011: The resource principal was not found."}))).into_response();
    }
    if query
        .get("client_id")
        .is_some_and(|id| id != &entra.client_id)
    {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error":"invalid_request","error_description":"Identity not found"})),
        )
            .into_response();
    }
    let mut body = entra.issue();
    // Managed identity endpoints send numbers as strings and add expires_on.
    let expires_on = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + entra.ttl;
    body["expires_in"] = json!(entra.ttl.to_string());
    body["expires_on"] = json!(expires_on.to_string());
    axum::Json(body).into_response()
}

/// The Azure Arc agent: 401 with `WWW-Authenticate: Basic realm=<challenge file>` unless the
/// request carries `Authorization: Basic <file content>`.
async fn arc(
    State(entra): State<Arc<Entra>>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    entra.token_requests.fetch_add(1, Ordering::SeqCst);
    let Some((file, content)) = entra.arc_challenge.lock().expect("arc").clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let metadata = headers.get("metadata").and_then(|v| v.to_str().ok()) == Some("true");
    if !metadata || query.get("api-version").map(String::as_str) != Some("2019-11-01") {
        return (
            StatusCode::BAD_REQUEST,
            "Metadata header and api-version 2019-11-01 required",
        )
            .into_response();
    }
    let expected = format!("Basic {content}");
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(sent) if sent == expected => {
            let mut body = entra.issue();
            body["expires_in"] = json!(entra.ttl.to_string());
            axum::Json(body).into_response()
        }
        Some(_) => (StatusCode::UNAUTHORIZED, "wrong challenge token").into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            [(
                "www-authenticate",
                format!("Basic realm={}", file.display()),
            )],
            "challenge",
        )
            .into_response(),
    }
}

/// Cloud Shell's endpoint: POST form `resource`, header `Metadata: true`.
async fn cloud_shell(
    State(entra): State<Arc<Entra>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    entra.token_requests.fetch_add(1, Ordering::SeqCst);
    let metadata = headers.get("metadata").and_then(|v| v.to_str().ok()) == Some("true");
    if !metadata {
        return (StatusCode::BAD_REQUEST, "Metadata header required").into_response();
    }
    if form.get("resource").map(String::as_str) != Some("https://graph.microsoft.com") {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error":"invalid_resource","error_description":"AADSTS500011: The resource principal was not found."}))).into_response();
    }
    let mut body = entra.issue();
    body["expires_in"] = json!(entra.ttl.to_string());
    axum::Json(body).into_response()
}

/// Serve `entra` on 127.0.0.1:0 until the test's runtime ends.
pub async fn serve(entra: Arc<Entra>) -> Arc<Entra> {
    let app = Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/graph", get(graph))
        .route("/metadata/identity/oauth2/token", get(imds))
        .route("/msi/token", get(imds))
        .route("/arc/token", get(arc))
        .route("/cloudshell/token", post(cloud_shell))
        .with_state(entra.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    *entra.addr.lock().expect("addr") = Some(listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    entra
}
