//! `[rate_limits]`: token buckets that protect login and registration.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitsConfig {
    /// Login attempts per client IP.
    pub login_per_ip: Bucket,
    /// Login attempts per target account (whatever IP they come from).
    pub login_per_account: Bucket,
    /// Failed login attempts per target account.
    pub failed_login_per_account: Bucket,
    /// Registration requests per client IP.
    pub registration_per_ip: Bucket,
}

/// A token bucket: `burst` requests at once, refilled at `per_second`.
/// `per_second = 0` disables the limit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub per_second: f64,
    pub burst: u32,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        // Synapse's defaults: one attempt every ~6 s, three at once.
        let slow = Bucket { per_second: 0.17, burst: 3 };
        RateLimitsConfig {
            login_per_ip: slow,
            login_per_account: slow,
            failed_login_per_account: slow,
            registration_per_ip: slow,
        }
    }
}
