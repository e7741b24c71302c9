//! The embedded adapter: every store trait over an ordered key-value engine (fjall or
//! RocksDB) in one directory, for a single process.
//!
//! The adapter owns the key layouts (see [`engine::Table`]) and the concurrency rules:
//! engine calls block, so each trait method runs its engine work on a
//! `spawn_blocking` thread; read-modify-write methods take a [`WriteLock`] inside that
//! thread and commit one atomic batch, so concurrent callers in this process serialize.
//! The engines' directory locks keep other processes out.

mod account_data;
mod accounts;
mod codec;
mod device_lists;
mod devices;
mod directory;
mod e2ee_keys;
mod engine;
mod filters;
#[cfg(test)]
pub(crate) mod fixture;
mod fjall;
mod key_backup;
mod moderation;
mod profiles;
mod relations;
#[cfg(feature = "rocksdb")]
mod rocksdb;
mod rooms;
mod streams;
mod to_device;
mod uia;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use self::engine::{Batch, KvEngine, Table};
use self::rooms::state_groups::StateGroupIds;
use self::streams::StreamPositions;
use super::{Error, SCHEMA_VERSION, StoreLifecycle};

/// Which key-value engine holds an embedded store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Pure Rust; the default.
    Fjall,
    /// RocksDB, built with the `rocksdb` feature.
    #[cfg(feature = "rocksdb")]
    Rocksdb,
}

/// The embedded store: implements every store trait. Open it once per process.
pub struct EmbeddedStore {
    engine: Arc<dyn KvEngine>,
    locks: WriteLocks,
    positions: Arc<StreamPositions>,
    state_group_ids: Arc<StateGroupIds>,
}

/// Meta-table key of the schema version the store was written with (u32 big-endian).
const SCHEMA_VERSION_KEY: &[u8] = b"schema_version";

impl EmbeddedStore {
    /// Opens the store in `path` (creating the directory and an empty store if needed).
    ///
    /// Fails with [`Error::Open`] when another process (or another opening in this one)
    /// holds the store, and with [`Error::SchemaTooNew`] when a newer Stoa wrote it.
    pub async fn open(engine: Engine, path: &Path) -> Result<Arc<EmbeddedStore>, Error> {
        let path = path.to_path_buf();
        let store = tokio::task::spawn_blocking(move || EmbeddedStore::open_blocking(engine, &path))
            .await
            .map_err(|error| Error::Open(format!("the task opening the store failed: {error}")))??;
        Ok(Arc::new(store))
    }

    fn open_blocking(engine: Engine, path: &Path) -> Result<EmbeddedStore, Error> {
        let engine = open_engine(engine, path)?;
        check_schema_version(engine.as_ref())?;
        let positions = Arc::new(StreamPositions::load(engine.as_ref())?);
        let state_group_ids = Arc::new(StateGroupIds::load(engine.as_ref())?);
        Ok(EmbeddedStore { engine, locks: WriteLocks::new(), positions, state_group_ids })
    }

    /// Runs `work` against the engine on a blocking thread.
    async fn run<T, F>(&self, work: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&dyn KvEngine) -> Result<T, Error> + Send + 'static,
    {
        let engine = Arc::clone(&self.engine);
        tokio::task::spawn_blocking(move || work(engine.as_ref()))
            .await
            .map_err(|error| Error::Backend(format!("a storage task failed: {error}")))?
    }

    /// Runs a read-modify-write `work` on a blocking thread while holding `lock`, so no
    /// other caller of the same lock reads between its read and its batch. The lock is
    /// taken on the blocking thread: runtime threads never wait for it.
    async fn run_locked<T, F>(&self, lock: Arc<Mutex<()>>, work: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&dyn KvEngine) -> Result<T, Error> + Send + 'static,
    {
        self.run(move |engine| {
            let _guard = hold(&lock);
            work(engine)
        })
        .await
    }
}

fn open_engine(engine: Engine, path: &Path) -> Result<Arc<dyn KvEngine>, Error> {
    std::fs::create_dir_all(path).map_err(|error| {
        Error::Open(format!("cannot create the store directory {}: {error}", path.display()))
    })?;
    Ok(match engine {
        Engine::Fjall => Arc::new(fjall::FjallEngine::open(path)?),
        #[cfg(feature = "rocksdb")]
        Engine::Rocksdb => Arc::new(rocksdb::RocksdbEngine::open(path)?),
    })
}

