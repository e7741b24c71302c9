//! Stream positions: every stream (events, account data, receipts …) orders its
//! changes by a `Position` the store hands out.

use async_trait::async_trait;

use super::Error;

/// A point in one stream. Positions start at 1; 0 means "before everything".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position(pub u64);

/// The streams a sync token has one position for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamId {
    Events,
    AccountData,
    Receipts,
    ToDevice,
    DeviceLists,
    Typing,
    Presence,
    PushRules,
}

impl StreamId {
    pub const ALL: [StreamId; 8] = [
        StreamId::Events,
        StreamId::AccountData,
        StreamId::Receipts,
        StreamId::ToDevice,
        StreamId::DeviceLists,
        StreamId::Typing,
        StreamId::Presence,
        StreamId::PushRules,
    ];

    /// A stable short name, used in keys, table rows and logs.
    pub fn name(self) -> &'static str {
        match self {
            StreamId::Events => "events",
            StreamId::AccountData => "account_data",
            StreamId::Receipts => "receipts",
            StreamId::ToDevice => "to_device",
            StreamId::DeviceLists => "device_lists",
            StreamId::Typing => "typing",
            StreamId::Presence => "presence",
            StreamId::PushRules => "push_rules",
        }
    }
}

#[async_trait]
pub trait StreamStore: Send + Sync {
    /// Reserves the next position of `stream`. Positions are strictly increasing over
    /// the life of the store, across restarts, and never handed out twice, even to
    /// concurrent callers (a reserved position may end up unused).
    async fn reserve_position(&self, stream: StreamId) -> Result<Position, Error>;
    /// The highest position ever reserved for `stream` (0 if none), read at start-up to
    /// seed the stream's watermark.
    async fn max_reserved_position(&self, stream: StreamId) -> Result<Position, Error>;
}
