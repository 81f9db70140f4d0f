//! The auth flags and the Azure Identity environment variables, validated into one config:
//! which link of the credential chain wins, what is required, clouds and endpoint overrides.
//! Offline: no token is fetched here.

use std::collections::HashMap;
use std::path::PathBuf;

use authbulk::testing::auth::AuthArgs;
use authbulk::testing::auth::{AuthConfig, CredentialSource, ManagedIdentityEndpoint};
use clap::Parser;

/// The flags as `run` and `export` flatten them.
#[derive(Parser)]
struct Command {
    #[command(flatten)]
    auth: AuthArgs,
}

fn parse(args: &[&str]) -> Result<AuthArgs, clap::Error> {
    Command::try_parse_from(std::iter::once("authbulk").chain(args.iter().copied())).map(|c| c.auth)
}

const TENANT: &str = "contoso.onmicrosoft.com";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";

fn config(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<AuthConfig> {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("AZURE_TENANT_ID".into(), TENANT.into()),
        ("AZURE_CLIENT_ID".into(), CLIENT.into()),
        ("PATH".into(), String::new()),
    ]);
    for (name, value) in env {
        vars.insert(name.to_string(), value.to_string());
    }
    parse(args)?.to_config_with_env(|name| vars.get(name).cloned())
}

fn kind(config: &AuthConfig) -> &'static str {
    match config.credential() {
        CredentialSource::AccessToken { .. } => "access token",
        CredentialSource::ClientSecret { .. } => "client secret",
        CredentialSource::Certificate { .. } => "certificate",
        CredentialSource::WorkloadIdentity { .. } => "workload identity",
        CredentialSource::ManagedIdentity { .. } => "managed identity",
        CredentialSource::SignedIn { .. } => "signed in",
        CredentialSource::AzureCli { .. } => "azure cli",
    }
}

#[test]
fn a_stored_sign_in_comes_after_app_credentials_and_before_the_azure_cli() {
    let state = tempfile::tempdir().expect("tempdir");
    let dir = state.path().join("authbulk");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("signin.json"),
        r#"{"tenant":"t","client_id":"14d82eec-204b-4c2f-b7e8-296a70dab67e","cloud":"global","user":"admin@contoso.com","store":"file","refresh_token":"rt"}"#,
    )
    .expect("record");
    let home = state.path().to_string_lossy().into_owned();
    let with = |extra: &[(&'static str, &str)]| {
        let mut vars = vec![("XDG_STATE_HOME", home.as_str()), ("PATH", "")];
        vars.extend_from_slice(extra);
        vars.into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect::<Vec<_>>()
    };
    let vars = with(&[]);
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let chosen = config(&[], &pairs).expect("config");
    assert_eq!(kind(&chosen), "signed in");
    assert!(
        chosen.reason().contains("authbulk login"),
        "{}",
        chosen.reason()
    );
    let vars = with(&[
        ("AZURE_FEDERATED_TOKEN_FILE", "/f"),
        ("AZURE_TENANT_ID", "t"),
        ("AZURE_CLIENT_ID", "c"),
    ]);
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        kind(&config(&[], &pairs).expect("config")),
        "workload identity"
    );
    // A sign-in of another cloud is named, not used silently.
    let vars = with(&[]);
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let err = config(&["--cloud", "usgov"], &pairs).expect_err("other cloud");
    assert!(format!("{err:#}").contains("--cloud global"), "{err:#}");
}

#[test]
fn environment_sources_are_taken_in_chain_order() {
    let all = [
        ("AZURE_CLIENT_SECRET", "s"),
        ("AZURE_CLIENT_CERTIFICATE_PATH", "/c.pem"),
        ("AZURE_FEDERATED_TOKEN_FILE", "/f"),
    ];
    assert_eq!(kind(&config(&[], &all).expect("config")), "client secret");
    assert_eq!(
        kind(&config(&[], &all[1..]).expect("config")),
        "certificate"
    );
    assert_eq!(
        kind(&config(&[], &all[2..]).expect("config")),
        "workload identity"
    );
    // Empty variables count as unset.
    let empty = [
        ("AZURE_CLIENT_SECRET", " "),
        ("AZURE_FEDERATED_TOKEN_FILE", "/f"),
    ];
    assert_eq!(
        kind(&config(&[], &empty).expect("config")),
        "workload identity"
    );
}

