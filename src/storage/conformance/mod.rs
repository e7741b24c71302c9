//! The conformance suite: one set of checks, written only against the store traits,
//! that every storage adapter (fjall, RocksDB, PostgreSQL) must pass.
//!
//! # Adding a backend
//!
//! 1. Next to the adapter, under `#[cfg(test)]`, write `async fn my_fixture() -> Fixture`
//!    that opens a fresh, empty store (panicking if it cannot) and returns it with a
//!    [`Restart`] that can reopen the same data, plus a guard that cleans up on drop.
//! 2. Add one line at the bottom of this file:
//!    `conformance_suite!(my_backend, crate::storage::my_adapter::my_fixture);`
//!    The path must start at `crate::`: the macro expands it inside nested modules.
//!
//! Every check then runs as its own test, named
//! `storage::conformance::<backend>::<concept>::<check>`, so
//! `cargo test --lib storage::conformance::postgres` runs one backend's suite.
//!
//! # Adding a check
//!
//! Write `pub(crate) async fn the_check(fixture: Fixture)` in the concept's file and add
//! its name to the list in [`conformance_suite!`]. A check missing from the list is dead
//! code, which `clippy -D warnings` rejects, so none is silently skipped.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use super::{Error, Stores};

/// A boxed, sendable future, as [`Restart`] returns them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One freshly opened, empty store, as a check receives it.
///
/// Fields drop in order: the stores first, then the restart handle, then the guard (which
/// may delete the data the stores used).
pub struct Fixture {
    pub stores: Stores,
    /// Reopens the same data, as a restarted server would.
    pub restart: Box<dyn Restart>,
    /// Whatever must live as long as the data: a temporary directory, a throwaway
    /// database. Dropped last.
    pub guard: Box<dyn Any + Send>,
}

/// How a check restarts the backend behind a [`Fixture`].
///
/// Before calling either method the check drops every [`Stores`] of the previous opening
/// and waits for their calls to finish, so an embedded store's lock is free again.
pub trait Restart: Send + Sync {
    /// Opens the same data again (embedded: the same directory; PostgreSQL: a new pool
    /// on the same database).
    fn reopen(&self) -> BoxFuture<'_, Result<Stores, Error>>;
    /// Records `version` as the store's schema version, as a newer Stoa would have left
    /// it, without going through the adapter's open (which would refuse later).
    fn set_schema_version(&self, version: u32) -> BoxFuture<'_, Result<(), Error>>;
}

/// Expands to one `#[tokio::test]` per check for one backend:
/// `conformance_suite!(backend_name, crate::path::to::async_fixture_fn);`
#[allow(unused_macros)] // Until the first backend instantiates it.
macro_rules! conformance_suite {
    ($backend:ident, $fixture:path) => {
        conformance_suite!(@expand $backend, $fixture, {
            // Filled in as the check files land.
        });
    };
    (@expand $backend:ident, $fixture:path, {
        $($concept:ident: [$($check:ident),* $(,)?]),* $(,)?
    }) => {
        mod $backend {
            $(
                mod $concept {
                    $(
                        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                        async fn $check() {
                            let fixture = $fixture().await;
                            crate::storage::conformance::$concept::$check(fixture).await;
                        }
                    )*
                }
            )*
        }
    };
}
