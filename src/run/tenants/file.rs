//! The tenants file of `run --tenants FILE`: one tenant per row, and how authbulk gets that
//! tenant's token, without a secret in the file.
//!
//! CSV with a header line; `#` lines are comments; cells are trimmed. Columns (any order, names
//! in any case):
//!
//! | column | | |
//! |---|---|---|
//! | `tenant` | required | directory (tenant) id or verified domain |
//! | `credential` | required | a reference to the credential (below) |
//! | `client_id` | optional | the app's client id in this tenant; else `--client-id` / `AZURE_CLIENT_ID` |
//! | `name` | optional | a label for messages and the summaries |
//!
//! Credentials, the sources of the single-tenant chain ([`crate::auth`]) named per row:
//!
//! | `credential` | |
//! |---|---|
//! | `secret-env:VAR` | the app's client secret in environment variable `VAR` |
//! | `secret-file:PATH` | the client secret in a file (relative paths from the tenants file's folder) |
//! | `cert:PATH` | the app's certificate, PEM or PFX (password: `--certificate-password-file` or `AZURE_CLIENT_CERTIFICATE_PASSWORD`) |
//! | `access-token-env:VAR` | a ready access token in `VAR` (not refreshed) |
//! | `workload-identity` | the federated token in `AZURE_FEDERATED_TOKEN_FILE` |
//! | `managed-identity` | the managed identity of the resource authbulk runs on (its own tenant only) |
//!
//! A multi-tenant app consented in each tenant has one client id and one secret or certificate
//! for all: every row may name the same `secret-env:AZURE_CLIENT_SECRET`. The sign-in of
//! `authbulk login` is not offered: it keeps one sign-in, for one tenant.
//!
//! Every problem is found before any request (exit 2), named by file, line and column: an
//! unknown column or scheme, a missing tenant or credential, a tenant that is not an id or
//! domain, the same tenant twice, a variable not set, a secret file that cannot be read, a
//! certificate that is not a file, a missing client id.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::auth::{AuthConfig, Cloud, CredentialSource, ManagedIdentityEndpoint, Secret};

/// One tenant of the file.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// The line of the file it is on.
    pub line: u64,
    /// The tenant as the file names it (id or domain): the report's `tenant` column.
    pub tenant: String,
    /// The `name` column.
    pub name: Option<String>,
    /// Its credential, with the run's cloud and endpoints.
    pub auth: AuthConfig,
}

impl Tenant {
    /// How messages name it: `name (tenant)`, or the tenant.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{name} ({})", self.tenant),
            None => self.tenant.clone(),
        }
    }
}

/// What the rows do not say: the run's cloud and endpoints and the defaults of the auth flags.
pub struct Settings<'a> {
    /// `--cloud`.
    pub cloud: Cloud,
    /// `--graph-url`.
    pub graph_url: Option<String>,
    /// `AZURE_AUTHORITY_HOST`.
    pub authority: Option<String>,
    /// `--client-id` / `AZURE_CLIENT_ID`.
    pub client_id: Option<String>,
    /// `--certificate-password-file` / `AZURE_CLIENT_CERTIFICATE_PASSWORD`.
    pub certificate_password: Option<Secret>,
    /// The process environment.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Where the managed identity's tokens come from, for a user-assigned client id or none.
    pub managed_identity: &'a dyn Fn(Option<&str>) -> Result<ManagedIdentityEndpoint>,
}

const COLUMNS: [&str; 4] = ["tenant", "credential", "client_id", "name"];
const SCHEMES: &str = "secret-env:VAR, secret-file:PATH, cert:PATH, access-token-env:VAR, \
                       workload-identity, managed-identity";

