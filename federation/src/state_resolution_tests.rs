//! Tests for state resolution: constructed forks, ruma's published MSC4297 vectors, and the
//! bounded auth DAG walks.

use std::collections::HashMap;

use ruma::{EventId, MilliSecondsSinceUnixEpoch, OwnedEventId};
use serde_json::json;

use super::*;
use crate::test_room::{Spec, TestEvent, TestRoom, id, key, user};

fn topic(id: &str, sender: &str, topic: &str) -> Spec<'static> {
    let (id, sender) = (id.to_owned().leak(), sender.to_owned().leak());
    Spec {
        id,
        sender,
        kind: "m.room.topic",
        state_key: Some(""),
        content: json!({"topic": topic}),
        prev: &[],
    }
}

/// Resolves `states` in both orders and checks the result does not depend on the order.
fn resolve_both_ways(room: &TestRoom, states: [&StateMap<OwnedEventId>; 2]) -> StateMap<OwnedEventId> {
    let forward = resolve_state(room.version, &[states[0].clone(), states[1].clone()], room.fetch()).unwrap();
    let backward =
        resolve_state(room.version, &[states[1].clone(), states[0].clone()], room.fetch()).unwrap();
    assert_eq!(forward, backward);
    forward
}

#[test]
fn concurrent_topic_changes_resolve_to_the_later_one() {
    for version in RoomVersion::ALL {
        let (mut room, base) = TestRoom::public(version, 50);
        let (mut alice_side, mut bob_side) = (base.clone(), base.clone());
        room.add(&topic("alice-topic", "alice", "from alice"), &mut alice_side);
        let bob_topic = room.add(&topic("bob-topic", "bob", "from bob"), &mut bob_side);
        let resolved = resolve_both_ways(&room, [&alice_side, &bob_side]);
        // Both topics sit on the same power levels, so the later timestamp wins.
        assert_eq!(resolved[&key("m.room.topic", "")], bob_topic, "v{version}");
        assert_eq!(resolved.len(), base.len() + 1);
    }
}

#[test]
fn a_ban_beats_the_banned_users_concurrent_power_change() {
    for version in RoomVersion::ALL {
        let (mut room, base) = TestRoom::public(version, 50);
        let bob = user("bob").to_string();
        let charlie = user("charlie").to_string();
        let (mut alice_side, mut bob_side) = (base.clone(), base.clone());
        let ban = Spec {
            id: "ban-bob",
            sender: "alice",
            kind: "m.room.member",
            state_key: Some(&bob),
            content: json!({"membership": "ban"}),
            prev: &[],
        };
        let ban = room.add(&ban, &mut alice_side);
        let mut users = json!({&bob: 50, &charlie: 50});
        if !version.rules().creators_have_infinite_power {
            users[user("alice").as_str()] = json!(100);
        }
        let power = Spec {
            id: "bob-power",
            sender: "bob",
            kind: "m.room.power_levels",
            state_key: Some(""),
            content: json!({"users": users, "state_default": 50}),
            prev: &[],
        };
        room.add(&power, &mut bob_side);
        let resolved = resolve_both_ways(&room, [&alice_side, &bob_side]);
        assert_eq!(resolved[&key("m.room.member", &bob)], ban, "v{version}");
        assert_eq!(resolved[&key("m.room.power_levels", "")], base[&key("m.room.power_levels", "")]);
    }
}

#[test]
fn resolution_refuses_oversized_auth_chains() {
    let (mut room, base) = TestRoom::public(RoomVersion::V12, 50);
    let (mut alice_side, mut bob_side) = (base.clone(), base.clone());
    room.add(&topic("alice-topic", "alice", "a"), &mut alice_side);
    room.add(&topic("bob-topic", "bob", "b"), &mut bob_side);
    let states = [alice_side, bob_side];
    assert_eq!(
        resolve_state_with_limit(RoomVersion::V12, &states, room.fetch(), 2),
        Err(StateResolutionError::AuthChainTooLarge { limit: 2 })
    );
    assert!(resolve_state_with_limit(RoomVersion::V12, &states, room.fetch(), 100).is_ok());
}

