//! Identities (private keys), recipients (public keys) and their fingerprints.
//!
//! Both use age's X25519 text encodings, so any age tool reads kage key files:
//! identities are `AGE-SECRET-KEY-1...`, recipients are `age1...`.

use std::fmt;
use std::str::FromStr;

use bech32::{Bech32, Hrp};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

const RECIPIENT_HRP: &str = "age";
const IDENTITY_HRP: &str = "age-secret-key-";

/// Length in bytes of a [`Fingerprint`].
pub const FINGERPRINT_LEN: usize = 8;

/// Why a key string could not be read. Never contains the key itself.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The string is not an `age1...` recipient.
    #[error("not an age X25519 recipient (expected age1...)")]
    NotARecipient,
    /// An `age1...` string whose checksum does not match: a character mistyped or lost.
    #[error(
        "this age1... recipient's checksum does not match: a character was mistyped or lost in copying"
    )]
    RecipientChecksum,
    /// The string is not an `AGE-SECRET-KEY-1...` identity.
    #[error("not an age X25519 identity (expected AGE-SECRET-KEY-1...)")]
    NotAnIdentity,
    /// A fingerprint is not 16 hexadecimal digits.
    #[error("not a key fingerprint (expected {} hex digits)", FINGERPRINT_LEN * 2)]
    NotAFingerprint,
}

/// A short, stable name for a public key: the first 8 bytes of SHA-256 over the label
/// `kage.dev/fingerprint` and the 32-byte X25519 public key, printed as 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; FINGERPRINT_LEN]);

impl Fingerprint {
    fn of(public: &PublicKey) -> Self {
        let digest = Sha256::new()
            .chain_update(b"kage.dev/fingerprint")
            .chain_update(public.as_bytes())
            .finalize();
        let mut fp = [0; FINGERPRINT_LEN];
        fp.copy_from_slice(&digest[..FINGERPRINT_LEN]);
        Fingerprint(fp)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        if s.len() != FINGERPRINT_LEN * 2 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(KeyError::NotAFingerprint);
        }
        let mut fp = [0; FINGERPRINT_LEN];
        for (i, byte) in fp.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)
                .map_err(|_| KeyError::NotAFingerprint)?;
        }
        Ok(Fingerprint(fp))
    }
}

/// A public key values are sealed to: an `age1...` X25519 recipient.
#[derive(Clone, PartialEq, Eq)]
pub struct Recipient {
    public: PublicKey,
    fingerprint: Fingerprint,
}

impl Recipient {
    fn from_public(public: PublicKey) -> Self {
        Recipient {
            fingerprint: Fingerprint::of(&public),
            public,
        }
    }

    /// The recipient's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    pub(crate) fn public_key(&self) -> &PublicKey {
        &self.public
    }
}

impl FromStr for Recipient {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        let (hrp, data) = bech32::decode(s.trim()).map_err(|e| match e {
            bech32::DecodeError::Checksum(_) if s.trim().starts_with("age1") => {
                KeyError::RecipientChecksum
            }
            _ => KeyError::NotARecipient,
        })?;
        if hrp.as_str() != RECIPIENT_HRP || s.trim() != s.trim().to_lowercase() {
            return Err(KeyError::NotARecipient);
        }
        let bytes: [u8; 32] = data.try_into().map_err(|_| KeyError::NotARecipient)?;
        let public = PublicKey::from(bytes);
        // A low-order point would make every shared secret zero: refuse it once, here.
        let probe = x25519_dalek::EphemeralSecret::random_from_rng(rand::rngs::OsRng);
        if !probe.diffie_hellman(&public).was_contributory() {
            return Err(KeyError::NotARecipient);
        }
        Ok(Recipient::from_public(public))
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hrp = Hrp::parse_unchecked(RECIPIENT_HRP);
        bech32::encode_to_fmt::<Bech32, _>(f, hrp, self.public.as_bytes()).map_err(|_| fmt::Error)
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({self}, {})", self.fingerprint)
    }
}

/// A private key: an `AGE-SECRET-KEY-1...` X25519 identity.
///
/// The secret scalar is wiped on drop and never printed: `Debug` shows the fingerprint only,
/// and the secret string is only reachable through [`Identity::to_secret_string`].
#[derive(Clone)]
pub struct Identity {
    secret: StaticSecret,
    // Cached so that opening a value costs one X25519 operation, not two.
    recipient: Recipient,
}

impl Identity {
    /// A new random identity.
    pub fn generate() -> Self {
        Self::from_secret(StaticSecret::random_from_rng(rand::rngs::OsRng))
    }

    fn from_secret(secret: StaticSecret) -> Self {
        let recipient = Recipient::from_public(PublicKey::from(&secret));
        Identity { secret, recipient }
    }

    /// The public half, to seal values to.
    pub fn recipient(&self) -> &Recipient {
        &self.recipient
    }

    /// The fingerprint of the public half.
    pub fn fingerprint(&self) -> Fingerprint {
        self.recipient.fingerprint
    }

    /// The `AGE-SECRET-KEY-1...` string, in a buffer wiped on drop.
    #[allow(
        clippy::expect_used,
        reason = "32 bytes under a fixed, valid prefix always encode"
    )]
    pub fn to_secret_string(&self) -> Zeroizing<String> {
        let hrp = Hrp::parse_unchecked(IDENTITY_HRP);
        let bytes = Zeroizing::new(self.secret.to_bytes());
        let mut encoded = Zeroizing::new(
            bech32::encode::<Bech32>(hrp, bytes.as_slice()).expect("32 bytes always encode"),
        );
        // In place: an upper-cased copy would be a second, unwiped copy of the key.
        encoded.make_ascii_uppercase();
        encoded
    }

    pub(crate) fn diffie_hellman(&self, their_public: &PublicKey) -> x25519_dalek::SharedSecret {
        self.secret.diffie_hellman(their_public)
    }

    /// Reads every identity in an age identity file: one `AGE-SECRET-KEY-1...` per line,
    /// `#` comments and blank lines ignored.
    pub fn parse_file(text: &str) -> Result<Vec<Identity>, KeyError> {
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(Identity::from_str)
            .collect()
    }
}

