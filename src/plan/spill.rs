//! A sort that holds a bounded number of items in memory: [`Spill`] keeps up to its limit of
//! items, then writes them, sorted, as one run to an unnamed temporary file (removed as soon as
//! it is created, so no exit leaves it behind), and [`Spill::sorted`] merges the runs. The plan
//! of a change to a million users is gathered this way ([`super::console::PlanConsole`]): what
//! it shows grows with the tenant, the memory it takes does not.
//!
//! Items are stored as JSON lines (`[key, item]`); each run is read back through its own small
//! buffer, at its own offset of the one file.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Items held in memory before they are written out as a sorted run.
pub const DEFAULT_LIMIT: usize = 4096;

/// Bytes of read buffer per run while merging.
const RUN_BUFFER: usize = 8 * 1024;

/// Items sorted by key `K` (ties keep the order they were pushed in), most of them on disk.
pub struct Spill<K, T> {
    limit: usize,
    pushed: u64,
    buffer: Vec<((K, u64), T)>,
    file: Option<File>,
    /// Each run's (offset, length) in `file`.
    runs: Vec<(u64, u64)>,
    /// Bytes of read buffer per run while merging.
    run_buffer: usize,
}

impl<K, T> Spill<K, T>
where
    K: Ord + Serialize + DeserializeOwned,
    T: Serialize + DeserializeOwned,
{
    /// An empty sort that keeps at most `limit` items in memory.
    pub fn new(limit: usize) -> Self {
        Spill {
            limit: limit.max(1),
            pushed: 0,
            buffer: Vec::new(),
            file: None,
            runs: Vec::new(),
            run_buffer: RUN_BUFFER,
        }
    }

    /// Read each run through a buffer of `bytes` while merging (default 8 KiB): a sort of many
    /// runs holds one buffer per run.
    pub fn with_run_buffer(mut self, bytes: usize) -> Self {
        self.run_buffer = bytes.max(256);
        self
    }

    /// Add an item.
    pub fn push(&mut self, key: K, item: T) -> io::Result<()> {
        self.buffer.push(((key, self.pushed), item));
        self.pushed += 1;
        if self.buffer.len() >= self.limit {
            self.write_run()?;
        }
        Ok(())
    }

    /// Items pushed so far.
    pub fn len(&self) -> u64 {
        self.pushed
    }

    fn write_run(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.buffer.sort_by(|a, b| a.0.cmp(&b.0));
        let file = match &mut self.file {
            Some(file) => file,
            none => none.insert(tempfile::tempfile()?),
        };
        let start = file.seek(SeekFrom::End(0))?;
        let mut out = BufWriter::new(&mut *file);
        for entry in self.buffer.drain(..) {
            serde_json::to_writer(&mut out, &entry)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        drop(out);
        let end = file.stream_position()?;
        self.runs.push((start, end - start));
        self.buffer.shrink_to(self.limit);
        Ok(())
    }

    /// Every item, by key (ties in the order they were pushed).
    pub fn sorted(mut self) -> io::Result<Sorted<K, T>> {
        let mut sources = Vec::new();
        if self.runs.is_empty() {
            self.buffer.sort_by(|a, b| a.0.cmp(&b.0));
            self.buffer.reverse();
            sources.push(Source::Memory(std::mem::take(&mut self.buffer)));
        } else {
            self.write_run()?;
            let file = std::sync::Arc::new(self.file.take().expect("runs were written"));
            for &(offset, len) in &self.runs {
                sources.push(Source::Run(BufReader::with_capacity(
                    self.run_buffer,
                    At {
                        file: file.clone(),
                        pos: offset,
                        end: offset + len,
                    },
                )));
            }
        }
        let mut sorted = Sorted {
            sources,
            heads: BinaryHeap::new(),
            line: String::new(),
        };
        for index in 0..sorted.sources.len() {
            sorted.refill(index)?;
        }
        Ok(sorted)
    }
}

/// A run's bytes, read at its own offset of the shared file.
struct At {
    file: std::sync::Arc<File>,
    pos: u64,
    end: u64,
}

impl Read for At {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = (self.end - self.pos).min(buf.len() as u64) as usize;
        if left == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..left], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

enum Source<K, T> {
    /// Sorted in reverse: the next item is the last.
    Memory(Vec<((K, u64), T)>),
    Run(BufReader<At>),
}

/// A head of the merge: the next item of one source.
struct Head<K, T> {
    key: (K, u64),
    item: T,
    source: usize,
}

impl<K: Ord, T> PartialEq for Head<K, T> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl<K: Ord, T> Eq for Head<K, T> {}
impl<K: Ord, T> PartialOrd for Head<K, T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<K: Ord, T> Ord for Head<K, T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// The merged items of a [`Spill`], in order; an I/O or format error ends it with that error.
pub struct Sorted<K, T> {
    sources: Vec<Source<K, T>>,
    heads: BinaryHeap<Reverse<Head<K, T>>>,
    line: String,
}

impl<K, T> Sorted<K, T>
where
    K: Ord + DeserializeOwned,
    T: DeserializeOwned,
{
    fn refill(&mut self, source: usize) -> io::Result<()> {
        let next = match &mut self.sources[source] {
            Source::Memory(items) => items.pop(),
            Source::Run(reader) => {
                self.line.clear();
                match reader.read_line(&mut self.line)? {
                    0 => None,
                    _ => Some(serde_json::from_str(&self.line)?),
                }
            }
        };
        if let Some((key, item)) = next {
            self.heads.push(Reverse(Head { key, item, source }));
        }
        Ok(())
    }

    /// The next item with its key.
    pub fn next_item(&mut self) -> io::Result<Option<(K, T)>> {
        let Some(Reverse(head)) = self.heads.pop() else {
            return Ok(None);
        };
        self.refill(head.source)?;
        Ok(Some((head.key.0, head.item)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_back_sorted_with_ties_in_push_order_across_runs() {
        let mut spill: Spill<u64, String> = Spill::new(3);
        for (key, item) in [
            (5, "a"),
            (1, "b"),
            (5, "c"),
            (0, "d"),
            (1, "e"),
            (9, "f"),
            (5, "g"),
        ] {
            spill.push(key, item.to_string()).unwrap();
        }
        assert_eq!(spill.runs.len(), 2, "seven items, three in memory at most");
        let mut sorted = spill.sorted().unwrap();
        let mut out = Vec::new();
        while let Some((key, item)) = sorted.next_item().unwrap() {
            out.push(format!("{key}{item}"));
        }
        assert_eq!(out, ["0d", "1b", "1e", "5a", "5c", "5g", "9f"]);
    }

    #[test]
    fn a_small_sort_stays_in_memory() {
        let mut spill: Spill<(String, u64), u8> = Spill::new(10);
        spill.push(("b".into(), 1), 1).unwrap();
        spill.push(("a".into(), 2), 2).unwrap();
        assert_eq!(spill.runs.len(), 0);
        let mut sorted = spill.sorted().unwrap();
        assert_eq!(sorted.next_item().unwrap().unwrap().1, 2);
        assert_eq!(sorted.next_item().unwrap().unwrap().1, 1);
        assert!(sorted.next_item().unwrap().is_none());
    }
}
