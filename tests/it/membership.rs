//! Membership transitions with three users: invite, join, leave, re-join, kick, ban,
//! unban, knock — each allowed or refused per the auth rules, with reasons recorded.

use serde_json::{Value, json};

use crate::harness::{Backend, Server, Session, V3, enc};

struct Three {
    s: Server,
    alice: Session,
    bob: Session,
    carol: Session,
}

async fn three(b: Backend) -> Three {
    let s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let bob = s.register("bob", "pw").await;
    let carol = s.register("carol", "pw").await;
    Three { s, alice, bob, carol }
}

/// `user`'s membership in `room` as `viewer` sees it (None if no member event).
async fn membership(s: &Server, viewer: &str, room: &str, user: &str) -> Option<String> {
    let resp = s.get_state(viewer, room, "m.room.member", user).await;
    match resp.status {
        200 => Some(resp.json["membership"].as_str().expect("membership string").to_owned()),
        404 => None,
        _ => panic!("GET member state: {} {}", resp.status, resp.text),
    }
}

async fn member_content(s: &Server, viewer: &str, room: &str, user: &str) -> Value {
    s.get_state(viewer, room, "m.room.member", user).await.ok().clone()
}

async fn joined_members(s: &Server, viewer: &str, room: &str) -> Vec<String> {
    let resp = s.get(&format!("{V3}/rooms/{}/joined_members", enc(room)), Some(viewer)).await;
    let mut users: Vec<String> =
        resp.ok()["joined"].as_object().expect("joined object").keys().cloned().collect();
    users.sort();
    users
}

async fn joined_rooms(s: &Server, token: &str) -> Vec<String> {
    let resp = s.get(&format!("{V3}/joined_rooms"), Some(token)).await;
    resp.ok()["joined_rooms"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_owned()).collect()
}

fn sorted(users: &[&Session]) -> Vec<String> {
    let mut ids: Vec<String> = users.iter().map(|u| u.user_id.clone()).collect();
    ids.sort();
    ids
}

async fn invite_then_join(b: Backend) {
    let Three { s, alice, bob, carol } = three(b).await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    let room = s.create_room(a, json!({ "preset": "private_chat" })).await;
    // Invite-only: no join without an invite, and nothing changes.
    s.room_action(bt, &room, "join", json!({})).await.err(403, "M_FORBIDDEN");
    assert_eq!(membership(&s, a, &room, &bob.user_id).await, None);
    assert_eq!(joined_members(&s, a, &room).await, sorted(&[&alice]));
    // Only members may invite.
    s.room_action(&carol.access_token, &room, "invite", json!({ "user_id": bob.user_id }))
        .await
        .err(403, "M_FORBIDDEN");
    assert_eq!(membership(&s, a, &room, &bob.user_id).await, None);
    s.room_action(a, &room, "invite", json!({ "user_id": bob.user_id, "reason": "welcome aboard" }))
        .await
        .ok();
    let invite = member_content(&s, a, &room, &bob.user_id).await;
    assert_eq!(invite["membership"], "invite");
    assert_eq!(invite["reason"], "welcome aboard");
    // Invited but not joined: not in joined_members nor in bob's joined rooms.
    assert_eq!(joined_members(&s, a, &room).await, sorted(&[&alice]));
    assert!(joined_rooms(&s, bt).await.is_empty());
    let resp = s.room_action(bt, &room, "join", json!({ "reason": "thanks" })).await;
    assert_eq!(resp.ok()["room_id"], room.as_str());
    let join = member_content(&s, a, &room, &bob.user_id).await;
    assert_eq!(join["membership"], "join");
    assert_eq!(join["reason"], "thanks");
    assert_eq!(joined_members(&s, a, &room).await, sorted(&[&alice, &bob]));
    assert_eq!(joined_rooms(&s, bt).await, vec![room.clone()]);
    // /members filters by membership.
    let path = format!("{V3}/rooms/{}/members", enc(&room));
    let all = s.get(&path, Some(bt)).await;
    assert_eq!(all.ok()["chunk"].as_array().unwrap().len(), 2, "{}", all.text);
    let joined = s.get(&format!("{path}?membership=join"), Some(bt)).await;
    assert_eq!(joined.ok()["chunk"].as_array().unwrap().len(), 2);
    let not_joined = s.get(&format!("{path}?not_membership=join"), Some(bt)).await;
    assert_eq!(not_joined.ok()["chunk"], json!([]));
    // Inviting a member who already joined is refused.
    s.room_action(a, &room, "invite", json!({ "user_id": bob.user_id })).await.err(403, "M_FORBIDDEN");
    assert_eq!(membership(&s, a, &room, &bob.user_id).await.as_deref(), Some("join"));
    // Carol, not a member, cannot read the member list.
    s.get(&format!("{V3}/rooms/{}/joined_members", enc(&room)), Some(&carol.access_token))
        .await
        .err(403, "M_FORBIDDEN");
}

