//! `authbulk completions <SHELL>` and `authbulk man`: a shell completion script and the manual
//! page, both generated from the same clap definition as the parser, so they never drift from
//! the flags. clap_complete and clap_mangen are clap's own generators (same maintainers, same
//! release train as clap), so they read every flag, value list and help text exactly as the
//! parser declares it; a hand-written script or page would have to be kept in step by hand.

use std::io::Write;

use anyhow::{Result, bail};
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;
use crate::Outcome;
use crate::report::format::stdout;

/// Flags of `authbulk completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, powershell (Windows PowerShell 5.1 and PowerShell 7) or
    /// elvish.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Flags of `authbulk man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// A command's own page (authbulk-run(1), ...) instead of the main page.
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

/// `completions --help`'s closing text: where each shell looks for the script.
pub const COMPLETIONS_AFTER: &str = "\
Install:
  bash        authbulk completions bash > ~/.local/share/bash-completion/completions/authbulk
  zsh         authbulk completions zsh > \"${fpath[1]}/_authbulk\"
  fish        authbulk completions fish > ~/.config/fish/completions/authbulk.fish
  powershell  authbulk completions powershell | Out-String | Invoke-Expression
              (add that line to $PROFILE to keep it)";

/// `man --help`'s closing text.
pub const MAN_AFTER: &str = "\
Read it:     authbulk man | man -l -        authbulk man run | man -l -
Install:     mkdir -p ~/.local/share/man/man1
             authbulk man > ~/.local/share/man/man1/authbulk.1
             for c in run export validate sim completions; do
               authbulk man $c > ~/.local/share/man/man1/authbulk-$c.1; done";

/// Write the completion script for the shell to stdout.
pub fn completions(args: CompletionsArgs) -> Result<Outcome> {
    let mut command = Cli::command();
    let mut out = stdout::stdout();
    clap_complete::generate(args.shell, &mut command, "authbulk", &mut out);
    let _ = out.flush();
    Ok(Outcome::Success)
}

/// Write the manual page to stdout: the main page (its commands listed as authbulk-run(1),
/// ...), or one command's page.
pub fn man(args: ManArgs) -> Result<Outcome> {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let page = match args.command.as_deref() {
        None => clap_mangen::Man::new(command),
        Some(name) => {
            let Some(sub) = command.find_subcommand(name) else {
                let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
                bail!(
                    "no command {name:?}: `authbulk man` has a page for {}",
                    names.join(", ")
                );
            };
            // Named as clap_mangen names the pages it links from the main one.
            let title = format!("authbulk-{}", sub.get_name());
            clap_mangen::Man::new(
                sub.clone()
                    .name(title.clone())
                    .bin_name(format!("authbulk {}", sub.get_name())),
            )
            .title(title)
        }
    };
    let mut roff = Vec::new();
    page.render(&mut roff)?;
    let mut out = stdout::stdout();
    let _ = out.write_all(&roff).and_then(|()| out.flush());
    Ok(Outcome::Success)
}
