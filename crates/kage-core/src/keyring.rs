//! Opening sealed values with any number of identities.
//!
//! A sealed value names the fingerprints of the keys that can open it, so the [`KeyRing`] picks
//! the one stanza it can unwrap and does a single X25519 operation, however many keys it holds.

use std::collections::HashMap;

use age_core::format::{FileKey, Stanza};
use age_core::primitives::{aead_decrypt, hkdf};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use x25519_dalek::PublicKey;
use zeroize::Zeroize;

use crate::binding::{BindingError, Location};
use crate::identity::{Fingerprint, Identity};
use crate::plaintext::Plaintext;
use crate::value::{SealedValue, X25519_LABEL, X25519_TAG, read_payload};

/// Why a value could not be opened. Never contains plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// The value was sealed for another place.
    #[error(transparent)]
    Binding(#[from] BindingError),
    /// None of the keys held can open the value.
    #[error("no key here can open this value (sealed to {})", list(.sealed_to))]
    NoKey {
        /// Fingerprints of the keys the value was sealed to.
        sealed_to: Vec<Fingerprint>,
    },
    /// The value was modified after sealing, or its header does not match its payload.
    #[error("sealed value is corrupt or was tampered with")]
    Tampered,
}

fn list(fingerprints: &[Fingerprint]) -> String {
    let names: Vec<String> = fingerprints.iter().map(ToString::to_string).collect();
    names.join(", ")
}

/// A set of identities, looked up by fingerprint.
#[derive(Clone, Debug, Default)]
pub struct KeyRing {
    keys: HashMap<Fingerprint, Identity>,
}

impl KeyRing {
    /// A ring holding `identities`.
    pub fn new(identities: impl IntoIterator<Item = Identity>) -> Self {
        let mut ring = KeyRing::default();
        identities.into_iter().for_each(|id| ring.insert(id));
        ring
    }

    /// Adds an identity (replacing one with the same fingerprint).
    pub fn insert(&mut self, identity: Identity) {
        self.keys.insert(identity.fingerprint(), identity);
    }

    /// Removes the identity with this fingerprint.
    pub fn remove(&mut self, fingerprint: &Fingerprint) -> Option<Identity> {
        self.keys.remove(fingerprint)
    }

    /// Whether the ring holds this key.
    pub fn contains(&self, fingerprint: &Fingerprint) -> bool {
        self.keys.contains_key(fingerprint)
    }

    /// Number of identities held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Fingerprints of the keys held, sorted.
    pub fn fingerprints(&self) -> Vec<Fingerprint> {
        let mut fps: Vec<_> = self.keys.keys().copied().collect();
        fps.sort();
        fps
    }

    /// Opens `value` found at `found`: checks the binding, unwraps the one stanza addressed to
    /// a key held here, and checks that the authenticated payload carries the same binding.
    pub fn open(&self, value: &SealedValue, found: &Location) -> Result<Plaintext, OpenError> {
        value.binding().check(found)?;
        let (index, identity) = value
            .recipients()
            .iter()
            .enumerate()
            .find_map(|(i, fp)| self.keys.get(fp).map(|id| (i, id)))
            .ok_or_else(|| OpenError::NoKey {
                sealed_to: value.recipients().to_vec(),
            })?;
        let opener = StanzaOpener { identity, index };
        let decryptor =
            age::Decryptor::new_buffered(value.age_bytes()).map_err(|_| OpenError::Tampered)?;
        let reader = decryptor
            .decrypt(std::iter::once(&opener as _))
            .map_err(|_| OpenError::Tampered)?;
        // The payload is never longer than the ciphertext: one buffer of that size, no regrowth
        // leaving copies of the plaintext behind.
        read_payload(reader, value.binding(), value.age_bytes().len()).ok_or(OpenError::Tampered)
    }
}

/// age identity that unwraps only the `index`-th X25519 stanza, with one Diffie-Hellman.
struct StanzaOpener<'a> {
    identity: &'a Identity,
    index: usize,
}

