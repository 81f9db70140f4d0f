//! The auth flags of `run`, `export` and `auth status` (flattened into each) and their
//! validation, with the Azure Identity environment variables, into one [`AuthConfig`]: the
//! credential chain of DESIGN.md picks the first configured source. Flags beat environment
//! variables, so an explicit `--certificate` wins over an `AZURE_CLIENT_SECRET` left in the
//! environment. The chain, in order (also in `auth status --help` and the README): `--access-token-env`, `--client-secret-file`,
//! `--certificate`, `--managed-identity`, `AZURE_CLIENT_SECRET`, `AZURE_CLIENT_CERTIFICATE_PATH`,
//! `AZURE_FEDERATED_TOKEN_FILE`, the sign-in stored by `authbulk login`, the Azure CLI.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use crate::auth::{
    AuthConfig, Cloud, CredentialSource, IMDS_HOST, IMDS_TOKEN_PATH, ManagedIdentityEndpoint,
    Secret, SignIn, SignInStore, check_identity_endpoint, check_tenant, default_arc_tokens_dir,
};

/// Authentication flags. Secrets are never flags: they come from files or environment variables.
#[derive(Debug, Clone, Default, Args)]
pub struct AuthArgs {
    /// Use the access token in this environment variable as is (no refresh).
    #[arg(
        long,
        value_name = "VAR",
        group = "credential",
        help_heading = "Authentication"
    )]
    pub access_token_env: Option<String>,
    /// Directory (tenant) id or domain [default: $AZURE_TENANT_ID].
    #[arg(long, value_name = "TENANT", help_heading = "Authentication")]
    pub tenant: Option<String>,
    /// Application (client) id of the app registration, or of a user-assigned managed identity
    /// [default: $AZURE_CLIENT_ID].
    #[arg(long, value_name = "ID", help_heading = "Authentication")]
    pub client_id: Option<String>,
    /// Read the client secret from this file (or set AZURE_CLIENT_SECRET).
    #[arg(
        long,
        value_name = "FILE",
        group = "credential",
        help_heading = "Authentication"
    )]
    pub client_secret_file: Option<PathBuf>,
    /// Certificate of the app registration: PEM (certificate + key) or PFX/PKCS#12
    /// [or $AZURE_CLIENT_CERTIFICATE_PATH].
    #[arg(
        long,
        value_name = "PATH",
        group = "credential",
        help_heading = "Authentication"
    )]
    pub certificate: Option<PathBuf>,
    /// Read the PFX or encrypted-key password from this file
    /// [or $AZURE_CLIENT_CERTIFICATE_PASSWORD].
    #[arg(long, value_name = "FILE", help_heading = "Authentication")]
    pub certificate_password_file: Option<PathBuf>,
    /// Use the managed identity of the Azure resource authbulk runs on: App Service, Functions,
    /// Container Apps (IDENTITY_ENDPOINT + IDENTITY_HEADER), Azure Arc (IDENTITY_ENDPOINT +
    /// IMDS_ENDPOINT), Cloud Shell (MSI_ENDPOINT), else IMDS. User-assigned with --client-id or
    /// AZURE_CLIENT_ID.
    #[arg(long, group = "credential", help_heading = "Authentication")]
    pub managed_identity: bool,
    /// The Microsoft cloud. Rows whose action its Graph does not offer are refused before any
    /// request (failed, notInCloud), also with --simulate: SMS sign-in (enable/disable-sms-signin)
    /// in china; remove-method of qrCodePin or hardwareOath, issue-qr-pin, reset-qr-pin,
    /// assign-oath-token and unassign-oath-token outside global (`tokens` refuses other
    /// clouds).
    #[arg(long, value_enum, default_value_t = CloudArg::Global, help_heading = "Authentication")]
    pub cloud: CloudArg,
    /// Send Graph requests to this root instead of the cloud's (a proxy, the simulator).
    #[arg(long, value_name = "URL", help_heading = "Authentication")]
    pub graph_url: Option<String>,
}

/// `--cloud` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum CloudArg {
    /// Global (commercial) cloud.
    #[default]
    Global,
    /// US Government (GCC High).
    Usgov,
    /// US Government, Department of Defense.
    Usgovdod,
    /// China (21Vianet).
    China,
}

impl From<CloudArg> for Cloud {
    fn from(arg: CloudArg) -> Self {
        match arg {
            CloudArg::Global => Cloud::Global,
            CloudArg::Usgov => Cloud::UsGov,
            CloudArg::Usgovdod => Cloud::UsGovDod,
            CloudArg::China => Cloud::China,
        }
    }
}

impl AuthArgs {
    /// Validate against the process environment.
    pub fn to_config(&self) -> anyhow::Result<AuthConfig> {
        self.to_config_with_env(|name| std::env::var(name).ok())
    }

