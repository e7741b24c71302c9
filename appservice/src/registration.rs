//! Application-service registration files: parsing, validation, and the
//! checks that span several files.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::error::RegistrationError;
use crate::namespaces::{Namespace, Namespaces};

/// A validated application-service registration (spec: Application Service
/// API, "Registration"). Fields are private so a value always holds what
/// validation accepted.
#[derive(Clone)]
pub struct Registration {
    origin: PathBuf,
    id: String,
    url: Option<String>,
    as_token: String,
    hs_token: String,
    sender_localpart: String,
    namespaces: Namespaces,
    rate_limited: Option<bool>,
    protocols: Vec<String>,
    receive_ephemeral: bool,
    device_management: bool,
}

impl Registration {
    /// Reads and validates the registration file at `path`; errors name it.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, RegistrationError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|source| RegistrationError::Unreadable { origin: path.to_owned(), source })?;
        Self::from_yaml_str(&text, path)
    }

    /// Parses and validates registration YAML held in memory; `origin` is the
    /// name errors and [`Registration::origin`] report for it.
    pub fn from_yaml_str(text: &str, origin: impl Into<PathBuf>) -> Result<Self, RegistrationError> {
        let origin = origin.into();
        let raw: RawRegistration = match serde_yaml::from_str(text) {
            Ok(raw) => raw,
            Err(source) => return Err(RegistrationError::MalformedYaml { origin, source }),
        };
        raw.validate(origin)
    }

    /// Where this registration was loaded from, for messages.
    pub fn origin(&self) -> &Path {
        &self.origin
    }

    /// The application service's unique, never-changing id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Base URL to push transactions to; `None` means the service wants no
    /// traffic from the homeserver.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// The token the application service presents to the homeserver.
    pub fn as_token(&self) -> &str {
        &self.as_token
    }

    /// The token the homeserver presents to the application service.
    pub fn hs_token(&self) -> &str {
        &self.hs_token
    }

    /// Localpart of the application service's own user.
    pub fn sender_localpart(&self) -> &str {
        &self.sender_localpart
    }

    /// The compiled user, alias and room namespaces.
    pub fn namespaces(&self) -> &Namespaces {
        &self.namespaces
    }

    /// Whether requests from masqueraded users are rate-limited (the sender
    /// never is); `None` when the file leaves it to the homeserver's default.
    pub fn rate_limited(&self) -> Option<bool> {
        self.rate_limited
    }

    /// The third-party protocols the service bridges, such as `irc`.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// Whether the service wants ephemeral data (typing, receipts, presence)
    /// in its transactions (`receive_ephemeral`, or MSC2409's name).
    pub fn receive_ephemeral(&self) -> bool {
        self.receive_ephemeral
    }

    /// Whether the service may manage its users' devices (MSC4190).
    pub fn device_management(&self) -> bool {
        self.device_management
    }

    /// The full user ID of the service's own user on `server_name`.
    pub fn sender_user_id(&self, server_name: &str) -> String {
        format!("@{}:{server_name}", self.sender_localpart)
    }

    /// Whether `user_id` is the service's own user on `server_name`; that
    /// user belongs to the service even outside its user namespaces.
    pub fn is_sender(&self, user_id: &str, server_name: &str) -> bool {
        // A localpart never contains ':', so the first ':' ends it.
        user_id
            .strip_prefix('@')
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(local, server)| local == self.sender_localpart && server == server_name)
    }
}

impl fmt::Debug for Registration {
    /// Shows everything but the tokens, so logging a registration leaks no
    /// secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("origin", &self.origin)
            .field("id", &self.id)
            .field("url", &self.url)
            .field("as_token", &"<redacted>")
            .field("hs_token", &"<redacted>")
            .field("sender_localpart", &self.sender_localpart)
            .field("namespaces", &self.namespaces)
            .field("rate_limited", &self.rate_limited)
            .field("protocols", &self.protocols)
            .field("receive_ephemeral", &self.receive_ephemeral)
            .field("device_management", &self.device_management)
            .finish()
    }
}

