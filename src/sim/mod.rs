//! The simulated tenant: a faithful imitation of the parts of Microsoft Graph and of the token
//! endpoint that authbulk uses (DESIGN.md, "The simulator"). Used by `authbulk sim`, by
//! `run --simulate` (in-process) and by tests and benchmarks through [`start`] and
//! [`SimHandle`].
//!
//! | file | owns |
//! |---|---|
//! | `catalog` | Graph's names: typed collections, `@odata.type`s, phone types, fixed ids, default methods |
//! | `tenant` | the directory: users (created and deleted while running), groups, mobile numbers |
//! | `state` | a user's methods and settings, and how Graph renders them |
//! | `generate` | the deterministic generator of users, methods and groups |
//! | `methods` | `/users/{u}/authentication/...` with the service rules |
//! | `graph` | routes, users, groups, permissions, resource-unit costs, the per-request pipeline |
//! | `query` | `$filter`, `$search`, `$orderby`, `$count`, paging, the advanced-query rule |
//! | `report` | the registration report (`userRegistrationDetails`) |
//! | `policy` | the authentication methods policy's TAP and SMS configurations |
//! | `qr_pin` | the QR code + PIN method (create, PIN reset, GET) and its policy |
//! | `batch` | `$batch` |
//! | `token` | the token endpoint and access tokens |
//! | `throttle` | token buckets |
//! | `faults` | latency, 503/504, dropped connections |
//! | `introspect` | counters and `/_sim/...` |
//! | `hardware_oath` | the hardware OATH token inventory and a user's tokens (beta) |
//! | `server` | the HTTP server |
//!
//! Several tenants ([`SimConfig::tenants`]): one server answers for all of them, each a
//! separate `Sim` (directory, app registration, credentials, throttle buckets, counters), as
//! Microsoft Graph and Entra keep tenants apart: "Throttling limits" of "Microsoft Graph
//! service-specific throttling limits" are per app and tenant. Tenant `k` is generated from seed
//! `seed + k` (tenant 0 is the single tenant of old, unchanged). The token endpoint routes by
//! the tenant in its path (`/{tenant}/oauth2/v2.0/token`); Graph calls by the `tid` claim of the
//! bearer token (the tenant the token was issued for, per "Access token claims reference"),
//! which that tenant then verifies as before; a call whose token names no tenant of the
//! simulator goes to tenant 0, which refuses it. The users' UPNs are the same in every tenant
//! (`user00000@contoso.onmicrosoft.com`, ...), so one job file applies to each; the domain
//! `contoso.onmicrosoft.com` in a token path names tenant 0. `/_sim/tenants` lists the tenants'
//! credentials; `/_sim/tenants/{tenant id}/...` is that tenant's introspection (plain `/_sim/...`
//! is tenant 0's).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use rand::Rng;
use serde_json::Value;

mod batch;
mod catalog;
mod faults;
mod generate;
mod graph;
mod hardware_oath;
mod introspect;
mod methods;
mod policy;
mod qr_pin;
mod query;
mod reply;
mod report;
mod server;
mod state;
mod tenant;
mod throttle;
mod token;

pub use faults::{AppliedTimeouts, FaultRates};
pub use generate::upn;
pub use introspect::Counters;
pub use qr_pin::QrPinPolicy;
pub use throttle::{Budgets, TenantSize};

/// The temporary access pass policy of the simulated tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapPolicy {
    /// Shortest lifetime allowed, minutes (default 60).
    pub min_minutes: u32,
    /// Longest lifetime allowed, minutes (default 480).
    pub max_minutes: u32,
    /// Lifetime of a pass created without one, minutes (default 60).
    pub default_minutes: u32,
    /// Users with index `i % n == n - 1` are outside the policy's targets (default `Some(11)`:
    /// users 10, 21, 32, ...), as members of an excluded group; `None` targets everyone.
    pub excluded_every: Option<usize>,
    /// Every pass is one-time use, whatever the create asks (default false).
    pub usable_once: bool,
    /// Length of a pass in characters (default 8; the docs allow 8 to 48).
    pub length: u32,
    /// The policy's `state` is `enabled` (default); false: `disabled`, and no pass is created.
    pub enabled: bool,
}

impl Default for TapPolicy {
    fn default() -> Self {
        TapPolicy {
            min_minutes: 60,
            max_minutes: 480,
            default_minutes: 60,
            excluded_every: Some(11),
            usable_once: false,
            length: 8,
            enabled: true,
        }
    }
}

