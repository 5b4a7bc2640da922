//! The sealed value format (`docs/format.md` describes it byte by byte).
//!
//! A sealed value is a standard age v1 file, stored as one line of base64. Its header holds one
//! `X25519` stanza per recipient and one `kage.dev/v1` stanza naming, in the clear, the binding
//! and the fingerprints of the recipients in stanza order. The encrypted payload is the binding
//! line again followed by the value, so the binding is authenticated with the value itself.

use std::collections::HashSet;
use std::io::Read;

use age_core::format::{FileKey, Stanza};
use age_core::primitives::{aead_encrypt, hkdf};
use age_core::secrecy::ExposeSecret;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use x25519_dalek::{EphemeralSecret, PublicKey};

use crate::age_file;
use crate::binding::Binding;
use crate::identity::{Fingerprint, Recipient};
use crate::plaintext::Plaintext;

/// Tag of kage's header stanza and first word of the sealed payload.
pub const FORMAT_TAG: &str = "kage.dev/v1";
/// Largest value that can be sealed, in bytes (a whole Secret is capped at 1 MiB by Kubernetes).
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// Most recipients one value may be sealed to (clusters plus recovery keys).
pub const MAX_RECIPIENTS: usize = 32;
/// Longest base64 text accepted as a sealed value: a [`MAX_VALUE_BYTES`] value sealed to
/// [`MAX_RECIPIENTS`] recipients, with room to spare.
pub const MAX_SEALED_VALUE_CHARS: usize = (MAX_VALUE_BYTES + 64 * 1024) / 3 * 4;

pub(crate) const X25519_TAG: &str = "X25519";
pub(crate) const X25519_LABEL: &[u8] = b"age-encryption.org/v1/X25519";
const AGE_VERSION_LINE: &[u8] = b"age-encryption.org/v1\n";

/// Why a sealed value could not be read. Never contains plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    /// Longer than [`MAX_SEALED_VALUE_CHARS`].
    #[error("sealed value is {0} characters, more than the limit of {MAX_SEALED_VALUE_CHARS}")]
    TooLarge(usize),
    /// Not one line of standard base64.
    #[error("sealed value is not valid base64")]
    NotBase64,
    /// The bytes are not an age v1 file.
    #[error("sealed value is not an age v1 file")]
    NotAge,
    /// An age file without kage's header stanza, or with a malformed one.
    #[error("sealed value has no valid {FORMAT_TAG} stanza: {0}")]
    BadKageStanza(&'static str),
}

/// Why a value could not be sealed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// No recipient was given.
    #[error("no recipients to seal to")]
    NoRecipients,
    /// More than [`MAX_RECIPIENTS`] recipients.
    #[error("{0} recipients is more than the limit of {MAX_RECIPIENTS}")]
    TooManyRecipients(usize),
    /// The value is larger than [`MAX_VALUE_BYTES`].
    #[error("value of {0} bytes is larger than the limit of {MAX_VALUE_BYTES} bytes")]
    ValueTooLarge(usize),
}

/// A sealed value: an age file with kage's binding and recipient fingerprints in its header.
///
/// The binding and fingerprints read here are claims until the value is opened, which checks
/// them against the authenticated header and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedValue {
    age: Vec<u8>,
    binding: Binding,
    recipients: Vec<Fingerprint>,
}

impl SealedValue {
    /// Reads a sealed value from its one-line base64 form.
    pub fn from_base64(text: &str) -> Result<Self, FormatError> {
        if text.len() > MAX_SEALED_VALUE_CHARS {
            return Err(FormatError::TooLarge(text.len()));
        }
        let age = STANDARD
            .decode(text.trim_ascii())
            .map_err(|_| FormatError::NotBase64)?;
        Self::from_age_bytes(age)
    }