/// Records [`SCHEMA_VERSION`] in a new store; refuses a store a newer Stoa wrote.
fn check_schema_version(engine: &dyn KvEngine) -> Result<(), Error> {
    let Some(stored) = engine.get(Table::Meta, SCHEMA_VERSION_KEY)? else {
        return write_schema_version(engine, SCHEMA_VERSION);
    };
    let found = u32::from_be_bytes(
        stored
            .as_slice()
            .try_into()
            .map_err(|_| Error::Corrupt("the stored schema version is not 4 bytes".to_owned()))?,
    );
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew { found, supported: SCHEMA_VERSION });
    }
    // Version 1 is the first; an older one (0) can only be damage. Later versions will
    // migrate here, in order, before the store is used.
    if found < 1 {
        return Err(Error::Corrupt(format!("unknown schema version {found}")));
    }
    Ok(())
}

fn write_schema_version(engine: &dyn KvEngine, version: u32) -> Result<(), Error> {
    let mut batch = Batch::new();
    batch.put(Table::Meta, SCHEMA_VERSION_KEY.to_vec(), version.to_be_bytes().to_vec());
    engine.write(batch)
}

/// Locks that serialize read-modify-write methods. Accounts and UIA sessions are
/// low-volume and share one lock each; devices and account data are per-user, so their
/// locks are striped by user ID and different users rarely wait for each other. Rooms
/// have one lock (see `rooms.rs` for why). Aliases and the public room directory are
/// rarely written and share one lock.
struct WriteLocks {
    accounts: Arc<Mutex<()>>,
    uia: Arc<Mutex<()>>,
    rooms: Arc<Mutex<()>>,
    directory: Arc<Mutex<()>>,
    devices: Vec<Arc<Mutex<()>>>,
    account_data: Vec<Arc<Mutex<()>>>,
    /// E2EE keys and key backups, striped by user.
    e2ee: Vec<Arc<Mutex<()>>>,
    /// To-device queues: one send touches many users' queues, so one lock.
    to_device: Arc<Mutex<()>>,
    device_lists: Arc<Mutex<()>>,
}

const LOCK_STRIPES: usize = 16;

impl WriteLocks {
    fn new() -> Self {
        let stripes = || (0..LOCK_STRIPES).map(|_| Arc::new(Mutex::new(()))).collect();
        WriteLocks {
            accounts: Arc::new(Mutex::new(())),
            uia: Arc::new(Mutex::new(())),
            rooms: Arc::new(Mutex::new(())),
            directory: Arc::new(Mutex::new(())),
            devices: stripes(),
            account_data: stripes(),
            e2ee: stripes(),
            to_device: Arc::new(Mutex::new(())),
            device_lists: Arc::new(Mutex::new(())),
        }
    }

    fn accounts(&self) -> Arc<Mutex<()>> {
        Arc::clone(&self.accounts)
    }

    fn uia(&self) -> Arc<Mutex<()>> {
        Arc::clone(&self.uia)
    }

    fn rooms(&self) -> Arc<Mutex<()>> {
        Arc::clone(&self.rooms)
    }

    fn directory(&self) -> Arc<Mutex<()>> {
        Arc::clone(&self.directory)
    }

    fn devices(&self, user_id: &str) -> Arc<Mutex<()>> {
        stripe(&self.devices, user_id)
    }

    fn account_data(&self, user_id: &str) -> Arc<Mutex<()>> {
        stripe(&self.account_data, user_id)
    }

    fn e2ee(&self, user_id: &str) -> Arc<Mutex<()>> {
        stripe(&self.e2ee, user_id)
    }

    fn to_device(&self) -> Arc<Mutex<()>> {
        Arc::clone(&self.to_device)
    }

    fn device_lists(&self) -> Arc<Mutex<()>> {
        Arc::clone(&self.device_lists)
    }
}

