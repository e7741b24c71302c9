//! The server's configuration: one TOML file, one struct per section, environment
//! overrides, and errors that name the offending key.
//!
//! Each component receives only its own section.

pub mod auth;
pub mod http;
pub mod logging;
pub mod rate_limits;
pub mod registration;
pub mod server;
pub mod storage;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use auth::AuthConfig;
pub use http::HttpConfig;
pub use logging::LoggingConfig;
pub use rate_limits::{Bucket, RateLimitsConfig};
pub use registration::{RegistrationConfig, RegistrationToken};
pub use server::ServerConfig;
pub use storage::{Backend, StorageConfig};

/// Prefix of environment variables that override file settings:
/// `STOA__SERVER__SERVER_NAME=example.org` sets `server.server_name`.
pub const ENV_PREFIX: &str = "STOA__";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub http: HttpConfig,
    pub storage: StorageConfig,
    pub registration: RegistrationConfig,
    pub auth: AuthConfig,
    pub rate_limits: RateLimitsConfig,
    pub logging: LoggingConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Key { key: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}

impl Config {
    /// Reads the file, applies `STOA__…` overrides from `env`, and validates.
    pub fn load(path: &Path, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::from_toml_str(&text, env).map_err(|error| match error {
            ConfigError::Syntax { message, .. } => ConfigError::Syntax { path: path.to_owned(), message },
            other => other,
        })
    }

    /// Parses TOML text (the file's contents), applies overrides, validates.
    pub fn from_toml_str(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table = toml::from_str(text)
            .map_err(|e| ConfigError::Syntax { path: PathBuf::new(), message: e.to_string() })?;
        for (var, value) in env {
            if let Some(rest) = var.strip_prefix(ENV_PREFIX) {
                apply_override(&mut table, &var, rest, &value)?;
            }
        }
        let config: Config = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| ConfigError::Key { key: e.path().to_string(), message: e.inner().to_string() })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: String| Err(ConfigError::Key { key: key.to_owned(), message });
        if let Err(e) = <&ruma::ServerName>::try_from(self.server.server_name.as_str()) {
            return bad("server.server_name", format!("not a valid server name: {e}"));
        }
        let base = &self.server.public_baseurl;
        if !(base.is_empty() || base.starts_with("https://") || base.starts_with("http://")) {
            return bad("server.public_baseurl", "must start with http:// or https://".to_owned());
        }
        if self.server.key_validity_hours == 0 {
            return bad("server.key_validity_hours", "must be at least 1".to_owned());
        }
        if self.http.client_listen.parse::<std::net::SocketAddr>().is_err() {
            return bad("http.client_listen", "must be an IP:port address such as 127.0.0.1:8008".to_owned());
        }
        if self.http.max_body_bytes < 1024 {
            return bad("http.max_body_bytes", "must be at least 1024".to_owned());
        }
        if self.storage.backend == Backend::Rocksdb && !cfg!(feature = "rocksdb") {
            return bad(
                "storage.backend",
                "`rocksdb` needs a stoa built with `--features rocksdb`".to_owned(),
            );
        }
        if self.storage.postgres_max_connections == 0 {
            return bad("storage.postgres_max_connections", "must be at least 1".to_owned());
        }
        for (i, token) in self.registration.tokens.iter().enumerate() {
            let valid_char = |c: char| c.is_ascii_alphanumeric() || "._~-".contains(c);
            if token.token.is_empty() || token.token.len() > 64 || !token.token.chars().all(valid_char) {
                return bad(
                    &format!("registration.tokens[{i}].token"),
                    "must be 1-64 characters of A-Z a-z 0-9 . _ ~ -".to_owned(),
                );
            }
        }
        if self.registration.require_token && self.registration.tokens.is_empty() {
            return bad("registration.require_token", "is true but registration.tokens is empty".to_owned());
        }
        if self.registration.uia_session_lifetime_secs == 0 {
            return bad("registration.uia_session_lifetime_secs", "must be at least 1".to_owned());
        }
        if argon2::Params::new(
            self.auth.argon2_memory_kib,
            self.auth.argon2_iterations,
            self.auth.argon2_parallelism,
            None,
        )
        .is_err()
        {
            return bad("auth.argon2_memory_kib", "argon2 parameters are out of range (memory >= 8 * parallelism KiB, iterations >= 1, parallelism >= 1)".to_owned());
        }
        if self.auth.refreshable_access_token_lifetime_secs == 0 {
            return bad("auth.refreshable_access_token_lifetime_secs", "must be at least 1".to_owned());
        }
        let limits = &self.rate_limits;
        for (key, bucket) in [
            ("rate_limits.login_per_ip", limits.login_per_ip),
            ("rate_limits.login_per_account", limits.login_per_account),
            ("rate_limits.failed_login_per_account", limits.failed_login_per_account),
            ("rate_limits.registration_per_ip", limits.registration_per_ip),
        ] {
            if !(bucket.per_second.is_finite() && bucket.per_second >= 0.0) {
                return bad(key, "per_second must be a number >= 0".to_owned());
            }
            if bucket.per_second > 0.0 && bucket.burst == 0 {
                return bad(key, "burst must be at least 1 when per_second > 0".to_owned());
            }
        }
        Ok(())
    }
}

/// Sets `a.b.c` from `STOA__A__B__C`; the value is read as a TOML value when it parses
/// as one (numbers, booleans, arrays) and as a string otherwise.
fn apply_override(table: &mut toml::Table, var: &str, path: &str, raw: &str) -> Result<(), ConfigError> {
    let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
    let Some((last, parents)) = keys.split_last() else {
        return Err(ConfigError::Env { var: var.to_owned(), message: "names no key".to_owned() });
    };
    let mut current = table;
    for key in parents {
        let entry = current.entry(key.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(ConfigError::Env {
                    var: var.to_owned(),
                    message: format!("`{key}` is not a section"),
                });
            }
        };
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    current.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests;
