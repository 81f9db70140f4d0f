//! The integration tests of `authbulk`, as one test crate (one binary to build and link): a
//! module per area, named by what it drives (`run_*` the `run` command through the binary,
//! `sim_*` the simulator's Graph, `auth_*` the credentials, `harden_*` hostile input and
//! services, ...), and the helpers they share in [`support`].
//!
//! All modules run in one process: a test passes what the child process needs (environment,
//! working folder) to that child, never by changing its own process.
//!
//! One module: `cargo test --test it run_resume::`; one test: add its name.

mod support;

mod auth_azure_cli;
mod auth_credentials;
mod auth_flags;
mod auth_login;
mod auth_refresh;
mod auth_sim;
mod cli_console;
mod exec_executor;
mod export;
mod group_names;
mod harden_bodies;
mod harden_files;
mod harden_identity;
mod harden_input;
mod harden_journal;
mod harden_lock;
mod harden_redirects;
mod harden_stop;
mod harden_taps;
mod harden_waits;
mod job_fuzz;
mod job_powershell;
mod job_read;
mod job_validate_cli;
mod plan_apply;
mod plan_file;
mod run_action_guards;
mod run_action_scale;
mod run_actions;
mod run_breaker;
mod run_cloud;
mod run_exit;
mod run_failures;
mod run_graph_fidelity;
mod run_guards_tenant;
mod run_nightly;
mod run_oath;
mod run_paged_reads;
mod run_plan_spill;
mod run_policy;
mod run_preflight;
mod run_qr_pin;
mod run_rate_memory;
mod run_report;
mod run_resume;
mod run_resume_targets;
mod run_tap_columns;
mod run_unknown_outcome;
mod sim_batch;
mod sim_faults;
mod sim_hardware_oath;
mod sim_introspect;
mod sim_methods;
mod sim_signin;
mod sim_tenant;
mod sim_throttle;
mod sim_token;
mod status;
mod tenants;
mod tokens;
