//! The room versions Stoa supports (10, 11 and 12) and the rules that differ between them.
//!
//! A room's version fixes how its events are redacted, hashed, identified and authorised, so every
//! server in the room must apply exactly the same rules. Older versions are refused outright rather
//! than half-supported.

use std::fmt;
use std::str::FromStr;

/// A room version this server can join and create rooms in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoomVersion {
    /// Room version 10: integer-only power levels and the `knock_restricted` join rule.
    V10,
    /// Room version 11: version 10 with the clarified redaction algorithm and `redacts` in content.
    V11,
    /// Room version 12: version 11 with hash-based room IDs, privileged room creators and state
    /// resolution 2.1.
    V12,
}

/// A room version string that this server does not implement (or that is not a version at all).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("room version {version:?} is not supported; supported versions are 10, 11 and 12")]
pub struct UnsupportedRoomVersion {
    /// The version string as it was received.
    pub version: String,
}

/// The state resolution algorithm a room version uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateResolution {
    /// State resolution v2, as introduced by room version 2.
    V2,
    /// State resolution v2.1 (room version 12): iterative auth checks start from an empty state
    /// and the conflicted state subgraph joins the full conflicted set.
    V2_1,
}

/// Which parts of an event survive redaction. Because event IDs and signatures are computed over
/// the redacted form, this must match other servers bit for bit.
///
/// Every supported version keeps `m.room.member`'s `membership` and
/// `join_authorised_via_users_server`, `m.room.join_rules`' `join_rule` and `allow`, and
/// `m.room.history_visibility`'s `history_visibility`; only the differences are flags here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RedactionRules {
    /// Keep the top-level `origin`, `membership` and `prev_state` keys (up to version 10).
    pub keep_origin_membership_prev_state: bool,
    /// Keep all of `m.room.create`'s content (version 11 on); otherwise only `creator`.
    pub keep_all_create_content: bool,
    /// Keep `invite` in `m.room.power_levels` content (version 11 on).
    pub keep_power_levels_invite: bool,
    /// Keep `redacts` in `m.room.redaction` content (version 11 on).
    pub keep_redaction_redacts: bool,
    /// Keep `third_party_invite.signed` in `m.room.member` content (version 11 on).
    pub keep_member_third_party_invite_signed: bool,
}

impl RedactionRules {
    /// The algorithm of room versions 9 and 10.
    pub const V9: Self = Self {
        keep_origin_membership_prev_state: true,
        keep_all_create_content: false,
        keep_power_levels_invite: false,
        keep_redaction_redacts: false,
        keep_member_third_party_invite_signed: false,
    };

    /// The algorithm of room versions 11 and 12.
    pub const V11: Self = Self {
        keep_origin_membership_prev_state: false,
        keep_all_create_content: true,
        keep_power_levels_invite: true,
        keep_redaction_redacts: true,
        keep_member_third_party_invite_signed: true,
    };
}

/// Everything that depends on a room's version, gathered so callers branch on behaviour rather
/// than on version numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoomVersionRules {
    /// How events are redacted, which also fixes what event IDs and signatures cover.
    pub redaction: RedactionRules,
    /// The room ID is `!` plus the create event's reference hash, and the create event itself has
    /// no `room_id` (version 12). Otherwise room IDs are `!opaque:domain`.
    pub room_id_from_create_event: bool,
    /// The create event's content must carry `creator` (version 10); later versions take the
    /// creator from the create event's `sender`.
    pub create_requires_creator: bool,
    /// Every event must cite the create event in `auth_events` (up to version 11); from version 12
    /// it must not, since the room ID already names it.
    pub create_in_auth_events: bool,
    /// The create event's `additional_creators` names further room creators (version 12).
    pub additional_creators: bool,
    /// Room creators have infinite power and may not appear in `m.room.power_levels` `users`
    /// (version 12).
    pub creators_have_infinite_power: bool,
    /// `m.room.redaction` carries `redacts` in `content` instead of at the top level (version 11 on).
    pub redacts_in_content: bool,
    /// The `knock` join rule and `knock` membership exist (version 7 on).
    pub knocking: bool,
    /// The `restricted` join rule exists (version 8 on).
    pub restricted_join_rule: bool,
    /// The `knock_restricted` join rule exists (version 10 on).
    pub knock_restricted_join_rule: bool,
    /// Power level values must be integers; string values are rejected (version 10 on).
    pub integer_power_levels: bool,
    /// Signing keys only count if valid at the event's `origin_server_ts` (version 5 on).
    pub enforce_key_validity: bool,
    /// The state resolution algorithm.
    pub state_resolution: StateResolution,
}

