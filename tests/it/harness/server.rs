//! Spawning, stopping and restarting real `stoa` processes on a temporary data directory.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use super::config::{Overrides, StorageChoice};
use super::postgres::PgDatabase;

/// The storage backend a test runs against.
#[derive(Clone, Debug)]
pub enum Backend {
    Fjall,
    #[cfg_attr(not(feature = "rocksdb"), allow(dead_code))]
    Rocksdb,
    /// Admin URL of a PostgreSQL server; each test server gets a fresh database on it.
    Postgres(String),
}

impl Backend {
    /// The PostgreSQL backend if `STOA_TEST_POSTGRES_URL` is set.
    pub fn postgres_from_env() -> Option<Backend> {
        std::env::var("STOA_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()).map(Backend::Postgres)
    }

    /// Whether the CLI may only touch the store while the server is stopped.
    pub fn is_embedded(&self) -> bool {
        !matches!(self, Backend::Postgres(_))
    }
}

/// How to start a server: backend plus config overrides.
pub struct ServerBuilder {
    backend: Backend,
    overrides: Overrides,
    fd_limit: Option<u64>,
}

impl ServerBuilder {
    /// Sets `section.key` to a TOML value (strings, integers, booleans, floats…).
    pub fn set(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        self.overrides.set(key, value.into());
        self
    }

    /// Sets `section.key` from TOML syntax, e.g. `{ per_second = 0.01, burst = 2 }`.
    pub fn set_toml(mut self, key: &str, raw: &str) -> Self {
        self.overrides.set_toml(key, raw);
        self
    }

    /// Starts the process with this open-file limit (soft and hard), as `ulimit -n`.
    pub fn fd_limit(mut self, limit: u64) -> Self {
        self.fd_limit = Some(limit);
        self
    }

    /// Creates the data directory, database and config file, without starting.
    pub async fn build(self) -> Server {
        let dir = tempfile::Builder::new().prefix("stoa-it-").tempdir().expect("tempdir");
        let (storage, pg) = match &self.backend {
            Backend::Fjall => (StorageChoice::Embedded("fjall"), None),
            Backend::Rocksdb => (StorageChoice::Embedded("rocksdb"), None),
            Backend::Postgres(admin_url) => {
                let db = PgDatabase::create(admin_url).await;
                (StorageChoice::Postgres(db.url.clone()), Some(db))
            }
        };
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, self.overrides.render(dir.path(), &storage)).expect("write config");
        let log_path = dir.path().join("server.log");
        Server {
            base: String::new(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("reqwest client"),
            config_path,
            log_path,
            child: None,
            fd_limit: self.fd_limit,
            _pg: pg,
            dir,
        }
    }

    /// Builds and starts the server, waiting until it answers.
    pub async fn start(self) -> Server {
        let mut server = self.build().await;
        server.start().await;
        server
    }
}

/// A `stoa` process (or its stopped data) owned by one test.
pub struct Server {
    /// `http://127.0.0.1:PORT`, set while running.
    pub base: String,
    pub http: reqwest::Client,
    config_path: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    fd_limit: Option<u64>,
    // Dropped after the process is gone (field order: dir last).
    _pg: Option<PgDatabase>,
    dir: tempfile::TempDir,
}

impl Server {
    pub fn builder(backend: Backend) -> ServerBuilder {
        ServerBuilder { backend, overrides: Overrides::default(), fd_limit: None }
    }

    /// A server with the default test configuration, running.
    pub async fn start_default(backend: Backend) -> Server {
        Self::builder(backend).start().await
    }

