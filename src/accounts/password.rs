//! Password hashing with argon2id. Hashing is deliberately slow, so it runs on the
//! blocking pool, never on a runtime thread.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::{Algorithm, Argon2, Params, Version};

use super::AccountsError;
use crate::config::AuthConfig;

/// Hashes and verifies passwords; cheap to clone (the clones share slots and counters).
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// Hashes at once: one per core. Each holds `argon2_memory_kib` of memory, so a burst
    /// of logins or registrations queues here instead of multiplying memory.
    slots: Arc<tokio::sync::Semaphore>,
    /// The hash of a random password under the configured parameters, made on first
    /// need: logins of unknown users verify against it, so they take as long as a wrong
    /// password and the answer time does not tell which users exist.
    dummy: Arc<tokio::sync::OnceCell<String>>,
    /// Verifications run so far, real or dummy.
    verifications: Arc<AtomicU64>,
}

impl PasswordHasher {
    pub fn new(config: &AuthConfig) -> Result<Self, argon2::Error> {
        let params =
            Params::new(config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism, None)?;
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Ok(PasswordHasher {
            params,
            slots: Arc::new(tokio::sync::Semaphore::new(cores)),
            dummy: Arc::default(),
            verifications: Arc::default(),
        })
    }

    /// How many verifications ran (the proof that a path without a stored hash still
    /// pays for one).
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Verifies `password` against the dummy hash and forgets the outcome: the work a
    /// login does for a user without a password hash, so it costs what a real one costs.
    pub async fn verify_dummy(&self, password: String) -> Result<(), AccountsError> {
        let phc = self
            .dummy
            .get_or_try_init(|| async {
                let mut secret = [0u8; 16];
                getrandom::fill(&mut secret)
                    .map_err(|e| AccountsError::Internal(format!("no randomness: {e}")))?;
                let secret: String = secret.iter().map(|byte| format!("{byte:02x}")).collect();
                self.hash(secret).await
            })
            .await?
            .clone();
        self.verify(password, phc).await.map(|_| ())
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
        self.verifications.fetch_add(1, Ordering::Relaxed);
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

    #[tokio::test]
    async fn the_dummy_verification_does_the_work_of_a_real_one() {
        let config = AuthConfig { argon2_memory_kib: 1024, argon2_iterations: 1, ..AuthConfig::default() };
        let hasher = PasswordHasher::new(&config).unwrap();
        hasher.verify_dummy("guess".to_owned()).await.unwrap();
        hasher.verify_dummy("guess".to_owned()).await.unwrap();
        assert_eq!(hasher.verifications(), 2);
        // The dummy is an argon2id hash under the configured parameters, made once.
        let dummy = hasher.dummy.get().cloned().unwrap();
        assert!(dummy.starts_with("$argon2id$v=19$m=1024,t=1,"), "{dummy}");
        hasher.verify_dummy("again".to_owned()).await.unwrap();
        assert_eq!(hasher.dummy.get(), Some(&dummy));
    }
}