impl FromStr for Identity {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        // Checked without making an (unwiped) upper-case copy of the key.
        if s.bytes().any(|b| b.is_ascii_lowercase()) {
            return Err(KeyError::NotAnIdentity);
        }
        let (hrp, data) = bech32::decode(s).map_err(|_| KeyError::NotAnIdentity)?;
        let data = Zeroizing::new(data);
        if !hrp.as_str().eq_ignore_ascii_case(IDENTITY_HRP) {
            return Err(KeyError::NotAnIdentity);
        }
        let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(
            data.as_slice()
                .try_into()
                .map_err(|_| KeyError::NotAnIdentity)?,
        );
        Ok(Identity::from_secret(StaticSecret::from(*bytes)))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({}, secret redacted)", self.fingerprint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_string_round_trips_and_matches_its_recipient() {
        let id = Identity::generate();
        let text = id.to_secret_string();
        assert!(text.starts_with("AGE-SECRET-KEY-1"));
        let back: Identity = text.parse().unwrap();
        assert_eq!(back.recipient(), id.recipient());
        let recipient: Recipient = id.recipient().to_string().parse().unwrap();
        assert_eq!(&recipient, id.recipient());
        assert!(recipient.to_string().starts_with("age1"));
    }

    #[test]
    fn keys_interoperate_with_the_age_crate() {
        let id = Identity::generate();
        let theirs: age::x25519::Identity = id.to_secret_string().parse().unwrap();
        assert_eq!(theirs.to_public().to_string(), id.recipient().to_string());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let id = Identity::generate();
        let debug = format!("{id:?}");
        let secret = id.to_secret_string();
        assert!(!debug.contains(&secret[16..]));
        assert!(debug.contains(&id.fingerprint().to_string()));
    }

    #[test]
    fn fingerprint_is_stable_and_parses_back() {
        let r: Recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
            .parse()
            .unwrap();
        let fp = r.fingerprint();
        assert_eq!(fp.to_string().len(), 16);
        assert_eq!(fp.to_string().parse::<Fingerprint>().unwrap(), fp);
        assert_eq!(fp.to_string(), "190c7beba64600d7");
    }

    #[test]
    fn wrong_strings_are_refused() {
        assert_eq!(
            "ssh-ed25519 AAAA".parse::<Recipient>(),
            Err(KeyError::NotARecipient)
        );
        assert!("AGE-SECRET-KEY-1QQQ".parse::<Identity>().is_err());
        assert!("zz".parse::<Fingerprint>().is_err());
        let good = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
        let mistyped = good.replace("zmrj", "zmrk");
        assert_eq!(
            mistyped.parse::<Recipient>(),
            Err(KeyError::RecipientChecksum)
        );
        let truncated = &good[..good.len() - 1];
        assert_eq!(
            truncated.parse::<Recipient>(),
            Err(KeyError::RecipientChecksum)
        );
        assert_eq!(
            mistyped.replacen("age1", "agf1", 1).parse::<Recipient>(),
            Err(KeyError::NotARecipient)
        );
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn a_private_key_is_never_taken_for_a_recipient_in_any_case() {
        let identity = Identity::generate();
        let secret = identity.to_secret_string();
        assert!(secret.parse::<Recipient>().is_err());
        assert!(secret.to_lowercase().parse::<Recipient>().is_err());
        assert!(
            secret.to_lowercase().parse::<Identity>().is_err(),
            "identities are upper case"
        );
        assert!(secret.parse::<Identity>().is_ok());
    }

    #[test]
    fn an_identity_file_yields_every_key_and_skips_comments_and_blank_lines() {
        let (a, b) = (Identity::generate(), Identity::generate());
        let file = format!(
            "# created: now\n# public key: {}\n{}\n\n   \n  {}  \n",
            a.recipient(),
            *a.to_secret_string(),
            *b.to_secret_string()
        );
        let parsed = Identity::parse_file(&file).unwrap();
        let fingerprints: Vec<_> = parsed.iter().map(Identity::fingerprint).collect();
        assert_eq!(fingerprints, [a.fingerprint(), b.fingerprint()]);
        assert!(
            Identity::parse_file("# only a comment\n")
                .unwrap()
                .is_empty()
        );
        assert!(Identity::parse_file("not a key\n").is_err());
    }

    #[test]
    fn debug_output_names_public_parts_only() {
        let identity = Identity::generate();
        let recipient = identity.recipient();
        let fingerprint = recipient.fingerprint().to_string();
        assert_eq!(
            format!("{:?}", recipient.fingerprint()),
            format!("Fingerprint({fingerprint})")
        );
        assert_eq!(
            format!("{recipient:?}"),
            format!("Recipient({recipient}, {fingerprint})")
        );
        let debug = format!("{identity:?}");
        assert!(!debug.contains(&*identity.to_secret_string()));
    }

    #[test]
    fn fingerprints_are_exactly_sixteen_hex_digits() {
        assert!("0123456789abcdef".parse::<Fingerprint>().is_ok());
        for bad in [
            "0123456789abcdef01",
            "0123456789abcde",
            "+1+2+3+4+5+6+7+8",
            "0123456789abcdeg",
            "",
        ] {
            assert!(bad.parse::<Fingerprint>().is_err(), "{bad}");
        }
    }
}
