//! Bitnami Sealed Secrets, read for `kage migrate`: its documents, its private keys and its
//! value format.
//!
//! A sealed value is base64 of `u16 length (big endian) || RSA-OAEP-SHA256(session key, label)
//! || AES-256-GCM(value)` under an all-zero nonce (each 32-byte session key seals one value).
//! The OAEP label binds the value to where it may be opened: `namespace/name` (strict),
//! `namespace` (namespace-wide) or empty (cluster-wide), as annotated on the SealedSecret.

use std::collections::BTreeMap;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kage_api::manifest::{self, Document};
use kage_core::{Plaintext, Scope};
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, RsaPrivateKey};
use serde_json::Value;
use sha2::Sha256;
use zeroize::Zeroizing;

/// `apiVersion` of a Sealed Secrets SealedSecret.
pub const API_VERSION: &str = "bitnami.com/v1alpha1";
/// Label on the Secrets holding Sealed Secrets' private keys; the controller uses those whose
/// value is `active`, and so does `kage migrate`.
pub const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";
/// The value of [`KEY_LABEL`] on keys in use.
pub const ACTIVE: &str = "active";
/// Annotation (value `"true"`) for the namespace-wide scope.
pub const NAMESPACE_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/namespace-wide";
/// Annotation (value `"true"`) for the cluster-wide scope.
pub const CLUSTER_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/cluster-wide";
/// Prefix of Sealed Secrets' own annotations, which have no meaning to kage.
const ANNOTATION_PREFIX: &str = "sealedsecrets.bitnami.com/";

/// Most private keys tried on each value: every value costs one RSA operation per key, so a
/// key file (or a cluster) with thousands of keys would make a migration crawl.
pub const MAX_KEYS: usize = 100;
/// Largest RSA modulus accepted, in bits (Sealed Secrets makes 4096-bit keys); a larger one
/// costs more per value than any real key needs.
pub const MAX_KEY_BITS: usize = 8192;
/// Most RSA private-key operations `kage migrate` spends on one file (its values times the
/// keys to try): a blinded RSA-4096 decryption costs a few milliseconds, so a file costs at
/// most about half a minute, however many values an attacker packs into it.
pub const MAX_DECRYPTIONS_PER_FILE: usize = 10_000;

/// Refuses a file whose `values` would cost more than [`MAX_DECRYPTIONS_PER_FILE`] RSA
/// operations with `keys` keys, before any is spent.
pub fn check_work(values: usize, keys: usize) -> anyhow::Result<()> {
    let work = values.saturating_mul(keys);
    if work > MAX_DECRYPTIONS_PER_FILE {
        anyhow::bail!(
            "{values} values to try with {keys} keys is {work} RSA decryptions, more than {MAX_DECRYPTIONS_PER_FILE} (MAX_DECRYPTIONS_PER_FILE): split the file, or pass only the keys that sealed it with --key-file"
        );
    }
    Ok(())
}
/// Bytes of a session key (AES-256).
const SESSION_KEY_BYTES: usize = 32;
/// Bytes of the AES-GCM tag.
const TAG_BYTES: usize = 16;

/// Why a value could not be opened. No variant carries any byte of a value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// The value is not base64 or too short to hold its parts.
    #[error("malformed sealed value: {0}")]
    Malformed(&'static str),
    /// No key opened it: sealed to another cluster's key, or for another namespace, name or
    /// scope than the SealedSecret now says.
    #[error(
        "no Sealed Secrets key opens it ({tried} tried): sealed to another key, or for another namespace, name or scope"
    )]
    NoKey {
        /// How many keys were tried.
        tried: usize,
    },
}

/// Sealed Secrets' private keys, each tried on every value as Sealed Secrets does.
#[derive(Default)]
pub struct SealingKeys {
    keys: Vec<RsaPrivateKey>,
}

