//! `POST /keys/query`: the device keys and cross-signing keys of users, with the
//! signatures others uploaded over them merged in.

use std::collections::BTreeMap;

use ruma::{OwnedDeviceId, OwnedUserId, UserId};
use serde_json::{Map, Value, json};

use super::signatures::cross_signing_public_key;
use super::{E2ee, E2eeError};
use crate::accounts::Requester;
use crate::storage::{CrossSigningKind, KeySignature};

/// Most users one query may name.
const MAX_QUERIED_USERS: usize = 1000;

/// Adds `signatures` over `target` (a device ID or a public key) into `object`.
fn merge_signatures(object: &mut Value, target: &str, signatures: &[KeySignature]) {
    for signature in signatures.iter().filter(|s| s.target_key_id == target) {
        if !object.get("signatures").is_some_and(Value::is_object) {
            object["signatures"] = json!({});
        }
        let by_signer = &mut object["signatures"][signature.signer.as_str()];
        if !by_signer.is_object() {
            *by_signer = json!({});
        }
        by_signer[signature.signer_key_id.as_str()] = Value::String(signature.signature.clone());
    }
}

impl E2ee {
    /// Answers a key query for local users; users of other servers are listed in
    /// `failures` (federation does not exist yet).
    pub async fn query_keys(
        &self,
        requester: &Requester,
        wanted: &BTreeMap<OwnedUserId, Vec<OwnedDeviceId>>,
    ) -> Result<Value, E2eeError> {
        if wanted.len() > MAX_QUERIED_USERS {
            return Err(E2eeError::TooLarge("too many users in one query".to_owned()));
        }
        let mut body = json!({
            "device_keys": {}, "master_keys": {}, "self_signing_keys": {}, "user_signing_keys": {}, "failures": {},
        });
        for (user_id, devices) in wanted {
            if !self.is_local(user_id) {
                body["failures"][user_id.server_name().as_str()] =
                    json!({ "status": 503, "message": "federation is not available" });
                continue;
            }
            // Only the signer and the key's owner see a user-signing key's signatures.
            let signatures: Vec<KeySignature> = self
                .stores()
                .e2ee_keys
                .key_signatures(user_id)
                .await?
                .into_iter()
                .filter(|s| s.signer == *user_id || s.signer == requester.user_id)
                .collect();
            body["device_keys"][user_id.as_str()] =
                Value::Object(self.user_device_keys(user_id, devices, &signatures).await?);
            for kind in CrossSigningKind::ALL {
                if kind == CrossSigningKind::UserSigning && *user_id != requester.user_id {
                    continue;
                }
                let Some(json) = self.stores().e2ee_keys.get_cross_signing_key(user_id, kind).await? else {
                    continue;
                };
                let mut key: Value = serde_json::from_str(&json).unwrap_or_default();
                if let Some(public) = cross_signing_public_key(&json) {
                    merge_signatures(&mut key, &public, &signatures);
                }
                body[format!("{}_keys", kind.name())][user_id.as_str()] = key;
            }
        }
        Ok(body)
    }

    /// The user's device keys (of `devices`, or all when empty), display names in `unsigned`.
    async fn user_device_keys(
        &self,
        user_id: &UserId,
        devices: &[OwnedDeviceId],
        signatures: &[KeySignature],
    ) -> Result<Map<String, Value>, E2eeError> {
        let names: BTreeMap<OwnedDeviceId, Option<String>> = self
            .stores()
            .devices
            .list_devices(user_id)
            .await?
            .into_iter()
            .map(|device| (device.device_id, device.display_name))
            .collect();
        let mut out = Map::new();
        for (device_id, json) in self.stores().e2ee_keys.list_device_keys(user_id).await? {
            if !devices.is_empty() && !devices.contains(&device_id) {
                continue;
            }
            // Keys of a device that no longer exists are never served.
            let Some(name) = names.get(&device_id) else { continue };
            let mut keys: Value = serde_json::from_str(&json).unwrap_or_default();
            merge_signatures(&mut keys, device_id.as_str(), signatures);
            if let Some(name) = name {
                keys["unsigned"] = json!({ "device_display_name": name });
            }
            out.insert(device_id.to_string(), keys);
        }
        Ok(out)
    }
}
