//! Incremental `/sync` over many rooms: only the rooms that changed come back — new
//! events, invites, leaves, kicks, room account data — each in its section, and a
//! server restart (which forgets the in-memory change feeds) loses nothing.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::harness::{Backend, Server, V3, bodies, enc, room_events};

fn next_batch(sync: &Value) -> String {
    sync["next_batch"].as_str().expect("next_batch").to_owned()
}

fn section(sync: &Value, name: &str) -> BTreeSet<String> {
    sync["rooms"][name].as_object().map(|rooms| rooms.keys().cloned().collect()).unwrap_or_default()
}

async fn only_changed_rooms_come_back(b: Backend) {
    let mut s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let (a, bt) = (alice.access_token.clone(), bob.access_token.clone());
    let mut rooms = Vec::new();
    for i in 0..12 {
        let room = s.create_room(&a, json!({"preset": "public_chat", "name": format!("room {i}")})).await;
        s.join(&bt, &room).await;
        rooms.push(room);
    }
    let since = next_batch(&s.sync(&bt, None, "").await);
    // Quiet: nothing comes back, and a long-poll waits.
    let quiet = s.sync(&bt, Some(&since), "timeout=0").await;
    assert!(section(&quiet, "join").is_empty(), "{quiet}");
    s.send_text(&a, &rooms[3], "in three").await;
    s.send_text(&a, &rooms[7], "in seven").await;
    let invite_room = s.create_room(&a, json!({})).await;
    s.invite(&a, &invite_room, &bob.user_id).await;
    s.room_action(&a, &rooms[9], "kick", json!({"user_id": bob.user_id})).await.ok();
    s.leave(&bt, &rooms[10]).await;
    let path =
        format!("{V3}/user/{}/rooms/{}/account_data/org.example.note", enc(&bob.user_id), enc(&rooms[1]));
    s.put(&path, Some(&bt), json!({"n": 1})).await.ok();
    let sync = s.sync(&bt, Some(&since), "timeout=0").await;
    let expected: BTreeSet<String> = [&rooms[1], &rooms[3], &rooms[7]].into_iter().cloned().collect();
    assert_eq!(section(&sync, "join"), expected, "{sync}");
    assert_eq!(bodies(room_events(&sync, "join", &rooms[3], "timeline")), vec!["in three"]);
    assert_eq!(room_events(&sync, "join", &rooms[1], "account_data")[0]["type"], "org.example.note");
    assert_eq!(section(&sync, "invite"), BTreeSet::from([invite_room.clone()]), "{sync}");
    assert_eq!(section(&sync, "leave"), BTreeSet::from([rooms[9].clone(), rooms[10].clone()]), "{sync}");
    // After a restart the feeds are gone; the same token still gives the same rooms.
    s.kill();
    s.start().await;
    let again = s.sync(&bt, Some(&since), "timeout=0").await;
    assert_eq!(section(&again, "join"), expected, "{again}");
    assert_eq!(section(&again, "leave"), section(&sync, "leave"), "{again}");
    // And from the latest token, the next change alone.
    let latest = next_batch(&again);
    s.send_text(&a, &rooms[0], "after restart").await;
    let next = s.sync(&bt, Some(&latest), "timeout=0").await;
    let next = if section(&next, "join").is_empty() {
        s.sync(&bt, Some(&latest), "timeout=5000").await
    } else {
        next
    };
    assert_eq!(section(&next, "join"), BTreeSet::from([rooms[0].clone()]), "{next}");
    let newest = next_batch(&next);
    s.send_text(&a, &rooms[5], "feed in use").await;
    let last = s.sync(&bt, Some(&newest), "timeout=5000").await;
    assert_eq!(section(&last, "join"), BTreeSet::from([rooms[5].clone()]), "{last}");
}

crate::per_backend!(only_changed_rooms_come_back,);
