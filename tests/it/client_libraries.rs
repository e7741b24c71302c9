//! Third-party client libraries against the real server: `tests/clients/nio_smoke.py`
//! drives matrix-nio (Python) through login, createRoom, invite, join, send and /sync.
//! Needs a Python with matrix-nio (`tests/clients/install.sh` makes one in
//! `~/.cache/stoa-venv`, or set `STOA_TEST_PYTHON`).
//!
//! `tests/clients/js/js_sdk_smoke.mjs` drives matrix-js-sdk (Element's SDK) from login
//! to the PREPARED sync state, then send, edit, redact and receive. It needs Node and
//! `npm ci` in `tests/clients/js` (`tests/clients/install.sh` does it).
//!
//! A missing client library fails its test: a skipped client test would hide a broken
//! client.

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

/// `STOA_TEST_PYTHON` if set, else the venv `tests/clients/install.sh` makes; it must
/// be able to `import nio`.
fn python_with_nio() -> PathBuf {
    let python = match std::env::var_os("STOA_TEST_PYTHON").filter(|p| !p.is_empty()) {
        Some(explicit) => PathBuf::from(explicit),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/stoa-venv/bin/python")
        }
    };
    assert!(
        can_import_nio(&python),
        "{} cannot `import nio`: run tests/clients/install.sh (or set STOA_TEST_PYTHON)",
        python.display()
    );
    python
}

#[tokio::test]
async fn matrix_nio_smoke() {
    let python = python_with_nio();
    let s = Server::start_default(Backend::Fjall).await;
    let alice = s.register("alice", "alice-password").await;
    let bob = s.register("bob", "bob-password").await;
    let args = [NIO_SMOKE, &s.base, &alice.user_id, "alice-password", &bob.user_id, "bob-password"];
    run_script(&python, &args, "nio_smoke.py").await;
}

const JS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/js");

/// Runs `program args…`, bounded by [`SCRIPT_DEADLINE`]; panics with its output unless
/// it exits successfully. The output is also printed (shown with `--nocapture`); a
/// panic makes the harness print the server log too (`Server`'s Drop).
async fn run_script(program: &std::path::Path, args: &[&str], name: &str) {
    let child = Command::new(program)
        .args(args)
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {} for {name}: {e}", program.display()));
    let pid = child.id();
    let waited =
        tokio::time::timeout(SCRIPT_DEADLINE, tokio::task::spawn_blocking(|| child.wait_with_output())).await;
    let output = match waited {
        Ok(joined) => joined.expect("wait thread").unwrap_or_else(|e| panic!("wait for {name}: {e}")),
        Err(_) => {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            panic!("{name} did not exit within {SCRIPT_DEADLINE:?}");
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("--- {name} stdout\n{stdout}--- {name} stderr\n{stderr}");
    assert!(
        output.status.success(),
        "{name} exited with {}\n--- stdout\n{stdout}--- stderr\n{stderr}",
        output.status
    );
}

#[tokio::test]
async fn matrix_js_sdk_smoke() {
    let node = PathBuf::from(std::env::var_os("STOA_TEST_NODE").unwrap_or_else(|| "node".into()));
    let version = Command::new(&node).arg("--version").stdin(Stdio::null()).output();
    assert!(
        version.as_ref().is_ok_and(|v| v.status.success()),
        "no usable Node at {} (set STOA_TEST_NODE, or install Node 20+): {version:?}",
        node.display()
    );
    let sdk = PathBuf::from(JS_DIR).join("node_modules/matrix-js-sdk/package.json");
    assert!(
        sdk.exists(),
        "matrix-js-sdk is not installed: run tests/clients/install.sh (npm ci in {JS_DIR})"
    );
    let s = Server::start_default(Backend::Fjall).await;
    let alice = s.register("alice", "alice-password").await;
    let bob = s.register("bob", "bob-password").await;
    let script = format!("{JS_DIR}/js_sdk_smoke.mjs");
    let args = [script.as_str(), &s.base, &alice.user_id, "alice-password", &bob.user_id, "bob-password"];
    run_script(&node, &args, "js_sdk_smoke.mjs").await;
}
