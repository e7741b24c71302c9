//! HTTP helpers: one call per request shape, responses with their JSON, and the
//! account flows (register, login) most tests start with.

use reqwest::Method;
use serde_json::{Value, json};

use super::server::Server;

pub const V3: &str = "/_matrix/client/v3";

/// A response with its body decoded (JSON `Null` if the body was not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    /// Asserts 200 and returns the body.
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "expected 200, got {}: {}", self.status, self.text);
        &self.json
    }

    /// Asserts the status and a `{errcode, error}` body with this errcode.
    #[track_caller]
    pub fn err(&self, status: u16, errcode: &str) -> &Value {
        assert_eq!(self.status, status, "expected {status} {errcode}, got {}: {}", self.status, self.text);
        self.assert_error_body();
        assert_eq!(self.json["errcode"], errcode, "wrong errcode (status {}): {}", self.status, self.text);
        &self.json
    }

    /// Asserts the status is one of `allowed` (status, errcode) pairs.
    #[track_caller]
    pub fn err_one_of(&self, allowed: &[(u16, &str)]) {
        self.assert_error_body();
        let got = (self.status, self.json["errcode"].as_str().unwrap_or(""));
        assert!(allowed.contains(&got), "expected one of {allowed:?}, got {}: {}", self.status, self.text);
    }

    /// Asserts the body is a standard error: JSON object with string `errcode` and `error`.
    #[track_caller]
    pub fn assert_error_body(&self) {
        assert!(self.json.is_object(), "error body is not a JSON object: {:?}", self.text);
        assert!(self.json["errcode"].is_string(), "error body lacks errcode: {}", self.text);
        assert!(self.json["error"].is_string(), "error body lacks an `error` string: {}", self.text);
        let ct = self.header("content-type").unwrap_or_default();
        assert!(ct.starts_with("application/json"), "error content-type is {ct:?}: {}", self.text);
    }

    /// Asserts a user-interactive-auth 401 and returns its session id.
    #[track_caller]
    pub fn uia(&self) -> String {
        assert_eq!(self.status, 401, "expected a UIA 401, got {}: {}", self.status, self.text);
        assert!(self.json["flows"].is_array(), "401 without flows: {}", self.text);
        self.json["session"]
            .as_str()
            .unwrap_or_else(|| panic!("UIA 401 without session: {}", self.text))
            .to_owned()
    }

    /// Asserts a UIA 401 offering exactly one flow with exactly these stages.
    #[track_caller]
    pub fn uia_flow(&self, stages: &[&str]) -> String {
        let session = self.uia();
        let flows = self.json["flows"].as_array().expect("flows");
        let wanted: Vec<Value> = stages.iter().map(|s| json!(s)).collect();
        assert!(
            flows.iter().any(|f| f["stages"].as_array() == Some(&wanted)),
            "no flow {stages:?} in {}",
            self.text
        );
        session
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
}

/// What a successful register or login returns.
#[derive(Clone, Debug)]
pub struct Session {
    pub user_id: String,
    pub access_token: String,
    pub device_id: String,
    pub refresh_token: Option<String>,
}

impl Session {
    pub fn from_json(v: &Value) -> Session {
        let s = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("no {k} in {v}")).to_owned();
        Session {
            user_id: s("user_id"),
            access_token: s("access_token"),
            device_id: s("device_id"),
            refresh_token: v["refresh_token"].as_str().map(str::to_owned),
        }
    }

    pub fn token(&self) -> Option<&str> {
        Some(&self.access_token)
    }
}

