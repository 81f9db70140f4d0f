//! The routes of the simulated Graph below `/{version}`: users (paged, with the OData options of
//! [`super::query`]), a user's authentication methods (delegated to [`super::methods`]), session
//! revocation, groups by display name and their members (direct and transitive, paged), the
//! registration report
//! ([`super::report`]), the permission each route needs, and the per-request pipeline (resource
//! unit cost, throttling, faults). Called for every single request and every `$batch` item by
//! [`super::server`] and [`super::batch`], after authentication.
//!
//! Permissions: each route accepts the permissions of its Microsoft Graph API page
//! ("Permissions" table: "Get user", "List methods", the method types' create/update/delete
//! pages, "user: revokeSignInSessions", "List group transitive members", "List
//! userRegistrationDetails", "Get authenticationMethodsPolicy"); a call from an app that holds
//! none of them answers 403 `Authorization_RequestDenied`, "Insufficient privileges to complete
//! the operation." ("Resolve Microsoft Graph authorization errors",
//! https://learn.microsoft.com/graph/resolve-auth-errors). The app holds the permissions its
//! tokens claim, less those `--deny` withholds (the token then lacks them too) and those
//! `--refuse` refuses (the token still claims them: consent withdrawn since it was issued).

use std::sync::Arc;

use hyper::Method as Verb;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::Sim;
use super::query::{Body, DirectoryQuery, Item, page, param, params, select_with};

/// Query-string and form decoding (the token endpoint reads its form with it).
pub(crate) use super::query::params as query_params;
use super::reply::Reply;

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
    /// The request carried `ConsistencyLevel: eventual` (its own header: a `$batch` item's
    /// `headers`, never the envelope's).
    pub eventual: bool,
    /// The request carried `x-ms-throttle-priority: low` (likewise its own).
    pub low_priority: bool,
}

/// The request headers the routes read, from a header lookup (`name` lower case).
pub(crate) fn flags(header: impl Fn(&str) -> Option<String>) -> (bool, bool) {
    let is = |name: &str, value: &str| {
        header(name).is_some_and(|v| v.trim().eq_ignore_ascii_case(value))
    };
    (
        is("consistencylevel", "eventual"),
        is("x-ms-throttle-priority", "low"),
    )
}

