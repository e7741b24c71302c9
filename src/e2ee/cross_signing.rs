//! Cross-signing: `POST /keys/device_signing/upload` (master, self-signing and
//! user-signing keys; replacing existing ones needs UIA, the first upload does not) and
//! `POST /keys/signatures/upload` (signatures over one's own devices and master key, and
//! over other users' master keys, each verified before it is stored).

use ruma::{OwnedUserId, UserId};
use serde_json::Value;

use super::signatures::{check_cross_signing_key, cross_signing_public_key, identity_of, verify};
use super::{E2ee, E2eeError};
use crate::accounts::Requester;
use crate::storage::{CrossSigningKind, KeySignature};

/// The keys of one `device_signing/upload`, as the JSON texts sent.
#[derive(Debug, Default)]
pub struct SigningKeysUpload<'a> {
    pub master: Option<&'a str>,
    pub self_signing: Option<&'a str>,
    pub user_signing: Option<&'a str>,
}

impl SigningKeysUpload<'_> {
    fn keys(&self) -> [(CrossSigningKind, Option<&str>); 3] {
        [
            (CrossSigningKind::Master, self.master),
            (CrossSigningKind::SelfSigning, self.self_signing),
            (CrossSigningKind::UserSigning, self.user_signing),
        ]
    }
}

/// One signature upload that was refused: whose key, which key, why.
pub type SignatureFailure = (OwnedUserId, String, E2eeError);

fn parse(text: &str) -> Result<Value, E2eeError> {
    serde_json::from_str(text).map_err(|error| E2eeError::BadJson(error.to_string()))
}

/// `value` without `signatures` and `unsigned`: what a signature covers.
fn signed_part(value: &Value) -> Value {
    let mut value = value.clone();
    if let Some(object) = value.as_object_mut() {
        object.remove("signatures");
        object.remove("unsigned");
    }
    value
}