/// Percent-encodes a path segment (user IDs, room IDs, types…).
pub fn enc(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// An `m.login.password` UIA stage for `user`.
pub fn password_auth(user: &str, password: &str, session: &str) -> Value {
    json!({
        "type": "m.login.password",
        "identifier": { "type": "m.id.user", "user": user },
        "password": password,
        "session": session,
    })
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends a request with raw bytes as body.
    pub async fn raw(&self, method: Method, path: &str, token: Option<&str>, body: Option<Vec<u8>>) -> Resp {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        finish(req).await
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let bytes = body.map(|b| serde_json::to_vec(b).expect("serialise body"));
        self.raw(method, path, token, bytes).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request(Method::POST, path, token, Some(&body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request(Method::PUT, path, token, Some(&body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        self.request(Method::DELETE, path, token, body.as_ref()).await
    }

    /// Starts a registration (no `auth`), expecting the UIA 401; returns the session.
    pub async fn register_session(&self, body: &Value) -> String {
        self.post(&format!("{V3}/register"), None, body.clone()).await.uia()
    }

    /// Registers `name` with the dummy stage; asserts success.
    pub async fn register(&self, name: &str, password: &str) -> Session {
        self.register_with(json!({ "username": name, "password": password })).await
    }

    /// Registers with extra request fields, completing `m.login.dummy`; asserts success.
    pub async fn register_with(&self, mut body: Value) -> Session {
        let resp = self.register_dummy(&mut body).await;
        Session::from_json(resp.ok())
    }

    /// Runs both steps of a dummy registration; returns the final response.
    pub async fn register_dummy(&self, body: &mut Value) -> Resp {
        let session = self.register_session(body).await;
        body["auth"] = json!({ "type": "m.login.dummy", "session": session });
        self.post(&format!("{V3}/register"), None, body.clone()).await
    }

    /// Logs `user` (localpart or full ID) in with a password; returns the raw response.
    pub async fn login_resp(&self, user: &str, password: &str) -> Resp {
        self.login_body(json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.user", "user": user },
            "password": password,
        }))
        .await
    }

    pub async fn login_body(&self, body: Value) -> Resp {
        self.post(&format!("{V3}/login"), None, body).await
    }

    /// Logs in and asserts success.
    pub async fn login(&self, user: &str, password: &str) -> Session {
        Session::from_json(self.login_resp(user, password).await.ok())
    }

    /// GET /account/whoami with this token.
    pub async fn whoami(&self, token: &str) -> Resp {
        self.get(&format!("{V3}/account/whoami"), Some(token)).await
    }

    /// Asserts the token authenticates.
    pub async fn assert_token_alive(&self, token: &str) {
        self.whoami(token).await.ok();
    }

    /// Asserts the token is refused with M_UNKNOWN_TOKEN.
    pub async fn assert_token_dead(&self, token: &str) {
        self.whoami(token).await.err(401, "M_UNKNOWN_TOKEN");
    }

    /// Whether `name` is still free according to GET /register/available.
    pub async fn username_available(&self, name: &str) -> bool {
        let resp = self.get(&format!("{V3}/register/available?username={}", enc(name)), None).await;
        match resp.status {
            200 => resp.json["available"] == json!(true),
            400 if resp.json["errcode"] == "M_USER_IN_USE" => false,
            _ => panic!("unexpected /register/available answer {}: {}", resp.status, resp.text),
        }
    }
}

async fn finish(req: reqwest::RequestBuilder) -> Resp {
    let resp = req.send().await.expect("request failed to complete");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp { status, headers, text, json }
}

/// Room helpers shared by the rooms, membership, events, history and sync tests.
impl Server {
    /// POST /createRoom; asserts success and returns the room ID.
    pub async fn create_room(&self, token: &str, body: Value) -> String {
        let resp = self.post(&format!("{V3}/createRoom"), Some(token), body).await;
        let room = resp.ok()["room_id"].as_str().unwrap_or_else(|| panic!("no room_id: {}", resp.text));
        assert!(room.starts_with('!'), "room ID {room:?} does not start with !");
        room.to_owned()
    }

    /// A room action by `token`: `join`, `leave`, `invite`, `kick`, `ban`, `unban`, `forget`.
    pub async fn room_action(&self, token: &str, room: &str, action: &str, body: Value) -> Resp {
        self.post(&format!("{V3}/rooms/{}/{action}", enc(room)), Some(token), body).await
    }

    /// Joins `room`, asserting success.
    pub async fn join(&self, token: &str, room: &str) {
        self.room_action(token, room, "join", json!({})).await.ok();
    }

    /// Invites `user` to `room`, asserting success.
    pub async fn invite(&self, token: &str, room: &str, user: &str) {
        self.room_action(token, room, "invite", json!({ "user_id": user })).await.ok();
    }

    /// Leaves `room`, asserting success.
    pub async fn leave(&self, token: &str, room: &str) {
        self.room_action(token, room, "leave", json!({})).await.ok();
    }

    /// PUT /send with an explicit transaction ID; returns the raw response.
    pub async fn send_event(&self, token: &str, room: &str, kind: &str, txn: &str, content: Value) -> Resp {
        let path = format!("{V3}/rooms/{}/send/{}/{}", enc(room), enc(kind), enc(txn));
        self.put(&path, Some(token), content).await
    }

    /// Sends an `m.room.message` text with a fresh transaction ID; returns its event ID.
    pub async fn send_text(&self, token: &str, room: &str, body: &str) -> String {
        let txn = format!("txn-{}", next_txn());
        let resp = self
            .send_event(token, room, "m.room.message", &txn, json!({ "msgtype": "m.text", "body": body }))
            .await;
        resp.ok()["event_id"].as_str().unwrap_or_else(|| panic!("no event_id: {}", resp.text)).to_owned()
    }

    /// Path of a state event (`key` may be empty).
    pub fn state_path(room: &str, kind: &str, key: &str) -> String {
        format!("{V3}/rooms/{}/state/{}/{}", enc(room), enc(kind), enc(key))
    }

    /// PUT a state event; returns the raw response.
    pub async fn put_state(&self, token: &str, room: &str, kind: &str, key: &str, content: Value) -> Resp {
        self.put(&Self::state_path(room, kind, key), Some(token), content).await
    }

    /// GET a state event's content; returns the raw response.
    pub async fn get_state(&self, token: &str, room: &str, kind: &str, key: &str) -> Resp {
        self.get(&Self::state_path(room, kind, key), Some(token)).await
    }

    /// GET /messages with a raw query string (e.g. `dir=b&limit=10`).
    pub async fn messages(&self, token: &str, room: &str, query: &str) -> Resp {
        self.get(&format!("{V3}/rooms/{}/messages?{query}", enc(room)), Some(token)).await
    }

    /// Every event of the room visible to `token`, oldest first, paging backwards.
    pub async fn all_messages(&self, token: &str, room: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut from: Option<String> = None;
        for _ in 0..1000 {
            let query = match &from {
                Some(f) => format!("dir=b&limit=100&from={}", enc(f)),
                None => "dir=b&limit=100".to_owned(),
            };
            let page = self.messages(token, room, &query).await;
            let body = page.ok();
            events.extend(body["chunk"].as_array().expect("chunk").iter().cloned());
            match body["end"].as_str() {
                Some(end) => from = Some(end.to_owned()),
                None => {
                    events.reverse();
                    return events;
                }
            }
        }
        panic!("pagination of {room} did not end");
    }

    /// GET /sync with an optional `since` and extra query (e.g. `timeout=1000`).
    pub async fn sync_resp(&self, token: &str, since: Option<&str>, extra: &str) -> Resp {
        let mut query = Vec::new();
        if let Some(since) = since {
            query.push(format!("since={}", enc(since)));
        }
        if !extra.is_empty() {
            query.push(extra.to_owned());
        }
        self.get(&format!("{V3}/sync?{}", query.join("&")), Some(token)).await
    }

    /// GET /sync, asserting success and a `next_batch`.
    pub async fn sync(&self, token: &str, since: Option<&str>, extra: &str) -> Value {
        let resp = self.sync_resp(token, since, extra).await;
        let body = resp.ok().clone();
        assert!(body["next_batch"].is_string(), "sync without next_batch: {}", resp.text);
        body
    }
}

/// Transaction IDs unique within the test binary.
pub fn next_txn() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Inline sync filter limiting each room's timeline to `limit` events (URL-encoded).
pub fn timeline_filter(limit: u32) -> String {
    format!("filter={}", enc(&json!({ "room": { "timeline": { "limit": limit } } }).to_string()))
}

/// The events of a sync section (`timeline`, `state`, `account_data`…) of one room.
pub fn room_events<'a>(sync: &'a Value, section: &str, room: &str, part: &str) -> Vec<&'a Value> {
    sync["rooms"][section][room][part]["events"].as_array().map(|a| a.iter().collect()).unwrap_or_default()
}

/// Text bodies of the `m.room.message` events among `events`, in order.
pub fn bodies<'a>(events: impl IntoIterator<Item = &'a Value>) -> Vec<String> {
    events
        .into_iter()
        .filter(|e| e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect()
}
