//! How [`super::journal`]'s entries are spelt on disk (format 4), about 200 bytes per write
//! (a step's start and its record) where format 3 took 550 to 700:
//!
//! - one-letter keys, a value the reader can infer is left out (status `ok`, one attempt, no
//!   time taken, empty texts, the row number `seq + 1`);
//! - steps with numeric codes: the step's kind and a known method type are numbers, its field
//!   names digits (no field of a step is spelt with digits, so the two never meet); steps this
//!   table does not know are kept as they are;
//! - what the journal already said is not said again: a record leaves out the user, object id,
//!   action and extra columns its row's earlier entries (the `user` entry of an enumerated row,
//!   an earlier record) gave, the step its row's latest start named, and the request id the
//!   previous record had (a `$batch`'s items often share one). Writer and reader keep the same
//!   [`Context`], row by row, and forget a row once it is done: both remember only the rows in
//!   flight.
//!
//! A journal is read from its first line on, so each line's meaning may rest on the lines
//! before it; a crash can only tear the last line, which is dropped. Each line holds the
//! entries of one group commit, as a JSON array.
//!
//! The starts, records and row ends (one or more per change) are written straight into the
//! line ([`Context::write_start`], [`Context::write_done`], [`Context::write_row_done`]); the
//! other entries go through [`Wire`] ([`Context::encode`]), which gives the same bytes (a test
//! compares the two).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Record, Status};
use crate::fast_hash::FastMap;
use crate::plan::Change;

/// One entry as written: every field optional, which fields are present says what it is.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Wire {
    /// Header: the format's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    v: Option<u32>,
    /// Header: the job's fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    j: Option<String>,
    /// Header: the time starts count from, in Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    z: Option<i64>,
    /// A start: of row `s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<u64>,
    /// A finished record: of row `d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    d: Option<u64>,
    /// Row `r` is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    r: Option<u64>,
    /// Row `n` of an enumerated run is user `i` named `u`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<u64>,
    /// A `--tap-out` file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<PathBuf>,
    /// A `--secrets-out` folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    o: Option<PathBuf>,
    /// The step (start, record), coded by [`encode_step`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<Value>,
    /// A start's time: milliseconds after the header's `z`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    a: Option<i64>,
    /// The record's row (absent: `seq + 1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    w: Option<u64>,
    /// The user as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    u: Option<String>,
    /// The object id (empty: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    i: Option<String>,
    /// The action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    /// The extra columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    y: Option<Vec<(String, String)>>,
    /// The status, by [`STATUSES`] (absent: ok).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<u8>,
    /// Before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    b: Option<String>,
    /// After.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    f: Option<String>,
    /// HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    h: Option<u16>,
    /// Error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<String>,
    /// Error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    m: Option<String>,
    /// Request id (empty: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    q: Option<String>,
    /// Attempts (absent: 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<u32>,
    /// Milliseconds taken (absent: 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    l: Option<u64>,
}

/// One entry of the journal, as the journal means it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Entry {
    /// First line: what run this journal belongs to.
    Header {
        /// The format's version.
        version: u32,
        /// The job's fingerprint.
        job: String,
    },
    /// A step's request is about to be sent.
    Start {
        /// The row.
        seq: u64,
        /// The step.
        step: Change,
        /// When (to the millisecond).
        at: DateTime<Utc>,
    },
    /// A step (or a row without steps) finished with this record.
    Done {
        /// The row.
        seq: u64,
        /// The record.
        record: Box<Record>,
    },
    /// Row `seq` has nothing more to do.
    Row {
        /// The row.
        seq: u64,
    },
    /// This run writes created passes to this `--tap-out` file.
    TapOut {
        /// The file.
        path: PathBuf,
    },
    /// Row `seq` of an enumerated run (`--all-users`, `--group`) is the user with this object
    /// id (and this name): written before the row's first step.
    User {
        /// The row.
        seq: u64,
        /// The object id.
        id: String,
        /// The name.
        user: String,
    },
    /// This run writes QR codes and PINs to this `--secrets-out` folder.
    SecretsOut {
        /// The folder.
        path: PathBuf,
    },
}

/// What a row's entries so far said.
#[derive(Debug, Clone, Default)]
struct RowContext {
    started: Option<Change>,
    row: Option<u64>,
    user: String,
    user_id: Option<String>,
    action: String,
    extra: Vec<(Arc<str>, String)>,
}

