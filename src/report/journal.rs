//! The journal beside the report (`<report>.journal`, JSON Lines, each line checksummed by
//! [`super::frame`]): write-ahead, so an
//! interrupted or killed run can be continued with `--resume`. Before a write is sent its step is
//! recorded as started; when its answer is known the full record is recorded as done; when a row
//! has no more steps the row is recorded as done. Each run also notes its `--tap-out` file, so a
//! resumed run can find a pass created just before a crash. Entries are group-committed (flushed
//! and synced together) by the collector, and a writer waits for the sync before it sends a
//! request. [`crate::run::resume`] turns what a resumed run finds here into records.
//!
//! Why a separate journal and not the report itself: the report's format is the user's choice
//! (CSV for a spreadsheet) and may be edited; the journal is ours, typed, and holds the starts.
//!
//! How entries are spelt on disk, compactly, is [`super::journal_wire`]'s: one line per group
//! commit, a JSON array of entries, framed and checksummed by [`super::frame`].

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};

use super::Record;
use crate::plan::Change;

/// The journal's format. 2: steps are typed changes (`{"change":"delete_email"}`), no longer
/// their report text. 3: rows of enumerated targets are tied to the user's object id (`user`
/// entries), and the fingerprint of an enumerated run is made from canonical values. 4: compact
/// entries, one line per group commit ([`super::journal_wire`]).
const VERSION: u32 = 4;

pub use super::journal_wire::Entry;
use super::journal_wire::{Context as Said, Wire};

