//! Signing secrets at rest: sealed with AES-256-GCM under a key from the environment
//! (`AURORA__SECRETS__ENCRYPTION_KEY`). Verification needs the secret itself, so it cannot be
//! stored hashed; a database dump without the key reveals nothing.
//!
//! Each sealed value names the key it was sealed with (`enc:v2:<key id>:…`, the id being the
//! start of the key's SHA-256), so the key can be rotated: configure the new key as the
//! encryption key and the old one among `secrets.previous_encryption_keys`, run
//! `aurora secrets rotate-key` to seal everything again under the new key, then drop the old
//! one. Values from before key ids (`enc:v1:`) are opened with whichever configured key fits.

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

/// Marks a value sealed before key ids.
const PREFIX_V1: &str = "enc:v1:";
/// Marks a sealed value with its key id, so a value of another format is never mistaken for
/// one.
const PREFIX_V2: &str = "enc:v2:";

/// Seals with one key and opens with it or any previous one.
#[derive(Clone)]
pub struct SecretBox {
    current: SealingKey,
    previous: Vec<SealingKey>,
}

#[derive(Clone)]
struct SealingKey {
    id: String,
    cipher: Aes256Gcm,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SecretBox(key {} [redacted], {} previous)",
            self.current.id,
            self.previous.len()
        )
    }
}

/// A key or a sealed value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretBoxError {
    /// The key is not 32 bytes of base64.
    #[error("the encryption key must be 32 bytes, base64-encoded (e.g. `openssl rand -base64 32`)")]
    BadKey,
    /// A stored value is not sealed, or not with any configured key.
    #[error("a stored secret cannot be opened with the configured keys")]
    CannotOpen,
}

impl SealingKey {
    fn from_base64(key: &str) -> Result<Self, SecretBoxError> {
        let bytes = STANDARD
            .decode(key.trim())
            .map_err(|_| SecretBoxError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SecretBoxError::BadKey);
        }
        Ok(Self {
            id: hex::encode(&Sha256::digest(&bytes)[..4]),
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)),
        })
    }

    fn open(&self, encoded: &str) -> Result<String, SecretBoxError> {
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

impl SecretBox {
    /// From a base64-encoded 32-byte key.
    pub fn from_base64(key: &str) -> Result<Self, SecretBoxError> {
        Self::with_previous(key, &[])
    }

    /// Sealing with `current`, opening also what one of `previous` sealed.
    pub fn with_previous(current: &str, previous: &[&str]) -> Result<Self, SecretBoxError> {
        Ok(Self {
            current: SealingKey::from_base64(current)?,
            previous: previous
                .iter()
                .map(|key| SealingKey::from_base64(key))
                .collect::<Result<_, _>>()?,
        })
    }

    /// From the `secrets.encryption_key` and `secrets.previous_encryption_keys` (comma-
    /// separated) settings: `None` when no key is set.
    pub fn from_settings(
        current: Option<&str>,
        previous: Option<&str>,
    ) -> Result<Option<Self>, SecretBoxError> {
        let previous: Vec<&str> = previous
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .collect();
        current
            .map(|current| Self::with_previous(current, &previous))
            .transpose()
    }

    /// A fresh random key, base64-encoded (for `make up` and tests).
    pub fn generate_key() -> String {
        STANDARD.encode(Aes256Gcm::generate_key(OsRng))
    }

    /// The id sealed values carry for the current key.
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// Whether `sealed` was sealed with the current key (else `rotate-key` seals it again).
    pub fn is_current(&self, sealed: &str) -> bool {
        sealed
            .strip_prefix(PREFIX_V2)
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(id, _)| id == self.current.id)
    }

    /// Seals a secret under the current key: a fresh nonce each time, so equal secrets look
    /// different.
    pub fn seal(&self, secret: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .current
            .cipher
            .encrypt(&nonce, secret.as_bytes())
            .expect("AES-GCM seals any input");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{PREFIX_V2}{}:{}", self.current.id, STANDARD.encode(bytes))
    }

    /// Opens a sealed secret with the key it names (or, sealed before key ids, any key).
    pub fn open(&self, sealed: &str) -> Result<String, SecretBoxError> {
        let keys = || std::iter::once(&self.current).chain(&self.previous);
        if let Some(rest) = sealed.strip_prefix(PREFIX_V2) {
            let (id, encoded) = rest.split_once(':').ok_or(SecretBoxError::CannotOpen)?;
            let key = keys()
                .find(|key| key.id == id)
                .ok_or(SecretBoxError::CannotOpen)?;
            return key.open(encoded);
        }
        let encoded = sealed
            .strip_prefix(PREFIX_V1)
            .ok_or(SecretBoxError::CannotOpen)?;
        keys()
            .find_map(|key| key.open(encoded).ok())
            .ok_or(SecretBoxError::CannotOpen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_with_their_key_only() {
        let key = SecretBox::from_base64(&SecretBox::generate_key()).unwrap();
        let sealed = key.seal("grafana-secret");
        assert!(sealed.starts_with(PREFIX_V2) && !sealed.contains("grafana-secret"));
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

    #[test]
    fn a_rotated_key_opens_what_its_predecessor_sealed_and_seals_under_its_own_id() {
        let old_key = SecretBox::generate_key();
        let new_key = SecretBox::generate_key();
        let old = SecretBox::from_base64(&old_key).unwrap();
        let sealed_before = old.seal("s");
        let both = SecretBox::from_settings(Some(&new_key), Some(&format!(" {old_key} ,")))
            .unwrap()
            .unwrap();
        assert_eq!(both.open(&sealed_before).unwrap(), "s");
        assert!(!both.is_current(&sealed_before));
        let resealed = both.seal("s");
        assert!(both.is_current(&resealed));
        assert!(resealed.starts_with(&format!("enc:v2:{}:", both.key_id())));
        // Once the old key is dropped, only what was sealed again opens.
        let new_only = SecretBox::from_base64(&new_key).unwrap();
        assert_eq!(new_only.open(&resealed).unwrap(), "s");
        assert_eq!(
            new_only.open(&sealed_before),
            Err(SecretBoxError::CannotOpen)
        );
        assert!(
            SecretBox::from_settings(None, Some(&old_key))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn values_sealed_before_key_ids_still_open() {
        let key = SecretBox::generate_key();
        let secret_box = SecretBox::from_base64(&key).unwrap();
        // What the earlier format wrote: `enc:v1:` and the nonce and ciphertext.
        let v2 = secret_box.seal("legacy");
        let body = v2.rsplit_once(':').unwrap().1;
        let v1 = format!("{PREFIX_V1}{body}");
        assert_eq!(secret_box.open(&v1).unwrap(), "legacy");
        assert!(!secret_box.is_current(&v1));
    }
}
