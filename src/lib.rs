//! Stoa, a Matrix homeserver. `main.rs` parses the command line; everything else
//! lives here so tests and benchmarks can reach it. See `ARCHITECTURE.md` for the map.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod admin;
pub mod api;
pub mod app;
pub mod config;
pub mod e2ee;
pub mod events;
pub mod push;
pub mod rooms;
pub mod storage;
pub mod streams;
pub mod sync;
