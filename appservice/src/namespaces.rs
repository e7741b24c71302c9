//! Compiled namespaces: which user IDs, aliases and room IDs an application
//! service is interested in, and which of them it holds exclusively.

use regex::Regex;

/// One namespace entry: a regex over whole identifiers, and whether the
/// application service claims it for itself alone.
#[derive(Clone, Debug)]
pub struct Namespace {
    exclusive: bool,
    pattern: String,
    regex: Regex,
}

impl Namespace {
    /// Compiles `pattern` so that it must match the *entire* identifier, as
    /// the specification intends: `@irc_.*` matches `@irc_bob:hs` but not
    /// `@x@irc_bob:hs`.
    pub fn new(pattern: &str, exclusive: bool) -> Result<Self, regex::Error> {
        // \A and \z sit outside the group, so flags such as (?m) inside the
        // pattern cannot loosen the anchoring.
        let regex = Regex::new(&format!(r"\A(?:{pattern})\z"))?;
        Ok(Self { exclusive, pattern: pattern.to_owned(), regex })
    }

    /// Whether only this application service may manage matching entities.
    pub fn exclusive(&self) -> bool {
        self.exclusive
    }

    /// The regex as written in the registration file, for logs and errors.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Whether `identifier`, as a whole, falls in this namespace.
    pub fn matches(&self, identifier: &str) -> bool {
        self.regex.is_match(identifier)
    }
}

/// The three namespace lists of one registration.
#[derive(Clone, Debug, Default)]
pub struct Namespaces {
    users: Vec<Namespace>,
    aliases: Vec<Namespace>,
    rooms: Vec<Namespace>,
}

impl Namespaces {
    /// Gathers already-compiled namespace lists.
    pub fn new(users: Vec<Namespace>, aliases: Vec<Namespace>, rooms: Vec<Namespace>) -> Self {
        Self { users, aliases, rooms }
    }

    /// The user-ID namespaces, for inspection.
    pub fn users(&self) -> &[Namespace] {
        &self.users
    }

    /// The room-alias namespaces, for inspection.
    pub fn aliases(&self) -> &[Namespace] {
        &self.aliases
    }

    /// The room-ID namespaces, for inspection.
    pub fn rooms(&self) -> &[Namespace] {
        &self.rooms
    }

    /// Whether a full user ID (`@local:server`) is in any user namespace.
    pub fn is_interested_in_user(&self, user_id: &str) -> bool {
        any_match(&self.users, user_id, false)
    }

    /// Whether a full room alias (`#alias:server`) is in any alias namespace.
    pub fn is_interested_in_alias(&self, alias: &str) -> bool {
        any_match(&self.aliases, alias, false)
    }

    /// Whether a room ID (`!opaque:server`) is in any room namespace.
    pub fn is_interested_in_room(&self, room_id: &str) -> bool {
        any_match(&self.rooms, room_id, false)
    }

    /// Whether a user ID is in an *exclusive* user namespace, so nobody else
    /// may register or manage it.
    pub fn exclusive_user(&self, user_id: &str) -> bool {
        any_match(&self.users, user_id, true)
    }

    /// Whether a room alias is in an *exclusive* alias namespace, so nobody
    /// else may create or delete it.
    pub fn exclusive_alias(&self, alias: &str) -> bool {
        any_match(&self.aliases, alias, true)
    }

    /// Whether a room ID is in an *exclusive* room namespace.
    pub fn exclusive_room(&self, room_id: &str) -> bool {
        any_match(&self.rooms, room_id, true)
    }
}

/// Whether any namespace in `list` (only exclusive ones if asked) matches.
fn any_match(list: &[Namespace], identifier: &str, exclusive_only: bool) -> bool {
    list.iter().filter(|ns| !exclusive_only || ns.exclusive).any(|ns| ns.matches(identifier))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(pattern: &str, exclusive: bool) -> Namespace {
        Namespace::new(pattern, exclusive).unwrap()
    }

    #[test]
    fn regex_is_anchored_at_both_ends() {
        let irc = ns("@irc_.*", true);
        assert!(irc.matches("@irc_foo:hs"));
        assert!(!irc.matches("@x@irc_foo:hs"));
        assert!(!irc.matches("x@irc_foo:hs"));

        let full = ns("@irc_.*:example.org", true);
        assert!(full.matches("@irc_bob:example.org"));
        assert!(!full.matches("@irc_bob:example.org.evil"));
        assert!(!full.matches("@irc_bob:example.com"));
    }

    #[test]
    fn alternation_stays_inside_the_anchors() {
        // Without the group, `^a|b$` would match any text starting with `a`.
        let alt = ns("@a:hs|@b:hs", false);
        assert!(alt.matches("@a:hs"));
        assert!(alt.matches("@b:hs"));
        assert!(!alt.matches("@a:hs-and-more"));
        assert!(!alt.matches("more-@b:hs"));
    }

    #[test]
    fn inline_multiline_flag_cannot_escape_anchoring() {
        let multi = ns("(?m)@a:hs$", false);
        assert!(multi.matches("@a:hs"));
        assert!(!multi.matches("@a:hs\n@other:hs"));
    }

    #[test]
    fn patterns_already_anchored_still_work() {
        let anchored = ns("^@bridge_.*:hs$", true);
        assert!(anchored.matches("@bridge_1:hs"));
        assert_eq!(anchored.pattern(), "^@bridge_.*:hs$");
    }

    #[test]
    fn invalid_pattern_is_an_error() {
        assert!(Namespace::new("@irc_(", false).is_err());
    }

    #[test]
    fn exclusive_and_shared_namespaces_differ() {
        let namespaces = Namespaces::new(
            vec![ns("@irc_.*:hs", true), ns("@shared_.*:hs", false)],
            vec![ns("#irc_.*:hs", true)],
            vec![ns("!bridged.*:hs", false)],
        );

        assert!(namespaces.is_interested_in_user("@irc_a:hs"));
        assert!(namespaces.exclusive_user("@irc_a:hs"));
        assert!(namespaces.is_interested_in_user("@shared_a:hs"));
        assert!(!namespaces.exclusive_user("@shared_a:hs"));
        assert!(!namespaces.is_interested_in_user("@alice:hs"));

        assert!(namespaces.is_interested_in_alias("#irc_x:hs"));
        assert!(namespaces.exclusive_alias("#irc_x:hs"));
        assert!(!namespaces.is_interested_in_alias("#other:hs"));

        assert!(namespaces.is_interested_in_room("!bridged1:hs"));
        assert!(!namespaces.exclusive_room("!bridged1:hs"));
        assert!(!namespaces.is_interested_in_room("!plain:hs"));
    }

    #[test]
    fn empty_namespaces_match_nothing() {
        let namespaces = Namespaces::default();
        assert!(!namespaces.is_interested_in_user("@a:hs"));
        assert!(!namespaces.exclusive_alias("#a:hs"));
        assert!(namespaces.users().is_empty());
    }
}
