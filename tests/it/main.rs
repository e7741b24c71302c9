//! Black-box tests: each test spawns real `stoa` processes (once per storage backend)
//! and talks to them over loopback HTTP, as a client would.

mod harness;

mod account;
mod account_data;
mod cli;
mod client_libraries;
mod client_start;
mod connections;
mod cross_signing;
mod dehydrated;
mod devices;
mod directory;
mod discovery;
mod durability;
mod e2ee_client;
mod e2ee_scenario;
mod edge;
mod filters;
mod findings;
mod guests;
mod history;
mod key_backup;
mod keys;
mod login;
mod membership;
mod moderation;
mod nesting;
mod profile;
mod push_rules;
mod rate_limits;
mod register;
mod relations;
mod remembered;
mod room_events;
mod room_extras;
mod rooms;
mod served_events;
mod sync;
mod sync_filters;
mod sync_incremental;
mod to_device;
mod tokens;
mod wakeups;
