//! The errors raised while loading and cross-checking registration files.

use std::path::PathBuf;

/// Why a registration file (or a set of them) was refused.
///
/// Every variant names the file it came from (`origin`, the path it was read
/// from or the label given with the text) so an administrator can fix it.
/// No variant ever carries a token's value.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// The file could not be read at all.
    #[error("cannot read application-service registration {}: {source}", origin.display())]
    Unreadable {
        /// The file that was being read.
        origin: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },

    /// The text is not YAML, or a field has the wrong type.
    #[error("{}: not a valid registration file: {source}", origin.display())]
    MalformedYaml {
        /// The file that was being parsed.
        origin: PathBuf,
        /// The parser's account, with the field path and position.
        source: serde_yaml::Error,
    },

    /// A field the specification requires is absent.
    #[error("{}: required field `{field}` is missing", origin.display())]
    MissingField {
        /// The file that lacks the field.
        origin: PathBuf,
        /// The field's path, such as `namespaces.users[0].regex`.
        field: String,
    },

    /// A field that must carry text is the empty string.
    #[error("{}: field `{field}` must not be empty", origin.display())]
    EmptyField {
        /// The file holding the field.
        origin: PathBuf,
        /// The empty field's name.
        field: &'static str,
    },

    /// `as_token` and `hs_token` are the same, so either side could pose as
    /// the other.
    #[error("{}: `as_token` and `hs_token` must differ", origin.display())]
    SameTokens {
        /// The file holding both tokens.
        origin: PathBuf,
    },

    /// A namespace regex does not compile.
    #[error("{}: regex `{regex}` in `{field}` is invalid: {source}", origin.display())]
    InvalidRegex {
        /// The file holding the regex.
        origin: PathBuf,
        /// Where the regex sits, such as `namespaces.users[2].regex`.
        field: String,
        /// The regex as written in the file.
        regex: String,
        /// Why it failed to compile.
        source: Box<regex::Error>,
    },

    /// `sender_localpart` breaks the Matrix user-ID localpart grammar.
    #[error(
        "{}: `sender_localpart` {localpart:?} is not a valid Matrix localpart \
         (allowed: a-z 0-9 . _ = - / +)",
        origin.display()
    )]
    InvalidSenderLocalpart {
        /// The file holding the localpart.
        origin: PathBuf,
        /// The offending localpart.
        localpart: String,
    },

    /// `url` is present but is not an `http://` or `https://` URL.
    #[error(
        "{}: `url` {url:?} must be an http:// or https:// URL, or null for no pushes",
        origin.display()
    )]
    InvalidUrl {
        /// The file holding the URL.
        origin: PathBuf,
        /// The offending URL.
        url: String,
    },

    /// A stable field and its unstable (MSC) name are both given, with
    /// different values.
    #[error("{}: `{stable}` and `{unstable}` are both set but disagree", origin.display())]
    ConflictingFields {
        /// The file holding both fields.
        origin: PathBuf,
        /// The field's name in the specification.
        stable: &'static str,
        /// The field's name in its MSC.
        unstable: &'static str,
    },

    /// Two registrations share an `id`, which must be unique.
    #[error("duplicate application-service id {id:?} in {} and {}", first.display(), second.display())]
    DuplicateId {
        /// The shared id.
        id: String,
        /// The file loaded first.
        first: PathBuf,
        /// The file loaded later.
        second: PathBuf,
    },

    /// Two registrations share an `as_token`, so a request could not be
    /// attributed to one application service.
    #[error("{} and {} use the same `as_token`", first.display(), second.display())]
    DuplicateAsToken {
        /// The file loaded first.
        first: PathBuf,
        /// The file loaded later.
        second: PathBuf,
    },

    /// Two registrations claim the same sender user.
    #[error(
        "{} and {} use the same `sender_localpart` {localpart:?}",
        first.display(),
        second.display()
    )]
    DuplicateSender {
        /// The shared localpart.
        localpart: String,
        /// The file loaded first.
        first: PathBuf,
        /// The file loaded later.
        second: PathBuf,
    },
}
