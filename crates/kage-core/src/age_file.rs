//! Writes age v1 files (age-encryption.org/v1): the header of the given stanzas and its MAC,
//! then the payload in STREAM chunks.
//!
//! kage writes the file itself rather than through the `age` crate's encryptor only so that a
//! sealed value carries no grease stanza: grease is optional in the format, costs 60 to 200
//! bytes per value (a third of a sealed 32-byte value), and every reader (the `age` crate, Go
//! age, kage) accepts a file without it. Reading stays with the `age` crate.

use age_core::format::{FileKey, Stanza};
use age_core::primitives::hkdf;
use age_core::secrecy::ExposeSecret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

/// The first line of every age v1 file.
const INTRO: &[u8] = b"age-encryption.org/v1\n";
/// Stanza bodies are base64 in lines of this many characters; the last line is shorter.
const COLUMNS: usize = 64;
/// STREAM's plaintext chunk size.
const CHUNK_BYTES: usize = 64 * 1024;
/// The payload nonce's size.
const NONCE_BYTES: usize = 16;

/// A fresh random file key.
pub(crate) fn new_file_key() -> FileKey {
    FileKey::init_with_mut(|key| rand::rngs::OsRng.fill_bytes(key))
}

/// The age file of `payload` under `file_key`, whose header holds `stanzas` (already wrapping
/// `file_key` for their recipients) and nothing else.
#[allow(
    clippy::expect_used,
    reason = "HMAC takes a key of any size, and ChaCha20-Poly1305 encryption into a Vec fails only past 2^38 bytes per chunk"
)]
pub(crate) fn write(file_key: &FileKey, stanzas: &[Stanza], payload: &[u8]) -> Vec<u8> {
    let mut file = Vec::with_capacity(
        INTRO.len() + 150 * stanzas.len() + 64 + NONCE_BYTES + payload.len() + 16,
    );
    file.extend_from_slice(INTRO);
    for stanza in stanzas {
        file.extend_from_slice(b"->");
        for word in std::iter::once(&stanza.tag).chain(&stanza.args) {
            file.push(b' ');
            file.extend_from_slice(word.as_bytes());
        }
        file.push(b'\n');
        let body = STANDARD_NO_PAD.encode(&stanza.body);
        for line in body.as_bytes().chunks(COLUMNS) {
            file.extend_from_slice(line);
            file.push(b'\n');
        }
        if body.len() % COLUMNS == 0 {
            // The last line is always shorter than a full one: empty, here.
            file.push(b'\n');
        }
    }
    file.extend_from_slice(b"---");
    let mac_key = Zeroizing::new(hkdf(&[], b"header", file_key.expose_secret()));
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(mac_key.as_slice())
        .expect("HMAC accepts any key size");
    mac.update(&file);
    file.push(b' ');
    file.extend_from_slice(
        STANDARD_NO_PAD
            .encode(mac.finalize().into_bytes())
            .as_bytes(),
    );
    file.push(b'\n');

    let mut nonce = [0u8; NONCE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    file.extend_from_slice(&nonce);
    let key = Zeroizing::new(hkdf(&nonce, b"payload", file_key.expose_secret()));
    let aead = ChaCha20Poly1305::new(key.as_slice().into());
    // Only an empty payload has an empty chunk; a payload of whole chunks ends on a full one.
    let chunks: Vec<&[u8]> = if payload.is_empty() {
        vec![&[]]
    } else {
        payload.chunks(CHUNK_BYTES).collect()
    };
    for (counter, chunk) in chunks.iter().enumerate() {
        let mut chunk_nonce = [0u8; 12];
        chunk_nonce[..11].copy_from_slice(&(counter as u128).to_be_bytes()[5..]);
        if counter + 1 == chunks.len() {
            chunk_nonce[11] = 1;
        }
        let sealed = aead
            .encrypt(&chunk_nonce.into(), *chunk)
            .expect("a chunk is far below ChaCha20-Poly1305's limit");
        file.extend_from_slice(&sealed);
    }
    file
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// The age crate's own X25519 identity opens what this writes, for payloads around the
    /// chunk boundaries, and the header holds the one stanza and nothing else.
    #[test]
    fn the_age_crate_opens_what_is_written() {
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public();
        for size in [
            0,
            1,
            31,
            CHUNK_BYTES - 1,
            CHUNK_BYTES,
            CHUNK_BYTES + 1,
            2 * CHUNK_BYTES,
        ] {
            let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let file_key = new_file_key();
            let (stanzas, _) = age::Recipient::wrap_file_key(&recipient, &file_key).unwrap();
            let file = write(&file_key, &stanzas, &payload);
            let header_end = file.windows(4).position(|w| w == b"\n---").unwrap();
            let header = std::str::from_utf8(&file[..header_end]).unwrap();
            assert_eq!(header.matches("\n-> ").count(), 1, "{header}");
            let decryptor = age::Decryptor::new_buffered(&file[..]).unwrap();
            let mut reader = decryptor
                .decrypt(std::iter::once(&identity as &dyn age::Identity))
                .unwrap();
            let mut opened = Vec::new();
            reader.read_to_end(&mut opened).unwrap();
            assert_eq!(opened, payload, "size {size}");
        }
    }

    /// A body whose base64 is a whole number of lines ends with an empty line, as the format
    /// requires; a flipped byte anywhere in the header fails the MAC.
    #[test]
    fn full_body_lines_end_with_an_empty_line_and_the_header_is_authenticated() {
        let identity = age::x25519::Identity::generate();
        let file_key = new_file_key();
        let (mut stanzas, _) =
            age::Recipient::wrap_file_key(&identity.to_public(), &file_key).unwrap();
        // 48 bytes are exactly 64 base64 characters.
        stanzas.push(Stanza {
            tag: "kage-test".to_owned(),
            args: vec![],
            body: vec![7; 48],
        });
        let file = write(&file_key, &stanzas, b"payload");
        let text = String::from_utf8_lossy(&file);
        assert!(text.contains(&format!("{}\n\n---", STANDARD_NO_PAD.encode([7u8; 48]))));
        let open = |file: &[u8]| -> Option<Vec<u8>> {
            let decryptor = age::Decryptor::new_buffered(file).ok()?;
            let mut reader = decryptor
                .decrypt(std::iter::once(&identity as &dyn age::Identity))
                .ok()?;
            let mut opened = Vec::new();
            reader.read_to_end(&mut opened).ok()?;
            Some(opened)
        };
        assert_eq!(open(&file).as_deref(), Some(&b"payload"[..]));
        let header_end = file.windows(4).position(|w| w == b"\n---").unwrap();
        for i in 22..header_end {
            let mut tampered = file.clone();
            tampered[i] ^= 0x01;
            assert_eq!(open(&tampered), None, "byte {i} of the header");
        }
    }
}
