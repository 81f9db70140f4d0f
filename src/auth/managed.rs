//! The managed identity credential, for authbulk running on Azure. Each platform announces its
//! local token endpoint differently (the Azure Identity conventions):
//!
//! | platform | variables | protocol |
//! |---|---|---|
//! | App Service, Functions, Container Apps | `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` | GET, `X-IDENTITY-HEADER`, api-version 2019-08-01 |
//! | Azure Arc-enabled servers | `IDENTITY_ENDPOINT` + `IMDS_ENDPOINT` | GET with `Metadata: true`, api-version 2019-11-01; 401 names a challenge file whose content is sent back as `Authorization: Basic` |
//! | Cloud Shell | `MSI_ENDPOINT` | POST form `resource=...` with `Metadata: true` |
//! | VMs, scale sets (IMDS) | none | GET with `Metadata: true`, api-version 2018-02-01; 404 and 410 retried |
//!
//! Sources: Microsoft Learn "How to use managed identities for App Service and Azure
//! Functions" (REST endpoint reference), "Authenticate against Azure resources with Azure
//! Arc-enabled servers" (challenge-token flow, `/var/opt/azcmagent/tokens`, `.key` files),
//! "How to use managed identities for Azure resources on an Azure VM to acquire an access
//! token" (IMDS errors: 404 identity not ready, 410 IMDS upgrading, retry with backoff), and the
//! Cloud Shell source of Microsoft's MSAL (`CloudShellManagedIdentitySource`).
//!
//! The IMDS host can be moved with `AZURE_POD_IDENTITY_AUTHORITY_HOST` (the Azure Identity
//! convention), which is also how tests point it at 127.0.0.1.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::future::BoxFuture;

use super::AuthError;
use super::config::ManagedIdentityEndpoint;
use super::credential::{AccessToken, Credential, Retry, Secret, TokenRequest, request_token};

/// The Arc agent's challenge files are a few hundred bytes; anything bigger is not one (MSAL
/// refuses over 4096 bytes too).
const ARC_CHALLENGE_MAX_BYTES: u64 = 4096;
/// How long the unauthenticated first call to the Arc agent may take.
const ARC_CHALLENGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the Azure Connected Machine agent writes challenge files (documented per platform).
pub(crate) fn default_arc_tokens_dir() -> PathBuf {
    if cfg!(windows) {
        let data = std::env::var_os("ProgramData").unwrap_or_else(|| "C:\\ProgramData".into());
        Path::new(&data)
            .join("AzureConnectedMachineAgent")
            .join("Tokens")
    } else {
        PathBuf::from("/var/opt/azcmagent/tokens")
    }
}

/// Tokens from the platform's managed identity endpoint.
pub(crate) struct ManagedIdentityCredential {
    pub endpoint: ManagedIdentityEndpoint,
    /// A user-assigned identity's client id; `None` for the system-assigned one.
    pub client_id: Option<String>,
    /// The resource (Graph root of the cloud, no `/.default`).
    pub resource: String,
    pub http: reqwest::Client,
}

impl Credential for ManagedIdentityCredential {
    fn fetch(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let mut query = vec![("resource", self.resource.as_str())];
            if let Some(client_id) = &self.client_id {
                query.push(("client_id", client_id.as_str()));
            }
            match &self.endpoint {
                ManagedIdentityEndpoint::Imds { url } => {
                    query.push(("api-version", "2018-02-01"));
                    let request = self.http.get(url).query(&query).header("Metadata", "true");
                    let what = format!("managed identity (IMDS at {url})");
                    request_token(TokenRequest {
                        request,
                        what: &what,
                        redact: &[],
                        retry: Retry::Imds,
                    })
                    .await
                }
                ManagedIdentityEndpoint::AppService { url, header } => {
                    query.push(("api-version", "2019-08-01"));
                    let request = self
                        .http
                        .get(url)
                        .query(&query)
                        .header("X-IDENTITY-HEADER", header.expose());
                    let what = format!("managed identity (IDENTITY_ENDPOINT {url})");
                    request_token(TokenRequest {
                        request,
                        what: &what,
                        redact: &[header.expose()],
                        retry: Retry::Standard,
                    })
                    .await
                }
                ManagedIdentityEndpoint::AzureArc { url, tokens_dir } => {
                    query.push(("api-version", "2019-11-01"));
                    self.arc(url, tokens_dir, &query).await
                }
                ManagedIdentityEndpoint::CloudShell { url } => {
                    // Cloud Shell takes the resource in a form body, not the query.
                    let request = self
                        .http
                        .post(url)
                        .header("Metadata", "true")
                        .form(&[("resource", self.resource.as_str())]);
                    let what = format!("managed identity (Cloud Shell, MSI_ENDPOINT {url})");
                    request_token(TokenRequest {
                        request,
                        what: &what,
                        redact: &[],
                        retry: Retry::Standard,
                    })
                    .await
                }
            }
        })
    }
}