/// Everything the simulator can be told; every flag of `authbulk sim` maps to a field.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of generated users.
    pub users: usize,
    /// Seed of the generated tenant (users, methods, groups, ids, credentials).
    pub seed: u64,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Budget preset.
    pub tenant_size: TenantSize,
    /// Override: resource units per 10 s per app+tenant.
    pub ru_per_10s: Option<f64>,
    /// Override: writes per 150 s per app+tenant.
    pub writes_per_150s: Option<f64>,
    /// Override: writes per 5 min for the tenant (all apps).
    pub tenant_writes_per_5min: Option<f64>,
    /// Override: HTTP requests per 10 s for the app (a `$batch` counts once).
    pub app_requests_per_10s: Option<f64>,
    /// No throttling at all (raw-speed runs).
    pub unthrottled: bool,
    /// Share (0..1) of the tenant-wide write budget used by other apps.
    pub background_load: f64,
    /// Latency added to every HTTP call, drawn uniformly from this range.
    pub latency: Option<(Duration, Duration)>,
    /// Fault rates.
    pub faults: FaultRates,
    /// Rates of writes that are applied and then answered 504.
    pub applied_timeouts: AppliedTimeouts,
    /// Lifetime of issued access tokens.
    pub token_ttl: Duration,
    /// Application permissions withheld (e.g. `UserAuthenticationMethod.ReadWrite.All`).
    pub deny: BTreeSet<String>,
    /// Application permissions tokens still claim but calls are refused for (`--refuse`).
    pub refuse: BTreeSet<String>,
    /// Certificates (PEM) the app registration trusts for client assertions.
    pub client_certificates: Vec<String>,
    /// The temporary access pass policy.
    pub tap_policy: TapPolicy,
    /// The SMS method of the authentication methods policy is enabled for all users, so SMS
    /// sign-in can be enabled on a unique mobile (default true); false: every mobile shows
    /// `notAllowedByPolicy` and `enableSmsSignIn` is refused.
    pub sms_sign_in_allowed: bool,
    /// Share (0..1) of Windows Hello deletes refused with "MFA is required for a 'RemoveKey'
    /// operation".
    pub hello_refusal_rate: f64,
    /// The tenant has Entra ID P1/P2 licences; without them the registration report answers
    /// 403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant` (default true).
    pub premium: bool,
    /// Extra groups, after the generated ones, with these display names (a name may repeat one
    /// already there); the direct members of each are users 0 to 9.
    pub extra_groups: Vec<String>,
    /// Where to dump the tenant as JSON on [`SimHandle::shutdown`].
    pub state_out: Option<PathBuf>,
    /// The QR code PIN policy (`pinLength`, `standardQRCodeLifetimeInDays`).
    pub qr_pin_policy: QrPinPolicy,
    /// How many tenants the server answers for (default 1); tenant `k` has seed `seed + k`,
    /// its own app registration and its own throttle buckets.
    pub tenants: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            users: 1000,
            seed: 42,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tenant_size: TenantSize::Large,
            ru_per_10s: None,
            writes_per_150s: None,
            tenant_writes_per_5min: None,
            app_requests_per_10s: None,
            unthrottled: false,
            background_load: 0.0,
            latency: None,
            faults: FaultRates::default(),
            applied_timeouts: AppliedTimeouts::default(),
            token_ttl: Duration::from_secs(3599),
            deny: BTreeSet::new(),
            refuse: BTreeSet::new(),
            client_certificates: Vec::new(),
            tap_policy: TapPolicy::default(),
            hello_refusal_rate: 0.0,
            sms_sign_in_allowed: true,
            premium: true,
            extra_groups: Vec::new(),
            state_out: None,
            qr_pin_policy: QrPinPolicy::default(),
            tenants: 1,
        }
    }
}

impl SimConfig {
    /// The budgets in force: the preset with the overrides applied; `None` when unthrottled.
    pub fn budgets(&self) -> Option<Budgets> {
        (!self.unthrottled).then(|| Budgets {
            ru_per_10s: self.ru_per_10s.unwrap_or(self.tenant_size.ru_per_10s()),
            writes_per_150s: self.writes_per_150s.unwrap_or(3_000.0),
            tenant_writes_per_5min: self.tenant_writes_per_5min.unwrap_or(18_000.0),
            app_requests_per_10s: self.app_requests_per_10s.unwrap_or(130_000.0),
        })
    }

