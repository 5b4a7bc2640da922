//! Compact names for the objects the controller keeps: an [`ObjectKey`] (namespace and name),
//! a [`Uid`] and a resource [`Version`]. At 100 000 SealedSecrets every byte kept per object is 100 kB, so a
//! namespace is stored once however many objects it holds, and a uid as its 16 bytes.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The namespaces in use, each stored once.
static NAMESPACES: LazyLock<Mutex<HashSet<Arc<str>>>> = LazyLock::new(Mutex::default);

fn namespace(name: &str) -> Arc<str> {
    let mut namespaces = NAMESPACES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = namespaces.get(name) {
        return known.clone();
    }
    let new: Arc<str> = name.into();
    namespaces.insert(new.clone());
    new
}

/// Drops the namespaces no key names any more (called from the resync sweep), so that
/// namespaces created and deleted over the process's life do not accumulate.
pub fn forget_unused_namespaces() {
    NAMESPACES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|n| Arc::strong_count(n) > 1);
}

/// A namespaced object's namespace and name: cheap to clone (two reference counts).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    namespace: Arc<str>,
    name: Arc<str>,
}

impl ObjectKey {
    /// The key of `name` in `namespace`.
    pub fn new(namespace: &str, name: &str) -> Self {
        ObjectKey {
            namespace: self::namespace(namespace),
            name: name.into(),
        }
    }

    /// The key of the object `meta` describes.
    pub fn of(meta: &ObjectMeta) -> Self {
        ObjectKey::new(
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
        )
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// An object's uid: its 16 bytes when it is a UUID in the API server's lowercase form (every
/// uid the API server assigns), the text as given otherwise, so that it always reads back
/// exactly as it was written.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Uid {
    /// A lowercase UUID.
    Uuid([u8; 16]),
    /// Anything else, kept as it was.
    Other(Box<str>),
}

impl Uid {
    /// The uid `text`.
    pub fn new(text: &str) -> Self {
        match parse_uuid(text) {
            Some(bytes) => Uid::Uuid(bytes),
            None => Uid::Other(text.into()),
        }
    }
}

/// The bytes of a UUID in lowercase `8-4-4-4-12` form, or `None`.
fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let text = text.as_bytes();
    if text.len() != 36 {
        return None;
    }
    let mut bytes = [0u8; 16];
    let mut digits = text
        .iter()
        .enumerate()
        .filter(|(i, _)| ![8, 13, 18, 23].contains(i));
    if [8, 13, 18, 23].iter().any(|&i| text[i] != b'-') {
        return None;
    }
    for byte in &mut bytes {
        let mut value = 0;
        for _ in 0..2 {
            let (_, digit) = digits.next()?;
            value = value << 4
                | match digit {
                    b'0'..=b'9' => digit - b'0',
                    b'a'..=b'f' => digit - b'a' + 10,
                    _ => return None,
                };
        }
        *byte = value;
    }
    Some(bytes)
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uid::Other(text) => f.write_str(text),
            Uid::Uuid(bytes) => {
                for (i, byte) in bytes.iter().enumerate() {
                    if [4, 6, 8, 10].contains(&i) {
                        f.write_str("-")?;
                    }
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A resourceVersion: opaque to clients, but a decimal number on every API server backed by
/// etcd, so kept as one when it reads back exactly; as the text otherwise.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Version {
    /// A decimal number without leading zeros.
    Number(u64),
    /// Anything else, kept as it was.
    Other(Box<str>),
}

impl Version {
    /// The resourceVersion `text`.
    pub fn new(text: &str) -> Self {
        match text.parse::<u64>() {
            Ok(n) if n.to_string() == text => Version::Number(n),
            _ => Version::Other(text.into()),
        }
    }

    /// Whether this is the resourceVersion `text`.
    pub fn is(&self, text: &str) -> bool {
        *self == Version::new(text)
    }

    /// Whether `kept` and `text` name the same version, or both none.
    pub fn same(kept: Option<&Version>, text: Option<&str>) -> bool {
        match (kept, text) {
            (Some(kept), Some(text)) => kept.is(text),
            (None, None) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Number(n) => write!(f, "{n}"),
            Version::Other(text) => f.write_str(text),
        }
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_reads_back_exactly_as_it_was_written() {
        for text in [
            "6f1c2b8e-0d4a-4c3e-9b1f-000000000042",
            "6F1C2B8E-0D4A-4C3E-9B1F-000000000042",
            "6f1c2b8e-0d4a-4c3e-9b1f-00000000004",
            "6f1c2b8e+0d4a-4c3e-9b1f-000000000042",
            "6f1c2b8e-0d4a-4c3e-9b1f-00000000004g",
            "u-1",
            "",
        ] {
            assert_eq!(Uid::new(text).to_string(), text);
        }
        assert!(matches!(
            Uid::new("6f1c2b8e-0d4a-4c3e-9b1f-000000000042"),
            Uid::Uuid(_)
        ));
        assert!(matches!(
            Uid::new("6F1C2B8E-0D4A-4C3E-9B1F-000000000042"),
            Uid::Other(_)
        ));
        assert_ne!(
            Uid::new("6f1c2b8e-0d4a-4c3e-9b1f-000000000042"),
            Uid::new("6f1c2b8e-0d4a-4c3e-9b1f-000000000043")
        );
    }

    #[test]
    fn a_version_reads_back_exactly_as_it_was_written() {
        for text in [
            "0",
            "42",
            "042",
            "18446744073709551616",
            "-1",
            "+1",
            "abc",
            "",
        ] {
            assert_eq!(Version::new(text).to_string(), text);
            assert!(Version::new(text).is(text));
        }
        assert!(matches!(Version::new("42"), Version::Number(42)));
        assert!(!Version::new("42").is("042"));
        assert!(Version::same(None, None));
        assert!(!Version::same(Some(&Version::new("1")), None));
        assert!(!Version::same(None, Some("1")));
    }

    #[test]
    fn a_namespace_is_stored_once_and_forgotten_when_unused() {
        let a = ObjectKey::new("ids-test", "a");
        let b = ObjectKey::new("ids-test", "b");
        assert!(Arc::ptr_eq(&a.namespace, &b.namespace));
        assert_eq!((b.namespace(), b.name()), ("ids-test", "b"));
        drop((a, b));
        forget_unused_namespaces();
        let known = |n: &str| {
            NAMESPACES
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(n)
        };
        assert!(!known("ids-test"));
    }
}
