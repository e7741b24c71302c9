//! Unit tests for registration parsing, validation and cross-file checks.

use std::io::Write;

use super::*;

const FULL: &str = r##"
id: irc-bridge
url: "https://irc.example.org:8090/bridge"
as_token: "30c05ae90a248a4188e620216fa72e349803310ec83e2a77b34fe90be6081f46"
hs_token: "312df522183efd404ec1cd22d2ffa4bbc76a8c1ccf541dd692eef281356bb74e"
sender_localpart: _irc_bot
rate_limited: false
protocols: ["irc"]
receive_ephemeral: true
io.element.msc4190: true
namespaces:
  users:
    - exclusive: true
      regex: "@_irc_bridge_.*:example.org"
  aliases:
    - exclusive: false
      regex: "#_irc_bridge_.*:example.org"
  rooms: []
group_id: "+ignored:example.org"
"##;

fn parse(yaml: &str) -> Result<Registration, RegistrationError> {
    Registration::from_yaml_str(yaml, "test.yaml")
}

/// A minimal valid file with `line` replacing (or, if new, adding) a field.
fn with(field: &str, line: &str) -> String {
    let mut lines: Vec<String> = [
        "id: a",
        "url: null",
        "as_token: as_secret",
        "hs_token: hs_secret",
        "sender_localpart: bot",
        "namespaces: {users: [], aliases: [], rooms: []}",
    ]
    .iter()
    .filter(|l| !l.starts_with(&format!("{field}:")))
    .map(|l| (*l).to_owned())
    .collect();
    if !line.is_empty() {
        lines.push(line.to_owned());
    }
    lines.join("\n")
}

#[test]
fn full_file_parses() {
    let reg = parse(FULL).unwrap();
    assert_eq!(reg.id(), "irc-bridge");
    assert_eq!(reg.url(), Some("https://irc.example.org:8090/bridge"));
    assert!(reg.as_token().starts_with("30c05ae9"));
    assert!(reg.hs_token().starts_with("312df522"));
    assert_eq!(reg.sender_localpart(), "_irc_bot");
    assert_eq!(reg.rate_limited(), Some(false));
    assert_eq!(reg.protocols(), ["irc"]);
    assert!(reg.receive_ephemeral());
    assert!(reg.device_management());
    assert_eq!(reg.origin(), Path::new("test.yaml"));
    let ns = reg.namespaces();
    assert_eq!(ns.users().len(), 1);
    assert!(ns.exclusive_user("@_irc_bridge_bob:example.org"));
    assert!(ns.is_interested_in_alias("#_irc_bridge_chan:example.org"));
    assert!(!ns.exclusive_alias("#_irc_bridge_chan:example.org"));
    assert!(ns.rooms().is_empty());
    assert_eq!(reg.sender_user_id("example.org"), "@_irc_bot:example.org");
}

#[test]
fn minimal_file_takes_defaults() {
    let reg = parse(&with("", "")).unwrap();
    assert_eq!(reg.url(), None);
    assert_eq!(reg.rate_limited(), None);
    assert!(reg.protocols().is_empty());
    assert!(!reg.receive_ephemeral());
    assert!(!reg.device_management());
}

#[test]
fn namespace_lists_may_be_absent_or_null() {
    let reg = parse(&with("namespaces", "namespaces: {users: null}")).unwrap();
    assert!(reg.namespaces().users().is_empty());
    assert!(reg.namespaces().aliases().is_empty());
    let reg = parse(&with("namespaces", "namespaces:")).unwrap();
    assert!(reg.namespaces().rooms().is_empty());
}

#[test]
fn unstable_field_names_are_accepted() {
    let yaml = with("", "de.sorunome.msc2409.push_ephemeral: true\ndevice_management: true");
    let reg = parse(&yaml).unwrap();
    assert!(reg.receive_ephemeral());
    assert!(reg.device_management());

    let agree = with("", "receive_ephemeral: true\nde.sorunome.msc2409.push_ephemeral: true");
    assert!(parse(&agree).unwrap().receive_ephemeral());
}

