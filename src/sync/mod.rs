//! `/sync`: filters now; the delta producer and long-poll come with the rooms issue.

pub mod e2ee;
pub mod engine;
pub mod filter;
pub mod token;
