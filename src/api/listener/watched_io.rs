//! A connection's socket as hyper sees it: notes when a request head starts to
//! arrive (for the header-read timer), and answers a request line hyper would refuse
//! with an empty body (too long, bytes no URI holds) with a Matrix JSON error itself.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::registry::Slot;
use crate::api::error::ApiError;

/// The longest request line (method, target, version) accepted. hyper refuses targets
/// over 65,534 bytes with an empty 414; every line holding one is longer than this.
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

/// How much of a refused request is read and dropped after the answer, so that the
/// close does not reset the connection before the client has read it.
const DRAIN_LIMIT: usize = 1024 * 1024;

/// The socket, watched while no request is in flight.
pub struct WatchedIo {
    stream: TcpStream,
    slot: Arc<Slot>,
    line: RequestLine,
    was_busy: bool,
    refusal: Option<Refusal>,
}

impl WatchedIo {
    /// Watches `stream` on behalf of the connection's `slot`.
    pub fn new(stream: TcpStream, slot: Arc<Slot>) -> Self {
        WatchedIo { stream, slot, line: RequestLine::default(), was_busy: false, refusal: None }
    }
}

/// Scans the request line of the head being read, without buffering any of it.
#[derive(Default)]
struct RequestLine {
    len: usize,
    done: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum LineProblem {
    TooLong,
    BadByte,
}

impl RequestLine {
    fn scan(&mut self, bytes: &[u8]) -> Option<LineProblem> {
        if self.done {
            return None;
        }
        for &byte in bytes {
            match byte {
                // Empty lines before a request are skipped (as hyper does).
                b'\r' | b'\n' if self.len == 0 => {}
                b'\n' => {
                    self.done = true;
                    return None;
                }
                b'\r' => {}
                _ if !(0x20..0x7f).contains(&byte) => {
                    return Some(LineProblem::BadByte);
                }
                _ => {
                    self.len += 1;
                    if self.len > MAX_REQUEST_LINE {
                        return Some(LineProblem::TooLong);
                    }
                }
            }
        }
        None
    }
}

/// The answer to a refused request line, then the drain before the close.
struct Refusal {
    answer: Vec<u8>,
    written: usize,
    shut: bool,
    drained: usize,
}

impl Refusal {
    fn new(problem: &LineProblem) -> Self {
        let error = match problem {
            LineProblem::TooLong => ApiError::uri_too_long(MAX_REQUEST_LINE),
            LineProblem::BadByte => ApiError::unreadable_request_line(),
        };
        let body = error.body_json();
        let status = error.status();
        let answer = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             access-control-allow-origin: *\r\nconnection: close\r\n\r\n{body}",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len(),
        );
        Refusal { answer: answer.into_bytes(), written: 0, shut: false, drained: 0 }
    }

    /// Writes the answer, half-closes, and drains the rest of the request; then
    /// reports end of input, so hyper closes the connection without answering.
    fn poll(&mut self, stream: &mut TcpStream, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(rest) = self.answer.get(self.written..).filter(|rest| !rest.is_empty()) {
            let n = ready!(Pin::new(&mut *stream).poll_write(cx, rest))?;
            if n == 0 {
                return Poll::Ready(Ok(()));
            }
            self.written += n;
        }
        if !self.shut {
            ready!(Pin::new(&mut *stream).poll_shutdown(cx))?;
            self.shut = true;
        }
        let mut scratch = [0u8; 8192];
        while self.drained < DRAIN_LIMIT {
            let mut buf = ReadBuf::new(&mut scratch);
            ready!(Pin::new(&mut *stream).poll_read(cx, &mut buf))?;
            if buf.filled().is_empty() {
                break;
            }
            self.drained += buf.filled().len();
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for WatchedIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(refusal) = this.refusal.as_mut() {
            return refusal.poll(&mut this.stream, cx);
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
        if buf.filled().len() == before {
            return Poll::Ready(Ok(()));
        }
        if !this.slot.is_idle() {
            this.was_busy = true;
            return Poll::Ready(Ok(()));
        }
        if this.was_busy {
            // The previous request is done: these bytes begin the next head.
            this.was_busy = false;
            this.line = RequestLine::default();
        }
        this.slot.note_head_bytes();
        let fresh = buf.filled().get(before..).unwrap_or_default();
        let Some(problem) = this.line.scan(fresh) else {
            return Poll::Ready(Ok(()));
        };
        tracing::debug!(?problem, "refusing a request line");
        // hyper never sees the offending bytes, only the end of input after the answer.
        buf.set_filled(before);
        let refusal = this.refusal.insert(Refusal::new(&problem));
        refusal.poll(&mut this.stream, cx)
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.refusal.is_some() {
            // Whatever hyper answers to the cut-off head is dropped: ours went first.
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.refusal.is_some() {
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refusal.is_some() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refusal.is_some() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_judged_across_reads_and_only_until_its_end() {
        let mut line = RequestLine::default();
        assert_eq!(line.scan(b"\r\nGET /_matrix/client/v"), None);
        assert_eq!(line.scan(b"ersions HTTP/1.1\r\nX-Name: caf\xc3\xa9\r\n"), None, "headers are hyper's");
        let mut line = RequestLine::default();
        assert_eq!(line.scan(b"GET /profile/\xff HTTP/1.1\r\n"), Some(LineProblem::BadByte));
        let mut line = RequestLine::default();
        assert_eq!(line.scan(b"GET /\x00 HTTP/1.1\r\n"), Some(LineProblem::BadByte));
    }

    #[test]
    fn a_line_over_the_limit_is_too_long() {
        let mut line = RequestLine::default();
        assert_eq!(line.scan(b"GET /"), None);
        let path = vec![b'a'; MAX_REQUEST_LINE - 5];
        assert_eq!(line.scan(&path), None);
        assert_eq!(line.scan(b"a"), Some(LineProblem::TooLong));
    }

    #[test]
    fn a_refusal_is_a_complete_json_answer() {
        let refusal = Refusal::new(&LineProblem::TooLong);
        let text = String::from_utf8(refusal.answer).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["errcode"], "M_TOO_LARGE");
    }
}
