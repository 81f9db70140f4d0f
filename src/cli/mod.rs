//! The command line: clap types for every command live here and nowhere else. Each command's raw
//! flags are validated into that command's config before any work starts, so the rest of the
//! crate never sees clap. Called by `main.rs`.

use clap::{Args, Parser, Subcommand};

use crate::Outcome;

pub mod auth_flags;
mod export;
pub mod job_flags;
mod login;
pub mod rate_flags;
mod run;
mod sim;
pub mod targets;
mod validate;

/// Bulk changes to users' authentication methods (MFA) in Microsoft Entra ID.
#[derive(Debug, Parser)]
#[command(name = "authbulk", version, about)]
pub struct Cli {
    /// Logging flags shared by every command.
    #[command(flatten)]
    pub log: LogArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Logging flags.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less log output (errors only).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// Format of log lines on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands of DESIGN.md.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a simulated tenant (Microsoft Graph and its token endpoint) until Ctrl-C.
    Sim(Box<sim::SimArgs>),
    /// Check job files offline: print every problem with its line, exit 2 if any.
    Validate(Box<validate::ValidateArgs>),
    /// Run job files (or --all-users/--group with --action) against a tenant: read, plan,
    /// preview, confirm, apply; a report of every operation.
    Run(Box<run::RunArgs>),
    /// Inventory: one row per existing method for every target user (job files, --all-users or
    /// --group), CSV or JSON Lines; read-only.
    Export(Box<export::ExportArgs>),
    /// Sign in as yourself (device code, or --browser) and keep the sign-in for later runs.
    Login(Box<login::LoginArgs>),
    /// Remove the sign-in `login` stored.
    Logout(login::LogoutArgs),
    /// Credentials: `auth status` shows which one is used and why, and what its token may do.
    #[command(subcommand)]
    Auth(login::AuthCommand),
}

/// Set up `tracing` on stderr from the logging flags (`RUST_LOG` overrides the level).
pub fn init_logging(args: &LogArgs) {
    let level = if args.quiet {
        "error"
    } else {
        // Info by default: without a terminal, progress is a log line every few seconds.
        match args.verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("authbulk={level},warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Run a parsed command line to its outcome. Fatal errors are printed here, on stderr.
pub fn execute(cli: Cli) -> Outcome {
    let result = match cli.command {
        Command::Sim(args) => sim::execute(*args),
        Command::Validate(args) => validate::execute(*args),
        Command::Run(args) => run::execute(*args),
        Command::Export(args) => export::execute(*args),
        Command::Login(args) => login::login(*args),
        Command::Logout(args) => login::logout(args),
        Command::Auth(command) => login::status(command),
    };
    match result {
        Ok(outcome) => outcome,
        Err(err) => {
            eprintln!("error: {err:#}");
            Outcome::Fatal
        }
    }
}
