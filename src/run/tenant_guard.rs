//! The tenant-wide guard: a run with `--all-users` and a removing action (`reset-mfa`,
//! `remove-phone`, `remove-email`, `remove-authenticator`, `remove-method`) that writes asks for
//! the tenant's default verified domain to be typed first (read from `GET /organization`,
//! `verifiedDomains` with `isDefault`; "Get organization", "verifiedDomain resource type").
//! Without a terminal (or to skip the question) `--confirm-domain DOMAIN` must name it; like
//! today's confirmation (see [`super::confirm`]) a run without a terminal never writes on a
//! guess. A wrong or missing answer stops the run before any row (exit 2). `--yes` answers
//! "apply?" but never this question.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Result, bail};
use futures::StreamExt;
use serde_json::{Map, Value};

use crate::exec::Executor;
use crate::graph::{ApiVersion, Request};
use crate::job::ActionKind;

/// The actions that remove methods, which the guard protects a whole tenant from.
pub fn removes(action: ActionKind) -> bool {
    matches!(
        action,
        ActionKind::ResetMfa
            | ActionKind::RemovePhone
            | ActionKind::RemoveEmail
            | ActionKind::RemoveAuthenticator
            | ActionKind::RemoveMethod
    )
}

/// The tenant's default verified domain.
async fn default_domain(exec: &Executor) -> Result<String> {
    let mut orgs = std::pin::pin!(exec.pages::<Map<String, Value>>(Request::get(
        ApiVersion::V1,
        "/organization?$select=id,verifiedDomains",
    )));
    while let Some(org) = orgs.next().await {
        let org = org.map_err(|error| {
            anyhow::anyhow!(
                "--all-users with a removing action: reading the tenant's default domain \
                 (GET /organization) failed: {error}"
            )
        })?;
        let domain = org
            .get("verifiedDomains")
            .and_then(Value::as_array)
            .and_then(|ds| {
                ds.iter()
                    .find(|d| d.get("isDefault").and_then(Value::as_bool) == Some(true))
            })
            .and_then(|d| d.get("name"))
            .and_then(Value::as_str);
        if let Some(domain) = domain {
            return Ok(domain.to_string());
        }
    }
    bail!("--all-users with a removing action: the tenant shows no default verified domain")
}

/// Check the guard for a run of `action` on every user: the domain given with
/// `--confirm-domain`, else typed at the terminal, must be the tenant's default domain.
pub async fn check(exec: &Executor, action: ActionKind, given: Option<&str>) -> Result<()> {
    let domain = default_domain(exec).await?;
    let typed = match given {
        Some(given) => given.to_string(),
        None => {
            let stdin = std::io::stdin();
            if !stdin.is_terminal() || !std::io::stderr().is_terminal() {
                bail!(
                    "--all-users with {} removes methods across the whole tenant: without a \
                     terminal to confirm on, name the tenant with --confirm-domain <its default \
                     domain>",
                    action.name()
                );
            }
            ask(&mut stdin.lock(), &mut std::io::stderr(), action, &domain)
        }
    };
    if matches(&typed, &domain) {
        Ok(())
    } else {
        bail!(
            "{typed:?} is not the tenant's default domain: nothing was changed (--all-users \
             with {} needs the default domain, {domain}, typed or given with --confirm-domain)",
            action.name()
        )
    }
}

/// Prompt on `out` and read the typed domain from `input`.
fn ask(input: &mut dyn BufRead, out: &mut dyn Write, action: ActionKind, domain: &str) -> String {
    let _ = write!(
        out,
        "--all-users with {} removes methods of every user in the tenant.\nType the tenant's \
         default domain ({domain}) to go on: ",
        action.name()
    );
    let _ = out.flush();
    let mut line = String::new();
    let _ = input.read_line(&mut line);
    line.trim().to_string()
}

/// A domain as typed matches the tenant's: any case, surrounding blanks and a final dot aside.
fn matches(typed: &str, domain: &str) -> bool {
    let clean = |s: &str| s.trim().trim_end_matches('.').to_lowercase();
    !typed.trim().is_empty() && clean(typed) == clean(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_removing_actions_are_guarded() {
        assert!(removes(ActionKind::ResetMfa));
        assert!(removes(ActionKind::RemoveAuthenticator));
        assert!(!removes(ActionKind::IssueTap));
        assert!(!removes(ActionKind::List));
        assert!(!removes(ActionKind::SetPhone));
    }

    #[test]
    fn the_typed_domain_must_be_the_default_one() {
        let mut out = Vec::new();
        let typed = ask(
            &mut "Contoso.onmicrosoft.com \n".as_bytes(),
            &mut out,
            ActionKind::ResetMfa,
            "contoso.onmicrosoft.com",
        );
        let prompt = String::from_utf8(out).unwrap();
        assert!(prompt.contains("reset-mfa") && prompt.contains("contoso.onmicrosoft.com"));
        assert!(matches(&typed, "contoso.onmicrosoft.com"));
        for wrong in ["", "y", "yes", "contoso.com", "fabrikam.onmicrosoft.com"] {
            assert!(!matches(wrong, "contoso.onmicrosoft.com"), "{wrong}");
        }
        let typed = ask(
            &mut "".as_bytes(),
            &mut Vec::new(),
            ActionKind::ResetMfa,
            "contoso.onmicrosoft.com",
        );
        assert!(!matches(&typed, "contoso.onmicrosoft.com"));
    }
}
