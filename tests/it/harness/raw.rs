//! Raw TCP connections to a test server, for what an HTTP client library will not
//! do: stall mid-head, send headers without their body, send bytes no URI holds.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::server::Server;

/// One raw connection, with what was read from it so far.
pub struct RawConn {
    stream: TcpStream,
    buffered: Vec<u8>,
}

/// A response read off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub json: Value,
}

impl RawResponse {
    /// Asserts the status and a Matrix JSON error with this errcode.
    #[track_caller]
    pub fn err(&self, status: u16, errcode: &str) {
        assert_eq!(self.status, status, "expected {status} {errcode}: {}\n{}", self.head, self.json);
        assert!(
            self.head.to_ascii_lowercase().contains("content-type: application/json"),
            "not a JSON answer: {}",
            self.head
        );
        assert_eq!(self.json["errcode"], errcode, "{}", self.json);
        assert!(self.json["error"].is_string(), "no error text: {}", self.json);
    }
}

impl RawConn {
    /// Connects to the server's client listener.
    pub async fn connect(server: &Server) -> RawConn {
        let addr = server.base.trim_start_matches("http://");
        let stream = TcpStream::connect(addr).await.expect("connect");
        RawConn { stream, buffered: Vec::new() }
    }

    /// Connects from the loopback address `source` (any of 127.0.0.0/8), so that a
    /// test's connections can be told apart from the harness's own by address.
    pub async fn connect_from(server: &Server, source: [u8; 4]) -> RawConn {
        let addr: std::net::SocketAddr =
            server.base.trim_start_matches("http://").parse().expect("server address");
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind(std::net::SocketAddr::from((source, 0))).expect("bind the source address");
        let stream = socket.connect(addr).await.expect("connect");
        RawConn { stream, buffered: Vec::new() }
    }

    /// Writes bytes as they are.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads one response (head and `Content-Length` body) within `limit`; `None` if
    /// the connection closed or nothing complete came in time.
    pub async fn response(&mut self, limit: Duration) -> Option<RawResponse> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(response) = self.parse_buffered() {
                return Some(response);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            let mut chunk = [0u8; 16384];
            match tokio::time::timeout(left, self.stream.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => self.buffered.extend_from_slice(&chunk[..n]),
                _ => return None,
            }
        }
    }

    fn parse_buffered(&mut self) -> Option<RawResponse> {
        let end = self.buffered.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&self.buffered[..end]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.trim().eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        let body_start = end + 4;
        if self.buffered.len() < body_start + length {
            return None;
        }
        let body: Vec<u8> = self.buffered.drain(..body_start + length).skip(body_start).collect();
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Some(RawResponse { status, head, json })
    }

    /// Whether the server closed the connection (end of input or reset) within
    /// `limit`; any bytes that arrive meanwhile are kept.
    pub async fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { return false };
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout(left, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(n)) => self.buffered.extend_from_slice(&chunk[..n]),
                Err(_) => return false,
            }
        }
    }
}
