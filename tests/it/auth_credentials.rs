//! Every credential of the chain against a local Microsoft Entra look-alike (see
//! `support::entra`): what a user configures (flags + Azure Identity variables) gets a token, and
//! a bad credential is one clear error naming the AADSTS code, before any work.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use crate::support::entra::{Entra, pfx, serve, test_certificate, test_key};
use authbulk::testing::auth::AuthArgs;
use authbulk::testing::auth::{AuthError, TokenProvider};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};

/// The variables a user would export for this Entra, plus `extra`.
fn env_for(entra: &Entra, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env = HashMap::from([
        ("AZURE_TENANT_ID".to_string(), entra.tenant.clone()),
        ("AZURE_CLIENT_ID".to_string(), entra.client_id.clone()),
        ("AZURE_AUTHORITY_HOST".to_string(), entra.url()),
        // No `az` here: a test must never fall through to a real Azure CLI.
        ("PATH".to_string(), String::new()),
    ]);
    for (name, value) in extra {
        env.insert(name.to_string(), value.to_string());
    }
    env
}

fn provider(args: &AuthArgs, env: &HashMap<String, String>) -> Result<TokenProvider, AuthError> {
    let config = args
        .to_config_with_env(|name| env.get(name).cloned())
        .expect("valid config");
    TokenProvider::from_config(&config, reqwest::Client::new())
}

