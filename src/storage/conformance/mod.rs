//! The conformance suite: one set of checks, written only against the store traits,
//! that every storage adapter (fjall, RocksDB, PostgreSQL) must pass.
//!
//! # Adding a backend
//!
//! 1. Next to the adapter, under `#[cfg(test)]`, write `async fn my_fixture() -> Fixture`
//!    that opens a fresh, empty store (panicking if it cannot) and returns it with a
//!    [`Restart`] that can reopen the same data, plus a guard that cleans up on drop.
//! 2. Add one line at the bottom of this file:
//!    `conformance_suite!(my_backend, crate::storage::my_adapter::my_fixture);`
//!    The path must start at `crate::`: the macro expands it inside nested modules.
//!
//! Every check then runs as its own test, named
//! `storage::conformance::<backend>::<concept>::<check>`, so
//! `cargo test --lib storage::conformance::postgres` runs one backend's suite.
//!
//! # Adding a check
//!
//! Write `pub(crate) async fn the_check(fixture: Fixture)` in the concept's file and add
//! its name to the list in [`conformance_suite!`]. A check missing from the list is dead
//! code, which `clippy -D warnings` rejects, so none is silently skipped.

mod account_data;
mod accounts;
mod devices;
mod directory;
mod e2ee_keys;
mod filters;
mod key_backup;
mod lifecycle;
mod moderation;
mod profiles;
mod relations;
mod room_members;
mod room_timeline;
mod room_writes;
mod rooms;
mod samples;
mod streams;
mod to_device;
mod uia;

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use super::{Error, Stores};

/// A boxed, sendable future, as [`Restart`] returns them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One freshly opened, empty store, as a check receives it.
///
/// Fields drop in order: the stores first, then the restart handle, then the guard (which
/// may delete the data the stores used).
pub struct Fixture {
    pub stores: Stores,
    /// Reopens the same data, as a restarted server would.
    pub restart: Box<dyn Restart>,
    /// Whatever must live as long as the data: a temporary directory, a throwaway
    /// database. Dropped last.
    pub guard: Box<dyn Any + Send>,
}

/// How a check restarts the backend behind a [`Fixture`].
///
/// Before calling either method the check drops every [`Stores`] of the previous opening
/// and waits for their calls to finish, so an embedded store's lock is free again.
pub trait Restart: Send + Sync {
    /// Opens the same data again (embedded: the same directory; PostgreSQL: a new pool
    /// on the same database).
    fn reopen(&self) -> BoxFuture<'_, Result<Stores, Error>>;
    /// Records `version` as the store's schema version, as a newer Stoa would have left
    /// it, without going through the adapter's open (which would refuse later).
    fn set_schema_version(&self, version: u32) -> BoxFuture<'_, Result<(), Error>>;
}

