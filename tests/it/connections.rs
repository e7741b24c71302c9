//! The client listener under slow, stalled and greedy clients: header-read and idle
//! timers close what hangs, the connection caps shed the oldest idle connection, and
//! a long-poll in flight is never cut by any of it.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Backend, RawConn, Server, V3};

/// A request head that never ends.
const STALLED_HEAD: &[u8] = b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\nX-a: ";
const VERSIONS: &[u8] = b"GET /_matrix/client/versions HTTP/1.1\r\nHost: x\r\n\r\n";

async fn stalled_heads_are_closed_and_others_still_served(b: Backend) {
    let s = Server::builder(b)
        .set("http.header_read_timeout_secs", 1)
        .set("http.max_connections", 64)
        .start()
        .await;
    let mut stalled = Vec::new();
    for _ in 0..300 {
        let mut conn = RawConn::connect(&s).await;
        conn.send(STALLED_HEAD).await;
        stalled.push(conn);
    }
    // A normal client is answered while the stalled ones hold (or held) their places.
    let mut normal = RawConn::connect(&s).await;
    normal.send(VERSIONS).await;
    let answer = normal.response(Duration::from_secs(5)).await.expect("a normal client is answered");
    assert_eq!(answer.status, 200, "{}", answer.head);
    // Every stalled connection is closed: shed for newer ones, or by the header timer.
    for (i, conn) in stalled.iter_mut().enumerate() {
        assert!(conn.closed_within(Duration::from_secs(10)).await, "stalled connection {i} is still open");
    }
    s.get("/_matrix/client/versions", None).await.ok();
}

async fn stalled_heads_cannot_starve_a_server_with_256_descriptors(b: Backend) {
    // The reproduction: at a limit of 256, 300 stalled heads used to leave no
    // descriptor for anyone. The default connection cap fits itself below the limit.
    let s = Server::builder(b).fd_limit(256).set("http.header_read_timeout_secs", 1).start().await;
    let mut stalled = Vec::new();
    for _ in 0..300 {
        let mut conn = RawConn::connect(&s).await;
        conn.send(STALLED_HEAD).await;
        stalled.push(conn);
    }
    for round in 0..3 {
        let mut normal = RawConn::connect(&s).await;
        normal.send(VERSIONS).await;
        let answer = normal.response(Duration::from_secs(5)).await;
        assert_eq!(answer.map(|a| a.status), Some(200), "round {round}: a normal client was starved");
    }
    for (i, conn) in stalled.iter_mut().enumerate() {
        assert!(conn.closed_within(Duration::from_secs(10)).await, "stalled connection {i} is still open");
    }
    assert!(s.log().contains("open file limit limit=256"), "the limit is not logged");
}

async fn stalled_and_idle_connections_do_not_hold_up_shutdown(b: Backend) {
    // Timers far longer than the bound below: only the shutdown can close these.
    let mut s = Server::builder(b)
        .set("http.header_read_timeout_secs", 60)
        .set("http.keepalive_idle_secs", 60)
        .start()
        .await;
    let mut open = Vec::new();
    for n in 0..20 {
        let mut conn = RawConn::connect(&s).await;
        if n % 2 == 0 {
            conn.send(STALLED_HEAD).await;
        }
        open.push(conn);
    }
    let mut kept_alive = RawConn::connect(&s).await;
    kept_alive.send(VERSIONS).await;
    assert_eq!(kept_alive.response(Duration::from_secs(5)).await.expect("answer").status, 200);
    let started = Instant::now();
    let status = s.terminate();
    assert!(status.success(), "stoa exited with {status}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "shutdown took {took:?} (grace is 30 s)");
    for conn in &mut open {
        assert!(conn.closed_within(Duration::from_secs(1)).await, "a connection outlived the server");
    }
}

async fn an_idle_connection_is_closed_after_the_idle_timeout(b: Backend) {
    let s = Server::builder(b)
        .set("http.keepalive_idle_secs", 1)
        .set("http.header_read_timeout_secs", 30)
        .start()
        .await;
    // Kept alive after a request…
    let mut used = RawConn::connect(&s).await;
    used.send(VERSIONS).await;
    let answer = used.response(Duration::from_secs(5)).await.expect("answer");
    assert_eq!(answer.status, 200);
    let idle_from = Instant::now();
    // …and one that never sent anything.
    let mut silent = RawConn::connect(&s).await;
    assert!(used.closed_within(Duration::from_secs(10)).await, "the kept-alive connection stays open");
    assert!(silent.closed_within(Duration::from_secs(10)).await, "the silent connection stays open");
    let waited = idle_from.elapsed();
    assert!(waited >= Duration::from_millis(900), "closed after {waited:?}, before the idle timeout");
}

async fn a_long_poll_outlives_the_header_and_idle_timers(b: Backend) {
    let s = Server::builder(b)
        .set("http.keepalive_idle_secs", 1)
        .set("http.header_read_timeout_secs", 1)
        .start()
        .await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.access_token, json!({})).await;
    let first = s.sync(&alice.access_token, None, "").await;
    let since = first["next_batch"].as_str().expect("next_batch").to_owned();
    let poll = {
        let http = s.http.clone();
        let url = s.url(&format!("{V3}/sync?since={since}&timeout=20000"));
        let token = alice.access_token.clone();
        tokio::spawn(async move { http.get(url).bearer_auth(token).send().await })
    };
    // Let the parked long-poll outlast both timers (1 s each) before anything happens.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!poll.is_finished(), "the long-poll ended before anything was sent");
    let sent_at = Instant::now();
    let event_id = s.send_text(&alice.access_token, &room, "still there?").await;
    let resp = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("long-poll answered")
        .expect("task")
        .expect("the long-poll connection was not cut");
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    let events = body["rooms"]["join"][&room]["timeline"]["events"].as_array().cloned().unwrap_or_default();
    assert!(events.iter().any(|e| e["event_id"] == event_id.as_str()), "not delivered: {body}");
    assert!(sent_at.elapsed() < Duration::from_secs(5), "delivered only after {:?}", sent_at.elapsed());
}

