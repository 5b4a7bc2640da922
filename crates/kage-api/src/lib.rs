//! kage's Kubernetes-facing types, with no client and no runtime.
//!
//! [`crd`] defines the `SealedSecret` custom resource, [`seal`] turns Secrets into
//! SealedSecrets and [`unseal`] back, and [`manifest`] reads and writes multi-document YAML and JSON with
//! limits that keep hostile input from hanging or crashing kage. [`template`] composes Secret
//! values from sealed ones, in a language that cannot leak them; [`metadata_policy`] says which
//! labels and annotations a template may set; [`limits`] what the API server accepts of a
//! Secret. [`names`] holds the labels, annotations and limits both binaries agree on, and every
//! format they exchange is one type here, read and written by the same code: [`key_secret`]
//! (the key Secret), [`key_backup`] (a `kage key backup` bundle), [`wire`] (the public-keys
//! ConfigMap and the HTTP API) and [`rotation`] (the rotation request and its answer).

mod as_text;
pub mod crd;
pub mod error;
pub mod key_backup;
pub mod key_secret;
pub mod limits;
pub mod manifest;
pub mod metadata_policy;
pub mod names;
pub mod rotation;
pub mod seal;
pub mod template;
pub mod unseal;
pub mod wire;

pub use crd::{SealedSecret, SealedSecretSpec, SealedSecretStatus, SecretTemplate};
pub use error::error_chain;
pub use manifest::{Document, ManifestError, OutputFormat};
pub use metadata_policy::{MetadataPolicy, MetadataRefusal};
pub use names::*;
pub use seal::{ConvertError, SecretInput};
pub use unseal::SecretOutput;