async fn invitee_may_reject(b: Backend) {
    let Three { s, alice, bob, .. } = three(b).await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    let room = s.create_room(a, json!({ "preset": "private_chat" })).await;
    s.invite(a, &room, &bob.user_id).await;
    s.room_action(bt, &room, "leave", json!({ "reason": "no thanks" })).await.ok();
    let content = member_content(&s, a, &room, &bob.user_id).await;
    assert_eq!(content["membership"], "leave");
    assert_eq!(content["reason"], "no thanks");
    // Rejected: the invite no longer lets bob in.
    s.room_action(bt, &room, "join", json!({})).await.err(403, "M_FORBIDDEN");
    assert_eq!(membership(&s, a, &room, &bob.user_id).await.as_deref(), Some("leave"));
    // The inviter may withdraw a fresh invite the same way (kick of an invitee).
    s.invite(a, &room, &bob.user_id).await;
    s.room_action(a, &room, "kick", json!({ "user_id": bob.user_id })).await.ok();
    assert_eq!(membership(&s, a, &room, &bob.user_id).await.as_deref(), Some("leave"));
    s.room_action(bt, &room, "join", json!({})).await.err(403, "M_FORBIDDEN");
}

async fn leave_and_rejoin_public_room(b: Backend) {
    let Three { s, alice, bob, carol } = three(b).await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    let room = s.create_room(a, json!({ "preset": "public_chat" })).await;
    s.join(bt, &room).await;
    s.join(&carol.access_token, &room).await;
    assert_eq!(joined_members(&s, a, &room).await, sorted(&[&alice, &bob, &carol]));
    s.room_action(bt, &room, "leave", json!({ "reason": "brb" })).await.ok();
    let content = member_content(&s, a, &room, &bob.user_id).await;
    assert_eq!(content["membership"], "leave");
    assert_eq!(content["reason"], "brb");
    assert_eq!(joined_members(&s, a, &room).await, sorted(&[&alice, &carol]));
    assert!(joined_rooms(&s, bt).await.is_empty());
    // A member who left may no longer send.
    s.send_event(bt, &room, "m.room.message", "after-leave", json!({ "msgtype": "m.text", "body": "x" }))
        .await
        .err(403, "M_FORBIDDEN");
    // Leaving twice: no longer a member.
    s.room_action(bt, &room, "leave", json!({})).await.err(403, "M_FORBIDDEN");
    // Re-join through the alias-or-ID endpoint this time.
    let resp = s.post(&format!("{V3}/join/{}", enc(&room)), Some(bt), json!({ "reason": "back" })).await;
    assert_eq!(resp.ok()["room_id"], room.as_str());
    let content = member_content(&s, a, &room, &bob.user_id).await;
    assert_eq!(content["membership"], "join");
    assert_eq!(content["reason"], "back");
    assert_eq!(joined_members(&s, a, &room).await, sorted(&[&alice, &bob, &carol]));
    assert_eq!(joined_rooms(&s, bt).await, vec![room.clone()]);
    // Joining again while joined is harmless (a profile-less re-join or a no-op).
    s.join(bt, &room).await;
    assert_eq!(joined_members(&s, a, &room).await, sorted(&[&alice, &bob, &carol]));
}