#[test]
fn a_single_or_agreeing_state_needs_no_events() {
    let state: StateMap<OwnedEventId> = [(key("m.room.create", ""), id("create"))].into();
    let nothing = |_: &EventId| None::<TestEvent>;
    assert_eq!(resolve_state(RoomVersion::V12, std::slice::from_ref(&state), nothing), Ok(state.clone()));
    assert_eq!(resolve_state(RoomVersion::V12, &[state.clone(), state.clone()], nothing), Ok(state));
    assert_eq!(resolve_state(RoomVersion::V12, &[], nothing), Ok(StateMap::new()));
}

#[test]
fn missing_events_are_reported_not_guessed() {
    let (room, base) = TestRoom::public(RoomVersion::V11, 0);
    let mut other = base.clone();
    other.insert(key("m.room.topic", ""), id("nowhere"));
    let result = resolve_state(RoomVersion::V11, &[base, other], room.fetch());
    assert_eq!(result, Err(StateResolutionError::MissingEvent(id("nowhere"))));
}

/// A chain `e0 <- e1 <- … <- e{len-1}` through `auth_events`, plus any `extra` edges.
fn chain(len: usize) -> HashMap<OwnedEventId, TestEvent> {
    (0..len)
        .map(|index| {
            let auth = if index == 0 { vec![] } else { vec![id(&format!("e{}", index - 1))] };
            (id(&format!("e{index}")), bare_event(&format!("e{index}"), auth))
        })
        .collect()
}

fn bare_event(name: &str, auth_events: Vec<OwnedEventId>) -> TestEvent {
    TestEvent {
        event_id: id(name),
        room_id: None,
        sender: user("alice"),
        origin_server_ts: MilliSecondsSinceUnixEpoch(0_u32.into()),
        event_type: "m.room.member".into(),
        content: serde_json::value::to_raw_value(&json!({})).unwrap(),
        state_key: Some(String::new()),
        prev_events: vec![],
        auth_events,
        redacts: None,
        rejected: false,
    }
}

#[test]
fn auth_chain_walk_is_bounded() {
    let events = chain(11);
    let fetch = |event_id: &EventId| events.get(event_id).cloned();
    let top = id("e10");
    let full = auth_chain([top.as_ref()], fetch, 100).unwrap();
    assert_eq!(full.len(), 10);
    assert!(!full.contains(&top));
    assert_eq!(
        auth_chain([top.as_ref()], fetch, 5),
        Err(StateResolutionError::AuthChainTooLarge { limit: 5 })
    );
    assert_eq!(
        conflicted_state_subgraph([top.as_ref(), id("e0").as_ref()], fetch, 5),
        Err(StateResolutionError::AuthChainTooLarge { limit: 5 })
    );
}

#[test]
fn conflicted_state_subgraph_keeps_only_paths_between_conflicted_events() {
    // c1 -> x -> y -> c2 -> w, c1 -> z, and c3 on its own.
    let mut events: HashMap<OwnedEventId, TestEvent> = HashMap::new();
    for (name, auth) in [
        ("c1", vec!["x", "z"]),
        ("x", vec!["y"]),
        ("y", vec!["c2"]),
        ("c2", vec!["w"]),
        ("w", vec![]),
        ("z", vec![]),
        ("c3", vec!["w"]),
    ] {
        events.insert(id(name), bare_event(name, auth.into_iter().map(id).collect()));
    }
    let fetch = |event_id: &EventId| events.get(event_id).cloned();
    let conflicted = [id("c1"), id("c2"), id("c3")];
    let subgraph = conflicted_state_subgraph(conflicted.iter().map(|id| id.as_ref()), fetch, 100).unwrap();
    let expected = ["c1", "x", "y", "c2"].into_iter().map(id).collect();
    assert_eq!(subgraph, expected);
    // A lone conflicted event is not a path.
    let lone = conflicted_state_subgraph([id("c3").as_ref()], fetch, 100).unwrap();
    assert!(lone.is_empty());
}