/// The journal path that belongs to a report.
pub fn path_for(report: &Path) -> PathBuf {
    let mut name = report.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// An open journal, appended to by the collector.
pub struct Journal {
    path: PathBuf,
    out: BufWriter<File>,
    dirty: bool,
    /// What the journal said so far (the entries leave out what it already said).
    context: Said,
    /// The entries appended since the last sync: one JSON array, written as one line.
    pending: Vec<u8>,
}

impl Drop for Journal {
    fn drop(&mut self) {
        // Entries not yet synced still reach the file (as a line of their own), as they would
        // have through the buffer.
        let _ = self.seal_pending().and_then(|()| self.out.flush());
    }
}

/// What an earlier run left: which rows are done, which have records, which steps were started
/// with no known outcome. Rows are identified by their sequence number: for job files, the row's
/// place in the job (0-based, over all job files in order); for enumerated targets, the number
/// the run gave the user, tied to the user's object id by a `user` entry.
#[derive(Debug, Default)]
pub struct Resume {
    rows_done: BitSet,
    rows_touched: BitSet,
    /// Started steps whose outcome is unknown, by row: (step, when it was started).
    pub open_starts: HashMap<u64, Vec<(Change, DateTime<Utc>)>>,
    /// Finished records in the journal.
    pub records: u64,
    /// The `--tap-out` files of the earlier runs, in order.
    pub tap_outs: Vec<PathBuf>,
    /// The `--secrets-out` folders of the earlier runs, in order.
    pub secrets_outs: Vec<PathBuf>,
    /// Steps with a finished record, by row, for rows not done (at most the rows that were in
    /// flight when the earlier run stopped).
    partial: HashMap<u64, Vec<Change>>,
    /// Rows not done with a failed record: their attempt had ended when the run stopped.
    failed: HashSet<u64>,
    /// Enumerated users' rows by object id, 24 bytes per user.
    users: UserRows,
    /// Enumerated users begun and not done, by row: (object id in lower case, name). Holds
    /// the rows in flight when an earlier run stopped, not every user.
    unfinished: HashMap<u64, (String, String)>,
    /// The highest row number any entry names.
    last_seq: Option<u64>,
}

impl Resume {
    /// Row `seq` finished in an earlier run: skip it entirely.
    pub fn row_done(&self, seq: u64) -> bool {
        self.rows_done.contains(seq)
    }

    /// Row `seq` has records from an earlier run (so an empty plan now adds no `unchanged`).
    pub fn row_touched(&self, seq: u64) -> bool {
        self.rows_touched.contains(seq)
    }

    /// The steps of row `seq` that have a finished record from an earlier run (empty for a row
    /// that is done or was never touched).
    pub fn done_steps(&self, seq: u64) -> &[Change] {
        self.partial.get(&seq).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Row `seq` is not done but has a failed record: the earlier run's attempt had ended (a
    /// failure skips the rest of a row), only the row's last records may be missing.
    pub fn failed_before(&self, seq: u64) -> bool {
        self.failed.contains(&seq)
    }

    /// The row an earlier run gave the enumerated user with object id `id`, if any.
    pub fn seq_of_user(&self, id: &str) -> Option<u64> {
        self.users.get(id)
    }

    /// The first row number no earlier run used: where rows of users new to a resumed
    /// enumerated run are numbered from.
    pub fn next_seq(&self) -> u64 {
        self.last_seq.map_or(0, |seq| seq + 1)
    }

    /// Enumerated users an earlier run began but did not finish: (row, object id, name), in
    /// row order.
    pub fn unfinished_users(&self) -> Vec<(u64, String, String)> {
        let mut out: Vec<(u64, String, String)> = self
            .unfinished
            .iter()
            .map(|(seq, (id, user))| (*seq, id.clone(), user.clone()))
            .collect();
        out.sort();
        out
    }

    /// Steps of row `seq` started by an earlier run with no known outcome: (step, when).
    pub fn open_starts(&self, seq: u64) -> &[(Change, DateTime<Utc>)] {
        self.open_starts.get(&seq).map(Vec::as_slice).unwrap_or(&[])
    }
}

impl Journal {
    /// Start a new journal for a job with this content fingerprint.
    pub fn create(path: &Path, job: &str) -> Result<Self> {
        // Mode 0600: the journal holds users' phone numbers and e-mail addresses, and a
        // journal others could write to could make a resume skip rows.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot create journal {}", path.display()))?;
        let epoch = Utc::now().timestamp_millis();
        let mut journal = Journal {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            dirty: false,
            context: Said::new(epoch),
            pending: Vec::new(),
        };
        journal.append_wire(&Said::header(VERSION, job, epoch))?;
        journal.sync()?;
        Ok(journal)
    }

    /// Reopen the journal of an earlier run of the same job: read what it holds, drop a line torn
    /// by a crash, and continue appending. Refuses a journal of another job.
    pub fn resume(path: &Path, job: &str) -> Result<(Self, Resume)> {
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            bail!("refusing journal {}: it is a symlink", path.display());
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| {
                format!(
                    "cannot resume: no journal {} (was the run started with this --report?)",
                    path.display()
                )
            })?;
        let mut resume = Resume::default();
        let mut reader = Reader::new(BufReader::new(&mut file), path, job);
        while let Some(entry) = reader.next_entry()? {
            if let Entry::Start { seq, .. }
            | Entry::Done { seq, .. }
            | Entry::Row { seq }
            | Entry::User { seq, .. } = &entry
            {
                resume.last_seq = resume.last_seq.max(Some(*seq));
            }
            match entry {
                Entry::Header { .. } => {}
                Entry::Start { seq, step, at } => {
                    resume.open_starts.entry(seq).or_default().push((step, at));
                }
                Entry::Done { seq, record } => {
                    resume.rows_touched.insert(seq);
                    resume.records += 1;
                    if !resume.rows_done.contains(seq) {
                        if record.status == Some(super::Status::Failed) {
                            resume.failed.insert(seq);
                        }
                        resume
                            .partial
                            .entry(seq)
                            .or_default()
                            .push(record.step.clone());
                    }
                    if let Some(open) = resume.open_starts.get_mut(&seq) {
                        open.retain(|(step, _)| *step != record.step);
                        if open.is_empty() {
                            resume.open_starts.remove(&seq);
                        }
                    }
                }
                Entry::TapOut { path } => resume.tap_outs.push(path),
                Entry::SecretsOut { path } => resume.secrets_outs.push(path),
                Entry::User { seq, id, user } => {
                    resume.users.insert(&id, seq);
                    if !resume.rows_done.contains(seq) {
                        resume.unfinished.insert(seq, (id.to_lowercase(), user));
                    }
                }
                Entry::Row { seq } => {
                    resume.unfinished.remove(&seq);
                    resume.rows_done.insert(seq);
                    resume.open_starts.remove(&seq);
                    resume.partial.remove(&seq);
                    resume.failed.remove(&seq);
                }
            }
        }
        resume.users.finish();
        let (good_len, context) = (reader.good_len, reader.context);
        file.set_len(good_len)
            .and_then(|()| file.seek(SeekFrom::End(0)).map(|_| ()))
            .with_context(|| format!("cannot repair journal {}", path.display()))?;
        let journal = Journal {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            dirty: false,
            context,
            pending: Vec::new(),
        };
        Ok((journal, resume))
    }

    /// The finished records of the journal at `path`, in the order they finished (each once).
    pub fn records(path: &Path) -> Result<impl Iterator<Item = Record>> {
        Ok(Journal::numbered_records(path)?.map(|(_, record)| record))
    }

    /// [`Journal::records`] with each record's row sequence number.
    pub fn numbered_records(path: &Path) -> Result<impl Iterator<Item = (u64, Record)>> {
        let file =
            File::open(path).with_context(|| format!("cannot read journal {}", path.display()))?;
        // Called after `resume` checked every line: a bad one here is a torn last line.
        let mut reader = Reader::new(BufReader::new(file), path, "");
        reader.any_job = true;
        Ok(
            std::iter::from_fn(move || reader.next_entry().ok().flatten()).filter_map(|entry| {
                match entry {
                    Entry::Done { seq, record } => Some((seq, *record)),
                    _ => None,
                }
            }),
        )
    }

    /// Every entry of the journal at `path` as the journal means it, up to a torn or damaged
    /// line: for looking into a journal (and for tests that play a crash).
    pub fn entries(path: &Path) -> Result<Vec<Entry>> {
        let file =
            File::open(path).with_context(|| format!("cannot read journal {}", path.display()))?;
        let mut reader = Reader::new(BufReader::new(file), path, "");
        reader.any_job = true;
        Ok(std::iter::from_fn(move || reader.next_entry().ok().flatten()).collect())
    }

    /// Write a new journal at `path` holding `entries` (the first must be the header), one
    /// entry per line: what a run that synced after each entry would have left.
    pub fn write_entries(path: &Path, entries: &[Entry]) -> Result<()> {
        let mut context = Said::new(0);
        let mut out = BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        );
        for entry in entries {
            let wire = match entry {
                Entry::Header { version, job } => Said::header(*version, job, 0),
                other => context.encode(other),
            };
            let line = serde_json::to_vec(&[wire])?;
            super::frame::seal(&mut out, &line)?;
        }
        out.flush()?;
        Ok(())
    }

    /// Record that a step of row `seq` is about to be sent.
    pub fn started(&mut self, seq: u64, step: &Change, at: DateTime<Utc>) -> Result<()> {
        self.next_entry();
        self.context
            .write_start(&mut self.pending, seq, step, at.timestamp_millis());
        Ok(())
    }

    /// Record a finished step of row `seq`.
    pub fn done(&mut self, seq: u64, record: &Record) -> Result<()> {
        self.next_entry();
        self.context.write_done(&mut self.pending, seq, record);
        Ok(())
    }

    /// Record where this run writes created passes, so a resumed run can tell whether a pass
    /// created just before a crash reached that file. Synced at once.
    pub fn tap_out(&mut self, path: &Path) -> Result<()> {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        self.append(&Entry::TapOut { path })?;
        self.sync()
    }

    /// Record where this run writes QR codes and PINs (`--secrets-out`), so a resumed run can
    /// tell whether a secret issued just before a crash reached that folder. Synced at once.
    pub fn secrets_out(&mut self, path: &Path) -> Result<()> {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        self.append(&Entry::SecretsOut { path })?;
        self.sync()
    }

    /// Record that row `seq` of an enumerated run is the user with object id `id` named `user`.
    pub fn user(&mut self, seq: u64, id: &str, user: &str) -> Result<()> {
        self.append(&Entry::User {
            seq,
            id: id.to_string(),
            user: user.to_string(),
        })
    }

    /// Record that row `seq` has nothing more to do.
    pub fn row_done(&mut self, seq: u64) -> Result<()> {
        self.next_entry();
        self.context.write_row_done(&mut self.pending, seq);
        Ok(())
    }

    /// True when entries were appended since the last [`sync`](Self::sync).
    pub fn dirty(&self) -> bool {
        self.dirty
    }

    /// Flush and sync everything appended so far to disk.
    pub fn sync(&mut self) -> Result<()> {
        self.seal_pending()
            .and_then(|()| self.out.flush())
            .and_then(|()| self.out.get_ref().sync_data())
            .with_context(|| format!("cannot write journal {}", self.path.display()))?;
        self.dirty = false;
        Ok(())
    }

    /// Write the pending entries as one framed line.
    fn seal_pending(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.pending.push(b']');
        let sealed = super::frame::seal(&mut self.out, &self.pending);
        self.pending.clear();
        sealed
    }

    fn append(&mut self, entry: &Entry) -> Result<()> {
        let wire = self.context.encode(entry);
        self.append_wire(&wire)
    }

    fn append_wire(&mut self, wire: &Wire) -> Result<()> {
        self.next_entry();
        serde_json::to_writer(&mut self.pending, wire)
            .with_context(|| format!("cannot write journal {}", self.path.display()))?;
        Ok(())
    }

    /// Open the pending line's array, or separate the next entry from the one before; the
    /// journal then has something to sync. The starts, records and row ends are written
    /// straight into the line ([`Said::write_start`] and the others); the rare entries go
    /// through their [`Wire`].
    fn next_entry(&mut self) {
        self.pending
            .push(if self.pending.is_empty() { b'[' } else { b',' });
        self.dirty = true;
    }
}