    /// Everything the server processes wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Starts (or restarts) the process on the same data and waits until it answers.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "server already running");
        let addr_file = self.dir.path().join("addr");
        let _ = std::fs::remove_file(&addr_file);
        let mut log = OpenOptions::new().create(true).append(true).open(&self.log_path).expect("open log");
        writeln!(log, "===== starting stoa serve =====").ok();
        let err_log = log.try_clone().expect("clone log handle");
        let mut cmd = match self.fd_limit {
            // The shell lowers the limit, then becomes stoa (same process ID).
            Some(limit) => {
                let mut cmd = Command::new("sh");
                cmd.arg("-c")
                    .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                    .arg(env!("CARGO_BIN_EXE_stoa"));
                cmd
            }
            None => Command::new(env!("CARGO_BIN_EXE_stoa")),
        };
        scrub_env(&mut cmd);
        let child = cmd
            .arg("serve")
            .arg("--config")
            .arg(&self.config_path)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err_log))
            .spawn()
            .expect("spawn stoa");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            if let Ok(text) = std::fs::read_to_string(&addr_file) {
                let text = text.trim();
                if !text.is_empty() && text.parse::<std::net::SocketAddr>().is_ok() {
                    break text.to_owned();
                }
            }
            self.check_alive_before(deadline, "write its bound address file");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        self.base = format!("http://{addr}");
        loop {
            let url = format!("{}/_matrix/client/versions", self.base);
            if let Ok(resp) = self.http.get(&url).send().await
                && resp.status().as_u16() == 200
            {
                return;
            }
            self.check_alive_before(deadline, "answer GET /_matrix/client/versions with 200");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn check_alive_before(&mut self, deadline: Instant, what: &str) {
        if let Some(child) = self.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            self.child = None;
            panic!("stoa exited ({status}) before it would {what}; log:\n{}", self.log());
        }
        if Instant::now() > deadline {
            panic!("stoa did not {what} within 30 s; log:\n{}", self.log());
        }
    }

    /// The running process's ID (to kill it from another task).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: the process dies without any chance to flush.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits (up to 40 s) for the process to exit; returns its status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server running");
        let status =
            Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("stoa did not exit within 40 s of SIGTERM; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops gracefully and asserts a clean exit.
    pub fn stop(&mut self) {
        let status = self.terminate();
        assert!(status.success(), "stoa exited with {status} after SIGTERM; log:\n{}", self.log());
    }

    /// Runs `stoa <args…> --config <this server's config>` to completion, feeding `stdin`.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stoa"));
        cmd.args(args).arg("--config").arg(&self.config_path);
        self.run_cli(cmd, stdin)
    }

    /// Runs `stoa --config <config> <args…>` (the option before the subcommand).
    pub fn cli_config_first(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_stoa"));
        cmd.arg("--config").arg(&self.config_path).args(args);
        self.run_cli(cmd, stdin)
    }

    fn run_cli(&self, mut cmd: Command, stdin: Option<&str>) -> Output {
        scrub_env(&mut cmd);
        cmd.env_remove("RUST_LOG").stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn stoa cli");
        {
            let mut input = child.stdin.take().expect("stdin");
            if let Some(text) = stdin {
                let _ = input.write_all(text.as_bytes());
            }
        }
        let output = child.wait_with_output().expect("wait for stoa cli");
        if let Ok(mut log) = OpenOptions::new().append(true).open(&self.log_path) {
            let _ = writeln!(
                log,
                "===== cli {:?} -> {}\n--- stdout\n{}--- stderr\n{}",
                cmd.get_args().collect::<Vec<_>>(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        output
    }

    /// Writes `content` to a file in the server's directory and returns its path.
    pub fn write_file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        let mut f = File::create(&path).expect("create file");
        f.write_all(content.as_bytes()).expect("write file");
        path
    }
}

/// Keeps the developer's environment (`STOA__…` overrides, `STOA_CONFIG`) out of tests.
fn scrub_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("STOA_") && key != "STOA_TEST_POSTGRES_URL" {
            cmd.env_remove(&key);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "===== stoa log ({}) =====\n{}\n===== end of stoa log =====",
                self.log_path.display(),
                self.log()
            );
        }
    }
}
