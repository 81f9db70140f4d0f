//! Job files: reading CSV, JSON and JSON Lines as admins' tools write them, header aliases,
//! value parsing, per-action validation, and the operation model ([`op`]) that the planner
//! consumes. `authbulk validate` calls [`validate_files`]; `run` calls [`open`] and iterates the
//! [`JobReader`], which streams: a file of a million rows is never held in memory.
//!
//! A bad row is data, not an error: it comes out of the reader as a [`Problem`] (one per bad
//! cell) and the stream goes on. Only a file that cannot be read as a job at all (missing,
//! undecodable, duplicate headers, no rows, unknown format) is a [`JobError`].

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use sha2::{Digest, Sha256};

mod csv_file;
mod decode;
pub mod glob;
pub mod header;
mod json_file;
pub mod op;
pub mod phone;
mod row;
pub mod value;

pub use header::{Column, ColumnWarning};
pub use op::{
    Action, ActionKind, DefaultMethod, MethodType, OathCode, Operation, PhoneSelector, PhoneType,
    QrPinParams, Selector, TapParams,
};
pub use row::{Defaults, Problem};

/// The format of a job file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-, semicolon- or tab-separated values with a header line.
    Csv,
    /// A JSON array of objects.
    Json,
    /// One JSON object per line.
    JsonLines,
}

impl Format {
    /// The format an extension means: `.csv`, `.tsv` and `.txt` (Excel's "Unicode text") are
    /// CSV; `.json` is JSON; `.jsonl` and `.ndjson` are JSON Lines.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "tsv" | "txt" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "jsonl" | "ndjson" => Some(Format::JsonLines),
            _ => None,
        }
    }

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::JsonLines => "jsonl",
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s.to_ascii_lowercase().as_str() {
            "csv" | "tsv" | "txt" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "jsonl" | "ndjson" | "jsonlines" => Ok(Format::JsonLines),
            _ => Err(format!("unknown job format {s:?}: use csv, json or jsonl")),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a job comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobSource {
    /// A file; `format` overrides the extension.
    File {
        /// The path as given.
        path: PathBuf,
        /// The format, when `--format` names one.
        format: Option<Format>,
    },
    /// Standard input (`-`), whose format must be named.
    Stdin {
        /// The format `--format` names.
        format: Format,
    },
}

impl JobSource {
    /// The source a command-line argument names: `-` is stdin and needs `format`.
    pub fn from_arg(arg: &str, format: Option<Format>) -> Result<JobSource, JobError> {
        if arg == "-" {
            let format = format.ok_or(JobError::StdinNeedsFormat)?;
            Ok(JobSource::Stdin { format })
        } else {
            Ok(JobSource::File {
                path: PathBuf::from(arg),
                format,
            })
        }
    }

    /// The name problems and reports use: the path as given, or `<stdin>`.
    pub fn name(&self) -> String {
        match self {
            JobSource::File { path, .. } => path.display().to_string(),
            JobSource::Stdin { .. } => "<stdin>".to_string(),
        }
    }

    /// The format: named, else from the extension.
    pub fn format(&self) -> Result<Format, JobError> {
        match self {
            JobSource::File {
                format: Some(format),
                ..
            }
            | JobSource::Stdin { format } => Ok(*format),
            JobSource::File { path, format: None } => {
                Format::from_path(path).ok_or_else(|| JobError::UnknownFormat { file: self.name() })
            }
        }
    }
}

/// Why a job file cannot be read as a job at all (a bad row is a [`Problem`] instead).
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The file cannot be opened.
    #[error("{file}: cannot open: {source}")]
    Open {
        /// The file.
        file: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Reading failed part-way.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The bytes are not text in a known encoding.
    #[error(
        "{file}: {why} (hint: save it as \"CSV UTF-8\", or as Unicode text with a byte-order mark)"
    )]
    Undecodable {
        /// The file.
        file: String,
        /// Why.
        why: String,
    },
    /// Two headers name the same column.
    #[error(
        "{file}:1: the headers \"{first}\" and \"{second}\" both name the {column} column (hint: keep one of them)"
    )]
    DuplicateHeader {
        /// The file.
        file: String,
        /// The column both name.
        column: String,
        /// The first header.
        first: String,
        /// The second header.
        second: String,
    },
    /// No header names the user.
    #[error(
        "{file}:1: no column names the user (found: {headers}) (hint: name it user, upn, userPrincipalName, objectId, id, userId, email or mail)"
    )]
    NoUserColumn {
        /// The file.
        file: String,
        /// The headers found.
        headers: String,
    },
    /// No action column and no `--action`.
    #[error(
        "{file}:1: no action column and no --action (hint: add an action column, or pass --action for every row)"
    )]
    NoAction {
        /// The file.
        file: String,
    },
    /// The file is empty (no header).
    #[error("{file}: the file is empty")]
    Empty {
        /// The file.
        file: String,
    },
    /// A header (or an empty array) and no data rows.
    #[error("{file}: no rows: the file has a header but no data")]
    NoRows {
        /// The file.
        file: String,
    },
    /// The extension names no known format.
    #[error("{file}: unknown job format (hint: name it .csv, .json or .jsonl, or pass --format)")]
    UnknownFormat {
        /// The file.
        file: String,
    },
    /// `-` without `--format`.
    #[error("reading a job from stdin (-) needs --format csv|json|jsonl")]
    StdinNeedsFormat,
    /// The file's structure is broken past a point where rows can be told apart.
    #[error("{file}:{line}: {why}")]
    Broken {
        /// The file.
        file: String,
        /// Where.
        line: u64,
        /// Why.
        why: String,
    },
}