impl SealingKeys {
    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Adds every RSA private key of a PEM text (`RSA PRIVATE KEY` as Sealed Secrets writes
    /// them, or PKCS#8 `PRIVATE KEY`); other blocks (certificates) are skipped. Returns how many.
    pub fn add_pem(&mut self, text: &str) -> anyhow::Result<usize> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;
        let mut added = 0;
        let mut rest = text;
        while let Some(start) = rest.find("-----BEGIN ") {
            let block = &rest[start..];
            // The label is quoted in errors: only a one-line label of capitals is one (a
            // malformed line could hold key material).
            let label = block[11..]
                .split_once("-----")
                .map(|(label, _)| label)
                .filter(|l| l.len() <= 64 && l.bytes().all(|b| b.is_ascii_uppercase() || b == b' '))
                .ok_or_else(|| anyhow::anyhow!("a PEM BEGIN line is malformed"))?;
            let end_marker = format!("-----END {label}-----");
            let Some(end) = block.find(&end_marker) else {
                anyhow::bail!("a PEM block {label:?} has no end line");
            };
            let pem = Zeroizing::new(block[..end + end_marker.len()].to_owned());
            let key = match label {
                "RSA PRIVATE KEY" => Some(
                    RsaPrivateKey::from_pkcs1_pem(&pem)
                        .map_err(|_| anyhow::anyhow!("an RSA PRIVATE KEY block is malformed"))?,
                ),
                "PRIVATE KEY" => Some(
                    RsaPrivateKey::from_pkcs8_pem(&pem)
                        .map_err(|_| anyhow::anyhow!("a PRIVATE KEY block is not an RSA key"))?,
                ),
                _ => None,
            };
            if let Some(key) = key {
                self.add(key)?;
                added += 1;
            }
            rest = &block[end + end_marker.len()..];
        }
        Ok(added)
    }

    /// Adds the keys of a key file: PEM, or the YAML/JSON of key Secrets (`kubectl get secret
    /// -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml`, a `List` or documents) whose
    /// `tls.key` holds the PEM. Returns how many.
    pub fn add_file(&mut self, text: &str) -> anyhow::Result<usize> {
        if text.contains("-----BEGIN ") {
            return self.add_pem(text);
        }
        let mut docs = manifest::read_documents(text)
            .map_err(|e| anyhow::anyhow!("neither PEM nor YAML/JSON: {e}"))?;
        let result = self.add_secrets(&docs);
        for doc in &mut docs {
            manifest::wipe(doc);
        }
        result
    }

    fn add_secrets(&mut self, docs: &[Document]) -> anyhow::Result<usize> {
        let mut added = 0;
        for doc in docs {
            let items = match doc.get("items").and_then(Value::as_array) {
                Some(items) => items.iter().collect(),
                None => vec![doc],
            };
            for secret in items {
                let Some(encoded) = secret.pointer("/data/tls.key").and_then(Value::as_str) else {
                    continue;
                };
                let pem = Zeroizing::new(
                    STANDARD
                        .decode(encoded)
                        .map_err(|_| anyhow::anyhow!("a tls.key is not base64"))?,
                );
                let pem = std::str::from_utf8(&pem)
                    .map_err(|_| anyhow::anyhow!("a tls.key is not PEM text"))?;
                added += self.add_pem(pem)?;
            }
        }
        Ok(added)
    }

    /// Adds one key, refusing more than [`MAX_KEYS`] keys or more than [`MAX_KEY_BITS`] bits.
    pub fn add(&mut self, key: RsaPrivateKey) -> anyhow::Result<()> {
        check_key_bits(key.size() * 8)?;
        if self.keys.len() >= MAX_KEYS {
            anyhow::bail!("more than {MAX_KEYS} Sealed Secrets keys (MAX_KEYS)");
        }
        if !self.keys.iter().any(|k| k.n() == key.n()) {
            self.keys.push(key);
        }
        Ok(())
    }

