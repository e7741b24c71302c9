//! Operator actions that run outside the HTTP API (the `stoa user …` commands).

pub mod users;