/// Loads every file in `paths` and checks them against each other (see
/// [`check_distinct`]); the first problem found is returned.
pub fn load_registrations<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<Registration>, RegistrationError> {
    let registrations = paths.iter().map(Registration::from_file).collect::<Result<Vec<_>, _>>()?;
    check_distinct(&registrations)?;
    Ok(registrations)
}

/// Refuses a set of registrations in which two share an `id`, an
/// `as_token` or a `sender_localpart`; the error names both files.
pub fn check_distinct(registrations: &[Registration]) -> Result<(), RegistrationError> {
    let mut ids: HashMap<&str, &Path> = HashMap::new();
    let mut tokens: HashMap<&str, &Path> = HashMap::new();
    let mut senders: HashMap<&str, &Path> = HashMap::new();
    for reg in registrations {
        if let Some(first) = ids.insert(&reg.id, &reg.origin) {
            return Err(RegistrationError::DuplicateId {
                id: reg.id.clone(),
                first: first.to_owned(),
                second: reg.origin.clone(),
            });
        }
        if let Some(first) = tokens.insert(&reg.as_token, &reg.origin) {
            return Err(RegistrationError::DuplicateAsToken {
                first: first.to_owned(),
                second: reg.origin.clone(),
            });
        }
        if let Some(first) = senders.insert(&reg.sender_localpart, &reg.origin) {
            return Err(RegistrationError::DuplicateSender {
                localpart: reg.sender_localpart.clone(),
                first: first.to_owned(),
                second: reg.origin.clone(),
            });
        }
    }
    Ok(())
}

/// The file as written, before validation. Every field is optional here so
/// that a missing one yields [`RegistrationError::MissingField`] with its
/// name; unknown fields are ignored, as other homeservers' files carry extras.
#[derive(Deserialize)]
struct RawRegistration {
    id: Option<String>,
    /// Outer `None`: absent; `Some(None)`: explicitly null.
    #[serde(default, deserialize_with = "present")]
    url: Option<Option<String>>,
    as_token: Option<String>,
    hs_token: Option<String>,
    sender_localpart: Option<String>,
    /// Required, but an explicit null means "no namespaces".
    #[serde(default, deserialize_with = "present")]
    namespaces: Option<Option<RawNamespaces>>,
    rate_limited: Option<bool>,
    protocols: Option<Vec<String>>,
    receive_ephemeral: Option<bool>,
    #[serde(rename = "de.sorunome.msc2409.push_ephemeral")]
    receive_ephemeral_msc2409: Option<bool>,
    device_management: Option<bool>,
    #[serde(rename = "io.element.msc4190")]
    device_management_msc4190: Option<bool>,
}

#[derive(Default, Deserialize)]
struct RawNamespaces {
    users: Option<Vec<RawNamespace>>,
    aliases: Option<Vec<RawNamespace>>,
    rooms: Option<Vec<RawNamespace>>,
}

#[derive(Deserialize)]
struct RawNamespace {
    exclusive: Option<bool>,
    regex: Option<String>,
}