/// The application permissions of graph-contract.md; a route is allowed when the app holds any
/// of the permissions it accepts (see the module doc).
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
        Some("organization") => &[
            "Organization.Read.All",
            "Organization.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        Some("directoryRoles") => &[
            "RoleManagement.Read.Directory",
            "RoleManagement.ReadWrite.Directory",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
        // "Get temporaryAccessPassAuthenticationMethodConfiguration" (and the Sms page): least
        // privileged Policy.Read.AuthenticationMethod, higher Policy.ReadWrite.AuthenticationMethod.
        Some("policies") => &[
            "Policy.Read.AuthenticationMethod",
            "Policy.ReadWrite.AuthenticationMethod",
        ],
        // "List hardwareOathDevices", "Get hardwareOathTokenAuthenticationMethodDevice": least
        // privileged Policy.Read.All; "Create hardwareOathTokenAuthenticationMethodDevice" (and
        // delete): Policy.ReadWrite.AuthenticationMethod.
        Some("directory") if read => &["Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"],
        Some("directory") => &["Policy.ReadWrite.AuthenticationMethod"],
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

/// `users('{key}')` (an entity addressed by key, quotes inside doubled) as `users` and the key.
/// "Get user": when a userPrincipalName begins with `$`, "remove the slash (/) after /users and
/// enclose the userPrincipalName in parentheses and single quotes", e.g.
/// `/users('$AdeleVance@contoso.com')`; a segment that begins with `$` is read as a system
/// segment instead.
fn key_in_parentheses(segs: &mut Vec<String>) -> Result<(), Reply> {
    let Some(first) = segs.first() else {
        return Ok(());
    };
    if let Some(inner) = first
        .strip_prefix("users('")
        .and_then(|rest| rest.strip_suffix("')"))
    {
        let key = inner.replace("''", "'");
        segs.splice(0..1, ["users".to_string(), key]);
    } else if first == "users" && segs.get(1).is_some_and(|key| key.starts_with('$')) {
        return Err(Reply::error(
            400,
            "BadRequest",
            format!("Resource not found for the segment '{}'.", segs[1]),
        ));
    }
    Ok(())
}

/// Answer one Graph request.
pub(crate) fn dispatch(sim: &Sim, call: &Call) -> Reply {
    let mut segs = segments(call.path);
    if let Err(reply) = key_in_parentheses(&mut segs) {
        return reply;
    }
    let allowed = permissions(call, &segs);
    // "Insufficient privileges" when the app holds none of the permissions the call accepts:
    // never granted, withheld from the token (`--deny`), or refused although the token claims
    // it (`--refuse`).
    let holds = |p: &&str| {
        super::token::APP_PERMISSIONS.contains(p)
            && !sim.config.deny.contains(*p)
            && !sim.config.refuse.contains(*p)
    };
    if !allowed.is_empty() && !allowed.iter().any(holds) {
        return Reply::error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        );
    }
    let strs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match strs.as_slice() {
        ["users"] => get_only(call, || list_users(sim, call)),
        ["users", key, rest @ ..] => {
            let Some(user) = sim.tenant.find(key) else {
                return Reply::not_found(key);
            };
            match rest {
                [] => get_only(call, || {
                    let params = params(call.query);
                    Reply::json(
                        200,
                        select_with(&user.identity.json(), param(&params, "$select")),
                    )
                }),
                ["revokeSignInSessions"] => match call.verb {
                    Verb::POST => {
                        let mut state = user.lock();
                        state.sessions_revoked += 1;
                        state.writes += 1;
                        Reply::json(200, json!({"value": true}))
                    }
                    _ => Reply::method_not_allowed(),
                },
                ["authentication", ..] => super::methods::route(sim, call, &user, &segs[3..]),
                [other, ..] => Reply::unknown_segment(other),
            }
        }
        ["groups"] => get_only(call, || list_groups(sim, call)),
        // "List organization": the one tenant; its `verifiedDomains` ("verifiedDomain resource
        // type") hold the initial onmicrosoft.com domain, the default one.
        ["organization"] => get_only(call, || {
            let params = params(call.query);
            let org = json!({
                "id": sim.tokens.tenant_id,
                "displayName": "Contoso",
                "verifiedDomains": [{
                    "capabilities": "Email, OfficeCommunicationsOnline",
                    "isDefault": true,
                    "isInitial": true,
                    "name": super::tenant::DOMAIN,
                    "type": "Managed",
                }],
            });
            Reply::json(
                200,
                json!({"value": [select_with(&org, param(&params, "$select"))]}),
            )
        }),
        ["directoryRoles"] => get_only(call, || {
            let role = json!({"id": GLOBAL_ADMIN_ROLE_ID, "displayName": "Global Administrator",
                "description": "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities.",
                "roleTemplateId": GLOBAL_ADMIN_TEMPLATE_ID});
            Reply::json(200, json!({"value": [role]}))
        }),
        ["directoryRoles", role, "members"] => get_only(call, || {
            if !role.eq_ignore_ascii_case(GLOBAL_ADMIN_ROLE_ID)
                && !role.eq_ignore_ascii_case(GLOBAL_ADMIN_TEMPLATE_ID)
            {
                return Reply::not_found(role);
            }
            let params = params(call.query);
            let items = sim
                .tenant
                .live()
                .iter()
                .filter(|u| u.identity.admin)
                .map(|u| Item {
                    id: u.identity.id.clone(),
                    sort: String::new(),
                    json: Body::Ready(json!({"@odata.type": "#microsoft.graph.user",
                        "id": u.identity.id, "userPrincipalName": u.identity.upn,
                        "displayName": u.identity.display_name})),
                })
                .collect();
            page(sim, call, &params, items, false, false, (100, 999))
        }),
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
            rest @ ..,
        ] => get_only(call, || super::report::route(sim, call, rest)),
        [
            "policies",
            "authenticationMethodsPolicy",
            "authenticationMethodConfigurations",
            id,
        ] => get_only(call, || super::policy::configuration(sim, id)),
        ["directory", "authenticationMethodDevices", rest @ ..] => {
            super::hardware_oath::inventory_route(sim, call, rest)
        }
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

fn list_users(sim: &Sim, call: &Call) -> Reply {
    let params = params(call.query);
    let q = match DirectoryQuery::parse(call, &params, false) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let items = sim
        .tenant
        .live()
        .iter()
        .filter(|u| q.keeps(&u.identity))
        .map(|u| Item {
            id: u.identity.id.clone(),
            sort: super::query::sort_text(&q, &u.identity),
            json: Body::User {
                user: Arc::clone(u),
                typed: false,
            },
        })
        .collect();
    page(
        sim,
        call,
        &params,
        items,
        q.count,
        super::query::ordered(&q),
        (100, 999),
    )
}

/// The one activated directory role: Global Administrator ("List directoryRoles" lists the
/// roles activated in the tenant; "List members of a directory role" takes the object id or the
/// template id). Its members are the users the registration report calls `isAdmin`.
const GLOBAL_ADMIN_ROLE_ID: &str = "5d9f6b7e-0c3a-4b1e-9d2f-1a7c3e5b8d40";
/// The Global Administrator role template ("Microsoft Entra built-in roles").
const GLOBAL_ADMIN_TEMPLATE_ID: &str = "62e90394-69f5-4237-9190-012177145e10";

/// `GET /groups`: every group, or those `$filter=displayName eq '...'` (or
/// `startswith(displayName,'...')`) names, compared without regard to case; `$select`, `$top`
/// (default 100, at most 999) and paging. Other filters are answered 400: the simulator knows
/// only these. "List groups" (learn.microsoft.com/graph/api/group-list): `displayName`
/// supports `$filter` (`eq`, `startsWith`) without the advanced query parameters.
fn list_groups(sim: &Sim, call: &Call) -> Reply {
    let params = params(call.query);
    let wanted: Option<(bool, String)> = match param(&params, "$filter") {
        None => None,
        Some(filter) => {
            let f = filter.trim();
            let parsed = if let Some(rest) = f.strip_prefix("displayName eq ") {
                super::query::literal(rest).map(|v| (false, v))
            } else if f
                .to_ascii_lowercase()
                .starts_with("startswith(displayname,")
            {
                f["startswith(displayName,".len()..]
                    .strip_suffix(')')
                    .and_then(super::query::literal)
                    .map(|v| (true, v))
            } else {
                None
            };
            match parsed {
                Some((prefix, v)) => Some((prefix, v.to_lowercase())),
                None => {
                    return super::query::unsupported_query(&format!(
                        "Unsupported or invalid query filter clause specified for property \
                         of resource 'Group': '{filter}'."
                    ));
                }
            }
        }
    };
    let select = param(&params, "$select");
    let items = sim
        .tenant
        .groups
        .iter()
        .filter(|g| match &wanted {
            None => true,
            Some((false, name)) => g.name.to_lowercase() == *name,
            Some((true, prefix)) => g.name.to_lowercase().starts_with(prefix.as_str()),
        })
        .map(|g| Item {
            id: g.id.clone(),
            sort: g.name.to_lowercase(),
            json: Body::Ready(select_with(
                &json!({"id": g.id, "displayName": g.name, "securityEnabled": true,
                        "mailEnabled": false}),
                select,
            )),
        })
        .collect();
    page(sim, call, &params, items, false, false, (100, 999))
}

fn group_route(sim: &Sim, call: &Call, g: usize, rest: &[&str]) -> Reply {
    let group = &sim.tenant.groups[g];
    let (transitive, users_only) = match rest {
        [] => {
            let params = params(call.query);
            return Reply::json(
                200,
                select_with(
                    &json!({"id": group.id, "displayName": group.name}),
                    param(&params, "$select"),
                ),
            );
        }
        ["members"] => (false, false),
        ["transitiveMembers"] => (true, false),
        // The OData cast: "microsoft.graph.user" exactly (Graph's type names are case-sensitive).
        ["members", "microsoft.graph.user"] => (false, true),
        ["transitiveMembers", "microsoft.graph.user"] => (true, true),
        [.., other] => return Reply::unknown_segment(other),
    };
    let params = params(call.query);
    // "To filter the results on the OData type, such as microsoft.graph.user ... you must use
    // the advanced query parameters" ("List group transitive members", v1.0).
    let q = match DirectoryQuery::parse(call, &params, users_only) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let mut items = Vec::new();
    if !users_only && !q.narrows() {
        // Direct nested groups, or every level of them for transitiveMembers.
        let mut stack = group.groups.clone();
        while let Some(sub) = stack.pop() {
            let sub_group = &sim.tenant.groups[sub];
            items.push(Item {
                id: sub_group.id.clone(),
                sort: sub_group.name.to_lowercase(),
                json: Body::Ready(
                    json!({"@odata.type": "#microsoft.graph.group", "id": sub_group.id, "displayName": sub_group.name}),
                ),
            });
            if transitive {
                stack.extend_from_slice(&sim.tenant.groups[sub].groups);
            }
        }
    }
    let users = if transitive {
        sim.tenant.transitive_users(g)
    } else {
        sim.tenant.live_of(&group.users)
    };
    items.extend(
        users
            .into_iter()
            .filter(|u| q.keeps(&u.identity))
            .map(|u| Item {
                id: u.identity.id.clone(),
                sort: super::query::sort_text(&q, &u.identity),
                json: Body::User {
                    user: u,
                    typed: true,
                },
            }),
    );
    page(
        sim,
        call,
        &params,
        items,
        q.count,
        super::query::ordered(&q),
        (100, 999),
    )
}

/// The resource units a request costs ("Microsoft Graph service-specific throttling limits",
/// identity and access: a GET or a write 1; `GET users` 2 and `GET
/// groups/{id}/transitiveMembers` 5 a page; each 1 less with `$select`).
pub(crate) fn cost(call: &Call) -> u32 {
    if call.verb != Verb::GET {
        return 1;
    }
    let segs = segments(call.path);
    let base = match segs
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["users"] => 2,
        ["groups", _, "transitiveMembers", ..] => 5,
        ["groups", _, "members", ..] => 2,
        _ => return 1,
    };
    let selected = params(call.query)
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("$select"));
    if selected { base - 1 } else { base }
}

