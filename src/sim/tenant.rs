//! The simulated tenant's data: users (identity and per-user method state behind a per-user
//! lock), groups, and the deterministic generator that builds them from the seed. The Graph
//! handlers ([`super::methods`], [`super::graph`]) read and change it; introspection dumps it.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::job::op::{DefaultMethod, MethodType, PhoneType};

use super::SimConfig;

/// The fixed id Graph usually gives the password method (graph-contract.md, "Fixed ids").
pub(crate) const PASSWORD_ID: &str = "28c10230-6103-485e-b985-444c60001490";
/// The fixed id of the email method.
pub(crate) const EMAIL_ID: &str = "3ddfcfc8-9383-446f-83cc-3ab9be4be18f";
/// The tenant's domain.
pub(crate) const DOMAIN: &str = "contoso.onmicrosoft.com";

/// The UPN of user `i` of the simulated tenant (the naming every developer relies on).
pub fn upn(i: usize) -> String {
    if i % 50 == 7 {
        format!("guest{i:05}_fabrikam.com#EXT#@{DOMAIN}")
    } else if i % 37 == 5 {
        format!("o'neil{i:05}@{DOMAIN}")
    } else {
        format!("user{i:05}@{DOMAIN}")
    }
}

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

/// What a method is, with the properties that matter for it.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// The password (cannot be deleted).
    Password,
    /// A phone; the id is the fixed id of its type.
    Phone {
        /// mobile, alternateMobile or office.
        phone_type: PhoneType,
        /// `+CC NATIONAL[xEXT]`.
        number: String,
        /// SMS sign-in was enabled on it.
        sms_sign_in: bool,
    },
    /// The email method.
    Email {
        /// The address.
        address: String,
    },
    /// A Microsoft Authenticator registration.
    Authenticator {
        /// Device name.
        display_name: String,
        /// Last use (beta only; often null).
        last_used: Option<DateTime<Utc>>,
    },
    /// A software OATH token.
    SoftwareOath,
    /// A FIDO2 key or passkey.
    Fido2 {
        /// Name.
        display_name: String,
        /// Model.
        model: String,
    },
    /// Windows Hello for Business.
    WindowsHello {
        /// Device name.
        display_name: String,
    },
    /// A macOS platform credential.
    PlatformCredential {
        /// Device name.
        display_name: String,
    },
    /// A temporary access pass.
    Tap {
        /// When it becomes usable.
        start: DateTime<Utc>,
        /// Minutes it lasts.
        lifetime: u32,
        /// One sign-in only.
        usable_once: bool,
    },
    /// A hardware OATH token (beta collection).
    HardwareOath {
        /// Serial number.
        serial: String,
    },
    /// A QR code + PIN method (at most one; deleted through the singleton `qrCodePinMethod`;
    /// never a default method).
    QrCodePin,
}

/// One authentication method of a user.
#[derive(Debug, Clone)]
pub(crate) struct Method {
    /// Its id (fixed for phones, email and password; opaque otherwise).
    pub id: String,
    /// `createdDateTime` (null for some Authenticator registrations, always for the password).
    pub created: Option<DateTime<Utc>>,
    /// Its type and properties.
    pub kind: Kind,
}

impl Method {
    /// Its typed collection type; `None` for the password.
    pub fn method_type(&self) -> Option<MethodType> {
        Some(match self.kind {
            Kind::Password => return None,
            Kind::QrCodePin => MethodType::QrCodePin,
            Kind::Phone { .. } => MethodType::Phone,
            Kind::Email { .. } => MethodType::Email,
            Kind::Authenticator { .. } => MethodType::MicrosoftAuthenticator,
            Kind::SoftwareOath => MethodType::SoftwareOath,
            Kind::Fido2 { .. } => MethodType::Fido2,
            Kind::WindowsHello { .. } => MethodType::WindowsHelloForBusiness,
            Kind::PlatformCredential { .. } => MethodType::PlatformCredential,
            Kind::Tap { .. } => MethodType::TemporaryAccessPass,
            Kind::HardwareOath { .. } => MethodType::HardwareOath,
        })
    }

    /// True when this method lets the user answer an MFA prompt of kind `default`.
    pub fn backs(&self, default: DefaultMethod) -> bool {
        match (&self.kind, default) {
            (Kind::Authenticator { .. }, DefaultMethod::Push) => true,
            (Kind::SoftwareOath | Kind::HardwareOath { .. }, DefaultMethod::Oath) => true,
            (Kind::Phone { phone_type, .. }, d) => matches!(
                (phone_type, d),
                (
                    PhoneType::Mobile,
                    DefaultMethod::Sms | DefaultMethod::VoiceMobile
                ) | (
                    PhoneType::AlternateMobile,
                    DefaultMethod::VoiceAlternateMobile
                ) | (PhoneType::Office, DefaultMethod::VoiceOffice)
            ),
            _ => false,
        }
    }

