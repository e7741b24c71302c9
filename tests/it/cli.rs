//! The `stoa user …` admin commands, run against the server's config.

use std::process::Output;

use serde_json::json;

use crate::harness::{Backend, Server, V3};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn assert_success(o: &Output) {
    assert!(o.status.success(), "cli failed ({}):\nstdout: {}\nstderr: {}", o.status, stdout(o), stderr(o));
}

#[track_caller]
fn assert_failure(o: &Output) {
    assert!(!o.status.success(), "cli unexpectedly succeeded:\nstdout: {}", stdout(o));
    assert!(!stderr(o).trim().is_empty(), "a failing cli command must say why on stderr");
}

/// `user list` parsed into (user_id, role, state) lines.
fn list(s: &Server) -> Vec<(String, String, String)> {
    let o = s.cli(&["user", "list"], None);
    assert_success(&o);
    stdout(&o)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let parts: Vec<&str> = l.split('\t').collect();
            assert_eq!(parts.len(), 3, "bad `user list` line {l:?}");
            (parts[0].to_owned(), parts[1].to_owned(), parts[2].to_owned())
        })
        .collect()
}

fn row(user: &str, role: &str, state: &str) -> (String, String, String) {
    (user.to_owned(), role.to_owned(), state.to_owned())
}

async fn create_users_and_list_them(b: Backend) {
    let mut s = Server::builder(b).build().await;
    let pw = s.write_file("admin.pw", "admin-secret\n");
    let o =
        s.cli(&["user", "create", "root", "--admin", "--password-file", pw.to_str().expect("path")], None);
    assert_success(&o);
    assert_eq!(stdout(&o).trim(), "@root:localhost");
    // Password from stdin, --config before the subcommand.
    let o = s.cli_config_first(&["user", "create", "carol"], Some("carol-secret\n"));
    assert_success(&o);
    assert_eq!(stdout(&o).trim(), "@carol:localhost");
    let users = list(&s);
    assert!(users.contains(&row("@root:localhost", "admin", "active")), "{users:?}");
    assert!(users.contains(&row("@carol:localhost", "user", "active")), "{users:?}");
    assert_eq!(users.len(), 2, "{users:?}");
    s.start().await;
    s.login("root", "admin-secret").await;
    s.login("carol", "carol-secret").await;
    s.login_resp("root", "admin-secret\n").await.err(403, "M_FORBIDDEN");
    s.post(&format!("{V3}/register"), None, json!({ "username": "carol", "password": "x" }))
        .await
        .err(400, "M_USER_IN_USE");
}

async fn duplicate_and_invalid_names_fail(b: Backend) {
    let s = Server::builder(b).build().await;
    let pw = s.write_file("pw", "secret\n");
    let pw = pw.to_str().expect("path");
    assert_success(&s.cli(&["user", "create", "dave", "--password-file", pw], None));
    assert_failure(&s.cli(&["user", "create", "dave", "--password-file", pw], None));
    assert_failure(&s.cli(&["user", "create", "Not Valid", "--password-file", pw], None));
    assert_failure(&s.cli(&["user", "create", &"x".repeat(250), "--password-file", pw], None));
    let users = list(&s);
    assert_eq!(users, vec![row("@dave:localhost", "user", "active")]);
}

async fn list_shows_registered_and_deactivated_users(b: Backend) {
    let mut s = Server::start_default(b).await;
    let alice = s.register("alice", "pw").await;
    s.register("bob", "pw").await;
    let path = format!("{V3}/account/deactivate");
    let session = s.post(&path, alice.token(), json!({})).await.uia();
    let auth = crate::harness::password_auth("alice", "pw", &session);
    s.post(&path, alice.token(), json!({ "auth": auth })).await.ok();
    s.stop();
    let users = list(&s);
    assert!(users.contains(&row("@alice:localhost", "user", "deactivated")), "{users:?}");
    assert!(users.contains(&row("@bob:localhost", "user", "active")), "{users:?}");
}

async fn reset_password_logs_out_everywhere(b: Backend) {
    let mut s = Server::start_default(b).await;
    let alice = s.register("alice", "old-pw").await;
    let phone = s.login("alice", "old-pw").await;
    s.stop();
    let pw = s.write_file("new.pw", "new-pw\n");
    let o = s.cli(&["user", "reset-password", "alice", "--password-file", pw.to_str().expect("path")], None);
    assert_success(&o);
    assert_failure(
        &s.cli(&["user", "reset-password", "nobody", "--password-file", pw.to_str().expect("path")], None),
    );
    s.start().await;
    s.assert_token_dead(&alice.access_token).await;
    s.assert_token_dead(&phone.access_token).await;
    s.login_resp("alice", "old-pw").await.err(403, "M_FORBIDDEN");
    s.login("alice", "new-pw").await;
}

async fn reset_password_from_stdin(b: Backend) {
    let mut s = Server::start_default(b).await;
    s.register("alice", "old-pw").await;
    s.stop();
    assert_success(&s.cli(&["user", "reset-password", "alice"], Some("typed-pw\n")));
    s.start().await;
    s.login("alice", "typed-pw").await;
}

async fn postgres_cli_works_while_running(b: Backend) {
    if b.is_embedded() {
        return; // The embedded store belongs to the running process alone.
    }
    let s = Server::start_default(b).await;
    assert_success(&s.cli(&["user", "create", "erin"], Some("erin-pw\n")));
    s.login("erin", "erin-pw").await;
    let token = s.login("erin", "erin-pw").await;
    assert_success(&s.cli(&["user", "reset-password", "erin"], Some("erin-new\n")));
    s.assert_token_dead(&token.access_token).await;
    s.login("erin", "erin-new").await;
}

async fn embedded_store_is_not_shared_with_a_running_server(b: Backend) {
    if !b.is_embedded() {
        return; // PostgreSQL is meant to be shared.
    }
    let s = Server::start_default(b).await;
    s.register("alice", "pw").await;
    let o = s.cli(&["user", "create", "mallory"], Some("pw\n"));
    assert_failure(&o);
    // The running server is unharmed and mallory does not exist.
    s.login("alice", "pw").await;
    assert!(s.username_available("mallory").await);
}

crate::per_backend!(
    embedded_store_is_not_shared_with_a_running_server,
    create_users_and_list_them,
    duplicate_and_invalid_names_fail,
    list_shows_registered_and_deactivated_users,
    reset_password_logs_out_everywhere,
    reset_password_from_stdin,
    postgres_cli_works_while_running,
);
