//! Where `authbulk login` keeps an admin's sign-in: who signed in, to which tenant and app
//! (`signin.json` under the user's state directory, `$XDG_STATE_HOME/authbulk` or
//! `~/.local/state/authbulk`, readable by the user only), and the refresh token, which is a
//! secret: in the operating system's credential store (macOS Keychain, Windows Credential
//! Manager, through the `keyring` crate) or, where there is none, in the same file, which is
//! created with mode 0600 in a 0700 folder.
//!
//! On Linux the only store the `keyring` build here has is the kernel keyring, which lives
//! only as long as the login session (and often not at all in containers and CI), so the file
//! is the default there; `AUTHBULK_TOKEN_STORE=keyring` asks for the kernel keyring anyway and
//! `AUTHBULK_TOKEN_STORE=file` forces the file everywhere (tests, headless hosts).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::AuthError;
use super::credential::Secret;

/// The environment variable that chooses the store (`file` or `keyring`).
pub const TOKEN_STORE_VARIABLE: &str = "AUTHBULK_TOKEN_STORE";

/// The keyring service name of authbulk's entries.
const KEYRING_SERVICE: &str = "authbulk";
/// The keyring entry of the refresh token.
const KEYRING_USER: &str = "sign-in refresh token";
/// The file name of the sign-in record.
const RECORD_FILE: &str = "signin.json";

/// Where a refresh token is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// The operating system's credential store.
    Keyring,
    /// The record file itself (mode 0600).
    File,
}

/// Who signed in, to what; the refresh token travels apart, as a [`Secret`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    /// The tenant the sign-in belongs to (the token's `tid`, or what `--tenant` named).
    pub tenant: String,
    /// The public client app signed in to.
    pub client_id: String,
    /// The cloud's command-line name (`global`, `usgov`, ...).
    pub cloud: String,
    /// The signed-in user's principal name, when the token named one.
    pub user: Option<String>,
    /// Where the refresh token is.
    pub store: StoreKind,
}

/// The record as written: the refresh token only when the file is its store.
#[derive(Serialize, Deserialize)]
struct Record {
    #[serde(flatten)]
    sign_in: SignIn,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// The sign-in store of one user account.
#[derive(Debug, Clone)]
pub struct SignInStore {
    dir: PathBuf,
    preferred: StoreKind,
}

impl SignInStore {
    /// The store under the user's state directory, as `env` names it; `None` when neither
    /// `XDG_STATE_HOME` nor `HOME` (or `LOCALAPPDATA` on Windows) is set.
    pub fn locate(env: &impl Fn(&str) -> Option<String>) -> anyhow::Result<Option<Self>> {
        let dir = env("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|home| Path::new(&home).join(".local").join("state")))
            .or_else(|| env("LOCALAPPDATA").map(PathBuf::from));
        let Some(dir) = dir else {
            return Ok(None);
        };
        let preferred = match env(TOKEN_STORE_VARIABLE).as_deref().map(str::trim) {
            Some("file") => StoreKind::File,
            Some("keyring") => StoreKind::Keyring,
            Some(other) => {
                anyhow::bail!("{TOKEN_STORE_VARIABLE}={other:?}: use \"file\" or \"keyring\"")
            }
            None if cfg!(any(target_os = "macos", windows)) => StoreKind::Keyring,
            None => StoreKind::File,
        };
        Ok(Some(SignInStore {
            dir: dir.join("authbulk"),
            preferred,
        }))
    }

    /// The record file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(RECORD_FILE)
    }

    /// The stored sign-in, if there is one.
    pub fn load(&self) -> anyhow::Result<Option<SignIn>> {
        Ok(self.read()?.map(|r| r.sign_in))
    }

    fn read(&self) -> anyhow::Result<Option<Record>> {
        let path = self.path();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => anyhow::bail!("the stored sign-in {}: {err}", path.display()),
        };
        let record: Record = serde_json::from_str(&text).map_err(|err| {
            anyhow::anyhow!(
                "the stored sign-in {} is unreadable ({err}); run `authbulk logout` and `authbulk login`",
                path.display()
            )
        })?;
        Ok(Some(record))
    }