    /// The tenant id, client id and client secret the seed gives.
    fn credentials(&self) -> (String, String, String) {
        let mut rng = generate::rng_for(self.seed, 3, 0);
        let tenant_id = generate::uuid_from(&mut rng);
        let client_id = generate::uuid_from(&mut rng);
        let secret: [u8; 24] = rng.random();
        let secret = format!(
            "sim~{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        (tenant_id, client_id, secret)
    }
}

/// The shared state of one running simulator.
pub(crate) struct Sim {
    config: SimConfig,
    base_url: String,
    tenant: tenant::Tenant,
    tokens: token::Tokens,
    throttle: throttle::Throttle,
    counters: introspect::LiveCounters,
    request_seq: AtomicU64,
    request_prefix: u64,
    /// Paging sessions begun (each first page of a listing draws its order from this).
    paging_sessions: AtomicU64,
    /// The hardware OATH token inventory (beta).
    oath: hardware_oath::Inventory,
}

impl Sim {
    /// A fresh `request-id`.
    fn next_request_id(&self) -> String {
        let n = self.request_seq.fetch_add(1, Relaxed);
        uuid::Uuid::from_u64_pair(self.request_prefix, 0x8000_0000_0000_0000 | n)
            .hyphenated()
            .to_string()
    }

    /// Count a 429 and build its answer.
    fn throttled(&self, t: throttle::Throttled) -> reply::Reply {
        self.counters.count_throttled(t.scope);
        let mut reply = reply::Reply::error(
            429,
            "TooManyRequests",
            "Too many requests. Please retry after the time in the Retry-After header.",
        );
        reply.headers = self.throttle.headers(t);
        reply
    }
}

/// Start a simulator on the current tokio runtime, listening on `config.listen`.
pub async fn start(config: SimConfig) -> anyhow::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding the simulator to {}", config.listen))?;
    let addr = listener
        .local_addr()
        .context("reading the simulator's address")?;
    let base_url = format!("http://{addr}");
    let count = config.tenants.max(1);
    let mut all = Vec::with_capacity(count);
    for k in 1..count {
        let mut other = config.clone();
        other.seed = config.seed.wrapping_add(k as u64);
        other.state_out = None;
        all.push(build(other, &base_url)?);
    }
    all.insert(0, build(config, &base_url)?);
    let tenants = Arc::new(server::Tenants::new(all));
    let sim = Arc::clone(tenants.first());
    let task = tokio::spawn(server::serve(listener, Arc::clone(&tenants)));
    Ok(SimHandle { sim, tenants, task })
}

/// One tenant of the simulator, answering at `base_url`.
fn build(config: SimConfig, base_url: &str) -> anyhow::Result<Arc<Sim>> {
    let (tenant_id, client_id, client_secret) = config.credentials();
    let tokens = token::Tokens::new(
        tenant_id.clone(),
        client_id.clone(),
        client_secret,
        config.token_ttl,
        rand::rng().random(),
        &config.client_certificates,
    )
    .context("loading the simulator's trusted client certificates")?
    .without_app_roles(&config.deny);
    let throttle = throttle::Throttle::new(
        config.budgets(),
        config.background_load,
        &client_id,
        &tenant_id,
    );
    let tenant = tenant::Tenant::generate(&config, chrono::Utc::now());
    let oath = hardware_oath::Inventory::from_tenant(&tenant);
    Ok(Arc::new(Sim {
        base_url: base_url.to_string(),
        tenant,
        tokens,
        throttle,
        counters: introspect::LiveCounters::default(),
        request_seq: AtomicU64::new(0),
        request_prefix: rand::rng().random(),
        paging_sessions: AtomicU64::new(0),
        oath,
        config,
    }))
}

/// One tenant of a simulator that serves several ([`SimHandle::tenant`]).
pub struct SimTenant {
    sim: Arc<Sim>,
}

impl SimTenant {
    /// Tenant id.
    pub fn tenant_id(&self) -> &str {
        &self.sim.tokens.tenant_id
    }

    /// Client (application) id of its app registration.
    pub fn client_id(&self) -> &str {
        &self.sim.tokens.client_id
    }

    /// Client secret of its app registration.
    pub fn client_secret(&self) -> &str {
        &self.sim.tokens.client_secret
    }

    /// A snapshot of its counters.
    pub fn counters(&self) -> Counters {
        self.sim.counters()
    }

    /// The full, unmasked state of one of its users (by UPN or object id).
    pub fn user_state(&self, user: &str) -> Option<Value> {
        let u = self.sim.tenant.find(user)?;
        Some(self.sim.tenant.user_dump(&u, chrono::Utc::now()))
    }
}