    /// The method as Graph shows it. `beta` adds the beta-only properties; `number_unique`
    /// decides a mobile phone's `smsSignInState`.
    pub fn json(&self, beta: bool, now: DateTime<Utc>, number_unique: bool) -> Value {
        let created = self.created.map(|d| d.to_rfc3339());
        let mut v = match &self.kind {
            Kind::Password => json!({
                "@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
                "createdDateTime": null, "password": null }),
            Kind::Phone {
                phone_type,
                number,
                sms_sign_in,
            } => {
                let state = match (phone_type, sms_sign_in, number_unique) {
                    (PhoneType::Mobile, true, true) => "ready",
                    (PhoneType::Mobile, _, false) => "phoneNumberNotUnique",
                    (PhoneType::Mobile, false, true) => "notEnabled",
                    _ => "notSupported",
                };
                json!({ "@odata.type": "#microsoft.graph.phoneAuthenticationMethod",
                    "phoneNumber": number, "phoneType": phone_type.as_graph(), "smsSignInState": state })
            }
            Kind::Email { address } => json!({
                "@odata.type": "#microsoft.graph.emailAuthenticationMethod", "emailAddress": address }),
            Kind::Authenticator {
                display_name,
                last_used,
            } => {
                let mut v = json!({
                    "@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
                    "displayName": display_name, "deviceTag": "SoftwareTokenActivated",
                    "phoneAppVersion": "6.2409.6094", "createdDateTime": created });
                if beta {
                    v["lastUsedDateTime"] = json!(last_used.map(|d| d.to_rfc3339()));
                    v["clientAppName"] = json!("microsoftAuthenticator");
                }
                v
            }
            Kind::SoftwareOath => json!({
                "@odata.type": "#microsoft.graph.softwareOathAuthenticationMethod", "secretKey": null }),
            Kind::Fido2 {
                display_name,
                model,
            } => json!({
                "@odata.type": "#microsoft.graph.fido2AuthenticationMethod",
                "displayName": display_name, "model": model,
                "aaGuid": "cb69481e-8ff7-4039-93ec-0a2729a154a8",
                "attestationLevel": "attested", "createdDateTime": created }),
            Kind::WindowsHello { display_name } => json!({
                "@odata.type": "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod",
                "displayName": display_name, "keyStrength": "normal", "createdDateTime": created }),
            Kind::PlatformCredential { display_name } => json!({
                "@odata.type": "#microsoft.graph.platformCredentialAuthenticationMethod",
                "displayName": display_name, "platform": "macOS", "keyStrength": "strong",
                "createdDateTime": created }),
            Kind::Tap {
                start,
                lifetime,
                usable_once,
            } => {
                let end = *start + Duration::minutes(i64::from(*lifetime));
                let (usable, reason) = if now < *start {
                    (false, "NotYetValid")
                } else if now >= end {
                    (false, "Expired")
                } else {
                    (true, "EnabledByPolicy")
                };
                json!({
                    "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
                    "temporaryAccessPass": null, "createdDateTime": created,
                    "startDateTime": start.to_rfc3339(), "lifetimeInMinutes": lifetime,
                    "isUsableOnce": usable_once, "isUsable": usable, "methodUsabilityReason": reason })
            }
            Kind::HardwareOath { serial } => json!({
                "@odata.type": "#microsoft.graph.hardwareOathAuthenticationMethod",
                "serialNumber": serial, "manufacturer": "Contoso Tokens", "model": "OTP-6",
                "displayName": serial, "createdDateTime": created }),
            Kind::QrCodePin => json!({
                "@odata.type": "#microsoft.graph.qrCodePinAuthenticationMethod",
                "createdDateTime": created }),
        };
        v["id"] = Value::String(self.id.clone());
        v
    }
}

/// A temporary access pass the simulator issued, kept for introspection.
#[derive(Debug, Clone)]
pub(crate) struct IssuedTap {
    /// The method id.
    pub id: String,
    /// The pass itself.
    pub value: String,
    /// When it was issued.
    pub created: DateTime<Utc>,
}