/// Read and check the tenants file.
pub fn read(path: &Path, settings: &Settings<'_>) -> Result<Vec<Tenant>> {
    let file = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("--tenants {file}"))?;
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .with_context(|| format!("{file}:1: the header line cannot be read"))?
        .clone();
    let mut columns: HashMap<&str, usize> = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        let wanted = name.to_ascii_lowercase().replace([' ', '-'], "_");
        let Some(known) = COLUMNS.iter().find(|c| **c == wanted) else {
            bail!(
                "{file}:1: column {name:?} is not a tenants file column (tenant, credential, \
                 client_id, name)"
            );
        };
        if columns.insert(known, i).is_some() {
            bail!("{file}:1: column {known} appears twice");
        }
    }
    for required in ["tenant", "credential"] {
        if !columns.contains_key(required) {
            bail!(
                "{file}:1: the header has no {required} column (tenant,credential[,client_id][,name])"
            );
        }
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tenants: Vec<Tenant> = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("{file}: a line cannot be read as CSV"))?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() > header.len() {
            bail!(
                "{file}:{line}: {} cells, but the header names {} columns",
                record.len(),
                header.len()
            );
        }
        let cell = |column: &str| {
            columns
                .get(column)
                .and_then(|i| record.get(*i))
                .filter(|v| !v.is_empty())
        };
        let at = |column: &str| format!("{file}:{line}: column {column}");
        let Some(tenant) = cell("tenant") else {
            bail!("{}: empty (a tenant id or domain)", at("tenant"));
        };
        let tenant = crate::auth::check_tenant(tenant).with_context(|| at("tenant"))?;
        if let Some(earlier) = tenants
            .iter()
            .find(|t| t.tenant.eq_ignore_ascii_case(&tenant))
        {
            bail!(
                "{}: tenant {tenant} is also on line {}: each tenant once",
                at("tenant"),
                earlier.line
            );
        }
        let Some(credential) = cell("credential") else {
            bail!("{}: empty (one of {SCHEMES})", at("credential"));
        };
        let client_id = cell("client_id")
            .map(str::to_string)
            .or_else(|| settings.client_id.clone());
        let credential = credential_source(credential, &tenant, client_id, dir, settings)
            .with_context(|| at("credential"))?;
        let mut auth = AuthConfig::new(settings.cloud, credential)
            .with_reason(format!("the tenants file {file}, line {line}"));
        if let Some(url) = &settings.graph_url {
            auth = auth.with_graph_root(url)?;
        }
        if let Some(host) = &settings.authority {
            auth = auth.with_authority(host)?;
        }
        tenants.push(Tenant {
            line,
            tenant,
            name: cell("name").map(str::to_string),
            auth,
        });
    }
    if tenants.is_empty() {
        bail!("{file}: no tenants (a header line, then one tenant per line)");
    }
    Ok(tenants)
}

