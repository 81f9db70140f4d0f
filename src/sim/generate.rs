//! The deterministic generator of the simulated tenant: from the seed alone it makes each
//! user's identity and realistic mix of methods (DESIGN.md, "The simulator"), the groups, and
//! the users created later through introspection. Used by [`super::tenant::Tenant`].

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::SimConfig;
use super::catalog::{EMAIL_ID, PASSWORD_ID, PhoneKind, SecondFactor};
use super::state::{Kind, Method, UserState};
use super::tenant::{DOMAIN, Group, Identity};

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

/// The name of the group the temporary access pass policy excludes.
pub(crate) const TAP_EXCLUDED_GROUP: &str = "Temporary Access Pass excluded";

/// The external authentication method configuration of the simulated tenant's policy.
const EXTERNAL_CONFIGURATION_ID: &str = "a5b7e2c4-1f0d-4e8a-9c3b-6d2f1e0a7b94";

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

/// User `i` of the tenant of `config`: identity, methods, default method; method ages relative to
/// `now`. The same seed and index always give the same user.
pub(crate) fn generate_user(
    config: &SimConfig,
    i: usize,
    now: DateTime<Utc>,
) -> (Identity, UserState) {
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
        admin: !guest && i % 40 == 2,
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
            // Graph gives `createdDateTime` only to registrations for passwordless phone sign-in
            // ("microsoftAuthenticatorAuthenticationMethod resource type": "null if the device
            // isn't registered for passwordless Phone Sign-In"), a minority; beta
            // `lastUsedDateTime` is often null too (graph-contract.md).
            let passwordless = rng.random_range(0..100) < 15;
            let registered = days_ago(&mut rng, 1500);
            let created = passwordless.then_some(registered);
            let last_used = if rng.random_range(0..2) == 0 {
                None
            } else {
                let span = (now - registered).num_minutes().max(2);
                Some(registered + Duration::minutes(rng.random_range(1..span)))
            };
            methods.push(Method {
                id: uuid_from(&mut rng),
                created,
                kind: Kind::Authenticator {
                    display_name: DEVICES[rng.random_range(0..DEVICES.len())].to_string(),
                    passwordless,
                    last_used,
                },
            });
        }
        let phone = |t: PhoneKind, number: String, sms: bool| Method {
            id: t.fixed_id().to_string(),
            created: None,
            kind: Kind::Phone {
                phone_type: t,
                number,
                sms_sign_in: sms,
            },
        };
        if rng.random_range(0..100) < 55 {
            let sms = rng.random_range(0..100) < 20;
            methods.push(phone(PhoneKind::Mobile, mobile_number(i), sms));
            if rng.random_range(0..100) < 15 {
                methods.push(phone(
                    PhoneKind::AlternateMobile,
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
            methods.push(phone(PhoneKind::Office, number, false));
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
        // About one user in a hundred also answers MFA through a third-party provider.
        if i % 97 == 50 {
            methods.push(Method {
                id: uuid_from(&mut rng),
                created: Some(now - Duration::days(rng.random_range(1..500))),
                kind: Kind::External {
                    display_name: "Contoso MFA".into(),
                    configuration_id: EXTERNAL_CONFIGURATION_ID.into(),
                },
            });
        }
    }
    let mut state = UserState {
        methods,
        updated: now - Duration::hours(rng.random_range(1..24 * 400)),
        ..UserState::default()
    };
    // The default is the strongest method the user has, sometimes a phone call instead.
    state.preferred = state.system_method();
    if state.preferred == Some(SecondFactor::Sms) && rng.random_range(0..4) == 0 {
        state.preferred = Some(SecondFactor::VoiceMobile);
    }
    state.system_preferred = state.preferred.is_some() && rng.random_range(0..10) < 6;
    (identity, state)
}

/// The deterministic groups: Sales, Engineering (with Engineering Contractors nested inside),
/// Engineering Contractors, Guests, Pilot, and the group the temporary access pass policy
/// excludes.
pub(crate) fn generate_groups(config: &SimConfig) -> Vec<Group> {
    let mut rng = rng_for(config.seed, 2, 0);
    let n = config.users;
    let pick = |f: &dyn Fn(usize) -> bool| (0..n).filter(|i| f(*i)).collect::<Vec<_>>();
    let mut make = |name: &str, users: Vec<usize>, groups: Vec<usize>| Group {
        id: uuid_from(&mut rng),
        name: name.to_string(),
        users,
        groups,
    };
    let mut groups = vec![
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
        // The temporary access pass policy's excluded group (made even when the policy excludes
        // nobody, so the other groups' ids never depend on the policy).
        make(
            TAP_EXCLUDED_GROUP,
            match config.tap_policy.excluded_every {
                Some(e) if e > 0 => pick(&|i| i % e == e - 1),
                _ => vec![],
            },
            vec![],
        ),
    ];
    for name in &config.extra_groups {
        groups.push(make(name, pick(&|i| i < 10), vec![]));
    }
    groups
}
