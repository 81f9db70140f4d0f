//! CSV job files as spreadsheets and PowerShell export them (its `#TYPE` line skipped): the delimiter (`,`, `;` or tab) detected from the
//! header line, CRLF, quoted cells with embedded newlines, blank, whitespace-only and
//! delimiter-only lines skipped, cells trimmed, trailing empty cells tolerated. Streams record
//! by record through one reused buffer, so memory stays flat whatever the file's size; a record
//! that grows past 1 MiB (a quote that is never closed) stops the file instead of eating memory.
//! Driven by [`crate::job::JobReader`].

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use csv::ByteRecord;

use crate::job::header::{COLUMNS, Column, ColumnWarning, Layout, Slot};
use crate::job::row::{self, Cells, Defaults, Problem, RowContext};
use crate::job::{JobError, Operation};

/// Longest record accepted, in bytes.
const MAX_RECORD: u64 = 1024 * 1024;

/// Cell trimming: whitespace (including the no-break spaces spreadsheets love), BOMs and
/// zero-width spaces that sneak in through copy and paste.
pub fn trim(cell: &str) -> &str {
    cell.trim_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}' || c == '\u{200B}')
}

/// The byte stream as the csv crate sees it. Two jobs:
/// - it fails a read once the current record has grown past [`MAX_RECORD`];
/// - it puts a space into each empty line outside quotes, because the csv crate skips empty
///   lines without telling, and then its line numbers fall behind the file's. With the space,
///   every line is a record that the reader counts (and skips when blank), so a row's
///   spreadsheet line is simply the count of records before it.
struct Guard<R> {
    inner: R,
    read: u64,
    record_start: Arc<AtomicU64>,
    chunk: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    previous: u8,
    quotes: Quotes,
    delimiter: u8,
}

/// Where the byte stream is with respect to quoted cells, as csv-core sees it: a quote opens a
/// quoted cell only at the start of a cell (elsewhere it is a literal character), and `""`
/// inside one is an escaped quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quotes {
    Outside,
    Inside,
    /// Just after a quote inside a quoted cell: either its end or the first of `""`.
    AfterQuote,
}

impl<R: Read> Guard<R> {
    fn new(inner: R, record_start: Arc<AtomicU64>, delimiter: u8) -> Guard<R> {
        Guard {
            inner,
            read: 0,
            record_start,
            chunk: vec![0; 32 * 1024],
            out: Vec::with_capacity(33 * 1024),
            pos: 0,
            // As if after a line break: the stream starts a cell, and it starts with the
            // header line, never with an empty line (so no space is put first).
            previous: b'\n',
            quotes: Quotes::Outside,
            delimiter,
        }
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.out.len() {
            if self.read - self.record_start.load(Ordering::Relaxed) > MAX_RECORD {
                return Err(io::Error::other(TooLong));
            }
            let n = loop {
                match self.inner.read(&mut self.chunk) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other?,
                }
            };
            self.out.clear();
            self.pos = 0;
            for i in 0..n {
                let b = self.chunk[i];
                self.quotes = match (self.quotes, b) {
                    (Quotes::Inside, b'"') => Quotes::AfterQuote,
                    (Quotes::Inside, _) => Quotes::Inside,
                    (Quotes::AfterQuote, b'"') => Quotes::Inside,
                    (Quotes::Outside, b'"')
                        if self.previous == self.delimiter || self.previous == b'\n' =>
                    {
                        Quotes::Inside
                    }
                    (Quotes::Outside | Quotes::AfterQuote, _) => Quotes::Outside,
                };
                if b == b'\n' && self.previous == b'\n' && self.quotes == Quotes::Outside {
                    self.out.push(b' ');
                }
                self.out.push(b);
                self.previous = b;
            }
            self.read += self.out.len() as u64;
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[derive(Debug)]
struct TooLong;

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("record too long")
    }
}

impl std::error::Error for TooLong {}

