//! Room events as PDUs: parsing and validating them ([`Pdu`]), building and signing new ones
//! ([`EventBuilder`]), and choosing their `auth_events` ([`select_auth_events`]).
//!
//! Every event is a real PDU from the moment it exists: strict canonical JSON within the size
//! limits, in its room version's format, with an event ID computed from its reference hash.
//! Authorization and state resolution live in `stoa_federation` (`authorize_event`,
//! `resolve_state`) and take a `Pdu` directly, since it implements `ruma::state_res::Event`.
//! Nothing here touches storage: callers pass in the state they have.

mod auth_events;
mod builder;
mod format;
pub mod nesting;
mod pdu;
mod recovery;

pub use auth_events::{AuthEventsError, select_auth_events};
pub use builder::{BuildError, CREATE_NONCE_FIELD, EventBuilder};
pub use format::{FormatError, MAX_AUTH_EVENTS, MAX_PREV_EVENTS};
pub use nesting::{MAX_NESTING, TooDeep};
pub use pdu::{Pdu, PduError};

#[cfg(test)]
mod room_tests;
