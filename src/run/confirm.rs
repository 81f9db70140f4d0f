//! Asking before writes. On a terminal a run shows the plan summary and asks "apply?" unless
//! `--yes`; without a terminal it refuses to write unless `--yes` (DESIGN.md, "Commands").

use std::io::{BufRead, IsTerminal, Write};

/// What the run may do once the plan is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    /// Go ahead and write.
    Apply,
    /// The user said no at the prompt.
    Declined,
    /// No terminal to ask at and no `--yes`: refuse (exit 2).
    NoTerminal,
}

/// Ask on stderr/stdin whether to apply `writes` changes, unless `yes`.
pub fn ask(writes: u64, yes: bool) -> Consent {
    if yes {
        return Consent::Apply;
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() || !std::io::stderr().is_terminal() {
        return Consent::NoTerminal;
    }
    answer(&mut stdin.lock(), &mut std::io::stderr(), writes)
}

/// Prompt on `out` and read the answer from `input`: only `y` or `yes` applies.
fn answer(input: &mut dyn BufRead, out: &mut dyn Write, writes: u64) -> Consent {
    let _ = write!(out, "apply {writes} change(s) to the tenant? [y/N] ");
    let _ = out.flush();
    let mut line = String::new();
    match input.read_line(&mut line) {
        Ok(_) if matches!(line.trim().to_lowercase().as_str(), "y" | "yes") => Consent::Apply,
        _ => Consent::Declined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_explicit_yes_applies() {
        for (typed, expected) in [
            ("y\n", Consent::Apply),
            ("YES\n", Consent::Apply),
            ("\n", Consent::Declined),
            ("n\n", Consent::Declined),
            ("", Consent::Declined),
        ] {
            let mut out = Vec::new();
            assert_eq!(
                answer(&mut typed.as_bytes(), &mut out, 3),
                expected,
                "{typed:?}"
            );
            assert!(
                String::from_utf8(out)
                    .unwrap()
                    .contains("apply 3 change(s)")
            );
        }
    }

    #[test]
    fn yes_applies_without_asking() {
        assert_eq!(ask(10, true), Consent::Apply);
    }
}
