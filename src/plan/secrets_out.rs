//! Where QR codes and PINs go: the [`SecretSink`] trait the applier hands each issued secret to,
//! and [`SecretsDir`], the `--secrets-out DIR` folder. The folder is created with mode 0700 (or
//! must be an empty folder); each user gets files of their own, mode 0600, named from their
//! object id (`<id>.png`, the QR code; `<id>.pin`, the temporary PIN), and `index.csv` lists
//! `user,user_id,files,start,expiry`, every cell guarded for spreadsheets as the `--tap-out`
//! file is. QR codes and PINs never reach records, logs or `Debug` output. The `run` command
//! creates the folder; [`super::apply`] delivers to it; `--resume` reads earlier folders'
//! indexes ([`delivered_in`]).
//!
//! The QR code is drawn from the `rawContent` Graph returns ("qrCodeImageDetails resource
//! type": "the raw encoded content embedded in the QR code") at its `errorCorrectionLevel`, with
//! the `qrcode` crate (pure Rust, no image stack) and written as a PNG by the `png` crate: 8
//! pixels a module, a quiet zone of 4 modules, black on white, so it prints sharp on a badge.

use std::collections::HashSet;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};

/// Pixels per QR module.
const SCALE: usize = 8;
/// Modules of white around the code (the QR standard's quiet zone).
const QUIET: usize = 4;

/// The QR code's content and error correction level, as Graph returned them.
#[derive(Clone)]
pub struct QrContent {
    /// The bytes to encode (`rawContent`, base64-decoded).
    pub raw: Vec<u8>,
    /// `errorCorrectionLevel`: `l`, `m`, `q` or `h` (anything else draws at `m`).
    pub level: String,
}

/// A QR code and/or PIN just issued for a user. `Debug` hides the secrets.
#[derive(Clone)]
pub struct IssuedQrPin {
    /// The user as the job names them.
    pub user: String,
    /// The user's object id.
    pub user_id: String,
    pin: String,
    qr: Option<QrContent>,
    /// When the standard QR code becomes usable (a create).
    pub start: Option<DateTime<Utc>>,
    /// When it expires (a create).
    pub expiry: Option<DateTime<Utc>>,
}

impl IssuedQrPin {
    /// A secret for a user: the temporary PIN, and the QR code for a create.
    pub fn new(user: String, user_id: String, pin: String, qr: Option<QrContent>) -> Self {
        IssuedQrPin {
            user,
            user_id,
            pin,
            qr,
            start: None,
            expiry: None,
        }
    }

    /// The same secret with its QR code's validity.
    pub fn valid(mut self, start: Option<DateTime<Utc>>, expiry: Option<DateTime<Utc>>) -> Self {
        self.start = start;
        self.expiry = expiry;
        self
    }

    /// The temporary PIN.
    pub fn pin(&self) -> &str {
        &self.pin
    }
}

impl fmt::Debug for IssuedQrPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedQrPin")
            .field("user", &self.user)
            .field("user_id", &self.user_id)
            .field("pin", &"<redacted>")
            .field("qr", &self.qr.as_ref().map(|_| "<redacted>"))
            .field("start", &self.start)
            .field("expiry", &self.expiry)
            .finish()
    }
}

/// Receives every issued QR code and PIN, once. Called from the users' tasks.
pub trait SecretSink: Send + Sync {
    /// Store `secret` durably and return the names of the files written; an error means the
    /// secret is lost and the step is reported failed.
    fn deliver(&self, secret: &IssuedQrPin) -> io::Result<Vec<String>>;
}

/// The `--secrets-out` folder.
pub struct SecretsDir {
    path: PathBuf,
    state: Mutex<DirState>,
}

struct DirState {
    index: csv::Writer<File>,
    /// File names handed out (a user with two rows gets `<id>-2.pin` for the second).
    names: HashSet<String>,
}

impl fmt::Debug for SecretsDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsDir")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The index file's name inside the folder.
pub const INDEX: &str = "index.csv";

/// Refuse a `--secrets-out` that exists and is not an empty folder (a dry run checks this too,
/// so the real run will not be refused after the preview).
pub fn check(path: &Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("--secrets-out {}", path.display()))),
        Ok(meta) if meta.file_type().is_symlink() || !meta.is_dir() => bail!(
            "--secrets-out {} exists and is not a folder (or is a symlink): give a new folder",
            path.display()
        ),
        Ok(_) => {
            let mut entries = std::fs::read_dir(path)
                .with_context(|| format!("reading --secrets-out {}", path.display()))?;
            if entries.next().is_some() {
                bail!(
                    "--secrets-out {} is not empty: QR codes and PINs are never mixed with \
                     other files or an earlier run's; give a new or empty folder",
                    path.display()
                );
            }
            Ok(())
        }
    }
}

/// Create a file that must not exist, mode 0600 on Unix.
fn create_new(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

impl SecretsDir {
    /// Create the folder (mode 0700; an existing empty folder is taken and set to 0700) and its
    /// index. Fails when it exists and is not an empty folder.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        check(path)?;
        if !path.exists() {
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder
                .create(path)
                .with_context(|| format!("creating --secrets-out {}", path.display()))?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).with_context(
                || format!("setting --secrets-out {} to mode 0700", path.display()),
            )?;
        }
        let file = create_new(&path.join(INDEX))
            .with_context(|| format!("creating {}", path.join(INDEX).display()))?;
        let mut index = csv::Writer::from_writer(file);
        index
            .write_record(["user", "user_id", "files", "start", "expiry"])
            .and_then(|()| index.flush().map_err(csv::Error::from))
            .with_context(|| format!("writing {}", path.join(INDEX).display()))?;
        Ok(SecretsDir {
            path: path.to_path_buf(),
            state: Mutex::new(DirState {
                index,
                names: HashSet::new(),
            }),
        })
    }

    /// The folder's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A file name made from a user's object id: letters, digits, `-` and `_` kept, anything else
