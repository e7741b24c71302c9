//! The Client-Server API calls the scenarios make, over plain HTTP; every server answer
//! is checked and turned into a typed error, never a panic.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// What went wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{what}: transport error: {}", chain(source))]
    Transport { what: &'static str, source: reqwest::Error },
    #[error("{what}: HTTP {status}: {body}")]
    Status { what: &'static str, status: StatusCode, body: String },
    #[error("{what}: unexpected response: {detail}")]
    Shape { what: &'static str, detail: String },
}

/// A connection pool to one homeserver; cheap to clone.
#[derive(Clone)]
pub struct Server {
    http: reqwest::Client,
    base: Arc<str>,
    /// Makes transaction ids unique across the whole run.
    txn: Arc<AtomicU64>,
}

/// A logged-in user.
#[derive(Clone, Debug)]
pub struct User {
    pub token: String,
}

/// One `/sync` answer, reduced to what the scenarios look at.
pub struct SyncResponse {
    pub next_batch: String,
    pub body: Value,
}

impl Server {
    /// The same server through a new connection pool: every request of the copy opens
    /// its own connection instead of reusing one kept alive by earlier scenarios.
    pub fn fresh(&self) -> Result<Server, ClientError> {
        let mut copy = Server::new(&self.base)?;
        copy.txn = self.txn.clone();
        Ok(copy)
    }

    /// `base` is e.g. `http://127.0.0.1:8008`.
    pub fn new(base: &str) -> Result<Server, ClientError> {
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(180))
            .build()
            .map_err(|source| ClientError::Transport { what: "client setup", source })?;
        Ok(Server { http, base: base.trim_end_matches('/').into(), txn: Arc::new(AtomicU64::new(0)) })
    }

    async fn call(
        &self,
        what: &'static str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|source| ClientError::Transport { what, source })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|source| ClientError::Transport { what, source })?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let mut body = String::from_utf8_lossy(&bytes).into_owned();
            body.truncate(300);
            return Err(ClientError::Status { what, status, body });
        }
        Ok(value)
    }

    /// `GET /versions`: whether the server answers at all.
    pub async fn versions(&self) -> Result<(), ClientError> {
        self.call("versions", Method::GET, "/_matrix/client/versions", None, None).await.map(drop)
    }

    /// Registers `username` with the dummy user-interactive auth flow and logs in.
    pub async fn register(&self, username: &str, password: &str) -> Result<User, ClientError> {
        const WHAT: &str = "register";
        let mut body = json!({ "username": username, "password": password, "inhibit_login": false });
        // The first call answers 401 with a UIA session (or registers outright on servers
        // that need no auth).
        let first = self.call(WHAT, Method::POST, "/_matrix/client/v3/register", None, Some(&body)).await;
        let value = match first {
            Ok(value) => value,
            Err(ClientError::Status { status: StatusCode::UNAUTHORIZED, body: text, .. }) => {
                let session = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v.get("session").and_then(Value::as_str).map(str::to_owned))
                    .ok_or_else(|| ClientError::Shape {
                        what: WHAT,
                        detail: format!("no UIA session: {text}"),
                    })?;
                body["auth"] = json!({ "type": "m.login.dummy", "session": session });
                self.call(WHAT, Method::POST, "/_matrix/client/v3/register", None, Some(&body)).await?
            }
            Err(other) => return Err(other),
        };
        Ok(User { token: field_str(WHAT, &value, "access_token")? })
    }

    /// Creates a room; `public` makes it joinable by anyone (preset public_chat).
    pub async fn create_room(&self, user: &User, public: bool) -> Result<String, ClientError> {
        const WHAT: &str = "createRoom";
        let preset = if public { "public_chat" } else { "private_chat" };
        let body = json!({ "preset": preset, "name": "bench" });
        let value = self
            .call(WHAT, Method::POST, "/_matrix/client/v3/createRoom", Some(&user.token), Some(&body))
            .await?;
        field_str(WHAT, &value, "room_id")
    }

    /// Joins a room by id.
    pub async fn join(&self, user: &User, room_id: &str) -> Result<(), ClientError> {
        let path = format!("/_matrix/client/v3/join/{}", encode(room_id));
        self.call("join", Method::POST, &path, Some(&user.token), Some(&json!({}))).await.map(drop)
    }

    /// Sends an `m.room.message` with a `bench_seq` marker; returns the event id.
    pub async fn send(&self, user: &User, room_id: &str, seq: u64) -> Result<String, ClientError> {
        const WHAT: &str = "send";
        let txn = self.txn.fetch_add(1, Ordering::Relaxed);
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.message/b{}-{txn}",
            encode(room_id),
            std::process::id()
        );
        let body = json!({ "msgtype": "m.text", "body": format!("bench message {seq}"), "bench_seq": seq });
        let value = self.call(WHAT, Method::PUT, &path, Some(&user.token), Some(&body)).await?;
        field_str(WHAT, &value, "event_id")
    }

    /// `/sync`; `since` None is an initial sync. `filter` is inline filter JSON.
    pub async fn sync(
        &self,
        user: &User,
        since: Option<&str>,
        timeout_ms: u64,
        filter: Option<&str>,
    ) -> Result<SyncResponse, ClientError> {
        const WHAT: &str = "sync";
        let mut path = format!("/_matrix/client/v3/sync?timeout={timeout_ms}");
        if let Some(since) = since {
            path.push_str("&since=");
            path.push_str(&encode(since));
        }
        if let Some(filter) = filter {
            path.push_str("&filter=");
            path.push_str(&encode(filter));
        }
        let body = self.call(WHAT, Method::GET, &path, Some(&user.token), None).await?;
        Ok(SyncResponse { next_batch: field_str(WHAT, &body, "next_batch")?, body })
    }

    /// One `/messages` page backwards from `from` (None: from the end); returns the
    /// number of events and the next token (None at the start of the room).
    pub async fn messages_back(
        &self,
        user: &User,
        room_id: &str,
        from: Option<&str>,
        limit: u32,
    ) -> Result<(usize, Option<String>), ClientError> {
        const WHAT: &str = "messages";
        let mut path = format!("/_matrix/client/v3/rooms/{}/messages?dir=b&limit={limit}", encode(room_id));
        if let Some(from) = from {
            path.push_str("&from=");
            path.push_str(&encode(from));
        }
        let value = self.call(WHAT, Method::GET, &path, Some(&user.token), None).await?;
        let count = value
            .get("chunk")
            .and_then(Value::as_array)
            .map(Vec::len)
            .ok_or_else(|| ClientError::Shape { what: WHAT, detail: "no chunk".to_owned() })?;
        let end = value.get("end").and_then(Value::as_str).map(str::to_owned);
        Ok((count, end))
    }
}

