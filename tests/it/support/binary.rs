//! Running the `authbulk` binary: nothing of the developer's shell that changes what it does
//! (no `AZURE_*` or `IDENTITY_*` credential, no `RUST_LOG`, no `NO_COLOR`), stdin closed, and a
//! working folder that is never the repository.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use authbulk::sim::SimHandle;

/// A scratch folder under the target directory, the working folder of runs whose test names
/// no folder of its own (what a run writes there by default stays out of the repository).
fn scratch() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("it-scratch");
    std::fs::create_dir_all(&dir).expect("the scratch folder");
    dir
}

/// The binary, clean of the shell's settings; a test adds its own with `.env(...)` and may name
/// its own working folder with `.current_dir(...)`.
pub fn authbulk() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_authbulk"));
    for (key, _) in std::env::vars() {
        if key.starts_with("AZURE_") || key.starts_with("IDENTITY_") {
            command.env_remove(key);
        }
    }
    command
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .current_dir(scratch())
        .stdin(Stdio::null());
    command
}

/// `authbulk <args> --graph-url <sim>` in `dir`, with the simulator's credentials in the
/// environment.
pub fn against(sim: &SimHandle, dir: &Path, args: &[&str]) -> Output {
    against_with_secret(sim, dir, args, sim.client_secret())
}

/// The same with another client secret.
pub fn against_with_secret(sim: &SimHandle, dir: &Path, args: &[&str], secret: &str) -> Output {
    authbulk()
        .current_dir(dir)
        .args(args)
        .args(["--graph-url", sim.url()])
        .env("AZURE_TENANT_ID", sim.tenant_id())
        .env("AZURE_CLIENT_ID", sim.client_id())
        .env("AZURE_CLIENT_SECRET", secret)
        .env("AZURE_AUTHORITY_HOST", sim.url())
        .output()
        .expect("run authbulk")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A run's standard error as text.
pub fn stderr(output: &Output) -> String {
    text(&output.stderr)
}

/// Send SIGINT (what Ctrl-C sends) to a child process.
pub fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
}
