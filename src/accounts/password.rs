//! Password hashing with argon2id. Hashing is deliberately slow, so it runs on the
//! blocking pool, never on a runtime thread.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::AccountsError;
use crate::config::AuthConfig;

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// Hashes at once: one per core. Each holds `argon2_memory_kib` of memory, so a burst
    /// of logins or registrations queues here instead of multiplying memory.
    slots: std::sync::Arc<tokio::sync::Semaphore>,
}

impl PasswordHasher {
    pub fn new(config: &AuthConfig) -> Result<Self, argon2::Error> {
        let params =
            Params::new(config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism, None)?;
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(PasswordHasher { params, slots: std::sync::Arc::new(tokio::sync::Semaphore::new(cores)) })
    }

    /// A PHC string (`$argon2id$…`) with a fresh salt.
    pub async fn hash(&self, password: String) -> Result<String, AccountsError> {
        let params = self.params.clone();
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| AccountsError::Internal(format!("no randomness: {e}")))?;
        let _slot = self.slots.acquire().await.map_err(|e| AccountsError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::encode_b64(&salt).map_err(|e| AccountsError::Internal(e.to_string()))?;
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| AccountsError::Internal(format!("hashing failed: {e}")))
        })
        .await
        .map_err(|e| AccountsError::Internal(e.to_string()))?
    }

    /// Whether `password` matches `phc` (parameters are read from the hash itself, so
    /// hashes made under older settings keep working).
    pub async fn verify(&self, password: String, phc: String) -> Result<bool, AccountsError> {
        let _slot = self.slots.acquire().await.map_err(|e| AccountsError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let Ok(parsed) = PasswordHash::new(&phc) else {
                return false;
            };
            Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
        })
        .await
        .map_err(|e| AccountsError::Internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let config = AuthConfig { argon2_memory_kib: 1024, argon2_iterations: 1, ..AuthConfig::default() };
        let hasher = PasswordHasher::new(&config).unwrap();
        let a = hasher.hash("hunter2".to_owned()).await.unwrap();
        let b = hasher.hash("hunter2".to_owned()).await.unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "salts differ");
        assert!(hasher.verify("hunter2".to_owned(), a.clone()).await.unwrap());
        assert!(!hasher.verify("hunter3".to_owned(), a).await.unwrap());
        assert!(!hasher.verify("x".to_owned(), "not a hash".to_owned()).await.unwrap());
    }
}
