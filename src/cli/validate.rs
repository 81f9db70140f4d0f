//! `authbulk validate <JOB>...`: check job files offline. Prints every problem on its own line
//! (`file:line: column "value": why (hint: ...)`) as it is found, then the columns no action
//! reads (warnings, with the closest known name), then a summary per file and in total; exits 0 when every file is a valid job, 2 otherwise. Called from [`crate::cli::execute`].

use std::io::{self, Write};

use clap::Args;

use crate::Outcome;
use crate::cli::job_flags::JobFlags;
use crate::job::{self, FileReport};

/// Flags of `authbulk validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Job files (.csv, .tsv, .txt, .json, .jsonl); `-` reads stdin (with --format).
    #[arg(required = true, value_name = "JOB")]
    pub jobs: Vec<String>,
    /// Format and per-row defaults, as `run` takes them.
    #[command(flatten)]
    pub job: JobFlags,
}

/// Validate the files and print what is wrong with them.
pub fn execute(args: ValidateArgs) -> anyhow::Result<Outcome> {
    let defaults = args.job.defaults()?;
    let sources = args.job.sources(&args.jobs)?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    // A closed pipe (`| head`) stops the printing, not the verdict.
    let mut printing = true;
    let reports = job::validate_files(&sources, &defaults, |problem| {
        if printing {
            printing = writeln!(out, "{problem}").is_ok();
        }
    });
    let _ = write_summary(&mut out, &reports);
    let _ = out.flush();
    if reports.iter().all(FileReport::is_valid) {
        Ok(Outcome::Success)
    } else {
        Ok(Outcome::Fatal)
    }
}

fn write_summary(out: &mut impl Write, reports: &[FileReport]) -> io::Result<()> {
    for report in reports {
        for warning in &report.warnings {
            writeln!(out, "{warning}")?;
        }
    }
    for report in reports {
        if let Some(error) = &report.error {
            writeln!(out, "error: {error}")?;
        }
    }
    let (mut rows, mut valid, mut invalid, mut problems) = (0, 0, 0, 0);
    for report in reports {
        let s = report.stats;
        let verdict = if report.is_valid() {
            "valid"
        } else {
            "NOT valid"
        };
        writeln!(
            out,
            "{}: {verdict}: {} rows, {} valid, {} invalid, {} problems",
            report.name, s.rows, s.valid, s.invalid, s.problems
        )?;
        rows += s.rows;
        valid += s.valid;
        invalid += s.invalid;
        problems += s.problems;
    }
    let bad_files = reports.iter().filter(|r| !r.is_valid()).count();
    let verdict = if bad_files == 0 {
        "all valid".to_string()
    } else {
        format!("{bad_files} of {} NOT valid", reports.len())
    };
    writeln!(
        out,
        "{} files, {verdict}: {rows} rows, {valid} valid, {invalid} invalid, {problems} problems",
        reports.len()
    )
}