    /// Reads a sealed value from the bytes of an age file.
    pub fn from_age_bytes(age: Vec<u8>) -> Result<Self, FormatError> {
        let stanzas = read_header(&age)?;
        let mut kage = stanzas.iter().filter(|s| s.tag == FORMAT_TAG);
        let stanza = kage
            .next()
            .ok_or(FormatError::BadKageStanza("stanza missing"))?;
        if kage.next().is_some() {
            return Err(FormatError::BadKageStanza("more than one"));
        }
        if !stanza.body.is_empty() || stanza.args.len() < 5 {
            return Err(FormatError::BadKageStanza("wrong shape"));
        }
        let words: Vec<&str> = stanza.args[..4].iter().map(String::as_str).collect();
        let binding =
            Binding::from_words(&words).ok_or(FormatError::BadKageStanza("bad binding"))?;
        let recipients = stanza.args[4..]
            .iter()
            .map(|fp| fp.parse())
            .collect::<Result<Vec<Fingerprint>, _>>()
            .map_err(|_| FormatError::BadKageStanza("bad fingerprint"))?;
        let x25519 = stanzas.iter().filter(|s| s.tag == X25519_TAG).count();
        if x25519 != recipients.len() || x25519 + 1 != stanzas.len() {
            return Err(FormatError::BadKageStanza(
                "fingerprints do not match the X25519 stanzas",
            ));
        }
        Ok(SealedValue {
            age,
            binding,
            recipients,
        })
    }

    /// The one-line base64 form stored in `spec.encryptedData`.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.age)
    }

    /// The raw age file (what `base64 -d` of the stored form gives).
    pub fn age_bytes(&self) -> &[u8] {
        &self.age
    }

    /// The binding claimed in the header.
    pub fn binding(&self) -> &Binding {
        &self.binding
    }

    /// Length of the value inside, from the length of the payload (age does not hide
    /// lengths, so anyone reading the sealed form knows it). A claim until the value is opened,
    /// like the binding; 0 for a payload too short to hold anything.
    pub fn value_len(&self) -> usize {
        // The header ends with its MAC line, "--- <mac>\n"; the payload follows.
        let Some(mac) = self.age.windows(4).position(|w| w == b"\n---") else {
            return 0;
        };
        let Some(end) = self.age[mac + 1..].iter().position(|&b| b == b'\n') else {
            return 0;
        };
        let payload = self.age.len() - (mac + 1 + end + 1);
        // A 16-byte nonce, then chunks of up to 64 KiB of plaintext, each with a 16-byte tag.
        const NONCE: usize = 16;
        const TAG: usize = 16;
        const CHUNK: usize = 64 * 1024;
        let body = payload.saturating_sub(NONCE);
        let chunks = body.div_ceil(CHUNK + TAG).max(1);
        let plaintext = body.saturating_sub(chunks * TAG);
        plaintext.saturating_sub(payload_header(&self.binding).len())
    }

    /// Fingerprints of the keys that can open the value, in stanza order.
    pub fn recipients(&self) -> &[Fingerprint] {
        &self.recipients
    }
}

/// Parses the stanzas of an age v1 header, stopping at the MAC line. Only the X25519 and kage
/// stanza types are kept; age's random `*-grease` stanzas (which every age encryptor may add)
/// are skipped, and any other type is refused.
fn read_header(age: &[u8]) -> Result<Vec<Stanza>, FormatError> {
    let mut rest = age
        .strip_prefix(AGE_VERSION_LINE)
        .ok_or(FormatError::NotAge)?;
    let mut stanzas = Vec::new();
    let mut grease = 0;
    while !rest.starts_with(b"---") {
        // One kage stanza and at most MAX_RECIPIENTS X25519 stanzas are read; one more refuses.
        if stanzas.len() > MAX_RECIPIENTS || grease > 1 {
            return Err(FormatError::BadKageStanza("too many stanzas"));
        }
        let (next, stanza) =
            age_core::format::read::age_stanza(rest).map_err(|_| FormatError::NotAge)?;
        rest = next;
        if stanza.tag.ends_with("-grease") {
            grease += 1;
            continue;
        }
        if stanza.tag != X25519_TAG && stanza.tag != FORMAT_TAG {
            return Err(FormatError::BadKageStanza("unexpected stanza type"));
        }
        stanzas.push(Stanza::from(stanza));
    }
    if grease > 1 {
        return Err(FormatError::BadKageStanza("too many stanzas"));
    }
    Ok(stanzas)
}

