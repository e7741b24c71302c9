//! User-interactive authentication sessions in the embedded store.
//!
//! `uia_sessions`: session ID → [`StoredSession`]. `uia_expiry`: expiry (u64
//! big-endian) followed by the session ID → nothing, so the expired sessions are the
//! first rows of that table and a purge is a bounded range scan from the start. Both
//! rows change in one batch under the UIA lock, so the index never disagrees with a
//! session.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::EmbeddedStore;
use super::codec::{decode_record, decode_text, encode_record, encode_u64};
use super::engine::{Batch, Direction, KeyRange, KvEngine, Table};
use crate::storage::{Error, UiaSession, UiaStore};

/// A session as stored; the session ID is the key.
#[derive(Serialize, Deserialize)]
struct StoredSession {
    purpose: String,
    completed: Vec<String>,
    data: String,
    expires_at_ms: u64,
}

fn expiry_key(expires_at_ms: u64, session_id: &[u8]) -> Vec<u8> {
    let mut key = encode_u64(expires_at_ms).to_vec();
    key.extend_from_slice(session_id);
    key
}

fn load_session(engine: &dyn KvEngine, session_id: &[u8]) -> Result<Option<StoredSession>, Error> {
    engine.get(Table::UiaSessions, session_id)?.map(|bytes| decode_record(&bytes)).transpose()
}

/// A session is gone once `now_ms` is past its expiry.
fn is_expired(session: &StoredSession, now_ms: u64) -> bool {
    now_ms > session.expires_at_ms
}

#[async_trait]
impl UiaStore for EmbeddedStore {
    async fn put_uia_session(&self, session: &UiaSession) -> Result<(), Error> {
        let id = session.session_id.as_bytes().to_vec();
        let stored = StoredSession {
            purpose: session.purpose.clone(),
            completed: session.completed.clone(),
            data: session.data.clone(),
            expires_at_ms: session.expires_at_ms,
        };
        let value = encode_record(&stored)?;
        self.run_locked(self.locks.uia(), move |engine| {
            let mut batch = Batch::new();
            if let Some(old) = load_session(engine, &id)? {
                batch.delete(Table::UiaExpiry, expiry_key(old.expires_at_ms, &id));
            }
            batch.put(Table::UiaExpiry, expiry_key(stored.expires_at_ms, &id), Vec::new());
            batch.put(Table::UiaSessions, id, value);
            engine.write(batch)
        })
        .await
    }

    async fn get_uia_session(&self, session_id: &str, now_ms: u64) -> Result<Option<UiaSession>, Error> {
        let id = session_id.to_owned();
        self.run(move |engine| {
            let Some(stored) = load_session(engine, id.as_bytes())? else {
                return Ok(None);
            };
            if is_expired(&stored, now_ms) {
                return Ok(None);
            }
            Ok(Some(UiaSession {
                session_id: id,
                purpose: stored.purpose,
                completed: stored.completed,
                data: stored.data,
                expires_at_ms: stored.expires_at_ms,
            }))
        })
        .await
    }

    async fn delete_uia_session(&self, session_id: &str) -> Result<(), Error> {
        let id = session_id.as_bytes().to_vec();
        self.run_locked(self.locks.uia(), move |engine| {
            let Some(old) = load_session(engine, &id)? else {
                return Ok(());
            };
            let mut batch = Batch::new();
            batch.delete(Table::UiaExpiry, expiry_key(old.expires_at_ms, &id));
            batch.delete(Table::UiaSessions, id);
            engine.write(batch)
        })
        .await
    }

    async fn purge_expired_uia_sessions(&self, now_ms: u64, limit: usize) -> Result<usize, Error> {
        if limit == 0 {
            return Ok(0);
        }
        self.run_locked(self.locks.uia(), move |engine| {
            // Rows with expiry < now_ms, i.e. sessions expired at now_ms, oldest first.
            let range = KeyRange::between(Vec::new(), encode_u64(now_ms).to_vec());
            let rows = engine.scan(Table::UiaExpiry, &range, Direction::Forward, limit)?;
            let mut batch = Batch::new();
            for (key, _) in &rows {
                let id = key.get(8..).unwrap_or_default();
                // Validates the row; a malformed one is reported rather than skipped.
                decode_text(id)?;
                batch.delete(Table::UiaSessions, id.to_vec());
                batch.delete(Table::UiaExpiry, key.clone());
            }
            engine.write(batch)?;
            Ok(rows.len())
        })
        .await
    }
}
