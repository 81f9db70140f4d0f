//! The validated authentication config: which credential of the chain was chosen, the cloud,
//! and the endpoints after overrides. Built by `cli::auth_flags` from the flags and the Azure
//! Identity environment variables; read by [`super::TokenProvider::from_config`] and by the
//! Graph client ([`AuthConfig::graph_root`]).

use std::path::PathBuf;

use anyhow::{Context, bail};

use super::cloud::Cloud;
use super::credential::Secret;
use super::sign_in_store::{SignIn, SignInStore};

/// Where tokens come from, the first configured link of the chain in DESIGN.md.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    /// A ready token from an environment variable (`--access-token-env VAR`); never refreshed.
    AccessToken {
        /// The variable's name, for messages.
        variable: String,
        /// The token.
        token: Secret,
    },
    /// An app registration's client secret.
    ClientSecret {
        /// Directory (tenant) id or domain.
        tenant: String,
        /// Application (client) id.
        client_id: String,
        /// The secret.
        secret: Secret,
    },
    /// An app registration's certificate (PEM or PFX).
    Certificate {
        /// Directory (tenant) id or domain.
        tenant: String,
        /// Application (client) id.
        client_id: String,
        /// The PEM or PFX file.
        path: PathBuf,
        /// PFX password, or the password of an encrypted PKCS#8 key.
        password: Option<Secret>,
    },
    /// A federated token in a file (`AZURE_FEDERATED_TOKEN_FILE`).
    WorkloadIdentity {
        /// Directory (tenant) id or domain.
        tenant: String,
        /// Application (client) id.
        client_id: String,
        /// The file the platform keeps the federated token in.
        token_file: PathBuf,
    },
    /// The managed identity of the Azure resource authbulk runs on.
    ManagedIdentity {
        /// A user-assigned identity's client id; `None` for the system-assigned identity.
        client_id: Option<String>,
        /// The endpoint that hands out its tokens.
        endpoint: ManagedIdentityEndpoint,
    },
    /// The admin's own sign-in from `authbulk login` (delegated; refreshed with its stored
    /// refresh token).
    SignedIn {
        /// Who signed in, to which tenant and app.
        sign_in: SignIn,
        /// Where the refresh token is.
        store: SignInStore,
    },
    /// The Azure CLI's logged-in account.
    AzureCli {
        /// The `az` program.
        program: PathBuf,
        /// Tenant to ask the CLI for, when one was configured.
        tenant: Option<String>,
    },
}

/// The endpoint of a managed identity.
#[derive(Debug, Clone)]
pub enum ManagedIdentityEndpoint {
    /// The instance metadata service of VMs (`http://169.254.169.254/metadata/identity/oauth2/token`).
    Imds {
        /// Full token URL.
        url: String,
    },
    /// App Service, Functions, Container Apps (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`).
    AppService {
        /// Full token URL.
        url: String,
        /// The header value that proves the caller runs inside the resource.
        header: Secret,
    },
    /// An Azure Arc-enabled server (`IDENTITY_ENDPOINT` and `IMDS_ENDPOINT`, no header): the
    /// local agent answers 401 with the path of a challenge file only a local administrator can
    /// read, whose content proves the caller runs on the machine.
    AzureArc {
        /// Full token URL.
        url: String,
        /// The folder the challenge file must be in (the agent's documented tokens folder).
        tokens_dir: PathBuf,
    },
    /// Azure Cloud Shell (`MSI_ENDPOINT`): a form POST with the `Metadata` header.
    CloudShell {
        /// Full token URL.
        url: String,
    },
}

impl ManagedIdentityEndpoint {
    /// The platform, for messages and `auth status`.
    pub fn platform(&self) -> &'static str {
        match self {
            ManagedIdentityEndpoint::Imds { .. } => "instance metadata service (IMDS)",
            ManagedIdentityEndpoint::AppService { .. } => {
                "App Service / Functions / Container Apps (IDENTITY_ENDPOINT)"
            }
            ManagedIdentityEndpoint::AzureArc { .. } => "Azure Arc agent (IDENTITY_ENDPOINT)",
            ManagedIdentityEndpoint::CloudShell { .. } => "Cloud Shell (MSI_ENDPOINT)",
        }
    }
}