async fn join_and_leave_unknown_rooms(b: Backend) {
    let Three { s, alice, .. } = three(b).await;
    let a = &alice.access_token;
    let ghost = "!doesnotexist:localhost";
    for action in ["join", "leave"] {
        s.room_action(a, ghost, action, json!({})).await.err(404, "M_NOT_FOUND");
    }
    s.post(&format!("{V3}/join/{}", enc(ghost)), Some(a), json!({})).await.err(404, "M_NOT_FOUND");
    s.room_action(a, ghost, "invite", json!({ "user_id": "@bob:localhost" })).await.err(404, "M_NOT_FOUND");
    assert!(joined_rooms(&s, a).await.is_empty());
    // No token at all.
    s.post(&format!("{V3}/rooms/{}/join", enc(ghost)), None, json!({})).await.err(401, "M_MISSING_TOKEN");
}

async fn leave_when_not_a_member(b: Backend) {
    let Three { s, alice, bob, .. } = three(b).await;
    let room = s.create_room(&alice.access_token, json!({ "preset": "public_chat" })).await;
    s.room_action(&bob.access_token, &room, "leave", json!({})).await.err(403, "M_FORBIDDEN");
    assert_eq!(membership(&s, &alice.access_token, &room, &bob.user_id).await, None);
    assert_eq!(joined_members(&s, &alice.access_token, &room).await, sorted(&[&alice]));
}

async fn kick_needs_power(b: Backend) {
    let Three { s, alice, bob, carol } = three(b).await;
    let (a, bt, ct) = (&alice.access_token, &bob.access_token, &carol.access_token);
    let room = s.create_room(a, json!({ "preset": "public_chat" })).await;
    s.join(bt, &room).await;
    s.join(ct, &room).await;
    // Bob (power 0) cannot kick carol, nor alice.
    s.room_action(bt, &room, "kick", json!({ "user_id": carol.user_id })).await.err(403, "M_FORBIDDEN");
    s.room_action(bt, &room, "kick", json!({ "user_id": alice.user_id })).await.err(403, "M_FORBIDDEN");
    assert_eq!(joined_members(&s, a, &room).await, sorted(&[&alice, &bob, &carol]));
    // Alice (creator) can, with a reason.
    s.room_action(a, &room, "kick", json!({ "user_id": carol.user_id, "reason": "too loud" })).await.ok();
    let kicked = s.get(&format!("{V3}/rooms/{}/members?membership=leave", enc(&room)), Some(a)).await;
    let chunk = kicked.ok()["chunk"].as_array().unwrap().clone();
    assert_eq!(chunk.len(), 1, "{}", kicked.text);
    assert_eq!(chunk[0]["state_key"], carol.user_id.as_str());
    assert_eq!(chunk[0]["sender"], alice.user_id.as_str());
    assert_eq!(chunk[0]["content"]["membership"], "leave");
    assert_eq!(chunk[0]["content"]["reason"], "too loud");
    assert_eq!(joined_members(&s, a, &room).await, sorted(&[&alice, &bob]));
    // A kick is not a ban: carol may come back to a public room.
    s.join(ct, &room).await;
    assert_eq!(joined_members(&s, a, &room).await, sorted(&[&alice, &bob, &carol]));
}