/// SHA-256 of a job file's bytes: `--resume` refuses to continue with a different job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The fingerprint of a file, in a separate streaming pass.
pub fn fingerprint_file(path: &Path) -> Result<Fingerprint, JobError> {
    let file = path.display().to_string();
    let mut f = File::open(path).map_err(|source| JobError::Open {
        file: file.clone(),
        source,
    })?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => return Err(JobError::Read { file, source }),
        };
        hasher.update(&buf[..n]);
    }
    Ok(Fingerprint(hasher.finalize().into()))
}

/// Counts of what a reader has produced so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobStats {
    /// Data rows read (blank lines not counted).
    pub rows: u64,
    /// Rows that became operations.
    pub valid: u64,
    /// Rows with at least one problem.
    pub invalid: u64,
    /// Problems found (a row can have several).
    pub problems: u64,
}

enum Source {
    Csv(csv_file::CsvSource),
    Json(json_file::JsonArraySource),
    JsonLines(json_file::JsonLinesSource),
}

impl Source {
    fn take_warnings(&mut self) -> Vec<ColumnWarning> {
        match self {
            Source::Csv(s) => s.take_warnings(),
            Source::Json(s) => s.take_warnings(),
            Source::JsonLines(s) => s.take_warnings(),
        }
    }

    fn next_row(
        &mut self,
        out: &mut VecDeque<Result<Operation, Problem>>,
    ) -> Result<bool, JobError> {
        match self {
            Source::Csv(s) => s.next_row(out),
            Source::Json(s) => s.next_row(out),
            Source::JsonLines(s) => s.next_row(out),
        }
    }
}

/// A job file being read: an iterator of operations and problems in file order, so rows for
/// the same user keep their order. A row with several bad cells yields one problem per cell,
/// all with the same `row`.
///
/// If the file breaks part-way (a read error, an unclosed quote or array), the reader yields
/// one last problem with `row` 0 and stops; [`JobReader::finish`] then returns the error, so a
/// caller that goes on despite bad rows still never mistakes a cut-off file for a whole one.
pub struct JobReader {
    name: Arc<str>,
    source: Source,
    queue: VecDeque<Result<Operation, Problem>>,
    done: bool,
    failure: Option<JobError>,
    hash: decode::SharedHash,
    stats: JobStats,
    last_bad_row: u64,
}

