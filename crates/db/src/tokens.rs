//! Bearer tokens: minted from 256 random bits, shown once, stored only as SHA-256 hashes.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Mints a token with a prefix that tells people what it is for (`aur_api_`, `aur_whk_`).
pub fn mint(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// The hash stored in place of a token. A plain SHA-256 suffices: the token has 256 bits of
/// entropy, so there is nothing to brute-force, and lookup by hash stays one index probe.
pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_long_random_and_prefixed() {
        let a = super::mint("aur_api_");
        let b = super::mint("aur_api_");
        assert_ne!(a, b);
        assert_eq!(a.len(), "aur_api_".len() + 64);
        assert_eq!(super::hash(&a).len(), 32);
    }
}