/// Reads a journal's entries in order, checking each line's frame, the header's version and
/// job; remembers how many bytes were good (a torn last line is not).
struct Reader<'p, R> {
    input: R,
    path: &'p Path,
    job: &'p str,
    /// Accept any job's journal (reading one already checked).
    any_job: bool,
    context: Said,
    good_len: u64,
    number: u64,
    line: String,
    /// Entries of the current line not yet given out, last first.
    queue: Vec<Wire>,
}

impl<'p, R: BufRead> Reader<'p, R> {
    fn new(input: R, path: &'p Path, job: &'p str) -> Self {
        Reader {
            input,
            path,
            job,
            any_job: false,
            context: Said::default(),
            good_len: 0,
            number: 0,
            line: String::new(),
            queue: Vec::new(),
        }
    }

    /// The next entry; `None` at the end or at a line torn by a crash (the last line, with no
    /// newline). Any other damaged line is an error: what follows it cannot be trusted to be
    /// all there is, and rows done after it would be done again.
    fn next_entry(&mut self) -> Result<Option<Entry>> {
        loop {
            if let Some(wire) = self.queue.pop() {
                let number = self.number;
                let entry = self
                    .context
                    .decode(wire)
                    .map_err(|why| anyhow::anyhow!("{}", self.damaged(number, &why.to_string())))?;
                if matches!(entry, Entry::Header { .. }) {
                    bail!("journal {} is damaged", self.path.display());
                }
                return Ok(Some(entry));
            }
            self.line.clear();
            let read = self
                .input
                .read_line(&mut self.line)
                .with_context(|| format!("cannot read journal {}", self.path.display()))?;
            if read == 0 || !self.line.ends_with('\n') {
                if self.number == 0 {
                    bail!("{} is not an authbulk journal", self.path.display());
                }
                return Ok(None); // end, or a line torn by a crash: dropped
            }
            self.number += 1;
            let first = self.number == 1;
            let payload = super::frame::open(self.line.trim_end_matches('\n'))
                .map_err(|damage| damage.to_string());
            let entries = payload.clone().and_then(|payload| {
                serde_json::from_str::<Vec<Wire>>(payload).map_err(|e| e.to_string())
            });
            let mut entries = match entries {
                Ok(entries) => entries,
                Err(_) if first => return Err(self.not_a_journal(payload.ok())),
                Err(why) => bail!("{}", self.damaged(self.number, &why)),
            };
            self.good_len += read as u64;
            if first {
                let header = match entries.len() {
                    1 => self.context.decode(entries.remove(0)).ok(),
                    _ => None,
                };
                let Some(Entry::Header { version, job }) = header else {
                    bail!("{} is not an authbulk journal", self.path.display());
                };
                self.check_header(version, &job)?;
                return Ok(Some(Entry::Header { version, job }));
            }
            entries.reverse();
            self.queue = entries;
        }
    }

