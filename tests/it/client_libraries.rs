//! Third-party client libraries against the real server: `tests/clients/nio_smoke.py`
//! drives matrix-nio (Python) through login, createRoom, invite, join, send and /sync.
//! Needs a Python with matrix-nio (`.ci/run` makes one in `~/.cache/stoa-venv`); the
//! test skips, passing, when there is none.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{Backend, Server};

const NIO_SMOKE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/nio_smoke.py");

/// The script bounds itself at 60 s; this only catches a wedged interpreter.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(90);

fn can_import_nio(python: &PathBuf) -> bool {
    Command::new(python)
        .args(["-c", "import nio"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `STOA_TEST_PYTHON` if set (it must have nio), else the CI venv's Python if it has nio.
fn python_with_nio() -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os("STOA_TEST_PYTHON").filter(|p| !p.is_empty()) {
        let python = PathBuf::from(explicit);
        assert!(can_import_nio(&python), "STOA_TEST_PYTHON={} cannot `import nio`", python.display());
        return Some(python);
    }
    let home = std::env::var_os("HOME")?;
    let venv = PathBuf::from(home).join(".cache/stoa-venv/bin/python");
    (venv.exists() && can_import_nio(&venv)).then_some(venv)
}

#[tokio::test]
async fn matrix_nio_smoke() {
    let Some(python) = python_with_nio() else {
        eprintln!("skipped: matrix-nio not installed (see .ci/run)");
        return;
    };
    let s = Server::start_default(Backend::Fjall).await;
    let alice = s.register("alice", "alice-password").await;
    let bob = s.register("bob", "bob-password").await;

    let child = Command::new(&python)
        .arg(NIO_SMOKE)
        .args([&s.base, &alice.user_id, "alice-password", &bob.user_id, "bob-password"])
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", python.display()));
    let pid = child.id();
    let waited =
        tokio::time::timeout(SCRIPT_DEADLINE, tokio::task::spawn_blocking(|| child.wait_with_output())).await;
    let output = match waited {
        Ok(joined) => joined.expect("wait thread").expect("wait for nio_smoke.py"),
        Err(_) => {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            panic!("nio_smoke.py did not exit within {SCRIPT_DEADLINE:?}");
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Shown with --nocapture, and by the test runner on failure; a panic here also makes
    // the harness print the server log (`Server`'s Drop).
    println!("--- nio_smoke.py stdout\n{stdout}--- nio_smoke.py stderr\n{stderr}");
    assert!(
        output.status.success(),
        "nio_smoke.py exited with {}\n--- stdout\n{stdout}--- stderr\n{stderr}",
        output.status
    );
}
