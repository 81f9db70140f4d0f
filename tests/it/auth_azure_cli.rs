//! The Azure CLI credential against a fake `az` on PATH (a shell script in a temp dir). The
//! script is put in place by `cp`, in a process of its own: this process never holds the
//! script open for writing, so a child another test forks meanwhile cannot inherit that handle
//! and make running the script fail ("text file busy").

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;

use authbulk::testing::auth::AuthArgs;
use authbulk::testing::auth::{AuthError, TokenProvider};

const FAKE_AZ: &str = r#"#!/bin/sh
case "$*" in
  "account get-access-token --output json --resource https://graph.microsoft.com --tenant contoso.onmicrosoft.com")
    echo '{"accessToken":"cli-token-contoso","expiresOn":"2099-01-01 00:00:00.000000","expires_on":4070908800,"tenant":"contoso","tokenType":"Bearer"}' ;;
  "account get-access-token --output json --resource https://graph.microsoft.com --tenant mfa.onmicrosoft.com")
    echo "ERROR: AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access 'graph'." >&2
    echo "Run the command below to authenticate interactively: az login --tenant mfa.onmicrosoft.com" >&2
    exit 1 ;;
  "account get-access-token --output json --resource https://graph.microsoft.com")
    echo "ERROR: Please run 'az login' to setup account." >&2
    exit 1 ;;
  *)
    echo "unexpected arguments: $*" >&2
    exit 2 ;;
esac
"#;

async fn provider(path: &str, tenant: Option<&str>) -> Result<TokenProvider, AuthError> {
    let args = AuthArgs {
        tenant: tenant.map(str::to_string),
        ..AuthArgs::default()
    };
    let config = args
        .to_config_with_env(|name| (name == "PATH").then(|| path.to_string()))
        .expect("config");
    TokenProvider::from_config(&config, reqwest::Client::new())
}

#[tokio::test]
async fn azure_cli_token_is_used_and_its_failures_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let az = dir.path().join("az");
    let source = dir.path().join("az.txt");
    std::fs::write(&source, FAKE_AZ).expect("write");
    let copied = std::process::Command::new("cp")
        .arg(&source)
        .arg(&az)
        .status()
        .expect("cp");
    assert!(copied.success(), "cp {copied}");
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = dir.path().display().to_string();

    let tokens = provider(&path, Some("contoso.onmicrosoft.com"))
        .await
        .expect("provider");
    assert_eq!(tokens.token().await.expect("token"), "cli-token-contoso");
    // Cached: valid until 2099.
    assert_eq!(tokens.token().await.expect("token"), "cli-token-contoso");

    let err = provider(&path, Some("mfa.onmicrosoft.com"))
        .await
        .expect("provider")
        .check()
        .await
        .expect_err("mfa required");
    assert!(matches!(err, AuthError::Refused(_)), "{err:?}");
    assert!(err.to_string().contains("AADSTS50076"), "{err}");

    let err = provider(&path, None)
        .await
        .expect("provider")
        .check()
        .await
        .expect_err("no login");
    assert!(matches!(err, AuthError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("az login"), "{err}");
}