    fn check_header(&mut self, version: u32, job: &str) -> Result<()> {
        if version != VERSION {
            bail!(
                "journal {} has version {version}, this authbulk reads version {VERSION}: resume \
                 it with the authbulk that started the run",
                self.path.display()
            );
        }
        if !self.any_job && job != self.job {
            bail!(
                "cannot resume: the job files differ from the run that wrote {} (resume with \
                 the same job files, or start a new run with another --report)",
                self.path.display()
            );
        }
        Ok(())
    }

    /// A first line that is no header of this format: an older journal says its version.
    fn not_a_journal(&self, payload: Option<&str>) -> anyhow::Error {
        let version = payload
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
            .and_then(|v| v.get("version").and_then(serde_json::Value::as_u64));
        match version {
            Some(version) => anyhow::anyhow!(
                "journal {} has version {version}, this authbulk reads version {VERSION}: resume \
                 it with the authbulk that started the run",
                self.path.display()
            ),
            None => anyhow::anyhow!("{} is not an authbulk journal", self.path.display()),
        }
    }

    fn damaged(&self, number: u64, why: &str) -> String {
        format!(
            "cannot resume: journal {} is damaged at line {number} ({why}). Nothing was \
             changed. A resume past it could do finished work again (issue passes twice): \
             restore the journal from a copy if you have one; otherwise start a new run with \
             another --report for the rows this report does not show as done",
            self.path.display()
        )
    }
}