/// The default IMDS host.
pub(crate) const IMDS_HOST: &str = "http://169.254.169.254";
/// The IMDS token path, appended to the IMDS host.
pub(crate) const IMDS_TOKEN_PATH: &str = "/metadata/identity/oauth2/token";

/// Validated authentication settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    cloud: Cloud,
    graph_root: String,
    authority: String,
    credential: CredentialSource,
    reason: String,
}

impl AuthConfig {
    /// The cloud's endpoints with this credential.
    pub fn new(cloud: Cloud, credential: CredentialSource) -> Self {
        AuthConfig {
            cloud,
            graph_root: cloud.graph_root().to_string(),
            authority: cloud.authority().to_string(),
            credential,
            reason: String::new(),
        }
    }

    /// Why the chain chose this credential (for `auth status`).
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    /// Why the chain chose this credential.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Send Graph requests to `url` instead of the cloud's root (`--graph-url`: a proxy, the
    /// simulator). Tokens are still asked for the cloud's Graph resource.
    pub fn with_graph_root(mut self, url: &str) -> anyhow::Result<Self> {
        self.graph_root = check_endpoint(url).context("--graph-url")?;
        Ok(self)
    }

    /// Ask this authority host for tokens instead of the cloud's (`AZURE_AUTHORITY_HOST`).
    pub fn with_authority(mut self, url: &str) -> anyhow::Result<Self> {
        self.authority = check_endpoint(url).context("AZURE_AUTHORITY_HOST")?;
        Ok(self)
    }

    /// The Graph service root requests go to, without trailing slash
    /// (`https://graph.microsoft.com` or the override).
    pub fn graph_root(&self) -> &str {
        &self.graph_root
    }

    /// The authority host tokens come from, without trailing slash.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The cloud.
    pub fn cloud(&self) -> Cloud {
        self.cloud
    }

    /// The chosen credential.
    pub fn credential(&self) -> &CredentialSource {
        &self.credential
    }

    /// The OAuth scope of the client-credentials flows: `{cloud's Graph root}/.default`.
    pub fn scope(&self) -> String {
        format!("{}/.default", self.cloud.graph_root())
    }

    /// The token endpoint of a tenant: `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.authority)
    }

    /// One line naming the credential, for logs (never a secret).
    pub fn describe(&self) -> String {
        match &self.credential {
            CredentialSource::AccessToken { variable, .. } => {
                format!("access token from ${variable}")
            }
            CredentialSource::ClientSecret {
                tenant, client_id, ..
            } => {
                format!("client secret of app {client_id} in tenant {tenant}")
            }
            CredentialSource::Certificate {
                tenant,
                client_id,
                path,
                ..
            } => format!(
                "certificate {} of app {client_id} in tenant {tenant}",
                path.display()
            ),
            CredentialSource::WorkloadIdentity {
                tenant, client_id, ..
            } => {
                format!("workload identity of app {client_id} in tenant {tenant}")
            }
            CredentialSource::ManagedIdentity { client_id, .. } => match client_id {
                Some(id) => format!("user-assigned managed identity {id}"),
                None => "system-assigned managed identity".to_string(),
            },
            CredentialSource::SignedIn { sign_in, .. } => format!(
                "sign-in of {} (authbulk login) in tenant {}",
                sign_in.user.as_deref().unwrap_or("a user"),
                sign_in.tenant
            ),
            CredentialSource::AzureCli { .. } => "Azure CLI account".to_string(),
        }
    }
}

/// An endpoint URL that may receive secrets or tokens: HTTPS, or plain HTTP to this machine
/// only (the simulator, a local proxy). Returned without trailing slash.
pub(crate) fn check_endpoint(url: &str) -> anyhow::Result<String> {
    check_url(url, false)
}

/// A managed identity endpoint the platform announces: as [`check_endpoint`], and plain HTTP to
/// a link-local address too (169.254.0.0/16, fe80::/10). Linux App Service and Functions set
/// `IDENTITY_ENDPOINT=http://169.254.129.2:8081/msi/token`; a link-local address is never
/// routed off the host's link, so the identity header does not cross the network.
pub(crate) fn check_identity_endpoint(url: &str) -> anyhow::Result<String> {
    check_url(url, true)
}

