//! What the API server accepts of a Secret: total size, data keys, object names, and the keys
//! whose content it parses. Both sealing and templates hold input to these rules.

/// Largest total size of a Secret's values, in bytes (the API server's own limit).
pub const MAX_SECRET_DATA_BYTES: usize = 1024 * 1024;
/// Longest data key Kubernetes accepts.
pub const MAX_KEY_LEN: usize = 253;

/// Whether Kubernetes accepts `key` as a Secret data key.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key != "."
        && key != ".."
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Longest object name the API server accepts (a DNS subdomain).
pub const MAX_NAME_LEN: usize = 253;
/// Longest namespace name (a DNS label).
pub const MAX_NAMESPACE_LEN: usize = 63;

/// Keys the API server parses as JSON for a type: a template may write such a key only as one
/// `dockerconfigjson(...)` call, whose output is JSON for every input (`.dockercfg` not at all).
pub const CONTENT_CHECKED_KEYS: &[(&str, &str)] = &[
    ("kubernetes.io/dockerconfigjson", ".dockerconfigjson"),
    ("kubernetes.io/dockercfg", ".dockercfg"),
];
