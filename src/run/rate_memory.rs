//! The rate memory: what a run learned of the rates a tenant's Graph allows this app
//! ([`Throttle::learned`](crate::throttle::Throttle::learned)), kept for the next run to start
//! at instead of finding the limit again through 429s. A nightly job against a tenant whose
//! budget is shared with other apps (or smaller than the published one) starts below the limit
//! from its second night on.
//!
//! One small JSON file per tenant and app, under the user's state directory:
//! `$XDG_STATE_HOME/authbulk/rates/<tenant id>_<app id>.json` (`~/.local/state/...`, or
//! `%LOCALAPPDATA%` on Windows), or in the folder `--rate-memory DIR` names, mode 0600 in a
//! 0700 folder, written beside and renamed over. Without `--rate-memory`, only runs against the
//! cloud's own Graph keep a memory: a `--graph-url` (a simulator, a proxy) keeps none, so a
//! simulated tenant never slows a real one's runs, nor one test another's.
//! It holds rates and bursts only: no token, no user. The tenant and app come from the access
//! token's claims (`tid`, `appid`/`azp`); an opaque token, or ids that are not GUIDs, keep no
//! memory. A memory older than [`MAX_AGE_DAYS`] is ignored; `--forget-rate` ignores and removes
//! it. A run whose lanes grew back to their budgets removes it; a run the service did not slow
//! down and that had no memory leaves none.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::sign_in_store::write_private;
use crate::throttle::Learned;

/// A memory older than this many days is ignored (a tenant's other apps change).
pub const MAX_AGE_DAYS: i64 = 14;

/// The rate memory of one tenant and app.
#[derive(Debug, Clone)]
pub struct RateMemory {
    dir: PathBuf,
    path: PathBuf,
    tenant: String,
    app: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    tenant: String,
    app: String,
    learned_at: DateTime<Utc>,
    #[serde(flatten)]
    learned: Learned,
}

impl RateMemory {
    /// The memory of `tenant` and `app` under the state directory `env` names; `None` when
    /// there is no state directory or the ids are not GUIDs.
    pub fn locate(env: &impl Fn(&str) -> Option<String>, tenant: &str, app: &str) -> Option<Self> {
        let base = env("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|home| Path::new(&home).join(".local").join("state")))
            .or_else(|| env("LOCALAPPDATA").map(PathBuf::from))?;
        Self::in_dir(base.join("authbulk").join("rates"), tenant, app)
    }

    /// The memory of `tenant` and `app` in the folder `dir`; `None` when the ids are not GUIDs.
    pub fn in_dir(dir: PathBuf, tenant: &str, app: &str) -> Option<Self> {
        if !crate::job::value::is_object_id(tenant) || !crate::job::value::is_object_id(app) {
            return None;
        }
        let (tenant, app) = (tenant.to_ascii_lowercase(), app.to_ascii_lowercase());
        let path = dir.join(format!("{tenant}_{app}.json"));
        Some(RateMemory {
            dir,
            path,
            tenant,
            app,
        })
    }

    /// What an earlier run learned, with when; `None` when there is none, it is older than
    /// [`MAX_AGE_DAYS`], or it cannot be read (said on stderr: the run then starts at its
    /// budget, which is always safe).
    pub fn load(&self, now: DateTime<Utc>) -> Option<(Learned, DateTime<Utc>)> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                eprintln!(
                    "warning: the rate memory {} cannot be read ({e}): starting at the budget",
                    self.path.display()
                );
                return None;
            }
        };
        let record: Record = match serde_json::from_str(&text) {
            Ok(record) => record,
            Err(e) => {
                eprintln!(
                    "warning: the rate memory {} is damaged ({e}): starting at the budget",
                    self.path.display()
                );
                return None;
            }
        };
        let fresh = now - record.learned_at <= Duration::days(MAX_AGE_DAYS)
            && record.learned_at <= now + Duration::minutes(5);
        let ours = record.tenant == self.tenant && record.app == self.app;
        (fresh && ours && valid(&record.learned)).then_some((record.learned, record.learned_at))
    }

    /// Keep what this run learned.
    pub fn save(&self, learned: &Learned, now: DateTime<Utc>) -> Result<()> {
        let record = Record {
            tenant: self.tenant.clone(),
            app: self.app.clone(),
            learned_at: now,
            learned: *learned,
        };
        let bytes = serde_json::to_vec_pretty(&record)?;
        write_private(&self.dir, &self.path, &bytes)
    }

    /// Remove the memory (the tenant allows the budget again, or `--forget-rate`).
    pub fn forget(&self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", self.path.display()))
            }
            _ => Ok(()),
        }
    }
}

/// The memory of the tenant and app an access token speaks for, opened for a run.
#[derive(Debug)]
pub struct Opened {
    memory: RateMemory,
    /// Where the run starts (what an earlier run learned), if anywhere.
    pub start: Option<Learned>,
}

/// Where a run keeps its rate memory.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// `--rate-memory DIR`.
    pub dir: Option<&'a Path>,
    /// The run talks to its cloud's own Graph (no `--graph-url`).
    pub own_graph: bool,
    /// `--forget-rate`.
    pub forget: bool,
}

