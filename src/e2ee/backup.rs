//! Server-side key backup (`/room_keys/…`): versions with their algorithm and auth data,
//! and per version the encrypted session keys. Keys are written only to the current
//! (latest) version; a stored key is replaced only by a better one (see
//! [`crate::storage::key_backup::backup_key_replaces`]).

use ruma::{OwnedRoomId, RoomId};
use serde_json::{Map, Value, json};

use super::{E2ee, E2eeError};
use crate::accounts::Requester;
use crate::storage::{BackupKey, BackupState, BackupVersion};

/// Largest `auth_data`, in bytes.
const MAX_AUTH_DATA_BYTES: usize = 65_536;

fn version_number(version: &str) -> Option<u64> {
    version.parse().ok().filter(|v| *v > 0 && version.bytes().all(|b| b.is_ascii_digit()))
}

fn version_json(version: &BackupVersion) -> Value {
    json!({
        "algorithm": version.algorithm,
        "auth_data": serde_json::from_str::<Value>(&version.auth_data).unwrap_or_default(),
        "count": version.count,
        "etag": version.etag.to_string(),
        "version": version.version.to_string(),
    })
}

fn state_json((etag, count): BackupState) -> Value {
    json!({ "etag": etag.to_string(), "count": count })
}

fn no_version() -> E2eeError {
    E2eeError::NotFound("no such backup version".to_owned())
}

impl E2ee {
    /// Creates a backup version; returns its version string.
    pub async fn create_backup(
        &self,
        requester: &Requester,
        algorithm: &str,
        auth_data: &Value,
    ) -> Result<String, E2eeError> {
        let auth_data = auth_data.to_string();
        if auth_data.len() > MAX_AUTH_DATA_BYTES {
            return Err(E2eeError::TooLarge("auth_data is too large".to_owned()));
        }
        let store = &self.stores().key_backup;
        Ok(store.create_backup_version(&requester.user_id, algorithm, &auth_data).await?.to_string())
    }

    /// A version (the latest when `None`) as the API returns it.
    pub async fn backup_info(
        &self,
        requester: &Requester,
        version: Option<&str>,
    ) -> Result<Value, E2eeError> {
        let number = match version {
            Some(text) => Some(version_number(text).ok_or_else(no_version)?),
            None => None,
        };
        let found = self.stores().key_backup.backup_version(&requester.user_id, number).await?;
        found.map(|v| version_json(&v)).ok_or_else(no_version)
    }

    /// Replaces a version's auth data (the algorithm cannot change).
    pub async fn update_backup(
        &self,
        requester: &Requester,
        version: &str,
        algorithm: &str,
        auth_data: &Value,
        body_version: Option<&str>,
    ) -> Result<(), E2eeError> {
        let number = version_number(version).ok_or_else(no_version)?;
        if body_version.is_some_and(|v| v != version) {
            return Err(E2eeError::InvalidParam("the body's version differs from the path's".to_owned()));
        }
        let store = &self.stores().key_backup;
        let current = store.backup_version(&requester.user_id, Some(number)).await?.ok_or_else(no_version)?;
        if current.algorithm != algorithm {
            return Err(E2eeError::InvalidParam("a backup's algorithm cannot change".to_owned()));
        }
        store.update_backup_auth_data(&requester.user_id, number, &auth_data.to_string()).await?;
        Ok(())
    }

    pub async fn delete_backup(&self, requester: &Requester, version: &str) -> Result<(), E2eeError> {
        let number = version_number(version).ok_or_else(no_version)?;
        if !self.stores().key_backup.delete_backup_version(&requester.user_id, number).await? {
            return Err(no_version());
        }
        Ok(())
    }

    /// Stores session keys in the current version; `{etag, count}`.
    pub async fn put_backup_keys(
        &self,
        requester: &Requester,
        version: &str,
        keys: &[BackupKey],
    ) -> Result<Value, E2eeError> {
        let store = &self.stores().key_backup;
        let latest = store.backup_version(&requester.user_id, None).await?;
        let latest = latest.ok_or_else(no_version)?;
        if version_number(version) != Some(latest.version) {
            return Err(E2eeError::WrongRoomKeysVersion { current: Some(latest.version.to_string()) });
        }
        for key in keys {
            if !serde_json::from_str::<Value>(&key.json).is_ok_and(|v| v.is_object()) {
                return Err(E2eeError::BadJson("session data must be an object".to_owned()));
            }
        }
        let state = store.put_backup_keys(&requester.user_id, latest.version, keys).await?;
        state.map(state_json).ok_or_else(no_version)
    }

    /// Backed-up keys: the whole version (`{rooms}`), one room (`{sessions}`), or one session.
    pub async fn backup_keys(
        &self,
        requester: &Requester,
        version: &str,
        room_id: Option<&RoomId>,
        session_id: Option<&str>,
    ) -> Result<Value, E2eeError> {
        let number = version_number(version).ok_or_else(no_version)?;
        let store = &self.stores().key_backup;
        store.backup_version(&requester.user_id, Some(number)).await?.ok_or_else(no_version)?;
        let keys = store
            .backup_keys(&requester.user_id, number, room_id, session_id.filter(|_| room_id.is_some()))
            .await?;
        let parse = |key: &BackupKey| serde_json::from_str::<Value>(&key.json).unwrap_or_default();
        if session_id.is_some() {
            return keys.first().map(parse).ok_or_else(|| E2eeError::NotFound("no such session".to_owned()));
        }
        let mut rooms: Map<String, Value> = Map::new();
        for key in &keys {
            let room = rooms.entry(key.room_id.to_string()).or_insert_with(|| json!({ "sessions": {} }));
            room["sessions"][key.session_id.as_str()] = parse(key);
        }
        match room_id {
            Some(room_id) => Ok(rooms.remove(room_id.as_str()).unwrap_or_else(|| json!({ "sessions": {} }))),
            None => Ok(json!({ "rooms": rooms })),
        }
    }

    /// Deletes backed-up keys (all, one room's, or one session); `{etag, count}`.
    pub async fn delete_backup_keys(
        &self,
        requester: &Requester,
        version: &str,
        room_id: Option<&RoomId>,
        session_id: Option<&str>,
    ) -> Result<Value, E2eeError> {
        let number = version_number(version).ok_or_else(no_version)?;
        let store = &self.stores().key_backup;
        let session_id = session_id.filter(|_| room_id.is_some());
        let state = store.delete_backup_keys(&requester.user_id, number, room_id, session_id).await?;
        state.map(state_json).ok_or_else(no_version)
    }
}

/// Flattens `{room: {sessions: {id: data}}}` into keys to store.
pub fn keys_of_rooms(rooms: &Map<String, Value>) -> Result<Vec<BackupKey>, E2eeError> {
    let mut keys = Vec::new();
    for (room, sessions) in rooms {
        let room_id =
            OwnedRoomId::try_from(room.as_str()).map_err(|e| E2eeError::InvalidParam(e.to_string()))?;
        let sessions = sessions
            .get("sessions")
            .and_then(Value::as_object)
            .ok_or_else(|| E2eeError::BadJson("sessions must be an object".to_owned()))?;
        for (session_id, data) in sessions {
            keys.push(BackupKey {
                room_id: room_id.clone(),
                session_id: session_id.clone(),
                json: data.to_string(),
            });
        }
    }
    Ok(keys)
}
