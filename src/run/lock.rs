//! The run lock: one run at a time on one report. A run (new, `--resume`d, planning or
//! applying) holds an exclusive advisory lock (`flock`) on `<report>.lock` from before it opens
//! its report until it ends, so a second process on the same report (a cron retry overlapping
//! a manual `--resume`, a resume from a second terminal) is refused at once, naming the report
//! and the process that holds it. Without it both processes re-planned the same unfinished rows
//! and issued passes twice, and their report and journal lines interleaved.
//!
//! Why a lock file beside the report, not a lock on the journal: the lock must be taken before
//! the report or journal is created or rewritten, and a dry run has no journal. The operating
//! system drops the lock when the process ends however it ends (even `kill -9`), so a stale
//! lock file never blocks a later run. The file holds the holder's pid and start time, for the
//! message only.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// An exclusive lock on a report's run, released (and its file removed) when dropped.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    file: File,
}

/// The lock file that belongs to a report.
pub fn path_for(report: &Path) -> PathBuf {
    let mut name = report.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl RunLock {
    /// Take the lock of the run on `report`, or fail at once when another process holds it.
    pub fn acquire(report: &Path) -> Result<RunLock> {
        let path = path_for(report);
        // A holder that ends removes the file; one that opened it just before may then hold a
        // removed file's lock: try again on the file that is there now (bounded).
        for _ in 0..5 {
            if let Some(lock) = Self::try_once(report, &path)? {
                return Ok(lock);
            }
        }
        bail!(
            "cannot lock {}: it keeps being replaced by another process",
            path.display()
        )
    }

    fn try_once(report: &Path, path: &Path) -> Result<Option<RunLock>> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot create the run lock {}", path.display()))?;
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = match holder.is_empty() {
                    true => "another process".to_string(),
                    false => holder.to_string(),
                };
                bail!(
                    "report {} is in use by another authbulk run ({holder}; lock {}): wait for \
                     that run to end or stop it, then continue with --resume; two runs on one \
                     report would do the same work twice",
                    report.display(),
                    path.display()
                );
            }
            Err(fs4::TryLockError::Error(err)) => {
                return Err(err).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        // The path must still name the file we locked: not a symlink, not replaced.
        let ours = file.metadata()?;
        match std::fs::symlink_metadata(path) {
            Ok(now) if now.file_type().is_symlink() => {
                bail!("refusing the run lock {}: it is a symlink", path.display())
            }
            Ok(now) if now.dev() == ours.dev() && now.ino() == ours.ino() => {}
            _ => return Ok(None),
        }
        let holder = format!(
            "pid {}, started {}",
            std::process::id(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(|_| ()))
            .and_then(|()| file.write_all(holder.as_bytes()))
            .with_context(|| format!("cannot write the run lock {}", path.display()))?;
        Ok(Some(RunLock {
            path: path.to_path_buf(),
            file,
        }))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Removed while still held, so no other process can lock this file and then find it
        // was the removed one without noticing (it checks the path after locking).
        let _ = std::fs::remove_file(&self.path);
        let _ = fs4::FileExt::unlock(&self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_report_is_refused_with_the_holder_and_freed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("r.csv");
        let first = RunLock::acquire(&report).unwrap();
        let err = RunLock::acquire(&report).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("r.csv is in use"), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(first);
        assert!(!path_for(&report).exists());
        RunLock::acquire(&report).unwrap();
    }

    #[test]
    fn a_symlinked_lock_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("r.csv");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, path_for(&report)).unwrap();
        assert!(RunLock::acquire(&report).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    }
}
