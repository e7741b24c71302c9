//! User-interactive authentication sessions, kept in the store so any worker can
//! continue a session another one began.

use async_trait::async_trait;

use super::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiaSession {
    /// The opaque `session` value the client echoes.
    pub session_id: String,
    /// Which operation the session authorises (e.g. `register`, `delete_device`), with
    /// whatever binds it to one request; a session is never reused for another.
    pub purpose: String,
    /// Stages completed so far, in order.
    pub completed: Vec<String>,
    /// Stage results the domain keeps between requests (JSON text), e.g. the
    /// registration token that was accepted.
    pub data: String,
    /// Milliseconds since the Unix epoch after which the session is gone.
    pub expires_at_ms: u64,
}

#[async_trait]
pub trait UiaStore: Send + Sync {
    /// Inserts or replaces the session.
    async fn put_uia_session(&self, session: &UiaSession) -> Result<(), Error>;
    /// The session, or `None` if unknown or expired at `now_ms`.
    async fn get_uia_session(&self, session_id: &str, now_ms: u64) -> Result<Option<UiaSession>, Error>;
    async fn delete_uia_session(&self, session_id: &str) -> Result<(), Error>;
    /// Deletes up to `limit` sessions expired at `now_ms`; returns how many it deleted.
    async fn purge_expired_uia_sessions(&self, now_ms: u64, limit: usize) -> Result<usize, Error>;
}