/// The first line of the sealed payload: the format tag and the binding words.
pub(crate) fn payload_header(binding: &Binding) -> String {
    let mut line = String::from(FORMAT_TAG);
    for word in binding.words() {
        line.push(' ');
        line.push_str(word);
    }
    line.push('\n');
    line
}

/// age recipient that writes one X25519 stanza per kage recipient, then kage's own stanza.
struct Sealer<'a> {
    recipients: &'a [Recipient],
    binding: &'a Binding,
}

impl age::Recipient for Sealer<'_> {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        let mut stanzas = Vec::with_capacity(self.recipients.len() + 1);
        for recipient in self.recipients {
            let pk = recipient.public_key();
            let esk = EphemeralSecret::random_from_rng(rand::rngs::OsRng);
            let epk = PublicKey::from(&esk);
            let shared = esk.diffie_hellman(pk);
            let mut salt = [0; 64];
            salt[..32].copy_from_slice(epk.as_bytes());
            salt[32..].copy_from_slice(pk.as_bytes());
            let wrap_key = zeroize::Zeroizing::new(hkdf(&salt, X25519_LABEL, shared.as_bytes()));
            stanzas.push(Stanza {
                tag: X25519_TAG.to_owned(),
                args: vec![STANDARD_NO_PAD.encode(epk.as_bytes())],
                body: aead_encrypt(&wrap_key, file_key.expose_secret()),
            });
        }
        let mut args: Vec<String> = self.binding.words().map(str::to_owned).to_vec();
        args.extend(self.recipients.iter().map(|r| r.fingerprint().to_string()));
        stanzas.push(Stanza {
            tag: FORMAT_TAG.to_owned(),
            args,
            body: Vec::new(),
        });
        Ok((stanzas, HashSet::new()))
    }
}

/// Seals `value` for `binding` to every recipient (one age encryption, one stanza each).
#[allow(
    clippy::expect_used,
    reason = "the sealer always yields stanzas and writing into a Vec cannot fail"
)]
pub fn seal(
    value: &[u8],
    binding: &Binding,
    recipients: &[Recipient],
) -> Result<SealedValue, SealError> {
    if recipients.is_empty() {
        return Err(SealError::NoRecipients);
    }
    if recipients.len() > MAX_RECIPIENTS {
        return Err(SealError::TooManyRecipients(recipients.len()));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(SealError::ValueTooLarge(value.len()));
    }
    let sealer = Sealer {
        recipients,
        binding,
    };
    let file_key = age_file::new_file_key();
    let (stanzas, _) = age::Recipient::wrap_file_key(&sealer, &file_key)
        .expect("the sealer always yields stanzas");
    let header = payload_header(binding);
    let mut payload = zeroize::Zeroizing::new(Vec::with_capacity(header.len() + value.len()));
    payload.extend_from_slice(header.as_bytes());
    payload.extend_from_slice(value);
    Ok(SealedValue {
        age: age_file::write(&file_key, &stanzas, &payload),
        binding: binding.clone(),
        recipients: recipients.iter().map(Recipient::fingerprint).collect(),
    })
}