impl age::Identity for StanzaOpener<'_> {
    fn unwrap_stanza(&self, _: &Stanza) -> Option<Result<FileKey, age::DecryptError>> {
        None // only whole headers are unwrapped, in unwrap_stanzas
    }

    fn unwrap_stanzas(&self, stanzas: &[Stanza]) -> Option<Result<FileKey, age::DecryptError>> {
        let stanza = stanzas
            .iter()
            .filter(|s| s.tag == X25519_TAG)
            .nth(self.index)?;
        Some(unwrap_x25519(self.identity, stanza).ok_or(age::DecryptError::InvalidHeader))
    }
}

/// The age X25519 unwrap (c2sp.org/age), with the identity's public key already known.
fn unwrap_x25519(identity: &Identity, stanza: &Stanza) -> Option<FileKey> {
    let [share] = stanza.args.as_slice() else {
        return None;
    };
    let share: [u8; 32] = STANDARD_NO_PAD.decode(share).ok()?.try_into().ok()?;
    let epk = PublicKey::from(share);
    let shared = identity.diffie_hellman(&epk);
    if !shared.was_contributory() {
        return None;
    }
    let mut salt = [0; 64];
    salt[..32].copy_from_slice(epk.as_bytes());
    salt[32..].copy_from_slice(identity.recipient().public_key().as_bytes());
    let wrap_key = zeroize::Zeroizing::new(hkdf(&salt, X25519_LABEL, shared.as_bytes()));
    let mut file_key = aead_decrypt(&wrap_key, 16, &stanza.body).ok()?;
    let key = FileKey::init_with_mut(|k| k.copy_from_slice(&file_key));
    file_key.zeroize();
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::{Binding, Scope};
    use crate::value::seal;

    fn here() -> Location {
        Location::new("prod", "db", "password")
    }

    #[test]
    fn a_ring_counts_finds_and_drops_its_keys() {
        let (a, b) = (Identity::generate(), Identity::generate());
        let mut ring = KeyRing::default();
        assert!(ring.is_empty());
        assert_eq!(ring.len(), 0);
        ring.insert(a.clone());
        ring.insert(b.clone());
        assert!(!ring.is_empty());
        assert_eq!(ring.len(), 2);
        assert!(ring.contains(&a.fingerprint()));
        assert!(!ring.contains(&Identity::generate().fingerprint()));
        let removed = ring.remove(&a.fingerprint()).expect("a was in the ring");
        assert_eq!(removed.fingerprint(), a.fingerprint());
        assert!(!ring.contains(&a.fingerprint()));
        assert_eq!(ring.fingerprints(), vec![b.fingerprint()]);
        assert!(ring.remove(&a.fingerprint()).is_none());
    }

    #[test]
    fn a_ring_with_many_keys_opens_a_value_sealed_to_one_of_them() {
        let ids: Vec<Identity> = (0..20).map(|_| Identity::generate()).collect();
        let binding = Binding::new(Scope::Strict, &here()).unwrap();
        let sealed = seal(b"s3cret", &binding, &[ids[13].recipient().clone()]).unwrap();
        let ring = KeyRing::new(ids);
        assert_eq!(ring.open(&sealed, &here()).unwrap().as_bytes(), b"s3cret");
    }

    #[test]
    fn a_ring_without_the_key_names_the_keys_needed() {
        let sealed_to = Identity::generate();
        let binding = Binding::new(Scope::Strict, &here()).unwrap();
        let sealed = seal(b"x", &binding, &[sealed_to.recipient().clone()]).unwrap();
        let err = KeyRing::new([Identity::generate()])
            .open(&sealed, &here())
            .unwrap_err();
        assert_eq!(
            err,
            OpenError::NoKey {
                sealed_to: vec![sealed_to.fingerprint()]
            }
        );
        assert!(
            err.to_string()
                .contains(&sealed_to.fingerprint().to_string())
        );
    }
}