/// What the journal said so far that later entries leave out: the same for the writer and the
/// reader at the same point of the journal.
#[derive(Debug, Clone, Default)]
pub(super) struct Context {
    epoch: i64,
    rows: FastMap<u64, RowContext>,
    request_id: Option<String>,
}

/// Statuses by code; `ok` (code 1) is the one left out.
const STATUSES: [Option<Status>; 7] = [
    None,
    Some(Status::Ok),
    Some(Status::Unchanged),
    Some(Status::Planned),
    Some(Status::Failed),
    Some(Status::Skipped),
    Some(Status::Cancelled),
];

/// Field names of steps, coded by their place. Only ever appended to.
const STEP_KEYS: [&str; 10] = [
    "change",
    "method",
    "known",
    "id",
    "phone_type",
    "selector",
    "method_type",
    "count",
    "on",
    "serial",
];

/// Kinds of steps (`Change`'s variants), coded by their place. Only ever appended to.
const STEP_KINDS: [&str; 32] = [
    "read_user",
    "read_methods",
    "read_preferences",
    "list_method",
    "set_phone",
    "create_phone",
    "update_phone",
    "delete_phone",
    "remove_phone",
    "set_email",
    "create_email",
    "update_email",
    "delete_email",
    "remove_email",
    "remove_methods",
    "keep_undated",
    "delete_method",
    "reset_mfa",
    "issue_tap",
    "revoke_sessions",
    "set_default_method",
    "sms_sign_in",
    "validate_row",
    "enumerate_targets",
    "all_steps",
    "not_started",
    "issue_qr_pin",
    "reset_qr_pin",
    "read_oath_token",
    "assign_oath_token",
    "activate_oath_token",
    "unassign_oath_token",
];

/// Method types, coded by their place. Only ever appended to.
const METHOD_TYPES: [&str; 11] = [
    "fido2",
    "softwareOath",
    "windowsHelloForBusiness",
    "platformCredential",
    "temporaryAccessPass",
    "microsoftAuthenticator",
    "hardwareOath",
    "email",
    "phone",
    "qrCodePin",
    "external",
];

fn code_of(table: &[&str], name: &str) -> Option<usize> {
    table.iter().position(|t| *t == name)
}

/// A step as its coded JSON.
fn encode_step(step: &Change) -> Value {
    code_value(serde_json::to_value(step).unwrap_or(Value::Null), None)
}

fn code_value(value: Value, key: Option<&str>) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = code_value(v, Some(&k));
                    let k = code_of(&STEP_KEYS, &k).map_or(k, |c| c.to_string());
                    (k, v)
                })
                .collect::<Map<_, _>>(),
        ),
        Value::String(name) => {
            let table: &[&str] = match key {
                Some("change") => &STEP_KINDS,
                Some("known") => &METHOD_TYPES,
                _ => return Value::String(name),
            };
            code_of(table, &name).map_or(Value::String(name), Value::from)
        }
        other => other,
    }
}

fn decode_step(value: Value) -> Result<Change> {
    Ok(serde_json::from_value(decode_value(value, None)?)?)
}

fn decode_value(value: Value, key: Option<&str>) -> Result<Value> {
    Ok(match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let k = match k.parse::<usize>() {
                    Ok(c) => STEP_KEYS
                        .get(c)
                        .ok_or_else(|| anyhow!("unknown step field {c}"))?
                        .to_string(),
                    Err(_) => k,
                };
                let v = decode_value(v, Some(&k))?;
                out.insert(k, v);
            }
            Value::Object(out)
        }
        Value::Number(n) if matches!(key, Some("change" | "known")) => {
            let table: &[&str] = match key {
                Some("change") => &STEP_KINDS,
                _ => &METHOD_TYPES,
            };
            let name = n
                .as_u64()
                .and_then(|c| table.get(c as usize))
                .ok_or_else(|| anyhow!("unknown step code {n}"))?;
            Value::String(name.to_string())
        }
        other => other,
    })
}