/// `_`, so an id can never name a path outside the folder.
fn safe_stem(user_id: &str) -> String {
    let stem: String = user_id
        .chars()
        .take(64)
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
            _ => '_',
        })
        .collect();
    if stem.is_empty() { "user".into() } else { stem }
}

impl DirState {
    /// A name not handed out yet: `<stem>.<ext>`, else `<stem>-2.<ext>`, ...
    fn fresh(&mut self, stem: &str, ext: &str) -> String {
        let mut n = 1;
        loop {
            let name = match n {
                1 => format!("{stem}.{ext}"),
                n => format!("{stem}-{n}.{ext}"),
            };
            if self.names.insert(name.clone()) {
                return name;
            }
            n += 1;
        }
    }
}

impl SecretSink for SecretsDir {
    fn deliver(&self, secret: &IssuedQrPin) -> io::Result<Vec<String>> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| io::Error::other("the --secrets-out writer panicked earlier"))?;
        let stem = safe_stem(&secret.user_id);
        let mut files = Vec::new();
        if let Some(qr) = &secret.qr {
            let png = render_png(qr)?;
            let name = state.fresh(&stem, "png");
            let mut file = create_new(&self.path.join(&name))?;
            file.write_all(&png)?;
            file.sync_all()?;
            files.push(name);
        }
        let name = state.fresh(&stem, "pin");
        let mut file = create_new(&self.path.join(&name))?;
        writeln!(file, "{}", secret.pin())?;
        file.sync_all()?;
        files.push(name);
        let time = |t: Option<DateTime<Utc>>| {
            t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default()
        };
        let joined = files.join(";");
        let cells = [
            super::tap_out::spreadsheet_safe(&secret.user).into_owned(),
            super::tap_out::spreadsheet_safe(&secret.user_id).into_owned(),
            super::tap_out::spreadsheet_safe(&joined).into_owned(),
            time(secret.start),
            time(secret.expiry),
        ];
        state.index.write_record(&cells).map_err(io::Error::other)?;
        state.index.flush()?;
        // A secret exists once only: its files and index line survive a crash right after.
        state.index.get_ref().sync_data()?;
        #[cfg(unix)]
        File::open(&self.path)?.sync_all()?;
        Ok(files)
    }
}

/// The QR code of `qr` as a PNG: black modules on white, 8 pixels a module, a 4-module
/// margin.
pub fn render_png(qr: &QrContent) -> io::Result<Vec<u8>> {
    use qrcode::{Color, EcLevel, QrCode};
    let level = match qr.level.to_ascii_lowercase().as_str() {
        "l" => EcLevel::L,
        "q" => EcLevel::Q,
        "h" => EcLevel::H,
        _ => EcLevel::M,
    };
    let code = QrCode::with_error_correction_level(&qr.raw, level)
        .map_err(|e| io::Error::other(format!("the QR code content cannot be drawn: {e}")))?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color != Color::Dark {
            continue;
        }
        let (mx, my) = (i % modules + QUIET, i / modules + QUIET);
        for y in my * SCALE..(my + 1) * SCALE {
            pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
        }
    }
    let mut out = Vec::new();
    {
        let side = u32::try_from(side).map_err(io::Error::other)?;
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(io::Error::other)?;
        writer.write_image_data(&pixels).map_err(io::Error::other)?;
        writer.finish().map_err(io::Error::other)?;
    }
    Ok(out)
}

/// The earlier `--secrets-out` folder (newest first) whose index holds a secret for `user_id`
/// issued no earlier than a minute before `started` (clocks differ), judged by the QR code's
/// start for a create; a reset's line (no start) counts when the index was written after
/// `started`. `None` when no folder has it: its value was lost.
pub fn delivered_in(folders: &[PathBuf], user_id: &str, started: DateTime<Utc>) -> Option<PathBuf> {
    let since = started - chrono::Duration::minutes(1);
    folders.iter().rev().find_map(|folder| {
        let index = folder.join(INDEX);
        let modified: DateTime<Utc> = std::fs::metadata(&index).ok()?.modified().ok()?.into();
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(&index)
            .ok()?;
        let found = reader.records().map_while(Result::ok).any(|row| {
            let id = row.get(1).map(|id| id.trim_start_matches('\''));
            let recent = match row.get(3) {
                Some("") => modified >= since,
                Some(text) => DateTime::parse_from_rfc3339(text).is_ok_and(|s| s >= since),
                None => false,
            };
            // A line torn by a crash lacks fields: its secret is not whole.
            row.len() == 5 && recent && id.is_some_and(|id| id.eq_ignore_ascii_case(user_id))
        });
        found.then(|| folder.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_ids_inside_the_folder() {
        assert_eq!(safe_stem("5b04-AB_c"), "5b04-AB_c");
        assert_eq!(safe_stem("../../etc/passwd"), "______etc_passwd");
        assert_eq!(safe_stem(""), "user");
    }

    #[test]
    fn a_png_is_drawn_with_a_quiet_zone_and_whole_modules() {
        let qr = QrContent {
            raw: b"contoso qr content".to_vec(),
            level: "l".into(),
        };
        let png = render_png(&qr).unwrap();
        let decoder = png::Decoder::new(png.as_slice());
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        // Version 1 (21 modules) holds 17 bytes at L; 18 need version 2 (25 modules).
        assert_eq!(info.width as usize, (25 + 2 * QUIET) * SCALE);
        // The quiet zone is white, the finder pattern's corner black.
        assert_eq!(buf[0], 255);
        let corner = QUIET * SCALE;
        assert_eq!(buf[corner * info.width as usize + corner], 0);
    }
}
