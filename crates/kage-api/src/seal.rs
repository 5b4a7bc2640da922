//! Secret -> SealedSecret, and reading SealedSecret documents.
//!
//! Sealing keeps only what a Secret means (name, namespace, type, labels, annotations,
//! immutable, data and stringData): server-side fields, `managedFields`, `status` and
//! `kubectl.kubernetes.io/last-applied-configuration` are dropped. Values move into zeroizing
//! buffers as soon as they are read.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kage_core::{
    Binding, BindingError, FormatError, Location, OpenError, Plaintext, Recipient, Scope,
    SealError, SealedValue, seal,
};
use serde_json::Value;

use crate::crd::{SealedSecret, SealedSecretSpec, SecretTemplate, TemplateMetadata};
use crate::limits::{
    CONTENT_CHECKED_KEYS, MAX_KEY_LEN, MAX_NAME_LEN, MAX_NAMESPACE_LEN, MAX_SECRET_DATA_BYTES,
    is_valid_key,
};
use crate::manifest::{self, Document};
use crate::template::TemplateError;

/// Annotation kubectl writes with a full copy of the object, values included.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Why a Secret could not be sealed or a SealedSecret opened. Names keys, never values.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The document is not a `v1` `Secret`.
    #[error("expected a v1 Secret, found {api_version}/{kind}")]
    NotASecret {
        /// The document's apiVersion.
        api_version: String,
        /// The document's kind.
        kind: String,
    },
    /// The document is not a `kage.dev/v1alpha1` `SealedSecret`.
    #[error("expected a kage.dev/v1alpha1 SealedSecret, found {api_version}/{kind}")]
    NotASealedSecret {
        /// The document's apiVersion.
        api_version: String,
        /// The document's kind.
        kind: String,
    },
    /// A field has the wrong shape.
    #[error("field {field} is malformed: {reason}")]
    Malformed {
        /// Path of the field.
        field: String,
        /// What is wrong with it (never its value).
        reason: &'static str,
    },
    /// The object has no `metadata.name`.
    #[error("the Secret has no metadata.name (pass --name)")]
    MissingName,
    /// A data key Kubernetes would refuse.
    #[error(
        "data key {0:?} is not valid: use letters, digits, '-', '_' or '.' (at most {MAX_KEY_LEN})"
    )]
    InvalidKey(String),
    /// A data key given twice on the command line.
    #[error("data key {0:?} is given twice: each key once (kubectl refuses it too)")]
    DuplicateKey(String),
    /// A name or namespace the API server refuses.
    #[error("{what} {value:?} is not valid: {rule}")]
    InvalidName {
        /// `name` or `namespace`.
        what: &'static str,
        /// The name given.
        value: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// A typed Secret without the keys the API server requires for its type.
    #[error("a Secret of type {type_} needs {needs}: the API server refuses it without")]
    TypeNeeds {
        /// The Secret type.
        type_: String,
        /// The keys it needs, in words.
        needs: &'static str,
    },
    /// A value the API server parses as JSON that is not.
    #[error(
        "key {key:?} of a {type_} Secret must hold JSON (the API server parses it): it does not"
    )]
    NotJson {
        /// The data key.
        key: String,
        /// The Secret type.
        type_: String,
    },
    /// The values add up to more than [`MAX_SECRET_DATA_BYTES`].
    #[error("the Secret's values total {0} bytes, more than the limit of {MAX_SECRET_DATA_BYTES}")]
    TooLarge(usize),
    /// The Secret has no values at all.
    #[error("the Secret has no data or stringData to seal")]
    NoData,
    /// A binding could not be made for a key.
    #[error("cannot bind key {key:?}")]
    Binding {
        /// The data key.
        key: String,
        /// Why.
        #[source]
        source: BindingError,
    },
    /// Sealing a value failed.
    #[error("cannot seal key {key:?}")]
    Seal {
        /// The data key.
        key: String,
        /// Why.
        #[source]
        source: SealError,
    },
    /// A sealed value could not be read.
    #[error("sealed value of key {key:?} is malformed")]
    Format {
        /// The data key.
        key: String,
        /// Why.
        #[source]
        source: FormatError,
    },
    /// The templates are refused (decided before any value is opened).
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A sealed value could not be opened.
    #[error("cannot unseal key {key:?}")]
    Open {
        /// The data key.
        key: String,
        /// Why.
        #[source]
        source: OpenError,
    },
}