/// Loads one of ruma's MSC4297 fixtures: its PDUs and the two state maps to resolve.
fn msc4297(
    problem: &str,
    pdus: &str,
    states: [&str; 2],
) -> (HashMap<OwnedEventId, TestEvent>, Vec<StateMap<OwnedEventId>>) {
    let dir = format!("{}/testdata/ruma-state-res/MSC4297-problem-{problem}", env!("CARGO_MANIFEST_DIR"));
    let read = |name: &str| std::fs::read_to_string(format!("{dir}/{name}.json")).unwrap();
    let events: HashMap<OwnedEventId, TestEvent> = serde_json::from_str::<Vec<TestEvent>>(&read(pdus))
        .unwrap()
        .into_iter()
        .map(|event| (event.event_id.clone(), event))
        .collect();
    let state_maps = states
        .iter()
        .map(|name| {
            serde_json::from_str::<Vec<OwnedEventId>>(&read(name))
                .unwrap()
                .into_iter()
                .map(|event_id| {
                    let event = &events[&event_id];
                    let kind = event.event_type.to_string();
                    ((kind.into(), event.state_key.clone().unwrap()), event_id)
                })
                .collect()
        })
        .collect();
    (events, state_maps)
}

fn resolve_fixture(
    version: RoomVersion,
    problem: &str,
    pdus: &str,
    states: [&str; 2],
) -> StateMap<OwnedEventId> {
    let (events, state_maps) = msc4297(problem, pdus, states);
    resolve_state(version, &state_maps, |event_id| events.get(event_id).cloned()).unwrap()
}

#[test]
fn msc4297_problem_a_v2_1_starts_from_an_empty_state() {
    let states = ["state-bob", "state-charlie"];
    let v11 = resolve_fixture(RoomVersion::V11, "A", "pdus-v11", states);
    assert_eq!(v11.get(&key("m.room.join_rules", "")), None, "v2.0 loses the join rules");
    assert_eq!(v11.len(), 5);
    let v12 = resolve_fixture(RoomVersion::V12, "A", "pdus-v12", states);
    assert_eq!(v12[&key("m.room.join_rules", "")], id("01-m-room-join_rules"));
    assert_eq!(v12[&key("m.room.power_levels", "")], id("00-m-room-power_levels"));
    assert_eq!(v12[&key("m.room.member", "@alice:example.com")], id("01-m-room-member-leave-alice"));
    assert_eq!(v12.len(), 6);
}

#[test]
fn msc4297_problem_b_v2_1_considers_the_conflicted_subgraph() {
    let states = ["state-eve", "state-zara"];
    let v11 = resolve_fixture(RoomVersion::V11, "B", "pdus-v11", states);
    assert_eq!(v11[&key("m.room.power_levels", "")], id("00-m-room-power_levels"), "v2.0 resets power");
    let v12 = resolve_fixture(RoomVersion::V12, "B", "pdus-v12", states);
    assert_eq!(v12[&key("m.room.power_levels", "")], id("02-m-room-power_levels"));
    assert_eq!(v12[&key("m.room.member", "@zara:example.com")], id("00-m-room-member-join-zara"));
    assert_eq!(
        v12[&key("m.room.member", "@eve:example.com")],
        id("01-m-room-member-change-display-name-eve")
    );
    assert_eq!(v12.len(), 8);
}

#[test]
fn version_rules_map_to_ruma() {
    assert_eq!(state_resolution_rules(RoomVersion::V10), StateResolutionV2Rules::V2_0);
    assert_eq!(state_resolution_rules(RoomVersion::V11), StateResolutionV2Rules::V2_0);
    assert_eq!(state_resolution_rules(RoomVersion::V12), StateResolutionV2Rules::V2_1);
}
