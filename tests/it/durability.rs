//! Crash safety and shutdown: acknowledged writes survive kill -9; SIGTERM exits 0.

use serde_json::json;

use crate::harness::{Backend, Server, V3, enc};

async fn acknowledged_writes_survive_kill_9(b: Backend) {
    let mut s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let path = format!("{V3}/user/{}/account_data/org.example.durable", enc(&alice.user_id));
    s.put(&path, alice.token(), json!({ "kept": true })).await.ok();
    let name = format!("{V3}/profile/{}/displayname", enc(&alice.user_id));
    s.put(&name, alice.token(), json!({ "displayname": "Durable Alice" })).await.ok();
    s.kill();
    s.start().await;
    s.login("alice", "pw").await;
    s.assert_token_alive(&alice.access_token).await;
    assert_eq!(s.get(&path, alice.token()).await.ok(), &json!({ "kept": true }));
    assert_eq!(s.get(&name, alice.token()).await.ok()["displayname"], json!("Durable Alice"));
    assert!(!s.username_available("alice").await);
}

async fn logout_survives_kill_9(b: Backend) {
    let mut s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    s.post(&format!("{V3}/logout"), alice.token(), json!({})).await.ok();
    s.kill();
    s.start().await;
    s.assert_token_dead(&alice.access_token).await;
}

async fn sigterm_exits_cleanly_and_data_persists(b: Backend) {
    let mut s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let status = s.terminate();
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM: {status}");
    s.start().await;
    s.assert_token_alive(&alice.access_token).await;
    let status = s.terminate();
    assert_eq!(status.code(), Some(0), "second SIGTERM exit: {status}");
}

async fn restart_many_times(b: Backend) {
    let mut s = Server::start_default(b).await;
    for i in 0..3 {
        s.register(&format!("user{i}"), "pw").await;
        s.kill();
        s.start().await;
    }
    for i in 0..3 {
        s.login(&format!("user{i}"), "pw").await;
    }
}

async fn concurrent_writes_survive_kill_9(b: Backend) {
    let mut s = Server::start_default(b).await;
    let names: Vec<String> = (0..12).map(|i| format!("burst{i}")).collect();
    let mut pending = Vec::new();
    for name in &names {
        pending.push(s.register(name, "pw"));
    }
    let sessions = futures_join_all(pending).await;
    s.kill();
    s.start().await;
    for (name, session) in names.iter().zip(&sessions) {
        s.login(name, "pw").await;
        s.assert_token_alive(&session.access_token).await;
    }
}

/// Runs futures concurrently on the current task (no extra dependency).
async fn futures_join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut outputs: Vec<Option<F::Output>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (slot, fut) in outputs.iter_mut().zip(set.iter_mut()) {
            if slot.is_none() {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("future finished")).collect()
}

/// Eight devices send without pause; the process is killed mid-stream. After restart
/// every send that was answered 200 is in the room's history once, and retrying its
/// transaction ID returns the same event.
async fn sends_acknowledged_before_kill_9_survive(b: Backend) {
    use std::sync::{Arc, Mutex};
    let mut s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    let room = s.create_room(&alice.access_token, json!({})).await;
    let base = s.url(&format!("{V3}/rooms/{}/send/m.room.message/", enc(&room)));
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().unwrap();
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut senders = Vec::new();
    for device in 0..8 {
        let (http, base, token, acked) =
            (http.clone(), base.clone(), alice.access_token.clone(), acked.clone());
        senders.push(tokio::spawn(async move {
            for i in 0.. {
                let txn = format!("d{device}-{i}");
                let body = json!({"msgtype": "m.text", "body": txn});
                let Ok(resp) = http.put(format!("{base}{txn}")).bearer_auth(&token).json(&body).send().await
                else {
                    return;
                };
                if resp.status() != 200 {
                    return;
                }
                let Ok(v) = resp.json::<serde_json::Value>().await else { return };
                let id = v["event_id"].as_str().unwrap().to_owned();
                acked.lock().unwrap().push((txn, id));
            }
        }));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while acked.lock().unwrap().len() < 150 {
        assert!(std::time::Instant::now() < deadline, "sends too slow to reach 150");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let pid = s.pid().expect("running").to_string();
    assert!(std::process::Command::new("kill").args(["-9", &pid]).status().unwrap().success());
    for sender in senders {
        sender.await.unwrap();
    }
    s.kill();
    s.start().await;
    let acked = acked.lock().unwrap().clone();
    let history = s.all_messages(&alice.access_token, &room).await;
    let ids: Vec<&str> = history.iter().filter_map(|e| e["event_id"].as_str()).collect();
    for (txn, id) in &acked {
        assert_eq!(ids.iter().filter(|x| *x == id).count(), 1, "acknowledged {txn} ({id}) lost or doubled");
    }
    for (txn, id) in acked.iter().step_by(25) {
        let again = s
            .send_event(
                &alice.access_token,
                &room,
                "m.room.message",
                txn,
                json!({"msgtype": "m.text", "body": txn}),
            )
            .await;
        assert_eq!(again.ok()["event_id"].as_str(), Some(id.as_str()), "retry of {txn} after restart");
    }
}

async fn sigterm_lets_in_flight_requests_finish(b: Backend) {
    // Expensive password hashing makes a login last long enough to be in flight when
    // SIGTERM arrives.
    let mut s = Server::builder(b)
        .set("auth.argon2_memory_kib", 32768)
        .set("auth.argon2_iterations", 40)
        .start()
        .await;
    let started = std::time::Instant::now();
    s.register("alice", "pw").await;
    let hash_time = started.elapsed();
    eprintln!("registration (two password hashes at most) took {hash_time:?}");
    let http = s.http.clone();
    let url = s.url(&format!("{V3}/login"));
    let body = json!({ "type": "m.login.password", "user": "alice", "password": "pw" });
    let login = tokio::spawn(async move {
        let resp = http.post(url).json(&body).send().await?;
        let status = resp.status().as_u16();
        resp.text().await.map(|text| (status, text))
    });
    // Let the request reach the server; it then spends about `hash_time` hashing.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let status = s.terminate();
    let outcome = login.await.expect("login task");
    let (code, text) = outcome.unwrap_or_else(|e| panic!("in-flight login was cut off by SIGTERM: {e}"));
    assert_eq!(code, 200, "in-flight login after SIGTERM: {text} (hashing takes {hash_time:?})");
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM: {status}");
}

crate::per_backend!(
    sigterm_lets_in_flight_requests_finish,
    concurrent_writes_survive_kill_9,
    sends_acknowledged_before_kill_9_survive,
    acknowledged_writes_survive_kill_9,
    logout_survives_kill_9,
    sigterm_exits_cleanly_and_data_persists,
    restart_many_times,
);
