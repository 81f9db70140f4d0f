//! Introspection for tests and rehearsals: the counters the simulator keeps (HTTP requests,
//! batch calls and items, reads, writes, writes and passes per user, duplicate passes, 429s by
//! scope, faults, requests that asked for low throttling priority) and the `/_sim/...` HTTP
//! paths that show them, a user's full state, the groups and the whole tenant; and the paths
//! that change the directory while a job runs (`POST /_sim/users` creates a user, `DELETE
//! /_sim/users/{id or UPN}` deletes one). Called by [`super::server`] for paths under `/_sim/` (never throttled,
//! never faulted, not counted) and by [`super::SimHandle`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use chrono::Utc;
use hyper::Method as Verb;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Sim;
use super::reply::Reply;
use super::throttle::Scope;

/// A snapshot of the simulator's counters since start or the last reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    /// HTTP calls to Graph and the token endpoint (a `$batch` counts once).
    pub http_requests: u64,
    /// `$batch` calls.
    pub batch_calls: u64,
    /// Items inside `$batch` calls.
    pub batch_items: u64,
    /// Graph GETs admitted (single or batch items).
    pub reads: u64,
    /// Graph writes admitted (single or batch items), whatever their outcome.
    pub writes: u64,
    /// Token endpoint calls.
    pub token_requests: u64,
    /// 429 answers by scope (`Tenant_Application/ResourceUnit`, `Tenant_Application/Write`,
    /// `Tenant/Write`, `Application/Request`, `Tenant_Application/Reports`).
    pub throttled: BTreeMap<String, u64>,
    /// Injected faults by kind (`503`, `504`, `reset`, `504-applied`, `batch-504-applied`).
    pub faults: BTreeMap<String, u64>,
    /// Successful writes per user (UPN), users without any left out.
    pub writes_per_user: BTreeMap<String, u64>,
    /// Temporary access passes issued per user (UPN), users without any left out.
    pub taps_per_user: BTreeMap<String, u64>,
    /// Passes issued to a user who had been issued one before in the simulator's life.
    pub duplicate_taps: u64,
    /// `$batch` items whose own `headers` carried `x-ms-throttle-priority: low`.
    pub low_priority_items: u64,
    /// Single (non-batch) requests that carried `x-ms-throttle-priority: low`; the header on a
    /// `$batch` envelope is not counted (Graph does not pass it to the items).
    pub low_priority_requests: u64,
}

/// The live counters (atomics; the per-user ones live in each user's state).
#[derive(Debug, Default)]
pub(crate) struct LiveCounters {
    pub http_requests: AtomicU64,
    pub batch_calls: AtomicU64,
    pub batch_items: AtomicU64,
    pub reads: AtomicU64,
    pub writes: AtomicU64,
    pub token_requests: AtomicU64,
    pub low_priority_items: AtomicU64,
    pub low_priority_requests: AtomicU64,
    throttled: [AtomicU64; 5],
    faults: [AtomicU64; 5],
    duplicate_taps: AtomicU64,
}

const FAULT_KEYS: [&str; 5] = ["503", "504", "reset", "504-applied", "batch-504-applied"];

impl LiveCounters {
    /// Add one to a plain counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// Count a 429 of `scope`.
    pub fn count_throttled(&self, scope: Scope) {
        let i = Scope::ALL.iter().position(|s| *s == scope).unwrap_or(0);
        self.throttled[i].fetch_add(1, Relaxed);
    }

    /// Count an injected fault (`503`, `504` or `reset`).
    pub fn count_fault(&self, key: &str) {
        if let Some(i) = FAULT_KEYS.iter().position(|k| *k == key) {
            self.faults[i].fetch_add(1, Relaxed);
        }
    }

    /// Count a pass issued to a user who had one before.
    pub fn count_duplicate_tap(&self) {
        self.duplicate_taps.fetch_add(1, Relaxed);
    }
}

