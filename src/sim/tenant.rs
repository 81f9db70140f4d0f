//! The simulated tenant's directory: users (a fixed identity and a per-user lock on their
//! methods), groups, and the tenant's mobile numbers. Users can be deleted and created while the
//! simulator runs (introspection, [`super::introspect`]), as a real directory changes while a
//! job runs (graph-contract.md, "Advanced queries": "a tenant changes while a job runs"). The
//! Graph handlers ([`super::methods`], [`super::graph`]) read and change it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::SimConfig;
use super::catalog::PhoneKind;
use super::generate::{generate_groups, generate_user};
use super::state::{Kind, Method, UserState};

/// The tenant's domain.
pub(crate) const DOMAIN: &str = "contoso.onmicrosoft.com";

/// A user's fixed directory identity (never changes, read without locking).
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// Object id.
    pub id: String,
    /// User principal name.
    pub upn: String,
    /// Display name.
    pub display_name: String,
    /// True for `#EXT#` guests (`userType` Guest).
    pub guest: bool,
    /// Inside the temporary access pass policy's targets.
    pub tap_target: bool,
    /// Holds an admin role (the registration report's `isAdmin`).
    pub admin: bool,
}

impl Identity {
    /// The user object as `/users` gives it.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "userPrincipalName": self.upn,
            "displayName": self.display_name,
            "mail": if self.guest { Value::Null } else { Value::String(self.upn.clone()) },
            "userType": if self.guest { "Guest" } else { "Member" },
            "accountEnabled": true,
        })
    }
}

/// One user of the directory.
#[derive(Debug)]
pub(crate) struct User {
    /// Position in creation order (the generator's `i` for generated users).
    pub index: usize,
    /// The fixed identity.
    pub identity: Identity,
    /// Methods and counters.
    state: Mutex<UserState>,
    /// Deleted from the directory: no longer found, listed or counted as a member.
    deleted: AtomicBool,
}

impl User {
    /// Lock the user's state (a poisoned lock still holds consistent data: every change is made
    /// in one step after its checks).
    pub fn lock(&self) -> MutexGuard<'_, UserState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// True once deleted.
    pub fn deleted(&self) -> bool {
        self.deleted.load(Relaxed)
    }
}

/// A group with its direct members (users by index, and nested groups by index).
#[derive(Debug, Clone)]
pub(crate) struct Group {
    /// Object id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Direct user members.
    pub users: Vec<usize>,
    /// Direct group members.
    pub groups: Vec<usize>,
}

/// Users by index, and the lookup of the live ones by object id and UPN.
#[derive(Default)]
struct Directory {
    /// Every user ever, deleted ones included, by index.
    users: Vec<Arc<User>>,
    /// Index of each live user by lower-cased object id and by lower-cased UPN.
    by_key: HashMap<String, usize>,
}

/// The whole tenant.
pub(crate) struct Tenant {
    /// The users; the lock is held only to look up or add a user, never across a user's lock.
    directory: RwLock<Directory>,
    /// Groups.
    pub groups: Vec<Group>,
    /// How many users hold each mobile number (for `smsSignInState`). Always locked after a
    /// user's lock, never before, so the two cannot deadlock.
    mobiles: Mutex<HashMap<String, u32>>,
    /// The policy allows SMS sign-in (else every mobile shows `notAllowedByPolicy`).
    sms_allowed: bool,
}

fn mobile_of(state: &UserState) -> Option<&str> {
    match state.phone(PhoneKind::Mobile) {
        Some(Method {
            kind: Kind::Phone { number, .. },
            ..
        }) => Some(number),
        _ => None,
    }
}

