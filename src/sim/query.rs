//! OData query options on the simulated directory's collections (`/users`, group members):
//! `$filter`, `$search`, `$orderby`, `$count`, `$select`, `$top` and paging through
//! `@odata.nextLink`, with the rule of "Advanced query capabilities on Microsoft Entra ID
//! objects" (learn.microsoft.com/graph/aad-advanced-queries): `endsWith`, `ne`, `not(...)`,
//! `$count`, `$filter` with `$orderby`, and an OData cast on members work only with the header
//! `ConsistencyLevel: eventual` and `$count=true` (`$search` needs only the header); otherwise
//! 400 `Request_UnsupportedQuery`.
//!
//! Enumeration has no documented order without `$orderby`: each new paging session shuffles the
//! collection with a fresh seed, and its `$skiptoken` carries that seed and the last item's place,
//! so one session pages through one stable order while the next sees another. Called by
//! [`super::graph`] and [`super::report`].

use std::sync::atomic::Ordering::Relaxed;

use serde_json::{Map, Value, json};

use super::Sim;
use super::graph::Call;
use super::reply::Reply;
use super::tenant::Identity;

/// Query parameters, decoded (`+` is a space, as ASP.NET reads it).
pub(crate) fn params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

/// The value of query option `name` (names match without regard to case).
pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Keep only the `$select`ed properties of `object` (all of them without `$select`).
pub(crate) fn select_with(object: &Value, fields: Option<&str>) -> Value {
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

/// 400 `Request_UnsupportedQuery`, Graph's answer to a query it cannot or will not run.
pub(crate) fn unsupported_query(message: &str) -> Reply {
    Reply::error(400, "Request_UnsupportedQuery", message)
}

/// A quoted OData string literal (`'o''neil'` is `o'neil`).
pub(crate) fn literal(s: &str) -> Option<String> {
    let inner = s.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

/// A user property a filter can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Upn,
    Mail,
    DisplayName,
    UserType,
    AccountEnabled,
    Id,
}

impl Field {
    fn parse(s: &str) -> Option<Field> {
        Some(match s.trim() {
            "userPrincipalName" => Field::Upn,
            "mail" => Field::Mail,
            "displayName" => Field::DisplayName,
            "userType" => Field::UserType,
            "accountEnabled" => Field::AccountEnabled,
            "id" => Field::Id,
            _ => return None,
        })
    }

    /// The property's value as text (lower case: these comparisons ignore case in Graph).
    fn value(self, u: &Identity) -> Option<String> {
        Some(match self {
            Field::Upn => u.upn.to_lowercase(),
            Field::Mail => (!u.guest).then(|| u.upn.to_lowercase())?,
            Field::DisplayName => u.display_name.to_lowercase(),
            Field::UserType => if u.guest { "guest" } else { "member" }.to_string(),
            Field::AccountEnabled => "true".to_string(),
            Field::Id => u.id.to_lowercase(),
        })
    }
}

/// One test of a `$filter` on users.
#[derive(Debug)]
enum Test {
    StartsWith(Field, String),
    EndsWith(Field, String),
    Eq(Field, String),
    Ne(Field, String),
    Not(Box<Test>),
}

impl Test {
    fn parse(clause: &str) -> Option<Test> {
        let c = clause.trim();
        let lower = c.to_ascii_lowercase();
        if lower.starts_with("not(") && c.ends_with(')') {
            return Some(Test::Not(Box::new(Test::parse(&c[4..c.len() - 1])?)));
        }
        for (name, starts) in [("startswith(", true), ("endswith(", false)] {
            if lower.starts_with(name) && c.ends_with(')') {
                let (field, value) = c[name.len()..c.len() - 1].split_once(',')?;
                let field = Field::parse(field)?;
                let value = literal(value)?.to_lowercase();
                return Some(if starts {
                    Test::StartsWith(field, value)
                } else {
                    Test::EndsWith(field, value)
                });
            }
        }
        let mut words = c.splitn(3, ' ');
        let field = Field::parse(words.next()?)?;
        let op = words.next()?;
        let raw = words.next()?.trim();
        let value = match raw {
            "true" | "false" => raw.to_string(),
            _ => literal(raw)?.to_lowercase(),
        };
        match op {
            "eq" => Some(Test::Eq(field, value)),
            "ne" => Some(Test::Ne(field, value)),
            _ => None,
        }
    }

    /// True for the operators only advanced queries support (`endsWith`, `ne`, `not`).
    fn advanced(&self) -> bool {
        !matches!(self, Test::StartsWith(..) | Test::Eq(..))
    }

    fn holds(&self, u: &Identity) -> bool {
        match self {
            Test::StartsWith(f, v) => f.value(u).is_some_and(|x| x.starts_with(v.as_str())),
            Test::EndsWith(f, v) => f.value(u).is_some_and(|x| x.ends_with(v.as_str())),
            Test::Eq(f, v) => f.value(u).is_some_and(|x| x == *v),
            Test::Ne(f, v) => f.value(u).is_none_or(|x| x != *v),
            Test::Not(t) => !t.holds(u),
        }
    }
}

/// The query options of a directory listing, checked against the advanced-query rule.
pub(crate) struct DirectoryQuery {
    tests: Vec<Test>,
    search: Option<String>,
    order_by: Option<Field>,
    /// `$count=true`: the answer carries `@odata.count`.
    pub count: bool,
}

impl DirectoryQuery {
    /// Parse the options of `call`; `cast` is true for an OData cast segment on members.
    /// Refuses (400 `Request_UnsupportedQuery`) what needs advanced query parameters without
    /// them, and filters the simulator cannot read.
    pub fn parse(call: &Call, params: &[(String, String)], cast: bool) -> Result<Self, Reply> {
        let tests = match param(params, "$filter") {
            None => Vec::new(),
            Some(f) => split_and(f)
                .iter()
                .map(|c| Test::parse(c))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    unsupported_query("Unsupported or invalid query filter clause specified.")
                })?,
        };
        let count = match param(params, "$count") {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(_) => return Err(unsupported_query("Invalid $count value.")),
        };
        let search = param(params, "$search").map(|s| s.trim_matches('"').to_string());
        let order_by = match param(params, "$orderby") {
            None => None,
            Some(o) => {
                let field = o.split_whitespace().next().unwrap_or("");
                match Field::parse(field) {
                    Some(f @ (Field::Upn | Field::DisplayName)) => Some(f),
                    _ => return Err(unsupported_query("Unsupported sort property.")),
                }
            }
        };
        let advanced = cast
            || tests.iter().any(Test::advanced)
            || count
            || (order_by.is_some() && !tests.is_empty());
        if search.is_some() && !call.eventual {
            // "$search ... requires the ConsistencyLevel header" (no $count needed).
            return Err(unsupported_query(
                "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
            ));
        }
        if advanced && !(call.eventual && count) {
            return Err(unsupported_query(
                "Unsupported Query. This query needs the advanced query parameters: the header 'ConsistencyLevel: eventual' and '$count=true'.",
            ));
        }
        Ok(DirectoryQuery {
            tests,
            search,
            order_by,
            count,
        })
    }

    /// True when `u` passes the filter and the search.
    pub fn keeps(&self, u: &Identity) -> bool {
        self.tests.iter().all(|t| t.holds(u))
            && self.search.as_deref().is_none_or(|s| {
                let (field, value) = s.split_once(':').unwrap_or(("displayName", s));
                Field::parse(field)
                    .and_then(|f| f.value(u))
                    .is_some_and(|x| x.contains(&value.to_lowercase()))
            })
    }

    /// True when a filter or search narrows the collection.
    pub fn narrows(&self) -> bool {
        !self.tests.is_empty() || self.search.is_some()
    }
}

