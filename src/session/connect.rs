//! Which tenant a command talks to: a real one, with the credentials of the auth flags, or the
//! built-in simulated tenant (`--simulate`), started in-process and seeded like `authbulk sim`'s
//! default so the samples' users exist.

use anyhow::Result;

use crate::auth::{AuthConfig, Cloud, CredentialSource, Secret};
use crate::sim::{self, SimConfig, SimHandle};

/// The tenant of a command.
#[derive(Debug, Clone)]
pub enum Connection {
    /// A real tenant.
    Tenant(AuthConfig),
    /// The simulated tenant, in-process.
    Simulate {
        /// Generated users.
        users: usize,
        /// Seed of the tenant.
        seed: u64,
        /// The cloud the run plans for (`--cloud`): the simulated tenant answers as the global
        /// cloud's Graph, but rows the chosen cloud does not offer are refused as they would be
        /// against that cloud.
        cloud: Cloud,
    },
}

/// A connection made: the auth settings to use, and the simulator kept alive while it is used.
pub struct Connected {
    /// Credentials, authority and Graph root.
    pub auth: AuthConfig,
    /// The in-process simulator, when simulating (stopped when dropped).
    pub sim: Option<SimHandle>,
}

impl Connection {
    /// The cloud whose Graph the run plans for.
    pub fn cloud(&self) -> Cloud {
        match self {
            Connection::Tenant(auth) => auth.cloud(),
            Connection::Simulate { cloud, .. } => *cloud,
        }
    }

    /// Start the simulator when simulating; resolve the auth settings.
    pub async fn connect(&self) -> Result<Connected> {
        match self {
            Connection::Tenant(auth) => Ok(Connected {
                auth: auth.clone(),
                sim: None,
            }),
            Connection::Simulate { users, seed, .. } => {
                let handle = sim::start(SimConfig {
                    users: *users,
                    seed: *seed,
                    ..SimConfig::default()
                })
                .await?;
                let auth = AuthConfig::new(
                    Cloud::Global,
                    CredentialSource::ClientSecret {
                        tenant: handle.tenant_id().into(),
                        client_id: handle.client_id().into(),
                        secret: Secret::new(handle.client_secret()),
                    },
                )
                .with_authority(handle.url())?
                .with_graph_root(handle.url())?;
                tracing::info!(url = handle.url(), users, "simulated tenant started");
                Ok(Connected {
                    auth,
                    sim: Some(handle),
                })
            }
        }
    }
}