/// Open a job for streaming with `defaults` for empty cells.
pub fn open(source: &JobSource, defaults: &Defaults) -> Result<JobReader, JobError> {
    let format = source.format()?;
    let name = source.name();
    let raw: Box<dyn Read + Send> = match source {
        JobSource::File { path, .. } => {
            Box::new(File::open(path).map_err(|source| JobError::Open {
                file: name.clone(),
                source,
            })?)
        }
        JobSource::Stdin { .. } => Box::new(io::stdin()),
    };
    open_reader(&name, format, raw, defaults)
}

/// Open a job from any byte stream (`name` is what problems call it).
pub fn open_reader(
    name: &str,
    format: Format,
    raw: Box<dyn Read + Send>,
    defaults: &Defaults,
) -> Result<JobReader, JobError> {
    let file: Arc<str> = Arc::from(name);
    let hash = decode::SharedHash::default();
    let hashed: Box<dyn Read + Send> = Box::new(decode::Hashing::new(raw, hash.clone()));
    let (text, _encoding) = decode::decode(hashed).map_err(|e| match e {
        decode::DecodeError::Io(source) => JobError::Read {
            file: name.to_string(),
            source,
        },
        decode::DecodeError::Utf16WithoutBom => JobError::Undecodable {
            file: name.to_string(),
            why: "the file has NUL bytes: UTF-16 without a byte-order mark, or not text".into(),
        },
    })?;
    let source = match format {
        Format::Csv => Source::Csv(csv_file::CsvSource::open(file.clone(), text, defaults)?),
        Format::Json => Source::Json(json_file::JsonArraySource::open(
            file.clone(),
            text,
            defaults,
        )),
        Format::JsonLines => Source::JsonLines(json_file::JsonLinesSource::open(
            file.clone(),
            text,
            defaults,
        )),
    };
    let mut reader = JobReader {
        name: file,
        source,
        queue: VecDeque::new(),
        done: false,
        failure: None,
        hash,
        stats: JobStats::default(),
        last_bad_row: 0,
    };
    // Read up to the first row now, so that an empty job is refused before any work starts.
    match reader.source.next_row(&mut reader.queue) {
        Ok(true) => {}
        Ok(false) => {
            return Err(match format {
                Format::JsonLines => JobError::Empty {
                    file: name.to_string(),
                },
                _ => JobError::NoRows {
                    file: name.to_string(),
                },
            });
        }
        // Broken right at the start: the file is not a job at all.
        Err(e) if reader.queue.is_empty() => return Err(e),
        // Broken after its first row: that row is still reported, then the break.
        Err(e) => reader.fail(e),
    }
    Ok(reader)
}

/// Visit the data rows of a CSV job as its cells, in file order: `visit` gets the header (as
/// the file spells it) and each data row's cells (trimmed, one per header column). For writing
/// rows back out as a job (`run --failed-out`). Other formats are refused.
pub fn csv_cells(
    source: &JobSource,
    defaults: &Defaults,
    mut visit: impl FnMut(&[String], Vec<String>),
) -> Result<(), JobError> {
    let mut reader = open(source, defaults)?;
    let Source::Csv(csv) = &mut reader.source else {
        return Err(JobError::Undecodable {
            file: reader.name.to_string(),
            why: "only CSV rows can be written back out".into(),
        });
    };
    // `open` has read the first data row.
    let mut queue = VecDeque::new();
    loop {
        visit(csv.header(), csv.cells());
        queue.clear();
        if !csv.next_row(&mut queue)? {
            return Ok(());
        }
    }
}

impl JobReader {
    /// Warnings found so far and not yet taken: columns no action reads (a CSV header's at
    /// once, a JSON key's at the first object that has it). Not problems: rows stay valid.
    pub fn take_warnings(&mut self) -> Vec<ColumnWarning> {
        self.source.take_warnings()
    }

    /// Counts so far (final once the iterator has ended).
    pub fn stats(&self) -> JobStats {
        self.stats
    }

