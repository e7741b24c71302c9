//! Stoa's federation building blocks: server signing keys, canonical JSON, JSON signatures, the
//! key server response, and the per-room-version event primitives (redaction, reference hashes,
//! event and room IDs, event hashing and signing).
//!
//! It also holds event authorization and state resolution, on top of ruma-state-res.
//!
//! Everything here is pure and synchronous so the server crate can call it from any context.
//! Later this crate will also hold X-Matrix request authentication and server discovery.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)
)]

pub mod canonical_json;
pub mod event_auth;
pub mod event_id;
pub mod key_server;
pub mod keys;
pub mod pdu_signing;
pub mod redaction;
pub mod room_version;
pub mod signing;
pub mod state_resolution;
#[cfg(test)]
mod test_room;
pub mod unpadded_base64;

pub use canonical_json::{
    CanonicalJsonError, MAX_PDU_BYTES, MAX_PDU_FIELD_BYTES, MAX_SAFE_INTEGER, MIN_SAFE_INTEGER, PduSizeError,
    check_canonical, check_pdu_size, parse_canonical, parse_canonical_str, to_canonical_bytes,
    to_canonical_string,
};
pub use event_auth::{
    AuthError, auth_types_for_event, authorization_rules, authorize_event, check_against_state,
    check_auth_events,
};
pub use event_id::{EventIdError, event_id, reference_hash, room_id_for_create_event};
pub use key_server::{KeyServerError, OldVerifyKey, server_keys_response};
pub use keys::{KeyError, ServerSigningKey};
pub use pdu_signing::{
    EventSigningError, EventVerifyError, check_content_hash, hash_and_sign_event, verify_event_signature,
};
pub use redaction::{RedactionError, redact};
pub use room_version::{
    RedactionRules, RoomVersion, RoomVersionRules, StateResolution, UnsupportedRoomVersion,
};
pub use signing::{
    ContentHashError, SigningError, VerifyError, add_content_hash, content_hash, sha256_unpadded_b64,
    sign_json, verify_content_hash, verify_json,
};
pub use state_resolution::{
    MAX_AUTH_CHAIN_WALK, StateMap, StateResolutionError, auth_chain, conflicted_state_subgraph,
    resolve_state, resolve_state_with_limit, state_resolution_rules,
};
