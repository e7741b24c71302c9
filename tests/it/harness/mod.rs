//! Test harness: spawn `stoa` servers per storage backend and talk to them over HTTP.

mod client;
mod config;
mod postgres;
mod raw;
mod server;

#[allow(unused_imports)]
pub use client::{Resp, Session, V3, bodies, enc, next_txn, password_auth, room_events, timeline_filter};
#[allow(unused_imports)]
pub use raw::{RawConn, RawResponse};
pub use server::{Backend, Server, ServerBuilder};

/// Generates one `#[tokio::test]` per backend for each listed `async fn name(Backend)`:
/// `mod fjall` always, `mod rocksdb` with `--features rocksdb`, and `mod postgres`
/// (skipped, with a note, unless `STOA_TEST_POSTGRES_URL` is set).
#[macro_export]
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod fjall {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::harness::Backend::Fjall).await
                }
            )*
        }
        #[cfg(feature = "rocksdb")]
        mod rocksdb {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::harness::Backend::Rocksdb).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    match $crate::harness::Backend::postgres_from_env() {
                        Some(backend) => super::$name(backend).await,
                        None => eprintln!("skipped: STOA_TEST_POSTGRES_URL is not set"),
                    }
                }
            )*
        }
    };
}