impl Tenant {
    /// The tenant of `config`, with method ages relative to `now`.
    pub fn generate(config: &SimConfig, now: DateTime<Utc>) -> Tenant {
        let tenant = Tenant {
            directory: RwLock::new(Directory::default()),
            groups: generate_groups(config),
            mobiles: Mutex::new(HashMap::new()),
            sms_allowed: config.sms_sign_in_allowed,
        };
        for i in 0..config.users {
            let (identity, state) = generate_user(config, i, now);
            tenant.add(identity, state);
        }
        tenant
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Directory> {
        self.directory
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Directory> {
        self.directory
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Add a user at the next index and return it.
    fn add(&self, identity: Identity, state: UserState) -> Arc<User> {
        if let Some(number) = mobile_of(&state) {
            self.count_mobile(number, true);
        }
        let mut dir = self.write();
        let index = dir.users.len();
        dir.by_key.insert(identity.id.to_lowercase(), index);
        dir.by_key.insert(identity.upn.to_lowercase(), index);
        let user = Arc::new(User {
            index,
            identity,
            state: Mutex::new(state),
            deleted: AtomicBool::new(false),
        });
        dir.users.push(Arc::clone(&user));
        user
    }

    /// Create a user the generator would make at the next index (a new hire joining while a
    /// job runs). Returns it.
    pub fn create(&self, config: &SimConfig, now: DateTime<Utc>) -> Arc<User> {
        let index = self.read().users.len();
        let (identity, state) = generate_user(config, index, now);
        self.add(identity, state)
    }

    /// Create a user the generator would make at the next index, but with this UPN (a UPN
    /// Graph needs addressed by key, such as one that begins with `$`). Returns it.
    pub fn create_named(&self, config: &SimConfig, upn: &str, now: DateTime<Utc>) -> Arc<User> {
        let index = self.read().users.len();
        let (mut identity, state) = generate_user(config, index, now);
        identity.upn = upn.to_string();
        self.add(identity, state)
    }

    /// Delete the user addressed by object id or UPN; `None` when there is no such live user.
    pub fn delete(&self, key: &str) -> Option<Arc<User>> {
        let user = {
            let mut dir = self.write();
            let index = *dir.by_key.get(&key.to_lowercase())?;
            let user = Arc::clone(&dir.users[index]);
            dir.by_key.remove(&user.identity.id.to_lowercase());
            dir.by_key.remove(&user.identity.upn.to_lowercase());
            user.deleted.store(true, Relaxed);
            user
        };
        let state = user.lock();
        if let Some(number) = mobile_of(&state) {
            self.count_mobile(number, false);
        }
        drop(state);
        Some(user)
    }

    /// The live user addressed by object id or UPN (both case-insensitive in Graph).
    pub fn find(&self, key: &str) -> Option<Arc<User>> {
        let dir = self.read();
        dir.by_key
            .get(&key.to_lowercase())
            .map(|&i| Arc::clone(&dir.users[i]))
    }

    /// User `i`, deleted or not.
    pub fn user(&self, i: usize) -> Option<Arc<User>> {
        self.read().users.get(i).cloned()
    }

    /// Every live user, in index order.
    pub fn live(&self) -> Vec<Arc<User>> {
        self.read()
            .users
            .iter()
            .filter(|u| !u.deleted())
            .cloned()
            .collect()
    }

    /// Every user ever, deleted ones included (counters keep their writes).
    pub fn everyone(&self) -> Vec<Arc<User>> {
        self.read().users.clone()
    }

    /// True when `number` is held as a mobile by one user at most.
    pub fn mobile_unique(&self, number: &str) -> bool {
        let mobiles = self.mobiles.lock().unwrap_or_else(PoisonError::into_inner);
        mobiles.get(number).copied().unwrap_or(0) <= 1
    }

    /// A method as Graph shows it, with a mobile's `smsSignInState` from the tenant's numbers
    /// and the policy.
    pub fn method_json(&self, m: &Method, beta: bool, now: DateTime<Utc>) -> Value {
        let unique = match &m.kind {
            Kind::Phone {
                phone_type: PhoneKind::Mobile,
                number,
                ..
            } => self.mobile_unique(number),
            _ => true,
        };
        let mut v = m.json(beta, now, unique);
        if !self.sms_allowed
            && v["smsSignInState"] != "notSupported"
            && v["smsSignInState"].is_string()
        {
            v["smsSignInState"] = Value::String("notAllowedByPolicy".into());
        }
        v
    }

    /// Record that a mobile number was added (`+1`) or removed (`-1`).
    pub fn count_mobile(&self, number: &str, added: bool) {
        let mut mobiles = self.mobiles.lock().unwrap_or_else(PoisonError::into_inner);
        let count = mobiles.entry(number.to_string()).or_default();
        *count = if added {
            *count + 1
        } else {
            count.saturating_sub(1)
        };
    }

    /// The index of the group with this id.
    pub fn group(&self, id: &str) -> Option<usize> {
        self.groups
            .iter()
            .position(|g| g.id.eq_ignore_ascii_case(id))
    }

    /// Live users of group `g` and of every group nested in it, each once, in index order.
    pub fn transitive_users(&self, g: usize) -> Vec<Arc<User>> {
        let mut seen_groups = vec![false; self.groups.len()];
        let mut stack = vec![g];
        let mut users = Vec::new();
        while let Some(g) = stack.pop() {
            if std::mem::replace(&mut seen_groups[g], true) {
                continue;
            }
            users.extend_from_slice(&self.groups[g].users);
            stack.extend_from_slice(&self.groups[g].groups);
        }
        users.sort_unstable();
        users.dedup();
        self.live_of(&users)
    }

    /// The live users among these indexes.
    pub fn live_of(&self, indexes: &[usize]) -> Vec<Arc<User>> {
        let dir = self.read();
        indexes
            .iter()
            .filter_map(|&i| dir.users.get(i))
            .filter(|u| !u.deleted())
            .cloned()
            .collect()
    }

    /// The full, unmasked state of a user (introspection and the state dump).
    pub fn user_dump(&self, user: &User, now: DateTime<Utc>) -> Value {
        let identity = &user.identity;
        let state = user.lock();
        let methods: Vec<Value> = state
            .methods
            .iter()
            .map(|m| self.method_json(m, true, now))
            .collect();
        let issued: Vec<Value> = state
            .issued
            .iter()
            .map(|t| json!({"id": t.id, "temporaryAccessPass": t.value, "createdDateTime": t.created.to_rfc3339()}))
            .collect();
        let mut out = identity.json();
        out["index"] = json!(user.index);
        out["deleted"] = json!(user.deleted());
        out["isAdmin"] = json!(identity.admin);
        out["tapPolicyTarget"] = json!(identity.tap_target);
        out["methods"] = Value::Array(methods);
        out["signInPreferences"] = state.sign_in_preferences();
        out["issuedTemporaryAccessPasses"] = Value::Array(issued);
        out["issuedQrCodePins"] = state.issued_qr_pins.iter().map(|q| q.json()).collect();
        out["sessionsRevoked"] = json!(state.sessions_revoked);
        out["writes"] = json!(state.writes);
        out["tapsIssued"] = json!(state.taps_issued);
        out
    }
}
