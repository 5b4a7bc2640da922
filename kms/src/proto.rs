//! The KMS v2 messages, as `k8s.io/kms/apis/v2/api.proto` (package `v2`) declares them.
//!
//! Declared by hand with prost's derive, so the build needs no protobuf compiler. The field
//! numbers and types are the wire format: a test encodes each message and checks the bytes.

use std::collections::HashMap;

use zeroize::Zeroize;

/// The gRPC service's full name: paths are `/v2.KeyManagementService/<method>`.
pub const SERVICE: &str = "v2.KeyManagementService";

/// The API version a healthy plugin reports.
pub const VERSION: &str = "v2";

/// What `healthz` holds when the plugin is healthy.
pub const HEALTHY: &str = "ok";

/// `Status` takes nothing.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusRequest {}

/// The plugin's version, health and current key id; the API server polls it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusResponse {
    /// Always [`VERSION`].
    #[prost(string, tag = "1")]
    pub version: String,
    /// [`HEALTHY`], or why not.
    #[prost(string, tag = "2")]
    pub healthz: String,
    /// The key new data is encrypted with.
    #[prost(string, tag = "3")]
    pub key_id: String,
}

/// Opens a data key source the API server stored.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DecryptRequest {
    /// What [`EncryptResponse::ciphertext`] held.
    #[prost(bytes = "vec", tag = "1")]
    pub ciphertext: Vec<u8>,
    /// The API server's request id, for logs.
    #[prost(string, tag = "2")]
    pub uid: String,
    /// The key id the API server stored with the ciphertext.
    #[prost(string, tag = "3")]
    pub key_id: String,
    /// What [`EncryptResponse::annotations`] held.
    #[prost(map = "string, bytes", tag = "4")]
    pub annotations: HashMap<String, Vec<u8>>,
}

/// The opened data key source; wiped on drop.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DecryptResponse {
    /// The data key source.
    #[prost(bytes = "vec", tag = "1")]
    pub plaintext: Vec<u8>,
}

/// Seals a data key source the API server made.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EncryptRequest {
    /// The data key source; wiped on drop.
    #[prost(bytes = "vec", tag = "1")]
    pub plaintext: Vec<u8>,
    /// The API server's request id, for logs.
    #[prost(string, tag = "2")]
    pub uid: String,
}

/// The sealed data key source and the key that sealed it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EncryptResponse {
    /// Stored by the API server beside every object it encrypts.
    #[prost(bytes = "vec", tag = "1")]
    pub ciphertext: Vec<u8>,
    /// The key that sealed it.
    #[prost(string, tag = "2")]
    pub key_id: String,
    /// Stored in plaintext beside the ciphertext; kage-kms sets none.
    #[prost(map = "string, bytes", tag = "3")]
    pub annotations: HashMap<String, Vec<u8>>,
}

impl Drop for DecryptResponse {
    fn drop(&mut self) {
        self.plaintext.zeroize();
    }
}

impl Drop for EncryptRequest {
    fn drop(&mut self) {
        self.plaintext.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn messages_have_the_field_numbers_of_the_api() {
        // Field 1 bytes (tag 0x0a), field 2 string (0x12), field 3 string (0x1a), field 4 map
        // entry (0x22) with key 1 and value 2.
        let request = DecryptRequest {
            ciphertext: b"c".to_vec(),
            uid: "u".into(),
            key_id: "k".into(),
            annotations: HashMap::from([("a.b".to_owned(), b"v".to_vec())]),
        };
        assert_eq!(
            request.encode_to_vec(),
            b"\x0a\x01c\x12\x01u\x1a\x01k\x22\x08\x0a\x03a.b\x12\x01v"
        );
        let status = StatusResponse {
            version: "v2".into(),
            healthz: "ok".into(),
            key_id: "k".into(),
        };
        assert_eq!(status.encode_to_vec(), b"\x0a\x02v2\x12\x02ok\x1a\x01k");
        let response = EncryptResponse {
            ciphertext: b"c".to_vec(),
            key_id: "k".into(),
            annotations: HashMap::new(),
        };
        assert_eq!(response.encode_to_vec(), b"\x0a\x01c\x12\x01k");
        let request = EncryptRequest {
            plaintext: b"p".to_vec(),
            uid: "u".into(),
        };
        assert_eq!(request.encode_to_vec(), b"\x0a\x01p\x12\x01u");
    }
}