/// An error with its causes, e.g. "error sending request: connection refused".
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn field_str(what: &'static str, value: &Value, key: &str) -> Result<String, ClientError> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ClientError::Shape { what, detail: format!("missing `{key}`") })
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() * 3);
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Every `bench_seq` in the timeline of `room_id` in a sync answer.
pub fn timeline_seqs(body: &Value, room_id: &str) -> Vec<u64> {
    body.pointer("/rooms/join")
        .and_then(|joined| joined.get(room_id))
        .and_then(|room| room.pointer("/timeline/events"))
        .and_then(Value::as_array)
        .map(|events| {
            events
                .iter()
                .filter_map(|event| event.pointer("/content/bench_seq").and_then(Value::as_u64))
                .collect()
        })
        .unwrap_or_default()
}

/// How many rooms a sync answer lists as joined.
pub fn joined_rooms(body: &Value) -> usize {
    body.pointer("/rooms/join").and_then(Value::as_object).map_or(0, |rooms| rooms.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_room_ids_and_tokens() {
        assert_eq!(encode("!abc:localhost"), "%21abc%3Alocalhost");
        assert_eq!(encode("s1_2~x.y-z"), "s1_2~x.y-z");
    }

    #[test]
    fn finds_sequence_numbers_in_a_timeline() {
        let body = json!({ "rooms": { "join": { "!r:x": { "timeline": { "events": [
            { "content": { "bench_seq": 3 } }, { "content": { "body": "other" } }, { "content": { "bench_seq": 4 } }
        ] } } } } });
        assert_eq!(timeline_seqs(&body, "!r:x"), vec![3, 4]);
        assert!(timeline_seqs(&body, "!other:x").is_empty());
        assert_eq!(joined_rooms(&body), 1);
    }
}
