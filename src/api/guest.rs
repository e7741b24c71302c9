//! What guest accounts may call: the spec's Guest Access module lists the endpoints,
//! and the extractor refuses every other one with `M_GUEST_ACCESS_FORBIDDEN`.

use http::Method;

/// Paths after `/_matrix/client/{version}`; `{}` stands for any one parameter.
const GUEST_ENDPOINTS: &[(Method, &str)] = &[
    // Reading rooms and events.
    (Method::GET, "/rooms/{}/state"),
    (Method::GET, "/rooms/{}/context/{}"),
    (Method::GET, "/rooms/{}/event/{}"),
    (Method::GET, "/rooms/{}/state/{}/{}"),
    (Method::GET, "/rooms/{}/state/{}"),
    (Method::GET, "/rooms/{}/messages"),
    (Method::GET, "/rooms/{}/members"),
    (Method::GET, "/rooms/{}/initialSync"),
    (Method::GET, "/sync"),
    (Method::GET, "/events"),
    (Method::GET, "/media/download/{}/{}"),
    (Method::GET, "/media/download/{}/{}/{}"),
    (Method::GET, "/media/thumbnail/{}/{}"),
    // Taking part.
    (Method::POST, "/rooms/{}/join"),
    (Method::POST, "/join/{}"),
    (Method::POST, "/rooms/{}/leave"),
    (Method::PUT, "/rooms/{}/send/{}/{}"),
    (Method::PUT, "/rooms/{}/state/{}/{}"),
    (Method::PUT, "/rooms/{}/state/{}"),
    (Method::PUT, "/sendToDevice/{}/{}"),
    // Their own account.
    (Method::PUT, "/profile/{}/displayname"),
    (Method::GET, "/devices"),
    (Method::GET, "/devices/{}"),
    (Method::PUT, "/devices/{}"),
    (Method::GET, "/account/whoami"),
    // End-to-end encryption.
    (Method::POST, "/keys/upload"),
    (Method::POST, "/keys/query"),
    (Method::POST, "/keys/claim"),
    // Not in the spec's list, but no guest client works without them: profiles are
    // public anyway, filters shape `/sync`, and a guest must be able to log out.
    (Method::GET, "/profile/{}"),
    (Method::GET, "/profile/{}/{}"),
    (Method::POST, "/user/{}/filter"),
    (Method::GET, "/user/{}/filter/{}"),
    (Method::POST, "/logout"),
    (Method::GET, "/capabilities"),
];

/// Whether a guest may call the endpoint with this method and any of these paths.
pub fn may_call(method: &Method, paths: &[&str]) -> bool {
    paths.iter().any(|path| {
        let Some(tail) = path
            .strip_prefix("/_matrix/client/")
            .and_then(|rest| rest.find('/').and_then(|at| rest.get(at..)))
        else {
            return false;
        };
        GUEST_ENDPOINTS.iter().any(|(allowed, pattern)| allowed == method && same_shape(pattern, tail))
    })
}

/// Segment by segment; a `{}` in the pattern takes any `{name}` parameter.
fn same_shape(pattern: &str, path: &str) -> bool {
    let (mut want, mut have) = (pattern.split('/'), path.split('/'));
    loop {
        match (want.next(), have.next()) {
            (None, None) => return true,
            (Some("{}"), Some(segment)) if segment.starts_with('{') => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_list_and_nothing_else() {
        assert!(may_call(&Method::GET, &["/_matrix/client/v3/rooms/{room_id}/messages"]));
        assert!(may_call(&Method::PUT, &["/_matrix/client/r0/rooms/{room_id}/send/{event_type}/{txn_id}"]));
        assert!(may_call(&Method::GET, &["/_matrix/client/v3/sync"]));
        assert!(!may_call(&Method::POST, &["/_matrix/client/v3/createRoom"]));
        assert!(!may_call(&Method::POST, &["/_matrix/client/v3/rooms/{room_id}/invite"]));
        assert!(!may_call(&Method::GET, &["/_matrix/client/v3/rooms/{room_id}/messages/extra"]));
        assert!(!may_call(&Method::DELETE, &["/_matrix/client/v3/devices/{device_id}"]));
        assert!(!may_call(
            &Method::GET,
            &["/_matrix/client/unstable/org.matrix.msc3814.v1/dehydrated_device/{d}/events"]
        ));
    }
}
