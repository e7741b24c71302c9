//! Checks of [`crate::storage::StreamStore`]: positions are unique and increasing, also
//! across concurrent reservers and restarts.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::task::JoinSet;

use super::Fixture;
use crate::storage::{Position, StreamId};

pub(crate) async fn positions_start_at_one_and_increase(fixture: Fixture) {
    let streams = &fixture.stores.streams;
    assert_eq!(streams.max_reserved_position(StreamId::Events).await.unwrap(), Position(0), "a fresh store");
    let mut last = Position(0);
    for _ in 0..50 {
        let position = streams.reserve_position(StreamId::Events).await.unwrap();
        assert!(position > last, "{position:?} after {last:?}");
        last = position;
    }
    assert!(streams.max_reserved_position(StreamId::Events).await.unwrap() >= last);
}

pub(crate) async fn streams_are_independent(fixture: Fixture) {
    let streams = &fixture.stores.streams;
    for stream in StreamId::ALL {
        assert_eq!(streams.max_reserved_position(stream).await.unwrap(), Position(0), "{stream:?}");
    }
    let first_event = streams.reserve_position(StreamId::Events).await.unwrap();
    assert_eq!(
        streams.max_reserved_position(StreamId::Typing).await.unwrap(),
        Position(0),
        "other streams are untouched"
    );
    for stream in StreamId::ALL {
        let first = streams.reserve_position(stream).await.unwrap();
        let second = streams.reserve_position(stream).await.unwrap();
        assert!(first >= Position(1) && second > first, "{stream:?}");
        assert!(streams.max_reserved_position(stream).await.unwrap() >= second, "{stream:?}");
    }
    assert!(streams.reserve_position(StreamId::Events).await.unwrap() > first_event);
}

pub(crate) async fn concurrent_reservers_get_distinct_positions(fixture: Fixture) {
    const RESERVERS: usize = 8;
    // Enough to cross any block of positions an adapter reserves ahead.
    const EACH: usize = 300;
    let streams = Arc::clone(&fixture.stores.streams);
    let mut reservers = JoinSet::new();
    for _ in 0..RESERVERS {
        let streams = Arc::clone(&streams);
        reservers.spawn(async move {
            let mut taken = Vec::with_capacity(EACH);
            for _ in 0..EACH {
                taken.push(streams.reserve_position(StreamId::ToDevice).await.unwrap());
            }
            taken
        });
    }
    let mut all = HashSet::new();
    while let Some(result) = reservers.join_next().await {
        let taken = result.unwrap();
        assert!(taken.windows(2).all(|pair| pair[0] < pair[1]), "each reserver sees increasing positions");
        for position in taken {
            assert!(position >= Position(1));
            assert!(all.insert(position), "{position:?} handed out twice");
        }
    }
    assert_eq!(all.len(), RESERVERS * EACH);
    let highest = all.iter().max().copied().unwrap();
    assert!(streams.max_reserved_position(StreamId::ToDevice).await.unwrap() >= highest);
}

pub(crate) async fn positions_survive_reopen(fixture: Fixture) {
    let Fixture { stores, restart, guard: _guard } = fixture;
    let mut handed_out = Vec::new();
    for _ in 0..1_500 {
        handed_out.push(stores.streams.reserve_position(StreamId::Receipts).await.unwrap());
    }
    let account_data = stores.streams.reserve_position(StreamId::AccountData).await.unwrap();
    let highest = handed_out.iter().max().copied().unwrap();
    drop(stores);

    let stores = restart.reopen().await.unwrap();
    let max_reserved = stores.streams.max_reserved_position(StreamId::Receipts).await.unwrap();
    assert!(max_reserved >= highest, "max reserved {max_reserved:?} below handed-out {highest:?}");
    let next = stores.streams.reserve_position(StreamId::Receipts).await.unwrap();
    assert!(next > highest, "{next:?} reused after restart (had {highest:?})");
    assert!(next > max_reserved, "the next position is above the reported maximum");
    assert!(stores.streams.reserve_position(StreamId::AccountData).await.unwrap() > account_data);
    drop(stores);

    // A second restart right after a single reservation still moves forward.
    let stores = restart.reopen().await.unwrap();
    assert!(stores.streams.reserve_position(StreamId::Receipts).await.unwrap() > next);
}