    /// The fingerprint of the file's bytes, once every byte has been read without failure.
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        (self.done && self.failure.is_none()).then(|| Fingerprint(self.hash.digest()))
    }

    /// Drain what is left, then return the counts, or the error that cut the file short.
    pub fn finish(mut self) -> Result<JobStats, JobError> {
        for _ in self.by_ref() {}
        match self.failure {
            Some(e) => Err(e),
            None => Ok(self.stats),
        }
    }

    /// Stop at a file-level failure: one last problem (row 0) after what is queued.
    fn fail(&mut self, e: JobError) {
        self.done = true;
        let line = match &e {
            JobError::Broken { line, .. } => *line,
            _ => 0,
        };
        self.queue.push_back(Err(Problem {
            file: self.name.clone(),
            row: 0,
            line,
            column: None,
            value: None,
            why: format!("reading stopped: {e}"),
            hint: None,
        }));
        self.failure = Some(e);
    }

    fn count(&mut self, item: &Result<Operation, Problem>) {
        match item {
            Ok(_) => {
                self.stats.rows += 1;
                self.stats.valid += 1;
            }
            Err(p) => {
                self.stats.problems += 1;
                if p.row != 0 && p.row != self.last_bad_row {
                    self.last_bad_row = p.row;
                    self.stats.rows += 1;
                    self.stats.invalid += 1;
                }
            }
        }
    }
}

impl Iterator for JobReader {
    type Item = Result<Operation, Problem>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                self.count(&item);
                return Some(item);
            }
            if self.done {
                return None;
            }
            match self.source.next_row(&mut self.queue) {
                Ok(true) => {}
                Ok(false) => self.done = true,
                Err(e) => self.fail(e),
            }
        }
    }
}

/// The outcome of validating one file.
#[derive(Debug)]
pub struct FileReport {
    /// The file as the user named it.
    pub name: String,
    /// What was read.
    pub stats: JobStats,
    /// Why the file could not be read as a job, if so.
    pub error: Option<JobError>,
    /// Columns no action reads.
    pub warnings: Vec<ColumnWarning>,
}

impl FileReport {
    /// True when the file is a job with no bad rows.
    pub fn is_valid(&self) -> bool {
        self.error.is_none() && self.stats.problems == 0
    }
}

/// Validate job files offline: every problem goes to `on_problem` as it is found, and each
/// file gets a [`FileReport`]. Used by `authbulk validate`.
pub fn validate_files(
    sources: &[JobSource],
    defaults: &Defaults,
    mut on_problem: impl FnMut(&Problem),
) -> Vec<FileReport> {
    sources
        .iter()
        .map(|source| {
            let name = source.name();
            let mut reader = match open(source, defaults) {
                Ok(reader) => reader,
                Err(error) => {
                    return FileReport {
                        name,
                        stats: JobStats::default(),
                        error: Some(error),
                        warnings: Vec::new(),
                    };
                }
            };
            let mut warnings = reader.take_warnings();
            while let Some(item) = reader.next() {
                warnings.extend(reader.take_warnings());
                // The problem that marks a file cut short (row 0) is the file's error below.
                if let Err(problem) = item
                    && problem.row != 0
                {
                    on_problem(&problem);
                }
            }
            let stats = reader.stats();
            warnings.extend(reader.take_warnings());
            FileReport {
                name,
                stats,
                error: reader.finish().err(),
                warnings,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_the_extension_and_format_overrides_it() {
        let file = |p: &str, f| JobSource::File {
            path: PathBuf::from(p),
            format: f,
        };
        assert_eq!(file("Jobs.CSV", None).format().unwrap(), Format::Csv);
        assert_eq!(file("excel.txt", None).format().unwrap(), Format::Csv);
        assert_eq!(file("a.json", None).format().unwrap(), Format::Json);
        assert_eq!(file("a.ndjson", None).format().unwrap(), Format::JsonLines);
        assert!(matches!(
            file("a.xlsx", None).format(),
            Err(JobError::UnknownFormat { .. })
        ));
        assert_eq!(
            file("a.xlsx", Some(Format::Csv)).format().unwrap(),
            Format::Csv
        );
        assert_eq!("JSONL".parse::<Format>().unwrap(), Format::JsonLines);
        assert!("xls".parse::<Format>().is_err());
    }

    #[test]
    fn the_user_has_no_default() {
        let mut d = Defaults::default();
        assert!(d.set(Column::User, "ann@contoso.com").is_err());
        assert_eq!(d, Defaults::default());
    }
}
