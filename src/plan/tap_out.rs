//! Where created temporary access passes go: the [`TapSink`] trait the applier hands each pass
//! to, and [`TapOutFile`], the `--tap-out` CSV (`user,user_id,pass,start,lifetime,expires`,
//! then the job columns named with `--tap-columns`) created with mode 0600 and refused when the
//! file exists. Every cell a spreadsheet would run as a formula is guarded. Passes never reach
//! records, logs or `Debug` output. The `run` command creates the file; [`super::apply`]
//! delivers to it.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};

/// A pass just created for a user. `Debug` hides the pass.
#[derive(Clone)]
pub struct IssuedTap {
    /// The user as the job names them.
    pub user: String,
    /// The user's object id.
    pub user_id: String,
    pass: String,
    /// When the pass becomes usable.
    pub start: Option<DateTime<Utc>>,
    /// Its lifetime in minutes.
    pub lifetime_minutes: Option<u32>,
    /// The job row's extra columns (name, value), from which `--tap-columns` picks.
    pub extra: Vec<(Arc<str>, String)>,
}

impl IssuedTap {
    /// A pass for a user.
    pub fn new(
        user: String,
        user_id: String,
        pass: String,
        start: Option<DateTime<Utc>>,
        lifetime_minutes: Option<u32>,
    ) -> Self {
        IssuedTap {
            user,
            user_id,
            pass,
            start,
            lifetime_minutes,
            extra: Vec::new(),
        }
    }

    /// The same pass with the job row's extra columns.
    pub fn with_extra(mut self, extra: Vec<(Arc<str>, String)>) -> Self {
        self.extra = extra;
        self
    }

    /// The secret pass itself.
    pub fn pass(&self) -> &str {
        &self.pass
    }

    /// When the pass stops working: its start plus its lifetime.
    pub fn expires(&self) -> Option<DateTime<Utc>> {
        let minutes = i64::from(self.lifetime_minutes?);
        Some(self.start? + chrono::Duration::minutes(minutes))
    }
}

impl fmt::Debug for IssuedTap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedTap")
            .field("user", &self.user)
            .field("user_id", &self.user_id)
            .field("pass", &"<redacted>")
            .field("start", &self.start)
            .field("lifetime_minutes", &self.lifetime_minutes)
            .finish()
    }
}

/// Receives every created pass, once. Called from the users' tasks, so it must be shareable.
pub trait TapSink: Send + Sync {
    /// Store `tap` durably; an error means the pass is lost and the step is reported failed.
    fn deliver(&self, tap: &IssuedTap) -> io::Result<()>;
}

/// The `--tap-out` file.
pub struct TapOutFile {
    path: PathBuf,
    /// The job columns copied beside each pass (`--tap-columns`), as the job spells them.
    columns: Vec<Arc<str>>,
    writer: Mutex<csv::Writer<File>>,
}