/// A user's mutable state: methods, default method and the per-user counters.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserState {
    /// The methods, password first.
    pub methods: Vec<Method>,
    /// Beta `userPreferredMethodForSecondaryAuthentication`.
    pub preferred: Option<DefaultMethod>,
    /// Beta `isSystemPreferredAuthenticationMethodEnabled`.
    pub system_preferred: bool,
    /// How often `revokeSignInSessions` was called.
    pub sessions_revoked: u64,
    /// Successful writes since the last counter reset.
    pub writes: u64,
    /// Passes issued since the last counter reset.
    pub taps_issued: u64,
    /// Passes issued in the simulator's life.
    pub taps_ever: u64,
    /// Every pass issued in the simulator's life, with its value.
    pub issued: Vec<IssuedTap>,
}

impl UserState {
    /// The phone of this type.
    pub fn phone(&self, t: PhoneType) -> Option<&Method> {
        self.methods
            .iter()
            .find(|m| matches!(&m.kind, Kind::Phone { phone_type, .. } if *phone_type == t))
    }

    /// Beta `systemPreferredAuthenticationMethod`: the strongest method the user has.
    pub fn system_method(&self) -> Option<DefaultMethod> {
        [
            DefaultMethod::Push,
            DefaultMethod::Oath,
            DefaultMethod::Sms,
            DefaultMethod::VoiceAlternateMobile,
            DefaultMethod::VoiceOffice,
        ]
        .into_iter()
        .find(|d| self.methods.iter().any(|m| m.backs(*d)))
    }