    /// The refresh token of the stored sign-in.
    pub fn refresh_token(&self) -> Result<Secret, AuthError> {
        let gone = |why: String| {
            AuthError::Refused(format!(
                "the stored sign-in has no refresh token ({why}); run `authbulk login` again"
            ))
        };
        let record = self
            .read()
            .map_err(|err| AuthError::Unavailable(format!("{err:#}")))?
            .ok_or_else(|| gone("nobody is signed in".into()))?;
        match record.sign_in.store {
            StoreKind::File => record
                .refresh_token
                .map(Secret::new)
                .ok_or_else(|| gone(format!("{} holds none", self.path().display()))),
            StoreKind::Keyring => keyring_entry()
                .and_then(|e| e.get_password())
                .map(Secret::new)
                .map_err(|err| gone(format!("credential store: {err}"))),
        }
    }

    /// Store a sign-in and its refresh token (replacing any earlier one). The token goes to
    /// the preferred store; if the credential store refuses it, to the file, with a warning.
    pub fn save(&self, sign_in: &SignIn, refresh_token: &Secret) -> anyhow::Result<StoreKind> {
        let mut kind = self.preferred;
        if kind == StoreKind::Keyring
            && let Err(err) = keyring_entry().and_then(|e| e.set_password(refresh_token.expose()))
        {
            tracing::warn!(
                "the operating system's credential store refused the refresh token ({err}); keeping it in {} (readable by you only)",
                self.path().display()
            );
            kind = StoreKind::File;
        }
        let record = Record {
            sign_in: SignIn {
                store: kind,
                ..sign_in.clone()
            },
            refresh_token: (kind == StoreKind::File).then(|| refresh_token.expose().to_string()),
        };
        let text = serde_json::to_string_pretty(&record)?;
        write_private(&self.dir, &self.path(), text.as_bytes())?;
        Ok(kind)
    }

    /// Replace the refresh token of the stored sign-in (Entra rotates it on every use).
    pub fn rotate(&self, refresh_token: &Secret) -> anyhow::Result<()> {
        if let Some(record) = self.read()? {
            self.save(&record.sign_in, refresh_token)?;
        }
        Ok(())
    }

    /// Remove everything stored: the record file and the credential store's entry. Returns
    /// what was removed, for the user.
    pub fn remove(&self) -> anyhow::Result<Vec<String>> {
        let mut removed = Vec::new();
        // Whatever the record says, try the credential store: a record lost by hand must not
        // leave a token behind.
        if (cfg!(any(target_os = "macos", windows)) || self.preferred == StoreKind::Keyring)
            && let Ok(entry) = keyring_entry()
            && entry.delete_credential().is_ok()
        {
            removed.push("the refresh token in the credential store".to_string());
        }
        let path = self.path();
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(path.display().to_string()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => anyhow::bail!("removing {}: {err}", path.display()),
        }
        Ok(removed)
    }
}

fn keyring_entry() -> keyring::Result<keyring::Entry> {
    keyring::Entry::new(KEYRING_SERVICE, KEYRING_USER)
}

/// Write `bytes` to `path` readable by the user only: a 0700 folder, a 0600 file written
/// beside it and renamed over it, so no reader ever sees a half-written or wider file.
pub(crate) fn write_private(dir: &Path, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|err| anyhow::anyhow!("creating {}: {err}", dir.display()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let name = path
        .file_name()
        .map_or_else(|| RECORD_FILE.into(), |n| n.to_string_lossy());
    let temp = dir.join(format!(".{name}.{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let result = options
        .open(&temp)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&temp, path));
    if let Err(err) = result {
        let _ = std::fs::remove_file(&temp);
        anyhow::bail!("writing {}: {err}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_store_is_private_and_logout_removes_it() {
        let home = tempfile::tempdir().expect("tempdir");
        let state = home.path().to_string_lossy().into_owned();
        let env = |name: &str| match name {
            "XDG_STATE_HOME" => Some(state.clone()),
            TOKEN_STORE_VARIABLE => Some("file".to_string()),
            _ => None,
        };
        let store = SignInStore::locate(&env).expect("env").expect("store");
        assert!(store.load().expect("load").is_none());
        let sign_in = SignIn {
            tenant: "t".into(),
            client_id: "c".into(),
            cloud: "global".into(),
            user: Some("admin@contoso.com".into()),
            store: StoreKind::File,
        };
        let kind = store.save(&sign_in, &Secret::new("rt-1")).expect("save");
        assert_eq!(kind, StoreKind::File);
        assert_eq!(store.load().expect("load"), Some(sign_in));
        store.rotate(&Secret::new("rt-2")).expect("rotate");
        assert_eq!(store.refresh_token().expect("rt").expose(), "rt-2");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path())
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(store.remove().expect("remove").len(), 1);
        assert!(store.load().expect("load").is_none());
    }
}