/// Expands to one `#[tokio::test]` per check for one backend:
/// `conformance_suite!(backend_name, crate::path::to::async_fixture_fn);`
macro_rules! conformance_suite {
    ($backend:ident, $fixture:path) => {
        conformance_suite!(@expand $backend, $fixture, {
            accounts: [
                create_user_then_get,
                create_user_conflict,
                deactivated_user_keeps_id,
                get_unknown_user,
                list_users_paging,
                set_password_hash,
                set_admin,
                deactivate_user,
                unknown_user_updates_return_false,
                registration_token_counting,
                registration_token_concurrent_limit,
                registration_token_unlimited,
            ],
            devices: [
                upsert_creates_device,
                upsert_existing_keeps_name_unless_some,
                upsert_replaces_tokens,
                get_unknown_device,
                list_devices_ordered_per_user,
                set_device_display_name,
                touch_device,
                delete_device_removes_tokens,
                delete_devices_except,
                find_access_token,
                find_refresh_token,
                refresh_with_current_token,
                refresh_with_previous_token,
                refresh_with_unknown_token,
                refresh_wrong_device,
                retire_previous_refresh_token,
                concurrent_refresh_same_token,
            ],
            profiles: [
                empty_profile,
                set_and_clear_profile_fields,
            ],
            account_data: [
                global_and_room_are_separate,
                overwrite_replaces_value,
                changes_window_and_order,
                changes_dedup_latest_position,
                changes_limit,
                changes_are_per_user,
            ],
            filters: [
                put_and_get_filter,
                put_filter_again_is_harmless,
            ],
            moderation: [
                forgetting_is_per_user_and_room,
                reports_are_listed_newest_first,
                moderation_survives_reopen,
            ],
            uia: [
                put_get_session,
                session_expiry,
                put_replaces_session,
                delete_session,
                purge_expired_with_limit,
            ],
            streams: [
                positions_start_at_one_and_increase,
                streams_are_independent,
                concurrent_reservers_get_distinct_positions,
                positions_survive_reopen,
            ],
            rooms: [
                create_room_reads_back,
                unknown_things_read_empty,
                get_events_in_given_order_skipping_missing,
                event_state_groups_before_and_after,
                state_group_chains_and_removals,
                state_group_long_chain,
                current_state_delta_sets_and_removes,
                forward_extremities_are_replaced,
            ],
            room_timeline: [
                timeline_pages_both_ways,
                timeline_has_only_accepted_events,
                thousand_event_room_pages_without_gaps,
            ],
            room_members: [
                user_memberships_latest_wins,
                user_membership_changes_window,
                room_members_filter_after_limit,
            ],
            room_writes: [
                duplicate_event_leaves_the_first,
                txn_ids_map_to_their_event,
                redaction_after_its_target,
                redaction_before_its_target,
                state_group_ids_are_distinct_under_concurrency,
                rooms_survive_reopen,
            ],
            directory: [
                create_get_delete_alias,
                duplicate_alias_refused,
                concurrent_alias_creators_one_wins,
                room_aliases_ordered_and_isolated,
                delete_unknown_alias,
                public_flag_is_idempotent,
                concurrent_publishing_counts_once,
                public_rooms_paging_and_count,
                directory_survives_reopen,
            ],
            relations: [
                relations_page_both_ways,
                relations_filter_by_types,
                relation_counts_and_latest,
                threads_by_latest_activity,
                relations_written_with_their_events,
                duplicate_event_keeps_one_relation,
                relations_survive_reopen,
                redactions_remove_relations,
            ],
            e2ee_keys: [
                device_keys_per_device,
                one_time_keys_claim_oldest_first,
                concurrent_claims_hand_out_each_key_once,
                fallback_keys_marked_used,
                cross_signing_keys_and_signatures,
                dehydrated_device_replaced_and_deleted,
            ],
            to_device: [
                queue_deliver_and_ack,
                queue_is_capped_dropping_oldest,
                device_list_changes_latest_per_user,
            ],
            key_backup: [
                versions_are_never_reused,
                keys_replace_by_the_spec_rule,
                replacement_rule_in_order,
            ],
            lifecycle: [
                flush_succeeds,
                data_survives_reopen,
                schema_too_new_is_refused,
                backend_name_is_known,
            ],
        });
    };
    (@expand $backend:ident, $fixture:path, {
        $($concept:ident: [$($check:ident),* $(,)?]),* $(,)?
    }) => {
        mod $backend {
            $(
                mod $concept {
                    $(
                        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                        async fn $check() {
                            // A fixture may return `Option<Fixture>`: `None` skips (no server).
                            let fixture = Option::<crate::storage::conformance::Fixture>::from($fixture().await);
                            let Some(fixture) = fixture else { return };
                            crate::storage::conformance::$concept::$check(fixture).await;
                        }
                    )*
                }
            )*
        }
    };
}

conformance_suite!(fjall, crate::storage::embedded::fixture::fjall);
#[cfg(feature = "rocksdb")]
conformance_suite!(rocksdb, crate::storage::embedded::fixture::rocksdb);
conformance_suite!(postgres, crate::storage::postgres::conformance_fixture::conformance_fixture);