    /// Opens one base64 value sealed under `label`, trying every key.
    pub fn open(&self, encoded: &str, label: &str) -> Result<Plaintext, OpenError> {
        let sealed = STANDARD
            .decode(encoded.trim())
            .map_err(|_| OpenError::Malformed("not base64"))?;
        let (len, rest) = sealed
            .split_at_checked(2)
            .ok_or(OpenError::Malformed("too short"))?;
        let rsa_len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let (wrapped, body) = rest
            .split_at_checked(rsa_len)
            .ok_or(OpenError::Malformed("shorter than its RSA part"))?;
        if body.len() < TAG_BYTES {
            return Err(OpenError::Malformed("no room for the AES-GCM tag"));
        }
        for key in &self.keys {
            if key.size() != wrapped.len() {
                continue;
            }
            // Blinded: the private-key operation's timing does not follow the ciphertext.
            let Ok(session) = key
                .decrypt_blinded(
                    &mut rsa::rand_core::OsRng,
                    Oaep::new_with_label::<Sha256, _>(label),
                    wrapped,
                )
                .map(Zeroizing::new)
            else {
                continue;
            };
            if session.len() != SESSION_KEY_BYTES {
                continue;
            }
            let Ok(cipher) = Aes256Gcm::new_from_slice(&session) else {
                continue;
            };
            let mut buffer = Zeroizing::new(body.to_vec());
            if cipher
                .decrypt_in_place(&Nonce::default(), b"", &mut *buffer)
                .is_ok()
            {
                return Ok(Plaintext::from(buffer.as_slice()));
            }
        }
        Err(OpenError::NoKey {
            tried: self.keys.len(),
        })
    }
}

fn check_key_bits(bits: usize) -> anyhow::Result<()> {
    if bits > MAX_KEY_BITS {
        anyhow::bail!(
            "an RSA key has {bits} bits, more than the limit of {MAX_KEY_BITS} (MAX_KEY_BITS)"
        );
    }
    Ok(())
}

/// A Sealed Secrets SealedSecret as `kage migrate` reads it.
#[derive(Debug)]
pub struct BitnamiSealedSecret {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, when the document names one.
    pub namespace: Option<String>,
    /// The scope its annotations give.
    pub scope: Scope,
    /// `metadata.labels` of the SealedSecret itself.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations` of the SealedSecret itself, without Sealed Secrets' own.
    pub annotations: BTreeMap<String, String>,
    /// `spec.encryptedData`.
    pub encrypted_data: BTreeMap<String, String>,
    /// `spec.template.type`.
    pub type_: Option<String>,
    /// `spec.template.immutable`.
    pub immutable: Option<bool>,
    /// `spec.template.metadata.labels`.
    pub template_labels: BTreeMap<String, String>,
    /// `spec.template.metadata.annotations`, without Sealed Secrets' own.
    pub template_annotations: BTreeMap<String, String>,
    /// `spec.template.data`: Go templates by output key; `None` removes the key.
    pub template_data: BTreeMap<String, Option<String>>,
}

/// Whether a document is a Sealed Secrets SealedSecret.
pub fn is_bitnami(doc: &Document) -> bool {
    manifest::api_version(doc) == Some(API_VERSION) && manifest::kind(doc) == Some("SealedSecret")
}

fn strings(doc: &Value, pointer: &str) -> anyhow::Result<BTreeMap<String, String>> {
    match doc.pointer(pointer) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(anyhow::anyhow!("{pointer}/{k} is not a string")),
            })
            .collect(),
        Some(_) => Err(anyhow::anyhow!("{pointer} is not a mapping")),
    }
}

fn without_sealed_secrets_annotations(
    mut map: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    map.retain(|k, _| {
        !k.starts_with(ANNOTATION_PREFIX) && k != kage_api::seal::LAST_APPLIED_ANNOTATION
    });
    map
}

