//! The run's files (issue 12, L1 to L3): the report, journal and summary hold phone numbers and
//! e-mail addresses, so they are created mode 0600 whatever the umask, never written through a
//! symlink, never overwritten; a `--summary-json` that fails after the apply is a warning, not
//! exit 2 ("nothing began").

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authbulk::sim::SimConfig;

use crate::support::proxy::{Rig, Tamper, path};

fn mode(path: &str) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `command` run by a shell with `umask 000` first.
fn with_open_umask(command: &Command) -> Command {
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => shell.env(key, value),
            None => shell.env_remove(key),
        };
    }
    shell.stdin(Stdio::null());
    shell
}

#[test]
fn run_files_are_private_and_never_written_through_a_symlink() {
    // A slow service, so the run can be stopped (SIGTERM) with its journal kept for --resume.
    let rig = Rig::start_with(
        SimConfig {
            users: 40,
            unthrottled: true,
            latency: Some((Duration::from_millis(100), Duration::from_millis(200))),
            ..SimConfig::default()
        },
        Arc::new(|_, _| Tamper::Pass),
    );
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.csv");
    let mut text = String::from("user,action,email\n");
    for i in 0..40 {
        text.push_str(&format!(
            "{},set-email,files{i}@example.org\n",
            authbulk::sim::upn(i)
        ));
    }
    std::fs::write(&job, text).unwrap();
    let job = job.to_str().unwrap();
    let report = path(dir.path(), "r.csv");
    let journal = format!("{report}.journal");
    let summary = path(dir.path(), "s.json");
    let run = rig.run(&[
        job,
        "--yes",
        "--report",
        &report,
        "--summary-json",
        &summary,
        "--concurrency",
        "1",
    ]);
    let child = with_open_umask(&run)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while rig.sim.counters().writes < 1 {
        assert!(Instant::now() < deadline, "no writes within 60 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The shell execs authbulk, so the child's pid is authbulk's.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in [&report, &journal, &summary] {
        assert_eq!(mode(file), 0o600, "{file}");
    }

    // --resume with a symlink in the report's place: the link is replaced, its target kept.
    let victim = path(dir.path(), "victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::remove_file(&report).unwrap();
    std::os::unix::fs::symlink(&victim, &report).unwrap();
    let out = rig
        .run(&[job, "--yes", "--report", &report, "--resume"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(
        !std::fs::symlink_metadata(&report)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(mode(&report), 0o600);

    // --summary-json: an existing file (or a link) is refused before any request...
    let writes = rig.sim.counters().writes;
    std::os::unix::fs::symlink(&victim, path(dir.path(), "link.json")).unwrap();
    let out = rig
        .run(&[
            job,
            "--yes",
            "--report",
            &path(dir.path(), "r2.csv"),
            "--summary-json",
            &path(dir.path(), "link.json"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(rig.sim.counters().writes, writes);

    // ...and one that cannot be written after the apply is a warning: the run's exit code stays.
    let job2 = dir.path().join("job2.csv");
    std::fs::write(
        &job2,
        format!(
            "user,action,email\n{},set-email,late@example.org\n",
            authbulk::sim::upn(4)
        ),
    )
    .unwrap();
    let out = rig
        .run(&[
            job2.to_str().unwrap(),
            "--yes",
            "--report",
            &path(dir.path(), "r3.csv"),
            "--summary-json",
            "/nonexistent-authbulk-dir/s.json",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: cannot create --summary-json"),
        "{stderr}"
    );
}