/// One JSON object being written by hand, in the order and spelling `serde_json` gives a
/// [`Wire`]: the keys in the order of its fields, numbers and strings as `serde_json` writes them.
struct Out<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Out<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Out { out, first: true }
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn number(&mut self, key: &str, n: u64) {
        self.key(key);
        digits(self.out, n);
    }

    fn signed(&mut self, key: &str, n: i64) {
        self.key(key);
        if n < 0 {
            self.out.push(b'-');
        }
        digits(self.out, n.unsigned_abs());
    }

    fn text(&mut self, key: &str, text: &str) {
        self.key(key);
        string(self.out, text);
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

/// `n` in decimal.
fn digits(out: &mut Vec<u8>, mut n: u64) {
    let mut text = [0u8; 20];
    let mut start = text.len();
    loop {
        start -= 1;
        text[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&text[start..]);
}

/// `text` as a JSON string, escaped as `serde_json` escapes it.
fn string(out: &mut Vec<u8>, text: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// Codes of step fields by their place in [`STEP_KEYS`], as text.
const KEY_CODES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
const _: () = assert!(STEP_KEYS.len() <= KEY_CODES.len());

/// A step's coded JSON ([`encode_step`]) written straight into `out`: the step's fields are
/// coded as they are written, rather than copied into a second JSON map first.
fn write_step(out: &mut Vec<u8>, step: &Change) {
    let value = serde_json::to_value(step).unwrap_or(Value::Null);
    write_coded(out, &value, None);
}

/// [`code_value`] of `value` under `key`, written as `serde_json` writes the coded value.
fn write_coded(out: &mut Vec<u8>, value: &Value, key: Option<&str>) {
    match value {
        Value::Object(map) => {
            // A coded map's keys are ordered by their codes, as the coded map orders them.
            let mut fields: Vec<(&str, &str, &Value)> = map
                .iter()
                .map(|(k, v)| {
                    let coded = code_of(&STEP_KEYS, k).map_or(k.as_str(), |c| KEY_CODES[c]);
                    (coded, k.as_str(), v)
                })
                .collect();
            fields.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (coded, k, v)) in fields.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(out, coded);
                out.push(b':');
                write_coded(out, v, Some(k));
            }
            out.push(b'}');
        }
        Value::String(name) => {
            let table: &[&str] = match key {
                Some("change") => &STEP_KINDS,
                Some("known") => &METHOD_TYPES,
                _ => &[],
            };
            match code_of(table, name) {
                Some(code) => digits(out, code as u64),
                None => string(out, name),
            }
        }
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

impl Context {
    /// The context of a journal whose header says `epoch`.
    pub(super) fn new(epoch: i64) -> Self {
        Context {
            epoch,
            ..Context::default()
        }
    }

    /// The header's wire form, for a journal started at `epoch` (Unix milliseconds).
    pub(super) fn header(version: u32, job: &str, epoch: i64) -> Wire {
        Wire {
            v: Some(version),
            j: Some(job.to_string()),
            z: Some(epoch),
            ..Wire::default()
        }
    }

    /// `entry` as written at this point of the journal; the context learns what it says.
    pub(super) fn encode(&mut self, entry: &Entry) -> Wire {
        match entry {
            Entry::Header { version, job } => Context::header(*version, job, self.epoch),
            Entry::Start { seq, step, at } => {
                self.rows.entry(*seq).or_default().started = Some(step.clone());
                Wire {
                    s: Some(*seq),
                    c: Some(encode_step(step)),
                    a: Some(at.timestamp_millis() - self.epoch),
                    ..Wire::default()
                }
            }
            Entry::Done { seq, record } => self.encode_done(*seq, record),
            Entry::Row { seq } => {
                self.rows.remove(seq);
                Wire {
                    r: Some(*seq),
                    ..Wire::default()
                }
            }
            Entry::TapOut { path } => Wire {
                p: Some(path.clone()),
                ..Wire::default()
            },
            Entry::SecretsOut { path } => Wire {
                o: Some(path.clone()),
                ..Wire::default()
            },
            Entry::User { seq, id, user } => {
                let row = self.rows.entry(*seq).or_default();
                row.user = user.clone();
                row.user_id = Some(id.clone());
                Wire {
                    n: Some(*seq),
                    i: Some(id.clone()),
                    u: Some(user.clone()),
                    ..Wire::default()
                }
            }
        }
    }

    fn encode_done(&mut self, seq: u64, record: &Record) -> Wire {
        let row = self.rows.entry(seq).or_default();
        let mut wire = Wire {
            d: Some(seq),
            ..Wire::default()
        };
        if row.started.as_ref() != Some(&record.step) {
            wire.c = Some(encode_step(&record.step));
        }
        if row.row.unwrap_or(seq + 1) != record.row {
            wire.w = Some(record.row);
            row.row = Some(record.row);
        }
        if row.user != record.user {
            wire.u = Some(record.user.clone());
            row.user = record.user.clone();
        }
        if row.user_id != record.user_id {
            wire.i = Some(record.user_id.clone().unwrap_or_default());
            row.user_id = record.user_id.clone();
        }
        if row.action != record.action {
            wire.x = Some(record.action.clone());
            row.action = record.action.clone();
        }
        if row.extra != record.extra {
            wire.y = Some(
                record
                    .extra
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            );
            row.extra = record.extra.clone();
        }
        if record.status != Some(Status::Ok) {
            wire.k = STATUSES
                .iter()
                .position(|s| *s == record.status)
                .map(|c| c as u8);
        }
        wire.b = Some(record.before.clone()).filter(|t| !t.is_empty());
        wire.f = Some(record.after.clone()).filter(|t| !t.is_empty());
        wire.h = record.http_status;
        wire.e = record.error_code.clone();
        wire.m = record.error_message.clone();
        if self.request_id != record.request_id {
            wire.q = Some(record.request_id.clone().unwrap_or_default());
            self.request_id = record.request_id.clone();
        }
        wire.t = Some(record.attempts).filter(|a| *a != 1);
        wire.l = Some(record.elapsed_ms).filter(|l| *l != 0);
        wire
    }

    /// A start, written straight into `out` as [`Context::encode`] would have it written
    /// (byte for byte what `serde_json` makes of its [`Wire`]), without building the entry or
    /// its wire form: the journal writes one per change. The context learns what it says.
    pub(super) fn write_start(&mut self, out: &mut Vec<u8>, seq: u64, step: &Change, at: i64) {
        let row = self.rows.entry(seq).or_default();
        if row.started.as_ref() != Some(step) {
            row.started = Some(step.clone());
        }
        let mut entry = Out::new(out);
        entry.number("s", seq);
        entry.key("c");
        write_step(entry.out, step);
        entry.signed("a", at - self.epoch);
        entry.end();
    }

    /// A finished record, written straight into `out` as [`Context::encode`] would have it
    /// written (see [`Context::write_start`]). The context learns what it says.
    pub(super) fn write_done(&mut self, out: &mut Vec<u8>, seq: u64, record: &Record) {
        let row = self.rows.entry(seq).or_default();
        let mut entry = Out::new(out);
        entry.number("d", seq);
        if row.started.as_ref() != Some(&record.step) {
            entry.key("c");
            write_step(entry.out, &record.step);
        }
        if row.row.unwrap_or(seq + 1) != record.row {
            entry.number("w", record.row);
            row.row = Some(record.row);
        }
        if row.user != record.user {
            entry.text("u", &record.user);
            row.user.clone_from(&record.user);
        }
        if row.user_id != record.user_id {
            entry.text("i", record.user_id.as_deref().unwrap_or_default());
            row.user_id.clone_from(&record.user_id);
        }
        if row.action != record.action {
            entry.text("x", &record.action);
            row.action.clone_from(&record.action);
        }
        if row.extra != record.extra {
            entry.key("y");
            entry.out.push(b'[');
            for (i, (header, value)) in record.extra.iter().enumerate() {
                if i > 0 {
                    entry.out.push(b',');
                }
                entry.out.push(b'[');
                string(entry.out, header);
                entry.out.push(b',');
                string(entry.out, value);
                entry.out.push(b']');
            }
            entry.out.push(b']');
            row.extra.clone_from(&record.extra);
        }
        if record.status != Some(Status::Ok)
            && let Some(code) = STATUSES.iter().position(|s| *s == record.status)
        {
            entry.number("k", code as u64);
        }
        if !record.before.is_empty() {
            entry.text("b", &record.before);
        }
        if !record.after.is_empty() {
            entry.text("f", &record.after);
        }
        if let Some(status) = record.http_status {
            entry.number("h", u64::from(status));
        }
        if let Some(code) = &record.error_code {
            entry.text("e", code);
        }
        if let Some(message) = &record.error_message {
            entry.text("m", message);
        }
        if self.request_id != record.request_id {
            entry.text("q", record.request_id.as_deref().unwrap_or_default());
            self.request_id.clone_from(&record.request_id);
        }
        if record.attempts != 1 {
            entry.number("t", u64::from(record.attempts));
        }
        if record.elapsed_ms != 0 {
            entry.number("l", record.elapsed_ms);
        }
        entry.end();
    }

    /// Row `seq` is done, written straight into `out` (see [`Context::write_start`]); the
    /// context forgets the row.
    pub(super) fn write_row_done(&mut self, out: &mut Vec<u8>, seq: u64) {
        self.rows.remove(&seq);
        let mut entry = Out::new(out);
        entry.number("r", seq);
        entry.end();
    }

    /// The entry `wire` stands for at this point of the journal; the context learns what it
    /// says. An entry that is none of the kinds is an error.
    pub(super) fn decode(&mut self, wire: Wire) -> Result<Entry> {
        if let Some(version) = wire.v {
            self.epoch = wire.z.unwrap_or(0);
            return Ok(Entry::Header {
                version,
                job: wire.j.unwrap_or_default(),
            });
        }
        if let Some(seq) = wire.s {
            let step = decode_step(wire.c.ok_or_else(|| anyhow!("a start without its step"))?)?;
            let millis = self.epoch + wire.a.unwrap_or(0);
            let at = DateTime::from_timestamp_millis(millis)
                .ok_or_else(|| anyhow!("a start at an impossible time"))?;
            self.rows.entry(seq).or_default().started = Some(step.clone());
            return Ok(Entry::Start { seq, step, at });
        }
        if let Some(seq) = wire.d {
            return self.decode_done(seq, wire);
        }
        if let Some(seq) = wire.r {
            self.rows.remove(&seq);
            return Ok(Entry::Row { seq });
        }
        if let Some(seq) = wire.n {
            let (id, user) = (wire.i.unwrap_or_default(), wire.u.unwrap_or_default());
            let row = self.rows.entry(seq).or_default();
            row.user = user.clone();
            row.user_id = Some(id.clone());
            return Ok(Entry::User { seq, id, user });
        }
        if let Some(path) = wire.p {
            return Ok(Entry::TapOut { path });
        }
        if let Some(path) = wire.o {
            return Ok(Entry::SecretsOut { path });
        }
        Err(anyhow!("an entry of no known kind"))
    }

    fn decode_done(&mut self, seq: u64, wire: Wire) -> Result<Entry> {
        let row = self.rows.entry(seq).or_default();
        let step = match wire.c {
            Some(step) => decode_step(step)?,
            None => row
                .started
                .clone()
                .ok_or_else(|| anyhow!("a record without its step"))?,
        };
        if let Some(n) = wire.w {
            row.row = Some(n);
        }
        if let Some(user) = wire.u {
            row.user = user;
        }
        if let Some(id) = wire.i {
            row.user_id = Some(id).filter(|id| !id.is_empty());
        }
        if let Some(action) = wire.x {
            row.action = action;
        }
        if let Some(extra) = wire.y {
            row.extra = extra.into_iter().map(|(k, v)| (Arc::from(k), v)).collect();
        }
        if let Some(id) = wire.q {
            self.request_id = Some(id).filter(|id| !id.is_empty());
        }
        let status = match wire.k {
            None => Some(Status::Ok),
            Some(code) => *STATUSES
                .get(usize::from(code))
                .ok_or_else(|| anyhow!("unknown status code {code}"))?,
        };
        let record = Record {
            row: row.row.unwrap_or(seq + 1),
            user: row.user.clone(),
            user_id: row.user_id.clone(),
            action: row.action.clone(),
            step,
            status,
            before: wire.b.unwrap_or_default(),
            after: wire.f.unwrap_or_default(),
            http_status: wire.h,
            error_code: wire.e,
            error_message: wire.m,
            request_id: self.request_id.clone(),
            attempts: wire.t.unwrap_or(1),
            elapsed_ms: wire.l.unwrap_or(0),
            extra: row.extra.clone(),
        };
        Ok(Entry::Done {
            seq,
            record: Box::new(record),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{MethodType, PhoneSelector, PhoneType};
    use crate::plan::change::MethodName;

    #[test]
    fn every_step_survives_its_coding_and_known_ones_are_short() {
        let steps = [
            Change::ReadUser,
            Change::DeleteMethod {
                method: MethodName::Known(MethodType::MicrosoftAuthenticator),
                id: "e8227aa8-c3f7-4874-9011-dfef138290bb".into(),
            },
            Change::DeleteMethod {
                method: MethodName::Password,
                id: "28c10230-6103-485e-b985-444c60001490".into(),
            },
            Change::ListMethod {
                method: MethodName::Other("#microsoft.graph.future".into()),
                id: "7".into(),
            },
            Change::RemovePhone {
                selector: PhoneSelector::One(PhoneType::AlternateMobile),
            },
            Change::RemovePhone {
                selector: PhoneSelector::All,
            },
            Change::KeepUndated {
                method_type: MethodType::Fido2,
                count: 3,
            },
            Change::SmsSignIn { on: true },
            Change::NotStarted,
        ];
        for step in steps {
            let coded = encode_step(&step);
            assert_eq!(decode_step(coded.clone()).unwrap(), step, "{coded}");
        }
        let coded = encode_step(&Change::DeleteMethod {
            method: MethodName::Known(MethodType::MicrosoftAuthenticator),
            id: "e8227aa8-c3f7-4874-9011-dfef138290bb".into(),
        });
        assert_eq!(
            coded.to_string(),
            r#"{"0":16,"1":{"2":5},"3":"e8227aa8-c3f7-4874-9011-dfef138290bb"}"#
        );
    }

    #[test]
    fn every_coded_kind_and_method_type_is_one_the_client_knows() {
        for name in STEP_KINDS {
            let refused = serde_json::from_value::<Change>(serde_json::json!({ "change": name }))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(!refused.contains("unknown variant"), "{name}: {refused}");
        }
        for name in METHOD_TYPES {
            assert!(
                serde_json::from_value::<MethodType>(Value::from(name)).is_ok(),
                "{name}"
            );
        }
    }

    #[test]
    fn records_leave_out_what_their_row_said_and_read_back_whole() {
        let record = |step: Change, request: &str| Record {
            row: 8,
            user: "user7@x".into(),
            user_id: Some("36265e87-32d1-47d4-83ba-2f9d10f5e96a".into()),
            action: "reset-mfa".into(),
            step,
            status: Some(Status::Ok),
            before: "mobile +46 700000129".into(),
            request_id: Some(request.into()),
            attempts: 1,
            elapsed_ms: 13,
            extra: vec![(Arc::from("ticket"), "T-1".into())],
            ..Record::default()
        };
        let phone = Change::DeletePhone {
            phone_type: PhoneType::Mobile,
        };
        let at = DateTime::from_timestamp_millis(1_000_500).unwrap();
        let entries = [
            Entry::Start {
                seq: 7,
                step: phone.clone(),
                at,
            },
            Entry::Done {
                seq: 7,
                record: Box::new(record(phone.clone(), "r-1")),
            },
            Entry::Done {
                seq: 7,
                record: Box::new(record(Change::ReadMethods, "r-1")),
            },
            Entry::Done {
                seq: 7,
                record: Box::new(Record {
                    request_id: None,
                    status: Some(Status::Failed),
                    attempts: 0,
                    ..record(Change::SetEmail, "")
                }),
            },
            Entry::Row { seq: 7 },
            Entry::User {
                seq: 9,
                id: "id-9".into(),
                user: "u9@x".into(),
            },
            Entry::TapOut {
                path: PathBuf::from("/tmp/t.csv"),
            },
            Entry::SecretsOut {
                path: PathBuf::from("/tmp/secrets"),
            },
        ];
        let mut writer = Context::new(1_000_000);
        let mut reader = Context::new(1_000_000);
        let mut sizes = Vec::new();
        for entry in &entries {
            let wire = writer.encode(entry);
            let text = serde_json::to_string(&wire).unwrap();
            sizes.push(text.clone());
            let back = reader.decode(serde_json::from_str(&text).unwrap()).unwrap();
            assert_eq!(&back, entry, "{text}");
        }
        assert!(
            !sizes[2].contains("user7")
                && !sizes[2].contains("r-1")
                && !sizes[2].contains("ticket"),
            "the second record says again neither user, request id nor extra: {sizes:?}"
        );
        assert!(
            !sizes[1].contains("\"c\""),
            "its step is the one started: {sizes:?}"
        );
        assert!(
            writer.rows.len() == 1 && reader.rows.len() == 1,
            "row 7 forgotten"
        );
    }

    #[test]
    fn starts_records_and_row_ends_written_straight_are_byte_for_byte_their_wire_form() {
        let steps = [
            Change::ReadUser,
            Change::ReadMethods,
            Change::DeleteMethod {
                method: MethodName::Known(MethodType::MicrosoftAuthenticator),
                id: "e8227aa8-c3f7-4874-9011-dfef138290bb".into(),
            },
            Change::DeleteMethod {
                method: MethodName::Password,
                id: "28c10230".into(),
            },
            Change::ListMethod {
                method: MethodName::Other("#microsoft.graph.\"future\"\u{e9}".into()),
                id: "a\\b\n".into(),
            },
            Change::DeletePhone {
                phone_type: PhoneType::AlternateMobile,
            },
            Change::RemovePhone {
                selector: PhoneSelector::One(PhoneType::Office),
            },
            Change::RemovePhone {
                selector: PhoneSelector::All,
            },
            Change::KeepUndated {
                method_type: MethodType::Fido2,
                count: 3,
            },
            Change::SmsSignIn { on: false },
            Change::NotStarted,
        ];
        let record = |n: usize, step: &Change| Record {
            row: [3, 3, 9][n % 3],
            user: ["user7@x", "o'neil\"7\"@x", "user7@x"][n % 3].into(),
            user_id: [Some("36265e87".to_string()), None][n % 2].clone(),
            action: ["reset-mfa", "list"][n % 2].into(),
            step: step.clone(),
            status: STATUSES[n % STATUSES.len()],
            before: ["", "mobile +46 700000129", "tab\there"][n % 3].into(),
            after: ["", "\u{1}ctrl"][n % 2].into(),
            http_status: [None, Some(429), Some(404)][n % 3],
            error_code: [None, Some("TooManyRequests".to_string())][n % 2].clone(),
            error_message: [None, Some("no \"way\"".to_string())][(n / 2) % 2].clone(),
            request_id: [Some("r-1".to_string()), Some("r-1".to_string()), None][n % 3].clone(),
            attempts: [1, 0, 4][n % 3],
            elapsed_ms: [0, 13, u64::MAX][n % 3],
            extra: match n % 4 {
                0 => vec![],
                1 => vec![(Arc::from("ticket"), "T-1".into())],
                _ => vec![
                    (Arc::from("ticket"), "T-\"2\"".into()),
                    (Arc::from("note"), String::new()),
                ],
            },
        };
        let mut encoder = Context::new(1_000_000);
        let mut writer = Context::new(1_000_000);
        let mut reader = Context::new(1_000_000);
        let mut n = 0;
        for seq in [2u64, 5, 2] {
            for step in &steps {
                let at = DateTime::from_timestamp_millis([1_000_500, 999_000][n % 2]).unwrap();
                let start = Entry::Start {
                    seq,
                    step: step.clone(),
                    at,
                };
                let done = Entry::Done {
                    seq,
                    record: Box::new(record(n, step)),
                };
                let other = Entry::Done {
                    seq,
                    record: Box::new(record(n + 1, &Change::ReadMethods)),
                };
                for entry in [start, done, other] {
                    let expected = serde_json::to_vec(&encoder.encode(&entry)).unwrap();
                    let mut written = Vec::new();
                    match &entry {
                        Entry::Start { seq, step, at } => {
                            writer.write_start(&mut written, *seq, step, at.timestamp_millis())
                        }
                        Entry::Done { seq, record } => {
                            writer.write_done(&mut written, *seq, record)
                        }
                        _ => unreachable!(),
                    }
                    assert_eq!(
                        String::from_utf8_lossy(&written),
                        String::from_utf8_lossy(&expected)
                    );
                    let back = reader
                        .decode(serde_json::from_slice(&written).unwrap())
                        .unwrap();
                    assert_eq!(back, entry);
                }
                n += 1;
            }
            let expected = serde_json::to_vec(&encoder.encode(&Entry::Row { seq })).unwrap();
            let mut written = Vec::new();
            writer.write_row_done(&mut written, seq);
            assert_eq!(written, expected);
            let back = reader
                .decode(serde_json::from_slice(&written).unwrap())
                .unwrap();
            assert_eq!(back, Entry::Row { seq });
            assert_eq!(writer.rows.len(), encoder.rows.len());
        }
    }
}
