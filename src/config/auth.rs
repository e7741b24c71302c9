//! `[auth]`: password hashing and token lifetimes.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// argon2id memory cost in KiB (OWASP's 19 MiB minimum by default).
    pub argon2_memory_kib: u32,
    /// argon2id iterations.
    pub argon2_iterations: u32,
    /// argon2id lanes.
    pub argon2_parallelism: u32,
    /// Lifetime of access tokens issued with a refresh token, in seconds.
    pub refreshable_access_token_lifetime_secs: u64,
    /// Lifetime of access tokens issued without a refresh token; 0 = never expire.
    pub access_token_lifetime_secs: u64,
    /// Allow `m.login.password` logins.
    pub password_login_enabled: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            refreshable_access_token_lifetime_secs: 300,
            access_token_lifetime_secs: 0,
            password_login_enabled: true,
        }
    }
}
