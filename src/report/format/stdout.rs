//! Standard output as a report or inventory destination (`--report -`, `--summary-json -`,
//! `export --out -`). Two things differ from a file:
//!
//! - Spreadsheet safety ([`super::neutralise`]) is for files a spreadsheet program opens. A pipe
//!   or a terminal feeds another program (`Import-Csv`, `ConvertFrom-Csv`, `jq`, `csvkit`), which
//!   would keep the leading `'` as part of the value, so CSV on stdout is raw unless stdout is
//!   itself redirected to a regular file ([`stdout_is_file`]).
//! - A reader that goes away (`| head`) closes the pipe. [`QuietPipe`] turns the first
//!   `BrokenPipe` into the end of the output: later writes are dropped without an error, and the
//!   command ends as it would have, with no panic and no "Broken pipe" message. Rust ignores
//!   `SIGPIPE`, so without this every write after `head` exits fails.
//!
//! Used by [`crate::report::ReportWriter`], the export's inventory writer and the run's summary.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Where an output goes: a file, or standard output (`-` on the command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A new file (an existing one is never overwritten).
    File(PathBuf),
    /// Standard output (`-`).
    Stdout,
}

impl Destination {
    /// `-` is standard output, anything else a file.
    pub fn from_arg(arg: &std::ffi::OsStr) -> Destination {
        match arg.to_str() {
            Some("-") => Destination::Stdout,
            _ => Destination::File(arg.into()),
        }
    }
}

/// Whether standard output is a regular file (`> report.csv`), as opposed to a pipe or a
/// terminal. A file may be opened in a spreadsheet program, so it keeps formula neutralising.
pub fn stdout_is_file() -> bool {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .and_then(|file| file.metadata())
            .is_ok_and(|meta| meta.is_file())
    }
    #[cfg(windows)]
    {
        use std::os::windows::io::AsHandle;
        io::stdout()
            .as_handle()
            .try_clone_to_owned()
            .map(std::fs::File::from)
            .and_then(|file| file.metadata())
            .is_ok_and(|meta| meta.is_file())
    }
    #[cfg(not(any(unix, windows)))]
    {
        false
    }
}

/// A writer whose output ends quietly when its reader goes away: after the first
/// `BrokenPipe`, every write and flush succeeds without writing anything, and
/// [`QuietPipe::closed`] says so (an export then stops reading users nobody will see).
pub struct QuietPipe<W> {
    inner: W,
    closed: Arc<AtomicBool>,
}

impl<W: Write> QuietPipe<W> {
    /// Wrap `inner`.
    pub fn new(inner: W) -> Self {
        QuietPipe {
            inner,
            closed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A flag that turns true once the reader has gone away.
    pub fn closed_flag(&self) -> Arc<AtomicBool> {
        self.closed.clone()
    }

    fn absorb<T>(&self, result: io::Result<T>, quiet: T) -> io::Result<T> {
        match result {
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {
                self.closed.store(true, Ordering::Relaxed);
                Ok(quiet)
            }
            other => other,
        }
    }
}

impl<W: Write> Write for QuietPipe<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        let result = self.inner.write(buf);
        self.absorb(result, buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed.load(Ordering::Relaxed) {
            return Ok(());
        }
        let result = self.inner.flush();
        self.absorb(result, ())
    }
}

/// Standard output, ending quietly on a closed pipe.
pub fn stdout() -> QuietPipe<io::Stdout> {
    QuietPipe::new(io::stdout())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
    }

    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::StorageFull.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_ends_the_output_without_an_error() {
        let mut pipe = QuietPipe::new(Closed);
        let closed = pipe.closed_flag();
        assert!(!closed.load(Ordering::Relaxed));
        writeln!(pipe, "row 1").unwrap();
        pipe.flush().unwrap();
        assert!(closed.load(Ordering::Relaxed));
    }

    #[test]
    fn other_write_errors_still_surface() {
        let mut pipe = QuietPipe::new(Full);
        assert!(writeln!(pipe, "row 1").is_err());
        assert!(!pipe.closed_flag().load(Ordering::Relaxed));
    }
}
