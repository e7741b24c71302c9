//! Property tests of the watermark: it never publishes past an incomplete write.

use proptest::prelude::*;

use super::*;

/// An interleaving: reserve `n` positions (with gaps), then complete them in a
/// shuffled order, checking invariants after every step.
fn check_interleaving(gaps: Vec<u8>, order: Vec<usize>) {
    let mut state = WatermarkState::new(10);
    let mut next = 10u64;
    let mut reserved = Vec::new();
    for gap in gaps {
        next += u64::from(gap) + 1;
        state.reserve(next).unwrap();
        reserved.push(next);
    }
    let mut remaining = reserved.clone();
    let mut last_published = state.published();
    for pick in order {
        if remaining.is_empty() {
            break;
        }
        let position = remaining.remove(pick % remaining.len());
        let published = state.complete(position);
        assert!(published >= last_published, "published went backwards");
        if let Some(lowest) = remaining.iter().min() {
            assert!(published < *lowest, "published {published} past incomplete {lowest}");
        }
        last_published = published;
    }
    for position in remaining {
        state.complete(position);
    }
    assert_eq!(state.published(), reserved.last().copied().unwrap_or(10));
}

proptest! {
    #[test]
    fn never_publishes_past_an_incomplete_position(
        gaps in proptest::collection::vec(0u8..4, 0..40),
        order in proptest::collection::vec(0usize..64, 0..40),
    ) {
        check_interleaving(gaps, order);
    }
}

#[test]
fn reservations_must_increase() {
    let mut state = WatermarkState::new(5);
    assert!(state.reserve(5).is_err());
    state.reserve(7).unwrap();
    assert_eq!(state.reserve(6), Err(OutOfOrder { position: 6, highest: 7 }));
}

#[test]
fn completing_unknown_positions_is_harmless() {
    let mut state = WatermarkState::new(3);
    assert_eq!(state.complete(99), 3);
}

#[tokio::test]
async fn concurrent_writers_publish_in_order() {
    let watermark = Watermark::new(Position(0));
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let allocate = || {
        let counter = counter.clone();
        async move {
            Ok::<_, std::convert::Infallible>(Position(
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1,
            ))
        }
    };
    let first = watermark.reserve(allocate).await.unwrap();
    let second = watermark.reserve(allocate).await.unwrap();
    let mut updates = watermark.subscribe();
    second.complete();
    assert_eq!(watermark.published(), Position(0), "second must wait for first");
    drop(first); // abandoned: counts as complete
    updates.changed().await.unwrap();
    assert_eq!(*updates.borrow(), Position(2));
}
