//! Micro-benchmarks of the per-event federation hot path: canonical JSON, content hash +
//! redaction + ed25519 signature, event ID (reference hash), and signature verification.

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use stoa_federation::{
    RoomVersion, ServerSigningKey, event_id, hash_and_sign_event, to_canonical_bytes, verify_event_signature,
};

fn message_event() -> Value {
    json!({
        "type": "m.room.message",
        "room_id": "!benchroom:localhost",
        "sender": "@alice:localhost",
        "origin_server_ts": 1_700_000_000_000u64,
        "depth": 1234,
        "prev_events": ["$Qe7yKx0hW0mYhY8vbn6Q2mBqX4YdS7r4xFJt8G3aK1c"],
        "auth_events": [
            "$CrEaTeEvEnTiDxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "$PoWeRlEvElSxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            "$AlIcEmEmBeRxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        ],
        "content": { "msgtype": "m.text", "body": "Hello, world! This is a typical short chat message." },
        "unsigned": {}
    })
}

fn benches(c: &mut Criterion) {
    let key = ServerSigningKey::from_seed("bench", [7u8; 32]);
    let Ok(key) = key else { return };
    let event = message_event();

    c.bench_function("canonical_json/message_event", |b| b.iter(|| to_canonical_bytes(&event)));

    c.bench_function("hash_and_sign/message_event_v11", |b| {
        b.iter(|| {
            let mut e = event.clone();
            hash_and_sign_event(&mut e, RoomVersion::V11, "localhost", &key)
        })
    });

    let mut signed = event.clone();
    if hash_and_sign_event(&mut signed, RoomVersion::V11, "localhost", &key).is_err() {
        return;
    }
    c.bench_function("event_id/message_event_v11", |b| b.iter(|| event_id(&signed, RoomVersion::V11)));

    let public = key.public_key();
    let key_id = key.key_id().to_owned();
    c.bench_function("verify_signature/message_event_v11", |b| {
        b.iter(|| verify_event_signature(&signed, RoomVersion::V11, "localhost", &key_id, &public))
    });
}

criterion_group!(event_signing, benches);
criterion_main!(event_signing);