#[tokio::test]
async fn client_secret_from_the_environment_gets_one_token_for_many_callers() {
    let entra = serve(Entra::new(3600, None)).await;
    let env = env_for(&entra, &[("AZURE_CLIENT_SECRET", "right~secret")]);
    let tokens = provider(&AuthArgs::default(), &env).expect("provider");
    tokens.check().await.expect("the secret is right");
    let all = futures::future::join_all((0..64).map(|_| tokens.token())).await;
    let first = all[0].as_ref().expect("token").clone();
    assert!(all.iter().all(|t| t.as_ref().ok() == Some(&first)));
    assert!(entra.valid(&first));
    assert_eq!(entra.token_requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn client_secret_file_is_read_without_its_line_break() {
    let entra = serve(Entra::new(3600, None)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("secret");
    std::fs::write(&file, "right~secret\n").expect("write");
    let args = AuthArgs {
        client_secret_file: Some(file),
        ..AuthArgs::default()
    };
    let tokens = provider(&args, &env_for(&entra, &[])).expect("provider");
    tokens.check().await.expect("the secret is right");
}

#[tokio::test]
async fn wrong_client_secret_is_one_refusal_naming_the_aadsts_code_and_not_the_secret() {
    let entra = serve(Entra::new(3600, None)).await;
    let env = env_for(&entra, &[("AZURE_CLIENT_SECRET", "wrong~secret~value")]);
    let tokens = provider(&AuthArgs::default(), &env).expect("provider");
    let err = tokens.check().await.expect_err("the secret is wrong");
    assert!(matches!(err, AuthError::Refused(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("AADSTS7000215: Invalid client secret provided."),
        "{text}"
    );
    assert!(
        text.contains("invalid_client") && text.contains("trace id trace-1"),
        "{text}"
    );
    assert!(text.contains(&entra.client_id), "names the app: {text}");
    assert!(!text.contains("wrong~secret~value"), "{text}");
    assert!(!format!("{err:?}").contains("wrong~secret~value"));
    // A refusal is final: no retries.
    assert_eq!(entra.token_requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unknown_tenant_names_its_aadsts_code() {
    let entra = serve(Entra::new(3600, None)).await;
    let mut env = env_for(&entra, &[("AZURE_CLIENT_SECRET", "right~secret")]);
    env.insert("AZURE_TENANT_ID".into(), "fabrikam.onmicrosoft.com".into());
    let err = provider(&AuthArgs::default(), &env)
        .expect("provider")
        .check()
        .await
        .expect_err("unknown tenant");
    assert!(err.to_string().contains("AADSTS90002"), "{err}");
}

#[tokio::test]
async fn pem_certificate_with_pkcs8_key_signs_an_assertion_entra_verifies() {
    let (cert_pem, cert_der) = test_certificate();
    let entra = serve(Entra::new(3600, Some(cert_der.clone()))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.pem");
    let key_pem = test_key().to_pkcs8_pem(LineEnding::LF).expect("pem");
    // Text around the blocks, as OpenSSL writes when converting a PFX.
    std::fs::write(
        &path,
        format!("Bag Attributes\n{}{}", key_pem.as_str(), cert_pem),
    )
    .expect("write");
    let args = AuthArgs {
        certificate: Some(path),
        ..AuthArgs::default()
    };
    let tokens = provider(&args, &env_for(&entra, &[])).expect("provider");
    tokens.check().await.expect("the assertion verifies");
    // Each request carries a fresh assertion (Entra refuses a replayed jti).
    let first = tokens.token().await.expect("token");
    tokens.invalidate(&first);
    let second = tokens.token().await.expect("token after invalidate");
    assert_ne!(first, second);
    assert_eq!(entra.token_requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn pem_certificate_with_pkcs1_key_from_the_environment_works() {
    let (cert_pem, cert_der) = test_certificate();
    let entra = serve(Entra::new(3600, Some(cert_der.clone()))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.pem");
    let key_pem = test_key().to_pkcs1_pem(LineEnding::LF).expect("pem");
    std::fs::write(&path, format!("{cert_pem}{}", key_pem.as_str())).expect("write");
    let path = path.to_string_lossy().into_owned();
    let env = env_for(&entra, &[("AZURE_CLIENT_CERTIFICATE_PATH", &path)]);
    provider(&AuthArgs::default(), &env)
        .expect("provider")
        .check()
        .await
        .expect("the assertion verifies");
}

#[tokio::test]
async fn encrypted_pkcs8_key_is_opened_with_the_certificate_password() {
    let (cert_pem, cert_der) = test_certificate();
    let entra = serve(Entra::new(3600, Some(cert_der.clone()))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.pem");
    // PBES2 with PBKDF2-SHA256 and AES-256-CBC, as `openssl pkcs8 -topk8` writes it (the
    // crate's default, scrypt, is too slow for an unoptimised test build).
    let key_der = test_key().to_pkcs8_der().expect("der");
    let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(
        2048,
        b"saltsalt",
        b"0123456789abcdef",
    )
    .expect("params");
    let encrypted = pkcs8::PrivateKeyInfo::try_from(key_der.as_bytes())
        .expect("info")
        .encrypt_with_params(params, "pem-pass")
        .expect("encrypt");
    let key_pem = encrypted
        .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .expect("pem");
    std::fs::write(&path, format!("{cert_pem}{}", key_pem.as_str())).expect("write");
    let args = AuthArgs {
        certificate: Some(path),
        ..AuthArgs::default()
    };
    let env = env_for(&entra, &[("AZURE_CLIENT_CERTIFICATE_PASSWORD", "pem-pass")]);
    provider(&args, &env)
        .expect("provider")
        .check()
        .await
        .expect("verifies");

    let env = env_for(&entra, &[("AZURE_CLIENT_CERTIFICATE_PASSWORD", "nope")]);
    let err = provider(&args, &env).expect_err("wrong password");
    assert!(
        err.to_string().contains("wrong certificate password"),
        "{err}"
    );
}

#[tokio::test]
async fn pfx_certificate_with_password_works_and_a_wrong_password_fails_before_any_request() {
    let (_, cert_der) = test_certificate();
    let entra = serve(Entra::new(3600, Some(cert_der.clone()))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.pfx");
    std::fs::write(&path, pfx(test_key(), cert_der, "pfx-pass")).expect("write");
    let pass_file = dir.path().join("pass");
    std::fs::write(&pass_file, "pfx-pass\n").expect("write");
    let args = AuthArgs {
        certificate: Some(path.clone()),
        certificate_password_file: Some(pass_file),
        ..AuthArgs::default()
    };
    provider(&args, &env_for(&entra, &[]))
        .expect("provider")
        .check()
        .await
        .expect("verifies");

    let args = AuthArgs {
        certificate: Some(path),
        ..AuthArgs::default()
    };
    let env = env_for(
        &entra,
        &[("AZURE_CLIENT_CERTIFICATE_PASSWORD", "wrong-pass")],
    );
    let err = provider(&args, &env).expect_err("wrong password");
    assert!(matches!(err, AuthError::Unavailable(_)));
    assert!(
        err.to_string().contains("wrong certificate password"),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong-pass"), "{err}");
    assert_eq!(entra.token_requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn certificate_not_registered_with_the_app_is_refused_with_aadsts700027() {
    let (_, registered) = test_certificate();
    let entra = serve(Entra::new(3600, Some(registered.clone()))).await;
    // Same key, another certificate: its thumbprint is unknown to Entra.
    let (other_pem, _) = crate::support::entra::certificate_for(test_key(), 2098);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("other.pem");
    let key_pem = test_key().to_pkcs8_pem(LineEnding::LF).expect("pem");
    std::fs::write(&path, format!("{other_pem}{}", key_pem.as_str())).expect("write");
    let args = AuthArgs {
        certificate: Some(path),
        ..AuthArgs::default()
    };
    let err = provider(&args, &env_for(&entra, &[]))
        .expect("provider")
        .check()
        .await
        .expect_err("unregistered");
    assert!(matches!(err, AuthError::Refused(_)));
    assert!(err.to_string().contains("AADSTS700027"), "{err}");
}

#[tokio::test]
async fn expired_or_mismatched_certificates_fail_locally_with_a_clear_reason() {
    let entra = serve(Entra::new(3600, None)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let key_pem = test_key().to_pkcs8_pem(LineEnding::LF).expect("pem");

    let (expired, _) = crate::support::entra::certificate_for(test_key(), 2021);
    let path = dir.path().join("expired.pem");
    std::fs::write(&path, format!("{expired}{}", key_pem.as_str())).expect("write");
    let args = AuthArgs {
        certificate: Some(path),
        ..AuthArgs::default()
    };
    let err = provider(&args, &env_for(&entra, &[])).expect_err("expired");
    assert!(err.to_string().contains("expired on"), "{err}");

    let other_key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).expect("key");
    let (cert_pem, _) = test_certificate();
    let path = dir.path().join("mismatch.pem");
    let other_pem = other_key.to_pkcs8_pem(LineEnding::LF).expect("pem");
    std::fs::write(&path, format!("{cert_pem}{}", other_pem.as_str())).expect("write");
    let args = AuthArgs {
        certificate: Some(path),
        ..AuthArgs::default()
    };
    let err = provider(&args, &env_for(&entra, &[])).expect_err("mismatch");
    assert!(err.to_string().contains("does not belong"), "{err}");

    let path = dir.path().join("only-cert.pem");
    std::fs::write(&path, cert_pem).expect("write");
    let args = AuthArgs {
        certificate: Some(path),
        ..AuthArgs::default()
    };
    let err = provider(&args, &env_for(&entra, &[])).expect_err("no key");
    assert!(err.to_string().contains("no private key"), "{err}");
    assert_eq!(entra.token_requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn workload_identity_sends_the_federated_token_from_the_file_read_on_each_fetch() {
    let entra = serve(Entra::new(3600, None)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("token");
    std::fs::write(&file, "federated.jwt.token\n").expect("write");
    let path = file.to_string_lossy().into_owned();
    let env = env_for(&entra, &[("AZURE_FEDERATED_TOKEN_FILE", &path)]);
    let tokens = provider(&AuthArgs::default(), &env).expect("provider");
    let token = tokens.token().await.expect("federated token accepted");
    // The platform rotated the file to something Entra does not accept: the next fetch reads it.
    std::fs::write(&file, "stale.jwt.token").expect("write");
    tokens.invalidate(&token);
    let err = tokens.token().await.expect_err("rotated to a bad token");
    assert!(err.to_string().contains("AADSTS700027"), "{err}");
}

#[tokio::test]
async fn managed_identity_uses_imds_with_the_metadata_header_and_its_client_id() {
    let entra = serve(Entra::new(3600, None)).await;
    let env = env_for(
        &entra,
        &[("AZURE_POD_IDENTITY_AUTHORITY_HOST", &entra.url())],
    );
    let args = AuthArgs {
        managed_identity: true,
        ..AuthArgs::default()
    };
    let tokens = provider(&args, &env).expect("provider");
    let token = tokens.token().await.expect("imds token");
    assert!(entra.valid(&token));

    let args = AuthArgs {
        managed_identity: true,
        client_id: Some("not-this-identity".into()),
        ..AuthArgs::default()
    };
    let err = provider(&args, &env)
        .expect("provider")
        .check()
        .await
        .expect_err("unknown identity");
    assert!(matches!(err, AuthError::Refused(_)));
    assert!(err.to_string().contains("Identity not found"), "{err}");
}

#[tokio::test]
async fn managed_identity_on_app_service_sends_the_identity_header() {
    let entra = serve(Entra::new(3600, None)).await;
    let endpoint = format!("{}/msi/token", entra.url());
    let env = env_for(
        &entra,
        &[
            ("IDENTITY_ENDPOINT", &endpoint),
            ("IDENTITY_HEADER", "app-service-header"),
        ],
    );
    let args = AuthArgs {
        managed_identity: true,
        ..AuthArgs::default()
    };
    let token = provider(&args, &env)
        .expect("provider")
        .token()
        .await
        .expect("token");
    assert!(entra.valid(&token));

    let env = env_for(
        &entra,
        &[
            ("IDENTITY_ENDPOINT", &endpoint),
            ("IDENTITY_HEADER", "forged"),
        ],
    );
    let err = provider(&args, &env)
        .expect("provider")
        .check()
        .await
        .expect_err("bad header");
    assert!(!err.to_string().contains("forged"), "{err}");
}

#[test]
fn linux_app_service_link_local_identity_endpoint_is_accepted() {
    // Linux App Service and Functions announce plain http on a link-local address.
    let args = AuthArgs {
        managed_identity: true,
        ..AuthArgs::default()
    };
    let env = HashMap::from([
        (
            "IDENTITY_ENDPOINT".to_string(),
            "http://169.254.129.2:8081/msi/token".to_string(),
        ),
        ("IDENTITY_HEADER".to_string(), "h".to_string()),
    ]);
    let config = args
        .to_config_with_env(|name| env.get(name).cloned())
        .expect("link-local IDENTITY_ENDPOINT accepted");
    assert!(
        matches!(
            config.credential(),
            authbulk::testing::auth::CredentialSource::ManagedIdentity {
                endpoint: authbulk::testing::auth::ManagedIdentityEndpoint::AppService { url, .. },
                ..
            } if url == "http://169.254.129.2:8081/msi/token"
        ),
        "{:?}",
        config.credential()
    );
    // Plain http to a routed address still is not.
    let env = HashMap::from([
        (
            "IDENTITY_ENDPOINT".to_string(),
            "http://10.1.2.3:8081/msi/token".to_string(),
        ),
        ("IDENTITY_HEADER".to_string(), "h".to_string()),
    ]);
    let err = args
        .to_config_with_env(|name| env.get(name).cloned())
        .expect_err("routed plain http refused");
    assert!(format!("{err:#}").contains("link-local"), "{err:#}");
}

#[tokio::test]
async fn imds_404_while_the_identity_is_not_ready_is_retried() {
    let entra = serve(Entra::new(3600, None)).await;
    entra.imds_not_ready.store(1, Ordering::SeqCst);
    let env = env_for(
        &entra,
        &[("AZURE_POD_IDENTITY_AUTHORITY_HOST", &entra.url())],
    );
    let args = AuthArgs {
        managed_identity: true,
        ..AuthArgs::default()
    };
    let token = provider(&args, &env)
        .expect("provider")
        .token()
        .await
        .expect("404 then 200");
    assert!(entra.valid(&token));
    assert_eq!(entra.token_requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn azure_arc_challenge_file_is_read_and_sent_back_as_basic_authorization() {
    let entra = serve(Entra::new(3600, None)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("challenge.key");
    std::fs::write(&file, "arc-challenge-secret\n").expect("write");
    *entra.arc_challenge.lock().expect("arc") = Some((file, "arc-challenge-secret".into()));
    let endpoint = format!("{}/arc/token", entra.url());
    let tokens_dir = dir.path().to_string_lossy().into_owned();
    let mut env = env_for(
        &entra,
        &[
            ("IDENTITY_ENDPOINT", &endpoint),
            ("IMDS_ENDPOINT", "http://127.0.0.1:1"),
            ("AUTHBULK_ARC_TOKENS_DIR", &tokens_dir),
        ],
    );
    // Arc has only a system-assigned identity.
    env.remove("AZURE_CLIENT_ID");
    let args = AuthArgs {
        managed_identity: true,
        ..AuthArgs::default()
    };
    let token = provider(&args, &env)
        .expect("provider")
        .token()
        .await
        .expect("arc token");
    assert!(entra.valid(&token));
    assert_eq!(entra.token_requests.load(Ordering::SeqCst), 2);

    // A challenge naming a file outside the agent's folder is not read.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let stolen = elsewhere.path().join("id_rsa.key");
    std::fs::write(&stolen, "not-for-the-agent").expect("write");
    *entra.arc_challenge.lock().expect("arc") = Some((stolen, "not-for-the-agent".into()));
    let err = provider(&args, &env)
        .expect("provider")
        .check()
        .await
        .expect_err("file outside the tokens folder");
    assert!(
        err.to_string().contains("not in the agent's tokens folder"),
        "{err}"
    );
    assert!(!err.to_string().contains("not-for-the-agent"), "{err}");
}

#[tokio::test]
async fn cloud_shell_posts_the_resource_with_the_metadata_header() {
    let entra = serve(Entra::new(3600, None)).await;
    let endpoint = format!("{}/cloudshell/token", entra.url());
    let mut env = env_for(&entra, &[("MSI_ENDPOINT", &endpoint)]);
    env.remove("AZURE_CLIENT_ID");
    let args = AuthArgs {
        managed_identity: true,
        ..AuthArgs::default()
    };
    let token = provider(&args, &env)
        .expect("provider")
        .token()
        .await
        .expect("cloud shell token");
    assert!(entra.valid(&token));
}

#[tokio::test(start_paused = true)]
async fn unreachable_token_endpoint_is_unavailable_not_refused() {
    // Bind and drop: nothing listens on this port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let entra = Entra::new(3600, None);
    let mut env = HashMap::from([
        ("AZURE_TENANT_ID".to_string(), entra.tenant.clone()),
        ("AZURE_CLIENT_ID".to_string(), entra.client_id.clone()),
        (
            "AZURE_CLIENT_SECRET".to_string(),
            "right~secret".to_string(),
        ),
        ("PATH".to_string(), String::new()),
    ]);
    env.insert(
        "AZURE_AUTHORITY_HOST".into(),
        format!("http://127.0.0.1:{port}"),
    );
    let tokens = provider(&AuthArgs::default(), &env).expect("provider");
    let err = tokens.check().await.expect_err("nothing listens");
    assert!(matches!(err, AuthError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("could not be reached"), "{err}");
}

#[tokio::test]
async fn a_busy_token_endpoint_is_retried_and_a_persistently_busy_one_is_unavailable() {
    let entra = serve(Entra::new(3600, None)).await;
    let env = env_for(&entra, &[("AZURE_CLIENT_SECRET", "right~secret")]);
    entra.fail_next.store(2, Ordering::SeqCst);
    provider(&AuthArgs::default(), &env)
        .expect("provider")
        .check()
        .await
        .expect("third attempt succeeds");
    assert_eq!(entra.token_requests.load(Ordering::SeqCst), 3);

    entra.fail_next.store(3, Ordering::SeqCst);
    let err = provider(&AuthArgs::default(), &env)
        .expect("provider")
        .check()
        .await
        .expect_err("three 503s");
    assert!(matches!(err, AuthError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("kept failing: HTTP 503"), "{err}");
    assert_eq!(entra.token_requests.load(Ordering::SeqCst), 6);
}
