//! The tenant a command talks to, shared by `run`, `export`, `status` and `tokens`: which
//! tenant ([`Connection`]: a real one, or the simulated one), connecting to it and fetching the
//! first token ([`open`]: a bad credential stops the command here, exit 2), then the executor
//! every Graph request goes through, with the [`Shutdown`] it obeys ([`Tenant::start`]), and the
//! Ctrl-C listener ([`Session::listen_for_ctrl_c`]). What a command does with the tenant stays
//! in its own module: `run`'s permission check, rate memory, tenant guard, exclusions and
//! methods policy are `run::session`'s.

use anyhow::Result;

use crate::auth::TokenProvider;
use crate::exec::{ExecConfig, Executor, Shutdown};
use crate::graph::client::GraphClient;
use crate::graph::redirect;

pub mod connect;

pub use connect::{Connected, Connection};

/// A tenant connected, its first token fetched. Fields drop in order: the simulator (when
/// simulating) goes last.
pub struct Tenant {
    /// The Graph client (one connection pool).
    pub client: GraphClient,
    /// The auth settings and the simulator kept alive.
    pub connected: Connected,
}

/// Connect ([`Connection::connect`]) and fetch the first token, checking that Graph can use it;
/// `pool` is the number of idle connections kept (the executor's concurrency). Gives the tenant
/// and the token, for a check of its claims (never printed).
pub async fn open(connection: &Connection, pool: usize) -> Result<(Tenant, String)> {
    let connected = connection.connect().await?;
    let tokens = TokenProvider::from_config(&connected.auth, redirect::credential_client()?)?;
    tokens.check().await?;
    let token = tokens.token().await?;
    let client = GraphClient::new(connected.auth.graph_root(), tokens, pool)?;
    Ok((Tenant { client, connected }, token))
}

/// A tenant with its executor running. Fields drop in order: the simulator goes last.
pub struct Session {
    /// Sends every request (the rows', and the paged reads').
    pub exec: Executor,
    /// Stops the work (Ctrl-C, `run`'s breaker).
    pub shutdown: Shutdown,
    /// The auth settings and the simulator kept alive.
    pub connected: Connected,
}

impl Tenant {
    /// Start the executor under `exec` (rate, retries, concurrency), with a fresh shutdown
    /// signal nothing listens for yet.
    pub fn start(self, exec: ExecConfig) -> Session {
        let shutdown = Shutdown::new();
        let executor = Executor::start(self.client, exec, shutdown.clone());
        Session {
            exec: executor,
            shutdown,
            connected: self.connected,
        }
    }
}

impl Session {
    /// Listen for Ctrl-C (and SIGTERM) from now on: the first drains, the second stops at
    /// once ([`Shutdown::listen_for_ctrl_c`]). Abort the handle when the work is done.
    pub fn listen_for_ctrl_c(&self) -> tokio::task::JoinHandle<()> {
        self.shutdown.listen_for_ctrl_c()
    }
}
