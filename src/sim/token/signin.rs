//! Delegated sign-in on the simulated token endpoint: an admin signs in to a public client
//! app, the way Microsoft's documentation describes it.
//!
//! - Device code ("Microsoft identity platform and the OAuth 2.0 device authorization grant
//!   flow"): `POST /{tenant}/oauth2/v2.0/devicecode` answers `user_code`, `device_code`,
//!   `verification_uri`, `expires_in` (900), `interval` (5) and `message`; the client polls
//!   the token endpoint with `grant_type=urn:ietf:params:oauth:grant-type:device_code` and gets
//!   `authorization_pending`, `slow_down` (polled faster than the interval),
//!   `authorization_declined`, `expired_token`, or the tokens.
//! - Authorization code with PKCE ("Microsoft identity platform and OAuth 2.0 authorization code
//!   flow"): `GET /{tenant}/oauth2/v2.0/authorize` with `code_challenge_method=S256` redirects
//!   to a loopback `redirect_uri` with `code` and `state`; the code is redeemed once, with the
//!   `code_verifier` whose SHA-256 is the challenge (AADSTS501481 otherwise).
//! - Refresh token ("... refresh tokens"): `grant_type=refresh_token` returns a new access
//!   token and a new refresh token; the one redeemed stops working (stricter than Entra, which
//!   lets old ones live until they expire, so a client that forgets to store the new one fails
//!   here).
//!
//! Nobody types a code into a browser here: tests play the user through `/_sim/auth/...`
//! ([`introspect`]): approve or decline a user code as a tenant user with directory roles, plan
//! the next device code's answers, choose who signs in in the "browser", and count refresh
//! tokens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hyper::Method as Verb;
use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{GRAPH_RESOURCE, Tokens, aad_error, scope_resource};
use crate::sim::Sim;
use crate::sim::reply::Reply;

/// The device code grant type.
pub(crate) const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The public client apps the simulated tenant knows: Microsoft Graph Command Line Tools (the
/// app `Connect-MgGraph` signs in to), which allows public client flows.
const PUBLIC_CLIENTS: [&str; 1] = ["14d82eec-204b-4c2f-b7e8-296a70dab67e"];

/// Where a user enters the device code (Entra's answer names this page).
const VERIFICATION_URI: &str = "https://microsoft.com/devicelogin";

/// Directory role names and their role template ids (`wids` in tokens), from Microsoft Entra
/// "built-in roles".
const ROLES: [(&str, &str); 6] = [
    (
        "Authentication Administrator",
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
    ),
    (
        "Privileged Authentication Administrator",
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
    ),
    (
        "Global Administrator",
        "62e90394-69f5-4237-9190-012177145e10",
    ),
    ("Global Reader", "f2ef992c-3afb-46b9-b7cf-a126ee74c451"),
    ("User Administrator", "fe930be7-5e62-47db-91af-98c3a49a38b1"),
    // Every member user carries the "User" template id in wids.
    ("User", "b79fbf4d-3ef9-4689-8143-76b194e85509"),
];

/// `organizations` or `common`: sign-in endpoints that find the user's home tenant.
pub(crate) fn is_multi_tenant(tenant: &str) -> bool {
    tenant.eq_ignore_ascii_case("organizations") || tenant.eq_ignore_ascii_case("common")
}

/// A signed-in user: who, and which directory roles are active (by template id).
#[derive(Debug, Clone)]
pub(crate) struct User {
    /// User principal name.
    pub upn: String,
    /// Object id.
    pub oid: String,
    /// Active directory roles' template ids, `User` included.
    pub roles: Vec<String>,
}

/// What the user does with a device code.
#[derive(Debug, Clone)]
enum Decision {
    Approve(User),
    Decline,
    Expire,
}

/// How the next device code behaves (set through `/_sim/auth/device-plan`).
#[derive(Debug, Clone)]
struct Plan {
    /// Polls answered `authorization_pending` before `decision` takes effect.
    pending_polls: u32,
    /// What the user then does; `None` waits for an explicit approval.
    decision: Option<Decision>,
    /// Answer this poll (1-based) `slow_down`.
    slow_down_at: Option<u32>,
    /// `interval` of the answer, seconds.
    interval: u64,
    /// `expires_in` of the answer, seconds.
    expires_in: u64,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            pending_polls: 0,
            decision: None,
            slow_down_at: None,
            interval: 5,
            expires_in: 900,
        }
    }
}

