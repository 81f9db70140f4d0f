//! `authbulk login`, `authbulk logout` and `authbulk auth status`: sign in as yourself (device
//! code, or `--browser` for the authorization code flow with PKCE), forget the sign-in, and
//! show which credential the chain picks, who it is, and what its token may do. The flows live
//! in `auth`; this file only reads flags and prints. Called from [`crate::cli::execute`].

use std::io::Write;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::Outcome;
use crate::auth::claims::{Principal, granted_permissions, read_claims};
use crate::auth::{
    AuthError, Cloud, GRAPH_CLI_CLIENT_ID, LoginMethod, LoginSettings, SignInStore, StoreKind,
    TokenProvider,
};
use crate::cli::auth_flags::{AuthArgs, CloudArg};

/// Flags of `authbulk login`.
#[derive(Debug, Args)]
#[command(after_help = "\
Signs in as you, with the delegated scopes authbulk needs: UserAuthenticationMethod.ReadWrite.All, \
User.Read.All, GroupMember.Read.All, AuditLog.Read.All and offline_access. Your account also needs \
an active Authentication Administrator role (Privileged Authentication Administrator for other \
admins' methods); activate it in PIM before signing in.

The refresh token is kept in the operating system's credential store (macOS Keychain, Windows \
Credential Manager), else in $XDG_STATE_HOME/authbulk/signin.json (~/.local/state/authbulk), \
readable by you only. AUTHBULK_TOKEN_STORE=file|keyring chooses. `authbulk logout` removes it.

Examples:
  authbulk login                          # device code: open the URL on any device, enter the code
  authbulk login --browser                # a browser on this machine
  authbulk login --tenant contoso.onmicrosoft.com --cloud usgov")]
pub struct LoginArgs {
    /// Directory (tenant) id or domain [default: $AZURE_TENANT_ID, else organizations].
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// The public client app to sign in to [default: $AZURE_CLIENT_ID, else
    /// 14d82eec-204b-4c2f-b7e8-296a70dab67e, Microsoft Graph Command Line Tools].
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// The Microsoft cloud (the authority is its own unless AZURE_AUTHORITY_HOST is set).
    #[arg(long, value_enum, default_value_t = CloudArg::Global)]
    pub cloud: CloudArg,
    /// Sign in with a browser on this machine (authorization code with PKCE, redirected to a
    /// listener on 127.0.0.1) instead of a device code.
    #[arg(long)]
    pub browser: bool,
}

/// Flags of `authbulk logout` (none).
#[derive(Debug, Args)]
pub struct LogoutArgs {}

/// `authbulk auth ...`.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Show which credential is used and why, who it is, the permissions or scopes its token
    /// carries and when it expires (never the token).
    #[command(after_help = "\
The credential chain (run, export and auth status take the first one configured; flags beat \
environment variables): --access-token-env, --client-secret-file, --certificate, \
--managed-identity, AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, \
AZURE_FEDERATED_TOKEN_FILE, the sign-in stored by `authbulk login`, the Azure CLI (`az`).

A delegated token without a UserAuthenticationMethod.* scope (the Azure CLI's own token) is \
reported as not ready; run, export and auth status exit 2 with it.

Exit codes: 0 a token was obtained and can reach authentication methods; 2 otherwise.

Examples:
  authbulk auth status
  AZURE_CLIENT_SECRET=... authbulk auth status --tenant contoso.onmicrosoft.com --client-id <app id>")]
    Status(Box<StatusArgs>),
}

/// Flags of `authbulk auth status`: the same credential flags as `run`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Credentials and cloud, as `run` takes them.
    #[command(flatten)]
    pub auth: AuthArgs,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Token requests never follow redirects: a redirect would carry the code or refresh token to
/// another host.
fn http() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("building the HTTP client")
}

fn store() -> Result<SignInStore> {
    SignInStore::locate(&env)?.context(
        "no place to keep the sign-in: neither XDG_STATE_HOME nor HOME (LOCALAPPDATA on Windows) is set",
    )
}

