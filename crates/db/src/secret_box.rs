//! Signing secrets at rest: sealed with AES-256-GCM under a key from the environment
//! (`AURORA__SECRETS__ENCRYPTION_KEY`). Verification needs the secret itself, so it cannot be
//! stored hashed; a database dump without the key reveals nothing.

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Marks a sealed value, so a value of another format is never mistaken for one.
const PREFIX: &str = "enc:v1:";

/// Seals and opens secrets with one key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox([key redacted])")
    }
}

/// A key or a sealed value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretBoxError {
    /// The key is not 32 bytes of base64.
    #[error("the encryption key must be 32 bytes, base64-encoded (e.g. `openssl rand -base64 32`)")]
    BadKey,
    /// A stored value is not sealed, or not with this key.
    #[error("a stored secret cannot be opened with the configured key")]
    CannotOpen,
}

impl SecretBox {
    /// From a base64-encoded 32-byte key.
    pub fn from_base64(key: &str) -> Result<Self, SecretBoxError> {
        let bytes = STANDARD
            .decode(key.trim())
            .map_err(|_| SecretBoxError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SecretBoxError::BadKey);
        }
        Ok(Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)),
        })
    }

    /// From the `secrets.encryption_key` setting: `None` when it is unset.
    pub fn from_setting(key: Option<&str>) -> Result<Option<Self>, SecretBoxError> {
        key.map(Self::from_base64).transpose()
    }

    /// A fresh random key, base64-encoded (for `make up` and tests).
    pub fn generate_key() -> String {
        STANDARD.encode(Aes256Gcm::generate_key(OsRng))
    }

    /// Seals a secret: a fresh nonce each time, so equal secrets look different.
    pub fn seal(&self, secret: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(&nonce, secret.as_bytes())
            .expect("AES-GCM seals any input");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{PREFIX}{}", STANDARD.encode(bytes))
    }

    /// Opens a sealed secret.
    pub fn open(&self, sealed: &str) -> Result<String, SecretBoxError> {
        let encoded = sealed
            .strip_prefix(PREFIX)
            .ok_or(SecretBoxError::CannotOpen)?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| SecretBoxError::CannotOpen)?;
        if bytes.len() < 12 {
            return Err(SecretBoxError::CannotOpen);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| SecretBoxError::CannotOpen)?;
        String::from_utf8(plain).map_err(|_| SecretBoxError::CannotOpen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_with_their_key_only() {
        let key = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        let sealed = key.seal("grafana-secret");
        assert!(sealed.starts_with(PREFIX) && !sealed.contains("grafana-secret"));
        assert_ne!(
            sealed,
            key.seal("grafana-secret"),
            "a fresh nonce each time"
        );
        assert_eq!(key.open(&sealed).unwrap(), "grafana-secret");
        let other = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        assert_eq!(other.open(&sealed), Err(SecretBoxError::CannotOpen));
        assert_eq!(
            key.open("grafana-secret"),
            Err(SecretBoxError::CannotOpen),
            "plain text is not sealed"
        );
        assert_eq!(
            SecretBox::from_base64("c2hvcnQ=").unwrap_err(),
            SecretBoxError::BadKey
        );
        assert!(!format!("{key:?}").contains("key:"));
    }
}