/// A Secret read from a manifest or built from command-line flags, values in zeroizing buffers.
#[derive(Debug, Default)]
pub struct SecretInput {
    /// `metadata.name`.
    pub name: Option<String>,
    /// `metadata.namespace`, when the input names one.
    pub namespace: Option<String>,
    /// `type`.
    pub type_: Option<String>,
    /// `immutable`.
    pub immutable: Option<bool>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations, without `last-applied-configuration`.
    pub annotations: BTreeMap<String, String>,
    /// `data` merged with `stringData` (which wins, as on the API server).
    pub data: BTreeMap<String, Plaintext>,
}

fn malformed(field: &str, reason: &'static str) -> ConvertError {
    ConvertError::Malformed {
        field: field.to_owned(),
        reason,
    }
}

fn string_map(doc: &Value, field: &str) -> Result<BTreeMap<String, String>, ConvertError> {
    match doc.pointer(&format!("/metadata/{field}")) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(malformed(&format!("metadata.{field}.{k}"), "not a string")),
            })
            .collect(),
        Some(_) => Err(malformed(&format!("metadata.{field}"), "not a mapping")),
    }
}

fn optional_str(doc: &Value, pointer: &str, field: &str) -> Result<Option<String>, ConvertError> {
    match doc.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(malformed(field, "not a string")),
    }
}

/// Refuses a Secret name (DNS subdomain) or namespace (DNS label) the API server would refuse.
pub fn check_name(name: &str, namespace: &str) -> Result<(), ConvertError> {
    let label = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    if name.len() > MAX_NAME_LEN || !name.split('.').all(label) {
        return Err(ConvertError::InvalidName {
            what: "name",
            value: name.to_owned(),
            rule: "lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters",
        });
    }
    if !namespace.is_empty() && (namespace.len() > MAX_NAMESPACE_LEN || !label(namespace)) {
        return Err(ConvertError::InvalidName {
            what: "namespace",
            value: namespace.to_owned(),
            rule: "lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters",
        });
    }
    Ok(())
}

/// The keys the API server requires of a Secret type: all of them, or (for basic-auth) one.
const REQUIRED_KEYS: &[(&str, &[&str], bool, &str)] = &[
    (
        "kubernetes.io/tls",
        &["tls.crt", "tls.key"],
        true,
        "both tls.crt and tls.key",
    ),
    (
        "kubernetes.io/ssh-auth",
        &["ssh-privatekey"],
        true,
        "ssh-privatekey",
    ),
    (
        "kubernetes.io/basic-auth",
        &["username", "password"],
        false,
        "username or password",
    ),
    (
        "kubernetes.io/dockerconfigjson",
        &[".dockerconfigjson"],
        true,
        ".dockerconfigjson",
    ),
    (
        "kubernetes.io/dockercfg",
        &[".dockercfg"],
        true,
        ".dockercfg",
    ),
];

/// Refuses a Secret of `type_` whose data keys (after templates) lack what the API server
/// requires for that type.
pub fn check_type_keys<'a>(
    type_: &str,
    keys: impl IntoIterator<Item = &'a str>,
) -> Result<(), ConvertError> {
    let Some((_, required, all, needs)) = REQUIRED_KEYS.iter().find(|(t, ..)| *t == type_) else {
        return Ok(());
    };
    let keys: Vec<&str> = keys.into_iter().collect();
    let present = |k: &&str| keys.contains(k);
    let ok = if *all {
        required.iter().all(present)
    } else {
        required.iter().any(present)
    };
    if ok {
        Ok(())
    } else {
        Err(ConvertError::TypeNeeds {
            type_: type_.to_owned(),
            needs,
        })
    }
}

