//! How domain values become column values and back: unsigned numbers as `bigint`,
//! Matrix IDs as `text` (parsed again on the way out), state group IDs as `bigint`.

use ruma::{OwnedDeviceId, OwnedEventId, OwnedRoomAliasId, OwnedRoomId, OwnedUserId};

use crate::storage::{Error, Position, StateGroupId};

/// A timestamp, count or position as a `bigint`. Values above `i64::MAX` cannot come
/// from a clock or a sequence, so they are refused rather than wrapped.
pub(super) fn to_bigint(value: u64, what: &str) -> Result<i64, Error> {
    i64::try_from(value).map_err(|_| Error::Backend(format!("{what} {value} does not fit in a bigint")))
}

/// A `bigint` column we only ever write non-negative values to.
pub(super) fn from_bigint(value: i64, what: &str) -> Result<u64, Error> {
    u64::try_from(value).map_err(|_| Error::Corrupt(format!("{what} is negative: {value}")))
}

pub(super) fn optional_from_bigint(value: Option<i64>, what: &str) -> Result<Option<u64>, Error> {
    value.map(|value| from_bigint(value, what)).transpose()
}

pub(super) fn optional_to_bigint(value: Option<u64>, what: &str) -> Result<Option<i64>, Error> {
    value.map(|value| to_bigint(value, what)).transpose()
}

pub(super) fn position_from_bigint(value: i64) -> Result<Position, Error> {
    from_bigint(value, "stream position").map(Position)
}

pub(super) fn user_id_from_text(text: String) -> Result<OwnedUserId, Error> {
    OwnedUserId::try_from(text).map_err(|err| Error::Corrupt(format!("stored user ID does not parse: {err}")))
}

pub(super) fn room_id_from_text(text: String) -> Result<OwnedRoomId, Error> {
    OwnedRoomId::try_from(text).map_err(|err| Error::Corrupt(format!("stored room ID does not parse: {err}")))
}

pub(super) fn room_alias_from_text(text: String) -> Result<OwnedRoomAliasId, Error> {
    OwnedRoomAliasId::try_from(text)
        .map_err(|err| Error::Corrupt(format!("stored room alias does not parse: {err}")))
}

pub(super) fn device_id_from_text(text: String) -> OwnedDeviceId {
    // Device IDs are opaque: any text is one.
    OwnedDeviceId::from(text)
}

pub(super) fn event_id_from_text(text: String) -> Result<OwnedEventId, Error> {
    OwnedEventId::try_from(text)
        .map_err(|err| Error::Corrupt(format!("stored event ID does not parse: {err}")))
}

/// A state group ID as a `bigint`; IDs come from our own counter, which starts at 1.
pub(super) fn state_group_to_bigint(id: StateGroupId) -> Result<i64, Error> {
    to_bigint(id.0, "state group ID")
}

pub(super) fn state_group_from_bigint(value: i64) -> Result<StateGroupId, Error> {
    from_bigint(value, "state group ID").map(StateGroupId)
}
