//! The server's own ed25519 signing key: generation, and storage in Synapse's key-file format.
//!
//! The file holds one line, `ed25519 <version> <unpadded base64 of the 32-byte seed>`, so a key
//! can be moved between Stoa and Synapse. It is written atomically with owner-only permissions.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer as _, SigningKey};

use crate::unpadded_base64;

/// The only signing algorithm Matrix defines.
pub const ED25519: &str = "ed25519";

/// Length of an ed25519 seed (the secret half of the key) in bytes.
const SEED_LENGTH: usize = 32;

/// Characters used for generated key versions; the spec allows `[A-Za-z0-9_]`.
const VERSION_ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Why a signing key could not be created, loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The operating system gave us no secure random bytes to make a key from.
    #[error("no secure randomness available to generate a signing key: {0}")]
    RandomnessUnavailable(getrandom::Error),
    /// A key version contains characters the spec does not allow in key IDs.
    #[error("key version {version:?} must be non-empty and use only A-Z, a-z, 0-9 and _")]
    InvalidVersion {
        /// The rejected version.
        version: String,
    },
    /// The key file could not be read.
    #[error("cannot read signing key file {path}: {source}")]
    ReadFailed {
        /// The key file.
        path: PathBuf,
        /// What the operating system reported.
        source: io::Error,
    },
    /// The key file (or its directory) could not be written.
    #[error("cannot write signing key file {path}: {source}")]
    WriteFailed {
        /// The key file.
        path: PathBuf,
        /// What the operating system reported.
        source: io::Error,
    },
    /// The key file has no key line in it.
    #[error("signing key file {path} contains no key")]
    EmptyFile {
        /// The key file.
        path: PathBuf,
    },
    /// A line does not have the three fields `<algorithm> <version> <seed>`.
    #[error("signing key file {path}, line {line}: expected `ed25519 <version> <base64 seed>`")]
    MalformedLine {
        /// The key file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
    },
    /// A line names an algorithm other than ed25519.
    #[error("signing key file {path}, line {line}: unsupported algorithm {algorithm:?}, expected ed25519")]
    UnsupportedAlgorithm {
        /// The key file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
        /// The algorithm found.
        algorithm: String,
    },
    /// A line's key version contains characters the spec does not allow.
    #[error("signing key file {path}, line {line}: invalid key version {version:?}")]
    InvalidVersionInFile {
        /// The key file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
        /// The rejected version.
        version: String,
    },
    /// A line's seed is not valid Base64.
    #[error("signing key file {path}, line {line}: seed is not valid base64: {source}")]
    BadBase64 {
        /// The key file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
        /// What the decoder reported.
        source: unpadded_base64::DecodeError,
    },
    /// A line's seed decodes to something other than 32 bytes.
    #[error("signing key file {path}, line {line}: seed is {length} bytes, expected 32")]
    WrongSeedLength {
        /// The key file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
        /// The decoded length.
        length: usize,
    },
}

/// The key this server signs federation requests, events and key responses with.
pub struct ServerSigningKey {
    /// `ed25519:<version>`, the identifier other servers look the public key up by.
    key_id: String,
    /// The secret key; never shown in `Debug`.
    key: SigningKey,
}

impl ServerSigningKey {
    /// Creates a fresh key with a random version like `a_Xy3Z`, as Synapse does.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; SEED_LENGTH];
        getrandom::fill(&mut seed).map_err(KeyError::RandomnessUnavailable)?;
        let version = random_version()?;
        Self::from_seed(&version, seed)
    }

    /// Rebuilds a key from its version and 32-byte seed (used for loading and for test vectors).
    pub fn from_seed(version: &str, seed: [u8; SEED_LENGTH]) -> Result<Self, KeyError> {
        if !is_valid_version(version) {
            return Err(KeyError::InvalidVersion { version: version.to_owned() });
        }
        Ok(Self { key_id: format!("{ED25519}:{version}"), key: SigningKey::from_bytes(&seed) })
    }

    /// The key identifier, `ed25519:<version>`, under which signatures are filed.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The version part of the key identifier.
    pub fn version(&self) -> &str {
        self.key_id.strip_prefix("ed25519:").unwrap_or(self.key_id.as_str())
    }

    /// The raw public key, for verifying our own signatures.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The public key in unpadded Base64, as published in `verify_keys`.
    pub fn public_key_base64(&self) -> String {
        unpadded_base64::encode(self.public_key())
    }

    /// Signs raw bytes (normally canonical JSON) and returns the 64-byte ed25519 signature.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// Reads a key from a Synapse-format key file, using the first key line.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let contents = fs::read_to_string(path)
            .map_err(|source| KeyError::ReadFailed { path: path.to_owned(), source })?;
        parse_key_file(&contents, path)
    }

    /// Writes the key to a Synapse-format key file, atomically and readable only by its owner.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let line = format!("{ED25519} {} {}\n", self.version(), unpadded_base64::encode(self.key.to_bytes()));
        write_atomically(path, line.as_bytes())
            .map_err(|source| KeyError::WriteFailed { path: path.to_owned(), source })
    }

    /// Loads the key file if it exists, otherwise generates a key and saves it there.
    pub fn load_or_generate(path: &Path) -> Result<Self, KeyError> {
        match path.try_exists() {
            Ok(true) => Self::load(path),
            Ok(false) => {
                let key = Self::generate()?;
                key.save(path)?;
                Ok(key)
            }
            Err(source) => Err(KeyError::ReadFailed { path: path.to_owned(), source }),
        }
    }
}

