//! The set of application services a homeserver knows: token lookup and
//! who owns (or watches) a user, alias or room.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::RegistrationError;
use crate::registration::{Registration, check_distinct, load_registrations};

/// All registered application services of one homeserver.
#[derive(Clone, Debug)]
pub struct Registry {
    server_name: String,
    entries: Vec<Entry>,
}

#[derive(Clone, Debug)]
struct Entry {
    registration: Registration,
    /// SHA-256 of the `as_token`, so lookups compare fixed-size digests in
    /// constant time and leak neither contents nor length.
    as_token_digest: [u8; 32],
}

impl Registry {
    /// Builds a registry for `server_name` (needed to recognise each
    /// service's sender user), refusing registrations that clash (see
    /// [`check_distinct`]).
    pub fn new(
        server_name: impl Into<String>,
        registrations: Vec<Registration>,
    ) -> Result<Self, RegistrationError> {
        check_distinct(&registrations)?;
        let entries = registrations
            .into_iter()
            .map(|registration| Entry { as_token_digest: digest(registration.as_token()), registration })
            .collect();
        Ok(Self { server_name: server_name.into(), entries })
    }

    /// Loads the registration files listed in the homeserver's configuration.
    pub fn from_files<P: AsRef<Path>>(
        server_name: impl Into<String>,
        paths: &[P],
    ) -> Result<Self, RegistrationError> {
        Self::new(server_name, load_registrations(paths)?)
    }

    /// The homeserver name the sender users live on.
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// How many application services are registered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no application service is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every registration, in load order.
    pub fn iter(&self) -> impl Iterator<Item = &Registration> {
        self.entries.iter().map(|entry| &entry.registration)
    }

    /// The registration with this `id`.
    pub fn get(&self, id: &str) -> Option<&Registration> {
        self.iter().find(|reg| reg.id() == id)
    }

    /// The application service that presented `token` as its access token.
    /// Every registration is compared, each in constant time, so timing
    /// reveals nothing about how close a guess came.
    pub fn find_by_as_token(&self, token: &str) -> Option<&Registration> {
        let wanted = digest(token);
        let mut found = None;
        for entry in &self.entries {
            if constant_time_eq(&entry.as_token_digest, &wanted) && found.is_none() {
                found = Some(&entry.registration);
            }
        }
        found
    }

    /// The application service whose sender user is `user_id`.
    pub fn find_by_sender(&self, user_id: &str) -> Option<&Registration> {
        self.iter().find(|reg| reg.is_sender(user_id, &self.server_name))
    }

    /// The application service holding `user_id` exclusively (an exclusive
    /// user namespace, or its own sender), so anyone else registering that
    /// user must be refused with `M_EXCLUSIVE`.
    pub fn exclusive_owner_of_user(&self, user_id: &str) -> Option<&Registration> {
        self.iter()
            .find(|reg| reg.namespaces().exclusive_user(user_id) || reg.is_sender(user_id, &self.server_name))
    }

    /// The application service holding `alias` exclusively, so anyone else
    /// creating or deleting it must be refused with `M_EXCLUSIVE`.
    pub fn exclusive_owner_of_alias(&self, alias: &str) -> Option<&Registration> {
        self.iter().find(|reg| reg.namespaces().exclusive_alias(alias))
    }

    /// The application service holding `room_id` in an exclusive room
    /// namespace.
    pub fn exclusive_owner_of_room(&self, room_id: &str) -> Option<&Registration> {
        self.iter().find(|reg| reg.namespaces().exclusive_room(room_id))
    }

