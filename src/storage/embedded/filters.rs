//! Sync filters in the embedded store.
//!
//! `filters`: user ID, filter ID → filter JSON. IDs are derived from content, so
//! writing a pair again stores the same bytes: a blind write needs no lock.

use async_trait::async_trait;
use ruma::UserId;

use super::EmbeddedStore;
use super::codec::{compound_key, decode_text};
use super::engine::{Batch, Table};
use crate::storage::{Error, FilterStore};

fn filter_key(user_id: &UserId, filter_id: &str) -> Vec<u8> {
    compound_key(&[user_id.as_bytes(), filter_id.as_bytes()])
}

#[async_trait]
impl FilterStore for EmbeddedStore {
    async fn put_filter(&self, user_id: &UserId, filter_id: &str, filter: &str) -> Result<(), Error> {
        let mut batch = Batch::new();
        batch.put(Table::Filters, filter_key(user_id, filter_id), filter.as_bytes().to_vec());
        self.run(move |engine| engine.write(batch)).await
    }

    async fn get_filter(&self, user_id: &UserId, filter_id: &str) -> Result<Option<String>, Error> {
        let key = filter_key(user_id, filter_id);
        self.run(move |engine| engine.get(Table::Filters, &key)?.map(|bytes| decode_text(&bytes)).transpose())
            .await
    }
}