/// The rules of room version 10, from which later versions are derived.
const V10_RULES: RoomVersionRules = RoomVersionRules {
    redaction: RedactionRules::V9,
    room_id_from_create_event: false,
    create_requires_creator: true,
    create_in_auth_events: true,
    additional_creators: false,
    creators_have_infinite_power: false,
    redacts_in_content: false,
    knocking: true,
    restricted_join_rule: true,
    knock_restricted_join_rule: true,
    integer_power_levels: true,
    enforce_key_validity: true,
    state_resolution: StateResolution::V2,
};

/// The rules of room version 11.
const V11_RULES: RoomVersionRules = RoomVersionRules {
    redaction: RedactionRules::V11,
    create_requires_creator: false,
    redacts_in_content: true,
    ..V10_RULES
};

/// The rules of room version 12.
const V12_RULES: RoomVersionRules = RoomVersionRules {
    room_id_from_create_event: true,
    create_in_auth_events: false,
    additional_creators: true,
    creators_have_infinite_power: true,
    state_resolution: StateResolution::V2_1,
    ..V11_RULES
};

impl RoomVersion {
    /// Every supported version, oldest first, e.g. for the capabilities endpoint.
    pub const ALL: [Self; 3] = [Self::V10, Self::V11, Self::V12];

    /// The version new rooms get unless asked otherwise; the spec says servers SHOULD use 12.
    pub const DEFAULT: Self = Self::V12;

    /// The version's identifier as it appears in `m.room.create` content and the APIs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V10 => "10",
            Self::V11 => "11",
            Self::V12 => "12",
        }
    }

    /// The rules this version follows.
    pub const fn rules(self) -> RoomVersionRules {
        match self {
            Self::V10 => V10_RULES,
            Self::V11 => V11_RULES,
            Self::V12 => V12_RULES,
        }
    }
}

impl FromStr for RoomVersion {
    type Err = UnsupportedRoomVersion;

    /// Parses a room version identifier exactly: versions are case-sensitive strings, so `" 10"`
    /// or `"010"` are not version 10.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "10" => Ok(Self::V10),
            "11" => Ok(Self::V11),
            "12" => Ok(Self::V12),
            other => Err(UnsupportedRoomVersion { version: other.to_owned() }),
        }
    }
}

impl TryFrom<&str> for RoomVersion {
    type Error = UnsupportedRoomVersion;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl fmt::Display for RoomVersion {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_supported_versions_and_round_trips() {
        for version in RoomVersion::ALL {
            assert_eq!(version.as_str().parse::<RoomVersion>(), Ok(version));
            assert_eq!(RoomVersion::try_from(version.as_str()), Ok(version));
            assert_eq!(version.to_string(), version.as_str());
        }
        assert_eq!("12".parse::<RoomVersion>(), Ok(RoomVersion::V12));
        assert_eq!(RoomVersion::DEFAULT, RoomVersion::V12);
    }

    #[test]
    fn refuses_unknown_and_old_versions() {
        for text in ["1", "9", "13", "", " 10", "010", "10 ", "v10", "org.matrix.msc2176"] {
            assert_eq!(
                text.parse::<RoomVersion>(),
                Err(UnsupportedRoomVersion { version: text.to_owned() }),
                "{text:?} should be refused"
            );
        }
    }

    #[test]
    fn redaction_rules_change_in_v11() {
        assert_eq!(RoomVersion::V10.rules().redaction, RedactionRules::V9);
        assert_eq!(RoomVersion::V11.rules().redaction, RedactionRules::V11);
        assert_eq!(RoomVersion::V12.rules().redaction, RedactionRules::V11);
        assert!(RoomVersion::V10.rules().redaction.keep_origin_membership_prev_state);
        assert!(!RoomVersion::V11.rules().redaction.keep_origin_membership_prev_state);
    }

    #[test]
    fn v11_changes() {
        let (v10, v11) = (RoomVersion::V10.rules(), RoomVersion::V11.rules());
        assert!(v10.create_requires_creator && !v11.create_requires_creator);
        assert!(!v10.redacts_in_content && v11.redacts_in_content);
        assert!(!v11.room_id_from_create_event && v11.create_in_auth_events);
        assert_eq!(v11.state_resolution, StateResolution::V2);
    }

    #[test]
    fn v12_changes() {
        let v12 = RoomVersion::V12.rules();
        assert!(v12.room_id_from_create_event);
        assert!(!v12.create_in_auth_events);
        assert!(v12.additional_creators && v12.creators_have_infinite_power);
        assert!(!v12.create_requires_creator && v12.redacts_in_content);
        assert_eq!(v12.state_resolution, StateResolution::V2_1);
    }

    #[test]
    fn shared_by_all_supported_versions() {
        for version in RoomVersion::ALL {
            let rules = version.rules();
            assert!(rules.knocking && rules.restricted_join_rule && rules.knock_restricted_join_rule);
            assert!(rules.integer_power_levels && rules.enforce_key_validity);
        }
    }
}