/// Reads the payload of an opened value: the binding line, then the value. `None` when the
/// binding line is missing or differs from `binding`, or the value is too large.
pub(crate) fn read_payload(
    reader: impl Read,
    binding: &Binding,
    size_hint: usize,
) -> Option<Plaintext> {
    let header = payload_header(binding);
    let limit = (header.len() + MAX_VALUE_BYTES + 1) as u64;
    let capacity = size_hint.min(limit as usize + 1);
    let mut payload = zeroize::Zeroizing::new(Vec::with_capacity(capacity));
    reader.take(limit).read_to_end(&mut payload).ok()?;
    if payload.len() as u64 >= limit || !payload.starts_with(header.as_bytes()) {
        return None;
    }
    Some(Plaintext::from(&payload[header.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::{Location, Scope};
    use crate::identity::Identity;
    use crate::keyring::{KeyRing, OpenError};
    use std::io::Write;

    fn binding(key: &str) -> Binding {
        Binding::new(Scope::Strict, &Location::new("ns", "db", key)).unwrap()
    }

    #[test]
    fn the_value_length_is_read_from_the_payload_whatever_the_header_holds() {
        let ids = [Identity::generate(), Identity::generate()];
        let recipients: Vec<_> = ids.iter().map(|i| i.recipient().clone()).collect();
        let header_len = payload_header(&binding("k")).len();
        let chunk = 64 * 1024;
        for len in [
            0,
            1,
            100,
            chunk - header_len - 1,
            chunk - header_len,
            chunk,
            3 * chunk + 7,
        ] {
            for n in 1..=2 {
                let value = seal(&vec![b'x'; len], &binding("k"), &recipients[..n]).unwrap();
                assert_eq!(value.value_len(), len, "{len} bytes to {n} recipient(s)");
            }
        }
    }

    /// An age header of `stanzas` (tag and arguments; X25519 stanzas get a 32-byte body),
    /// closed by a MAC line; parsing never gets as far as checking the MAC.
    fn header(stanzas: &[(&str, Vec<String>)]) -> Vec<u8> {
        let mut text = String::from("age-encryption.org/v1\n");
        for (tag, args) in stanzas {
            text.push_str(&format!("-> {tag}"));
            for arg in args {
                text.push_str(&format!(" {arg}"));
            }
            text.push('\n');
            if *tag == X25519_TAG {
                text.push_str(&STANDARD_NO_PAD.encode([7u8; 32]));
            }
            text.push('\n');
        }
        text.push_str(&format!("--- {}\n", STANDARD_NO_PAD.encode([0u8; 32])));
        text.into_bytes()
    }

    fn x25519() -> (&'static str, Vec<String>) {
        (X25519_TAG, vec![STANDARD_NO_PAD.encode([9u8; 32])])
    }

    fn kage(fingerprints: usize) -> (&'static str, Vec<String>) {
        let mut args: Vec<String> = binding("k").words().map(str::to_owned).to_vec();
        args.extend((0..fingerprints).map(|i| format!("{i:016x}")));
        (FORMAT_TAG, args)
    }

    fn with_recipients(n: usize) -> Vec<(&'static str, Vec<String>)> {
        let mut stanzas: Vec<_> = (0..n).map(|_| x25519()).collect();
        stanzas.push(kage(n));
        stanzas
    }

    #[test]
    fn a_payload_bound_elsewhere_is_refused_even_under_a_valid_header() {
        let identity = Identity::generate();
        let (claimed, inside) = (binding("password"), binding("other"));
        let inside = payload_header(&inside);
        let value = with_payload(&identity, &claimed, &[inside.as_bytes(), b"hunter2"]);
        assert_eq!(value.binding(), &claimed);
        let ring = KeyRing::new([identity]);
        let opened = ring.open(&value, &Location::new("ns", "db", "password"));
        assert!(matches!(opened, Err(OpenError::Tampered)), "{opened:?}");
    }

    /// A value whose header is sound but whose payload is `payload` (binding line included).
    fn with_payload(identity: &Identity, claimed: &Binding, payload: &[&[u8]]) -> SealedValue {
        let recipients = [identity.recipient().clone()];
        let sealer = Sealer {
            recipients: &recipients,
            binding: claimed,
        };
        let encryptor = age::Encryptor::with_recipients(std::iter::once(&sealer as _)).unwrap();
        let mut age = Vec::new();
        let mut writer = encryptor.wrap_output(&mut age).unwrap();
        for part in payload {
            writer.write_all(part).unwrap();
        }
        writer.finish().unwrap();
        SealedValue::from_age_bytes(age).unwrap()
    }

    #[test]
    fn a_payload_beyond_the_value_limit_is_refused_when_opened() {
        assert_eq!(MAX_VALUE_BYTES, 1 << 20);
        let identity = Identity::generate();
        let b = binding("k");
        let ring = KeyRing::new([identity.clone()]);
        let here = Location::new("ns", "db", "k");
        let header = payload_header(&b);
        let at_limit = with_payload(
            &identity,
            &b,
            &[header.as_bytes(), &vec![1; MAX_VALUE_BYTES]],
        );
        assert_eq!(ring.open(&at_limit, &here).unwrap().len(), MAX_VALUE_BYTES);
        let over = with_payload(
            &identity,
            &b,
            &[header.as_bytes(), &vec![1; MAX_VALUE_BYTES + 1]],
        );
        assert!(matches!(ring.open(&over, &here), Err(OpenError::Tampered)));
    }

    #[test]
    fn the_recipient_limit_holds_at_its_edge() {
        assert!(SealedValue::from_age_bytes(header(&with_recipients(MAX_RECIPIENTS))).is_ok());
        assert!(matches!(
            SealedValue::from_age_bytes(header(&with_recipients(MAX_RECIPIENTS + 1))),
            Err(FormatError::BadKageStanza("too many stanzas"))
        ));
        let ids: Vec<Recipient> = (0..=MAX_RECIPIENTS)
            .map(|_| Identity::generate().recipient().clone())
            .collect();
        assert!(seal(b"v", &binding("k"), &ids[..MAX_RECIPIENTS]).is_ok());
        assert!(matches!(
            seal(b"v", &binding("k"), &ids),
            Err(SealError::TooManyRecipients(n)) if n == MAX_RECIPIENTS + 1
        ));
    }

    #[test]
    fn at_most_one_grease_stanza_is_skipped() {
        let mut one = with_recipients(1);
        one.insert(0, ("x-grease", vec!["a".to_owned()]));
        assert!(SealedValue::from_age_bytes(header(&one)).is_ok());
        let mut two = one.clone();
        two.insert(1, ("y-grease", vec!["b".to_owned()]));
        assert!(SealedValue::from_age_bytes(header(&two)).is_err());
    }

    #[test]
    fn a_short_kage_stanza_is_an_error_not_a_panic() {
        for words in 0..5 {
            let mut stanza = kage(0);
            stanza.1.truncate(words);
            let bytes = header(&[stanza]);
            assert!(matches!(
                SealedValue::from_age_bytes(bytes),
                Err(FormatError::BadKageStanza(_))
            ));
        }
    }

    #[test]
    fn fingerprints_must_match_the_x25519_stanzas_one_for_one() {
        let mut more = with_recipients(2);
        more.pop();
        more.push(kage(3));
        assert!(SealedValue::from_age_bytes(header(&more)).is_err());
        let mut fewer = with_recipients(2);
        fewer.pop();
        fewer.push(kage(1));
        assert!(SealedValue::from_age_bytes(header(&fewer)).is_err());
        assert!(SealedValue::from_age_bytes(header(&with_recipients(2))).is_ok());
    }

    #[test]
    fn the_input_size_limit_holds_at_its_edge() {
        // The largest value, sealed to the most recipients, fits under the limit, which stays
        // the documented number.
        assert_eq!(MAX_SEALED_VALUE_CHARS, 1_485_480);
        let most: Vec<Recipient> = (0..MAX_RECIPIENTS)
            .map(|_| Identity::generate().recipient().clone())
            .collect();
        let largest = seal(&vec![0xff; MAX_VALUE_BYTES], &binding("k"), &most).unwrap();
        assert!(largest.to_base64().len() <= MAX_SEALED_VALUE_CHARS);
        let at = "A".repeat(MAX_SEALED_VALUE_CHARS);
        assert!(!matches!(
            SealedValue::from_base64(&at),
            Err(FormatError::TooLarge(_))
        ));
        let over = "A".repeat(MAX_SEALED_VALUE_CHARS + 1);
        assert!(matches!(
            SealedValue::from_base64(&over),
            Err(FormatError::TooLarge(n)) if n == MAX_SEALED_VALUE_CHARS + 1
        ));
        assert!(
            seal(
                &vec![0; MAX_VALUE_BYTES],
                &binding("k"),
                &[Identity::generate().recipient().clone()]
            )
            .is_ok()
        );
        assert!(matches!(
            seal(
                &vec![0; MAX_VALUE_BYTES + 1],
                &binding("k"),
                &[Identity::generate().recipient().clone()]
            ),
            Err(SealError::ValueTooLarge(_))
        ));
    }
}
