//! Secrets handed to clients: access and refresh tokens, device IDs, session IDs.
//! Tokens carry 256 random bits; only their SHA-256 is stored.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AccountsError;
use crate::storage::TokenHash;

/// A new access token (`stoa_at_…`).
pub fn new_access_token() -> Result<String, AccountsError> {
    Ok(format!("stoa_at_{}", random_b64(32)?))
}

/// A new refresh token (`stoa_rt_…`).
pub fn new_refresh_token() -> Result<String, AccountsError> {
    Ok(format!("stoa_rt_{}", random_b64(32)?))
}

pub fn hash_token(token: &str) -> TokenHash {
    TokenHash(Sha256::digest(token.as_bytes()).into())
}

/// Constant-time equality, so a lookup hit can be confirmed without a timing leak.
pub fn hashes_match(a: &TokenHash, b: &TokenHash) -> bool {
    a.0.ct_eq(&b.0).into()
}

/// Uppercase letters, as device IDs traditionally look.
pub fn new_device_id() -> Result<String, AccountsError> {
    Ok(random_string(10)?.to_ascii_uppercase())
}

/// `len` random characters from `[A-Za-z]`.
pub fn random_string(len: usize) -> Result<String, AccountsError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut bytes = vec![0u8; len];
    fill_random(&mut bytes)?;
    Ok(bytes.iter().map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect())
}

/// `bytes` random bytes, URL-safe base64 without padding.
pub fn random_b64(bytes: usize) -> Result<String, AccountsError> {
    let mut buf = vec![0u8; bytes];
    fill_random(&mut buf)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

fn fill_random(buf: &mut [u8]) -> Result<(), AccountsError> {
    getrandom::fill(buf).map_err(|e| AccountsError::Internal(format!("no randomness: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = new_access_token().unwrap();
        let b = new_access_token().unwrap();
        assert_ne!(a, b);
        assert!(a.len() >= 8 + 43, "256 bits of base64 is 43 characters");
        assert!(hashes_match(&hash_token(&a), &hash_token(&a)));
        assert!(!hashes_match(&hash_token(&a), &hash_token(&b)));
    }
}
