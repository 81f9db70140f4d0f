//! Actions as desired state. For each job row the planner reads the user's state, compares it
//! with what the action describes and plans the concrete steps that close the gap
//! ([`desired::plan_with`], pure and unit-tested); [`apply::Applier`] then carries them out through
//! [`crate::graph::GraphCall`] (or, in a dry run, only reports them) and emits one
//! [`crate::report::Record`] per step. The `run` command calls [`apply::Applier::apply_op`] for
//! each row with the user's [`apply::UserContext`] (the tests call [`apply::Applier::apply_user`]
//! with all of a user's rows), and prints dry runs with [`console::PlanConsole`].
//!
//! The planner holds no HTTP: a [`Step`] names its [`Change`] (the report's `step`) and the
//! [`Write`] it asks of Graph; `crate::graph::requests` turns that into a request, and
//! `crate::graph::methods` parses Graph's answers into [`state`].
//!
//! Files, one concept each: [`state`] (the domain model), [`change`] (what a record is about),
//! [`select`] (selectors, with the job module's `device` glob), [`desired`] and `reset`
//! (planning), [`default`] (the default method's rules), [`rules`] (a run's planning rules), [`policy`] (the authentication methods policy), [`step`] (what a plan is made of),
//! [`effect`] (steps played on the state),
//! [`apply`] (carrying plans out), [`tap_out`] (the `--tap-out` file), [`summary`] (dry-run
//! totals and the plan printer), [`qr_pin`] (planning the QR code + PIN actions),
//! [`secrets_out`] (the `--secrets-out` folder of QR codes and PINs), [`oath`] (hardware OATH
//! tokens, planned against the token inventory), [`file`] (a plan saved to a file by
//! `--plan-out` and applied by `authbulk apply`, and the plan a run keeps between its question
//! and its apply).

pub mod apply;
pub mod change;
pub mod console;
pub mod default;
pub mod desired;
pub mod effect;
pub mod file;
pub mod oath;
pub mod policy;
pub mod qr_pin;
mod reset;
pub mod rules;
pub mod secrets_out;
pub mod select;
pub mod spill;
pub mod state;
pub mod step;
pub mod summary;
pub mod tap_out;

pub use apply::{Applier, Records, UserContext};
pub use change::Change;
pub use console::{Paint, PlanConsole};
pub use rules::PlanRules;
pub use secrets_out::SecretsDir;
pub use state::{Method, MethodKind, SignInPreferences, SmsSignInState, UserState};
pub use step::Write;
pub use summary::PlanSummary;
pub use tap_out::{TapOutFile, TapSink};
