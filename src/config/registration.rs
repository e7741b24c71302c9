//! `[registration]`: who may create accounts.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// Whether `POST /register` creates accounts at all (off: 403 `M_FORBIDDEN`).
    pub enabled: bool,
    /// Require an `m.login.registration_token` stage with one of `tokens`.
    pub require_token: bool,
    /// Registration tokens accepted by the `m.login.registration_token` stage.
    pub tokens: Vec<RegistrationToken>,
    /// Allow `kind=guest` registration (off: 403 `M_GUEST_ACCESS_FORBIDDEN`).
    pub allow_guests: bool,
    /// How long a user-interactive authentication session lives, in seconds.
    pub uia_session_lifetime_secs: u64,
}

/// A token that lets someone register while `require_token` is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationToken {
    /// The token itself: 1–64 characters of `[A-Za-z0-9._~-]`.
    pub token: String,
    /// How many registrations may use it; 0 = unlimited.
    #[serde(default)]
    pub uses_allowed: u64,
    /// Expiry in milliseconds since the Unix epoch; 0 = never.
    #[serde(default)]
    pub expires_at_ms: u64,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        RegistrationConfig {
            enabled: false,
            require_token: false,
            tokens: Vec::new(),
            allow_guests: false,
            uia_session_lifetime_secs: 900,
        }
    }
}