/// Rows of enumerated users by object id: GUIDs as two numbers (24 bytes with the row), in a
/// vector sorted once the journal is read; ids that are not GUIDs by their lower-case text.
#[derive(Debug, Default)]
struct UserRows {
    guids: Vec<([u64; 2], u64)>,
    other: HashMap<String, u64>,
}

impl UserRows {
    fn key(id: &str) -> Option<[u64; 2]> {
        let n = uuid::Uuid::parse_str(id).ok()?.as_u128();
        Some([(n >> 64) as u64, n as u64])
    }

    /// Note that `id` has row `seq` (a later note of the same id wins).
    fn insert(&mut self, id: &str, seq: u64) {
        match UserRows::key(id) {
            Some(key) => self.guids.push((key, seq)),
            None => {
                self.other.insert(id.to_lowercase(), seq);
            }
        }
    }

    /// Sort the notes, keeping each id's last.
    fn finish(&mut self) {
        // Stable: an id's notes stay in journal order, and the last is kept.
        self.guids.sort_by_key(|(key, _)| *key);
        let mut kept: usize = 0;
        for i in 0..self.guids.len() {
            if kept > 0 && self.guids[kept - 1].0 == self.guids[i].0 {
                self.guids[kept - 1] = self.guids[i];
            } else {
                self.guids[kept] = self.guids[i];
                kept += 1;
            }
        }
        self.guids.truncate(kept);
        self.guids.shrink_to_fit();
    }