fn stripe(stripes: &[Arc<Mutex<()>>], user_id: &str) -> Arc<Mutex<()>> {
    let mut hasher = DefaultHasher::new();
    user_id.hash(&mut hasher);
    let index = usize::try_from(hasher.finish() % LOCK_STRIPES as u64).unwrap_or_default();
    // `stripes` always has LOCK_STRIPES entries; the fallback only satisfies the types.
    stripes.get(index).or(stripes.first()).map(Arc::clone).unwrap_or_default()
}

/// Takes `lock`. A poisoned lock is still usable: it guards no data, and a panicking
/// holder never committed half a batch (batches are atomic).
fn hold(lock: &Mutex<()>) -> MutexGuard<'_, ()> {
    lock.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl StoreLifecycle for EmbeddedStore {
    async fn flush(&self) -> Result<(), Error> {
        self.run(|engine| engine.flush()).await
    }

    fn backend_name(&self) -> &'static str {
        self.engine.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn second_open_is_refused(engine: Engine) {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = EmbeddedStore::open(engine, dir.path()).await.expect("first open");
        let second = EmbeddedStore::open(engine, dir.path()).await;
        assert!(
            matches!(&second, Err(Error::Open(message)) if message.contains("another stoa process")),
            "second open: {:?}",
            second.as_ref().err()
        );
        drop(first);
        EmbeddedStore::open(engine, dir.path()).await.expect("open after the first closed");
    }

    #[tokio::test]
    async fn fjall_second_open_is_refused() {
        second_open_is_refused(Engine::Fjall).await;
    }

    #[cfg(feature = "rocksdb")]
    #[tokio::test]
    async fn rocksdb_second_open_is_refused() {
        second_open_is_refused(Engine::Rocksdb).await;
    }

    /// Set by [`another_process_is_refused`] for the child it spawns.
    const CHILD_STORE_PATH: &str = "STOA_TEST_CHILD_STORE_PATH";
    const CHILD_STORE_ENGINE: &str = "STOA_TEST_CHILD_STORE_ENGINE";

    /// In the child process only (a no-op otherwise): opening the store the parent holds
    /// must fail with a clear `Error::Open`.
    #[tokio::test]
    async fn child_opens_held_store() {
        let Ok(path) = std::env::var(CHILD_STORE_PATH) else {
            return;
        };
        let engine = match std::env::var(CHILD_STORE_ENGINE).as_deref() {
            #[cfg(feature = "rocksdb")]
            Ok("rocksdb") => Engine::Rocksdb,
            _ => Engine::Fjall,
        };
        let result = EmbeddedStore::open(engine, Path::new(&path)).await;
        assert!(
            matches!(&result, Err(Error::Open(message)) if message.contains("another stoa process")),
            "open in a second process: {:?}",
            result.as_ref().err()
        );
        println!("child refused as expected");
    }

    /// Runs this test binary again as a second process that tries to open the store.
    async fn another_process_is_refused(engine: Engine, engine_name: &'static str) {
        let dir = tempfile::tempdir().expect("temp dir");
        let _held = EmbeddedStore::open(engine, dir.path()).await.expect("open");
        let path = dir.path().to_path_buf();
        let output = tokio::task::spawn_blocking(move || {
            std::process::Command::new(std::env::current_exe().expect("test binary"))
                .args(["--exact", "storage::embedded::tests::child_opens_held_store", "--nocapture"])
                .env(CHILD_STORE_PATH, &path)
                .env(CHILD_STORE_ENGINE, engine_name)
                .output()
                .expect("run the child")
        })
        .await
        .expect("join");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "child failed: {stdout}");
        assert!(stdout.contains("child refused as expected"), "child did not run the check: {stdout}");
    }

    #[tokio::test]
    async fn fjall_another_process_is_refused() {
        another_process_is_refused(Engine::Fjall, "fjall").await;
    }

    #[cfg(feature = "rocksdb")]
    #[tokio::test]
    async fn rocksdb_another_process_is_refused() {
        another_process_is_refused(Engine::Rocksdb, "rocksdb").await;
    }

    #[tokio::test]
    async fn open_creates_missing_directories() {
        let dir = tempfile::tempdir().expect("temp dir");
        let nested = dir.path().join("a").join("b");
        EmbeddedStore::open(Engine::Fjall, &nested).await.expect("open nested");
        assert!(nested.is_dir());
    }
}