async fn ban_blocks_join_until_unban(b: Backend) {
    let Three { s, alice, bob, carol } = three(b).await;
    let (a, bt, ct) = (&alice.access_token, &bob.access_token, &carol.access_token);
    let room = s.create_room(a, json!({ "preset": "public_chat" })).await;
    s.join(bt, &room).await;
    s.join(ct, &room).await;
    // A normal member cannot ban.
    s.room_action(bt, &room, "ban", json!({ "user_id": carol.user_id })).await.err(403, "M_FORBIDDEN");
    assert_eq!(membership(&s, a, &room, &carol.user_id).await.as_deref(), Some("join"));
    s.room_action(a, &room, "ban", json!({ "user_id": carol.user_id, "reason": "spam" })).await.ok();
    let ban = member_content(&s, a, &room, &carol.user_id).await;
    assert_eq!(ban["membership"], "ban");
    assert_eq!(ban["reason"], "spam");
    assert_eq!(joined_members(&s, a, &room).await, sorted(&[&alice, &bob]));
    assert!(joined_rooms(&s, ct).await.is_empty());
    // Banned: no join, no invite, no leave, no sending.
    s.room_action(ct, &room, "join", json!({})).await.err(403, "M_FORBIDDEN");
    s.post(&format!("{V3}/join/{}", enc(&room)), Some(ct), json!({})).await.err(403, "M_FORBIDDEN");
    s.room_action(a, &room, "invite", json!({ "user_id": carol.user_id })).await.err(403, "M_FORBIDDEN");
    s.room_action(ct, &room, "leave", json!({})).await.err(403, "M_FORBIDDEN");
    s.send_event(ct, &room, "m.room.message", "banned", json!({ "msgtype": "m.text", "body": "x" }))
        .await
        .err(403, "M_FORBIDDEN");
    assert_eq!(membership(&s, a, &room, &carol.user_id).await.as_deref(), Some("ban"));
    // Banning someone who never joined works too (pre-emptive ban).
    let dave = s.register("dave", "pw").await;
    s.room_action(a, &room, "ban", json!({ "user_id": dave.user_id })).await.ok();
    s.room_action(&dave.access_token, &room, "join", json!({})).await.err(403, "M_FORBIDDEN");
    // Bob cannot unban; unbanning a user who is not banned is refused.
    s.room_action(bt, &room, "unban", json!({ "user_id": carol.user_id })).await.err(403, "M_FORBIDDEN");
    assert_eq!(membership(&s, a, &room, &carol.user_id).await.as_deref(), Some("ban"));
    s.room_action(a, &room, "unban", json!({ "user_id": bob.user_id })).await.err(403, "M_FORBIDDEN");
    assert_eq!(membership(&s, a, &room, &bob.user_id).await.as_deref(), Some("join"));
    s.room_action(a, &room, "unban", json!({ "user_id": carol.user_id, "reason": "forgiven" })).await.ok();
    let unban = member_content(&s, a, &room, &carol.user_id).await;
    assert_eq!(unban["membership"], "leave");
    assert_eq!(unban["reason"], "forgiven");
    // Public room: carol may join again.
    s.join(ct, &room).await;
    assert_eq!(joined_members(&s, a, &room).await, sorted(&[&alice, &bob, &carol]));
}

async fn banned_from_invite_only_room_stays_out_after_unban(b: Backend) {
    let Three { s, alice, bob, .. } = three(b).await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    let room = s.create_room(a, json!({ "preset": "private_chat" })).await;
    s.invite(a, &room, &bob.user_id).await;
    s.join(bt, &room).await;
    s.room_action(a, &room, "ban", json!({ "user_id": bob.user_id })).await.ok();
    s.room_action(a, &room, "unban", json!({ "user_id": bob.user_id })).await.ok();
    // Unbanned but the room is invite-only: still no join without a new invite.
    s.room_action(bt, &room, "join", json!({})).await.err(403, "M_FORBIDDEN");
    s.invite(a, &room, &bob.user_id).await;
    s.join(bt, &room).await;
    assert_eq!(membership(&s, a, &room, &bob.user_id).await.as_deref(), Some("join"));
}