    fn get(&self, id: &str) -> Option<u64> {
        match UserRows::key(id) {
            Some(key) => self
                .guids
                .binary_search_by_key(&key, |(k, _)| *k)
                .ok()
                .map(|i| self.guids[i].1),
            None => self.other.get(&id.to_lowercase()).copied(),
        }
    }
}

/// A set of row numbers as bits: 1,000,000 rows take 125 KB.
#[derive(Debug, Default)]
pub(crate) struct BitSet(Vec<u64>);

impl BitSet {
    /// Add `n`.
    pub(crate) fn insert(&mut self, n: u64) {
        let (word, bit) = ((n / 64) as usize, n % 64);
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << bit;
    }

    /// Whether `n` is in the set.
    pub(crate) fn contains(&self, n: u64) -> bool {
        let (word, bit) = ((n / 64) as usize, n % 64);
        self.0.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::MethodType;
    use crate::plan::change::MethodName;
    use crate::report::Status;

    /// The deletion of the FIDO2 key `id`.
    fn del(id: &str) -> Change {
        Change::DeleteMethod {
            method: MethodName::Known(MethodType::Fido2),
            id: id.into(),
        }
    }

    fn record(row: u64, step: Change) -> Record {
        Record {
            row,
            step,
            status: Some(Status::Ok),
            ..Record::default()
        }
    }

    #[test]
    fn resume_knows_enumerated_users_by_object_id_and_numbers_new_ones_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl.journal");
        let mut journal = Journal::create(&path, "job").unwrap();
        journal.user(0, "ID-A", "a@x").unwrap();
        journal.user(1, "id-b", "b@x").unwrap();
        journal.user(4, "id-c", "c@x").unwrap();
        journal
            .user(2, "5B046F95-4892-44E7-BFE9-91E120012D75", "g@x")
            .unwrap();
        journal
            .user(3, "5b046f95-4892-44e7-bfe9-91e120012d75", "g@x")
            .unwrap();
        journal
            .user(5, "0b046f95-4892-44e7-bfe9-91e120012d75", "h@x")
            .unwrap();
        journal.row_done(1).unwrap();
        journal.row_done(2).unwrap();
        journal.row_done(3).unwrap();
        journal.row_done(5).unwrap();
        journal.sync().unwrap();
        drop(journal);
        let (_, resume) = Journal::resume(&path, "job").unwrap();
        assert_eq!(resume.seq_of_user("id-a"), Some(0));
        assert_eq!(resume.seq_of_user("ID-C"), Some(4));
        assert_eq!(resume.seq_of_user("id-d"), None);
        assert_eq!(
            resume.seq_of_user("5b046f95-4892-44e7-bfe9-91e120012d75"),
            Some(3),
            "a GUID's latest row, whatever its case"
        );
        assert_eq!(
            resume.seq_of_user("0B046F95-4892-44E7-BFE9-91E120012D75"),
            Some(5)
        );
        assert_eq!(
            resume.seq_of_user("1b046f95-4892-44e7-bfe9-91e120012d75"),
            None
        );
        assert_eq!(resume.next_seq(), 6);
        assert_eq!(
            resume.unfinished_users(),
            vec![
                (0, "id-a".to_string(), "a@x".to_string()),
                (4, "id-c".to_string(), "c@x".to_string())
            ]
        );
    }

    #[test]
    fn a_journal_of_an_older_version_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl.journal");
        let mut file = File::create(&path).unwrap();
        super::super::frame::seal(&mut file, br#"{"t":"header","version":2,"job":"job"}"#).unwrap();
        drop(file);
        let err = Journal::resume(&path, "job").err().unwrap().to_string();
        assert!(err.contains("has version 2"), "{err}");
    }

