//! `authbulk tokens import|list`: flags of the hardware OATH token inventory commands,
//! validated into [`crate::tokens::ImportConfig`] / [`crate::tokens::ListConfig`]; runs them on a
//! tokio runtime.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::Outcome;
use crate::cli::rate_flags::RateFlags;
use crate::cli::targets::TenantArgs;
use crate::export::Destination;
use crate::tokens::{ImportConfig, ListConfig};

/// `tokens` commands.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Import a vendor's seed file (CSV: serial number, secret key, manufacturer, model, time
    /// interval, hash function) into the tenant's token inventory; a token already there is
    /// unchanged. Every line is checked first (exit 2 naming the line). Needs
    /// Policy.ReadWrite.AuthenticationMethod.
    #[command(after_help = IMPORT_AFTER)]
    Import(Box<ImportArgs>),
    /// List the inventory: every token, its status and who holds it (never the secret key).
    /// Needs Policy.Read.All.
    #[command(after_help = LIST_AFTER)]
    List(Box<ListArgs>),
}

const IMPORT_AFTER: &str = "\
Headers are matched case-insensitively, ignoring spaces, _ and -: serial number, secret key
(base32, at least 128 bits), manufacturer, model, time interval (30 or 60), hash function
(hmacsha1 or hmacsha256; default hmacsha1). Other columns (the admin center's upn) are ignored:
assign tokens with `authbulk run` and the assign-oath-token action.

Examples:
  authbulk tokens import seeds.csv --report import.csv
  authbulk run assign.csv --action assign-oath-token      # columns: user, serial_number[, verification_code]

Exit codes: 0 every token created or unchanged; 1 some failed (the report says which);
2 a bad seed file, credentials, permissions or a cloud without hardware OATH tokens.";

const LIST_AFTER: &str = "\
Columns: id, serialNumber, displayName, manufacturer, model, status (available, assigned,
activated, failedActivation), timeIntervalInSeconds, hashFunction, assignedToId, assignedToName.

Exit codes: 0 listed; 2 credentials, permissions or a cloud without hardware OATH tokens.";

/// Flags of `tokens import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The seed file (CSV).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Report file, .csv or .jsonl (never overwritten); stdout without it. It never holds a
    /// secret key.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Read the inventory and report what would be created; create nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The tenant.
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Rate limits, retries, concurrency.
    #[command(flatten)]
    pub rate: RateFlags,
}

/// Flags of `tokens list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output file, .csv or .jsonl (never overwritten); stdout without it.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The tenant.
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Rate limits, retries, concurrency.
    #[command(flatten)]
    pub rate: RateFlags,
}

fn destination(path: Option<PathBuf>) -> Destination {
    match path {
        Some(path) if path.as_os_str() != "-" => Destination::File(path),
        _ => Destination::Stdout,
    }
}

/// Validate the flags and run the command.
pub fn execute(command: TokensCommand) -> Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match command {
        TokensCommand::Import(args) => {
            let config = ImportConfig {
                file: args.file,
                report: destination(args.report),
                dry_run: args.dry_run,
                connection: args.tenant.connection()?,
                exec: args.rate.to_config()?,
            };
            runtime.block_on(crate::tokens::import(config))
        }
        TokensCommand::List(args) => {
            let config = ListConfig {
                output: destination(args.output),
                connection: args.tenant.connection()?,
                exec: args.rate.to_config()?,
            };
            runtime.block_on(crate::tokens::list(config))
        }
    }
}