/// The delimiter of a header line: the most frequent of `,`, `;` and tab outside quotes
/// (a comma when none appears: a one-column file).
fn detect_delimiter(line: &[u8]) -> u8 {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in line {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let candidates = [b',', b';', b'\t'];
    let best = (0..3).max_by_key(|&i| (counts[i], 3 - i)).unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        candidates[best]
    }
}

/// A CSV job file being read.
pub struct CsvSource {
    file: Arc<str>,
    reader: csv::Reader<Guard<Box<dyn Read + Send>>>,
    record: ByteRecord,
    layout: Layout,
    defaults: Defaults,
    /// Spreadsheet line of the last record read (the header's at first).
    line: u64,
    row: u64,
    record_start: Arc<AtomicU64>,
    /// Headers no action reads, not yet handed out.
    warnings: Vec<ColumnWarning>,
    /// The header's column names as the file spells them (trimmed).
    header: Vec<String>,
}

impl CsvSource {
    /// The warnings found since the last call (the header's, once).
    pub fn take_warnings(&mut self) -> Vec<ColumnWarning> {
        std::mem::take(&mut self.warnings)
    }

    /// Read the header of `text` (UTF-8) and prepare to stream its rows.
    pub fn open(
        file: Arc<str>,
        text: Box<dyn Read + Send>,
        defaults: &Defaults,
    ) -> Result<CsvSource, JobError> {
        let io_err = |source| JobError::Read {
            file: file.to_string(),
            source,
        };
        let mut buffered = BufReader::with_capacity(64 * 1024, text);
        let mut header_line = Vec::new();
        let mut lines_before = 0;
        let mut declared = None;
        loop {
            header_line.clear();
            let n = (&mut buffered)
                .take(MAX_RECORD)
                .read_until(b'\n', &mut header_line)
                .map_err(io_err)?;
            if n == 0 {
                return Err(JobError::Empty {
                    file: file.to_string(),
                });
            }
            if !header_line.ends_with(b"\n") && n as u64 == MAX_RECORD {
                return Err(JobError::Broken {
                    file: file.to_string(),
                    line: lines_before + 1,
                    why: "the header line is longer than 1 MiB".into(),
                });
            }
            // Windows PowerShell's Export-Csv writes `#TYPE System.Management...` above the
            // header unless given -NoTypeInformation: a line to skip, not the header.
            let type_line = header_line.starts_with(b"#TYPE ");
            // `sep=;` on the first line tells Excel the delimiter; scripts that target Excel
            // write it. It names the delimiter and is not the header.
            let sep_line = lines_before == 0
                && header_line.len() >= 5
                && header_line[..4].eq_ignore_ascii_case(b"sep=")
                && header_line[5..].iter().all(u8::is_ascii_whitespace);
            if sep_line {
                declared = Some(header_line[4]);
            } else if !type_line && header_line.iter().any(|b| !b.is_ascii_whitespace()) {
                break;
            }
            lines_before += 1;
        }
        // A CR not followed by LF: classic Mac line endings, which would make the whole file
        // one line (and one row).
        if header_line
            .windows(2)
            .any(|w| w[0] == b'\r' && w[1] != b'\n')
        {
            return Err(JobError::Broken {
                file: file.to_string(),
                line: lines_before + 1,
                why: "lines end with CR alone (classic Mac): save the file with Windows (CRLF) \
                      or Unix (LF) line endings"
                    .into(),
            });
        }
        let delimiter = declared.unwrap_or_else(|| detect_delimiter(&header_line));
        let record_start = Arc::new(AtomicU64::new(0));
        let stream: Box<dyn Read + Send> = Box::new(io::Cursor::new(header_line).chain(buffered));
        let guard = Guard::new(stream, record_start.clone(), delimiter);
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            // Records end at LF only: with CRLF as a terminator the csv crate reports a record's
            // line before consuming the LF of the previous one (one too low). The CR stays at
            // the end of the last cell, where trimming removes it.
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(guard);
        let mut header = ByteRecord::new();
        if !reader
            .read_byte_record(&mut header)
            .map_err(|e| csv_error(&file, lines_before + 1, e))?
        {
            return Err(JobError::Empty {
                file: file.to_string(),
            });
        }
        let mut names = Vec::with_capacity(header.len());
        for cell in header.iter() {
            let text = std::str::from_utf8(cell).map_err(|_| JobError::Undecodable {
                file: file.to_string(),
                why: "the header is not UTF-8 text".into(),
            })?;
            names.push(trim(text).to_string());
        }
        // Excel writes trailing delimiters for empty columns: nameless trailing headers are
        // not columns.
        while names.last().is_some_and(String::is_empty) {
            names.pop();
        }
        if let Some(i) = names.iter().position(String::is_empty) {
            return Err(JobError::Broken {
                file: file.to_string(),
                line: lines_before + 1,
                why: format!("column {} of the header has no name", i + 1),
            });
        }
        let header = names.clone();
        let layout = Layout::new(&names).map_err(|d| JobError::DuplicateHeader {
            file: file.to_string(),
            column: d.column,
            first: d.first,
            second: d.second,
        })?;
        if !layout.has(Column::User) {
            return Err(JobError::NoUserColumn {
                file: file.to_string(),
                headers: names.join(", "),
            });
        }
        if !layout.has(Column::Action) && defaults.action.is_none() {
            return Err(JobError::NoAction {
                file: file.to_string(),
            });
        }
        record_start.store(reader.position().byte(), Ordering::Relaxed);
        let warnings = layout
            .unknown()
            .into_iter()
            .map(|unknown| ColumnWarning {
                file: file.clone(),
                line: lines_before + 1,
                unknown,
            })
            .collect();
        Ok(CsvSource {
            warnings,
            file,
            reader,
            record: ByteRecord::new(),
            layout,
            defaults: defaults.clone(),
            line: lines_before + 1,
            row: 0,
            record_start,
            header,
        })
    }