/// The raw connections below come from 127.0.0.2, so that the harness's own pooled
/// connections (from 127.0.0.1) do not count against the per-address cap.
const CLIENT_IP: [u8; 4] = [127, 0, 0, 2];

async fn the_per_address_cap_sheds_the_oldest_idle_connection(b: Backend) {
    let s = Server::builder(b).set("http.max_connections_per_ip", 3).start().await;
    let alice = s.register("alice", "pw").await;
    // Each connection's answer shows the server admitted it; the idle order is then
    // middle, newest, oldest (whose second request made it the most recently idle).
    let mut conns = Vec::new();
    for _ in 0..3 {
        let mut conn = RawConn::connect_from(&s, CLIENT_IP).await;
        conn.send(VERSIONS).await;
        assert_eq!(conn.response(Duration::from_secs(5)).await.expect("answer").status, 200);
        conns.push(conn);
    }
    let (mut oldest, mut middle, mut newest) = {
        let mut it = conns.into_iter();
        (it.next().expect("1"), it.next().expect("2"), it.next().expect("3"))
    };
    oldest.send(VERSIONS).await;
    assert_eq!(oldest.response(Duration::from_secs(5)).await.expect("answer").status, 200);
    let fourth = RawConn::connect_from(&s, CLIENT_IP).await;
    assert!(middle.closed_within(Duration::from_secs(5)).await, "the longest idle connection was not shed");
    assert!(!newest.closed_within(Duration::from_millis(300)).await, "a younger idle connection was shed");
    oldest.send(VERSIONS).await;
    assert_eq!(oldest.response(Duration::from_secs(5)).await.expect("still served").status, 200);

    // With every connection of the address busy in a long-poll, a newcomer is refused
    // and none of the long-polls is cut. One device per connection shows (by its
    // last-seen address) when the server has taken up each long-poll.
    let mut logins = Vec::new();
    for _ in 0..3 {
        logins.push(s.login("alice", "pw").await);
    }
    // Taken after the logins, so that their device-list changes do not end the polls.
    let since = s.sync(&alice.access_token, None, "").await["next_batch"].as_str().expect("batch").to_owned();
    let mut busy = vec![oldest, newest, fourth];
    let mut devices = Vec::new();
    for (conn, device) in busy.iter_mut().zip(logins) {
        let long_poll = format!(
            "GET {V3}/sync?since={since}&timeout=6000 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
            device.access_token
        );
        conn.send(long_poll.as_bytes()).await;
        devices.push(device.device_id);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let listed = s.get(&format!("{V3}/devices"), Some(&alice.access_token)).await;
        let parked = listed.ok()["devices"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|d| d["last_seen_ip"] == "127.0.0.2")
                    .filter(|d| devices.iter().any(|id| d["device_id"] == id.as_str()))
                    .count()
            })
            .unwrap_or(0);
        if parked == devices.len() {
            break;
        }
        assert!(Instant::now() < deadline, "the long-polls were not taken up: {}", listed.text);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut newcomer = RawConn::connect_from(&s, CLIENT_IP).await;
    newcomer.send(VERSIONS).await;
    assert!(newcomer.response(Duration::from_secs(2)).await.is_none(), "a fourth connection was served");
    for conn in &mut busy {
        let answer = conn.response(Duration::from_secs(15)).await.expect("a long-poll was cut");
        assert_eq!(answer.status, 200, "{}", answer.head);
    }
}

crate::per_backend!(
    stalled_heads_are_closed_and_others_still_served,
    stalled_heads_cannot_starve_a_server_with_256_descriptors,
    stalled_and_idle_connections_do_not_hold_up_shutdown,
    an_idle_connection_is_closed_after_the_idle_timeout,
    a_long_poll_outlives_the_header_and_idle_timers,
    the_per_address_cap_sheds_the_oldest_idle_connection,
);
