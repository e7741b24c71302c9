//! Sample domain values the checks build their scenarios from.

use ruma::{OwnedDeviceId, OwnedRoomId, OwnedUserId};

use crate::storage::{DeviceTokens, NewDevice, TokenHash, UiaSession, UserRecord};

pub(super) fn user_id(text: &str) -> OwnedUserId {
    OwnedUserId::try_from(text).expect("a valid sample user ID")
}

pub(super) fn room_id(text: &str) -> OwnedRoomId {
    OwnedRoomId::try_from(text).expect("a valid sample room ID")
}

pub(super) fn device_id(text: &str) -> OwnedDeviceId {
    OwnedDeviceId::from(text)
}

/// An active, non-admin user with a password, created at `1_000`.
pub(super) fn user(text: &str) -> UserRecord {
    UserRecord {
        user_id: user_id(text),
        password_hash: Some(format!("$argon2id$sample${text}")),
        is_admin: false,
        is_guest: false,
        deactivated: false,
        created_at_ms: 1_000,
    }
}

/// A distinct token hash per `seed`.
pub(super) fn hash(seed: u16) -> TokenHash {
    let mut bytes = [0x5A; 32];
    let [high, low] = seed.to_be_bytes();
    bytes[0] = high;
    bytes[1] = low;
    TokenHash(bytes)
}

/// Access token `hash(seed)`, refresh token `hash(seed + 10_000)`, no expiry.
pub(super) fn tokens(seed: u16) -> DeviceTokens {
    DeviceTokens {
        access_token: hash(seed),
        access_expires_at_ms: None,
        refresh_token: Some(hash(seed + 10_000)),
    }
}

pub(super) fn new_device(user: &str, device: &str, display_name: Option<&str>, now_ms: u64) -> NewDevice {
    NewDevice {
        user_id: user_id(user),
        device_id: device_id(device),
        display_name: display_name.map(str::to_owned),
        ip: Some("192.0.2.1".to_owned()),
        now_ms,
    }
}

pub(super) fn uia_session(id: &str, expires_at_ms: u64) -> UiaSession {
    UiaSession {
        session_id: id.to_owned(),
        purpose: format!("register:{id}"),
        completed: vec!["m.login.dummy".to_owned()],
        data: r#"{"token":"abc"}"#.to_owned(),
        expires_at_ms,
    }
}
