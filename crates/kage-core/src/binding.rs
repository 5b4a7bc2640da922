//! Where a sealed value may be opened.
//!
//! Every value is sealed together with a [`Binding`]: its [`Scope`] and, as far as the scope
//! asks, the namespace, the SealedSecret name and the data key. A value found anywhere else
//! (copied into another namespace, object or key) is refused.

use std::fmt;
use std::str::FromStr;

/// How widely a sealed value may be used. It is sealed inside the value and can never be
/// widened afterwards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Namespace, SealedSecret name and data key must all match (the default).
    #[default]
    Strict,
    /// Namespace and data key must match; any SealedSecret name.
    NamespaceWide,
    /// Only the data key must match; any namespace and name.
    ClusterWide,
}

impl Scope {
    /// Every scope, narrowest first.
    pub const ALL: [Scope; 3] = [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide];

    /// The name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Strict => "strict",
            Scope::NamespaceWide => "namespace-wide",
            Scope::ClusterWide => "cluster-wide",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = BindingError;

    fn from_str(s: &str) -> Result<Self, BindingError> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| BindingError::UnknownScope(s.to_owned()))
    }
}

/// Where a value was found: the SealedSecret's namespace and name and the data key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// Namespace of the SealedSecret.
    pub namespace: String,
    /// Name of the SealedSecret.
    pub name: String,
    /// Key in `spec.encryptedData`.
    pub key: String,
}

impl Location {
    /// A location from its three parts.
    pub fn new(namespace: &str, name: &str, key: &str) -> Self {
        Location {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key: key.to_owned(),
        }
    }
}

/// A sealed value's binding: its scope and the parts of a [`Location`] that scope pins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    scope: Scope,
    namespace: Option<String>,
    name: Option<String>,
    key: String,
}

/// A binding that is malformed, or does not match where its value was found.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BindingError {
    /// The scope name is not one kage knows.
    #[error("unknown scope {0:?} (expected strict, namespace-wide or cluster-wide)")]
    UnknownScope(String),
    /// A namespace, name or key kage cannot bind to (empty, or with spaces or control bytes).
    #[error(
        "{field} {value:?} cannot be bound: it must be non-empty printable ASCII without spaces"
    )]
    InvalidPart {
        /// Which part: namespace, name or key.
        field: &'static str,
        /// The offending value (a Kubernetes name, never secret).
        value: String,
    },
    /// The value was sealed for another namespace, name or key.
    #[error("value sealed for {field} {sealed:?} was found in {field} {found:?}")]
    Mismatch {
        /// Which part differs: namespace, name or key.
        field: &'static str,
        /// What the value was sealed for.
        sealed: String,
        /// Where it was found.
        found: String,
    },
}

/// Namespaces, names and keys are Kubernetes names: printable ASCII, no spaces.
fn check_part(field: &'static str, value: &str) -> Result<(), BindingError> {
    if value.is_empty() || value == "*" || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BindingError::InvalidPart {
            field,
            value: value.to_owned(),
        });
    }
    Ok(())
}

impl Binding {
    /// The binding of a value sealed with `scope` for `location`: the parts the scope does not
    /// pin are left out.
    pub fn new(scope: Scope, location: &Location) -> Result<Self, BindingError> {
        check_part("key", &location.key)?;
        let namespace = match scope {
            Scope::Strict | Scope::NamespaceWide => {
                check_part("namespace", &location.namespace)?;
                Some(location.namespace.clone())
            }
            Scope::ClusterWide => None,
        };
        let name = match scope {
            Scope::Strict => {
                check_part("name", &location.name)?;
                Some(location.name.clone())
            }
            Scope::NamespaceWide | Scope::ClusterWide => None,
        };
        Ok(Binding {
            scope,
            namespace,
            name,
            key: location.key.clone(),
        })
    }

    /// The scope.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The namespace, when the scope pins one.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The SealedSecret name, when the scope pins one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The data key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether a value with this binding may be opened at `found`; the error names the first
    /// part that differs.
    pub fn check(&self, found: &Location) -> Result<(), BindingError> {
        let pinned = [
            ("namespace", self.namespace.as_deref(), &found.namespace),
            ("name", self.name.as_deref(), &found.name),
            ("key", Some(self.key.as_str()), &found.key),
        ];
        for (field, sealed, found) in pinned {
            if let Some(sealed) = sealed
                && sealed != found
            {
                return Err(BindingError::Mismatch {
                    field,
                    sealed: sealed.to_owned(),
                    found: found.clone(),
                });
            }
        }
        Ok(())
    }

