//! The `authbulk` binary: parse the command line, set up logging, hand over to the library and
//! turn its outcome into the process exit code (see `authbulk::Outcome`).

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = authbulk::cli::Cli::parse();
    authbulk::cli::init_logging(&cli.log);
    let outcome = authbulk::cli::execute(cli);
    std::process::ExitCode::from(outcome.code())
}
