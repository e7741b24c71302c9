//! Config parsing, overrides, errors, and the example file's agreement with the schema.

use std::collections::BTreeSet;

use super::*;

const EXAMPLE: &str = include_str!("../../config.toml.example");

fn keys(value: &toml::Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let toml::Value::Table(table) = value {
        for (key, child) in table {
            let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            // Inline bucket tables count as one option each.
            if matches!(child, toml::Value::Table(_))
                && !prefix.starts_with("rate_limits")
                && prefix.is_empty()
            {
                keys(child, &path, out);
            } else {
                out.insert(path);
            }
        }
    }
}

#[test]
fn example_lists_exactly_the_schemas_options() {
    let example: toml::Value = toml::from_str(EXAMPLE).unwrap();
    let schema = toml::Value::try_from(Config::default()).unwrap();
    let (mut in_example, mut in_schema) = (BTreeSet::new(), BTreeSet::new());
    keys(&example, "", &mut in_example);
    keys(&schema, "", &mut in_schema);
    assert_eq!(in_example, in_schema, "config.toml.example drifted from Config");
}

#[test]
fn example_states_the_defaults_except_open_registration() {
    let parsed = Config::from_toml_str(EXAMPLE, []).unwrap();
    let mut expected = Config::default();
    expected.registration.enabled = true;
    assert_eq!(parsed, expected);
}

#[test]
fn every_option_in_the_example_is_commented() {
    let lines: Vec<&str> = EXAMPLE.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let is_option = !line.starts_with('#') && !line.starts_with('[') && line.contains(" = ");
        if is_option {
            let documented =
                lines[..i].iter().rev().take_while(|l| !l.is_empty()).any(|l| l.starts_with('#'));
            assert!(documented, "option without a comment: {line}");
        }
    }
}

#[test]
fn empty_file_is_all_defaults() {
    assert_eq!(Config::from_toml_str("", []).unwrap(), Config::default());
}

#[test]
fn unknown_keys_are_rejected_by_name() {
    let err = Config::from_toml_str("[server]\nserver_nam = \"x\"\n", []).unwrap_err().to_string();
    assert!(err.contains("server_nam"), "{err}");
    let err = Config::from_toml_str("[serverr]\n", []).unwrap_err().to_string();
    assert!(err.contains("serverr"), "{err}");
}

#[test]
fn wrong_types_name_the_key() {
    let err = Config::from_toml_str("[http]\nmax_body_bytes = \"big\"\n", []).unwrap_err().to_string();
    assert!(err.contains("http.max_body_bytes"), "{err}");
}

#[test]
fn invalid_values_name_the_key_and_reason() {
    let cases = [
        ("[server]\nserver_name = \"not a name\"", "server.server_name"),
        ("[http]\nclient_listen = \"localhost\"", "http.client_listen"),
        ("[registration]\nrequire_token = true", "registration.require_token"),
        ("[registration]\ntokens = [{ token = \"bad token\" }]", "registration.tokens[0].token"),
        ("[auth]\nargon2_iterations = 0", "auth.argon2_memory_kib"),
        ("[rate_limits]\nlogin_per_ip = { per_second = -1.0, burst = 1 }", "rate_limits.login_per_ip"),
    ];
    for (text, key) in cases {
        let err = Config::from_toml_str(text, []).unwrap_err().to_string();
        assert!(err.contains(key), "{text}: {err}");
    }
}

#[test]
fn environment_overrides_file_values() {
    let env = [
        ("STOA__SERVER__SERVER_NAME".to_owned(), "example.org".to_owned()),
        ("STOA__HTTP__MAX_BODY_BYTES".to_owned(), "4096".to_owned()),
        ("STOA__REGISTRATION__ENABLED".to_owned(), "true".to_owned()),
        ("UNRELATED".to_owned(), "x".to_owned()),
    ];
    let config = Config::from_toml_str("[server]\nserver_name = \"a.test\"\n", env).unwrap();
    assert_eq!(config.server.server_name, "example.org");
    assert_eq!(config.http.max_body_bytes, 4096);
    assert!(config.registration.enabled);
}

#[test]
fn environment_overrides_are_checked_like_the_file() {
    let env = [("STOA__HTTP__NO_SUCH".to_owned(), "1".to_owned())];
    let err = Config::from_toml_str("", env).unwrap_err().to_string();
    assert!(err.contains("no_such"), "{err}");
}