/// Open the memory of the tenant and app of `token` (its `tid`, and `appid` or `azp`): `None`
/// for an opaque token, no state directory, or another Graph than the cloud's without
/// `--rate-memory`. With `forget` the memory is removed and the run starts at its budget. Says
/// on stderr where a remembered rate starts the run.
pub fn open(token: &str, place: Place<'_>, now: DateTime<Utc>) -> Option<Opened> {
    let claims = crate::auth::claims::read_claims(token)?;
    let tenant = claims.tid?;
    let app = claims.appid.or(claims.azp)?;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let memory = match place.dir {
        Some(dir) => RateMemory::in_dir(dir.to_path_buf(), &tenant, &app)?,
        None if place.own_graph => RateMemory::locate(&env, &tenant, &app)?,
        None => return None,
    };
    let forget = place.forget;
    if forget {
        if let Err(e) = memory.forget() {
            eprintln!("warning: --forget-rate: {e:#}");
        }
        return Some(Opened {
            memory,
            start: None,
        });
    }
    let start = memory.load(now).map(|(learned, at)| {
        let lanes: Vec<String> = [
            learned.writes.map(|w| format!("{:.1} writes/s", w.rate)),
            learned.ru.map(|r| format!("{:.0} requests/s", r.rate)),
        ]
        .into_iter()
        .flatten()
        .collect();
        eprintln!(
            "rate: starting at {}, what this tenant allowed on {} (--forget-rate starts at the \
             budget)",
            lanes.join(" and "),
            at.format("%Y-%m-%d %H:%M UTC")
        );
        learned
    });
    Some(Opened { memory, start })
}

impl Opened {
    /// Keep what the run learned for the next one; a run that learned nothing removes a memory
    /// it started from (its lanes grew back to their budgets). A failure to write is a
    /// warning: the run's own work is done.
    pub fn keep(&self, learned: Learned, now: DateTime<Utc>) {
        let result = if !learned.is_empty() {
            self.memory.save(&learned, now)
        } else if self.start.is_some() {
            self.memory.forget()
        } else {
            Ok(())
        };
        if let Err(e) = result {
            eprintln!("warning: the rate memory was not kept: {e:#}");
        }
    }
}

/// Rates and bursts that a throttle can start at: finite and positive.
fn valid(learned: &Learned) -> bool {
    [learned.ru, learned.writes]
        .into_iter()
        .flatten()
        .all(|s| s.rate.is_finite() && s.rate > 0.0 && s.burst.is_finite() && s.burst >= 0.0)
        && !learned.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::throttle::LaneStart;

    const TENANT: &str = "6f2d7a58-6a2b-4b7e-9c35-3e1d0f2a9b11";
    const APP: &str = "0c1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6";

    fn memory(dir: &Path) -> RateMemory {
        let dir = dir.to_string_lossy().into_owned();
        let env = move |name: &str| (name == "XDG_STATE_HOME").then(|| dir.clone());
        RateMemory::locate(&env, TENANT, APP).expect("a memory")
    }

    fn learned() -> Learned {
        Learned {
            ru: None,
            writes: Some(LaneStart {
                rate: 1.9,
                burst: 240.0,
            }),
        }
    }

    #[test]
    fn a_saved_memory_is_loaded_until_it_is_too_old_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let memory = memory(dir.path());
        let now = Utc::now();
        assert!(memory.load(now).is_none());
        memory.save(&learned(), now).unwrap();
        assert_eq!(memory.load(now).map(|(l, _)| l), Some(learned()));
        assert!(
            memory
                .load(now + Duration::days(MAX_AGE_DAYS + 1))
                .is_none()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&memory.path)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        memory.forget().unwrap();
        assert!(memory.load(now).is_none());
        memory.forget().unwrap();
    }

    #[test]
    fn ids_that_are_not_guids_keep_no_memory() {
        let env = |_: &str| Some("/tmp".to_string());
        assert!(RateMemory::locate(&env, "../../etc", APP).is_none());
        assert!(RateMemory::locate(&env, TENANT, "contoso").is_none());
    }

    #[test]
    fn a_damaged_or_foreign_memory_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let memory = memory(dir.path());
        std::fs::create_dir_all(memory.path.parent().unwrap()).unwrap();
        std::fs::write(&memory.path, "{not json").unwrap();
        assert!(memory.load(Utc::now()).is_none());
        let foreign = serde_json::json!({
            "tenant": "11111111-1111-1111-1111-111111111111",
            "app": APP,
            "learned_at": Utc::now(),
            "writes": {"rate": 2.0, "burst": 10.0}
        });
        std::fs::write(&memory.path, foreign.to_string()).unwrap();
        assert!(memory.load(Utc::now()).is_none());
        let bad = serde_json::json!({
            "tenant": TENANT, "app": APP, "learned_at": Utc::now(),
            "writes": {"rate": -1.0, "burst": 10.0}
        });
        std::fs::write(&memory.path, bad.to_string()).unwrap();
        assert!(memory.load(Utc::now()).is_none());
    }
}