    /// Validate with `env` answering for environment variables (tests pass their own).
    pub fn to_config_with_env(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<AuthConfig> {
        let env = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        let tenant = match self.tenant.clone().or_else(|| env("AZURE_TENANT_ID")) {
            Some(tenant) => Some(check_tenant(&tenant).context("--tenant or AZURE_TENANT_ID")?),
            None => None,
        };
        let client_id = self
            .client_id
            .clone()
            .or_else(|| env("AZURE_CLIENT_ID"))
            .map(|id| id.trim().to_string());
        let app = |what: &str| -> anyhow::Result<(String, String)> {
            match (&tenant, &client_id) {
                (Some(tenant), Some(client_id)) => Ok((tenant.clone(), client_id.clone())),
                _ => bail!(
                    "{what} needs the tenant (--tenant or AZURE_TENANT_ID) and the app's client id (--client-id or AZURE_CLIENT_ID)"
                ),
            }
        };
        let password = || -> anyhow::Result<Option<Secret>> {
            match &self.certificate_password_file {
                Some(file) => read_secret(file, "--certificate-password-file").map(Some),
                None => Ok(env("AZURE_CLIENT_CERTIFICATE_PASSWORD").map(Secret::new)),
            }
        };
        let certificate = |path: PathBuf| -> anyhow::Result<CredentialSource> {
            let (tenant, client_id) = app("a certificate")?;
            Ok(CredentialSource::Certificate {
                tenant,
                client_id,
                path,
                password: password()?,
            })
        };

        let cloud: Cloud = self.cloud.into();
        let mut reason = String::new();
        let mut because = |why: &str| reason = why.to_string();
        let credential = if let Some(variable) = &self.access_token_env {
            because("--access-token-env was given");
            let token = env(variable).with_context(|| {
                format!(
                    "--access-token-env {variable}: that environment variable is not set or empty"
                )
            })?;
            // Accept a pasted "Bearer eyJ..." header value too.
            let token = token.trim();
            let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
            CredentialSource::AccessToken {
                variable: variable.clone(),
                token: Secret::new(token),
            }
        } else if let Some(file) = &self.client_secret_file {
            because("--client-secret-file was given");
            let (tenant, client_id) = app("a client secret")?;
            let secret = read_secret(file, "--client-secret-file")?;
            CredentialSource::ClientSecret {
                tenant,
                client_id,
                secret,
            }
        } else if let Some(path) = &self.certificate {
            because("--certificate was given");
            certificate(path.clone())?
        } else if self.managed_identity {
            because("--managed-identity was given");
            CredentialSource::ManagedIdentity {
                client_id: client_id.clone(),
                endpoint: managed_identity_endpoint(&env, client_id.as_deref())?,
            }
        } else if let Some(secret) = env("AZURE_CLIENT_SECRET") {
            because("AZURE_CLIENT_SECRET is set");
            let (tenant, client_id) = app("AZURE_CLIENT_SECRET")?;
            CredentialSource::ClientSecret {
                tenant,
                client_id,
                secret: Secret::new(secret),
            }
        } else if let Some(path) = env("AZURE_CLIENT_CERTIFICATE_PATH") {
            because("AZURE_CLIENT_CERTIFICATE_PATH is set");
            certificate(PathBuf::from(path))?
        } else if let Some(file) = env("AZURE_FEDERATED_TOKEN_FILE") {
            because("AZURE_FEDERATED_TOKEN_FILE is set");
            let (tenant, client_id) = app("AZURE_FEDERATED_TOKEN_FILE")?;
            CredentialSource::WorkloadIdentity {
                tenant,
                client_id,
                token_file: PathBuf::from(file),
            }
        } else if let Some((sign_in, store)) = stored_sign_in(&env)? {
            because("no app credential is configured and `authbulk login` stored a sign-in");
            if sign_in.cloud != cloud.name() {
                bail!(
                    "the stored sign-in is for the {} cloud; pass --cloud {} or run `authbulk login --cloud {}`",
                    sign_in.cloud,
                    sign_in.cloud,
                    cloud.name()
                );
            }
            CredentialSource::SignedIn { sign_in, store }
        } else {
            let Some(program) = find_on_path("az", env("PATH").as_deref()) else {
                bail!(
                    "no credential configured. Use one of: `authbulk login` (sign in as yourself); \
                     AZURE_CLIENT_SECRET or --client-secret-file; \
                     --certificate or AZURE_CLIENT_CERTIFICATE_PATH; AZURE_FEDERATED_TOKEN_FILE; \
                     --managed-identity; --access-token-env VAR; or install the Azure CLI and run `az login`. \
                     The app's ids come from --tenant/--client-id or AZURE_TENANT_ID/AZURE_CLIENT_ID"
                );
            };
            because(
                "nothing else is configured and `az` is on PATH (its token lacks the authentication-method scopes unless az is signed in as an app or managed identity)",
            );
            CredentialSource::AzureCli {
                program,
                tenant: tenant.clone(),
            }
        };

        let mut config = AuthConfig::new(cloud, credential).with_reason(reason);
        if let Some(url) = &self.graph_url {
            config = config.with_graph_root(url)?;
        }
        if let Some(host) = env("AZURE_AUTHORITY_HOST") {
            config = config.with_authority(&host)?;
        }
        Ok(config)
    }
}

/// The sign-in `authbulk login` stored, if any.
fn stored_sign_in(
    env: &impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<(SignIn, SignInStore)>> {
    let Some(store) = SignInStore::locate(env)? else {
        return Ok(None);
    };
    Ok(store.load()?.map(|sign_in| (sign_in, store)))
}

/// A secret from a file, without the line break an editor adds.
pub(crate) fn read_secret(path: &Path, flag: &str) -> anyhow::Result<Secret> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("{flag} {}", path.display()))?;
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.trim().is_empty() {
        bail!("{flag} {}: the file is empty", path.display());
    }
    Ok(Secret::new(secret))
}

