//! authbulk: bulk changes to users' authentication methods (MFA) in Microsoft Entra ID through
//! Microsoft Graph.
//!
//! Map of the crate (each module's own doc says what it owns and who calls it):
//!
//! | module | owns |
//! |---|---|
//! | [`cli`] | clap flags of every command, their validation into configs, exit codes |
//! | [`job`] | job files (CSV, JSON, JSON Lines): reading, header aliases, values, validation, the operation model |
//! | [`auth`] | credentials and access tokens (secret, certificate, workload and managed identity, Azure CLI) |
//! | [`graph`] | the Graph wire: Graph's names for method types, the methods JSON, request building, `$batch` envelopes, error classification, path encoding |
//! | [`throttle`] | client-side budgets and the adaptive rate controller |
//! | [`exec`] | the executor: per-user requests packed into `$batch` calls, retries, shutdown |
//! | [`plan`] | actions as desired state: read, compare, plan typed steps (`Change`, `Write`), apply |
//! | [`export`] | the inventory (`authbulk export`): one row per existing method of every target user |
//! | [`status`] | the registration status (`authbulk status`): MFA, SSPR and methods of every target user, from the registration report |
//! | [`report`] | report records, the collector (report file, journal for `--resume`), the summary, the progress display |
//! | [`target`] | what a command works on: job rows (checked, then streamed), enumerated targets (`--all-users`, `--group`), the job's fingerprint |
//! | [`session`] | the tenant a command talks to (real or simulated): connecting, the first token, the Graph client, the executor and the Ctrl-C listener, for `run`, `export`, `status` and `tokens` |
//! | [`run`] | the `run` command: per-row work, `--resume`, exclusions, the tenant guard, the rate memory |
//! | [`tokens`] | the hardware OATH token inventory (`authbulk tokens import`, `tokens list`) |
//! | [`sim`] | the simulated tenant (Graph + token endpoint) used by `--simulate`, tests and benchmarks |
//! | [`fast_hash`] | the fast hasher of the crate's internal maps (keys no outsider chooses) |
//!
//! The library surface is small: [`cli`] (the binary's entry: `Cli`, `init_logging`,
//! `execute`), [`Outcome`], and [`sim`] (a product feature of its own) are public; every other
//! module is private to the crate (`pub(crate)`), so the compiler reports what nothing uses.
//! What the integration tests and the benchmarks drive in-process beyond that is gathered in
//! one module, [`testing`], by area.

pub(crate) mod auth;
pub mod cli;
pub(crate) mod exec;
pub(crate) mod export;
pub(crate) mod fast_hash;
pub(crate) mod graph;
pub(crate) mod job;
pub(crate) mod plan;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod session;
pub mod sim;
pub(crate) mod status;
pub(crate) mod target;
pub mod testing;
pub(crate) mod throttle;
pub(crate) mod tokens;

/// How a command ended; the binary turns it into the process exit code of DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every row ok, unchanged or planned (exit 0).
    Success,
    /// Some rows failed; the report says which (exit 1).
    RowsFailed,
    /// Usage, job-file, credential or permission error before work began (exit 2).
    Fatal,
    /// Interrupted by the user (exit 130).
    Interrupted,
    /// Stopped after work began because the report or journal could not be written (a full
    /// disk): changes may have been made, and the report may lack some of them (exit 3).
    Incomplete,
}

impl Outcome {
    /// The process exit code for this outcome.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::RowsFailed => 1,
            Outcome::Fatal => 2,
            Outcome::Interrupted => 130,
            Outcome::Incomplete => 3,
        }
    }
}
