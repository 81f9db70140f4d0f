//! The routes of the simulated Graph below `/{version}`: users (paged, `$select`, `$top`,
//! `$filter`), a user's authentication methods (delegated to [`super::methods`]), session
//! revocation, group members (direct and transitive, paged), the registration report, and the
//! permission each route needs. Called for every single request and every `$batch` item by
//! [`super::server`] and [`super::batch`], after authentication and throttling.

use std::borrow::Cow;

use hyper::Method as Verb;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value, json};

use super::Sim;
use super::reply::Reply;
use super::tenant::Kind;

/// One Graph request as the routes see it.
pub(crate) struct Call<'a> {
    /// True for `/beta`, false for `/v1.0`.
    pub beta: bool,
    /// The HTTP method.
    pub verb: Verb,
    /// The path below the version, still percent-encoded (`/users/a%23EXT%23@x/...`).
    pub path: &'a str,
    /// The raw query string (without `?`).
    pub query: &'a str,
    /// The JSON body, when one came.
    pub body: Option<&'a Value>,
}

/// The application permissions of graph-contract.md; a route is allowed when the app holds any
/// of the permissions it accepts (the app holds all of them but those `--deny` withholds).
fn permissions(call: &Call, segments: &[String]) -> &'static [&'static str] {
    let read = call.verb == Verb::GET;
    match segments.first().map(String::as_str) {
        Some("users") if segments.len() <= 2 => &["User.Read.All", "User.ReadWrite.All"],
        Some("users") if segments.get(2).is_some_and(|s| s == "revokeSignInSessions") => {
            &["User.RevokeSessions.All", "User.ReadWrite.All"]
        }
        Some("users") if read => &[
            "UserAuthenticationMethod.Read.All",
            "UserAuthenticationMethod.ReadWrite.All",
        ],
        Some("users") => &["UserAuthenticationMethod.ReadWrite.All"],
        Some("groups") => &["GroupMember.Read.All", "Group.Read.All"],
        Some("reports") => &["AuditLog.Read.All"],
        _ => &[],
    }
}

/// Decode a path into its segments (each percent-decoded on its own, so `%2F` stays inside).
pub(crate) fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect()
}

/// Query parameters, decoded (`+` is a space, as ASP.NET reads it).
pub(crate) fn query_params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

/// Answer one Graph request.
pub(crate) fn dispatch(sim: &Sim, call: &Call) -> Reply {
    let segs = segments(call.path);
    let allowed = permissions(call, &segs);
    if !allowed.is_empty() && allowed.iter().all(|p| sim.config.deny.contains(*p)) {
        return Reply::error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        );
    }
    let strs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match strs.as_slice() {
        ["users"] => get_only(call, || list_users(sim, call)),
        ["users", user, rest @ ..] => {
            let Some(u) = sim.tenant.find(user) else {
                return Reply::not_found(user);
            };
            match rest {
                [] => get_only(call, || {
                    Reply::json(200, select(&sim.tenant.identities[u].json(), call))
                }),
                ["revokeSignInSessions"] => match call.verb {
                    Verb::POST => {
                        let mut state = sim.tenant.lock(u);
                        state.sessions_revoked += 1;
                        state.writes += 1;
                        Reply::json(200, json!({"value": true}))
                    }
                    _ => Reply::method_not_allowed(),
                },
                ["authentication", ..] => super::methods::route(sim, call, u, &segs[3..]),
                [other, ..] => Reply::unknown_segment(other),
            }
        }
        ["groups", group, rest @ ..] => {
            let Some(g) = sim.tenant.group(group) else {
                return Reply::not_found(group);
            };
            get_only(call, || group_route(sim, call, g, rest))
        }
        [
            "reports",
            "authenticationMethods",
            "userRegistrationDetails",
        ] => get_only(call, || registration_report(sim, call)),
        [first, ..] => Reply::unknown_segment(first),
        [] => Reply::unknown_segment(""),
    }
}