impl fmt::Debug for ServerSigningKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ServerSigningKey")
            .field("key_id", &self.key_id)
            .field("public_key", &self.public_key_base64())
            .finish_non_exhaustive()
    }
}

/// Whether a key version fits the spec's `[A-Za-z0-9_]+`.
fn is_valid_version(version: &str) -> bool {
    !version.is_empty() && version.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
}

/// Makes a version of the form `a_XXXX` from uniformly chosen alphanumerics.
fn random_version() -> Result<String, KeyError> {
    let mut version = String::from("a_");
    while version.len() < 6 {
        let mut byte = [0u8; 1];
        getrandom::fill(&mut byte).map_err(KeyError::RandomnessUnavailable)?;
        // Rejection sampling keeps the choice uniform: 248 is the largest multiple of 62 ≤ 256.
        if let [value] = byte
            && value < 248
            && let Some(&ch) = VERSION_ALPHABET.get(usize::from(value % 62))
        {
            version.push(char::from(ch));
        }
    }
    Ok(version)
}

/// Parses key-file text; every non-blank line is validated and the first one is used.
fn parse_key_file(contents: &str, path: &Path) -> Result<ServerSigningKey, KeyError> {
    let mut first = None;
    for (index, text) in contents.lines().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        let key = parse_key_line(text, path, index + 1)?;
        if first.is_none() {
            first = Some(key);
        }
    }
    first.ok_or_else(|| KeyError::EmptyFile { path: path.to_owned() })
}

/// Parses one `ed25519 <version> <seed>` line.
fn parse_key_line(text: &str, path: &Path, line: usize) -> Result<ServerSigningKey, KeyError> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [algorithm, version, seed_base64] = fields.as_slice() else {
        return Err(KeyError::MalformedLine { path: path.to_owned(), line });
    };
    if *algorithm != ED25519 {
        return Err(KeyError::UnsupportedAlgorithm {
            path: path.to_owned(),
            line,
            algorithm: (*algorithm).to_owned(),
        });
    }
    if !is_valid_version(version) {
        return Err(KeyError::InvalidVersionInFile {
            path: path.to_owned(),
            line,
            version: (*version).to_owned(),
        });
    }
    let bytes = unpadded_base64::decode(seed_base64).map_err(|source| KeyError::BadBase64 {
        path: path.to_owned(),
        line,
        source,
    })?;
    let seed: [u8; SEED_LENGTH] = bytes.as_slice().try_into().map_err(|_| KeyError::WrongSeedLength {
        path: path.to_owned(),
        line,
        length: bytes.len(),
    })?;
    ServerSigningKey::from_seed(version, seed)
}

/// Replaces `path` with `contents` via a synced temporary file and a rename, so a crash never
/// leaves a truncated key behind. The file is created owner-only on unix.
fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(directory)?;
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(io::Error::other)?;
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".tmp-{}", hex(&suffix)));
    let temp_path = directory.join(temp_name);

    let result = write_new_private_file(&temp_path, contents)
        .and_then(|()| fs::rename(&temp_path, path))
        .and_then(|()| sync_directory(directory));
    if result.is_err() {
        // Best effort: the temporary file may not exist, and the original error matters more.
        let _ = fs::remove_file(&temp_path);
    }
    result
}

/// Creates a file that must not already exist, owner-only on unix, and syncs its contents.
fn write_new_private_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Makes a rename durable by syncing the directory that holds it (a no-op off unix).
fn sync_directory(directory: &Path) -> io::Result<()> {
    if cfg!(unix) { File::open(directory)?.sync_all() } else { Ok(()) }
}

