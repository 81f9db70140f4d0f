//! Reading a plan file: [`check`] reads it whole before anything is applied (a bad line is an
//! error naming FILE:LINE, another format version or a file without its end line is refused),
//! then [`rows`] streams its planned rows, one at a time.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use super::{End, FORMAT, Header, Line, PlannedRow};
use crate::job::ActionKind;

/// What [`check`] found in a plan file.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Its header.
    pub header: Header,
    /// Its totals.
    pub end: End,
    /// The actions of its rows, each once.
    pub actions: Vec<ActionKind>,
    /// The line of the first row that issues a temporary access pass.
    pub issues_passes: Option<u64>,
    /// The extra columns of its rows, in order of first appearance (the report's header).
    pub extra: Vec<String>,
    /// SHA-256 of the file: what `--resume` of an apply compares.
    pub fingerprint: String,
    /// Some row has an action the authentication methods policy governs.
    pub governed: bool,
}

/// Read the whole plan file at `path` and check every line.
pub fn check(path: &Path) -> Result<Checked> {
    let name = path.display();
    let file = File::open(path).with_context(|| format!("cannot open plan {name}"))?;
    let mut reader = BufReader::new(file);
    let mut hash = Sha256::new();
    let mut text = String::new();
    let mut number = 0u64;
    let mut header: Option<Header> = None;
    let mut end: Option<End> = None;
    let mut counted = End::default();
    let mut actions = Vec::new();
    let mut issues_passes = None;
    let mut extra: Vec<String> = Vec::new();
    let mut governed = false;
    loop {
        text.clear();
        let read = reader
            .read_line(&mut text)
            .with_context(|| format!("cannot read plan {name}"))?;
        if read == 0 {
            break;
        }
        number += 1;
        hash.update(text.as_bytes());
        if end.is_some() {
            bail!(
                "{name}:{number}: a line after the plan's end line: this is not a plan authbulk wrote"
            );
        }
        if !text.ends_with('\n') {
            bail!("{name}:{number}: the line is cut short: the plan is truncated");
        }
        let line: Line = match serde_json::from_str(text.trim_end()) {
            Ok(line) => line,
            Err(_) if number == 1 => {
                bail!(
                    "{name}:1: not an authbulk plan (no header line): {}",
                    format_of(&text)
                )
            }
            Err(e) => bail!("{name}:{number}: not a plan line: {e}"),
        };
        match (line, &header) {
            (Line::Header(h), None) if number == 1 => {
                if h.format != FORMAT {
                    bail!(
                        "plan {name} has format {}, this authbulk reads format {FORMAT}: apply \
                         it with the authbulk that made it ({}), or make the plan again",
                        h.format,
                        h.authbulk
                    );
                }
                header = Some(h);
            }
            (_, None) => bail!("{name}:1: not an authbulk plan (no header line)"),
            (Line::Header(_), Some(_)) => bail!("{name}:{number}: a second header line"),
            (Line::Row(row), Some(_)) => {
                counted.add(&row.steps);
                let kind = row.action.kind();
                if !actions.contains(&kind) {
                    actions.push(kind);
                }
                governed |= crate::plan::policy::governs(&row.action);
                if issues_passes.is_none() && row.action.issues_pass() {
                    issues_passes = Some(number);
                }
                for (column, _) in &row.extra {
                    if !extra.contains(column) {
                        extra.push(column.clone());
                    }
                }
            }
            (Line::End(totals), Some(_)) => {
                if totals != counted {
                    bail!(
                        "{name}:{number}: the end line's totals ({}) are not the rows' ({}): \
                         the plan was changed",
                        totals.line(),
                        counted.line()
                    );
                }
                end = Some(totals);
            }
        }
    }
    let Some(header) = header else {
        bail!("plan {name} is empty");
    };
    let Some(end) = end else {
        bail!(
            "plan {name} is truncated: it has no end line after line {number} (was the dry run \
             stopped, or the file cut short?); make the plan again"
        );
    };
    Ok(Checked {
        header,
        end,
        actions,
        issues_passes,
        extra,
        fingerprint: hash.finalize().iter().map(|b| format!("{b:02x}")).collect(),
        governed,
    })
}

/// Why a first line is not a header, short.
fn format_of(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(_) => "a JSON line of another kind".into(),
        Err(e) => e.to_string(),
    }
}

/// The planned rows of a checked plan file, in file order. Stops at the first line that cannot
/// be read (the file changed since it was checked).
pub fn rows(path: &Path) -> Result<impl Iterator<Item = PlannedRow>> {
    let file = File::open(path).with_context(|| format!("cannot open plan {}", path.display()))?;
    Ok(BufReader::new(file)
        .lines()
        .map_while(|line| line.ok())
        .map_while(|line| serde_json::from_str::<Line>(&line).ok())
        .filter_map(|line| match line {
            Line::Row(row) => Some(*row),
            _ => None,
        }))
}
