//! Streams: ordered change logs (events, account data, receipts …) whose positions
//! make up a sync token. Writers reserve a position, persist, then complete it; the
//! [`Watermark`] publishes how far every write is complete so readers never skip one.

pub mod notifier;
pub mod watermark;

pub use notifier::{Listener, Notifier, Recipients};
pub use watermark::{Reservation, Watermark};