/// Sign in and store the sign-in.
pub fn login(args: LoginArgs) -> Result<Outcome> {
    let cloud: Cloud = args.cloud.into();
    let tenant = args
        .tenant
        .or_else(|| env("AZURE_TENANT_ID"))
        .unwrap_or_else(|| "organizations".into());
    let tenant = crate::auth::check_tenant(&tenant).context("--tenant or AZURE_TENANT_ID")?;
    let client_id = args
        .client_id
        .or_else(|| env("AZURE_CLIENT_ID"))
        .unwrap_or_else(|| GRAPH_CLI_CLIENT_ID.into())
        .trim()
        .to_string();
    let authority = match env("AZURE_AUTHORITY_HOST") {
        Some(host) => crate::auth::check_endpoint(&host).context("AZURE_AUTHORITY_HOST")?,
        None => cloud.authority().to_string(),
    };
    let settings = LoginSettings {
        authority,
        tenant,
        client_id,
        cloud,
    };
    let method = if args.browser {
        LoginMethod::Browser
    } else {
        LoginMethod::DeviceCode
    };
    let store = store()?;
    let http = http()?;
    let mut prompt = |line: &str| {
        let mut err = std::io::stderr();
        let _ = writeln!(err, "{line}");
        let _ = err.flush();
    };
    let outcome = runtime()?.block_on(crate::auth::sign_in(
        &settings,
        method,
        &store,
        &http,
        &mut prompt,
    ))?;
    let sign_in = &outcome.sign_in;
    let kept = match sign_in.store {
        StoreKind::Keyring => "the operating system's credential store".to_string(),
        StoreKind::File => store.path().display().to_string(),
    };
    // Written, not eprintln!: a closed stderr must not turn a stored sign-in into a panic.
    let mut err = std::io::stderr();
    let _ = writeln!(
        err,
        "Signed in as {} in tenant {} (app {}). Scopes: {}. The refresh token is kept in {kept}.",
        sign_in.user.as_deref().unwrap_or("an unnamed user"),
        sign_in.tenant,
        sign_in.client_id,
        if outcome.scopes.is_empty() {
            "none".to_string()
        } else {
            outcome.scopes.join(" ")
        }
    );
    if !outcome.reaches_methods {
        let _ = writeln!(
            err,
            "warning: the token has no UserAuthenticationMethod.* scope (consent was not given?); runs will be refused until an administrator consents"
        );
    }
    if outcome.admin_roles.is_empty() {
        let _ = writeln!(
            err,
            "warning: no Authentication Administrator, Privileged Authentication Administrator or Global Administrator role is active in this sign-in; activate one (PIM) and sign in again to change other users' methods"
        );
    }
    Ok(Outcome::Success)
}

/// Remove everything `login` stored.
pub fn logout(_args: LogoutArgs) -> Result<Outcome> {
    let removed = store()?.remove()?;
    if removed.is_empty() {
        eprintln!("Nobody was signed in; nothing to remove.");
    } else {
        eprintln!("Signed out; removed {}.", removed.join(" and "));
    }
    Ok(Outcome::Success)
}

/// `auth status`.
pub fn status(command: AuthCommand) -> Result<Outcome> {
    let AuthCommand::Status(args) = command;
    let config = args.auth.to_config()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "credential:    {}", config.describe())?;
    writeln!(out, "chosen because {}", config.reason())?;
    writeln!(out, "cloud:         {}", config.cloud().name())?;
    let tokens = TokenProvider::from_config(&config, http()?)?;
    let runtime = runtime()?;
    let token = match runtime.block_on(tokens.token()) {
        Ok(token) => token,
        Err(err) => {
            writeln!(out, "token:         none: {err}")?;
            return Ok(Outcome::Fatal);
        }
    };
    let Some(claims) = read_claims(&token) else {
        writeln!(
            out,
            "token:         opaque (not a JWT); its permissions cannot be read here"
        )?;
        return Ok(Outcome::Success);
    };
    let granted = granted_permissions(&claims);
    let oid = claims.oid.as_deref().unwrap_or("?");
    match granted.principal {
        Principal::User => writeln!(
            out,
            "signed in:     user {} (object id {oid})",
            claims.user_name().unwrap_or("?")
        )?,
        Principal::App => writeln!(out, "signed in:     app (service principal {oid})")?,
    }
    writeln!(
        out,
        "tenant:        {}",
        claims.tid.as_deref().unwrap_or("?")
    )?;
    writeln!(out, "client app:    {}", claims.app_id().unwrap_or("?"))?;
    let permissions: Vec<&str> = granted.permissions.iter().map(String::as_str).collect();
    let permissions = if permissions.is_empty() {
        "none".to_string()
    } else {
        permissions.join(" ")
    };
    match granted.principal {
        Principal::User => {
            writeln!(out, "scopes (scp):  {permissions}")?;
            let roles = claims.admin_roles();
            writeln!(
                out,
                "admin roles:   {}",
                if roles.is_empty() {
                    "none active".to_string()
                } else {
                    roles.join(", ")
                }
            )?;
        }
        Principal::App => writeln!(out, "permissions (roles): {permissions}")?,
    }
    if let Some(exp) = claims.exp {
        let at = chrono::DateTime::from_timestamp(exp, 0)
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| exp.to_string());
        let left = (exp - chrono::Utc::now().timestamp()) / 60;
        writeln!(out, "expires:       {at} (in {left} min)")?;
    }
    match runtime.block_on(tokens.check()) {
        Ok(()) => {
            writeln!(out, "ready:         yes")?;
            Ok(Outcome::Success)
        }
        Err(AuthError::MissingPermission(why)) => {
            writeln!(out, "ready:         no: {why}")?;
            Ok(Outcome::Fatal)
        }
        Err(err) => {
            writeln!(out, "ready:         no: {err}")?;
            Ok(Outcome::Fatal)
        }
    }
}
