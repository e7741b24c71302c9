//! `POST /keys/claim`: hands out one one-time key per requested device (oldest first,
//! each at most once, atomically in the store), or the device's fallback key when it has
//! no one-time key left.

use std::collections::BTreeMap;

use ruma::{OwnedDeviceId, OwnedUserId};
use serde_json::{Value, json};

use super::{E2ee, E2eeError};

/// Most devices one claim may name.
const MAX_CLAIMED_DEVICES: usize = 1000;

impl E2ee {
    /// Claims keys for `wanted` (user → device → algorithm). Unknown devices and devices
    /// without keys are left out; users of other servers are listed in `failures`.
    pub async fn claim_keys(
        &self,
        wanted: &BTreeMap<OwnedUserId, BTreeMap<OwnedDeviceId, String>>,
    ) -> Result<Value, E2eeError> {
        if wanted.values().map(BTreeMap::len).sum::<usize>() > MAX_CLAIMED_DEVICES {
            return Err(E2eeError::TooLarge("too many devices in one claim".to_owned()));
        }
        let keys = &self.stores().e2ee_keys;
        let mut body = json!({ "one_time_keys": {}, "failures": {} });
        for (user_id, devices) in wanted {
            if !self.is_local(user_id) {
                body["failures"][user_id.server_name().as_str()] =
                    json!({ "status": 503, "message": "federation is not available" });
                continue;
            }
            for (device_id, algorithm) in devices {
                let claimed = match keys.claim_one_time_key(user_id, device_id, algorithm).await? {
                    Some(key) => Some(key),
                    None => keys.claim_fallback_key(user_id, device_id, algorithm).await?,
                };
                let Some(key) = claimed else { continue };
                self.inner.sync_memo.keys_changed(user_id, device_id);
                let value: Value = serde_json::from_str(&key.json).unwrap_or(Value::Null);
                body["one_time_keys"][user_id.as_str()][device_id.as_str()][key.key_id.as_str()] = value;
            }
        }
        Ok(body)
    }
}
