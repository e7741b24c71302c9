//! Events as PDUs: the validated, immutable [`Pdu`] and the [`EventBuilder`] that makes
//! new local ones (hashed, signed, with their reference-hash event ID).

pub mod builder;
pub mod pdu;

pub use builder::EventBuilder;
pub use pdu::{Pdu, PduError};
