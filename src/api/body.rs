//! Reading request bodies, after authentication: the size limit (by `Content-Length`
//! before any byte is read, then while reading), the cap on large bodies read at
//! once, and the deadline for the whole body. Bodies are read whole into memory:
//! no endpoint takes big uploads yet; media will stream its bodies instead.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio::sync::Semaphore;

use super::error::ApiError;
use crate::config::HttpConfig;

/// Bodies above this size (or of unknown size) need one of the large-body permits.
pub const LARGE_BODY_BYTES: u64 = 64 * 1024;

/// How long a large body waits for a permit before the request is refused with 429.
const LARGE_BODY_WAIT: Duration = Duration::from_secs(1);

/// What a refused large body is told to wait before trying again.
const LARGE_BODY_RETRY_MS: u64 = 1000;

/// The body limits of `[http]`.
pub struct BodyLimits {
    max_bytes: usize,
    large_bodies: Semaphore,
    read_timeout: Duration,
}

impl BodyLimits {
    /// The limits configured in `[http]`.
    pub fn new(http: &HttpConfig) -> Self {
        BodyLimits {
            max_bytes: http.max_body_bytes,
            large_bodies: Semaphore::new(http.max_concurrent_large_bodies.max(1)),
            read_timeout: Duration::from_secs(http.body_read_timeout_secs.max(1)),
        }
    }

    /// Refuses a body whose declared length is over the limit, before reading it.
    /// A missing length (chunked, or no body) passes: reading enforces the limit.
    pub fn check_declared(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        match declared_length(headers) {
            Some(length) if length > self.max_bytes as u64 => Err(ApiError::too_large(self.max_bytes)),
            _ => Ok(()),
        }
    }

    /// Reads the whole body within the size limit and the read deadline; a large
    /// body first takes a permit, so only so many are in memory at once.
    pub async fn read(&self, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
        let declared = declared_length(headers);
        if declared == Some(0) {
            return Ok(Bytes::new());
        }
        let _permit = if declared.is_none_or(|length| length > LARGE_BODY_BYTES) {
            match tokio::time::timeout(LARGE_BODY_WAIT, self.large_bodies.acquire()).await {
                Ok(Ok(permit)) => Some(permit),
                // The semaphore is never closed; a closed one admits no large body.
                Ok(Err(_)) | Err(_) => {
                    tracing::info!("too many large bodies being read; refusing one");
                    return Err(ApiError::limit_exceeded(LARGE_BODY_RETRY_MS));
                }
            }
        } else {
            None
        };
        let collect = Limited::new(body, self.max_bytes).collect();
        match tokio::time::timeout(self.read_timeout, collect).await {
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
                Err(ApiError::too_large(self.max_bytes))
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "reading a request body failed");
                Err(ApiError::body_unreadable())
            }
            Err(_) => {
                tracing::info!(timeout = ?self.read_timeout, "a request body did not arrive in time");
                Err(ApiError::body_timeout())
            }
        }
    }
}

/// The `Content-Length` the client declared, if it is a number.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_bytes: usize, large: usize) -> BodyLimits {
        let http = HttpConfig {
            max_body_bytes: max_bytes,
            max_concurrent_large_bodies: large,
            body_read_timeout_secs: 1,
            ..HttpConfig::default()
        };
        BodyLimits::new(&http)
    }

    fn length(n: u64) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_LENGTH, n.into());
        headers
    }

    #[test]
    fn a_declared_length_over_the_limit_is_refused_unread() {
        let limits = limits(1024, 1);
        assert_eq!(limits.check_declared(&length(1025)).unwrap_err().status(), 413);
        limits.check_declared(&length(1024)).unwrap();
        limits.check_declared(&HeaderMap::new()).unwrap();
    }

    #[tokio::test]
    async fn a_body_longer_than_declared_limit_is_cut_while_reading() {
        let limits = limits(1024, 1);
        let error = limits.read(&HeaderMap::new(), Body::from(vec![b'x'; 2000])).await.unwrap_err();
        assert_eq!(error.status(), 413);
        let read = limits.read(&length(3), Body::from("abc")).await.unwrap();
        assert_eq!(read.as_ref(), b"abc");
    }

    #[tokio::test]
    async fn large_bodies_over_the_cap_wait_then_get_429() {
        let limits = limits(1 << 20, 1);
        let held = limits.large_bodies.acquire().await.unwrap();
        let big = length(LARGE_BODY_BYTES + 1);
        let error = limits.read(&big, Body::from(vec![b'x'; 70_000])).await.unwrap_err();
        assert_eq!(error.status(), 429);
        // Small bodies need no permit.
        limits.read(&length(2), Body::from("{}")).await.unwrap();
        drop(held);
        limits.read(&big, Body::from(vec![b'x'; 65_537])).await.unwrap();
    }

    #[tokio::test]
    async fn a_trickling_body_is_cut_at_the_deadline() {
        let limits = limits(1024, 1);
        let body = Body::from_stream(futures_util::stream::pending::<Result<Bytes, std::io::Error>>());
        let error = limits.read(&length(10), body).await.unwrap_err();
        assert_eq!(error.status(), 408);
    }
}