/// The platform announces its endpoint (see `auth::managed` for the protocols); elsewhere it
/// is IMDS, whose host `AZURE_POD_IDENTITY_AUTHORITY_HOST` moves (the Azure Identity
/// convention). The order is Azure Identity's: App Service, Service Fabric, Arc, Cloud Shell,
/// IMDS.
pub(crate) fn managed_identity_endpoint(
    env: &impl Fn(&str) -> Option<String>,
    client_id: Option<&str>,
) -> anyhow::Result<ManagedIdentityEndpoint> {
    let identity_endpoint = env("IDENTITY_ENDPOINT");
    if let (Some(url), Some(header)) = (&identity_endpoint, env("IDENTITY_HEADER")) {
        if env("IDENTITY_SERVER_THUMBPRINT").is_some() {
            bail!(
                "--managed-identity: this is Azure Service Fabric (IDENTITY_SERVER_THUMBPRINT is set), \
                 whose managed identity protocol authbulk does not support; use a client secret or certificate"
            );
        }
        let url = check_identity_endpoint(url).context("IDENTITY_ENDPOINT")?;
        return Ok(ManagedIdentityEndpoint::AppService {
            url,
            header: Secret::new(header),
        });
    }
    if let (Some(url), Some(_)) = (&identity_endpoint, env("IMDS_ENDPOINT")) {
        if client_id.is_some() {
            bail!(
                "--managed-identity on Azure Arc: Arc-enabled servers have only a system-assigned identity; \
                 drop --client-id / AZURE_CLIENT_ID"
            );
        }
        let url = check_identity_endpoint(url).context("IDENTITY_ENDPOINT")?;
        let tokens_dir = env(ARC_TOKENS_DIR_VARIABLE)
            .map(PathBuf::from)
            .unwrap_or_else(default_arc_tokens_dir);
        return Ok(ManagedIdentityEndpoint::AzureArc { url, tokens_dir });
    }
    if let Some(url) = env("MSI_ENDPOINT") {
        if client_id.is_some() {
            bail!(
                "--managed-identity in Cloud Shell: Cloud Shell has only the signed-in user's identity; \
                 drop --client-id / AZURE_CLIENT_ID"
            );
        }
        let url = check_identity_endpoint(&url).context("MSI_ENDPOINT")?;
        return Ok(ManagedIdentityEndpoint::CloudShell { url });
    }
    let host = match env("AZURE_POD_IDENTITY_AUTHORITY_HOST") {
        Some(host) => host.trim().trim_end_matches('/').to_string(),
        None => IMDS_HOST.to_string(),
    };
    let url = format!("{host}{IMDS_TOKEN_PATH}");
    reqwest::Url::parse(&url)
        .with_context(|| format!("AZURE_POD_IDENTITY_AUTHORITY_HOST {host:?}"))?;
    Ok(ManagedIdentityEndpoint::Imds { url })
}

/// Moves the folder an Azure Arc challenge file must be in (tests; the agent's own folder
/// otherwise).
pub const ARC_TOKENS_DIR_VARIABLE: &str = "AUTHBULK_ARC_TOKENS_DIR";

/// The first executable `name` in the directories of `path`.
fn find_on_path(name: &str, path: Option<&str>) -> Option<PathBuf> {
    let names: &[&str] = if cfg!(windows) {
        &["az.cmd", "az.exe"]
    } else {
        &[name]
    };
    std::env::split_paths(path?)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|candidate| candidate.is_file())
}
