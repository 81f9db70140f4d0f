//! The Azure CLI credential, the last link of the chain: the token of the admin logged in with
//! `az login`, from `az account get-access-token --resource {graph} --output json`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Deserialize;
use tokio::time::Instant;

use super::AuthError;
use super::credential::{AccessToken, Credential, Secret, unix_now};

/// The CLI can be slow (it is Python and may refresh its own token), but not this slow.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// Tokens from `az`.
pub(crate) struct AzureCliCredential {
    /// The `az` program (resolved on PATH when the config was built).
    pub program: PathBuf,
    /// The resource (Graph root of the cloud, no `/.default`).
    pub resource: String,
    /// `--tenant`, when one was configured.
    pub tenant: Option<String>,
}

/// The fields of `az account get-access-token` that matter. `expires_on` (Unix seconds) exists
/// since CLI 2.54; older ones only give `expiresOn`, a local time without zone.
#[derive(Deserialize)]
struct CliToken {
    #[serde(rename = "accessToken")]
    access_token: String,
    #[serde(default)]
    expires_on: Option<i64>,
    #[serde(default, rename = "expiresOn")]
    expires_on_local: Option<String>,
}

impl Credential for AzureCliCredential {
    fn fetch(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let mut command = tokio::process::Command::new(&self.program);
            command
                .args([
                    "account",
                    "get-access-token",
                    "--output",
                    "json",
                    "--resource",
                ])
                .arg(&self.resource)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            if let Some(tenant) = &self.tenant {
                command.args(["--tenant", tenant]);
            }
            let started = Instant::now();
            let output = match tokio::time::timeout(CLI_TIMEOUT, command.output()).await {
                Err(_) => {
                    return Err(AuthError::Unavailable(format!(
                        "Azure CLI: `az account get-access-token` did not answer within {} s",
                        CLI_TIMEOUT.as_secs()
                    )));
                }
                Ok(Err(err)) => {
                    return Err(AuthError::Unavailable(format!(
                        "Azure CLI ({}) could not be run: {err}; install it and run `az login`, or configure another credential",
                        self.program.display()
                    )));
                }
                Ok(Ok(output)) => output,
            };
            if !output.status.success() {
                return Err(cli_failure(&String::from_utf8_lossy(&output.stderr)));
            }
            parse(&output.stdout, started)
        })
    }
}

/// Turn the CLI's complaint into an error; an AADSTS code in it means Entra refused.
fn cli_failure(stderr: &str) -> AuthError {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(3)
        .collect();
    let text = if lines.is_empty() {
        "it failed without saying why".to_string()
    } else {
        lines.join(" ")
    };
    let message = format!("Azure CLI: {text}");
    if stderr.contains("AADSTS") {
        AuthError::Refused(message)
    } else {
        AuthError::Unavailable(message)
    }
}

fn parse(stdout: &[u8], started: Instant) -> Result<AccessToken, AuthError> {
    let token: CliToken = serde_json::from_slice(stdout).map_err(|err| {
        AuthError::Unavailable(format!(
            "Azure CLI: `az account get-access-token` printed something that is not a token ({err})"
        ))
    })?;
    let expires_at_unix = match (token.expires_on, token.expires_on_local.as_deref()) {
        (Some(at), _) => at as f64,
        (None, Some(local)) => local_to_unix(local).ok_or_else(|| {
            AuthError::Unavailable(format!("Azure CLI: unreadable expiry {local:?}"))
        })?,
        (None, None) => {
            return Err(AuthError::Unavailable(
                "Azure CLI: the token has no expiry".into(),
            ));
        }
    };
    let lifetime = (expires_at_unix - unix_now()).max(0.0);
    Ok(AccessToken {
        token: Secret::new(token.access_token),
        expires_at: started + Duration::from_secs_f64(lifetime.min(1e9)),
    })
}

/// `2025-01-01 12:00:00.000000` in the machine's local time zone, as Unix seconds.
fn local_to_unix(text: &str) -> Option<f64> {
    use chrono::TimeZone;
    let naive = chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S%.f").ok()?;
    let local = chrono::Local.from_local_datetime(&naive).earliest()?;
    Some(local.timestamp() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn cli_expiry_is_read_from_expires_on_or_local_expires_on() {
        let now = Instant::now();
        let at = unix_now() as i64 + 1800;
        let body = format!(
            r#"{{"accessToken":"t","expiresOn":"2000-01-01 00:00:00.000000","expires_on":{at}}}"#
        );
        let token = parse(body.as_bytes(), now).expect("token");
        let lifetime = (token.expires_at - now).as_secs();
        assert!((1790..=1800).contains(&lifetime), "{lifetime}");

        let local = chrono::Local::now() + chrono::Duration::seconds(600);
        let body = format!(
            r#"{{"accessToken":"t","expiresOn":"{}"}}"#,
            local.format("%Y-%m-%d %H:%M:%S%.6f")
        );
        let lifetime = (parse(body.as_bytes(), now).expect("token").expires_at - now).as_secs();
        assert!((590..=600).contains(&lifetime), "{lifetime}");
    }

    #[test]
    fn cli_failure_with_aadsts_is_a_refusal() {
        let err =
            cli_failure("ERROR: AADSTS700082: The refresh token has expired.\nRun az login\n");
        assert!(matches!(err, AuthError::Refused(_)));
        assert!(err.to_string().contains("AADSTS700082"), "{err}");
        let err = cli_failure("ERROR: Please run 'az login' to setup account.\n");
        assert!(matches!(err, AuthError::Unavailable(_)));
    }
}
