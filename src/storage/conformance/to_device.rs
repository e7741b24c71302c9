//! Checks of [`crate::storage::ToDeviceStore`] and [`crate::storage::DeviceListStore`].

use super::Fixture;
use super::samples::{device_id, user_id};
use crate::storage::{Position, ToDeviceMessage, ToDeviceTxn};

const ALICE: &str = "@alice:example.org";
const BOB: &str = "@bob:example.org";

fn txn(id: &str) -> ToDeviceTxn {
    ToDeviceTxn { sender: user_id(ALICE), sender_device: device_id("ADEV"), txn_id: id.to_owned() }
}

fn message(user: &str, device: &str, body: &str) -> ToDeviceMessage {
    ToDeviceMessage {
        recipient: user_id(user),
        device_id: device_id(device),
        json: format!(r#"{{"b":"{body}"}}"#),
    }
}

fn bodies(messages: &[(Position, String)]) -> Vec<(u64, String)> {
    messages.iter().map(|(position, json)| (position.0, json.clone())).collect()
}

pub(crate) async fn queue_deliver_and_ack(fixture: Fixture) {
    let store = &fixture.stores.to_device;
    let (bob, phone, laptop) = (user_id(BOB), device_id("PHONE"), device_id("LAPTOP"));
    let first = [message(BOB, "PHONE", "1"), message(BOB, "LAPTOP", "1")];
    assert!(store.queue_to_device(&txn("t1"), Position(5), &first, 100).await.unwrap().queued);
    let again = store.queue_to_device(&txn("t1"), Position(6), &first, 100).await.unwrap();
    assert!(!again.queued, "a retried transaction queues nothing");
    store.queue_to_device(&txn("t2"), Position(7), &[message(BOB, "PHONE", "2")], 100).await.unwrap();
    let all = store.to_device_messages(&bob, &phone, Position(0), Position(10), 10).await.unwrap();
    assert_eq!(bodies(&all), [(5, r#"{"b":"1"}"#.to_owned()), (7, r#"{"b":"2"}"#.to_owned())]);
    let window = store.to_device_messages(&bob, &phone, Position(0), Position(6), 10).await.unwrap();
    assert_eq!(window.len(), 1, "only up to upto");
    assert_eq!(store.to_device_messages(&bob, &phone, Position(0), Position(10), 1).await.unwrap().len(), 1);
    store.ack_to_device(&bob, &phone, Position(5)).await.unwrap();
    let left = store.to_device_messages(&bob, &phone, Position(0), Position(10), 10).await.unwrap();
    assert_eq!(bodies(&left), [(7, r#"{"b":"2"}"#.to_owned())]);
    assert_eq!(
        store.to_device_messages(&bob, &laptop, Position(0), Position(10), 10).await.unwrap().len(),
        1
    );
    store.delete_to_device_queue(&bob, &laptop).await.unwrap();
    assert!(store.to_device_messages(&bob, &laptop, Position(0), Position(10), 10).await.unwrap().is_empty());
}

pub(crate) async fn queue_is_capped_dropping_oldest(fixture: Fixture) {
    let store = &fixture.stores.to_device;
    let (bob, phone) = (user_id(BOB), device_id("PHONE"));
    for i in 1..=5u64 {
        let outcome = store
            .queue_to_device(&txn(&format!("t{i}")), Position(i), &[message(BOB, "PHONE", &i.to_string())], 3)
            .await
            .unwrap();
        assert_eq!(outcome.dropped.is_empty(), i <= 3, "drops only past the cap ({i})");
    }
    let left = store.to_device_messages(&bob, &phone, Position(0), Position(10), 10).await.unwrap();
    assert_eq!(left.iter().map(|(p, _)| p.0).collect::<Vec<_>>(), [3, 4, 5]);
    // After an acknowledgement there is room again.
    store.ack_to_device(&bob, &phone, Position(4)).await.unwrap();
    let outcome =
        store.queue_to_device(&txn("t6"), Position(6), &[message(BOB, "PHONE", "6")], 3).await.unwrap();
    assert!(outcome.dropped.is_empty());
    let left = store.to_device_messages(&bob, &phone, Position(0), Position(10), 10).await.unwrap();
    assert_eq!(left.iter().map(|(p, _)| p.0).collect::<Vec<_>>(), [5, 6]);
}

pub(crate) async fn device_list_changes_latest_per_user(fixture: Fixture) {
    let store = &fixture.stores.device_lists;
    let (alice, bob, carol) = (user_id(ALICE), user_id(BOB), user_id("@carol:example.org"));
    store.record_device_list_change(&alice, Position(1)).await.unwrap();
    store.record_device_list_change(&bob, Position(2)).await.unwrap();
    store.record_device_list_change(&alice, Position(3)).await.unwrap();
    store.record_device_list_change(&carol, Position(4)).await.unwrap();
    store.record_device_list_change(&carol, Position(2)).await.unwrap();
    let all = store.device_list_changes(Position(0), Position(10), 10).await.unwrap();
    assert_eq!(all, [(bob.clone(), Position(2)), (alice.clone(), Position(3)), (carol.clone(), Position(4))]);
    assert_eq!(
        store.device_list_changes(Position(2), Position(3), 10).await.unwrap(),
        [(alice, Position(3))]
    );
    assert_eq!(store.device_list_changes(Position(0), Position(10), 1).await.unwrap().len(), 1);
    assert!(store.device_list_changes(Position(4), Position(4), 10).await.unwrap().is_empty());
}
