//! Encrypted ("sealed") model files: AES-256-GCM over a whole model file.
//!
//! Layout (all of it authenticated; the header is the associated data):
//!
//! ```text
//! offset  size  field
//! 0       8     magic "KESTRELE"
//! 8       2     version (1)
//! 10      2     reserved (0)
//! 12      12    nonce (random per file)
//! 24      n+16  ciphertext of the n-byte model file, then the 16-byte GCM tag
//! ```
//!
//! The key (32 bytes) comes from the embedding application at load time; it is never stored.
//! A wrong key, a tampered byte anywhere in the file or a truncated file all fail the tag
//! check and give one clear [`Error::Format`]; nothing is decoded before the check passes.

use super::{Error, Result};

/// First eight bytes of a sealed model file.
pub const SEALED_MAGIC: &[u8; 8] = b"KESTRELE";
/// Sealed-file version this build writes and reads.
pub const SEALED_VERSION: u16 = 1;
/// Header length: magic, version, reserved, nonce.
pub const SEALED_HEADER_LEN: usize = 24;
/// AES-256 key length.
pub const KEY_LEN: usize = 32;
/// GCM nonce length.
pub const NONCE_LEN: usize = 12;
/// GCM tag length.
pub const TAG_LEN: usize = 16;

/// True when `bytes` start like a sealed model file.
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(SEALED_MAGIC)
}

#[cfg(feature = "encryption")]
mod aead {
    use super::*;
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use aes_gcm::{Aes256Gcm, Key, Nonce};
    use alloc::vec::Vec;

    /// Encrypts model bytes under `key` with `nonce`, which must never repeat for one key
    /// (callers draw it at random).
    pub fn seal(model: &[u8], key: &[u8; KEY_LEN], nonce: &[u8; NONCE_LEN]) -> Result<Vec<u8>> {
        let mut header = Vec::with_capacity(SEALED_HEADER_LEN + model.len() + TAG_LEN);
        header.extend_from_slice(SEALED_MAGIC);
        header.extend_from_slice(&SEALED_VERSION.to_le_bytes());
        header.extend_from_slice(&0u16.to_le_bytes());
        header.extend_from_slice(nonce);
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
        let ct = cipher
            .encrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: model,
                    aad: &header,
                },
            )
            .map_err(|_| Error::Limit("model too large to encrypt".into()))?;
        header.extend_from_slice(&ct);
        Ok(header)
    }

    /// Decrypts and authenticates a sealed model file, returning the model file's bytes.
    pub fn open(sealed: &[u8], key: &[u8; KEY_LEN]) -> Result<Vec<u8>> {
        if !is_sealed(sealed) {
            return Err(Error::Format("not an encrypted Kestrel model".into()));
        }
        if sealed.len() < SEALED_HEADER_LEN + TAG_LEN {
            return Err(Error::Format("encrypted model is truncated".into()));
        }
        let version = u16::from_le_bytes([sealed[8], sealed[9]]);
        if version != SEALED_VERSION {
            return Err(Error::Unsupported(msg!(
                "encrypted model version {version}; this build reads {SEALED_VERSION}"
            )));
        }
        let (header, ct) = sealed.split_at(SEALED_HEADER_LEN);
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
        cipher
            .decrypt(
                Nonce::from_slice(&header[12..24]),
                Payload {
                    msg: ct,
                    aad: header,
                },
            )
            .map_err(|_| {
                Error::Format(
                    "encrypted model failed authentication: wrong key, or the file was altered"
                        .into(),
                )
            })
    }
}

#[cfg(feature = "encryption")]
pub use aead::{open, seal};

/// Parses a key written as 64 hexadecimal digits (surrounding whitespace ignored).
pub fn parse_hex_key(text: &str) -> Result<[u8; KEY_LEN]> {
    let t = text.trim();
    let bytes = t.as_bytes();
    if bytes.len() != 2 * KEY_LEN {
        return Err(Error::Input(msg!(
            "a model key is {} hexadecimal digits, not {}",
            2 * KEY_LEN,
            bytes.len()
        )));
    }
    let digit = |c: u8| -> Result<u8> {
        (c as char)
            .to_digit(16)
            .map(|d| d as u8)
            .ok_or_else(|| Error::Input("a model key may only hold hexadecimal digits".into()))
    };
    let mut key = [0u8; KEY_LEN];
    for (i, k) in key.iter_mut().enumerate() {
        *k = digit(bytes[2 * i])? << 4 | digit(bytes[2 * i + 1])?;
    }
    Ok(key)
}

#[cfg(all(test, feature = "encryption"))]
mod tests {
    use super::*;

    const KEY: [u8; KEY_LEN] = [7; KEY_LEN];
    const NONCE: [u8; NONCE_LEN] = [9; NONCE_LEN];

    #[test]
    fn round_trip_and_every_failure_is_a_clear_error() {
        let model = b"KESTRELM model bytes stand-in".to_vec();
        let sealed = seal(&model, &KEY, &NONCE).unwrap();
        assert!(is_sealed(&sealed));
        assert_eq!(sealed.len(), SEALED_HEADER_LEN + model.len() + TAG_LEN);
        assert_eq!(open(&sealed, &KEY).unwrap(), model);
        // Ciphertext does not show the plaintext.
        assert!(!sealed.windows(8).any(|w| w == b"KESTRELM"));
        let mut wrong = KEY;
        wrong[31] ^= 1;
        let err = open(&sealed, &wrong).unwrap_err().to_string();
        assert!(err.contains("wrong key"), "{err}");
        // Any flipped bit, header (nonce) included, fails; so does any truncation.
        for i in 12..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x20;
            assert!(open(&t, &KEY).is_err(), "flip at {i} accepted");
        }
        for n in 0..sealed.len() {
            assert!(open(&sealed[..n], &KEY).is_err(), "cut at {n} accepted");
        }
    }

    #[test]
    fn hex_keys() {
        let hex = "00ff".repeat(16);
        let k = parse_hex_key(&alloc::format!(" {hex}\n")).unwrap();
        assert_eq!(k[0], 0);
        assert_eq!(k[1], 255);
        assert!(parse_hex_key("abc").is_err());
        assert!(parse_hex_key(&"zz".repeat(32)).is_err());
    }
}