impl BitnamiSealedSecret {
    /// Reads a `bitnami.com/v1alpha1` SealedSecret document.
    pub fn from_document(doc: &Document) -> anyhow::Result<Self> {
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| anyhow::anyhow!("a SealedSecret has no metadata.name"))?
            .to_owned();
        if doc.pointer("/spec/data").is_some_and(|d| !d.is_null()) {
            anyhow::bail!(
                "{name}: spec.data (Sealed Secrets' pre-0.7 single-blob format) is not supported; re-encrypt it with kubeseal first"
            );
        }
        let annotations = strings(doc, "/metadata/annotations")?;
        let scope = if annotations
            .get(CLUSTER_WIDE_ANNOTATION)
            .is_some_and(|v| v == "true")
        {
            Scope::ClusterWide
        } else if annotations
            .get(NAMESPACE_WIDE_ANNOTATION)
            .is_some_and(|v| v == "true")
        {
            Scope::NamespaceWide
        } else {
            Scope::Strict
        };
        let template_data = match doc.pointer("/spec/template/data") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), Some(s.clone()))),
                    Value::Null => Ok((k.clone(), None)),
                    _ => Err(anyhow::anyhow!(
                        "{name}: spec.template.data.{k} is not a string"
                    )),
                })
                .collect::<anyhow::Result<_>>()?,
            Some(_) => anyhow::bail!("{name}: spec.template.data is not a mapping"),
        };
        Ok(BitnamiSealedSecret {
            namespace: doc
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_owned),
            scope,
            labels: strings(doc, "/metadata/labels")?,
            annotations: without_sealed_secrets_annotations(annotations),
            encrypted_data: strings(doc, "/spec/encryptedData")?,
            type_: doc
                .pointer("/spec/template/type")
                .and_then(Value::as_str)
                .map(str::to_owned),
            immutable: doc
                .pointer("/spec/template/immutable")
                .and_then(Value::as_bool),
            template_labels: strings(doc, "/spec/template/metadata/labels")?,
            template_annotations: without_sealed_secrets_annotations(strings(
                doc,
                "/spec/template/metadata/annotations",
            )?),
            template_data,
            name,
        })
    }

    /// The OAEP label its values were sealed under, in `namespace`.
    pub fn label(&self, namespace: &str) -> String {
        match self.scope {
            Scope::Strict => format!("{namespace}/{}", self.name),
            Scope::NamespaceWide => namespace.to_owned(),
            Scope::ClusterWide => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use rsa::RsaPublicKey;

    use super::*;

    /// Seals as Sealed Secrets does (the test's stand-in for kubeseal; the e2e suite uses the
    /// real one).
    fn seal(public: &RsaPublicKey, value: &[u8], label: &str) -> String {
        use aes_gcm::aead::Aead;
        let session = [7u8; SESSION_KEY_BYTES];
        let wrapped = public
            .encrypt(
                &mut rsa::rand_core::OsRng,
                Oaep::new_with_label::<Sha256, _>(label),
                &session,
            )
            .unwrap();
        let body = Aes256Gcm::new_from_slice(&session)
            .unwrap()
            .encrypt(&Nonce::default(), value)
            .unwrap();
        let mut out = u16::try_from(wrapped.len()).unwrap().to_be_bytes().to_vec();
        out.extend(wrapped);
        out.extend(body);
        STANDARD.encode(out)
    }

    fn key() -> RsaPrivateKey {
        RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap()
    }

    #[test]
    fn a_value_opens_only_under_its_own_label_and_with_its_own_key() {
        let (a, b) = (key(), key());
        let sealed = seal(&a.to_public_key(), b"hunter2", "prod/db");
        let mut keys = SealingKeys::default();
        keys.add(b).unwrap();
        assert_eq!(
            keys.open(&sealed, "prod/db"),
            Err(OpenError::NoKey { tried: 1 })
        );
        keys.add(a).unwrap();
        assert_eq!(
            keys.open(&sealed, "prod/db").unwrap().as_bytes(),
            b"hunter2"
        );
        for other in ["prod/other", "prod", "", "staging/db"] {
            assert_eq!(
                keys.open(&sealed, other),
                Err(OpenError::NoKey { tried: 2 }),
                "{other}"
            );
        }
    }

    #[test]
    fn a_tampered_value_is_refused_and_the_error_shows_none_of_it() {
        let a = key();
        let sealed = seal(&a.to_public_key(), b"hunter2", "");
        let mut keys = SealingKeys::default();
        keys.add(a).unwrap();
        let mut bytes = STANDARD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let err = keys.open(&STANDARD.encode(&bytes), "").unwrap_err();
        assert_eq!(err, OpenError::NoKey { tried: 1 });
        for short in ["", "AA==", "AQAB"] {
            assert!(
                matches!(keys.open(short, ""), Err(OpenError::Malformed(_))),
                "{short}"
            );
        }
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn pem_and_secret_files_give_their_keys_and_limits_are_refused() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::EncodePrivateKey;
        let (a, b) = (key(), key());
        let pkcs1 = a.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let pkcs8 = b.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let mut keys = SealingKeys::default();
        let text = format!(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n{}{}",
            *pkcs1, *pkcs8
        );
        assert_eq!(keys.add_file(&text).unwrap(), 2);
        assert_eq!(keys.len(), 2);

        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Secret", "data": {"tls.key": STANDARD.encode(pkcs1.as_bytes())}},
        ]});
        let mut from_secrets = SealingKeys::default();
        assert_eq!(from_secrets.add_file(&list.to_string()).unwrap(), 1);

        let mut full = SealingKeys::default();
        let one = key();
        for _ in 0..MAX_KEYS {
            full.keys.push(one.clone());
        }
        let err = full.add(key()).unwrap_err().to_string();
        assert!(err.contains("MAX_KEYS"), "{err}");
        assert!(check_key_bits(4096).is_ok());
        let err = check_key_bits(MAX_KEY_BITS + 8).unwrap_err().to_string();
        assert!(err.contains("MAX_KEY_BITS"), "{err}");
        assert!(
            SealingKeys::default()
                .add_pem("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n")
                .is_err()
        );
        // A broken BEGIN line is not quoted: it could run into the key material.
        let err = SealingKeys::default()
            .add_pem(
                "-----BEGIN RSA PRIVATE KEY\nMIIEsecretmaterial\n-----END RSA PRIVATE KEY-----\n",
            )
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secretmaterial"), "{err}");
    }

    #[test]
    fn a_file_costing_more_rsa_work_than_the_limit_is_refused_before_any_is_spent() {
        assert!(check_work(MAX_DECRYPTIONS_PER_FILE, 1).is_ok());
        assert!(check_work(MAX_DECRYPTIONS_PER_FILE / 4, 4).is_ok());
        let err = check_work(MAX_DECRYPTIONS_PER_FILE / 4 + 1, 4)
            .unwrap_err()
            .to_string();
        assert!(err.contains("MAX_DECRYPTIONS_PER_FILE"), "{err}");
        assert!(check_work(usize::MAX, 2).is_err());
    }

    proptest::proptest! {
        /// A sealed value comes from a file anyone may write: any bytes are refused cleanly.
        #[test]
        fn any_value_is_refused_without_a_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let keys = SealingKeys { keys: vec![test_key().clone()] };
            proptest::prop_assert!(keys.open(&STANDARD.encode(&bytes), "ns/name").is_err());
        }

        /// The same with a well-formed length, so that the RSA and AES steps run on garbage.
        #[test]
        fn any_well_framed_value_is_refused_without_a_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 128..400)) {
            let keys = SealingKeys { keys: vec![test_key().clone()] };
            let mut bytes = 128u16.to_be_bytes().to_vec();
            bytes.extend(body);
            proptest::prop_assert!(keys.open(&STANDARD.encode(&bytes), "").is_err());
        }
    }

    /// One key for the property test (RSA key generation is slow).
    fn test_key() -> &'static RsaPrivateKey {
        static KEY: std::sync::OnceLock<RsaPrivateKey> = std::sync::OnceLock::new();
        KEY.get_or_init(key)
    }

    #[test]
    fn the_scope_comes_from_the_sealed_secrets_annotations() {
        let doc = |annotations: Value| {
            serde_json::json!({"apiVersion": API_VERSION, "kind": "SealedSecret",
                "metadata": {"name": "db", "namespace": "prod", "annotations": annotations},
                "spec": {"encryptedData": {"password": "AA=="}}})
        };
        let read = |a| BitnamiSealedSecret::from_document(&doc(a)).unwrap();
        let strict = read(serde_json::json!({}));
        assert_eq!(
            (strict.scope, strict.label("prod")),
            (Scope::Strict, "prod/db".to_owned())
        );
        let wide = read(serde_json::json!({NAMESPACE_WIDE_ANNOTATION: "true"}));
        assert_eq!(
            (wide.scope, wide.label("prod")),
            (Scope::NamespaceWide, "prod".to_owned())
        );
        let cluster = read(serde_json::json!({CLUSTER_WIDE_ANNOTATION: "true", "team": "a"}));
        assert_eq!(
            (cluster.scope, cluster.label("prod")),
            (Scope::ClusterWide, String::new())
        );
        assert_eq!(cluster.annotations.keys().collect::<Vec<_>>(), ["team"]);
        let mut old = doc(serde_json::json!({}));
        old["spec"]["data"] = "AAAA".into();
        assert!(BitnamiSealedSecret::from_document(&old).is_err());
    }
}
