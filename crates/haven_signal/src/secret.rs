//! The server secret: the HMAC key invites are signed with.

use std::fmt;
use std::io::Write as _;
use std::path::Path;

use thiserror::Error;

/// The invite-signing key. Its `Debug` prints `[redacted]`.
#[derive(Clone)]
pub struct ServerSecret([u8; 32]);

/// Why the secret file could not be used.
#[derive(Debug, Error)]
pub enum SecretError {
    /// Reading or creating the file failed.
    #[error("secret file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The file does not hold 64 hex digits.
    #[error("secret file {0} does not hold a 32-byte key as 64 hex digits")]
    Malformed(String),
    /// The system's random source failed.
    #[error("no randomness for a new secret: {0}")]
    Random(getrandom::Error),
}

impl ServerSecret {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh random key.
    pub fn generate() -> Result<Self, SecretError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(SecretError::Random)?;
        Ok(Self(key))
    }

    /// Reads the key from `path`, or creates the file (mode 0600) with a fresh key when it
    /// does not exist. Rotating the secret is deleting the file: every invite made with the
    /// old key stops working.
    pub fn load_or_create(path: &Path) -> Result<Self, SecretError> {
        let io = |source| SecretError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| SecretError::Malformed(path.display().to_string()))?;
                Ok(Self(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret = Self::generate()?;
                write_private(path, format!("{}\n", hex::encode(secret.0)).as_bytes())
                    .map_err(io)?;
                tracing::info!(path = %path.display(), "created a new server secret");
                Ok(secret)
            }
            Err(e) => Err(io(e)),
        }
    }

    pub(crate) fn key(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Creates `path` (it must not exist) readable by its owner only, and writes `bytes` to it.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

impl fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerSecret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_private_mode_then_read_back() {
        let dir = std::env::temp_dir().join(format!("haven-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("secret");
        let _ = std::fs::remove_file(&path);
        let a = ServerSecret::load_or_create(&path).expect("creates");
        let b = ServerSecret::load_or_create(&path).expect("reads");
        assert_eq!(a.key(), b.key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path)
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(format!("{a:?}"), "ServerSecret([redacted])");
        std::fs::write(&path, "not hex").expect("write");
        assert!(matches!(
            ServerSecret::load_or_create(&path),
            Err(SecretError::Malformed(_))
        ));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
