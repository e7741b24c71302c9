//! `/sync`: the delta producer with its long-poll, the token, and filters (stored, and
//! as applied to each section).

pub mod e2ee;
pub mod engine;
pub mod event_filter;
pub mod filter;
mod ignored;
mod lazy_members;
mod request;
mod room_entry;
pub mod sync_filter;
pub mod token;