    /// The header's column names as the file spells them.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The cells of the last data row read, trimmed as the reader reads them, one per header
    /// column (a short row's missing cells empty; cells beyond the header dropped).
    pub fn cells(&self) -> Vec<String> {
        let mut cells: Vec<String> = self
            .record
            .iter()
            .take(self.header.len())
            .map(|raw| trim(&String::from_utf8_lossy(raw)).to_string())
            .collect();
        cells.resize(self.header.len(), String::new());
        cells
    }

    /// Read the next data row into `out` (its operation or its problems); false at the end.
    pub fn next_row(
        &mut self,
        out: &mut VecDeque<Result<Operation, Problem>>,
    ) -> Result<bool, JobError> {
        loop {
            let more = self
                .reader
                .read_byte_record(&mut self.record)
                // Where the record that failed began.
                .map_err(|e| csv_error(&self.file, self.line + 1, e))?;
            if !more {
                return Ok(false);
            }
            // One record is one spreadsheet line, whatever line breaks its quoted cells hold.
            self.line += 1;
            self.record_start
                .store(self.reader.position().byte(), Ordering::Relaxed);
            let line = self.line;
            if self.record.iter().all(|cell| trim_bytes(cell).is_empty()) {
                continue;
            }
            self.row += 1;
            self.emit(line, out);
            return Ok(true);
        }
    }