    #[test]
    fn resume_knows_done_rows_records_and_open_starts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv.journal");
        let at = Utc::now();
        let mut journal = Journal::create(&path, "job-a").unwrap();
        journal.started(0, &del("k1"), at).unwrap();
        journal.done(0, &record(1, del("k1"))).unwrap();
        journal.row_done(0).unwrap();
        journal.tap_out(Path::new("/tmp/taps-1.csv")).unwrap();
        journal.started(1, &Change::IssueTap, at).unwrap();
        journal.started(2, &Change::DeleteEmail, at).unwrap();
        journal.done(2, &record(3, Change::DeleteEmail)).unwrap();
        journal.sync().unwrap();
        drop(journal);

        let (_journal, resume) = Journal::resume(&path, "job-a").unwrap();
        assert!(resume.row_done(0));
        assert!(!resume.row_done(1) && !resume.row_done(2));
        assert!(resume.row_touched(2) && !resume.row_touched(1));
        assert_eq!(resume.records, 2);
        assert_eq!(resume.tap_outs, [PathBuf::from("/tmp/taps-1.csv")]);
        assert_eq!(resume.open_starts.len(), 1);
        assert_eq!(resume.open_starts[&1][0].0, Change::IssueTap);
        assert_eq!(resume.open_starts(1)[0].0, Change::IssueTap);
        assert_eq!(
            resume.open_starts(1)[0].1.timestamp_millis(),
            at.timestamp_millis(),
            "a start's time, to the millisecond"
        );
        assert_eq!(resume.done_steps(2), [Change::DeleteEmail]);
        assert!(!resume.failed_before(2));
        assert!(resume.done_steps(0).is_empty() && resume.done_steps(1).is_empty());
        let steps: Vec<_> = Journal::records(&path).unwrap().map(|r| r.step).collect();
        assert_eq!(steps, [del("k1"), Change::DeleteEmail]);
    }

    #[test]
    fn a_row_with_a_failed_record_but_no_row_marker_failed_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut journal = Journal::create(&path, "job").unwrap();
        let mut failed = record(1, del("a"));
        failed.status = Some(Status::Failed);
        journal.done(0, &failed).unwrap();
        journal.done(1, &failed).unwrap();
        journal.row_done(1).unwrap();
        journal.sync().unwrap();
        drop(journal);
        let (_, resume) = Journal::resume(&path, "job").unwrap();
        assert!(resume.failed_before(0));
        assert!(
            !resume.failed_before(1),
            "a done row is skipped, not re-checked"
        );
    }

    #[test]
    fn a_line_torn_by_a_crash_is_dropped_and_appending_continues() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut journal = Journal::create(&path, "job").unwrap();
        journal.done(0, &record(1, del("a"))).unwrap();
        journal.sync().unwrap();
        drop(journal);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"t\":\"done\",\"seq\":1,\"rec").unwrap();
        drop(file);

        let (mut journal, resume) = Journal::resume(&path, "job").unwrap();
        assert_eq!(resume.records, 1);
        journal.done(1, &record(2, del("b"))).unwrap();
        journal.sync().unwrap();
        let steps: Vec<_> = Journal::records(&path).unwrap().map(|r| r.step).collect();
        assert_eq!(steps, [del("a"), del("b")]);
    }

    #[test]
    fn resuming_with_another_job_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        Journal::create(&path, "job-a").unwrap();
        let err = Journal::resume(&path, "job-b").err().unwrap();
        assert!(format!("{err:#}").contains("job files differ"));
    }

    #[test]
    fn bitset_holds_large_row_numbers() {
        let mut set = BitSet::default();
        set.insert(999_999);
        set.insert(3);
        assert!(set.contains(999_999) && set.contains(3) && !set.contains(4));
        assert!(!set.contains(5_000_000));
    }
}