/// Marks a field as present even when its value is null.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl RawRegistration {
    fn validate(self, origin: PathBuf) -> Result<Registration, RegistrationError> {
        let id = required(self.id, "id", &origin)?;
        let url = required(self.url, "url", &origin)?;
        let as_token = required(self.as_token, "as_token", &origin)?;
        let hs_token = required(self.hs_token, "hs_token", &origin)?;
        let sender_localpart = required(self.sender_localpart, "sender_localpart", &origin)?;
        let raw_namespaces = required(self.namespaces, "namespaces", &origin)?.unwrap_or_default();

        non_empty(&id, "id", &origin)?;
        non_empty(&as_token, "as_token", &origin)?;
        non_empty(&hs_token, "hs_token", &origin)?;
        if as_token == hs_token {
            return Err(RegistrationError::SameTokens { origin });
        }
        if !is_valid_localpart(&sender_localpart) {
            return Err(RegistrationError::InvalidSenderLocalpart { origin, localpart: sender_localpart });
        }
        if let Some(url) = &url
            && !is_http_url(url)
        {
            return Err(RegistrationError::InvalidUrl { origin, url: url.clone() });
        }

        let namespaces = Namespaces::new(
            compile_list(raw_namespaces.users, "users", &origin)?,
            compile_list(raw_namespaces.aliases, "aliases", &origin)?,
            compile_list(raw_namespaces.rooms, "rooms", &origin)?,
        );
        let receive_ephemeral = merge_alias(
            self.receive_ephemeral,
            self.receive_ephemeral_msc2409,
            "receive_ephemeral",
            "de.sorunome.msc2409.push_ephemeral",
            &origin,
        )?;
        let device_management = merge_alias(
            self.device_management,
            self.device_management_msc4190,
            "device_management",
            "io.element.msc4190",
            &origin,
        )?;

        Ok(Registration {
            origin,
            id,
            url,
            as_token,
            hs_token,
            sender_localpart,
            namespaces,
            rate_limited: self.rate_limited,
            protocols: self.protocols.unwrap_or_default(),
            receive_ephemeral,
            device_management,
        })
    }
}

fn required<T>(value: Option<T>, field: &str, origin: &Path) -> Result<T, RegistrationError> {
    value
        .ok_or_else(|| RegistrationError::MissingField { origin: origin.to_owned(), field: field.to_owned() })
}

fn non_empty(value: &str, field: &'static str, origin: &Path) -> Result<(), RegistrationError> {
    if value.is_empty() {
        return Err(RegistrationError::EmptyField { origin: origin.to_owned(), field });
    }
    Ok(())
}

/// Compiles one namespace list (`kind` is `users`, `aliases` or `rooms`);
/// an absent or null list is empty.
fn compile_list(
    list: Option<Vec<RawNamespace>>,
    kind: &str,
    origin: &Path,
) -> Result<Vec<Namespace>, RegistrationError> {
    list.unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, raw)| {
            let at = format!("namespaces.{kind}[{index}]");
            let exclusive = required(raw.exclusive, &format!("{at}.exclusive"), origin)?;
            let pattern = required(raw.regex, &format!("{at}.regex"), origin)?;
            Namespace::new(&pattern, exclusive).map_err(|source| RegistrationError::InvalidRegex {
                origin: origin.to_owned(),
                field: format!("{at}.regex"),
                regex: pattern.clone(),
                source: Box::new(source),
            })
        })
        .collect()
}

/// Settles a flag that may be spelled with its stable or its MSC name;
/// absent means `false`, and two differing values are refused.
fn merge_alias(
    stable: Option<bool>,
    unstable: Option<bool>,
    stable_name: &'static str,
    unstable_name: &'static str,
    origin: &Path,
) -> Result<bool, RegistrationError> {
    match (stable, unstable) {
        (Some(a), Some(b)) if a != b => Err(RegistrationError::ConflictingFields {
            origin: origin.to_owned(),
            stable: stable_name,
            unstable: unstable_name,
        }),
        (Some(value), _) | (None, Some(value)) => Ok(value),
        (None, None) => Ok(false),
    }
}

/// The user-ID localpart grammar: one or more of `a-z 0-9 . _ = - / +`.
fn is_valid_localpart(localpart: &str) -> bool {
    !localpart.is_empty()
        && localpart.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._=-/+".contains(&b))
}

/// A light check that `url` is `http(s)://host...` with no whitespace; the
/// HTTP client does the full parse when it sends.
fn is_http_url(url: &str) -> bool {
    let rest = ["http://", "https://"].iter().find_map(|scheme| {
        url.get(..scheme.len())
            .filter(|head| head.eq_ignore_ascii_case(scheme))
            .and_then(|_| url.get(scheme.len()..))
    });
    let Some(rest) = rest else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    !authority.is_empty() && !url.chars().any(char::is_whitespace)
}

#[cfg(test)]
#[path = "registration_tests.rs"]
mod tests;
