//! Secrets: API keys (`tdk_…`) and operator tokens (`tdo_…`), 32 random bytes each.
//! Only their SHA-256 is stored; a fast hash is right here because the secrets are long
//! random strings, not passwords (argon2 is for passwords, and too slow per request).

use rand::RngCore;
use sha2::{Digest, Sha256};

pub const API_KEY_PREFIX: &str = "tdk_";
pub const OPERATOR_TOKEN_PREFIX: &str = "tdo_";
/// Longest bearer credential looked at.
pub const MAX_SECRET_LEN: usize = 128;

pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", tongdao_domain::id::base32(&bytes))
}

/// Lowercase hex SHA-256.
pub fn hash_secret(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_hash_to_hex() {
        let a = new_secret(API_KEY_PREFIX);
        let b = new_secret(API_KEY_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with("tdk_") && a.len() == 4 + 52, "{a}");
        assert_eq!(hash_secret("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
