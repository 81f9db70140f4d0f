//! `--color auto|always|never` and `NO_COLOR`: whether console output (the plan, log lines) is
//! coloured. `auto` colours a stream only when it is a terminal and `NO_COLOR` is not set to a
//! non-empty value (<https://no-color.org>); an explicit `--color always|never` overrides
//! `NO_COLOR`, as that convention asks of command-line flags.

use std::io::IsTerminal;

use clap::ValueEnum;

use crate::plan::Paint;

/// `--color` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless NO_COLOR is set.
    #[default]
    Auto,
    /// Always colour (even through a pipe, even with NO_COLOR).
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether a stream that is (or is not) a terminal gets colour, given `no_color`, the value
    /// of the `NO_COLOR` environment variable.
    pub fn colours(self, is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && no_color.is_none_or(|v| v.is_empty()),
        }
    }

    /// The paint for standard output (`stderr: false`) or standard error.
    pub fn paint(self, stderr: bool) -> Paint {
        let terminal = match stderr {
            true => std::io::stderr().is_terminal(),
            false => std::io::stdout().is_terminal(),
        };
        Paint::new(self.colours(terminal, std::env::var_os("NO_COLOR").as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn auto_colours_a_terminal_unless_no_color_is_set() {
        assert!(ColorChoice::Auto.colours(true, None));
        assert!(ColorChoice::Auto.colours(true, Some(OsStr::new(""))));
        assert!(!ColorChoice::Auto.colours(true, Some(OsStr::new("1"))));
        assert!(!ColorChoice::Auto.colours(false, None));
    }

    #[test]
    fn an_explicit_choice_wins_over_no_color_and_pipes() {
        assert!(ColorChoice::Always.colours(false, Some(OsStr::new("1"))));
        assert!(!ColorChoice::Never.colours(true, None));
    }
}
