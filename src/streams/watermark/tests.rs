//! Property tests of the watermark: it never publishes past an incomplete write, and a
//! write's wake-up fires exactly once, exactly when its position is published — never
//! before, never lost — under any interleaving of reservations, completions and
//! abandonments; plus real concurrent writers and long-polling waiters.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use ruma::{OwnedUserId, UserId};

use super::*;

/// An interleaving: reserve `n` positions (with gaps), then complete them in a
/// shuffled order, checking invariants after every step.
fn check_interleaving(gaps: Vec<u8>, order: Vec<usize>) {
    let mut state = WatermarkState::<()>::new(10);
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
        let published = state.complete(position, None).published;
        assert!(published >= last_published, "published went backwards");
        if let Some(lowest) = remaining.iter().min() {
            assert!(published < *lowest, "published {published} past incomplete {lowest}");
        }
        last_published = published;
    }
    for position in remaining {
        state.complete(position, None);
    }
    assert_eq!(state.published(), reserved.last().copied().unwrap_or(10));
}

/// One step of a writer population.
#[derive(Debug, Clone)]
enum Step {
    /// Reserve the next position, `gap` positions after the last one.
    Reserve { gap: u8 },
    /// Complete an in-flight reservation (picked modulo their count), waking the users
    /// in `users` (a bit set over [`USERS`]) or nobody.
    Complete { pick: usize, users: u16 },
    /// Abandon an in-flight reservation (the writer failed; nothing to wake).
    Abandon { pick: usize },
}

/// Users the property tests wake.
const USERS: usize = 16;

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u8..3).prop_map(|gap| Step::Reserve { gap }),
        3 => (any::<usize>(), any::<u16>()).prop_map(|(pick, users)| Step::Complete { pick, users }),
        1 => any::<usize>().prop_map(|pick| Step::Abandon { pick }),
    ]
}

/// Checks the state machine alone: wake-ups are ids with a position; after every step
/// each due id fires once, none before its position is published, none is left behind
/// once published.
fn check_deferred_wakes(steps: Vec<Step>) {
    let mut state = WatermarkState::<usize>::new(0);
    let (mut next, mut in_flight) = (0u64, Vec::new());
    let mut wake_positions: HashMap<usize, u64> = HashMap::new();
    let mut fired: HashSet<usize> = HashSet::new();
    let check = |completion: Completion<usize>,
                 fired: &mut HashSet<usize>,
                 positions: &HashMap<usize, u64>| {
        let mut last = 0;
        for id in completion.due {
            let position = positions[&id];
            assert!(position <= completion.published, "wake of {position} fired at {}", completion.published);
            assert!(position >= last, "due wake-ups out of order");
            last = position;
            assert!(fired.insert(id), "wake of {position} fired twice");
        }
        for (id, position) in positions {
            if *position <= completion.published {
                assert!(fired.contains(id), "wake of {position} not fired at {}", completion.published);
            }
        }
    };
    for step in steps {
        match step {
            Step::Reserve { gap } => {
                next += u64::from(gap) + 1;
                state.reserve(next).unwrap();
                in_flight.push(next);
            }
            Step::Complete { pick, .. } | Step::Abandon { pick } if !in_flight.is_empty() => {
                let position = in_flight.remove(pick % in_flight.len());
                let wake = matches!(step, Step::Complete { .. }).then(|| {
                    let id = wake_positions.len();
                    wake_positions.insert(id, position);
                    id
                });
                let completion = state.complete(position, wake);
                check(completion, &mut fired, &wake_positions);
            }
            Step::Complete { .. } | Step::Abandon { .. } => {}
        }
    }
    while let Some(position) = in_flight.pop() {
        let completion = state.complete(position, None);
        check(completion, &mut fired, &wake_positions);
    }
    assert_eq!(fired.len(), wake_positions.len(), "wake-ups lost");
    assert_eq!(state.deferred(), 0);
}

fn user(i: usize) -> OwnedUserId {
    UserId::parse(format!("@user{i}:example.org")).unwrap()
}