impl E2ee {
    /// Whether this upload needs UIA: only when it would replace a stored key with a
    /// different one (the first upload, and re-uploading the same keys, are exempt).
    pub async fn signing_keys_upload_needs_auth(
        &self,
        requester: &Requester,
        upload: &SigningKeysUpload<'_>,
    ) -> Result<bool, E2eeError> {
        for (kind, text) in upload.keys() {
            let Some(text) = text else { continue };
            let stored = self.stores().e2ee_keys.get_cross_signing_key(&requester.user_id, kind).await?;
            if let Some(stored) = stored
                && signed_part(&parse(&stored)?) != signed_part(&parse(text)?)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Checks the uploaded keys: each names the requester and its usage, and the
    /// self-signing and user-signing keys are signed by the master key (the uploaded one,
    /// or the stored one when none is uploaded).
    pub async fn check_signing_keys(
        &self,
        requester: &Requester,
        upload: &SigningKeysUpload<'_>,
    ) -> Result<(), E2eeError> {
        let user_id = &requester.user_id;
        let master = match upload.master {
            Some(text) => Some(check_cross_signing_key(&parse(text)?, user_id, CrossSigningKind::Master)?),
            None => {
                let stored =
                    self.stores().e2ee_keys.get_cross_signing_key(user_id, CrossSigningKind::Master).await?;
                stored.and_then(|json| cross_signing_public_key(&json))
            }
        };
        for (kind, text) in upload.keys() {
            let (Some(text), false) = (text, kind == CrossSigningKind::Master) else { continue };
            let value = parse(text)?;
            check_cross_signing_key(&value, user_id, kind)?;
            let master = master
                .as_deref()
                .ok_or_else(|| E2eeError::InvalidParam("upload a master key first".to_owned()))?;
            verify(&value, user_id, &format!("ed25519:{master}"), master)?;
        }
        Ok(())
    }

    /// Checks and stores the requester's cross-signing keys, then announces the change.
    pub async fn upload_signing_keys(
        &self,
        requester: &Requester,
        upload: &SigningKeysUpload<'_>,
    ) -> Result<(), E2eeError> {
        self.check_signing_keys(requester, upload).await?;
        if upload.keys().iter().all(|(_, text)| text.is_none()) {
            return Ok(());
        }
        for (kind, text) in upload.keys() {
            if let Some(text) = text {
                self.stores().e2ee_keys.put_cross_signing_key(&requester.user_id, kind, text).await?;
            }
        }
        self.announce_device_change(&requester.user_id).await
    }

    /// Verifies and stores uploaded signatures (`user → key ID → signed object`);
    /// returns the ones refused.
    pub async fn upload_signatures(
        &self,
        requester: &Requester,
        signed: &serde_json::Map<String, Value>,
    ) -> Result<Vec<SignatureFailure>, E2eeError> {
        let mut failures = Vec::new();
        let mut changed: Vec<OwnedUserId> = Vec::new();
        for (user, keys) in signed {
            let Ok(target_user) = OwnedUserId::try_from(user.as_str()) else {
                continue;
            };
            let Some(keys) = keys.as_object() else { continue };
            for (key_id, object) in keys {
                match self.one_signature(requester, &target_user, key_id, object).await {
                    Ok(signature) => {
                        self.stores().e2ee_keys.add_key_signatures(&target_user, &[signature]).await?;
                        if !changed.contains(&target_user) {
                            changed.push(target_user.clone());
                        }
                    }
                    Err(E2eeError::Storage(error)) => return Err(E2eeError::Storage(error)),
                    Err(error) => failures.push((target_user.clone(), key_id.clone(), error)),
                }
            }
        }
        for user_id in changed {
            self.announce_device_change(&user_id).await?;
        }
        Ok(failures)
    }

    /// Checks one signed object and returns the requester's signature to store.
    async fn one_signature(
        &self,
        requester: &Requester,
        target_user: &UserId,
        key_id: &str,
        object: &Value,
    ) -> Result<KeySignature, E2eeError> {
        let signer = &requester.user_id;
        let keys = &self.stores().e2ee_keys;
        let target_master = keys
            .get_cross_signing_key(target_user, CrossSigningKind::Master)
            .await?
            .and_then(|j| cross_signing_public_key(&j));
        let (stored, signing_key) = if target_master.as_deref() == Some(key_id) {
            let stored = keys.get_cross_signing_key(target_user, CrossSigningKind::Master).await?;
            if target_user == signer {
                // One's own master key is signed by one of one's devices.
                let device = object
                    .get("signatures")
                    .and_then(|s| s.get(signer.as_str()))
                    .and_then(Value::as_object)
                    .and_then(|sigs| {
                        sigs.keys().find_map(|k| {
                            k.strip_prefix("ed25519:")
                                .filter(|d| Some(*d) != target_master.as_deref())
                                .map(str::to_owned)
                        })
                    })
                    .ok_or_else(|| E2eeError::InvalidSignature("no device signature".to_owned()))?;
                let device_keys = keys.get_device_keys(signer, device.as_str().into()).await?;
                let identity = device_keys.and_then(|json| identity_of(&json, device.as_str().into()));
                let identity = identity
                    .ok_or_else(|| E2eeError::InvalidSignature("unknown signing device".to_owned()))?;
                (stored, (format!("ed25519:{device}"), identity.ed25519))
            } else {
                (stored, self.own_key(signer, CrossSigningKind::UserSigning).await?)
            }
        } else if target_user == signer {
            let stored = keys.get_device_keys(target_user, key_id.into()).await?;
            (stored, self.own_key(signer, CrossSigningKind::SelfSigning).await?)
        } else {
            return Err(E2eeError::InvalidParam("only master keys of other users can be signed".to_owned()));
        };
        let stored = stored.ok_or_else(|| E2eeError::NotFound(format!("no key {key_id}")))?;
        if signed_part(&parse(&stored)?) != signed_part(object) {
            return Err(E2eeError::InvalidParam("the signed object differs from the stored key".to_owned()));
        }
        let (signing_key_id, public) = signing_key;
        verify(object, signer, &signing_key_id, &public)?;
        let signature =
            object["signatures"][signer.as_str()][signing_key_id.as_str()].as_str().unwrap_or_default();
        Ok(KeySignature {
            target_key_id: key_id.to_owned(),
            signer: signer.clone(),
            signer_key_id: signing_key_id,
            signature: signature.to_owned(),
        })
    }

    /// `(key ID, public key)` of one of the requester's own cross-signing keys.
    async fn own_key(&self, user_id: &UserId, kind: CrossSigningKind) -> Result<(String, String), E2eeError> {
        let json = self.stores().e2ee_keys.get_cross_signing_key(user_id, kind).await?;
        let public = json
            .and_then(|json| cross_signing_public_key(&json))
            .ok_or_else(|| E2eeError::InvalidSignature(format!("no {} key to sign with", kind.name())))?;
        Ok((format!("ed25519:{public}"), public))
    }
}