async fn knock_on_a_knock_room(b: Backend) {
    let Three { s, alice, bob, carol } = three(b).await;
    let (a, ct) = (&alice.access_token, &carol.access_token);
    let room = s
        .create_room(
            a,
            json!({
                "name": "Knock knock",
                "initial_state": [
                    { "type": "m.room.join_rules", "state_key": "", "content": { "join_rule": "knock" } },
                ],
            }),
        )
        .await;
    // A knock room does not let anyone simply join.
    s.room_action(ct, &room, "join", json!({})).await.err(403, "M_FORBIDDEN");
    let resp =
        s.post(&format!("{V3}/knock/{}", enc(&room)), Some(ct), json!({ "reason": "let me in" })).await;
    assert_eq!(resp.ok()["room_id"], room.as_str());
    let knock = member_content(&s, a, &room, &carol.user_id).await;
    assert_eq!(knock["membership"], "knock");
    assert_eq!(knock["reason"], "let me in");
    // The knocker sees the room in the knock section of /sync.
    let sync = s.sync(ct, None, "").await;
    let entry = &sync["rooms"]["knock"][&room];
    let events =
        entry["knock_state"]["events"].as_array().unwrap_or_else(|| panic!("no knock_state: {sync}"));
    assert!(events.iter().any(|e| e["type"] == "m.room.name" && e["content"]["name"] == "Knock knock"));
    assert!(sync["rooms"]["join"].get(&room).is_none());
    // Alice accepts the knock with an invite; carol joins.
    s.invite(a, &room, &carol.user_id).await;
    s.join(ct, &room).await;
    assert_eq!(joined_members(&s, a, &room).await, sorted(&[&alice, &carol]));
    // Knocking on a public or an invite-only room is refused; a member cannot knock.
    let public = s.create_room(a, json!({ "preset": "public_chat" })).await;
    let private = s.create_room(a, json!({ "preset": "private_chat" })).await;
    for target in [&public, &private] {
        s.post(&format!("{V3}/knock/{}", enc(target)), Some(&bob.access_token), json!({}))
            .await
            .err(403, "M_FORBIDDEN");
        assert_eq!(membership(&s, a, target, &bob.user_id).await, None);
    }
    s.post(&format!("{V3}/knock/{}", enc(&room)), Some(ct), json!({})).await.err(403, "M_FORBIDDEN");
    assert_eq!(membership(&s, a, &room, &carol.user_id).await.as_deref(), Some("join"));
}

async fn knock_rejected_by_kick(b: Backend) {
    let Three { s, alice, carol, .. } = three(b).await;
    let (a, ct) = (&alice.access_token, &carol.access_token);
    let room = s
        .create_room(
            a,
            json!({ "initial_state": [
                { "type": "m.room.join_rules", "state_key": "", "content": { "join_rule": "knock" } },
            ] }),
        )
        .await;
    s.post(&format!("{V3}/knock/{}", enc(&room)), Some(ct), json!({})).await.ok();
    s.room_action(a, &room, "kick", json!({ "user_id": carol.user_id, "reason": "no" })).await.ok();
    let content = member_content(&s, a, &room, &carol.user_id).await;
    assert_eq!(content["membership"], "leave");
    assert_eq!(content["reason"], "no");
    s.room_action(ct, &room, "join", json!({})).await.err(403, "M_FORBIDDEN");
}

async fn membership_events_show_in_the_timeline(b: Backend) {
    let Three { s, alice, bob, carol } = three(b).await;
    let (a, bt, ct) = (&alice.access_token, &bob.access_token, &carol.access_token);
    let room = s.create_room(a, json!({ "preset": "public_chat" })).await;
    s.join(bt, &room).await;
    s.room_action(a, &room, "invite", json!({ "user_id": carol.user_id, "reason": "r-invite" })).await.ok();
    s.room_action(ct, &room, "join", json!({ "reason": "r-join" })).await.ok();
    s.room_action(a, &room, "kick", json!({ "user_id": bob.user_id, "reason": "r-kick" })).await.ok();
    s.room_action(a, &room, "ban", json!({ "user_id": bob.user_id, "reason": "r-ban" })).await.ok();
    s.room_action(a, &room, "unban", json!({ "user_id": bob.user_id, "reason": "r-unban" })).await.ok();
    s.room_action(ct, &room, "leave", json!({ "reason": "r-leave" })).await.ok();
    let history = s.all_messages(a, &room).await;
    let changes: Vec<(String, String, String, String)> = history
        .iter()
        .filter(|e| e["type"] == "m.room.member" && e["content"]["reason"].is_string())
        .map(|e| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (s(&e["sender"]), s(&e["state_key"]), s(&e["content"]["membership"]), s(&e["content"]["reason"]))
        })
        .collect();
    let (al, bo, ca) = (alice.user_id.clone(), bob.user_id.clone(), carol.user_id.clone());
    let t = |s: &str, k: &str, m: &str, r: &str| (s.to_owned(), k.to_owned(), m.to_owned(), r.to_owned());
    assert_eq!(
        changes,
        vec![
            t(&al, &ca, "invite", "r-invite"),
            t(&ca, &ca, "join", "r-join"),
            t(&al, &bo, "leave", "r-kick"),
            t(&al, &bo, "ban", "r-ban"),
            t(&al, &bo, "leave", "r-unban"),
            t(&ca, &ca, "leave", "r-leave"),
        ]
    );
}

