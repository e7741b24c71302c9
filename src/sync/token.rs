//! The sync token: one position per stream, opaque to clients, versioned, and parsed
//! only here.

use std::fmt;

use crate::storage::{Position, StreamId};

/// Where a client is in every stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncToken {
    positions: [u64; StreamId::ALL.len()],
}

/// The token's format version; bump it when the layout changes.
const PREFIX: &str = "s1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a sync token from this server")]
pub struct InvalidSyncToken;

impl SyncToken {
    pub fn get(&self, stream: StreamId) -> Position {
        Position(self.positions.get(index(stream)).copied().unwrap_or(0))
    }

    pub fn with(mut self, stream: StreamId, position: Position) -> Self {
        if let Some(slot) = self.positions.get_mut(index(stream)) {
            *slot = position.0;
        }
        self
    }

    pub fn parse(text: &str) -> Result<SyncToken, InvalidSyncToken> {
        let mut parts = text.split('_');
        if parts.next() != Some(PREFIX) {
            return Err(InvalidSyncToken);
        }
        let mut token = SyncToken::default();
        for slot in token.positions.iter_mut() {
            *slot = parts.next().and_then(|p| p.parse().ok()).ok_or(InvalidSyncToken)?;
            // Readers turn a position into the boundary just past it (`p + 1`); no
            // stream gets anywhere near the top, so a token there is forged.
            if *slot == u64::MAX {
                return Err(InvalidSyncToken);
            }
        }
        if parts.next().is_some() {
            return Err(InvalidSyncToken);
        }
        Ok(token)
    }
}

fn index(stream: StreamId) -> usize {
    StreamId::ALL.iter().position(|s| *s == stream).unwrap_or(0)
}

impl fmt::Display for SyncToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PREFIX)?;
        for position in self.positions {
            write!(f, "_{position}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let token =
            SyncToken::default().with(StreamId::Events, Position(42)).with(StreamId::Typing, Position(7));
        let text = token.to_string();
        assert_eq!(SyncToken::parse(&text), Ok(token));
        assert_eq!(token.get(StreamId::Events), Position(42));
        for bad in
            ["", "s1", "s2_1_2_3_4_5_6_7_8", "s1_1_2_3_4_5_6_7", "s1_1_2_3_4_5_6_7_8_9", "s1_a_2_3_4_5_6_7_8"]
        {
            assert_eq!(SyncToken::parse(bad), Err(InvalidSyncToken), "{bad}");
        }
    }

    #[test]
    fn every_position_has_a_boundary_past_it() {
        let top = u64::MAX.to_string();
        for stream in 0..StreamId::ALL.len() {
            let parts: Vec<&str> =
                (0..StreamId::ALL.len()).map(|i| if i == stream { top.as_str() } else { "0" }).collect();
            let text = format!("{PREFIX}_{}", parts.join("_"));
            assert_eq!(SyncToken::parse(&text), Err(InvalidSyncToken), "{text}");
        }
        let below = format!("{PREFIX}_{}_0_0_0_0_0_0_0", u64::MAX - 1);
        let token = SyncToken::parse(&below).expect("one below the top parses");
        assert!(token.get(StreamId::Events).0.checked_add(1).is_some());
    }
}