    /// Services interested in `user_id`: it is in a user namespace or is
    /// their sender.
    pub fn interested_in_user<'a>(&'a self, user_id: &'a str) -> impl Iterator<Item = &'a Registration> + 'a {
        self.iter().filter(move |reg| {
            reg.namespaces().is_interested_in_user(user_id) || reg.is_sender(user_id, &self.server_name)
        })
    }

    /// Services whose alias namespaces cover `alias`.
    pub fn interested_in_alias<'a>(&'a self, alias: &'a str) -> impl Iterator<Item = &'a Registration> + 'a {
        self.iter().filter(move |reg| reg.namespaces().is_interested_in_alias(alias))
    }

    /// Services whose room namespaces cover `room_id`.
    pub fn interested_in_room<'a>(&'a self, room_id: &'a str) -> impl Iterator<Item = &'a Registration> + 'a {
        self.iter().filter(move |reg| reg.namespaces().is_interested_in_room(room_id))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares two digests without stopping at the first difference.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(id: &str, as_token: &str, sender: &str, users: &str, aliases: &str) -> Registration {
        let yaml = format!(
            "id: {id}\nurl: null\nas_token: {as_token}\nhs_token: hs_{as_token}\n\
             sender_localpart: {sender}\nnamespaces:\n{users}{aliases}"
        );
        Registration::from_yaml_str(&yaml, format!("{id}.yaml")).unwrap()
    }

    fn registry() -> Registry {
        let irc = reg(
            "irc",
            "tok_irc",
            "ircbot",
            "  users:\n    - {exclusive: true, regex: '@irc_.*:hs'}\n    \
             - {exclusive: false, regex: '@.*:hs'}\n",
            "  aliases:\n    - {exclusive: true, regex: '#irc_.*:hs'}\n",
        );
        let slack = reg(
            "slack",
            "tok_slack",
            "slackbot",
            "  users:\n    - {exclusive: true, regex: '@slack_.*:hs'}\n",
            "  rooms:\n    - {exclusive: true, regex: '!slack.*:hs'}\n",
        );
        Registry::new("hs", vec![irc, slack]).unwrap()
    }

    #[test]
    fn finds_by_as_token() {
        let registry = registry();
        assert_eq!(registry.find_by_as_token("tok_irc").unwrap().id(), "irc");
        assert_eq!(registry.find_by_as_token("tok_slack").unwrap().id(), "slack");
        assert!(registry.find_by_as_token("tok_ir").is_none());
        assert!(registry.find_by_as_token("").is_none());
        assert!(registry.find_by_as_token("hs_tok_irc").is_none());
    }

    #[test]
    fn exclusive_user_owner() {
        let registry = registry();
        assert_eq!(registry.exclusive_owner_of_user("@irc_bob:hs").unwrap().id(), "irc");
        assert_eq!(registry.exclusive_owner_of_user("@slack_x:hs").unwrap().id(), "slack");
        // Only a non-exclusive namespace covers ordinary users.
        assert!(registry.exclusive_owner_of_user("@alice:hs").is_none());
        // Anchored: a remote look-alike is not owned.
        assert!(registry.exclusive_owner_of_user("@irc_bob:other").is_none());
    }

    #[test]
    fn sender_is_owned_and_interesting() {
        let registry = registry();
        assert_eq!(registry.exclusive_owner_of_user("@slackbot:hs").unwrap().id(), "slack");
        assert_eq!(registry.find_by_sender("@ircbot:hs").unwrap().id(), "irc");
        assert!(registry.find_by_sender("@ircbot:other").is_none());
        let ids: Vec<_> = registry.interested_in_user("@slackbot:hs").map(Registration::id).collect();
        // irc watches every local user non-exclusively; slack owns its sender.
        assert_eq!(ids, ["irc", "slack"]);
    }

    #[test]
    fn alias_and_room_owners() {
        let registry = registry();
        assert_eq!(registry.exclusive_owner_of_alias("#irc_chan:hs").unwrap().id(), "irc");
        assert!(registry.exclusive_owner_of_alias("#chan:hs").is_none());
        assert_eq!(registry.exclusive_owner_of_room("!slack123:hs").unwrap().id(), "slack");
        assert_eq!(registry.interested_in_alias("#irc_chan:hs").count(), 1);
        assert_eq!(registry.interested_in_room("!other:hs").count(), 0);
    }

    #[test]
    fn basic_accessors() {
        let registry = registry();
        assert_eq!(registry.len(), 2);
        assert!(!registry.is_empty());
        assert_eq!(registry.server_name(), "hs");
        assert_eq!(registry.get("slack").unwrap().sender_localpart(), "slackbot");
        assert!(registry.get("nope").is_none());
        assert!(Registry::new("hs", Vec::new()).unwrap().is_empty());
    }

    #[test]
    fn clashing_registrations_are_refused() {
        let a = reg("same", "tok_a", "bot_a", "", "");
        let b = reg("same", "tok_b", "bot_b", "", "");
        assert!(matches!(Registry::new("hs", vec![a, b]), Err(RegistrationError::DuplicateId { .. })));
    }

    #[test]
    fn constant_time_eq_compares_all_bytes() {
        let a = [7u8; 32];
        let mut b = a;
        assert!(constant_time_eq(&a, &b));
        b[31] = 8;
        assert!(!constant_time_eq(&a, &b));
    }
}