#[test]
fn conflicting_stable_and_unstable_fields_are_refused() {
    let yaml = with("", "device_management: true\nio.element.msc4190: false");
    let err = parse(&yaml).unwrap_err();
    assert!(matches!(
        err,
        RegistrationError::ConflictingFields {
            stable: "device_management",
            unstable: "io.element.msc4190",
            ..
        }
    ));
}

#[test]
fn each_required_field_is_reported_when_missing() {
    for field in ["id", "url", "as_token", "hs_token", "sender_localpart", "namespaces"] {
        let err = parse(&with(field, "")).unwrap_err();
        match &err {
            RegistrationError::MissingField { field: f, origin } => {
                assert_eq!(f, field);
                assert_eq!(origin, Path::new("test.yaml"));
            }
            other => panic!("{field}: unexpected {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("test.yaml") && msg.contains(field), "{msg}");
    }
}

#[test]
fn namespace_entry_fields_are_required() {
    let yaml = with("namespaces", "namespaces: {users: [{regex: '@a.*'}]}");
    let err = parse(&yaml).unwrap_err();
    assert!(
        matches!(&err, RegistrationError::MissingField { field, .. } if field == "namespaces.users[0].exclusive"),
        "{err:?}"
    );
    let yaml = with("namespaces", "namespaces: {rooms: [{exclusive: true, regex: 'x'}, {exclusive: true}]}");
    let err = parse(&yaml).unwrap_err();
    assert!(
        matches!(&err, RegistrationError::MissingField { field, .. } if field == "namespaces.rooms[1].regex"),
        "{err:?}"
    );
}

#[test]
fn empty_tokens_and_id_are_refused() {
    for field in ["id", "as_token", "hs_token"] {
        let err = parse(&with(field, &format!("{field}: ''"))).unwrap_err();
        assert!(
            matches!(err, RegistrationError::EmptyField { field: f, .. } if f == field),
            "{field}: {err:?}"
        );
    }
}

#[test]
fn identical_tokens_are_refused() {
    let err = parse(&with("hs_token", "hs_token: as_secret")).unwrap_err();
    assert!(matches!(err, RegistrationError::SameTokens { .. }), "{err:?}");
    assert!(!err.to_string().contains("as_secret"));
}

#[test]
fn invalid_regex_names_regex_and_place() {
    let yaml = with(
        "namespaces",
        "namespaces: {aliases: [{exclusive: false, regex: '#ok.*'}, {exclusive: true, regex: '#bad_(.*'}]}",
    );
    let err = parse(&yaml).unwrap_err();
    match &err {
        RegistrationError::InvalidRegex { field, regex, .. } => {
            assert_eq!(field, "namespaces.aliases[1].regex");
            assert_eq!(regex, "#bad_(.*");
        }
        other => panic!("unexpected {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("#bad_(.*") && msg.contains("test.yaml"), "{msg}");
}

#[test]
fn bad_sender_localpart_is_refused() {
    for bad in ["''", "Bot", "bot:hs", "bot bot", "'@bot'", "bøt"] {
        let err = parse(&with("sender_localpart", &format!("sender_localpart: {bad}"))).unwrap_err();
        assert!(matches!(err, RegistrationError::InvalidSenderLocalpart { .. }), "{bad}: {err:?}");
    }
    for good in ["a.b_c=d-e/f+g", "_irc_bot", "123"] {
        let yaml = with("sender_localpart", &format!("sender_localpart: '{good}'"));
        assert_eq!(parse(&yaml).unwrap().sender_localpart(), good);
    }
}

#[test]
fn url_must_be_http_or_https() {
    for bad in ["ftp://host", "localhost:8080", "http://", "''", "'http://a b'", "https:///path"] {
        let err = parse(&with("url", &format!("url: {bad}"))).unwrap_err();
        assert!(matches!(err, RegistrationError::InvalidUrl { .. }), "{bad}: {err:?}");
    }
    for good in ["http://localhost:9000", "https://as.example.org/path?x=1", "HTTPS://x"] {
        let reg = parse(&with("url", &format!("url: '{good}'"))).unwrap();
        assert_eq!(reg.url(), Some(good));
    }
}

#[test]
fn wrong_types_and_non_yaml_are_malformed() {
    for bad in
        ["rate_limited: sometimes", "protocols: irc", "namespaces: {users: [{exclusive: true, regex: [1]}]}"]
    {
        let field = bad.split(':').next().unwrap_or_default();
        let err = parse(&with(field, bad)).unwrap_err();
        assert!(matches!(err, RegistrationError::MalformedYaml { .. }), "{bad}: {err:?}");
    }
    for bad in ["- a list", "id: [unclosed", "just text"] {
        let err = parse(bad).unwrap_err();
        assert!(matches!(err, RegistrationError::MalformedYaml { .. }), "{bad:?}: {err:?}");
    }
}

#[test]
fn empty_file_lacks_id() {
    let err = parse("").unwrap_err();
    assert!(matches!(&err, RegistrationError::MissingField { field, .. } if field == "id"), "{err:?}");
}

#[test]
fn debug_output_hides_tokens() {
    let text = format!("{:?}", parse(&with("", "")).unwrap());
    assert!(!text.contains("as_secret") && !text.contains("hs_secret"), "{text}");
    assert!(text.contains("<redacted>"));
}

#[test]
fn is_sender_matches_only_the_full_sender_id() {
    let reg = parse(&with("", "")).unwrap();
    assert!(reg.is_sender("@bot:hs", "hs"));
    assert!(reg.is_sender("@bot:hs:8448", "hs:8448"));
    assert!(!reg.is_sender("@bot:other", "hs"));
    assert!(!reg.is_sender("@bot2:hs", "hs"));
    assert!(!reg.is_sender("bot:hs", "hs"));
    assert!(!reg.is_sender("@bot", "hs"));
}

fn write_file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
    path
}

#[test]
fn loads_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "irc.yaml", FULL);
    let reg = Registration::from_file(&path).unwrap();
    assert_eq!(reg.id(), "irc-bridge");
    assert_eq!(reg.origin(), path);
}

#[test]
fn unreadable_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.yaml");
    let err = Registration::from_file(&path).unwrap_err();
    assert!(matches!(err, RegistrationError::Unreadable { .. }));
    assert!(err.to_string().contains("missing.yaml"));
}

