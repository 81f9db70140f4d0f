//! The simulator's throttling: token buckets refilled continuously, one per scope of
//! graph-contract.md ("Throttling"): resource units per 10 s and writes per 150 s per
//! app+tenant, tenant-wide writes per 5 min (of which `--background-load` is eaten by other
//! apps), and the app-wide request limit per 10 s that throttles whole HTTP calls (a `$batch`
//! as one). The server asks [`Throttle::admit_call`] once per HTTP call and
//! [`Throttle::admit_item`] once per Graph request (each `$batch` item on its own).

use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// A published tenant-size preset (graph-contract.md): small < 50 users, medium 50 to 500,
/// large > 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantSize {
    /// 3,500 resource units per 10 s.
    Small,
    /// 5,000 resource units per 10 s.
    Medium,
    /// 8,000 resource units per 10 s.
    Large,
}

impl TenantSize {
    /// The preset for a tenant of `users` users.
    pub fn for_users(users: usize) -> TenantSize {
        match users {
            0..50 => TenantSize::Small,
            50..=500 => TenantSize::Medium,
            _ => TenantSize::Large,
        }
    }

    /// Resource units per 10 s per app+tenant.
    pub fn ru_per_10s(self) -> f64 {
        match self {
            TenantSize::Small => 3_500.0,
            TenantSize::Medium => 5_000.0,
            TenantSize::Large => 8_000.0,
        }
    }
}

/// The budgets the buckets are built from (the preset, with any explicit override applied).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Budgets {
    /// Resource units per 10 s per app+tenant.
    pub ru_per_10s: f64,
    /// Writes per 150 s per app+tenant.
    pub writes_per_150s: f64,
    /// Writes per 5 min for the tenant, all apps together.
    pub tenant_writes_per_5min: f64,
    /// Requests per 10 s for the app (HTTP calls, a `$batch` counting once).
    pub app_requests_per_10s: f64,
}

/// The scope whose bucket refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// App+tenant resource units.
    ResourceUnit,
    /// App+tenant writes.
    Write,
    /// Tenant writes, all apps.
    TenantWrite,
    /// App requests, all tenants.
    AppRequest,
    /// The identity and access reports limit, per app+tenant.
    Reports,
}

impl Scope {
    /// Every scope, in counter order.
    pub const ALL: [Scope; 5] = [
        Scope::ResourceUnit,
        Scope::Write,
        Scope::TenantWrite,
        Scope::AppRequest,
        Scope::Reports,
    ];

    /// The counter key (the scope without the ids).
    pub fn key(self) -> &'static str {
        match self {
            Scope::ResourceUnit => "Tenant_Application/ResourceUnit",
            Scope::Write => "Tenant_Application/Write",
            Scope::TenantWrite => "Tenant/Write",
            Scope::AppRequest => "Application/Request",
            Scope::Reports => "Tenant_Application/Reports",
        }
    }

    /// `x-ms-throttle-information`.
    fn information(self) -> &'static str {
        match self {
            Scope::ResourceUnit => "ResourceUnitLimitExceeded",
            Scope::Write | Scope::TenantWrite => "WriteLimitExceeded",
            Scope::AppRequest | Scope::Reports => "RequestLimitExceeded",
        }
    }
}

/// A refusal: which scope, and how long until its bucket can admit the request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Throttled {
    /// The scope.
    pub scope: Scope,
    /// Seconds until the bucket holds enough tokens.
    pub retry_after: f64,
}

#[derive(Debug)]
struct Bucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
}

impl Bucket {
    fn new(capacity: f64, window_seconds: f64) -> Bucket {
        Bucket {
            capacity,
            per_second: capacity / window_seconds,
            tokens: capacity,
        }
    }

    fn refill(&mut self, elapsed: f64) {
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
    }

    /// Seconds until `cost` tokens are there (0 when they are now).
    fn wait(&self, cost: f64) -> f64 {
        if self.tokens >= cost {
            0.0
        } else if self.per_second <= 0.0 || cost > self.capacity {
            f64::INFINITY
        } else {
            (cost - self.tokens) / self.per_second
        }
    }

