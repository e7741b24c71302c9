//! `[server]`: the server's identity and how clients and servers find it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The domain in user IDs (`@alice:<server_name>`). Cannot change once users exist.
    pub server_name: String,
    /// The URL clients use to reach this server, advertised in
    /// `/.well-known/matrix/client`. Empty: `http://<server_name>:<client port>/`-style
    /// discovery is left to the client and the well-known answer is 404.
    pub public_baseurl: String,
    /// `host:port` other servers use for federation, advertised in
    /// `/.well-known/matrix/server`. Empty: no delegation (404).
    pub federation_delegate: String,
    /// Where the server's ed25519 signing key lives; created on first start.
    pub signing_key_path: PathBuf,
    /// How long other servers may cache our keys (`valid_until_ts`), in hours.
    pub key_validity_hours: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            server_name: "localhost".to_owned(),
            public_baseurl: String::new(),
            federation_delegate: String::new(),
            signing_key_path: PathBuf::from("./data/signing.key"),
            key_validity_hours: 24,
        }
    }
}
