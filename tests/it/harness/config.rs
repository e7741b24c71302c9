//! The TOML configuration of a test server: fast, quiet defaults plus per-test overrides.

use std::path::Path;

/// Everything a test server needs, with rate limits off and cheap password hashing.
const BASE: &str = r#"
[server]
server_name = "localhost"

[http]
client_listen = "127.0.0.1:0"

[storage]

[registration]
enabled = true

[auth]
argon2_memory_kib = 1024
argon2_iterations = 1

[rate_limits]
login_per_ip = { per_second = 0.0, burst = 0 }
login_per_account = { per_second = 0.0, burst = 0 }
failed_login_per_account = { per_second = 0.0, burst = 0 }
registration_per_ip = { per_second = 0.0, burst = 0 }

[logging]
filter = "info"
"#;

/// Overrides applied on top of [`BASE`] and the per-server paths, in order.
#[derive(Clone, Default)]
pub struct Overrides(Vec<(String, toml::Value)>);

impl Overrides {
    /// Sets `section.key` (dotted path) to `value`.
    pub fn set(&mut self, key: &str, value: toml::Value) {
        self.0.push((key.to_owned(), value));
    }

    /// Sets `section.key` to a value written in TOML syntax, e.g. `[{ token = "a" }]`.
    pub fn set_toml(&mut self, key: &str, raw: &str) {
        let mut table: toml::Table =
            toml::from_str(&format!("v = {raw}")).unwrap_or_else(|e| panic!("bad TOML value {raw}: {e}"));
        let value = table.remove("v").expect("parsed value");
        self.set(key, value);
    }

    /// The full configuration file for a server living in `dir`.
    pub fn render(&self, dir: &Path, storage: &StorageChoice) -> String {
        let mut table: toml::Table = toml::from_str(BASE).expect("base config parses");
        let path = |name: &str| toml::Value::String(dir.join(name).display().to_string());
        insert(&mut table, "server.signing_key_path", path("signing.key"));
        insert(&mut table, "http.bound_address_file", path("addr"));
        insert(&mut table, "storage.path", path("db"));
        match storage {
            StorageChoice::Embedded(name) => {
                insert(&mut table, "storage.backend", toml::Value::String((*name).to_owned()));
            }
            StorageChoice::Postgres(url) => {
                insert(&mut table, "storage.backend", toml::Value::String("postgres".to_owned()));
                insert(&mut table, "storage.postgres_url", toml::Value::String(url.clone()));
                insert(&mut table, "storage.postgres_max_connections", toml::Value::Integer(4));
            }
        }
        for (key, value) in &self.0 {
            insert(&mut table, key, value.clone());
        }
        toml::to_string(&table).expect("config serialises")
    }
}

/// Where a server's data goes, as far as its config file is concerned.
pub enum StorageChoice {
    /// `fjall` or `rocksdb`, under the server's temporary directory.
    Embedded(&'static str),
    /// A database URL created for this server alone.
    Postgres(String),
}

fn insert(table: &mut toml::Table, dotted: &str, value: toml::Value) {
    let mut parts: Vec<&str> = dotted.split('.').collect();
    let last = parts.pop().expect("non-empty key");
    let mut current = table;
    for part in parts {
        current = current
            .entry(part.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .unwrap_or_else(|| panic!("{part} is not a table in {dotted}"));
    }
    current.insert(last.to_owned(), value);
}
