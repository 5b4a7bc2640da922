//! Key management systems that wrap the sealing keys.
//!
//! With a KMS, key Secrets hold only the KMS-wrapped identity: the plaintext identity exists
//! only in the controller's memory, so a stolen key Secret is useless without KMS access.
//!
//! Adding a KMS (AWS KMS, GCP Cloud KMS, Azure Key Vault) means implementing [`Kms`]: `wrap`
//! turns an identity into an opaque string stored in the Secret, `unwrap` reverses it, and
//! [`from_url`] maps a URL scheme to the implementation.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// Why the KMS could not wrap or unwrap. Never contains key material.
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    /// The `--kms` URL is not understood.
    #[error(
        "unsupported KMS URL {0:?} (expected vault-transit://HOST:PORT/KEY or vault-transit+http://...)"
    )]
    BadUrl(String),
    /// No credentials were found.
    #[error("no KMS token: set --kms-token-file, or BAO_TOKEN / VAULT_TOKEN")]
    NoToken,
    /// The KMS could not be reached or refused the request.
    #[error("KMS {kms} {action} failed: {message}")]
    Request {
        /// Which KMS.
        kms: String,
        /// wrap or unwrap.
        action: &'static str,
        /// What went wrong (from the KMS, never the payload).
        message: String,
    },
}

/// A boxed future, so that the trait stays object safe.
pub type KmsFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, KmsError>> + Send + 'a>>;

/// A key management system that wraps and unwraps sealing identities.
pub trait Kms: Send + Sync {
    /// Names the KMS and key in Secrets, logs and errors (no credentials).
    fn id(&self) -> &str;
    /// Wraps `plaintext` (an identity string) into an opaque, storable string.
    fn wrap<'a>(&'a self, plaintext: &'a [u8]) -> KmsFuture<'a, String>;
    /// Unwraps what [`Kms::wrap`] produced.
    fn unwrap<'a>(&'a self, wrapped: &'a str) -> KmsFuture<'a, Zeroizing<Vec<u8>>>;
}

/// How long one KMS call (wrap or unwrap) may take, connection included.
pub const KMS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Builds the KMS named by `url`.
pub fn from_url(url: &str, token_file: Option<&PathBuf>) -> Result<Box<dyn Kms>, KmsError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| KmsError::BadUrl(url.to_owned()))?;
    let http_scheme = match scheme {
        "vault-transit" => "https",
        "vault-transit+http" => "http",
        _ => return Err(KmsError::BadUrl(url.to_owned())),
    };
    let (host, key) = rest
        .split_once('/')
        .ok_or_else(|| KmsError::BadUrl(url.to_owned()))?;
    if host.is_empty() || key.is_empty() || key.contains('/') {
        return Err(KmsError::BadUrl(url.to_owned()));
    }
    let token = match token_file {
        Some(path) => std::fs::read_to_string(path).map_err(|_| KmsError::NoToken)?,
        None => std::env::var("BAO_TOKEN")
            .or_else(|_| std::env::var("VAULT_TOKEN"))
            .map_err(|_| KmsError::NoToken)?,
    };
    let base = format!("{http_scheme}://{host}")
        .parse()
        .map_err(|_| KmsError::BadUrl(url.to_owned()))?;
    let mut config = kube::Config::new(base);
    // One answer per call: a sealed OpenBao answers 503, which the client would otherwise retry
    // with backoff until KMS_TIMEOUT cut it short as "timed out".
    config.default_retry = false;
    let client = kube::Client::try_from(config).map_err(|e| KmsError::Request {
        kms: url.to_owned(),
        action: "connect",
        message: e.to_string(),
    })?;
    Ok(Box::new(VaultTransit {
        id: url.to_owned(),
        client,
        key: key.to_owned(),
        mount: "transit".to_owned(),
        token: Zeroizing::new(token.trim().to_owned()),
    }))
}

/// OpenBao or HashiCorp Vault, Transit secrets engine.
pub struct VaultTransit {
    id: String,
    client: kube::Client,
    key: String,
    mount: String,
    token: Zeroizing<String>,
}

impl VaultTransit {
    async fn call(&self, action: &'static str, body: Value) -> Result<Value, KmsError> {
        let fail = |message: String| KmsError::Request {
            kms: self.id.clone(),
            action,
            message,
        };
        let path = format!("/v1/{}/{action}/{}", self.mount, self.key);
        let request = http::Request::post(path)
            .header("X-Vault-Token", self.token.as_str())
            .header("content-type", "application/json")
            .body(body.to_string().into_bytes())
            .map_err(|e| fail(e.to_string()))?;
        let text = tokio::time::timeout(KMS_TIMEOUT, self.client.request_text(request))
            .await
            .map_err(|_| fail("timed out".to_owned()))?
            .map_err(|e| {
                fail(match e {
                    kube::Error::Api(s) => format!("HTTP {}", s.code),
                    other => other.to_string(),
                })
            })?;
        serde_json::from_str(&text).map_err(|_| fail("answer is not JSON".to_owned()))
    }
}

impl Kms for VaultTransit {
    fn id(&self) -> &str {
        &self.id
    }

    fn wrap<'a>(&'a self, plaintext: &'a [u8]) -> KmsFuture<'a, String> {
        Box::pin(async move {
            let encoded = Zeroizing::new(STANDARD.encode(plaintext));
            let answer = self
                .call("encrypt", json!({"plaintext": encoded.as_str()}))
                .await?;
            answer["data"]["ciphertext"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| KmsError::Request {
                    kms: self.id.clone(),
                    action: "encrypt",
                    message: "no ciphertext in the answer".to_owned(),
                })
        })
    }

    fn unwrap<'a>(&'a self, wrapped: &'a str) -> KmsFuture<'a, Zeroizing<Vec<u8>>> {
        Box::pin(async move {
            let mut answer = self.call("decrypt", json!({"ciphertext": wrapped})).await?;
            let encoded = Zeroizing::new(
                answer["data"]["plaintext"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
            // Wipe the decoded JSON's copy too.
            if let Some(Value::String(s)) = answer.pointer_mut("/data/plaintext") {
                zeroize::Zeroize::zeroize(s);
            }
            STANDARD
                .decode(encoded.as_bytes())
                .map(Zeroizing::new)
                .map_err(|_| KmsError::Request {
                    kms: self.id.clone(),
                    action: "decrypt",
                    message: "no plaintext in the answer".to_owned(),
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        for bad in [
            "vault://h/k",
            "vault-transit://h",
            "vault-transit:///k",
            "vault-transit://h/a/b",
        ] {
            assert!(
                matches!(from_url(bad, None), Err(KmsError::BadUrl(_))),
                "{bad}"
            );
        }
    }
}
