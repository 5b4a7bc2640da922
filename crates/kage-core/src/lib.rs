//! kage's sealing core.
//!
//! Everything needed to seal a value to a cluster's public keys and to open it again with the
//! private keys, knowing nothing about Kubernetes: [`identity`] (identities, recipients and their
//! fingerprints), [`binding`] (where a value may be opened), [`value`] (the sealed value format,
//! see `docs/format.md`), [`keyring`] (opening with any number of keys at the cost of one X25519
//! operation) and [`plaintext`] (zeroizing buffers for what is secret).

mod age_file;
pub mod binding;
pub mod identity;
pub mod keyring;
pub mod plaintext;
pub mod value;

pub use binding::{Binding, BindingError, Location, Scope};
pub use identity::{Fingerprint, Identity, KeyError, Recipient};
pub use keyring::{KeyRing, OpenError};
pub use plaintext::Plaintext;
pub use value::{FormatError, SealError, SealedValue, seal};