fn get_only(call: &Call, answer: impl FnOnce() -> Reply) -> Reply {
    if call.verb == Verb::GET {
        answer()
    } else {
        Reply::method_not_allowed()
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Keep only the `$select`ed properties of `object` (all of them without `$select`).
fn select(object: &Value, call: &Call) -> Value {
    let params = query_params(call.query);
    select_with(object, param(&params, "$select"))
}

fn select_with(object: &Value, fields: Option<&str>) -> Value {
    let (Some(fields), Some(map)) = (fields, object.as_object()) else {
        return object.clone();
    };
    let mut out = Map::new();
    if let Some(t) = map.get("@odata.type") {
        out.insert("@odata.type".into(), t.clone());
    }
    for f in fields.split(',').map(str::trim) {
        if let Some(v) = map.get(f) {
            out.insert(f.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

/// A `$filter` the simulator understands: clauses joined by `and`.
enum Clause {
    /// `startswith(userPrincipalName,'prefix')`
    UpnStartsWith(String),
    /// `userType eq 'Guest'|'Member'`
    Guest(bool),
}

/// A quoted OData string literal (`'o''neil'` is `o'neil`).
fn literal(s: &str) -> Option<String> {
    let inner = s.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

fn parse_filter(filter: &str) -> Option<Vec<Clause>> {
    filter
        .split(" and ")
        .map(|clause| {
            let c = clause.trim();
            if let Some(args) = c
                .strip_prefix("startswith(")
                .and_then(|r| r.strip_suffix(')'))
            {
                let (field, value) = args.split_once(',')?;
                (field.trim() == "userPrincipalName")
                    .then(|| literal(value).map(|v| Clause::UpnStartsWith(v.to_lowercase())))?
            } else {
                let rest = c.strip_prefix("userType eq ")?;
                match literal(rest)?.as_str() {
                    "Guest" => Some(Clause::Guest(true)),
                    "Member" => Some(Clause::Guest(false)),
                    _ => None,
                }
            }
        })
        .collect()
}

fn unsupported_query() -> Reply {
    Reply::error(400, "Request_UnsupportedQuery", "Unsupported Query.")
}

/// A page of `items` (indexes) and the `@odata.nextLink` that continues it. The skip token is
/// the position in the full list; the other query options are carried over unchanged.
fn page(
    sim: &Sim,
    call: &Call,
    params: &[(String, String)],
    total: usize,
    default_top: usize,
    max_top: usize,
) -> Result<(std::ops::Range<usize>, Option<String>), Reply> {
    let top = match param(params, "$top") {
        None => default_top,
        Some(t) => match t.parse::<usize>() {
            Ok(t) if (1..=max_top).contains(&t) => t,
            _ => {
                return Err(Reply::error(
                    400,
                    "Request_BadRequest",
                    format!(
                        "Invalid page size specified: '{t}'. Must be between 1 and {max_top} inclusive."
                    ),
                ));
            }
        },
    };
    let start = match param(params, "$skiptoken") {
        None => 0,
        Some(token) => match token
            .strip_prefix("X")
            .and_then(|t| usize::from_str_radix(t, 16).ok())
        {
            Some(s) => s,
            None => {
                return Err(Reply::error(
                    400,
                    "Request_BadRequest",
                    "The specified page token value has expired or is invalid.",
                ));
            }
        },
    };
    let end = (start + top).min(total);
    let next = (end < total).then(|| {
        let mut query: String = call
            .query
            .split('&')
            .filter(|p| !p.is_empty() && !p.to_ascii_lowercase().starts_with("$skiptoken="))
            .map(|p| format!("{p}&"))
            .collect();
        query.push_str(&format!("$skiptoken=X{end:x}"));
        let version = if call.beta { "beta" } else { "v1.0" };
        format!("{}/{version}{}?{query}", sim.base_url, call.path)
    });
    Ok((start.min(total)..end, next))
}

fn filtered_users(sim: &Sim, filter: Option<&str>) -> Result<Vec<usize>, Reply> {
    let clauses = match filter {
        None => Vec::new(),
        Some(f) => parse_filter(f).ok_or_else(unsupported_query)?,
    };
    Ok((0..sim.tenant.identities.len())
        .filter(|&i| {
            let id = &sim.tenant.identities[i];
            clauses.iter().all(|c| match c {
                Clause::UpnStartsWith(p) => id.upn.to_lowercase().starts_with(p.as_str()),
                Clause::Guest(g) => id.guest == *g,
            })
        })
        .collect())
}

fn list_users(sim: &Sim, call: &Call) -> Reply {
    let params = query_params(call.query);
    let users = match filtered_users(sim, param(&params, "$filter")) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let (range, next) = match page(sim, call, &params, users.len(), 100, 999) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let fields = param(&params, "$select");
    let value: Vec<Value> = users[range]
        .iter()
        .map(|&i| select_with(&sim.tenant.identities[i].json(), fields))
        .collect();
    paged(value, next)
}

fn paged(value: Vec<Value>, next: Option<String>) -> Reply {
    let mut body = json!({ "value": value });
    if let Some(next) = next {
        body["@odata.nextLink"] = Value::String(next);
    }
    Reply::json(200, body)
}

fn group_route(sim: &Sim, call: &Call, g: usize, rest: &[&str]) -> Reply {
    let group = &sim.tenant.groups[g];
    let (transitive, users_only) = match rest {
        [] => {
            return Reply::json(
                200,
                select(&json!({"id": group.id, "displayName": group.name}), call),
            );
        }
        ["members"] => (false, false),
        ["transitiveMembers"] => (true, false),
        ["members", "microsoft.graph.user"] => (false, true),
        ["transitiveMembers", "microsoft.graph.user"] => (true, true),
        [.., other] => return Reply::unknown_segment(other),
    };
    // Members by index first (nested groups, then users), so only the page asked for is
    // rendered.
    let mut groups = Vec::new();
    if !users_only {
        // Direct nested groups, or every level of them for transitiveMembers.
        let mut stack = group.groups.clone();
        while let Some(sub) = stack.pop() {
            groups.push(sub);
            if transitive {
                stack.extend_from_slice(&sim.tenant.groups[sub].groups);
            }
        }
    }
    let users = if transitive {
        sim.tenant.transitive_users(g)
    } else {
        group.users.clone()
    };
    let params = query_params(call.query);
    let fields = param(&params, "$select");
    let (range, next) = match page(sim, call, &params, groups.len() + users.len(), 100, 999) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let value = range
        .map(|k| {
            let mut member = match groups.get(k) {
                Some(&sub) => {
                    let sub = &sim.tenant.groups[sub];
                    json!({"@odata.type": "#microsoft.graph.group", "id": sub.id, "displayName": sub.name})
                }
                None => sim.tenant.identities[users[k - groups.len()]].json(),
            };
            if member.get("@odata.type").is_none() {
                member["@odata.type"] = json!("#microsoft.graph.user");
            }
            select_with(&member, fields)
        })
        .collect();
    paged(value, next)
}

fn registration_report(sim: &Sim, call: &Call) -> Reply {
    if !sim.config.premium {
        return Reply::error(
            403,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Tenant does not have a SKU required for this call.",
        );
    }
    let params = query_params(call.query);
    let users = match filtered_users(sim, param(&params, "$filter")) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let (range, next) = match page(sim, call, &params, users.len(), 1000, 1000) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let value = users[range]
        .iter()
        .map(|&i| {
            let id = &sim.tenant.identities[i];
            let state = sim.tenant.lock(i);
            let registered: Vec<Cow<str>> = state
                .methods
                .iter()
                .filter_map(|m| match &m.kind {
                    Kind::Password | Kind::QrCodePin => None,
                    Kind::Phone { phone_type, .. } => {
                        Some(Cow::Owned(format!("{phone_type}Phone")))
                    }
                    _ => m.method_type().map(|t| Cow::Borrowed(t.name())),
                })
                .collect();
            let mfa = state.methods.iter().any(|m| {
                !matches!(
                    m.kind,
                    Kind::Password | Kind::Email { .. } | Kind::Tap { .. } | Kind::QrCodePin
                )
            });
            json!({
                "id": id.id,
                "userPrincipalName": id.upn,
                "userDisplayName": id.display_name,
                "userType": if id.guest { "guest" } else { "member" },
                "isAdmin": false,
                "isMfaRegistered": mfa,
                "isMfaCapable": mfa,
                "isSsprRegistered": !registered.is_empty(),
                "methodsRegistered": registered,
                "defaultMfaMethod": state.preferred.map_or("none", |d| d.as_graph()),
                "isSystemPreferredAuthenticationMethodEnabled": state.system_preferred,
            })
        })
        .collect();
    paged(value, next)
}

/// The header that tells a client how close it is to throttling (sent above 80% usage).
pub(crate) const LIMIT_PERCENTAGE: &str = "x-ms-throttle-limit-percentage";

/// One Graph request through the per-request pipeline: throttle check (a 429 with its headers),
/// the read/write counters, a 503/504 fault for `$batch` items, then the route. Adds
/// `x-ms-throttle-limit-percentage` once a bucket is more than 80% used.
pub(crate) fn answer(sim: &Sim, call: &Call, batch_item: bool) -> Reply {
    use super::introspect::LiveCounters;
    let write = call.verb != Verb::GET;
    let usage = match sim.throttle.admit_item(write) {
        Ok(usage) => usage,
        Err(t) => return sim.throttled(t),
    };
    LiveCounters::bump(if write {
        &sim.counters.writes
    } else {
        &sim.counters.reads
    });
    if batch_item {
        let fault = sim.config.faults.draw(false);
        if let Some(reply) = fault.reply() {
            sim.counters.count_fault(&reply.status.to_string());
            return reply;
        }
    }
    let reply = dispatch(sim, call);
    match usage {
        Some(u) => reply.with_header(LIMIT_PERCENTAGE, format!("{u:.2}")),
        None => reply,
    }
}
