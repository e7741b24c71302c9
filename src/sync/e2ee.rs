//! The E2EE parts of a `/sync` response: `to_device`, `device_lists`,
//! `device_one_time_keys_count` and `device_unused_fallback_key_types`, driven by the
//! ToDevice and DeviceLists positions of the sync token.

use serde_json::{Value, json};

use super::request::SyncRequest;
use super::token::SyncToken;
use crate::e2ee::device_lists::ChangeWindow;
use crate::e2ee::{E2ee, E2eeError};
use crate::rooms::RoomsError;
use crate::storage::StreamId;

fn rooms_error(error: E2eeError) -> RoomsError {
    match error {
        E2eeError::Storage(error) => RoomsError::Storage(error),
        other => RoomsError::Internal(other.to_string()),
    }
}

/// `token` with the published ToDevice and DeviceLists positions.
pub fn with_positions(e2ee: &E2ee, token: SyncToken) -> SyncToken {
    let (to_device, device_lists) = e2ee.positions();
    token.with(StreamId::ToDevice, to_device).with(StreamId::DeviceLists, device_lists)
}

/// Adds the E2EE sections to `body` (and lowers `next_batch`'s ToDevice position when
/// more messages wait); returns whether anything new is in them.
pub async fn add_sections(
    e2ee: &E2ee,
    request: &SyncRequest,
    upto: SyncToken,
    body: &mut Value,
) -> Result<bool, RoomsError> {
    let (user, device) = (&request.user_id, &request.device_id);
    let since = request.since;
    let (messages, next_to_device) = e2ee
        .to_device_for_sync(
            user,
            device,
            since.map(|s| s.get(StreamId::ToDevice)),
            upto.get(StreamId::ToDevice),
        )
        .await
        .map_err(rooms_error)?;
    let delta = match since {
        Some(since) => {
            let window = ChangeWindow {
                device_lists: (since.get(StreamId::DeviceLists), upto.get(StreamId::DeviceLists)),
                events: (since.get(StreamId::Events), upto.get(StreamId::Events)),
            };
            e2ee.device_list_delta(user, window).await.map_err(rooms_error)?
        }
        None => Default::default(),
    };
    let (counts, fallback) = e2ee.key_counts_for_sync(user, device).await.map_err(rooms_error)?;
    let changed = !messages.is_empty() || !delta.is_empty();
    body["to_device"] = json!({ "events": messages });
    body["device_lists"] = json!({ "changed": delta.changed, "left": delta.left });
    body["device_one_time_keys_count"] = json!(counts);
    body["device_unused_fallback_key_types"] = json!(fallback);
    body["next_batch"] = Value::String(upto.with(StreamId::ToDevice, next_to_device).to_string());
    Ok(changed)
}
