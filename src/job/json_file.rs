//! JSON job files (an array of objects) and JSON Lines (one object per line), streamed: the
//! array is split element by element by a small byte scanner that tracks strings and nesting,
//! and only one element (at most 1 MiB) is held at a time; each is then parsed by serde_json.
//! Object keys are matched like CSV headers, per object, so rows may differ in their keys.
//! A malformed element is that row's problem; a broken array (unclosed, text after it) stops
//! the file. Driven by [`crate::job::JobReader`].

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::job::csv_file::trim;
use crate::job::header::{COLUMNS, Column, ColumnWarning, Layout, Slot};
use crate::job::row::{self, Cells, Defaults, Problem, RowContext};
use crate::job::{JobError, Operation};

/// Largest element or line accepted, in bytes.
const MAX_ELEMENT: usize = 1024 * 1024;

/// A JSON object's members in file order, duplicates kept (so they can be refused).
struct Members(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Members, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an object such as {\"user\": \"ann@contoso.com\", \"action\": \"list\"}",
                )
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// Turns JSON objects into operations; shared by both JSON formats.
struct Rows {
    file: Arc<str>,
    defaults: Defaults,
    row: u64,
    /// The last object's keys and layout: files usually repeat the same keys.
    last: Option<(Vec<String>, Layout)>,
    /// Keys no action reads that were warned about (once per file), and warnings not yet
    /// handed out.
    warned: std::collections::HashSet<String>,
    warnings: Vec<ColumnWarning>,
}

impl Rows {
    fn problem(
        &self,
        line: u64,
        column: Option<&str>,
        value: Option<String>,
        why: String,
        hint: &str,
    ) -> Problem {
        Problem {
            file: self.file.clone(),
            row: self.row,
            line,
            column: column.map(Arc::from),
            value,
            why,
            hint: Some(hint.to_string()),
        }
    }

    fn emit(&mut self, bytes: &[u8], line: u64, out: &mut VecDeque<Result<Operation, Problem>>) {
        self.row += 1;
        let members = match serde_json::from_slice::<Members>(bytes) {
            Ok(members) => members.0,
            Err(e) => {
                let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(80)]).into_owned();
                let p = self.problem(
                    line,
                    None,
                    Some(shown),
                    format!("not a JSON object: {e}"),
                    "each row is an object such as {\"user\": \"ann@contoso.com\", \"action\": \"list\"}",
                );
                out.push_back(Err(p));
                return;
            }
        };
        let keys: Vec<String> = members.iter().map(|(k, _)| trim(k).to_string()).collect();
        let layout = match &self.last {
            Some((last_keys, layout)) if *last_keys == keys => layout.clone(),
            _ => match Layout::new(&keys) {
                Ok(layout) => {
                    for unknown in layout.unknown() {
                        if self.warned.insert(unknown.header.to_string()) {
                            self.warnings.push(ColumnWarning {
                                file: self.file.clone(),
                                line,
                                unknown,
                            });
                        }
                    }
                    self.last = Some((keys.clone(), layout.clone()));
                    layout
                }
                Err(d) => {
                    let p = self.problem(
                        line,
                        Some(&d.second),
                        None,
                        format!(
                            "\"{}\" and \"{}\" both name the {} column",
                            d.first, d.second, d.column
                        ),
                        "keep one of them",
                    );
                    out.push_back(Err(p));
                    return;
                }
            },
        };
        let mut texts: Vec<Option<String>> = Vec::with_capacity(members.len());
        let mut problems = Vec::new();
        for ((key, value), slot) in members.iter().zip(&layout.slots) {
            texts.push(match value {
                Value::Null => None,
                Value::String(s) => Some(trim(s).to_string()),
                Value::Bool(b) => Some(b.to_string()),
                Value::Number(n) => Some(n.to_string()),
                // `Get-MgUser | ConvertTo-Json` writes the user's businessPhones as a list.
                Value::Array(items)
                    if *slot == Slot::Known(Column::BusinessPhones)
                        && items.iter().all(Value::is_string) =>
                {
                    let numbers: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                    Some(numbers.join(";"))
                }
                Value::Array(_) | Value::Object(_) => {
                    problems.push(self.problem(
                        line,
                        Some(key),
                        Some(value.to_string().chars().take(80).collect()),
                        "a list or object is not a cell value".into(),
                        "write one value per key; use one row per change",
                    ));
                    None
                }
            });
        }
        let mut cells: Cells<'_> = [None; COLUMNS];
        let mut extra = Vec::new();
        for (slot, text) in layout.slots.iter().zip(&texts) {
            match slot {
                Slot::Known(column) => {
                    cells[column.index()] = text.as_deref().filter(|t| !t.is_empty());
                }
                Slot::Extra(name) => extra.push((name.clone(), text.clone().unwrap_or_default())),
            }
        }
        let ctx = RowContext {
            file: self.file.clone(),
            names: &layout.written,
            defaults: &self.defaults,
        };
        match row::build(&ctx, self.row, line, &cells, extra) {
            Ok(op) if problems.is_empty() => out.push_back(Ok(op)),
            Ok(_) => out.extend(problems.into_iter().map(Err)),
            Err(more) => {
                // A key already refused for holding a list is not also "missing".
                let refused: Vec<Option<Arc<str>>> =
                    problems.iter().map(|p| p.column.clone()).collect();
                problems.extend(more.into_iter().filter(|p| !refused.contains(&p.column)));
                out.extend(problems.into_iter().map(Err));
            }
        }
    }
}

