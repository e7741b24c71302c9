//! The one error type of the storage layer.

/// What can go wrong below the store traits. Domain modules map these to their own
/// errors; none of them is a user's fault, so the API answers 500 for all of them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine or database failed (I/O, connection, constraint we did not expect).
    #[error("storage backend failed: {0}")]
    Backend(String),
    /// Stored bytes could not be decoded: a bug or disk corruption.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The store was written by a newer Stoa; refusing to touch it.
    #[error(
        "the store's schema version is {found}, but this build of stoa understands only up to {supported}; upgrade stoa or point it at another store"
    )]
    SchemaTooNew { found: u32, supported: u32 },
    /// The store could not be opened (path missing, locked by another process, bad URL).
    #[error("cannot open the store: {0}")]
    Open(String),
}