    fn emit(&self, line: u64, out: &mut VecDeque<Result<Operation, Problem>>) {
        let ctx = RowContext {
            file: self.file.clone(),
            names: &self.layout.written,
            defaults: &self.defaults,
        };
        let mut cells: Cells<'_> = [None; COLUMNS];
        let mut extra = Vec::new();
        let mut problems = Vec::new();
        let width = self.layout.slots.len();
        for (i, raw) in self.record.iter().enumerate() {
            let Some(slot) = self.layout.slots.get(i) else {
                if !trim_bytes(raw).is_empty() {
                    problems.push(Problem {
                        file: self.file.clone(),
                        row: self.row,
                        line,
                        // The cell has no header: name it by position, as a spreadsheet would.
                        column: Some(Arc::from(format!("column {}", i + 1))),
                        value: Some(String::from_utf8_lossy(raw).into_owned()),
                        why: format!(
                            "the row has {} cells but the header has {width} columns",
                            self.record.len()
                        ),
                        hint: Some(
                            "quote cells that contain the delimiter, or add a header for the \
                             extra column"
                                .into(),
                        ),
                    });
                    break;
                }
                continue;
            };
            let text = match std::str::from_utf8(raw) {
                Ok(text) => trim(text),
                Err(_) => {
                    let column = match slot {
                        Slot::Known(c) => self.layout.written[c.index()].clone(),
                        Slot::Extra(name) => Some(name.clone()),
                    };
                    problems.push(Problem {
                        file: self.file.clone(),
                        row: self.row,
                        line,
                        column,
                        value: Some(String::from_utf8_lossy(raw).into_owned()),
                        why: "the cell is not UTF-8 text".into(),
                        hint: Some(
                            "save the file as \"CSV UTF-8\" (Excel's plain \"CSV\" uses the \
                             Windows code page)"
                                .into(),
                        ),
                    });
                    continue;
                }
            };
            match slot {
                Slot::Known(column) if !text.is_empty() => cells[column.index()] = Some(text),
                Slot::Known(_) => {}
                Slot::Extra(name) => extra.push((name.clone(), text.to_string())),
            }
        }
        // Rows cut short (fewer cells than headers) leave the rest empty, as a spreadsheet shows
        // them; extras still get their column so every operation has the same ones.
        for slot in self.layout.slots.iter().skip(self.record.len()) {
            if let Slot::Extra(name) = slot {
                extra.push((name.clone(), String::new()));
            }
        }
        match row::build(&ctx, self.row, line, &cells, extra) {
            Ok(op) if problems.is_empty() => out.push_back(Ok(op)),
            Ok(_) => out.extend(problems.into_iter().map(Err)),
            Err(more) => {
                problems.extend(more);
                out.extend(problems.into_iter().map(Err));
            }
        }
    }
}

fn trim_bytes(cell: &[u8]) -> &str {
    std::str::from_utf8(cell).map_or("x", trim)
}

fn csv_error(file: &str, line: u64, err: csv::Error) -> JobError {
    let too_long = matches!(err.kind(), csv::ErrorKind::Io(e)
        if e.get_ref().is_some_and(|inner| inner.is::<TooLong>()));
    if too_long {
        JobError::Broken {
            file: file.to_string(),
            line,
            why: "a row is longer than 1 MiB: probably a quote (\") that is never closed".into(),
        }
    } else {
        match err.into_kind() {
            csv::ErrorKind::Io(source) => JobError::Read {
                file: file.to_string(),
                source,
            },
            other => JobError::Broken {
                file: file.to_string(),
                line,
                why: format!("{other:?}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiter_is_the_most_frequent_outside_quotes() {
        assert_eq!(detect_delimiter(b"user,action,phone\r\n"), b',');
        assert_eq!(detect_delimiter(b"user;action;phone\n"), b';');
        assert_eq!(detect_delimiter(b"user\taction\n"), b'\t');
        assert_eq!(detect_delimiter(b"\"a;b;c\",action\n"), b',');
        assert_eq!(detect_delimiter(b"user\n"), b',');
    }

    fn spaced(input: &[u8]) -> Vec<u8> {
        let mut guard = Guard::new(input, Arc::new(AtomicU64::new(0)), b',');
        let mut out = Vec::new();
        guard.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn empty_lines_outside_quotes_get_a_space_so_they_are_counted() {
        assert_eq!(spaced(b"h\n\nr\n"), b"h\n \nr\n");
        // Inside a quoted cell, even after an escaped quote, the cell is left alone.
        assert_eq!(spaced(b"h\n\"a\"\"\n\nb\"\n\n"), b"h\n\"a\"\"\n\nb\"\n \n");
        // A quote in the middle of a cell is a literal character, not an opening quote.
        assert_eq!(spaced(b"h\n5\" screen\n\nr\n"), b"h\n5\" screen\n \nr\n");
    }

    #[test]
    fn trimming_removes_no_break_spaces_and_boms() {
        assert_eq!(trim("\u{a0} ann@contoso.com\u{200B}\t"), "ann@contoso.com");
    }
}