/// Lowercase hex, for temporary file names.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_SEED: &str = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1";

    fn spec_key() -> ServerSigningKey {
        let seed: [u8; 32] = unpadded_base64::decode(SPEC_SEED).unwrap().try_into().unwrap();
        ServerSigningKey::from_seed("1", seed).unwrap()
    }

    #[test]
    fn generated_keys_are_distinct_and_well_formed() {
        let first = ServerSigningKey::generate().unwrap();
        let second = ServerSigningKey::generate().unwrap();
        assert_ne!(first.public_key(), second.public_key());
        let version = first.version();
        assert_eq!(version.len(), 6);
        assert!(version.starts_with("a_"));
        assert!(is_valid_version(version));
        assert_eq!(first.key_id(), format!("ed25519:{version}"));
        assert_eq!(first.public_key_base64().len(), 43);
    }

    #[test]
    fn from_seed_refuses_bad_versions() {
        for version in ["", "a:b", "a b", "ä", "a-b"] {
            assert!(matches!(
                ServerSigningKey::from_seed(version, [0; 32]),
                Err(KeyError::InvalidVersion { .. })
            ));
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = spec_key();
        let shown = format!("{key:?}");
        assert!(shown.contains("ed25519:1"));
        assert!(shown.contains(&key.public_key_base64()));
        assert!(!shown.contains(SPEC_SEED));
        assert!(!shown.contains(&unpadded_base64::encode(key.key.to_bytes())));
    }

    #[test]
    fn save_and_load_round_trip_in_synapse_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/server.signing.key");
        let key = spec_key();
        key.save(&path).unwrap();
        let seed = unpadded_base64::encode(unpadded_base64::decode(SPEC_SEED).unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("ed25519 1 {seed}\n"));
        let loaded = ServerSigningKey::load(&path).unwrap();
        assert_eq!(loaded.key_id(), "ed25519:1");
        assert_eq!(loaded.public_key(), key.public_key());
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn saved_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        spec_key().save(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn save_replaces_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        ServerSigningKey::generate().unwrap().save(&path).unwrap();
        spec_key().save(&path).unwrap();
        assert_eq!(ServerSigningKey::load(&path).unwrap().key_id(), "ed25519:1");
    }

    #[test]
    fn load_or_generate_creates_then_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.key");
        let created = ServerSigningKey::load_or_generate(&path).unwrap();
        assert!(path.exists());
        let reloaded = ServerSigningKey::load_or_generate(&path).unwrap();
        assert_eq!(created.key_id(), reloaded.key_id());
        assert_eq!(created.public_key(), reloaded.public_key());
    }

    #[test]
    fn load_accepts_synapse_variants() {
        let path = Path::new("test.key");
        // Padded base64, trailing blank lines and extra keys are all tolerated.
        let padded = format!("ed25519 a_AbCd {SPEC_SEED}=\n\n");
        let key = parse_key_file(&padded, path).unwrap();
        assert_eq!(key.key_id(), "ed25519:a_AbCd");
        assert_eq!(key.public_key(), spec_key().public_key());
        let two = format!("ed25519 first {SPEC_SEED}\ned25519 second {SPEC_SEED}\n");
        assert_eq!(parse_key_file(&two, path).unwrap().version(), "first");
    }

    #[test]
    fn load_reports_problems_with_path_and_line() {
        let path = Path::new("/etc/stoa/signing.key");
        type Expectation = fn(&KeyError) -> bool;
        let cases: [(&str, Expectation); 7] = [
            ("", |e| matches!(e, KeyError::EmptyFile { .. })),
            ("\n  \n", |e| matches!(e, KeyError::EmptyFile { .. })),
            ("ed25519 1", |e| matches!(e, KeyError::MalformedLine { line: 1, .. })),
            ("\ncurve25519 1 AAAA", |e| matches!(e, KeyError::UnsupportedAlgorithm { line: 2, .. })),
            ("ed25519 a:b AAAA", |e| matches!(e, KeyError::InvalidVersionInFile { .. })),
            ("ed25519 1 !!!!", |e| matches!(e, KeyError::BadBase64 { .. })),
            ("ed25519 1 AAAA", |e| matches!(e, KeyError::WrongSeedLength { length: 3, .. })),
        ];
        for (contents, expected) in cases {
            let error = parse_key_file(contents, path).unwrap_err();
            assert!(expected(&error), "{contents:?} gave {error:?}");
            assert!(error.to_string().contains("/etc/stoa/signing.key"));
        }
    }

    #[test]
    fn load_of_missing_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.key");
        let error = ServerSigningKey::load(&path).unwrap_err();
        assert!(matches!(error, KeyError::ReadFailed { .. }));
        assert!(error.to_string().contains("absent.key"));
    }

    #[test]
    fn signatures_verify_with_the_public_key() {
        let key = ServerSigningKey::generate().unwrap();
        let signature = key.sign(b"hello");
        let verifying = ed25519_dalek::VerifyingKey::from_bytes(&key.public_key()).unwrap();
        let signature = ed25519_dalek::Signature::from_bytes(&signature);
        assert!(verifying.verify_strict(b"hello", &signature).is_ok());
    }
}
