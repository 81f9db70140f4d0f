//! The tenant a command talks to, shared by `run`, `export`, `status` and `tokens`: which
//! tenant ([`Connection`]: real, or the simulated one) and the connection made ([`Connected`]).

pub mod connect;

pub use connect::{Connected, Connection};