/// [`check_type_keys`] for the Secret a SealedSecret stands for: its sealed keys not omitted,
/// and its templated keys.
pub fn check_sealed_type(sealed: &SealedSecret) -> Result<(), ConvertError> {
    let template = sealed.spec.template.as_ref();
    let type_ = template
        .and_then(|t| t.type_.as_deref())
        .unwrap_or("Opaque");
    let omitted = |k: &str| template.is_some_and(|t| t.omit.iter().any(|o| o == k));
    let keys = sealed
        .spec
        .encrypted_data
        .keys()
        .map(String::as_str)
        .filter(|k| !omitted(k))
        .chain(
            template
                .into_iter()
                .flat_map(|t| t.data.keys().map(String::as_str)),
        );
    check_type_keys(type_, keys)
}

impl SecretInput {
    /// Reads a `v1` `Secret` document. The document's strings are wiped afterwards, whatever
    /// the outcome.
    pub fn from_document(mut doc: Document) -> Result<Self, ConvertError> {
        let result = Self::read(&doc);
        manifest::wipe(&mut doc);
        result
    }

    fn read(doc: &Value) -> Result<Self, ConvertError> {
        let api_version = manifest::api_version(doc).unwrap_or_default();
        let kind = manifest::kind(doc).unwrap_or_default();
        if api_version != "v1" || kind != "Secret" {
            return Err(ConvertError::NotASecret {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            });
        }
        let mut annotations = string_map(doc, "annotations")?;
        annotations.remove(LAST_APPLIED_ANNOTATION);
        let immutable = match doc.get("immutable") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(malformed("immutable", "not a boolean")),
        };
        let mut input = SecretInput {
            name: optional_str(doc, "/metadata/name", "metadata.name")?,
            namespace: optional_str(doc, "/metadata/namespace", "metadata.namespace")?,
            type_: optional_str(doc, "/type", "type")?,
            immutable,
            labels: string_map(doc, "labels")?,
            annotations,
            data: BTreeMap::new(),
        };
        for (field, encoded) in [("data", true), ("stringData", false)] {
            let map = match doc.get(field) {
                None | Some(Value::Null) => continue,
                Some(Value::Object(map)) => map,
                Some(_) => return Err(malformed(field, "not a mapping")),
            };
            for (key, value) in map {
                let text = match value {
                    Value::String(s) => s.as_str(),
                    Value::Null => "",
                    _ => return Err(malformed(&format!("{field}.{key}"), "not a string")),
                };
                let bytes = if encoded {
                    Plaintext::new(
                        STANDARD
                            .decode(text)
                            .map_err(|_| malformed(&format!("data.{key}"), "not valid base64"))?,
                    )
                } else {
                    Plaintext::from(text.as_bytes())
                };
                input.insert(key, bytes)?;
            }
        }
        Ok(input)
    }

    /// Adds (or replaces) a value, checking the key.
    pub fn insert(&mut self, key: &str, value: Plaintext) -> Result<(), ConvertError> {
        if !is_valid_key(key) {
            return Err(ConvertError::InvalidKey(key.to_owned()));
        }
        self.data.insert(key.to_owned(), value);
        Ok(())
    }

    /// Adds a value whose key must not be there yet (values given as flags).
    pub fn insert_new(&mut self, key: &str, value: Plaintext) -> Result<(), ConvertError> {
        if self.data.contains_key(key) {
            return Err(ConvertError::DuplicateKey(key.to_owned()));
        }
        self.insert(key, value)
    }

    /// Refuses a value the API server parses as JSON for this Secret's type (see
    /// [`CONTENT_CHECKED_KEYS`]) that is not JSON: the input's own type, else
    /// `existing` (the type of the SealedSecret merged into). Names the key, never the value.
    pub fn check_json(&self, existing: Option<&str>) -> Result<(), ConvertError> {
        let type_ = self.type_.as_deref().or(existing).unwrap_or("Opaque");
        for (t, key) in CONTENT_CHECKED_KEYS {
            if *t == type_
                && let Some(value) = self.data.get(*key)
                && serde_json::from_slice::<serde::de::IgnoredAny>(value.as_bytes()).is_err()
            {
                return Err(ConvertError::NotJson {
                    key: (*key).to_owned(),
                    type_: type_.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Total size of the values.
    pub fn data_bytes(&self) -> usize {
        self.data.values().map(Plaintext::len).sum()
    }

    fn template(&self) -> Option<SecretTemplate> {
        let metadata =
            (!self.labels.is_empty() || !self.annotations.is_empty()).then(|| TemplateMetadata {
                labels: self.labels.clone(),
                annotations: self.annotations.clone(),
            });
        let template = SecretTemplate {
            type_: self.type_.clone(),
            immutable: self.immutable,
            metadata,
            ..SecretTemplate::default()
        };
        (template != SecretTemplate::default()).then_some(template)
    }
}

/// Seals one value of a SealedSecret at `namespace`/`name`/`key`.
pub fn seal_value(
    value: &Plaintext,
    scope: Scope,
    location: &Location,
    recipients: &[Recipient],
) -> Result<SealedValue, ConvertError> {
    let binding = Binding::new(scope, location).map_err(|source| ConvertError::Binding {
        key: location.key.clone(),
        source,
    })?;
    seal(value.as_bytes(), &binding, recipients).map_err(|source| ConvertError::Seal {
        key: location.key.clone(),
        source,
    })
}

/// Seals a whole Secret into a SealedSecret named `name` in `namespace`.
pub fn seal_secret(
    input: &SecretInput,
    name: &str,
    namespace: &str,
    scope: Scope,
    recipients: &[Recipient],
) -> Result<SealedSecret, ConvertError> {
    if input.data.is_empty() {
        return Err(ConvertError::NoData);
    }
    let mut sealed = SealedSecret::new(
        name,
        SealedSecretSpec {
            encrypted_data: BTreeMap::new(),
            template: input.template(),
        },
    );
    sealed.metadata.namespace = Some(namespace.to_owned());
    merge_values(&mut sealed, input, scope, recipients)?;
    Ok(sealed)
}

/// Seals `input`'s values into `sealed`, replacing only the keys given: every other sealed
/// value is kept byte for byte. The template is left as it is.
pub fn merge_values(
    sealed: &mut SealedSecret,
    input: &SecretInput,
    scope: Scope,
    recipients: &[Recipient],
) -> Result<(), ConvertError> {
    let total = input.data_bytes();
    if total > MAX_SECRET_DATA_BYTES {
        return Err(ConvertError::TooLarge(total));
    }
    let (namespace, name) = (sealed.namespace_or_empty(), sealed.name_or_empty());
    let mut fresh = BTreeMap::new();
    for (key, value) in &input.data {
        let location = Location::new(namespace, name, key);
        fresh.insert(
            key.clone(),
            seal_value(value, scope, &location, recipients)?.to_base64(),
        );
    }
    sealed.spec.encrypted_data.extend(fresh);
    Ok(())
}

/// Reads every sealed value of a SealedSecret (no key needed), in key order.
pub fn sealed_values(sealed: &SealedSecret) -> Result<Vec<(String, SealedValue)>, ConvertError> {
    sealed
        .spec
        .encrypted_data
        .iter()
        .map(|(key, text)| {
            SealedValue::from_base64(text)
                .map(|v| (key.clone(), v))
                .map_err(|source| ConvertError::Format {
                    key: key.clone(),
                    source,
                })
        })
        .collect()
}

/// Reads a SealedSecret document.
pub fn sealed_secret_from_document(doc: &Document) -> Result<SealedSecret, ConvertError> {
    let api_version = manifest::api_version(doc).unwrap_or_default();
    let kind = manifest::kind(doc).unwrap_or_default();
    if api_version != "kage.dev/v1alpha1" || kind != "SealedSecret" {
        return Err(ConvertError::NotASealedSecret {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
        });
    }
    serde_json::from_value(doc.clone()).map_err(|_| malformed("spec", "not a SealedSecret spec"))
}

/// A SealedSecret as a document without server-side fields or status.
#[allow(
    clippy::expect_used,
    reason = "a SealedSecret is strings and maps: it always serialises to JSON"
)]
pub fn sealed_secret_to_document(sealed: &SealedSecret) -> Document {
    let mut clean = sealed.clone();
    clean.status = None;
    clean.metadata = ObjectMeta {
        name: sealed.metadata.name.clone(),
        namespace: sealed.metadata.namespace.clone(),
        labels: sealed.metadata.labels.clone(),
        annotations: sealed.metadata.annotations.clone().map(|mut a| {
            a.remove(LAST_APPLIED_ANNOTATION);
            a
        }),
        ..ObjectMeta::default()
    };
    serde_json::to_value(&clean).expect("SealedSecret serialises")
}
