//! Secret bytes held in memory.

use std::fmt;

use zeroize::Zeroizing;

/// A secret value: wiped from memory on drop and never printed. `Debug` shows only its length,
/// and there is no `Display`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Plaintext(Zeroizing<Vec<u8>>);

impl Plaintext {
    /// Takes ownership of `bytes`; they are wiped when the `Plaintext` is dropped.
    pub fn new(bytes: Vec<u8>) -> Self {
        Plaintext(Zeroizing::new(bytes))
    }

    /// The secret bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&[u8]> for Plaintext {
    fn from(bytes: &[u8]) -> Self {
        Plaintext::new(bytes.to_vec())
    }
}

impl fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Plaintext({} bytes, redacted)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_length_not_content() {
        let p = Plaintext::from(&b"hunter2"[..]);
        assert_eq!(format!("{p:?}"), "Plaintext(7 bytes, redacted)");
    }
}