impl Sim {
    /// A snapshot of every counter.
    pub(crate) fn counters(&self) -> Counters {
        let c = &self.counters;
        let mut out = Counters {
            http_requests: c.http_requests.load(Relaxed),
            batch_calls: c.batch_calls.load(Relaxed),
            batch_items: c.batch_items.load(Relaxed),
            reads: c.reads.load(Relaxed),
            writes: c.writes.load(Relaxed),
            token_requests: c.token_requests.load(Relaxed),
            duplicate_taps: c.duplicate_taps.load(Relaxed),
            low_priority_items: c.low_priority_items.load(Relaxed),
            low_priority_requests: c.low_priority_requests.load(Relaxed),
            ..Counters::default()
        };
        for (scope, n) in Scope::ALL.iter().zip(&c.throttled) {
            out.throttled
                .insert(scope.key().to_string(), n.load(Relaxed));
        }
        for (key, n) in FAULT_KEYS.iter().zip(&c.faults) {
            out.faults.insert((*key).to_string(), n.load(Relaxed));
        }
        for user in self.tenant.everyone() {
            let identity = &user.identity;
            let state = user.lock();
            if state.writes > 0 {
                out.writes_per_user
                    .insert(identity.upn.clone(), state.writes);
            }
            if state.taps_issued > 0 {
                out.taps_per_user
                    .insert(identity.upn.clone(), state.taps_issued);
            }
        }
        out
    }

    /// Zero every counter (the life-long pass history stays, so duplicates are still seen).
    pub(crate) fn reset_counters(&self) {
        let c = &self.counters;
        for a in [
            &c.http_requests,
            &c.batch_calls,
            &c.batch_items,
            &c.reads,
            &c.writes,
            &c.token_requests,
            &c.duplicate_taps,
            &c.low_priority_items,
            &c.low_priority_requests,
        ]
        .into_iter()
        .chain(&c.throttled)
        .chain(&c.faults)
        {
            a.store(0, Relaxed);
        }
        for user in self.tenant.everyone() {
            let mut state = user.lock();
            state.writes = 0;
            state.taps_issued = 0;
        }
    }

    /// The groups with their ids and direct and transitive user counts.
    pub(crate) fn groups_json(&self) -> Value {
        let groups: Vec<Value> = self
            .tenant
            .groups
            .iter()
            .enumerate()
            .map(|(g, group)| {
                json!({
                    "id": group.id,
                    "displayName": group.name,
                    "directUsers": group.users.len(),
                    "transitiveUsers": self.tenant.transitive_users(g).len(),
                    "nestedGroups": group.groups.iter().map(|n| &self.tenant.groups[*n].id).collect::<Vec<_>>(),
                })
            })
            .collect();
        Value::Array(groups)
    }

    /// The whole tenant, every user unmasked (the `--state-out` dump).
    pub(crate) fn state_json(&self) -> Value {
        let now = Utc::now();
        let users: Vec<Value> = self
            .tenant
            .everyone()
            .iter()
            .map(|u| self.tenant.user_dump(u, now))
            .collect();
        json!({
            "tenantId": self.tokens.tenant_id,
            "clientId": self.tokens.client_id,
            "groups": self.groups_json(),
            "users": users,
            "counters": self.counters(),
        })
    }
}

/// Answer a `/_sim/...` path (`path` is what follows `/_sim`).
pub(crate) fn route(sim: &Sim, verb: &Verb, path: &str) -> Reply {
    let segs = super::graph::segments(path);
    let strs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (verb, strs.as_slice()) {
        (&Verb::GET, ["users", user]) => match sim.tenant.find(user) {
            Some(u) => Reply::json(200, sim.tenant.user_dump(&u, Utc::now())),
            None => Reply::not_found(user),
        },
        (&Verb::DELETE, ["users", user]) => match sim.tenant.delete(user) {
            Some(_) => Reply::empty(204),
            None => Reply::not_found(user),
        },
        (&Verb::POST, ["users"]) => {
            let now = Utc::now();
            let u = sim.tenant.create(&sim.config, now);
            Reply::json(201, sim.tenant.user_dump(&u, now))
        }
        (&Verb::GET, ["counters"]) => Reply::json(200, json!(sim.counters())),
        (&Verb::POST, ["counters", "reset"]) => {
            sim.reset_counters();
            Reply::empty(204)
        }
        (&Verb::GET, ["groups"]) => Reply::json(200, sim.groups_json()),
        (&Verb::GET, ["state"]) => Reply::json(200, sim.state_json()),
        (&Verb::GET, ["credentials"]) => Reply::json(
            200,
            json!({
                "tenantId": sim.tokens.tenant_id,
                "clientId": sim.tokens.client_id,
                "clientSecret": sim.tokens.client_secret,
                "tokenUrl": format!("{}/{}/oauth2/v2.0/token", sim.base_url, sim.tokens.tenant_id),
            }),
        ),
        (_, [first, ..]) => Reply::unknown_segment(first),
        (_, []) => Reply::unknown_segment("_sim"),
    }
}