    /// The binding as the words kage writes into a value: `scope namespace name key`, with
    /// `*` for a part the scope does not pin.
    pub(crate) fn words(&self) -> [&str; 4] {
        [
            self.scope.as_str(),
            self.namespace.as_deref().unwrap_or("*"),
            self.name.as_deref().unwrap_or("*"),
            &self.key,
        ]
    }

    /// Reads the words written by [`Binding::words`]; `None` if they are not well formed.
    pub(crate) fn from_words(words: &[&str]) -> Option<Self> {
        let [scope, namespace, name, key] = words else {
            return None;
        };
        let scope: Scope = scope.parse().ok()?;
        let binding = Binding::new(scope, &Location::new(namespace, name, key)).ok()?;
        // The words must be exactly what `words` writes for this scope: `*` where unpinned.
        (binding.words() == [scope.as_str(), namespace, name, key]).then_some(binding)
    }
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (", self.scope)?;
        if let Some(ns) = &self.namespace {
            write!(f, "namespace={ns}, ")?;
        }
        if let Some(name) = &self.name {
            write!(f, "name={name}, ")?;
        }
        write!(f, "key={})", self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> Location {
        Location::new("prod", "db", "password")
    }

    #[test]
    fn a_binding_says_what_it_pins_and_prints_it() {
        let strict = Binding::new(Scope::Strict, &here()).unwrap();
        assert_eq!(
            (strict.namespace(), strict.name(), strict.key()),
            (Some("prod"), Some("db"), "password")
        );
        assert_eq!(
            strict.to_string(),
            "strict (namespace=prod, name=db, key=password)"
        );
        let wide = Binding::new(Scope::NamespaceWide, &here()).unwrap();
        assert_eq!((wide.namespace(), wide.name()), (Some("prod"), None));
        let cluster = Binding::new(Scope::ClusterWide, &here()).unwrap();
        assert_eq!((cluster.namespace(), cluster.name()), (None, None));
        assert_eq!(cluster.to_string(), "cluster-wide (key=password)");
        assert_eq!(Scope::NamespaceWide.to_string(), "namespace-wide");
    }

    #[test]
    fn each_scope_allows_exactly_what_it_pins() {
        let elsewhere = [
            (Location::new("dev", "db", "password"), "namespace"),
            (Location::new("prod", "cache", "password"), "name"),
            (Location::new("prod", "db", "user"), "key"),
        ];
        for scope in Scope::ALL {
            let binding = Binding::new(scope, &here()).unwrap();
            assert_eq!(binding.check(&here()), Ok(()));
            for (location, field) in &elsewhere {
                let pinned = match *field {
                    "namespace" => scope != Scope::ClusterWide,
                    "name" => scope == Scope::Strict,
                    _ => true,
                };
                let result = binding.check(location);
                assert_eq!(result.is_err(), pinned, "{scope} at {location:?}");
                if let Err(BindingError::Mismatch { field: f, .. }) = result {
                    assert_eq!(f, *field);
                }
            }
        }
    }

    #[test]
    fn words_round_trip_and_reject_unpinned_parts() {
        for scope in Scope::ALL {
            let binding = Binding::new(scope, &here()).unwrap();
            assert_eq!(Binding::from_words(&binding.words()), Some(binding));
        }
        // A cluster-wide binding may not carry a namespace.
        assert_eq!(
            Binding::from_words(&["cluster-wide", "prod", "*", "k"]),
            None
        );
        assert_eq!(Binding::from_words(&["strict", "*", "db", "k"]), None);
        assert_eq!(Binding::from_words(&["wide", "a", "b", "k"]), None);
    }

    #[test]
    fn unbindable_parts_are_refused() {
        assert!(Binding::new(Scope::Strict, &Location::new("a b", "n", "k")).is_err());
        assert!(Binding::new(Scope::Strict, &Location::new("a", "n", "")).is_err());
        assert!(Binding::new(Scope::ClusterWide, &Location::new("", "", "k")).is_ok());
    }
}