/// The credential a `credential` cell names.
fn credential_source(
    cell: &str,
    tenant: &str,
    client_id: Option<String>,
    dir: &Path,
    settings: &Settings<'_>,
) -> Result<CredentialSource> {
    let (scheme, value) = match cell.split_once(':') {
        Some((scheme, value)) => (scheme.trim(), Some(value.trim())),
        None => (cell, None),
    };
    let env = |var: &str| (settings.env)(var).filter(|v| !v.trim().is_empty());
    let app = || -> Result<(String, String)> {
        match &client_id {
            Some(id) => Ok((tenant.to_string(), id.clone())),
            None => bail!(
                "{scheme} needs the app's client id: a client_id column, --client-id or \
                 AZURE_CLIENT_ID"
            ),
        }
    };
    let bare = value.is_none();
    let value = |what: &str| -> Result<&str> {
        match value {
            Some(v) if !v.is_empty() => Ok(v),
            _ => bail!("{scheme} needs {what}: {scheme}:{what}"),
        }
    };
    let path = |p: &str| -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { dir.join(p) }
    };
    Ok(match scheme {
        "secret-env" => {
            let var = value("VAR")?;
            let secret = env(var)
                .with_context(|| format!("environment variable {var} is not set or empty"))?;
            let (tenant, client_id) = app()?;
            CredentialSource::ClientSecret {
                tenant,
                client_id,
                secret: Secret::new(secret),
            }
        }
        "secret-file" => {
            let file = path(value("PATH")?);
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("secret file {}", file.display()))?;
            let secret = text.trim_end_matches(['\r', '\n']);
            if secret.trim().is_empty() {
                bail!("secret file {} is empty", file.display());
            }
            let (tenant, client_id) = app()?;
            CredentialSource::ClientSecret {
                tenant,
                client_id,
                secret: Secret::new(secret),
            }
        }
        "cert" => {
            let file = path(value("PATH")?);
            if !file.is_file() {
                bail!("certificate {} is not a file", file.display());
            }
            let (tenant, client_id) = app()?;
            CredentialSource::Certificate {
                tenant,
                client_id,
                path: file,
                password: settings.certificate_password.clone(),
            }
        }
        "access-token-env" => {
            let var = value("VAR")?;
            let token = env(var)
                .with_context(|| format!("environment variable {var} is not set or empty"))?;
            let token = token.trim();
            let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
            CredentialSource::AccessToken {
                variable: var.to_string(),
                token: Secret::new(token),
            }
        }
        "workload-identity" if bare => {
            let file = env("AZURE_FEDERATED_TOKEN_FILE")
                .context("workload-identity needs AZURE_FEDERATED_TOKEN_FILE")?;
            let (tenant, client_id) = app()?;
            CredentialSource::WorkloadIdentity {
                tenant,
                client_id,
                token_file: PathBuf::from(file),
            }
        }
        "managed-identity" if bare => CredentialSource::ManagedIdentity {
            endpoint: (settings.managed_identity)(client_id.as_deref())?,
            client_id,
        },
        // The value is not echoed: it may be a secret pasted where its reference belongs.
        _ => bail!("unknown credential scheme {scheme:?}: use one of {SCHEMES}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str, env: &[(&str, &str)]) -> Result<Vec<Tenant>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tenants.csv");
        std::fs::write(&path, text).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let settings = Settings {
            cloud: Cloud::Global,
            graph_url: None,
            authority: None,
            client_id: Some("11111111-2222-3333-4444-555555555555".into()),
            certificate_password: None,
            env: &lookup,
            managed_identity: &|_| {
                Ok(ManagedIdentityEndpoint::Imds {
                    url: "http://169.254.169.254/metadata/identity/oauth2/token".into(),
                })
            },
        };
        read(&path, &settings).map_err(|e| anyhow::anyhow!("{e:#}"))
    }

    #[test]
    fn rows_name_their_credentials_without_secrets() {
        let tenants = read_text(
            "# clients\nTenant,Credential,client_id,name\n\
             a.onmicrosoft.com,secret-env:A_SECRET,,Alpha\n\
             b.onmicrosoft.com, managed-identity ,99999999-2222-3333-4444-555555555555,\n",
            &[("A_SECRET", "s3cret")],
        )
        .unwrap();
        assert_eq!(tenants.len(), 2);
        assert_eq!(tenants[0].label(), "Alpha (a.onmicrosoft.com)");
        assert_eq!(tenants[0].line, 3);
        assert!(matches!(
            tenants[0].auth.credential(),
            CredentialSource::ClientSecret { client_id, .. } if client_id.starts_with("1111")
        ));
        assert!(matches!(
            tenants[1].auth.credential(),
            CredentialSource::ManagedIdentity { client_id: Some(id), .. } if id.starts_with("9999")
        ));
        assert!(!format!("{:?}", tenants[0].auth).contains("s3cret"));
    }

    #[test]
    fn bad_rows_are_named_by_line_and_column() {
        let err = |text: &str| read_text(text, &[("S", "x")]).unwrap_err().to_string();
        let e = err("tenant,credential\na.com,secret-env:S\nb.com,password:hunter2\n");
        assert!(
            e.contains("tenants.csv:3: column credential: unknown credential scheme \"password\""),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
        let e = err("tenant,credential\na.com,secret-env:S\nA.COM,secret-env:S\n");
        assert!(
            e.contains(":3: column tenant: tenant A.COM is also on line 2"),
            "{e}"
        );
        let e = err("tenant,credential\na.com,secret-env:MISSING\n");
        assert!(
            e.contains(":2: column credential: environment variable MISSING"),
            "{e}"
        );
        let e = err("tenant,secret\na.com,x\n");
        assert!(e.contains(":1: column \"secret\""), "{e}");
        let e = err("tenant,credential\n../x,secret-env:S\n");
        assert!(e.contains(":2: column tenant"), "{e}");
        let e = err("tenant,credential\n");
        assert!(e.contains("no tenants"), "{e}");
    }
}