impl fmt::Debug for TapOutFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TapOutFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl TapOutFile {
    /// Create the file (mode 0600 on Unix) with its header, `columns` being the job columns to
    /// copy beside each pass. Fails when it exists: passes already in a file are never
    /// overwritten or mixed with a new run's.
    pub fn create(path: &Path, columns: Vec<Arc<str>>) -> anyhow::Result<Self> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(path).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                anyhow::anyhow!(
                    "--tap-out {} already exists: refusing to overwrite or append to a file of \
                     passes; give a new file name",
                    path.display()
                )
            } else {
                anyhow::Error::new(e).context(format!("creating --tap-out {}", path.display()))
            }
        })?;
        let mut writer = csv::Writer::from_writer(file);
        let header = ["user", "user_id", "pass", "start", "lifetime", "expires"]
            .into_iter()
            .map(std::borrow::Cow::Borrowed)
            .chain(columns.iter().map(|c| spreadsheet_safe(c)))
            .collect::<Vec<_>>();
        writer
            .write_record(header.iter().map(|c| c.as_bytes()))
            .and_then(|()| writer.flush().map_err(csv::Error::from))
            .with_context(|| format!("writing --tap-out {}", path.display()))?;
        Ok(TapOutFile {
            path: path.to_path_buf(),
            columns,
            writer: Mutex::new(writer),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl TapSink for TapOutFile {
    fn deliver(&self, tap: &IssuedTap) -> io::Result<()> {
        let mut writer = self
            .writer
            .lock()
            .map_err(|_| io::Error::other("the --tap-out writer panicked earlier"))?;
        let time = |t: Option<DateTime<Utc>>| {
            t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default()
        };
        let lifetime = tap
            .lifetime_minutes
            .map(|m| m.to_string())
            .unwrap_or_default();
        let copied = self.columns.iter().map(|name| {
            let value = tap
                .extra
                .iter()
                .find(|(n, _)| n == name)
                .map_or("", |(_, v)| v.as_str());
            spreadsheet_safe(value)
        });
        let fixed = [
            spreadsheet_safe(&tap.user),
            spreadsheet_safe(&tap.user_id),
            spreadsheet_safe(tap.pass()),
            time(tap.start).into(),
            lifetime.into(),
            time(tap.expires()).into(),
        ];
        let cells: Vec<_> = fixed.into_iter().chain(copied).collect();
        writer
            .write_record(cells.iter().map(|c| c.as_bytes()))
            .map_err(io::Error::other)?;
        writer.flush()?;
        // A pass exists once only: make it survive a crash right after this step.
        writer.get_ref().sync_data()
    }
}

/// A cell a spreadsheet program opens as text, never as a formula: one that starts with `=`,
/// `+`, `-`, `@`, a tab or a carriage return (a pass such as `+Ps9eTJY`, a UPN such as
/// `-ann@...`) gets a leading `'`, which Excel, LibreOffice and Google Sheets take as "this is
/// text" and neither show nor copy. A cell that starts with `'` gets one too, so the rule for a
/// reader of the raw file is always the same: a leading `'` is not part of the value.
pub(crate) fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\'') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tap() -> IssuedTap {
        IssuedTap::new(
            "o'neil00005@contoso.onmicrosoft.com".into(),
            "id-5".into(),
            "Xy7!pass,word".into(),
            Some("2026-01-01T08:00:00Z".parse().unwrap()),
            Some(60),
        )
    }

    #[test]
    fn debug_output_never_shows_the_pass() {
        let shown = format!("{:?}", tap());
        assert!(!shown.contains("Xy7!pass"));
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn tap_out_file_holds_header_and_passes_as_csv() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taps.csv");
        let file = TapOutFile::create(&path, Vec::new()).unwrap();
        file.deliver(&tap()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "user,user_id,pass,start,lifetime,expires\n\
             o'neil00005@contoso.onmicrosoft.com,id-5,\"Xy7!pass,word\",2026-01-01T08:00:00Z,60,\
             2026-01-01T09:00:00Z\n"
        );
    }

    #[test]
    fn tap_columns_follow_the_pass_and_never_turn_into_formulas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taps.csv");
        let file = TapOutFile::create(&path, vec!["Manager".into(), "Desk".into()]).unwrap();
        let tap = tap().with_extra(vec![
            ("Desk".into(), "=HYPERLINK(\"x\")".into()),
            ("Ticket".into(), "T-1".into()),
        ]);
        file.deliver(&tap).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("user,user_id,pass,start,lifetime,expires,Manager,Desk")
        );
        // No Manager value in the row: an empty cell; the formula is guarded.
        assert!(
            lines
                .next()
                .unwrap()
                .ends_with(",,\"'=HYPERLINK(\"\"x\"\")\""),
            "{text}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn tap_out_file_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taps.csv");
        TapOutFile::create(&path, Vec::new()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn an_existing_tap_out_file_is_refused_and_left_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taps.csv");
        std::fs::write(&path, "old passes\n").unwrap();
        let err = TapOutFile::create(&path, Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old passes\n");
    }
}