/// A running simulator. Dropping it stops the server.
pub struct SimHandle {
    /// Tenant 0, which the methods below speak of.
    sim: Arc<Sim>,
    tenants: Arc<server::Tenants>,
    task: tokio::task::JoinHandle<()>,
}

impl SimHandle {
    /// How many tenants it serves.
    pub fn tenant_count(&self) -> usize {
        self.tenants.all().len()
    }

    /// Tenant `k` (0 is the one the other methods speak of).
    pub fn tenant(&self, k: usize) -> Option<SimTenant> {
        self.tenants.all().get(k).map(|sim| SimTenant {
            sim: Arc::clone(sim),
        })
    }

    /// Base URL, `http://127.0.0.1:PORT`: the Graph root (`{url}/v1.0/...`) and the token
    /// authority (`{url}/{tenant}/oauth2/v2.0/token`).
    pub fn url(&self) -> &str {
        &self.sim.base_url
    }

    /// The token endpoint URL.
    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.url(), self.tenant_id())
    }

    /// Tenant id.
    pub fn tenant_id(&self) -> &str {
        &self.sim.tokens.tenant_id
    }

    /// Client (application) id.
    pub fn client_id(&self) -> &str {
        &self.sim.tokens.client_id
    }

    /// Client secret.
    pub fn client_secret(&self) -> &str {
        &self.sim.tokens.client_secret
    }

    /// A valid access token, as the token endpoint would issue it.
    pub fn mint_token(&self) -> String {
        self.sim.tokens.mint().0
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        self.sim.counters()
    }

    /// Zero the counters.
    pub fn reset_counters(&self) {
        self.sim.reset_counters();
    }

    /// The full, unmasked state of a user (by UPN or object id), issued passes included.
    pub fn user_state(&self, user: &str) -> Option<Value> {
        let u = self.sim.tenant.find(user)?;
        Some(self.sim.tenant.user_dump(&u, chrono::Utc::now()))
    }

    /// The object id of user `i` (deleted or not).
    pub fn user_id(&self, i: usize) -> Option<String> {
        self.sim.tenant.user(i).map(|u| u.identity.id.clone())
    }

    /// Delete a user (by UPN or object id) from the directory, as `DELETE /_sim/users/{u}`
    /// does; false when there is no such user.
    pub fn delete_user(&self, user: &str) -> bool {
        self.sim.tenant.delete(user).is_some()
    }

    /// Create a user (the generator's next one), as `POST /_sim/users` does; returns its UPN.
    pub fn create_user(&self) -> String {
        self.sim
            .tenant
            .create(&self.sim.config, chrono::Utc::now())
            .identity
            .upn
            .clone()
    }

    /// Create a user with this UPN (otherwise the generator's next one); returns its object id.
    pub fn create_user_named(&self, upn: &str) -> String {
        self.sim
            .tenant
            .create_named(&self.sim.config, upn, chrono::Utc::now())
            .identity
            .id
            .clone()
    }

    /// The groups' ids: Sales, Engineering (Engineering Contractors nested inside), Engineering
    /// Contractors, Guests, Pilot, Temporary Access Pass excluded.
    pub fn group_ids(&self) -> Vec<String> {
        self.sim
            .tenant
            .groups
            .iter()
            .map(|g| g.id.clone())
            .collect()
    }

    /// The groups as `/_sim/groups` shows them (ids, names, member counts).
    pub fn groups(&self) -> Value {
        self.sim.groups_json()
    }

    /// The whole tenant as JSON (what `--state-out` writes).
    pub fn state(&self) -> Value {
        self.sim.state_json()
    }

    /// What `--state-out` writes: the tenant's state; with several tenants, an object of each
    /// tenant's state by tenant id.
    fn state_dump(&self) -> Value {
        match self.tenants.all() {
            [one] => one.state_json(),
            all => Value::Object(
                all.iter()
                    .map(|sim| (sim.tokens.tenant_id.clone(), sim.state_json()))
                    .collect(),
            ),
        }
    }

    /// Stop the server, then write the state dump when `state_out` is set.
    pub fn shutdown(self) -> anyhow::Result<()> {
        self.task.abort();
        if let Some(path) = &self.sim.config.state_out {
            let text = serde_json::to_vec_pretty(&self.state_dump())
                .context("serialising the simulator's state")?;
            std::fs::write(path, text)
                .with_context(|| format!("writing the simulator's state to {}", path.display()))?;
        }
        Ok(())
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