/// Byte-at-a-time access over a buffered reader, counting lines.
struct Scanner {
    inner: BufReader<Box<dyn Read + Send>>,
    line: u64,
}

impl Scanner {
    fn peek(&mut self) -> io::Result<Option<u8>> {
        Ok(self.inner.fill_buf()?.first().copied())
    }

    fn bump(&mut self) -> io::Result<Option<u8>> {
        let b = self.peek()?;
        if let Some(b) = b {
            self.inner.consume(1);
            if b == b'\n' {
                self.line += 1;
            }
        }
        Ok(b)
    }

    fn skip_whitespace(&mut self) -> io::Result<Option<u8>> {
        while let Some(b) = self.peek()? {
            if !b.is_ascii_whitespace() {
                return Ok(Some(b));
            }
            self.bump()?;
        }
        Ok(None)
    }
}

/// Where a JSON array is in its reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArrayState {
    Start,
    Elements,
    Done,
}

/// A JSON array of objects being read.
pub struct JsonArraySource {
    rows: Rows,
    scan: Scanner,
    state: ArrayState,
    element: Vec<u8>,
}

impl JsonArraySource {
    /// The warnings found since the last call: each key no action reads, at its first object.
    pub fn take_warnings(&mut self) -> Vec<ColumnWarning> {
        std::mem::take(&mut self.rows.warnings)
    }

    /// Prepare to stream the elements of `text` (UTF-8).
    pub fn open(
        file: Arc<str>,
        text: Box<dyn Read + Send>,
        defaults: &Defaults,
    ) -> JsonArraySource {
        JsonArraySource {
            rows: Rows {
                file,
                defaults: defaults.clone(),
                row: 0,
                last: None,
                warned: Default::default(),
                warnings: Vec::new(),
            },
            scan: Scanner {
                inner: BufReader::with_capacity(64 * 1024, text),
                line: 1,
            },
            state: ArrayState::Start,
            element: Vec::new(),
        }
    }

    fn broken(&self, why: impl Into<String>) -> JobError {
        JobError::Broken {
            file: self.rows.file.to_string(),
            line: self.scan.line,
            why: why.into(),
        }
    }

    fn io(&self, source: io::Error) -> JobError {
        JobError::Read {
            file: self.rows.file.to_string(),
            source,
        }
    }

