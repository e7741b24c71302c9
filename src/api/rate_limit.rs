//! Token-bucket rate limits keyed by IP or account, kept in memory per process.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use crate::config::Bucket;

/// Keys remembered at most; full buckets are forgotten first when it is reached.
const MAX_KEYS: usize = 100_000;

pub struct RateLimiter {
    bucket: Bucket,
    state: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(bucket: Bucket) -> Self {
        RateLimiter { bucket, state: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `key`; `Err(retry_after_ms)` when none is left.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let Bucket { per_second, burst } = self.bucket;
        if per_second <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let capacity = f64::from(burst);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.len() >= MAX_KEYS {
            state.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * per_second < capacity
            });
        }
        let (tokens, at) = state.entry(key.to_owned()).or_insert((capacity, now));
        let refilled = (*tokens + now.duration_since(*at).as_secs_f64() * per_second).min(capacity);
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            *at = now;
            Ok(())
        } else {
            let wait_secs = (1.0 - refilled) / per_second;
            Err((wait_secs * 1000.0).ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuse_then_separate_keys() {
        let limiter = RateLimiter::new(Bucket { per_second: 0.01, burst: 2 });
        assert!(limiter.check("a").is_ok());
        assert!(limiter.check("a").is_ok());
        let retry = limiter.check("a").unwrap_err();
        assert!(retry > 90_000 && retry <= 100_000, "{retry}");
        assert!(limiter.check("b").is_ok());
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let limiter = RateLimiter::new(Bucket { per_second: 0.0, burst: 0 });
        for _ in 0..100 {
            assert!(limiter.check("a").is_ok());
        }
    }
}
