//! Asking before writes, the phase of a run between connecting and applying. Without `--yes`
//! (or with `--max-changes`) the run first plans every row (GETs only, `plan_first`), prints
//! the plan and its totals, then on a terminal asks "apply?" unless `--yes`; without a terminal
//! it refuses to write unless `--yes` (DESIGN.md, "Commands"). The plan is kept (on disk,
//! [`crate::plan::file::PlanOnce`]) for the apply, so the plan shown is the plan applied and no
//! user is read twice; a write of it that meets a conflict reads that user again. `authbulk
//! apply` shows its saved plan's totals instead and asks the same way.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use tokio::sync::mpsc;

use super::pass::Pass;
use super::plan_out::{self, PlanOut};
use crate::Outcome;
use crate::exec::DriveEnd;
use crate::plan::file::PlanOnce;
use crate::report::Resume;

/// Without `--yes` (or with `--max-changes`): plan first, show the plan, ask. `None` when the
/// run goes on to apply; the outcome when the planning was interrupted; an error (nothing was
/// written) when the plan is refused.
pub(super) async fn plan_first(
    pass: &mut Pass<'_>,
    resume: Option<Arc<Resume>>,
    plan_out: &PlanOut,
) -> Result<Option<Outcome>> {
    let config = pass.config;
    if let Some(plan) = &config.plan {
        saved_plan(pass, plan)?;
        return Ok(None);
    }
    if config.dry_run || (config.yes && config.max_changes.is_none()) {
        return Ok(None);
    }
    // Plan once: the rows planned here, with the state each was planned against, are kept
    // for the apply, which then reads no user again (a resumed run plans again instead).
    let once = resume.is_none().then(|| Arc::new(PlanOnce::default()));
    pass.plan_once = once.clone();
    let (events, received) = mpsc::channel(4096);
    let planning = tokio::spawn(plan_out::tally(received));
    let end = pass.drive(true, events, resume).await;
    let (mut plan, console) = planning.await.context("the planning task failed")?;
    pass.plan_once = None;
    if end != DriveEnd::Completed {
        return Ok(Some(Outcome::Interrupted));
    }
    plan_out.plan(console, &mut plan);
    plan_out.totals(&plan);
    consent(pass, plan.writes())?;
    if let Some(once) = once.and_then(Arc::into_inner) {
        match once.finish() {
            Ok(kept) => *pass.kept.lock().expect("the kept plan") = Some(kept),
            Err(error) => {
                eprintln!("warning: the plan could not be kept ({error}): each user is read again")
            }
        }
    }
    Ok(None)
}

/// `authbulk apply`: the saved plan's totals (it was reviewed as a file), then the same
/// question and guard as a run's.
fn saved_plan(pass: &Pass<'_>, plan: &crate::plan::file::Checked) -> Result<()> {
    let header = &plan.header;
    eprintln!(
        "plan {}: made {} for tenant {} by authbulk {}",
        pass.config
            .apply_plan
            .as_deref()
            .map_or_else(String::new, |p| p.display().to_string()),
        header.created.format("%Y-%m-%d %H:%M:%S UTC"),
        header.tenant,
        header.authbulk
    );
    eprintln!("Plan: {}.", plan.end.line());
    consent(pass, plan.end.writes())
}

/// Refuse `writes` over `--max-changes`, else ask (unless `--yes`): an error (nothing was
/// written) when the plan is refused.
fn consent(pass: &Pass<'_>, writes: u64) -> Result<()> {
    let config = pass.config;
    let refusal = match config.max_changes {
        Some(max) if writes > max => Some(format!(
            "the plan holds {writes} writes, more than --max-changes {max}: nothing was \
             written"
        )),
        _ => match ask(writes, config.yes || writes == 0) {
            Consent::Apply => None,
            Consent::Declined => Some("not applied: nothing was written".into()),
            Consent::NoTerminal => {
                Some("refusing to write without a terminal to confirm on: add --yes".into())
            }
        },
    };
    if let Some(refusal) = refusal {
        pass.session.ctrl_c.abort();
        bail!(refusal);
    }
    Ok(())
}

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