fn check_url(url: &str, link_local: bool) -> anyhow::Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(trimmed).with_context(|| format!("{url:?} is not a URL"))?;
    if parsed.query().is_some() || parsed.fragment().is_some() {
        bail!("{url:?} must not have a query or fragment");
    }
    match parsed.scheme() {
        "https" => {}
        "http" if is_loopback(&parsed) => {}
        "http" if link_local && is_link_local(&parsed) => {}
        "http" if link_local => bail!(
            "{url:?} uses plain http; only https is allowed except to this machine (127.0.0.1, ::1, localhost) or a link-local address (169.254.0.0/16, fe80::/10)"
        ),
        "http" => bail!(
            "{url:?} uses plain http; only https is allowed except to this machine (127.0.0.1, ::1, localhost)"
        ),
        other => bail!("{url:?} has scheme {other}; use https"),
    }
    Ok(trimmed.to_string())
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn is_link_local(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    match host.trim_start_matches('[').trim_end_matches(']').parse() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_link_local(),
        // fe80::/10: the first ten bits are 1111 1110 10.
        Ok(std::net::IpAddr::V6(ip)) => (ip.segments()[0] & 0xffc0) == 0xfe80,
        Err(_) => false,
    }
}

/// A tenant id or domain: it goes into the token endpoint's path, so only the characters of a
/// GUID or a DNS name are accepted.
pub(crate) fn check_tenant(tenant: &str) -> anyhow::Result<String> {
    let tenant = tenant.trim();
    let ok = !tenant.is_empty()
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !tenant.starts_with('.');
    if !ok {
        bail!("tenant {tenant:?} is not a tenant id (GUID) or domain");
    }
    Ok(tenant.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_https_or_local_http() {
        assert_eq!(
            check_endpoint("https://login.example.com/").expect("https"),
            "https://login.example.com"
        );
        assert!(check_endpoint("http://127.0.0.1:8080").is_ok());
        assert!(check_endpoint("http://localhost:1").is_ok());
        assert!(check_endpoint("http://[::1]:1").is_ok());
        assert!(check_endpoint("http://proxy.example.com").is_err());
        assert!(check_endpoint("ftp://x").is_err());
        assert!(check_endpoint("https://x/?a=b").is_err());
        assert!(check_endpoint("login.microsoftonline.com").is_err());
    }

    #[test]
    fn identity_endpoints_may_be_plain_http_to_link_local_addresses_only() {
        for ok in [
            "http://169.254.129.2:8081/msi/token",
            "http://169.254.169.254/metadata/identity/oauth2/token",
            "http://[fe80::1]:8081/msi/token",
            "http://127.0.0.1:41000/MSI/token/",
            "https://identity.example.com/token",
        ] {
            assert!(check_identity_endpoint(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://169.255.0.1/msi/token",
            "http://10.0.0.4:8081/msi/token",
            "http://[fec0::1]/msi/token",
            "http://identity.example.com/token",
        ] {
            let err = check_identity_endpoint(bad).expect_err(bad).to_string();
            assert!(err.contains("link-local"), "{err}");
        }
        // Other endpoints (authority, Graph) keep the stricter rule.
        assert!(check_endpoint("http://169.254.129.2:8081/msi/token").is_err());
    }

    #[test]
    fn tenants_are_guids_or_domains() {
        assert!(check_tenant("72f988bf-86f1-41af-91ab-2d7cd011db47").is_ok());
        assert!(check_tenant("contoso.onmicrosoft.com").is_ok());
        assert!(check_tenant("../users").is_err());
        assert!(check_tenant("a/b").is_err());
        assert!(check_tenant("").is_err());
    }

    #[test]
    fn overrides_change_endpoints_but_not_the_scope() {
        let config = AuthConfig::new(
            Cloud::UsGov,
            CredentialSource::AzureCli {
                program: "az".into(),
                tenant: None,
            },
        )
        .with_graph_root("http://127.0.0.1:9/")
        .expect("graph")
        .with_authority("http://127.0.0.1:10")
        .expect("authority");
        assert_eq!(config.graph_root(), "http://127.0.0.1:9");
        assert_eq!(
            config.token_url("t"),
            "http://127.0.0.1:10/t/oauth2/v2.0/token"
        );
        assert_eq!(config.scope(), "https://graph.microsoft.us/.default");
    }
}
