//! The managed identity credential, for authbulk running on Azure: the instance metadata
//! service (IMDS) of VMs and scale sets, or the local identity endpoint that App Service,
//! Functions and Container Apps announce with `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`.
//! The IMDS host can be moved with `AZURE_POD_IDENTITY_AUTHORITY_HOST` (the Azure Identity
//! convention), which is also how tests point it at 127.0.0.1.

use futures::future::BoxFuture;

use super::AuthError;
use super::config::ManagedIdentityEndpoint;
use super::credential::{AccessToken, Credential, TokenRequest, request_token};

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
            let (request, what, header) = match &self.endpoint {
                ManagedIdentityEndpoint::Imds { url } => {
                    query.push(("api-version", "2018-02-01"));
                    let request = self.http.get(url).query(&query).header("Metadata", "true");
                    (request, format!("managed identity (IMDS at {url})"), "")
                }
                ManagedIdentityEndpoint::AppService { url, header } => {
                    query.push(("api-version", "2019-08-01"));
                    let request = self
                        .http
                        .get(url)
                        .query(&query)
                        .header("X-IDENTITY-HEADER", header.expose());
                    (
                        request,
                        format!("managed identity (IDENTITY_ENDPOINT {url})"),
                        header.expose(),
                    )
                }
            };
            request_token(TokenRequest {
                request,
                what: &what,
                redact: &[header],
            })
            .await
        })
    }
}