impl ManagedIdentityCredential {
    /// The Arc flow: ask without proof, read the challenge file the 401 names (only after
    /// checking it is a small `.key` file in the agent's tokens folder, so a process posing as
    /// the agent cannot make us send it another file), and ask again with its content.
    async fn arc(
        &self,
        url: &str,
        tokens_dir: &Path,
        query: &[(&str, &str)],
    ) -> Result<AccessToken, AuthError> {
        let what = format!("managed identity (Azure Arc agent, IDENTITY_ENDPOINT {url})");
        let unavailable = |why: String| AuthError::Unavailable(format!("{what}: {why}"));
        let first = self
            .http
            .get(url)
            .query(query)
            .header("Metadata", "true")
            .timeout(ARC_CHALLENGE_TIMEOUT)
            .send()
            .await
            .map_err(|err| unavailable(format!("the agent could not be reached: {err}")))?;
        if first.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Err(unavailable(format!(
                "the agent answered HTTP {} instead of the 401 challenge",
                first.status().as_u16()
            )));
        }
        let challenge = first
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unavailable("the 401 has no WWW-Authenticate header".into()))?;
        let path = challenge
            .trim()
            .strip_prefix("Basic realm=")
            .map(|p| p.trim().trim_matches('"'))
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                unavailable(format!(
                    "unexpected WWW-Authenticate {challenge:?} (expected Basic realm=<file>)"
                ))
            })?;
        let secret = read_challenge(Path::new(path), tokens_dir).map_err(unavailable)?;
        let request = self
            .http
            .get(url)
            .query(query)
            .header("Metadata", "true")
            .header(
                reqwest::header::AUTHORIZATION,
                format!("Basic {}", secret.expose()),
            );
        request_token(TokenRequest {
            request,
            what: &what,
            redact: &[secret.expose()],
            retry: Retry::Standard,
        })
        .await
    }
}

/// The content of an Arc challenge file, after the checks the Arc documentation and MSAL make:
/// inside the agent's tokens folder (after resolving links), a `.key` file, at most 4 KiB.
fn read_challenge(path: &Path, tokens_dir: &Path) -> Result<Secret, String> {
    let shown = path.display();
    let dir = tokens_dir
        .canonicalize()
        .map_err(|err| format!("the Arc tokens folder {}: {err}", tokens_dir.display()))?;
    let file = path
        .canonicalize()
        .map_err(|err| format!("challenge file {shown}: {err}"))?;
    if file.parent() != Some(dir.as_path()) {
        return Err(format!(
            "the challenge file {shown} is not in the agent's tokens folder {}; refusing to read it",
            tokens_dir.display()
        ));
    }
    if file.extension().and_then(|e| e.to_str()) != Some("key") {
        return Err(format!(
            "the challenge file {shown} is not a .key file; refusing to read it"
        ));
    }
    let meta = std::fs::metadata(&file).map_err(|err| format!("challenge file {shown}: {err}"))?;
    if !meta.is_file() || meta.len() > ARC_CHALLENGE_MAX_BYTES {
        return Err(format!(
            "the challenge file {shown} is not a file of at most {ARC_CHALLENGE_MAX_BYTES} bytes; refusing to read it"
        ));
    }
    let text =
        std::fs::read_to_string(&file).map_err(|err| format!("challenge file {shown}: {err}"))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("the challenge file {shown} is empty"));
    }
    Ok(Secret::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_files_outside_the_tokens_folder_or_not_key_files_are_not_read() {
        let root = tempfile::tempdir().expect("tempdir");
        let tokens = root.path().join("tokens");
        std::fs::create_dir(&tokens).expect("mkdir");
        let good = tokens.join("abc.key");
        std::fs::write(&good, "challenge-secret\n").expect("write");
        assert_eq!(
            read_challenge(&good, &tokens).expect("good").expose(),
            "challenge-secret"
        );

        let outside = root.path().join("elsewhere.key");
        std::fs::write(&outside, "x").expect("write");
        let err = read_challenge(&outside, &tokens).expect_err("outside");
        assert!(err.contains("not in the agent's tokens folder"), "{err}");
        let sneaky = tokens.join("..").join("elsewhere.key");
        assert!(read_challenge(&sneaky, &tokens).is_err());

        let not_key = tokens.join("passwd");
        std::fs::write(&not_key, "x").expect("write");
        assert!(
            read_challenge(&not_key, &tokens)
                .expect_err("not .key")
                .contains(".key")
        );

        let big = tokens.join("big.key");
        std::fs::write(&big, vec![b'a'; 5000]).expect("write");
        assert!(
            read_challenge(&big, &tokens)
                .expect_err("big")
                .contains("at most 4096")
        );
    }
}
