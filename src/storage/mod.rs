//! Domain-typed store traits, and the choice of adapter behind them.
//!
//! Every trait speaks only domain types; atomicity lives inside one method (no
//! transaction handle crosses a trait) and range reads are bounded pages. Backend
//! details (key layouts, indexes, sequences) stay private to the adapters in
//! `embedded/` and `postgres/`. `conformance/` holds the one suite every adapter passes.

pub mod account_data;
pub mod accounts;
pub mod device_lists;
pub mod devices;
pub mod directory;
pub mod e2ee_keys;
pub mod error;
pub mod filters;
pub mod key_backup;
pub mod moderation;
pub mod profiles;
pub mod relations;
pub mod rooms;
pub mod streams;
pub mod to_device;
pub mod uia;

pub mod embedded;
pub mod postgres;

#[cfg(test)]
pub mod conformance;

use std::sync::Arc;

pub use account_data::{AccountDataChange, AccountDataStore};
pub use accounts::{AccountStore, UserRecord};
pub use device_lists::DeviceListStore;
pub use devices::{
    AccessTokenOwner, DeviceRecord, DeviceStore, DeviceTokens, NewDevice, RefreshTokenOwner, TokenHash,
};
pub use directory::{AliasRecord, DirectoryStore};
pub use e2ee_keys::{CrossSigningKind, E2eeKeyStore, KeySignature, OneTimeKeyRecord};
pub use embedded::{EmbeddedStore, Engine};
pub use error::Error;
pub use filters::FilterStore;
pub use key_backup::{BackupKey, BackupState, BackupVersion, KeyBackupStore};
pub use moderation::{ModerationStore, ReportRecord};
pub use profiles::{Profile, ProfileStore};
pub use relations::{RelationRecord, RelationStore, ThreadRecord};
pub use rooms::{
    Direction, EventStatus, MembershipRecord, NewEvent, NewStateGroup, PersistBatch, RoomRecord, RoomStore,
    StateGroupId, StateKey, StateMap, StoredEvent, TxnKey,
};
pub use streams::{Position, StreamId, StreamStore};
pub use to_device::{ToDeviceMessage, ToDeviceQueued, ToDeviceStore, ToDeviceTxn};
pub use uia::{UiaSession, UiaStore};

/// Every store the server uses, each behind its trait. Cloning is cheap.
#[derive(Clone)]
pub struct Stores {
    pub accounts: Arc<dyn AccountStore>,
    pub devices: Arc<dyn DeviceStore>,
    pub profiles: Arc<dyn ProfileStore>,
    pub account_data: Arc<dyn AccountDataStore>,
    pub filters: Arc<dyn FilterStore>,
    pub moderation: Arc<dyn ModerationStore>,
    pub uia: Arc<dyn UiaStore>,
    pub streams: Arc<dyn StreamStore>,
    pub rooms: Arc<dyn RoomStore>,
    pub directory: Arc<dyn DirectoryStore>,
    pub relations: Arc<dyn RelationStore>,
    pub e2ee_keys: Arc<dyn E2eeKeyStore>,
    pub to_device: Arc<dyn ToDeviceStore>,
    pub device_lists: Arc<dyn DeviceListStore>,
    pub key_backup: Arc<dyn KeyBackupStore>,
    /// Flushes buffered writes to durable storage; called on shutdown.
    pub lifecycle: Arc<dyn StoreLifecycle>,
}

/// Operations on the store as a whole rather than on one kind of record.
#[async_trait::async_trait]
pub trait StoreLifecycle: Send + Sync {
    /// Makes every completed write durable (a no-op where commits already are).
    async fn flush(&self) -> Result<(), Error>;
    /// The backend's name, for logs: `fjall`, `rocksdb` or `postgres`.
    fn backend_name(&self) -> &'static str;
}

impl Stores {
    /// Builds the set of stores from one adapter that implements them all.
    pub fn from_adapter<A>(adapter: Arc<A>) -> Self
    where
        A: AccountStore
            + DeviceStore
            + ProfileStore
            + AccountDataStore
            + FilterStore
            + ModerationStore
            + UiaStore
            + StreamStore
            + RoomStore
            + DirectoryStore
            + RelationStore
            + E2eeKeyStore
            + ToDeviceStore
            + DeviceListStore
            + KeyBackupStore
            + StoreLifecycle
            + 'static,
    {
        Stores {
            accounts: adapter.clone(),
            devices: adapter.clone(),
            profiles: adapter.clone(),
            account_data: adapter.clone(),
            filters: adapter.clone(),
            moderation: adapter.clone(),
            uia: adapter.clone(),
            streams: adapter.clone(),
            rooms: adapter.clone(),
            directory: adapter.clone(),
            relations: adapter.clone(),
            e2ee_keys: adapter.clone(),
            to_device: adapter.clone(),
            device_lists: adapter.clone(),
            key_backup: adapter.clone(),
            lifecycle: adapter,
        }
    }
}

/// The schema version this build writes and understands. Stores record theirs;
/// opening a store whose version is newer fails with [`Error::SchemaTooNew`].
pub const SCHEMA_VERSION: u32 = 7;

/// Opens the configured backend and returns its stores.
pub async fn open(config: &crate::config::StorageConfig) -> Result<Stores, Error> {
    use crate::config::Backend;
    match config.backend {
        Backend::Postgres => Ok(Stores::from_adapter(
            postgres::PostgresStore::connect(&config.postgres_url, config.postgres_max_connections).await?,
        )),
        Backend::Fjall => Ok(Stores::from_adapter(EmbeddedStore::open(Engine::Fjall, &config.path).await?)),
        #[cfg(feature = "rocksdb")]
        Backend::Rocksdb => {
            Ok(Stores::from_adapter(EmbeddedStore::open(Engine::Rocksdb, &config.path).await?))
        }
        #[cfg(not(feature = "rocksdb"))]
        Backend::Rocksdb => Err(Error::Open(
            "this stoa was built without RocksDB; rebuild with `--features rocksdb`".to_owned(),
        )),
    }
}