#[test]
fn errors_from_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(&dir, "broken.yaml", &with("as_token", ""));
    let err = Registration::from_file(&path).unwrap_err();
    assert!(err.to_string().contains("broken.yaml"), "{err}");
}

#[test]
fn loads_several_distinct_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_file(&dir, "a.yaml", &with("", ""));
    let b_text = with("id", "id: b")
        .replace("as_secret", "as_other")
        .replace("sender_localpart: bot", "sender_localpart: bot_b");
    let b = write_file(&dir, "b.yaml", &b_text);
    let regs = load_registrations(&[a, b]).unwrap();
    let ids: Vec<_> = regs.iter().map(Registration::id).collect();
    assert_eq!(ids, ["a", "b"]);
}

#[test]
fn duplicate_ids_across_files_name_both() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_file(&dir, "first.yaml", &with("", ""));
    let b_text = with("", "")
        .replace("as_secret", "as_other")
        .replace("sender_localpart: bot", "sender_localpart: bot_b");
    let b = write_file(&dir, "second.yaml", &b_text);
    let err = load_registrations(&[a, b]).unwrap_err();
    assert!(matches!(&err, RegistrationError::DuplicateId { id, .. } if id == "a"), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("first.yaml") && msg.contains("second.yaml"), "{msg}");
}

#[test]
fn duplicate_as_tokens_across_files_name_both() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_file(&dir, "first.yaml", &with("", ""));
    let b_text = with("id", "id: b").replace("sender_localpart: bot", "sender_localpart: bot_b");
    let b = write_file(&dir, "second.yaml", &b_text);
    let err = load_registrations(&[a, b]).unwrap_err();
    assert!(matches!(err, RegistrationError::DuplicateAsToken { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("first.yaml") && msg.contains("second.yaml"), "{msg}");
    assert!(!msg.contains("as_secret"), "{msg}");
}

#[test]
fn duplicate_senders_are_refused() {
    let a = parse(&with("", "")).unwrap();
    let b =
        Registration::from_yaml_str(&with("id", "id: b").replace("as_secret", "as_other"), "b.yaml").unwrap();
    let err = check_distinct(&[a, b]).unwrap_err();
    assert!(matches!(err, RegistrationError::DuplicateSender { .. }), "{err:?}");
}