/// An issued device code.
struct DeviceCode {
    user_code: String,
    client_id: String,
    grant: Grant,
    issued: Instant,
    plan: Plan,
    decided: Option<Decision>,
    last_poll: Option<Instant>,
    /// Every poll: milliseconds since issue, and the answer.
    polls: Vec<(u64, &'static str)>,
}

/// The scopes a sign-in asked for and was granted.
#[derive(Debug, Clone)]
struct Grant {
    /// Graph's delegated scopes, without the resource prefix.
    scopes: Vec<String>,
    /// `offline_access` was asked: a refresh token is issued.
    offline: bool,
}

struct AuthCode {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    grant: Grant,
    user: User,
}

struct RefreshToken {
    client_id: String,
    grant: Grant,
    user: User,
}

/// Who signs in when the "browser" opens the authorize URL.
#[derive(Debug, Clone)]
enum Browser {
    SignIn(User),
    Decline,
}

#[derive(Default)]
struct State {
    devices: HashMap<String, DeviceCode>,
    next_plan: Option<Plan>,
    codes: HashMap<String, AuthCode>,
    refresh: HashMap<String, RefreshToken>,
    redeemed_refresh: u64,
    browser: Option<Browser>,
}

/// The delegated sign-ins in progress and the refresh tokens issued.
#[derive(Default)]
pub(crate) struct SignIns {
    state: Mutex<State>,
}

impl SignIns {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A random code of `len` characters from `alphabet`.
fn random_code(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

fn opaque(len: usize) -> String {
    random_code(
        len,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    )
}

/// Read a delegated `scope`: Graph's scopes (prefixed or bare), OpenID Connect scopes,
/// `offline_access`. Another resource's scope is AADSTS500011.
fn requested(scope: &str, tenant: &str) -> Result<Grant, Reply> {
    scope_resource(scope, tenant)?;
    let mut grant = Grant {
        scopes: Vec::new(),
        offline: false,
    };
    for item in scope.split_whitespace() {
        let name = item
            .strip_prefix(GRAPH_RESOURCE)
            .map(|s| s.trim_start_matches('/'))
            .unwrap_or(item);
        match name {
            "offline_access" => grant.offline = true,
            "openid" | "profile" | "email" | ".default" | "" => {}
            other => {
                if !grant.scopes.iter().any(|s| s.eq_ignore_ascii_case(other)) {
                    grant.scopes.push(other.to_string());
                }
            }
        }
    }
    if grant.scopes.is_empty() {
        grant.scopes.push("User.Read".into());
    }
    Ok(grant)
}

fn unknown_client(client: &str) -> Reply {
    aad_error(
        400,
        "unauthorized_client",
        700016,
        &format!("Application with identifier '{client}' was not found in the directory."),
    )
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A redirect to the loopback `redirect_uri` with these query parameters.
fn redirect(redirect_uri: &str, params: &[(&str, &str)]) -> Reply {
    let query: String = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&");
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    Reply::empty(302).with_header("Location", format!("{redirect_uri}{sep}{query}"))
}

/// Entra accepts any port on a loopback `redirect_uri` of a public client (RFC 8252 7.3).
fn loopback_redirect(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

impl Tokens {
    /// `POST /{tenant}/oauth2/v2.0/devicecode`.
    pub(crate) fn device_authorization(&self, tenant: &str, body: &[u8]) -> Reply {
        if !self.knows_tenant(tenant) && !is_multi_tenant(tenant) {
            return aad_error(
                400,
                "invalid_request",
                90002,
                &format!("Tenant '{tenant}' not found."),
            );
        }
        let form = crate::sim::graph::query_params(&String::from_utf8_lossy(body));
        let client = param(&form, "client_id").unwrap_or("");
        if !PUBLIC_CLIENTS.contains(&client) {
            return unknown_client(client);
        }
        let grant = match requested(param(&form, "scope").unwrap_or(""), tenant) {
            Ok(grant) => grant,
            Err(reply) => return reply,
        };
        let user_code = random_code(9, b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789");
        let device_code = opaque(96);
        let mut state = self.signins.lock();
        let plan = state.next_plan.take().unwrap_or_default();
        let body = json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": VERIFICATION_URI,
            "expires_in": plan.expires_in,
            "interval": plan.interval,
            "message": format!("To sign in, use a web browser to open the page {VERIFICATION_URI} and enter the code {user_code} to authenticate."),
        });
        state.devices.insert(
            device_code,
            DeviceCode {
                user_code,
                client_id: client.to_string(),
                grant,
                issued: Instant::now(),
                plan,
                decided: None,
                last_poll: None,
                polls: Vec::new(),
            },
        );
        Reply::json(200, body)
    }

    /// The token endpoint's device code grant: one poll.
    pub(crate) fn device_code_grant(&self, form: &[(String, String)]) -> Reply {
        let code = param(form, "device_code").unwrap_or("");
        let mut state = self.signins.lock();
        let Some(device) = state.devices.get_mut(code) else {
            return aad_error(
                400,
                "invalid_grant",
                70000,
                "The provided value for the input parameter 'device_code' is not valid.",
            );
        };
        if param(form, "client_id") != Some(device.client_id.as_str()) {
            return aad_error(
                400,
                "invalid_client",
                70002,
                "The client does not match the one the device code was issued to.",
            );
        }
        let now = Instant::now();
        let n = device.polls.len() as u32 + 1;
        let since_issue = now.duration_since(device.issued);
        // RFC 8628 3.5: a client polling faster than the interval is told to slow down.
        // Half a second of slack covers a request that spent longer on the wire than the next.
        let too_fast = device.last_poll.is_some_and(|last| {
            now.duration_since(last) + Duration::from_millis(500)
                < Duration::from_secs(device.plan.interval)
        });
        device.last_poll = Some(now);
        if device.decided.is_none() && n > device.plan.pending_polls {
            device.decided = device.plan.decision.clone();
        }
        let expired = since_issue >= Duration::from_secs(device.plan.expires_in)
            || matches!(device.decided, Some(Decision::Expire));
        let answer: &'static str = if expired {
            "expired_token"
        } else if too_fast || device.plan.slow_down_at == Some(n) {
            "slow_down"
        } else {
            match &device.decided {
                None => "authorization_pending",
                Some(Decision::Decline) => "authorization_declined",
                Some(Decision::Approve(_)) => "ok",
                Some(Decision::Expire) => "expired_token",
            }
        };
        device.polls.push((since_issue.as_millis() as u64, answer));
        match answer {
            "expired_token" => aad_error(
                400,
                "expired_token",
                70020,
                "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
            ),
            "slow_down" => aad_error(
                400,
                "slow_down",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending and the client is polling too fast. Continue polling, more slowly.",
            ),
            "authorization_pending" => aad_error(
                400,
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            ),
            "authorization_declined" => aad_error(
                400,
                "authorization_declined",
                70000,
                "The user declined the authentication request.",
            ),
            _ => {
                let Some(Decision::Approve(user)) = device.decided.clone() else {
                    return Reply::error(500, "internalError", "unreachable device state");
                };
                let (client, grant) = (device.client_id.clone(), device.grant.clone());
                // A device code is redeemed once; its record stays for the poll history.
                device.decided = Some(Decision::Expire);
                device.plan.decision = Some(Decision::Expire);
                self.issue_delegated(&mut state, &client, &user, &grant)
            }
        }
    }

    /// The answer with a delegated access token, and a new refresh token when the grant has
    /// `offline_access`.
    fn issue_delegated(
        &self,
        state: &mut State,
        client_id: &str,
        user: &User,
        grant: &Grant,
    ) -> Reply {
        let (access, ttl) = self.mint_delegated(client_id, user, &grant.scopes);
        let mut scope = grant.scopes.join(" ");
        if grant.offline {
            scope.push_str(" offline_access");
        }
        let mut body = json!({
            "token_type": "Bearer",
            "scope": scope,
            "expires_in": ttl,
            "ext_expires_in": ttl,
            "access_token": access,
        });
        if grant.offline {
            let refresh = opaque(120);
            state.refresh.insert(
                refresh.clone(),
                RefreshToken {
                    client_id: client_id.to_string(),
                    grant: grant.clone(),
                    user: user.clone(),
                },
            );
            body["refresh_token"] = json!(refresh);
        }
        Reply::json(200, body)
    }

    /// `GET /{tenant}/oauth2/v2.0/authorize`: the browser's half of the authorization code
    /// flow. The "user" is whoever `/_sim/auth/browser` named.
    pub(crate) fn authorize(&self, tenant: &str, query: &str) -> Reply {
        let params = crate::sim::graph::query_params(query);
        let p = |name: &str| param(&params, name).unwrap_or("");
        let client = p("client_id");
        if !PUBLIC_CLIENTS.contains(&client) {
            return unknown_client(client);
        }
        let redirect_uri = p("redirect_uri");
        if !loopback_redirect(redirect_uri) {
            return aad_error(
                400,
                "invalid_request",
                50011,
                &format!(
                    "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client}'."
                ),
            );
        }
        let state_param = p("state");
        let fail = |error: &str, description: &str| {
            redirect(
                redirect_uri,
                &[
                    ("error", error),
                    ("error_description", description),
                    ("state", state_param),
                ],
            )
        };
        if p("response_type") != "code" {
            return fail(
                "unsupported_response_type",
                "AADSTS700054: response_type 'code' is required.",
            );
        }
        if p("code_challenge").is_empty() || p("code_challenge_method") != "S256" {
            return fail(
                "invalid_request",
                "AADSTS9002325: Proof Key for Code Exchange is required: send code_challenge with code_challenge_method S256.",
            );
        }
        if !self.knows_tenant(tenant) && !is_multi_tenant(tenant) {
            return fail("invalid_request", "AADSTS90002: Tenant not found.");
        }
        let grant = match requested(p("scope"), tenant) {
            Ok(grant) => grant,
            Err(reply) => {
                let text = reply
                    .body
                    .as_ref()
                    .and_then(|b| b["error_description"].as_str())
                    .unwrap_or("")
                    .to_string();
                return fail("invalid_resource", &text);
            }
        };
        let mut state = self.signins.lock();
        match state.browser.clone() {
            None => Reply::json(
                200,
                json!({"page": "Sign in to your account", "note": "nobody signs in: set /_sim/auth/browser"}),
            ),
            Some(Browser::Decline) => fail(
                "access_denied",
                "AADSTS65004: User declined to consent to access the app.",
            ),
            Some(Browser::SignIn(user)) => {
                let code = opaque(64);
                state.codes.insert(
                    code.clone(),
                    AuthCode {
                        client_id: client.to_string(),
                        redirect_uri: redirect_uri.to_string(),
                        challenge: p("code_challenge").to_string(),
                        grant,
                        user,
                    },
                );
                redirect(redirect_uri, &[("code", &code), ("state", state_param)])
            }
        }
    }

    /// The token endpoint's authorization code grant, with the PKCE check.
    pub(crate) fn authorization_code_grant(&self, form: &[(String, String)]) -> Reply {
        let mut state = self.signins.lock();
        let Some(code) = state.codes.remove(param(form, "code").unwrap_or("")) else {
            return aad_error(
                400,
                "invalid_grant",
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
            );
        };
        if param(form, "client_id") != Some(code.client_id.as_str()) {
            return unknown_client(param(form, "client_id").unwrap_or(""));
        }
        if param(form, "redirect_uri") != Some(code.redirect_uri.as_str()) {
            return aad_error(
                400,
                "invalid_grant",
                50148,
                "The redirect_uri does not match the one used in the authorization request.",
            );
        }
        let verifier = param(form, "code_verifier").unwrap_or("");
        if B64URL.encode(Sha256::digest(verifier.as_bytes())) != code.challenge {
            return aad_error(
                400,
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            );
        }
        let (client, user, grant) = (code.client_id, code.user, code.grant);
        self.issue_delegated(&mut state, &client, &user, &grant)
    }

    /// The token endpoint's refresh token grant; the refresh token rotates.
    pub(crate) fn refresh_token_grant(&self, form: &[(String, String)]) -> Reply {
        let mut state = self.signins.lock();
        let token = param(form, "refresh_token").unwrap_or("");
        let Some(old) = state.refresh.remove(token) else {
            return aad_error(
                400,
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity or was revoked.",
            );
        };
        if param(form, "client_id") != Some(old.client_id.as_str()) {
            // Not the client it was issued to: refused, and the token stays as it was.
            let client = param(form, "client_id").unwrap_or("").to_string();
            state.refresh.insert(token.to_string(), old);
            return aad_error(
                400,
                "invalid_grant",
                70000,
                &format!("The refresh token was issued to another client than '{client}'."),
            );
        }
        state.redeemed_refresh += 1;
        // A narrower scope may be asked; a scope of another resource is refused.
        let grant = match param(form, "scope") {
            Some(scope) => match requested(scope, "organizations") {
                Ok(mut asked) => {
                    asked
                        .scopes
                        .retain(|s| old.grant.scopes.iter().any(|g| g.eq_ignore_ascii_case(s)));
                    asked.offline = true;
                    asked
                }
                Err(reply) => return reply,
            },
            None => old.grant.clone(),
        };
        self.issue_delegated(&mut state, &old.client_id, &old.user, &grant)
    }
}

/// A tenant user named in an introspection call, with the roles listed in `roles` (names or
/// template ids, comma-separated).
fn user_from(sim: &Sim, params: &[(String, String)]) -> Result<User, Reply> {
    let upn = param(params, "upn").unwrap_or("");
    let Some(user) = sim.tenant.find(upn) else {
        return Err(Reply::not_found(upn));
    };
    let identity = &user.identity;
    let mut roles = vec![ROLES[5].1.to_string()];
    for name in param(params, "roles")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let Some((_, id)) = ROLES
            .iter()
            .find(|(n, id)| n.eq_ignore_ascii_case(name) || id.eq_ignore_ascii_case(name))
        else {
            return Err(Reply::bad_request(format!(
                "unknown directory role {name:?}"
            )));
        };
        roles.push(id.to_string());
    }
    Ok(User {
        upn: identity.upn.clone(),
        oid: identity.id.clone(),
        roles,
    })
}

/// Answer `/_sim/auth/...` (`path` is what follows `/_sim/auth`).
pub(crate) fn introspect(sim: &Sim, verb: &Verb, path: &str, query: &str) -> Reply {
    let params = crate::sim::graph::query_params(query);
    let segs = crate::sim::graph::segments(path);
    let strs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let signins = &sim.tokens.signins;
    let decision = |params: &[(String, String)]| -> Result<Option<Decision>, Reply> {
        Ok(match param(params, "outcome").unwrap_or("") {
            "approve" => Some(Decision::Approve(user_from(sim, params)?)),
            "decline" => Some(Decision::Decline),
            "expire" => Some(Decision::Expire),
            "" | "wait" => None,
            other => return Err(Reply::bad_request(format!("unknown outcome {other:?}"))),
        })
    };
    let number = |name: &str, default: u64| -> Result<u64, Reply> {
        match param(&params, name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| Reply::bad_request(format!("{name} must be a number"))),
        }
    };
    let result = (|| -> Result<Reply, Reply> {
        match (verb, strs.as_slice()) {
            (&Verb::POST, ["device-plan"]) => {
                let plan = Plan {
                    pending_polls: number("pending", 0)? as u32,
                    decision: decision(&params)?,
                    slow_down_at: param(&params, "slow_down_at")
                        .map(|_| number("slow_down_at", 0).map(|n| n as u32))
                        .transpose()?,
                    interval: number("interval", 5)?,
                    expires_in: number("expires_in", 900)?,
                };
                signins.lock().next_plan = Some(plan);
                Ok(Reply::empty(204))
            }
            (&Verb::GET, ["devicecodes"]) => {
                let state = signins.lock();
                let mut codes: Vec<(&Instant, &str)> = state
                    .devices
                    .values()
                    .map(|d| (&d.issued, d.user_code.as_str()))
                    .collect();
                codes.sort();
                let codes: Vec<&str> = codes.into_iter().map(|(_, c)| c).collect();
                Ok(Reply::json(200, json!({ "userCodes": codes })))
            }
            (_, ["devicecodes", code, rest @ ..]) => {
                let mut state = signins.lock();
                let Some(device) = state
                    .devices
                    .values_mut()
                    .find(|d| d.user_code.eq_ignore_ascii_case(code))
                else {
                    return Err(Reply::not_found(code));
                };
                match (verb, rest) {
                    (&Verb::GET, []) => {
                        let polls: Vec<Value> = device
                            .polls
                            .iter()
                            .map(|(at, answer)| json!({"atMs": at, "answer": answer}))
                            .collect();
                        Ok(Reply::json(
                            200,
                            json!({"userCode": device.user_code, "polls": polls}),
                        ))
                    }
                    (&Verb::POST, ["approve"]) => {
                        device.decided = Some(Decision::Approve(user_from(sim, &params)?));
                        Ok(Reply::empty(204))
                    }
                    (&Verb::POST, ["decline"]) => {
                        device.decided = Some(Decision::Decline);
                        Ok(Reply::empty(204))
                    }
                    (&Verb::POST, ["expire"]) => {
                        device.decided = Some(Decision::Expire);
                        Ok(Reply::empty(204))
                    }
                    _ => Err(Reply::method_not_allowed()),
                }
            }
            (&Verb::POST, ["browser"]) => {
                let browser = match decision(&params)? {
                    Some(Decision::Approve(user)) => Some(Browser::SignIn(user)),
                    Some(Decision::Decline) => Some(Browser::Decline),
                    _ => None,
                };
                signins.lock().browser = browser;
                Ok(Reply::empty(204))
            }
            (&Verb::GET, ["refresh-tokens"]) => {
                let state = signins.lock();
                let mut users: Vec<&str> = state
                    .refresh
                    .values()
                    .map(|r| r.user.upn.as_str())
                    .collect();
                users.sort();
                Ok(Reply::json(
                    200,
                    json!({"live": state.refresh.len(), "redeemed": state.redeemed_refresh, "users": users}),
                ))
            }
            (_, [first, ..]) => Err(Reply::unknown_segment(first)),
            (_, []) => Err(Reply::unknown_segment("auth")),
        }
    })();
    result.unwrap_or_else(|reply| reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_only() {
        assert!(loopback_redirect("http://localhost:53124/"));
        assert!(loopback_redirect("http://127.0.0.1:1/cb?x=1"));
        assert!(!loopback_redirect("https://127.0.0.1:1/"));
        assert!(!loopback_redirect("http://evil.example:80/"));
        assert!(!loopback_redirect("http://127.0.0.1.evil.example/"));
    }

    #[test]
    fn scopes_of_graph_are_read_and_other_resources_refused() {
        let grant = requested(
            "https://graph.microsoft.com/User.Read.All UserAuthenticationMethod.ReadWrite.All offline_access openid",
            "organizations",
        )
        .expect("graph scopes");
        assert_eq!(
            grant.scopes,
            ["User.Read.All", "UserAuthenticationMethod.ReadWrite.All"]
        );
        assert!(grant.offline);
        let err = requested("https://management.azure.com/user_impersonation", "t")
            .expect_err("other resource");
        assert_eq!(err.status, 400);
        assert!(
            err.body.expect("body")["error_description"]
                .as_str()
                .expect("text")
                .starts_with("AADSTS500011")
        );
    }
}