#[test]
fn an_explicit_flag_beats_a_secret_left_in_the_environment() {
    let env = [
        ("AZURE_CLIENT_SECRET", "s"),
        ("MY_TOKEN", "Bearer eyJ.token\n"),
    ];
    assert_eq!(
        kind(&config(&["--certificate", "/c.pfx"], &env).expect("config")),
        "certificate"
    );
    assert_eq!(
        kind(&config(&["--managed-identity"], &env).expect("config")),
        "managed identity"
    );
    let token = config(&["--access-token-env", "MY_TOKEN"], &env).expect("config");
    match token.credential() {
        CredentialSource::AccessToken { variable, token } => {
            assert_eq!(variable, "MY_TOKEN");
            assert_eq!(token.expose(), "eyJ.token");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn two_credential_flags_are_a_usage_error() {
    let err = parse(&["--certificate", "/c.pem", "--managed-identity"]).expect_err("conflict");
    assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
}

#[test]
fn access_token_variable_that_is_not_set_is_an_error_naming_it() {
    let err = config(&["--access-token-env", "NOT_SET"], &[]).expect_err("unset");
    assert!(err.to_string().contains("NOT_SET"), "{err}");
}

#[test]
fn app_credentials_need_tenant_and_client_id_and_say_where_to_put_them() {
    let vars: HashMap<&str, &str> = HashMap::from([("AZURE_CLIENT_SECRET", "s"), ("PATH", "")]);
    let err = AuthArgs::default()
        .to_config_with_env(|name| vars.get(name).map(|v| v.to_string()))
        .expect_err("no tenant");
    let text = err.to_string();
    assert!(
        text.contains("--tenant") && text.contains("AZURE_TENANT_ID"),
        "{text}"
    );
    assert!(
        text.contains("--client-id") && text.contains("AZURE_CLIENT_ID"),
        "{text}"
    );
    // Flags fill in what the environment lacks.
    let args = parse(&["--tenant", TENANT, "--client-id", CLIENT]).expect("flags");
    let config = args
        .to_config_with_env(|name| vars.get(name).map(|v| v.to_string()))
        .expect("config");
    match config.credential() {
        CredentialSource::ClientSecret {
            tenant, client_id, ..
        } => {
            assert_eq!((tenant.as_str(), client_id.as_str()), (TENANT, CLIENT));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_tenant_that_is_not_an_id_or_domain_is_refused() {
    let err =
        config(&["--tenant", "../../evil"], &[("AZURE_CLIENT_SECRET", "s")]).expect_err("bad");
    assert!(err.to_string().contains("AZURE_TENANT_ID"), "{err}");
}

#[test]
fn nothing_configured_and_no_az_lists_every_way_to_authenticate() {
    let text = config(&[], &[]).expect_err("nothing").to_string();
    for way in [
        "AZURE_CLIENT_SECRET",
        "--client-secret-file",
        "--certificate",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_FEDERATED_TOKEN_FILE",
        "--managed-identity",
        "--access-token-env",
        "az login",
    ] {
        assert!(text.contains(way), "{way} missing from: {text}");
    }
}

#[test]
fn azure_cli_is_the_fallback_when_az_is_on_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let az = dir.path().join("az");
    std::fs::write(&az, "#!/bin/sh\n").expect("write");
    let path = format!("/nonexistent:{}", dir.path().display());
    let config = config(&[], &[("PATH", &path)]).expect("config");
    match config.credential() {
        CredentialSource::AzureCli { program, tenant } => {
            assert_eq!(program, &az);
            assert_eq!(tenant.as_deref(), Some(TENANT));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn clouds_set_graph_root_and_authority_and_overrides_replace_them() {
    let env = [("AZURE_CLIENT_SECRET", "s")];
    let global = config(&[], &env).expect("config");
    assert_eq!(global.graph_root(), "https://graph.microsoft.com");
    assert_eq!(
        global.token_url(TENANT),
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    );
    let usgov = config(&["--cloud", "usgov"], &env).expect("config");
    assert_eq!(usgov.graph_root(), "https://graph.microsoft.us");
    assert_eq!(usgov.authority(), "https://login.microsoftonline.us");
    assert_eq!(usgov.scope(), "https://graph.microsoft.us/.default");
    let dod = config(&["--cloud", "usgovdod"], &env).expect("config");
    assert_eq!(dod.graph_root(), "https://dod-graph.microsoft.us");
    let china = config(&["--cloud", "china"], &env).expect("config");
    assert_eq!(
        china.graph_root(),
        "https://microsoftgraph.chinacloudapi.cn"
    );
    assert_eq!(
        china.authority(),
        "https://login.partner.microsoftonline.cn"
    );

    let local = config(
        &["--graph-url", "http://127.0.0.1:8080/"],
        &[
            ("AZURE_CLIENT_SECRET", "s"),
            ("AZURE_AUTHORITY_HOST", "http://127.0.0.1:8080"),
        ],
    )
    .expect("config");
    assert_eq!(local.graph_root(), "http://127.0.0.1:8080");
    assert_eq!(local.authority(), "http://127.0.0.1:8080");
    assert_eq!(local.scope(), "https://graph.microsoft.com/.default");
}

#[test]
fn plain_http_endpoints_off_this_machine_are_refused() {
    let err = config(
        &["--graph-url", "http://proxy.example.com"],
        &[("AZURE_CLIENT_SECRET", "s")],
    )
    .expect_err("plain http");
    assert!(format!("{err:#}").contains("only https"), "{err:#}");
    let err = config(
        &[],
        &[
            ("AZURE_CLIENT_SECRET", "s"),
            ("AZURE_AUTHORITY_HOST", "http://login.example.com"),
        ],
    )
    .expect_err("plain http");
    assert!(
        format!("{err:#}").contains("AZURE_AUTHORITY_HOST"),
        "{err:#}"
    );
}

#[test]
fn managed_identity_picks_app_service_or_imds() {
    let imds = config(&["--managed-identity"], &[]).expect("config");
    match imds.credential() {
        CredentialSource::ManagedIdentity {
            client_id,
            endpoint: ManagedIdentityEndpoint::Imds { url },
        } => {
            assert_eq!(url, "http://169.254.169.254/metadata/identity/oauth2/token");
            // AZURE_CLIENT_ID names a user-assigned identity, as in the Azure SDKs.
            assert_eq!(client_id.as_deref(), Some(CLIENT));
        }
        other => panic!("{other:?}"),
    }
    let app_service = config(
        &["--managed-identity"],
        &[
            ("IDENTITY_ENDPOINT", "http://localhost:42356/msi/token"),
            ("IDENTITY_HEADER", "h"),
        ],
    )
    .expect("config");
    assert!(matches!(
        app_service.credential(),
        CredentialSource::ManagedIdentity {
            endpoint: ManagedIdentityEndpoint::AppService { .. },
            ..
        }
    ));
}

#[test]
fn secrets_never_show_in_debug_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file: PathBuf = dir.path().join("secret");
    std::fs::write(&file, "file~secret~1\r\n").expect("write");
    let from_file = config(
        &["--client-secret-file", file.to_str().expect("utf-8")],
        &[],
    )
    .expect("config");
    let env_secret = config(&[], &[("AZURE_CLIENT_SECRET", "env~secret~2")]).expect("config");
    let header = config(
        &["--managed-identity"],
        &[
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/t"),
            ("IDENTITY_HEADER", "hdr~secret~3"),
        ],
    )
    .expect("config");
    let debug = format!(
        "{from_file:?} {env_secret:?} {header:?} {}",
        env_secret.describe()
    );
    for secret in ["file~secret~1", "env~secret~2", "hdr~secret~3"] {
        assert!(!debug.contains(secret), "{secret} leaked: {debug}");
    }
    match from_file.credential() {
        CredentialSource::ClientSecret { secret, .. } => {
            assert_eq!(secret.expose(), "file~secret~1")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_empty_secret_file_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("secret");
    std::fs::write(&file, "\n").expect("write");
    let err = config(
        &["--client-secret-file", file.to_str().expect("utf-8")],
        &[],
    )
    .expect_err("empty");
    assert!(err.to_string().contains("empty"), "{err}");
}
