//! kage's Kubernetes-facing types, with no client and no runtime.
//!
//! [`crd`] defines the `SealedSecret` custom resource, [`convert`] turns Secrets into
//! SealedSecrets and back, and [`manifest`] reads and writes multi-document YAML and JSON with
//! limits that keep hostile input from hanging or crashing kage.

pub mod convert;
pub mod crd;
pub mod manifest;

pub use convert::{ConvertError, SecretInput, SecretOutput};
pub use crd::{SealedSecret, SealedSecretSpec, SealedSecretStatus, SecretTemplate};
pub use manifest::{Document, ManifestError, OutputFormat};

/// Prefix of every label and annotation kage reads or writes.
pub const DOMAIN: &str = "kage.dev";
/// Annotation on a SealedSecret: when its values were last sealed (RFC 3339).
pub const SEALED_AT_ANNOTATION: &str = "kage.dev/sealed-at";
/// Annotation on an existing Secret that lets the controller take it over.
pub const MANAGED_ANNOTATION: &str = "kage.dev/managed";
