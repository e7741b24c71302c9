//! User ID localparts: the grammar new users must follow, and generated ones.

use ruma::{OwnedUserId, ServerName, UserId};

use super::AccountsError;
use super::tokens::random_string;

/// Longest user ID the spec allows, in bytes.
const MAX_USER_ID_BYTES: usize = 255;

/// Characters the spec allows in new localparts (historical IDs allowed more).
fn is_allowed(c: char) -> bool {
    matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '=' | '-' | '/' | '+')
}

/// Validates a requested username (a localpart or a full local user ID) and returns
/// the user ID it names on this server.
pub fn user_id_for_new_user(username: &str, server_name: &ServerName) -> Result<OwnedUserId, AccountsError> {
    let localpart = match username.strip_prefix('@') {
        Some(full) => match full.split_once(':') {
            Some((localpart, server)) if server == server_name.as_str() => localpart,
            Some(_) => return Err(invalid("user ID belongs to another server")),
            None => return Err(invalid("a user ID needs a server name after ':'")),
        },
        None => username,
    };
    if localpart.is_empty() {
        return Err(invalid("username must not be empty"));
    }
    if !localpart.chars().all(is_allowed) {
        return Err(invalid("username may only contain a-z, 0-9, and . _ = - / +"));
    }
    if localpart.starts_with('_') {
        // Synapse reserves the leading underscore for application services.
        return Err(invalid("usernames starting with '_' are reserved"));
    }
    let user_id = format!("@{localpart}:{server_name}");
    if user_id.len() > MAX_USER_ID_BYTES {
        return Err(invalid("user ID would be longer than 255 bytes"));
    }
    UserId::parse(user_id).map_err(|e| invalid(&e.to_string()))
}

/// Resolves a login identifier (localpart or full ID, any case) to a local user ID.
/// Historical user IDs are accepted here, since they may exist.
pub fn user_id_for_login(user: &str, server_name: &ServerName) -> Option<OwnedUserId> {
    let full = if user.starts_with('@') { user.to_owned() } else { format!("@{user}:{server_name}") };
    let user_id = UserId::parse(full.to_lowercase()).ok()?;
    (user_id.server_name() == server_name).then_some(user_id)
}

/// A fresh localpart for users who did not choose one.
pub fn generated_localpart() -> Result<String, AccountsError> {
    Ok(random_string(12)?.to_ascii_lowercase())
}

fn invalid(why: &str) -> AccountsError {
    AccountsError::InvalidUsername(why.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> &'static ServerName {
        <&ServerName>::try_from("example.org").unwrap()
    }

    #[test]
    fn accepts_spec_grammar() {
        let id = user_id_for_new_user("alice.b-c=d/e+f", server()).unwrap();
        assert_eq!(id.as_str(), "@alice.b-c=d/e+f:example.org");
        assert_eq!(user_id_for_new_user("@bob:example.org", server()).unwrap().as_str(), "@bob:example.org");
    }

    #[test]
    fn refuses_bad_names() {
        for name in ["", "Alice", "a b", "é", "_bridge", "@bob:other.org", "@bob", &"a".repeat(250)] {
            assert!(user_id_for_new_user(name, server()).is_err(), "{name}");
        }
    }

    #[test]
    fn login_identifiers_are_case_insensitive_and_local() {
        assert_eq!(user_id_for_login("Alice", server()).unwrap().as_str(), "@alice:example.org");
        assert!(user_id_for_login("@alice:other.org", server()).is_none());
    }
}
