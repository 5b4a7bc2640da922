//! The shape of a sealing-key Secret in the controller's namespace, shared by the controller
//! (which writes and reads them) and `kage key backup|restore|retire`.

/// How far in the future a key's creation time may lie (clocks differ); beyond, the key is
/// refused, by the controller's loader and by `kage key restore`: a future date would make it
/// the current key for years.
pub const MAX_CLOCK_SKEW: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Prefix of key Secret names; the suffix is the key's sequence number.
pub const NAME_PREFIX: &str = "kage-key-";
/// Secret type of key Secrets.
pub const SECRET_TYPE: &str = "kage.dev/sealing-key";
/// Data key holding the `AGE-SECRET-KEY-1...` identity.
pub const IDENTITY: &str = "identity";
/// Data key holding the KMS-wrapped identity instead.
pub const WRAPPED_IDENTITY: &str = "wrapped-identity";
/// Annotation: when the key was created (RFC 3339).
pub const CREATED_AT: &str = "kage.dev/created-at";
/// Annotation: the key's fingerprint.
pub const FINGERPRINT: &str = "kage.dev/fingerprint";
/// Annotation: `active` (default) or `retired` (no longer used to unseal).
pub const STATE: &str = "kage.dev/key-state";
/// Annotation: which KMS wraps the identity.
pub const KMS: &str = "kage.dev/kms";
/// Annotation set by `kage key backup` on the keys it saved.
pub const BACKED_UP_AT: &str = "kage.dev/backed-up-at";

/// Whether a key is still used. Written in the [`STATE`] annotation and in `keys.json`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Opens values; the newest active key seals new ones.
    #[default]
    Active,
    /// Kept for the record (and for restores), never used to open values.
    Retired,
}

impl KeyState {
    /// Name used in annotations, JSON and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Retired => "retired",
        }
    }

    /// The state an annotation value names; anything but `retired` is active.
    pub fn from_annotation(value: Option<&str>) -> Self {
        match value {
            Some("retired") => KeyState::Retired,
            _ => KeyState::Active,
        }
    }
}