/// The same through the real [`Watermark`] and [`Notifier`], with one listener per
/// user: after every step exactly the users of writes that became published in it
/// have been woken, and the published position is the model's.
fn check_notifier_and_watermark(steps: Vec<Step>) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let notifier = Notifier::new();
    let watermark = Watermark::new(Position(0), notifier.clone());
    let users: Vec<OwnedUserId> = (0..USERS).map(user).collect();
    let mut listeners: Vec<_> = users.iter().map(|user| notifier.listen(user)).collect();
    let counter = AtomicU64::new(0);
    // The model: in-flight positions and the woken users of completed, unpublished writes.
    let mut in_flight: Vec<Reservation> = Vec::new();
    let mut model_pending: BTreeSet<u64> = BTreeSet::new();
    let mut waiting: BTreeMap<u64, BTreeSet<usize>> = BTreeMap::new();
    let (mut highest, mut published) = (0u64, 0u64);
    for step in steps {
        let mut expected = BTreeSet::new();
        match step {
            Step::Reserve { gap } => {
                counter.fetch_add(u64::from(gap), Ordering::SeqCst);
                let allocate = || async {
                    Ok::<_, std::convert::Infallible>(Position(counter.fetch_add(1, Ordering::SeqCst) + 1))
                };
                let reservation = runtime.block_on(watermark.reserve(allocate)).unwrap();
                highest = reservation.position().0;
                model_pending.insert(highest);
                in_flight.push(reservation);
            }
            Step::Complete { pick, .. } | Step::Abandon { pick } if !in_flight.is_empty() => {
                let reservation = in_flight.remove(pick % in_flight.len());
                let position = reservation.position().0;
                model_pending.remove(&position);
                match step {
                    Step::Complete { users: bits, .. } if bits != 0 => {
                        let chosen: BTreeSet<usize> = (0..USERS).filter(|i| bits & (1 << i) != 0).collect();
                        waiting.insert(position, chosen.clone());
                        let set = chosen.iter().map(|&i| users[i].clone()).collect();
                        reservation.complete_and_wake(Recipients::set(set));
                    }
                    Step::Complete { .. } => reservation.complete(),
                    _ => drop(reservation),
                }
                // Published moves only when something completes.
                published = model_pending.first().map_or(highest, |lowest| lowest - 1);
                let later = waiting.split_off(&(published + 1));
                for (_, woken) in std::mem::replace(&mut waiting, later) {
                    expected.extend(woken);
                }
            }
            Step::Complete { .. } | Step::Abandon { .. } => {}
        }
        assert_eq!(watermark.published(), Position(published));
        for (i, listener) in listeners.iter_mut().enumerate() {
            assert_eq!(listener.take_wake(), expected.contains(&i), "user {i} after {step:?}");
        }
    }
}

proptest! {
    #[test]
    fn never_publishes_past_an_incomplete_position(
        gaps in proptest::collection::vec(0u8..4, 0..40),
        order in proptest::collection::vec(0usize..64, 0..40),
    ) {
        check_interleaving(gaps, order);
    }

    #[test]
    fn every_wake_fires_once_exactly_when_published(steps in proptest::collection::vec(step(), 0..80)) {
        check_deferred_wakes(steps);
    }

    #[test]
    fn the_notifier_wakes_exactly_the_users_of_newly_published_writes(
        steps in proptest::collection::vec(step(), 0..60),
    ) {
        check_notifier_and_watermark(steps);
    }
}

#[test]
fn reservations_must_increase() {
    let mut state = WatermarkState::<()>::new(5);
    assert!(state.reserve(5).is_err());
    state.reserve(7).unwrap();
    assert_eq!(state.reserve(6), Err(OutOfOrder { position: 6, highest: 7 }));
}

#[test]
fn completing_unknown_positions_is_harmless() {
    let mut state = WatermarkState::<()>::new(3);
    assert_eq!(state.complete(99, None), Completion { published: 3, due: vec![] });
}

