//! The client secret credential: an app registration's secret (`AZURE_CLIENT_SECRET` or
//! `--client-secret-file`) exchanged at the token endpoint.

use futures::future::BoxFuture;

use super::AuthError;
use super::credential::{
    AccessToken, Credential, EntraApp, Retry, Secret, TokenRequest, request_token,
};

/// Client credentials with a shared secret.
pub(crate) struct ClientSecretCredential {
    pub app: EntraApp,
    pub secret: Secret,
    pub http: reqwest::Client,
}

impl Credential for ClientSecretCredential {
    fn fetch(&self) -> BoxFuture<'_, Result<AccessToken, AuthError>> {
        Box::pin(async move {
            let what = self.app.describe("client secret");
            let request = self
                .app
                .request(&self.http, &[("client_secret", self.secret.expose())]);
            request_token(TokenRequest {
                request,
                what: &what,
                redact: &[self.secret.expose()],
                retry: Retry::Standard,
            })
            .await
        })
    }
}
