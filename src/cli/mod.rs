//! The command line: clap types for every command live here and nowhere else. Each command's raw
//! flags are validated into that command's config before any work starts, so the rest of the
//! crate never sees clap. Called by `main.rs`.

use clap::{Args, Parser, Subcommand};

use crate::Outcome;

mod apply;
pub(crate) mod auth_flags;
pub(crate) mod colour;
mod completions;
pub(crate) mod export;
pub(crate) mod help;
pub(crate) mod job_flags;
mod login;
pub(crate) mod rate_flags;
mod run;
mod sim;
mod status;
pub(crate) mod targets;
mod tokens;
mod validate;

/// Bulk changes to users' authentication methods (MFA) in Microsoft Entra ID.
#[derive(Debug, Parser)]
#[command(name = "authbulk", version, about, after_help = help::main_after())]
pub struct Cli {
    /// Logging flags shared by every command.
    #[command(flatten)]
    pub log: LogArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Logging and console flags.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// More log output (-v routine info such as progress lines, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less log output (errors only).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Colour the plan and log lines: auto (on a terminal, unless NO_COLOR is set), always,
    /// never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = colour::ColorChoice::Auto, global = true)]
    pub color: colour::ColorChoice,
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
    #[command(after_help = help::sim_after())]
    Sim(Box<sim::SimArgs>),
    /// Check job files offline: print every problem with its line, exit 2 if any.
    #[command(after_help = help::validate_after())]
    Validate(Box<validate::ValidateArgs>),
    /// Run job files (or --all-users/--group with --action) against a tenant: read, plan,
    /// preview, confirm, apply; a report of every operation.
    #[command(after_help = help::run_after())]
    Run(Box<run::RunArgs>),
    /// Apply exactly a plan saved by `run --dry-run --plan-out FILE`: each planned user is
    /// read once; a user whose state changed since is planned again and reported `drifted`.
    #[command(after_help = help::apply_after())]
    Apply(Box<apply::ApplyArgs>),
    /// Inventory: one row per existing method for every target user (job files, --all-users or
    /// --group), CSV or JSON Lines; read-only.
    #[command(after_help = help::export_after())]
    Export(Box<export::ExportArgs>),
    /// Registration status: MFA, SSPR, passwordless and the methods registered of every target
    /// user (job files, --all-users or --group), from the registration report; read-only.
    #[command(after_help = help::status_after())]
    Status(Box<status::StatusArgs>),
    /// Sign in as yourself (device code, or --browser) and keep the sign-in for later runs.
    Login(Box<login::LoginArgs>),
    /// Remove the sign-in `login` stored.
    Logout(login::LogoutArgs),
    /// Credentials: `auth status` shows which one is used and why, and what its token may do.
    #[command(subcommand)]
    Auth(login::AuthCommand),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish) to stdout.
    #[command(after_help = completions::COMPLETIONS_AFTER)]
    Completions(completions::CompletionsArgs),
    /// Print the manual page (roff) to stdout: `authbulk man | man -l -`.
    #[command(after_help = completions::MAN_AFTER)]
    Man(completions::ManArgs),
    /// Hardware OATH tokens (beta, global cloud only): `tokens import FILE` loads a vendor's
    /// seed file into the tenant's inventory, `tokens list` shows every token and who holds it.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
}

/// Set up `tracing` on stderr from the logging flags (`RUST_LOG` overrides the level).
pub fn init_logging(args: &LogArgs) {
    let level = if args.quiet {
        "error"
    } else {
        // Warnings by default: routine lines (which credential, the simulator's address,
        // progress lines without a terminal) are for -v; the plan, the summary and errors are
        // printed whatever the level.
        match args.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("authbulk={level},warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(args.color.paint(true).is_on());
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
        Command::Run(args) => run::execute(*args, cli.log.color),
        Command::Apply(args) => apply::execute(*args, cli.log.color),
        Command::Export(args) => export::execute(*args),
        Command::Status(args) => status::execute(*args),
        Command::Login(args) => login::login(*args),
        Command::Logout(args) => login::logout(args),
        Command::Auth(command) => login::status(command),
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args),
        Command::Tokens(command) => tokens::execute(command),
    };
    match result {
        Ok(outcome) => outcome,
        Err(err) => {
            eprintln!("error: {err:#}");
            Outcome::Fatal
        }
    }
}