#[test]
fn a_later_write_wakes_only_when_the_earlier_one_completes() {
    let mut state = WatermarkState::new(0);
    state.reserve(1).unwrap();
    state.reserve(2).unwrap();
    state.reserve(3).unwrap();
    assert_eq!(state.complete(3, Some("three")), Completion { published: 0, due: vec![] });
    assert_eq!(state.complete(2, Some("two")), Completion { published: 0, due: vec![] });
    // The first write is abandoned: both later wake-ups fire, in position order.
    assert_eq!(state.complete(1, None), Completion { published: 3, due: vec!["two", "three"] });
    assert_eq!(state.deferred(), 0);
}

fn counting_allocator() -> impl Fn() -> std::future::Ready<Result<Position, std::convert::Infallible>> + Clone
{
    let counter = std::sync::Arc::new(AtomicU64::new(0));
    move || std::future::ready(Ok(Position(counter.fetch_add(1, Ordering::SeqCst) + 1)))
}

#[tokio::test]
async fn concurrent_writers_publish_in_order() {
    let watermark = Watermark::new(Position(0), Notifier::new());
    let allocate = counting_allocator();
    let first = watermark.reserve(allocate.clone()).await.unwrap();
    let second = watermark.reserve(allocate).await.unwrap();
    let mut updates = watermark.subscribe();
    second.complete();
    assert_eq!(watermark.published(), Position(0), "second must wait for first");
    drop(first); // abandoned: counts as complete
    updates.changed().await.unwrap();
    assert_eq!(*updates.borrow(), Position(2));
}

/// Writers, and writes per writer: each write concerns a user of its own.
const WRITERS: usize = 8;
const WRITES: usize = 50;

/// How long write `i` of writer `w` stays in flight (µs), and whether an abandoned
/// reservation (a failed write) precedes it.
fn write_plan(w: usize, i: usize) -> (u64, bool) {
    (((w * 31 + i * 17) % 5) as u64 * 300, (w + i).is_multiple_of(4))
}

/// Real concurrent writers on a multi-threaded runtime, each write in flight for a while
/// and noting its position for its user before completing (as a change feed does), and
/// one sync-like waiter per user: listen, compare with the published position, wait.
/// Each user has one write only, so nothing later can rescue a lost wake-up: it would
/// leave its waiter waiting for the full timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_leave_a_waiter_behind() {
    let notifier = Notifier::new();
    let watermark = Watermark::new(Position(0), notifier.clone());
    let logs: std::sync::Arc<Vec<Mutex<Option<u64>>>> =
        std::sync::Arc::new((0..WRITERS * WRITES).map(|_| Mutex::new(None)).collect());
    let mut waiters = tokio::task::JoinSet::new();
    for index in 0..WRITERS * WRITES {
        let (notifier, watermark, logs) = (notifier.clone(), watermark.clone(), logs.clone());
        waiters.spawn(async move {
            let mut listener = notifier.listen(&user(index));
            loop {
                let upto = watermark.published().0;
                if logs[index].lock().unwrap().is_some_and(|position| position <= upto) {
                    return;
                }
                let woken = listener.wait(Duration::from_secs(5)).await;
                assert!(woken, "user {index}: its wake-up was lost (published {upto})");
            }
        });
    }
    let allocate = counting_allocator();
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let (watermark, logs, allocate) = (watermark.clone(), logs.clone(), allocate.clone());
        writers.spawn(async move {
            for i in 0..WRITES {
                let (in_flight_us, abandon_first) = write_plan(w, i);
                if abandon_first {
                    let failed = watermark.reserve(allocate.clone()).await.unwrap();
                    tokio::time::sleep(Duration::from_micros(in_flight_us)).await;
                    drop(failed);
                }
                let reservation = watermark.reserve(allocate.clone()).await.unwrap();
                tokio::time::sleep(Duration::from_micros(in_flight_us)).await;
                let target = w * WRITES + i;
                *logs[target].lock().unwrap() = Some(reservation.position().0);
                reservation.complete_and_wake(Recipients::user(user(target)));
            }
        });
    }
    let all = async {
        while let Some(done) = writers.join_next().await {
            done.unwrap();
        }
        while let Some(done) = waiters.join_next().await {
            done.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(30), all).await.expect("writers and waiters finish");
}