    /// The beta `signInPreferences` object.
    pub fn sign_in_preferences(&self) -> Value {
        let system = self
            .system_preferred
            .then(|| self.system_method())
            .flatten();
        json!({
            "@odata.type": "#microsoft.graph.signInPreferences",
            "userPreferredMethodForSecondaryAuthentication": self.preferred.map(|d| d.as_graph()),
            "isSystemPreferredAuthenticationMethodEnabled": self.system_preferred,
            "systemPreferredAuthenticationMethod": system.map(|d| d.as_graph()),
        })
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

/// The whole tenant.
pub(crate) struct Tenant {
    /// Identities by index.
    pub identities: Vec<Identity>,
    /// Mutable state by index, one lock per user.
    pub states: Vec<Mutex<UserState>>,
    /// Index by object id (lower case).
    by_id: HashMap<String, usize>,
    /// Index by lower-cased UPN.
    by_upn: HashMap<String, usize>,
    /// Groups.
    pub groups: Vec<Group>,
    /// How many users hold each mobile number (for `smsSignInState`). Always locked after a
    /// user's lock, never before, so the two cannot deadlock.
    pub mobiles: Mutex<HashMap<String, u32>>,
}

/// A v4-shaped UUID drawn from `rng`.
pub(crate) fn uuid_from(rng: &mut impl Rng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

/// An opaque id of 22 base64url characters, as Graph gives FIDO2 and Windows Hello methods.
fn opaque_id(rng: &mut impl Rng) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..22)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

/// The rng of one concept of the tenant (`salt`) and one index, derived from the seed.
pub(crate) fn rng_for(seed: u64, salt: u64, i: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.rotate_left(32) ^ i)
}

const DEVICES: [&str; 7] = [
    "iPhone 15",
    "iPhone 13",
    "Pixel 8",
    "Galaxy S23",
    "iPad Air",
    "SM-A546B",
    "iPhone 11",
];

/// The mobile number generator's number for user `i` (a few users share their predecessor's
/// number, so `smsSignInState` can be `phoneNumberNotUnique`).
fn mobile_number(i: usize) -> String {
    let n = if i % 97 == 13 { i - 1 } else { i };
    format!("+46 70{n:07}")
}

fn generate_user(config: &SimConfig, i: usize, now: DateTime<Utc>) -> (Identity, UserState) {
    let mut rng = rng_for(config.seed, 1, i as u64);
    let upn = upn(i);
    let guest = i % 50 == 7;
    let display_name = if guest {
        format!("Guest {i:05} (Fabrikam)")
    } else if i % 37 == 5 {
        format!("Pat O'Neil {i:05}")
    } else {
        format!("User {i:05}")
    };
    let tap_target = config
        .tap_policy
        .excluded_every
        .is_none_or(|n| n == 0 || i % n != n - 1);
    let identity = Identity {
        id: uuid_from(&mut rng),
        upn,
        display_name,
        guest,
        tap_target,
    };
    let days_ago = |rng: &mut ChaCha8Rng, max: i64| now - Duration::days(rng.random_range(1..max));
    let mut methods = vec![Method {
        id: PASSWORD_ID.to_string(),
        created: None,
        kind: Kind::Password,
    }];
    // One user in twenty has no MFA method at all; the others get the realistic mix.
    let bare = i % 20 == 13;
    if !bare {
        let authenticators = match rng.random_range(0..100) {
            0..35 => 0,
            35..75 => 1,
            75..93 => 2,
            _ => 3,
        };
        for _ in 0..authenticators {
            let created = (rng.random_range(0..10) != 0).then(|| days_ago(&mut rng, 1500));
            let last_used = if rng.random_range(0..10) < 3 {
                None
            } else {
                let since = created.unwrap_or(now - Duration::days(900));
                let span = (now - since).num_minutes().max(2);
                Some(since + Duration::minutes(rng.random_range(1..span)))
            };
            methods.push(Method {
                id: uuid_from(&mut rng),
                created,
                kind: Kind::Authenticator {
                    display_name: DEVICES[rng.random_range(0..DEVICES.len())].to_string(),
                    last_used,
                },
            });
        }
        let phone = |t: PhoneType, number: String, sms: bool| Method {
            id: t.method_id().to_string(),
            created: None,
            kind: Kind::Phone {
                phone_type: t,
                number,
                sms_sign_in: sms,
            },
        };
        if rng.random_range(0..100) < 55 {
            let sms = rng.random_range(0..100) < 20;
            methods.push(phone(PhoneType::Mobile, mobile_number(i), sms));
            if rng.random_range(0..100) < 15 {
                methods.push(phone(
                    PhoneType::AlternateMobile,
                    format!("+46 73{i:07}"),
                    false,
                ));
            }
        }
        if rng.random_range(0..100) < 15 {
            let number = if i.is_multiple_of(3) {
                format!("+1 4255{i:06}x{}", 100 + i % 900)
            } else {
                format!("+1 4255{i:06}")
            };
            methods.push(phone(PhoneType::Office, number, false));
        }
        if rng.random_range(0..100) < 30 {
            methods.push(Method {
                id: EMAIL_ID.to_string(),
                created: None,
                kind: Kind::Email {
                    address: format!("person{i:05}@example.net"),
                },
            });
        }
        let mut maybe =
            |percent: u32, rng: &mut ChaCha8Rng, make: &dyn Fn(&mut ChaCha8Rng) -> Method| {
                if rng.random_range(0..100) < percent {
                    let m = make(rng);
                    methods.push(m);
                }
            };
        maybe(10, &mut rng, &|r| Method {
            id: opaque_id(r),
            created: Some(now - Duration::days(r.random_range(1..700))),
            kind: Kind::Fido2 {
                display_name: "YubiKey 5 NFC".into(),
                model: "YubiKey 5 Series".into(),
            },
        });
        maybe(15, &mut rng, &|r| Method {
            id: opaque_id(r),
            created: Some(now - Duration::days(r.random_range(1..1200))),
            kind: Kind::WindowsHello {
                display_name: format!("LAPTOP-{:04}", r.random_range(0..10_000)),
            },
        });
        maybe(8, &mut rng, &|r| Method {
            id: uuid_from(r),
            created: None,
            kind: Kind::SoftwareOath,
        });
        maybe(3, &mut rng, &|r| Method {
            id: opaque_id(r),
            created: Some(now - Duration::days(r.random_range(1..400))),
            kind: Kind::PlatformCredential {
                display_name: format!("MacBook-{:03}", r.random_range(0..1000)),
            },
        });
        maybe(2, &mut rng, &|r| Method {
            id: uuid_from(r),
            created: Some(now - Duration::days(r.random_range(1..300))),
            kind: Kind::HardwareOath {
                serial: format!("HW{:08}", r.random_range(0..100_000_000)),
            },
        });
        maybe(2, &mut rng, &|r| {
            let start = now - Duration::minutes(r.random_range(0..600));
            Method {
                id: uuid_from(r),
                created: Some(start),
                kind: Kind::Tap {
                    start,
                    lifetime: 480,
                    usable_once: false,
                },
            }
        });
        maybe(1, &mut rng, &|r| Method {
            id: uuid_from(r),
            created: Some(now - Duration::days(r.random_range(1..100))),
            kind: Kind::QrCodePin,
        });
    }
    let mut state = UserState {
        methods,
        ..UserState::default()
    };
    // The default is the strongest method the user has, sometimes a phone call instead.
    state.preferred = state.system_method();
    if state.preferred == Some(DefaultMethod::Sms) && rng.random_range(0..4) == 0 {
        state.preferred = Some(DefaultMethod::VoiceMobile);
    }
    state.system_preferred = state.preferred.is_some() && rng.random_range(0..10) < 6;
    (identity, state)
}

impl Tenant {
    /// The tenant of `config`, with method ages relative to `now`.
    pub fn generate(config: &SimConfig, now: DateTime<Utc>) -> Tenant {
        let mut identities = Vec::with_capacity(config.users);
        let mut states = Vec::with_capacity(config.users);
        let mut mobiles: HashMap<String, u32> = HashMap::new();
        for i in 0..config.users {
            let (identity, state) = generate_user(config, i, now);
            if let Some(Method {
                kind: Kind::Phone { number, .. },
                ..
            }) = state.phone(PhoneType::Mobile)
            {
                *mobiles.entry(number.clone()).or_default() += 1;
            }
            identities.push(identity);
            states.push(Mutex::new(state));
        }
        let by_id = identities
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id.clone(), i))
            .collect();
        let by_upn = identities
            .iter()
            .enumerate()
            .map(|(i, u)| (u.upn.to_lowercase(), i))
            .collect();
        let groups = generate_groups(config);
        Tenant {
            identities,
            states,
            by_id,
            by_upn,
            groups,
            mobiles: Mutex::new(mobiles),
        }
    }

    /// The index of the user addressed by object id or UPN (case-insensitive).
    pub fn find(&self, user: &str) -> Option<usize> {
        // Object ids and UPNs are both case-insensitive in Graph.
        let key = user.to_lowercase();
        self.by_id
            .get(&key)
            .or_else(|| self.by_upn.get(&key))
            .copied()
    }

    /// Lock user `i`'s state (a poisoned lock still holds consistent data: every change is
    /// made in one step after its checks).
    pub fn lock(&self, i: usize) -> std::sync::MutexGuard<'_, UserState> {
        self.states[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// True when `number` is held as a mobile by one user at most.
    pub fn mobile_unique(&self, number: &str) -> bool {
        let mobiles = self
            .mobiles
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        mobiles.get(number).copied().unwrap_or(0) <= 1
    }

    /// A method as Graph shows it, with a mobile's `smsSignInState` from the tenant's numbers.
    pub fn method_json(&self, m: &Method, beta: bool, now: DateTime<Utc>) -> Value {
        let unique = match &m.kind {
            Kind::Phone {
                phone_type: PhoneType::Mobile,
                number,
                ..
            } => self.mobile_unique(number),
            _ => true,
        };
        m.json(beta, now, unique)
    }

    /// Record that a mobile number was added (`+1`) or removed (`-1`).
    pub fn count_mobile(&self, number: &str, added: bool) {
        let mut mobiles = self
            .mobiles
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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

    /// Users of group `g` and of every group nested in it, each once, in index order.
    pub fn transitive_users(&self, g: usize) -> Vec<usize> {
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
        users
    }

    /// The full, unmasked state of user `i` (introspection and the state dump).
    pub fn user_dump(&self, i: usize, now: DateTime<Utc>) -> Value {
        let identity = &self.identities[i];
        let state = self.lock(i);
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
        let mut user = identity.json();
        user["index"] = json!(i);
        user["tapPolicyTarget"] = json!(identity.tap_target);
        user["methods"] = Value::Array(methods);
        user["signInPreferences"] = state.sign_in_preferences();
        user["issuedTemporaryAccessPasses"] = Value::Array(issued);
        user["sessionsRevoked"] = json!(state.sessions_revoked);
        user["writes"] = json!(state.writes);
        user["tapsIssued"] = json!(state.taps_issued);
        user
    }
}

/// The deterministic groups: Sales, Engineering (with Engineering Contractors nested inside),
/// Engineering Contractors, Guests and Pilot.
fn generate_groups(config: &SimConfig) -> Vec<Group> {
    let mut rng = rng_for(config.seed, 2, 0);
    let n = config.users;
    let pick = |f: &dyn Fn(usize) -> bool| (0..n).filter(|i| f(*i)).collect::<Vec<_>>();
    let mut make = |name: &str, users: Vec<usize>, groups: Vec<usize>| Group {
        id: uuid_from(&mut rng),
        name: name.to_string(),
        users,
        groups,
    };
    vec![
        make("Sales", pick(&|i| i % 10 == 0), vec![]),
        // Contractors nested in Engineering: transitiveMembers differs from members.
        make("Engineering", pick(&|i| i % 10 == 1), vec![2]),
        make(
            "Engineering Contractors",
            pick(&|i| i % 25 == 3 || i % 10 == 1 && i % 20 == 11),
            vec![],
        ),
        make("Guests", pick(&|i| i % 50 == 7), vec![]),
        make("Pilot", pick(&|i| i < 30), vec![]),
    ]
}