    fn usage(&self) -> f64 {
        if self.capacity <= 0.0 {
            1.0
        } else {
            1.0 - self.tokens / self.capacity
        }
    }
}

#[derive(Debug)]
struct Buckets {
    last: Instant,
    ru: Bucket,
    writes: Bucket,
    tenant_writes: Bucket,
    app: Bucket,
    reports: Bucket,
}

impl Buckets {
    fn refill(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        for b in [
            &mut self.ru,
            &mut self.writes,
            &mut self.tenant_writes,
            &mut self.app,
            &mut self.reports,
        ] {
            b.refill(elapsed);
        }
    }
}

/// The buckets of one app in one tenant. One short lock, never held across an await.
#[derive(Debug)]
pub(crate) struct Throttle {
    buckets: Option<Mutex<Buckets>>,
    app: String,
    tenant: String,
}

/// The headers of an admitted request: `x-ms-throttle-limit-percentage` once usage passes 0.8.
pub(crate) type Usage = Option<f64>;

impl Throttle {
    /// Buckets for `budgets`, full at start; `background_load` (0..1) of the tenant-wide write
    /// budget belongs to other apps. `None` budgets: never throttle.
    pub fn new(budgets: Option<Budgets>, background_load: f64, app: &str, tenant: &str) -> Self {
        let ours = (1.0 - background_load).clamp(0.0, 1.0);
        Throttle {
            buckets: budgets.map(|b| {
                Mutex::new(Buckets {
                    last: Instant::now(),
                    ru: Bucket::new(b.ru_per_10s, 10.0),
                    writes: Bucket::new(b.writes_per_150s, 150.0),
                    tenant_writes: Bucket::new(b.tenant_writes_per_5min * ours, 300.0),
                    app: Bucket::new(b.app_requests_per_10s, 10.0),
                    // "Identity and access reports service limits": 5 requests per 10 s.
                    reports: Bucket::new(5.0, 10.0),
                })
            }),
            app: app.to_string(),
            tenant: tenant.to_string(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Buckets) -> T) -> Option<T> {
        self.buckets.as_ref().map(|m| {
            let mut b = m.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            b.refill();
            f(&mut b)
        })
    }

    /// Admit one HTTP call against the app-wide request limit.
    pub fn admit_call(&self) -> Result<Usage, Throttled> {
        self.with(|b| admit(&mut [(&mut b.app, Scope::AppRequest)], 1.0))
            .unwrap_or(Ok(None))
    }

    /// Admit one Graph request of `cost` resource units, and 1 write in both write scopes for
    /// anything but a GET. A refused request takes nothing from any bucket.
    pub fn admit_item(&self, write: bool, cost: f64) -> Result<Usage, Throttled> {
        self.with(|b| {
            if write {
                let ru = admit(&mut [(&mut b.ru, Scope::ResourceUnit)], cost)?;
                match admit(
                    &mut [
                        (&mut b.writes, Scope::Write),
                        (&mut b.tenant_writes, Scope::TenantWrite),
                    ],
                    1.0,
                ) {
                    Ok(w) => Ok(ru.into_iter().chain(w).reduce(f64::max)),
                    Err(t) => {
                        // Refused: give back the resource units, so it took nothing.
                        b.ru.tokens += cost;
                        Err(t)
                    }
                }
            } else {
                admit(&mut [(&mut b.ru, Scope::ResourceUnit)], cost)
            }
        })
        .unwrap_or(Ok(None))
    }

    /// Admit one request to the registration report against the reports limit.
    pub fn admit_report(&self) -> Result<Usage, Throttled> {
        self.with(|b| admit(&mut [(&mut b.reports, Scope::Reports)], 1.0))
            .unwrap_or(Ok(None))
    }

    /// The headers of a 429 for `t`: `Retry-After` (fractional seconds), scope and information.
    pub fn headers(&self, t: Throttled) -> Vec<(&'static str, String)> {
        let scope = match t.scope {
            Scope::ResourceUnit | Scope::Write => {
                format!("{}/{}/{}", t.scope.key(), self.app, self.tenant)
            }
            Scope::TenantWrite => format!("{}/{}", t.scope.key(), self.tenant),
            Scope::AppRequest => format!("{}/{}", t.scope.key(), self.app),
            Scope::Reports => format!("{}/{}/{}", t.scope.key(), self.app, self.tenant),
        };
        vec![
            ("Retry-After", retry_after(t.retry_after)),
            ("x-ms-throttle-scope", scope),
            (
                "x-ms-throttle-information",
                t.scope.information().to_string(),
            ),
        ]
    }
}

/// Seconds as `Retry-After` sends them: fractional, never 0.
pub(crate) fn retry_after(seconds: f64) -> String {
    if seconds.is_finite() {
        format!("{:.3}", seconds.max(0.001))
    } else {
        "86400".to_string()
    }
}

fn admit(buckets: &mut [(&mut Bucket, Scope)], cost: f64) -> Result<Usage, Throttled> {
    let worst = buckets
        .iter()
        .map(|(b, s)| (b.wait(cost), *s))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((wait, scope)) = worst
        && wait > 0.0
    {
        return Err(Throttled {
            scope,
            retry_after: wait,
        });
    }
    let mut usage: f64 = 0.0;
    for (b, _) in buckets.iter_mut() {
        b.tokens -= cost;
        usage = usage.max(b.usage());
    }
    Ok((usage > 0.8).then_some(usage))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budgets(ru: f64, writes: f64) -> Budgets {
        Budgets {
            ru_per_10s: ru,
            writes_per_150s: writes,
            tenant_writes_per_5min: 1e9,
            app_requests_per_10s: 1e9,
        }
    }

    #[test]
    fn a_request_over_budget_waits_exactly_for_its_token() {
        let t = Throttle::new(Some(budgets(10.0, 1e9)), 0.0, "a", "t");
        for _ in 0..10 {
            assert!(t.admit_item(false, 1.0).is_ok());
        }
        let refused = t.admit_item(false, 1.0).unwrap_err();
        assert_eq!(refused.scope, Scope::ResourceUnit);
        // 1 token per second: the next one is (almost exactly) a second away.
        assert!((refused.retry_after - 1.0).abs() < 0.01, "{refused:?}");
    }

    #[test]
    fn writes_are_refused_by_the_write_bucket_while_reads_still_pass() {
        let t = Throttle::new(Some(budgets(1000.0, 3.0)), 0.0, "a", "t");
        for _ in 0..3 {
            assert!(t.admit_item(true, 1.0).is_ok());
        }
        let refused = t.admit_item(true, 1.0).unwrap_err();
        assert_eq!(refused.scope, Scope::Write);
        assert!((refused.retry_after - 50.0).abs() < 0.5, "{refused:?}");
        assert!(t.admit_item(false, 1.0).is_ok());
    }

    #[test]
    fn usage_over_eighty_percent_is_reported() {
        let t = Throttle::new(Some(budgets(10.0, 1e9)), 0.0, "a", "t");
        let usages: Vec<Usage> = (0..9).map(|_| t.admit_item(false, 1.0).unwrap()).collect();
        assert_eq!(usages[7], None);
        assert!(usages[8].is_some_and(|u| u > 0.8));
    }

    #[test]
    fn background_load_shrinks_the_tenant_write_budget() {
        let b = Budgets {
            tenant_writes_per_5min: 10.0,
            ..budgets(1e9, 1e9)
        };
        let t = Throttle::new(Some(b), 0.5, "a", "t");
        for _ in 0..5 {
            assert!(t.admit_item(true, 1.0).is_ok());
        }
        assert_eq!(
            t.admit_item(true, 1.0).unwrap_err().scope,
            Scope::TenantWrite
        );
    }
}