async fn malformed_membership_requests(b: Backend) {
    let Three { s, alice, .. } = three(b).await;
    let a = &alice.access_token;
    let room = s.create_room(a, json!({ "preset": "public_chat" })).await;
    // Missing or malformed user_id.
    for action in ["invite", "kick", "ban", "unban"] {
        s.room_action(a, &room, action, json!({})).await.err(400, "M_BAD_JSON");
        s.room_action(a, &room, action, json!({ "user_id": "not a user id" }))
            .await
            .err_one_of(&[(400, "M_BAD_JSON"), (400, "M_INVALID_PARAM")]);
    }
    // Reason of the wrong type.
    s.room_action(a, &room, "leave", json!({ "reason": 5 })).await.err(400, "M_BAD_JSON");
    assert_eq!(joined_members(&s, a, &room).await, sorted(&[&alice]));
    let members = s.get(&format!("{V3}/rooms/{}/members", enc(&room)), Some(a)).await;
    assert_eq!(members.ok()["chunk"].as_array().unwrap().len(), 1);
}

async fn invites_and_bans_respect_power_levels(b: Backend) {
    let Three { s, alice, bob, carol } = three(b).await;
    let (a, bt, ct) = (&alice.access_token, &bob.access_token, &carol.access_token);
    // v11 so that the creator has an ordinary (100) power level.
    let room = s.create_room(a, json!({ "preset": "public_chat", "room_version": "11" })).await;
    s.join(bt, &room).await;
    let dave = s.register("dave", "pw").await;
    // Public preset: inviting needs 50; bob has 0.
    s.room_action(bt, &room, "invite", json!({ "user_id": dave.user_id })).await.err(403, "M_FORBIDDEN");
    assert_eq!(membership(&s, a, &room, &dave.user_id).await, None);
    // Make bob a moderator (50).
    let mut power = s.get_state(a, &room, "m.room.power_levels", "").await.ok().clone();
    power["users"][&bob.user_id] = json!(50);
    s.put_state(a, &room, "m.room.power_levels", "", power).await.ok();
    s.room_action(bt, &room, "invite", json!({ "user_id": dave.user_id })).await.ok();
    s.join(ct, &room).await;
    // A moderator may kick and ban those below, not the admin above.
    s.room_action(bt, &room, "kick", json!({ "user_id": alice.user_id })).await.err(403, "M_FORBIDDEN");
    s.room_action(bt, &room, "ban", json!({ "user_id": alice.user_id })).await.err(403, "M_FORBIDDEN");
    assert_eq!(membership(&s, a, &room, &alice.user_id).await.as_deref(), Some("join"));
    s.room_action(bt, &room, "ban", json!({ "user_id": carol.user_id })).await.ok();
    assert_eq!(membership(&s, a, &room, &carol.user_id).await.as_deref(), Some("ban"));
    // Carol (banned, 0) cannot act on anyone.
    s.room_action(ct, &room, "kick", json!({ "user_id": bob.user_id })).await.err(403, "M_FORBIDDEN");
    // The admin may kick the moderator.
    s.room_action(a, &room, "kick", json!({ "user_id": bob.user_id })).await.ok();
    assert_eq!(membership(&s, a, &room, &bob.user_id).await.as_deref(), Some("leave"));
}