    /// Read the next element into `out`; false at the end.
    pub fn next_row(
        &mut self,
        out: &mut VecDeque<Result<Operation, Problem>>,
    ) -> Result<bool, JobError> {
        if self.state == ArrayState::Start {
            match self.scan.skip_whitespace().map_err(|e| self.io(e))? {
                None => {
                    return Err(JobError::Empty {
                        file: self.rows.file.to_string(),
                    });
                }
                Some(b'[') => {
                    self.scan.bump().map_err(|e| self.io(e))?;
                }
                Some(_) => {
                    return Err(self.broken(
                        "a JSON job file is an array of objects: [{\"user\": ..., \"action\": ...}, ...] \
                         (one object per line is JSON Lines: name the file .jsonl)",
                    ));
                }
            }
            self.state = ArrayState::Elements;
            if self.scan.skip_whitespace().map_err(|e| self.io(e))? == Some(b']') {
                self.scan.bump().map_err(|e| self.io(e))?;
                return self.finish();
            }
        }
        if self.state == ArrayState::Done {
            return Ok(false);
        }
        let line = self.scan.line;
        self.element.clear();
        self.capture()?;
        let element = std::mem::take(&mut self.element);
        self.rows.emit(&element, line, out);
        self.element = element;
        match self.scan.skip_whitespace().map_err(|e| self.io(e))? {
            Some(b',') => {
                self.scan.bump().map_err(|e| self.io(e))?;
                // A trailing comma before `]` is harmless: accept it.
                if self.scan.skip_whitespace().map_err(|e| self.io(e))? == Some(b']') {
                    self.scan.bump().map_err(|e| self.io(e))?;
                    self.finish()?;
                }
                Ok(true)
            }
            Some(b']') => {
                self.scan.bump().map_err(|e| self.io(e))?;
                self.finish()?;
                Ok(true)
            }
            Some(_) => Err(self.broken("expected , or ] after an element of the array")),
            None => Err(self.broken("the array is not closed with ]")),
        }
    }

    /// After `]`: only whitespace may follow.
    fn finish(&mut self) -> Result<bool, JobError> {
        self.state = ArrayState::Done;
        match self.scan.skip_whitespace().map_err(|e| self.io(e))? {
            None => Ok(false),
            Some(_) => Err(self.broken("text after the end of the array")),
        }
    }

    /// Copy one element's bytes into `self.element`, tracking strings and nesting.
    fn capture(&mut self) -> Result<(), JobError> {
        let first = self.scan.peek().map_err(|e| self.io(e))?;
        let nested = matches!(first, Some(b'{' | b'[' | b'"'));
        let mut depth = 0u32;
        let mut in_string = false;
        let mut escaped = false;
        loop {
            if self.element.len() > MAX_ELEMENT {
                return Err(self.broken(
                    "an element is longer than 1 MiB: probably an unclosed string or object",
                ));
            }
            let Some(b) = self.scan.peek().map_err(|e| self.io(e))? else {
                return Err(self.broken("the array is not closed with ]"));
            };
            if !nested && (b == b',' || b == b']' || b.is_ascii_whitespace()) {
                return Ok(());
            }
            self.scan.bump().map_err(|e| self.io(e))?;
            self.element.push(b);
            if !nested {
                continue;
            }
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                continue;
            }
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => {}
            }
        }
    }
}

/// A JSON Lines file being read.
pub struct JsonLinesSource {
    rows: Rows,
    inner: BufReader<Box<dyn Read + Send>>,
    line: u64,
    buf: Vec<u8>,
}

impl JsonLinesSource {
    /// The warnings found since the last call: each key no action reads, at its first object.
    pub fn take_warnings(&mut self) -> Vec<ColumnWarning> {
        std::mem::take(&mut self.rows.warnings)
    }

    /// Prepare to stream the lines of `text` (UTF-8).
    pub fn open(
        file: Arc<str>,
        text: Box<dyn Read + Send>,
        defaults: &Defaults,
    ) -> JsonLinesSource {
        JsonLinesSource {
            rows: Rows {
                file,
                defaults: defaults.clone(),
                row: 0,
                last: None,
                warned: Default::default(),
                warnings: Vec::new(),
            },
            inner: BufReader::with_capacity(64 * 1024, text),
            line: 0,
            buf: Vec::new(),
        }
    }

    /// Read the next non-blank line into `out`; false at the end.
    pub fn next_row(
        &mut self,
        out: &mut VecDeque<Result<Operation, Problem>>,
    ) -> Result<bool, JobError> {
        loop {
            self.buf.clear();
            let n = (&mut self.inner)
                .take(MAX_ELEMENT as u64 + 1)
                .read_until(b'\n', &mut self.buf)
                .map_err(|source| JobError::Read {
                    file: self.rows.file.to_string(),
                    source,
                })?;
            if n == 0 {
                return Ok(false);
            }
            self.line += 1;
            if n > MAX_ELEMENT && !self.buf.ends_with(b"\n") {
                return Err(JobError::Broken {
                    file: self.rows.file.to_string(),
                    line: self.line,
                    why: "a line is longer than 1 MiB".into(),
                });
            }
            if self.buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let buf = std::mem::take(&mut self.buf);
            self.rows.emit(&buf, self.line, out);
            self.buf = buf;
            return Ok(true);
        }
    }
}
