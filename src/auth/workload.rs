//! The workload identity credential: a federated token that the platform (AKS workload
//! identity, GitHub Actions OIDC written to a file, ...) keeps fresh in the file named by
//! `AZURE_FEDERATED_TOKEN_FILE`, sent as the client assertion of the app named by
//! `AZURE_CLIENT_ID` in `AZURE_TENANT_ID`.

use std::path::PathBuf;

use futures::future::BoxFuture;

use super::AuthError;
use super::credential::{
    AccessToken, Credential, EntraApp, JWT_BEARER, Retry, TokenRequest, request_token,
};

/// Client credentials with a federated token read from a file.
pub(crate) struct WorkloadIdentityCredential {
    pub app: EntraApp,
    pub token_file: PathBuf,
    pub http: reqwest::Client,
}

impl Credential for WorkloadIdentityCredential {
    fn fetch(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            // Read on every fetch: the platform rotates the file (hourly on AKS).
            let assertion = tokio::fs::read_to_string(&self.token_file)
                .await
                .map_err(|err| {
                    AuthError::Unavailable(format!(
                        "federated token file {} (AZURE_FEDERATED_TOKEN_FILE): {err}",
                        self.token_file.display()
                    ))
                })?;
            let assertion = assertion.trim();
            if assertion.is_empty() {
                return Err(AuthError::Unavailable(format!(
                    "federated token file {} (AZURE_FEDERATED_TOKEN_FILE) is empty",
                    self.token_file.display()
                )));
            }
            let what = self.app.describe("workload identity");
            let request = self.app.request(
                &self.http,
                &[
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", assertion),
                ],
            );
            request_token(TokenRequest {
                request,
                what: &what,
                redact: &[assertion],
                retry: Retry::Standard,
            })
            .await
        })
    }
}