/// Split a filter on its top-level ` and `s.
fn split_and(filter: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut quoted = false;
    let mut current = String::new();
    let chars: Vec<char> = filter.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            _ => {}
        }
        let rest: String = chars[i..].iter().take(5).collect();
        if !quoted && depth == 0 && rest.eq_ignore_ascii_case(" and ") {
            out.push(std::mem::take(&mut current));
            i += 5;
            continue;
        }
        current.push(c);
        i += 1;
    }
    out.push(current);
    out
}

/// A member of a listed collection: its object id (the paging key) and its JSON.
pub(crate) struct Item {
    /// Object id.
    pub id: String,
    /// Sort text under `$orderby` (lower case).
    pub sort: String,
    /// The object as Graph shows it (before `$select`).
    pub json: Value,
}

/// A 64-bit mix of a session seed and an object id: the order of one paging session.
fn place(seed: u64, id: &str) -> u64 {
    // FNV-1a, then splitmix64's finaliser for a well-spread order.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

fn invalid_token() -> Reply {
    Reply::error(
        400,
        "Request_BadRequest",
        "The specified page token value has expired or is invalid.",
    )
}

/// One page of `items` for `call`, as Graph answers it: `value`, `@odata.nextLink` (the same
/// query with a `$skiptoken`), and `@odata.count` when `$count=true`.
pub(crate) fn page(
    sim: &Sim,
    call: &Call,
    params: &[(String, String)],
    mut items: Vec<Item>,
    count: bool,
    ordered: bool,
    (default_top, max_top): (usize, usize),
) -> Reply {
    let top = match param(params, "$top") {
        None => default_top,
        Some(t) => match t.parse::<usize>() {
            Ok(t) if (1..=max_top).contains(&t) => t,
            _ => {
                return Reply::error(
                    400,
                    "Request_BadRequest",
                    format!(
                        "Invalid page size specified: '{t}'. Must be between 1 and {max_top} inclusive."
                    ),
                );
            }
        },
    };
    // The session: its seed (a new one for a first page) and the last place already given.
    let (seed, after) = match param(params, "$skiptoken") {
        None => (
            sim.config.seed ^ place(sim.paging_sessions.fetch_add(1, Relaxed), "session"),
            None,
        ),
        Some(token) => {
            let parsed = token.strip_prefix('X').and_then(|t| {
                let (s, a) = t.split_once('.')?;
                Some((
                    u64::from_str_radix(s, 16).ok()?,
                    u64::from_str_radix(a, 16).ok()?,
                ))
            });
            match parsed {
                Some((s, a)) => (s, Some(a)),
                None => return invalid_token(),
            }
        }
    };
    let total = items.len();
    // Under $orderby the place is the rank in that order (ties by id); else the session's
    // shuffle.
    let mut keyed: Vec<(u64, Item)> = if ordered {
        items.sort_by(|a, b| a.sort.cmp(&b.sort).then_with(|| a.id.cmp(&b.id)));
        items
            .into_iter()
            .enumerate()
            .map(|(i, it)| (i as u64, it))
            .collect()
    } else {
        items
            .into_iter()
            .map(|it| (place(seed, &it.id), it))
            .collect()
    };
    keyed.retain(|(k, _)| after.is_none_or(|a| *k > a));
    keyed.sort_unstable_by_key(|(k, _)| *k);
    let more = keyed.len() > top;
    keyed.truncate(top);
    let fields = param(params, "$select");
    let last = keyed.last().map(|(k, _)| *k);
    let value: Vec<Value> = keyed
        .into_iter()
        .map(|(_, it)| select_with(&it.json, fields))
        .collect();
    let mut body = json!({ "value": value });
    if count {
        body["@odata.count"] = json!(total);
    }
    if let (true, Some(last)) = (more, last) {
        let mut query: String = call
            .query
            .split('&')
            .filter(|p| !p.is_empty() && !p.to_ascii_lowercase().starts_with("$skiptoken="))
            .map(|p| format!("{p}&"))
            .collect();
        query.push_str(&format!("$skiptoken=X{seed:x}.{last:x}"));
        let version = if call.beta { "beta" } else { "v1.0" };
        body["@odata.nextLink"] = json!(format!("{}/{version}{}?{query}", sim.base_url, call.path));
    }
    Reply::json(200, body)
}

/// The sort text of a user under `order_by`.
pub(crate) fn sort_text(q: &DirectoryQuery, u: &Identity) -> String {
    match q.order_by {
        Some(Field::DisplayName) => u.display_name.to_lowercase(),
        Some(_) => u.upn.to_lowercase(),
        None => String::new(),
    }
}

/// True under `$orderby`.
pub(crate) fn ordered(q: &DirectoryQuery) -> bool {
    q.order_by.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_split_on_top_level_and_only() {
        assert_eq!(
            split_and("startswith(userPrincipalName,'a and b') and userType eq 'Member'"),
            vec![
                "startswith(userPrincipalName,'a and b')",
                "userType eq 'Member'"
            ]
        );
    }

    #[test]
    fn advanced_operators_are_recognised() {
        for (clause, advanced) in [
            ("endswith(userPrincipalName,'x')", true),
            ("endsWith(mail,'x')", true),
            ("userType ne 'Guest'", true),
            ("not(startswith(displayName,'a'))", true),
            ("startswith(userPrincipalName,'a')", false),
            ("userType eq 'Guest'", false),
        ] {
            assert_eq!(
                Test::parse(clause).unwrap().advanced(),
                advanced,
                "{clause}"
            );
        }
    }
}
