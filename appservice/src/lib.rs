//! Application-service registrations and namespace matching.
//!
//! The homeserver learns about application services from registration YAML
//! files (Application Service API, "Registration"). This crate loads and
//! validates those files ([`Registration`]), compiles their namespaces into
//! whole-identifier matchers ([`Namespaces`]), and answers the homeserver's
//! questions across all of them ([`Registry`]): which service sent this
//! `as_token`, and which service exclusively owns a user or alias.
//!
//! Namespace regexes use the `regex` crate's syntax (close to POSIX extended,
//! without look-around or back-references); a file using those fails to load
//! with [`RegistrationError::InvalidRegex`].
#![forbid(unsafe_code)]

mod error;
mod namespaces;
mod registration;
mod registry;

pub use error::RegistrationError;
pub use namespaces::{Namespace, Namespaces};
pub use registration::{Registration, check_distinct, load_registrations};
pub use registry::Registry;