/// The header that tells a client how close it is to throttling (sent above 80% usage).
pub(crate) const LIMIT_PERCENTAGE: &str = "x-ms-throttle-limit-percentage";

/// The header that gives a request's cost in resource units.
pub(crate) const RESOURCE_UNIT: &str = "x-ms-resource-unit";

/// One Graph request through the per-request pipeline: its cost, the throttle check (a 429 with
/// its headers), the read/write counters, a 503/504 fault for `$batch` items, then the route;
/// for a write, the "applied, then 504" fault. Every answer carries `x-ms-resource-unit`, and
/// `x-ms-throttle-limit-percentage` once a bucket is more than 80% used.
pub(crate) fn answer(sim: &Sim, call: &Call, batch_item: bool) -> Reply {
    use super::introspect::LiveCounters;
    let write = call.verb != Verb::GET;
    if call.low_priority {
        LiveCounters::bump(if batch_item {
            &sim.counters.low_priority_items
        } else {
            &sim.counters.low_priority_requests
        });
    }
    let cost = cost(call);
    let usage = match sim.throttle.admit_item(write, f64::from(cost)) {
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
            return reply.with_header(RESOURCE_UNIT, cost.to_string());
        }
    }
    let mut reply = dispatch(sim, call);
    if write && reply.applied && sim.config.applied_timeouts.draw_item() {
        // The change is made; the caller only learns of a gateway timeout.
        sim.counters.count_fault("504-applied");
        reply = super::faults::applied_timeout();
    }
    let reply = reply.with_header(RESOURCE_UNIT, cost.to_string());
    match usage {
        Some(u) => reply.with_header(LIMIT_PERCENTAGE, format!("{u:.2}")),
        None => reply,
    }
}