async fn membership_through_the_state_endpoint(b: Backend) {
    let Three { s, alice, bob, .. } = three(b).await;
    let (a, bt) = (&alice.access_token, &bob.access_token);
    let room = s.create_room(a, json!({ "preset": "public_chat" })).await;
    // A join written as a state event goes through the same auth rules.
    s.put_state(
        bt,
        &room,
        "m.room.member",
        &bob.user_id,
        json!({ "membership": "join", "displayname": "Bobby" }),
    )
    .await
    .ok();
    assert_eq!(joined_members(&s, a, &room).await, sorted(&[&alice, &bob]));
    let joined = s.get(&format!("{V3}/rooms/{}/joined_members", enc(&room)), Some(a)).await;
    assert_eq!(joined.ok()["joined"][&bob.user_id]["display_name"], "Bobby");
    // A member event without a valid membership is refused.
    s.put_state(bt, &room, "m.room.member", &bob.user_id, json!({ "membership": "dancing" }))
        .await
        .err_one_of(&[(403, "M_FORBIDDEN"), (400, "M_BAD_JSON")]);
    s.put_state(bt, &room, "m.room.member", &bob.user_id, json!({}))
        .await
        .err_one_of(&[(403, "M_FORBIDDEN"), (400, "M_BAD_JSON")]);
    assert_eq!(membership(&s, a, &room, &bob.user_id).await.as_deref(), Some("join"));
}

async fn concurrent_joins_all_land(b: Backend) {
    let Three { s, alice, .. } = three(b).await;
    let room = s.create_room(&alice.access_token, json!({ "preset": "public_chat" })).await;
    let mut users = Vec::new();
    for i in 0..8 {
        users.push(s.register(&format!("joiner{i}"), "pw").await);
    }
    let joins = users.iter().map(|u| s.room_action(&u.access_token, &room, "join", json!({})));
    let results = futures_join_all(joins.collect()).await;
    for r in &results {
        r.ok();
    }
    let mut want: Vec<&Session> = users.iter().collect();
    want.push(&alice);
    assert_eq!(joined_members(&s, &alice.access_token, &room).await, sorted(&want));
}

/// Polls every future to completion concurrently (no extra dependency needed).
async fn futures_join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.into_iter().map(|o| o.expect("completed")).collect()
}

async fn join_events_carry_the_profile(b: Backend) {
    let Three { s, alice, bob, .. } = three(b).await;
    let bt = &bob.access_token;
    let profile = format!("{V3}/profile/{}/displayname", enc(&bob.user_id));
    s.put(&profile, Some(bt), json!({ "displayname": "Bob the Builder" })).await.ok();
    let room = s.create_room(&alice.access_token, json!({ "preset": "public_chat" })).await;
    s.join(bt, &room).await;
    let member = member_content(&s, &alice.access_token, &room, &bob.user_id).await;
    assert_eq!(member["displayname"], "Bob the Builder", "{member}");
    let joined = s.get(&format!("{V3}/rooms/{}/joined_members", enc(&room)), Some(bt)).await;
    assert_eq!(joined.ok()["joined"][&bob.user_id]["display_name"], "Bob the Builder");
    // Left members may not list the joined members.
    s.leave(bt, &room).await;
    s.get(&format!("{V3}/rooms/{}/joined_members", enc(&room)), Some(bt)).await.err(403, "M_FORBIDDEN");
}

crate::per_backend!(
    invite_then_join,
    invitee_may_reject,
    leave_and_rejoin_public_room,
    join_and_leave_unknown_rooms,
    leave_when_not_a_member,
    kick_needs_power,
    ban_blocks_join_until_unban,
    banned_from_invite_only_room_stays_out_after_unban,
    knock_on_a_knock_room,
    knock_rejected_by_kick,
    membership_events_show_in_the_timeline,
    malformed_membership_requests,
    invites_and_bans_respect_power_levels,
    membership_through_the_state_endpoint,
    concurrent_joins_all_land,
    join_events_carry_the_profile,
);
