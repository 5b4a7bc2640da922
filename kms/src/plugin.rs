//! What the plugin answers: `Status`, `Encrypt` and `Decrypt` over a Transit key.
//!
//! The API server sends a data key source (a 32-byte seed) to `Encrypt` when it starts and when
//! the key id changes, stores the answer beside every object it encrypts, and sends it back to
//! `Decrypt` when it reads one it has not cached. The key id names the Transit key version that
//! sealed the seed, so a rotation in OpenBao shows in `Status` and the API server makes a new seed.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use kage_openbao::{Error, Transit, key_version};
use tokio::sync::Mutex;
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::proto::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, HEALTHY, StatusResponse,
    VERSION,
};

/// The largest data key source `Encrypt` seals (the API server sends 32 bytes).
pub const MAX_PLAINTEXT_BYTES: usize = 1024;

/// The largest ciphertext `Encrypt` returns or `Decrypt` accepts: the API server refuses an
/// encrypted data key source over 1 KiB.
pub const MAX_CIPHERTEXT_BYTES: usize = 1024;

/// How long a `Status` answer is reused: the API server polls once a minute, and a client of
/// the socket polling faster does not reach OpenBao more often than this.
pub const STATUS_REUSE: Duration = Duration::from_secs(5);

/// A boxed future, so that the trait stays object safe.
pub type BackendFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// The key encryption key: a Transit key (or, in unit tests, a stand-in).
pub trait Backend: Send + Sync {
    /// The key's path (`transit/keys/NAME`), the stem of every key id.
    fn key_path(&self) -> String;
    /// Encrypts with the key's latest version: `vault:vN:...`.
    fn encrypt<'a>(&'a self, plaintext: &'a [u8]) -> BackendFuture<'a, String>;
    /// Decrypts a `vault:vN:...` ciphertext.
    fn decrypt<'a>(&'a self, ciphertext: &'a str) -> BackendFuture<'a, Zeroizing<Vec<u8>>>;
}

impl Backend for Transit {
    fn key_path(&self) -> String {
        Transit::key_path(self)
    }

    fn encrypt<'a>(&'a self, plaintext: &'a [u8]) -> BackendFuture<'a, String> {
        Box::pin(Transit::encrypt(self, plaintext))
    }

    fn decrypt<'a>(&'a self, ciphertext: &'a str) -> BackendFuture<'a, Zeroizing<Vec<u8>>> {
        Box::pin(Transit::decrypt(self, ciphertext))
    }
}

/// Why a request was refused; the message goes back to the API server (and into its logs), so
/// it never holds a payload, a credential or OpenBao's address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The request is malformed or over a limit (gRPC `INVALID_ARGUMENT`).
    #[error("{0}")]
    Invalid(String),
    /// The KMS could not do it (gRPC `UNAVAILABLE`); details in kage-kms's log.
    #[error("{0}")]
    Unavailable(&'static str),
}

/// The probe `Status` encrypts and decrypts to show the key usable.
const PROBE: &[u8] = b"kage-kms status probe";

/// The plugin: the backend and the last status.
pub struct Plugin<B> {
    backend: B,
    last_status: Mutex<Option<(Instant, StatusResponse)>>,
}

impl<B: Backend> Plugin<B> {
    /// A plugin over `backend`.
    pub fn new(backend: B) -> Self {
        Plugin {
            backend,
            last_status: Mutex::new(None),
        }
    }

    /// The key id of a Transit ciphertext: the key's path and version, `transit/keys/NAME:vN`.
    fn key_id(&self, ciphertext: &str) -> Option<String> {
        key_version(ciphertext).map(|v| format!("{}:v{v}", self.backend.key_path()))
    }

    /// Health and the current key id: encrypts and decrypts a probe with the key's latest
    /// version. Reused for [`STATUS_REUSE`].
    pub async fn status(&self) -> StatusResponse {
        let mut last = self.last_status.lock().await;
        if let Some((at, status)) = last.as_ref()
            && at.elapsed() < STATUS_REUSE
        {
            return status.clone();
        }
        let previous_key = last.as_ref().map(|(_, s)| s.key_id.clone());
        let status = match self.probe().await {
            Ok(key_id) => StatusResponse {
                version: VERSION.to_owned(),
                healthz: HEALTHY.to_owned(),
                key_id,
            },
            Err(reason) => StatusResponse {
                version: VERSION.to_owned(),
                healthz: reason.to_string(),
                // The API server needs a key id even from an unhealthy plugin.
                key_id: previous_key
                    .clone()
                    .filter(|k| !k.is_empty())
                    .unwrap_or_else(|| format!("{}:unknown", self.backend.key_path())),
            },
        };
        if previous_key.as_deref() != Some(status.key_id.as_str()) {
            tracing::info!(key_id = %status.key_id, "the current key");
        }
        *last = Some((Instant::now(), status.clone()));
        status
    }

    async fn probe(&self) -> Result<String, Refusal> {
        let ciphertext = self
            .backend
            .encrypt(PROBE)
            .await
            .map_err(|e| unavailable("encrypt", &e))?;
        let key_id = self.key_id(&ciphertext).ok_or(Refusal::Unavailable(
            "the KMS answered an unknown ciphertext format",
        ))?;
        let opened = self
            .backend
            .decrypt(&ciphertext)
            .await
            .map_err(|e| unavailable("decrypt", &e))?;
        if opened.as_slice() != PROBE {
            return Err(Refusal::Unavailable(
                "the KMS decrypted the probe to something else",
            ));
        }
        Ok(key_id)
    }

    /// Seals a data key source with the key's latest version.
    pub async fn encrypt(&self, request: &EncryptRequest) -> Result<EncryptResponse, Refusal> {
        check_encrypt(request)?;
        let ciphertext = self
            .backend
            .encrypt(&request.plaintext)
            .await
            .map_err(|e| unavailable("encrypt", &e))?;
        if ciphertext.len() > MAX_CIPHERTEXT_BYTES {
            tracing::error!(uid = %request.uid, size = ciphertext.len(), "the KMS's ciphertext is over the API server's limit");
            return Err(Refusal::Unavailable(
                "the KMS's ciphertext is over the API server's limit",
            ));
        }
        let key_id = self.key_id(&ciphertext).ok_or(Refusal::Unavailable(
            "the KMS answered an unknown ciphertext format",
        ))?;
        tracing::info!(uid = %request.uid, %key_id, "encrypted a data key source");
        Ok(EncryptResponse {
            ciphertext: ciphertext.into_bytes(),
            key_id,
            annotations: Default::default(),
        })
    }

    /// Opens a data key source that [`Plugin::encrypt`] sealed, with whichever key version
    /// sealed it (OpenBao refuses versions under the key's minimum decryption version).
    pub async fn decrypt(&self, request: &DecryptRequest) -> Result<DecryptResponse, Refusal> {
        let ciphertext = check_decrypt(request)?;
        let plaintext = self
            .backend
            .decrypt(ciphertext)
            .await
            .map_err(|e| unavailable("decrypt", &e))?;
        tracing::info!(uid = %request.uid, key_id = %request.key_id, "decrypted a data key source");
        Ok(DecryptResponse {
            plaintext: plaintext.to_vec(),
        })
    }
}

/// What `Encrypt` refuses before asking the KMS: a plaintext that is empty or over
/// [`MAX_PLAINTEXT_BYTES`].
pub fn check_encrypt(request: &EncryptRequest) -> Result<(), Refusal> {
    let size = request.plaintext.len();
    if size == 0 || size > MAX_PLAINTEXT_BYTES {
        return Err(Refusal::Invalid(format!(
            "plaintext of {size} bytes (1 to {MAX_PLAINTEXT_BYTES})"
        )));
    }
    Ok(())
}

/// What `Decrypt` refuses before asking the KMS: a ciphertext that is empty, over
/// [`MAX_CIPHERTEXT_BYTES`], or not a Transit ciphertext. Returns the ciphertext.
pub fn check_decrypt(request: &DecryptRequest) -> Result<&str, Refusal> {
    let size = request.ciphertext.len();
    if size == 0 || size > MAX_CIPHERTEXT_BYTES {
        return Err(Refusal::Invalid(format!(
            "ciphertext of {size} bytes (1 to {MAX_CIPHERTEXT_BYTES})"
        )));
    }
    std::str::from_utf8(&request.ciphertext)
        .ok()
        .filter(|c| key_version(c).is_some())
        .ok_or_else(|| Refusal::Invalid("the ciphertext is not one kage-kms made".to_owned()))
}

/// Logs the whole error (which names the KMS) and returns a refusal that names only the step.
fn unavailable(action: &'static str, error: &Error) -> Refusal {
    tracing::warn!(action, error = %error, "the KMS failed");
    Refusal::Unavailable(match (action, error) {
        (_, Error::Login { .. } | Error::NoCredential(_)) => "cannot log in to the KMS",
        ("encrypt", _) => "the KMS cannot encrypt with the key (unreachable, or refused)",
        _ => "the KMS cannot decrypt with the key (unreachable, or refused)",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    /// A stand-in for Transit: "vault:vN:" + the plaintext reversed.
    #[derive(Default)]
    struct Fake {
        version: AtomicU32,
        down: AtomicBool,
        calls: AtomicU32,
    }

    impl Backend for &Fake {
        fn key_path(&self) -> String {
            "transit/keys/kage".to_owned()
        }
        fn encrypt<'a>(&'a self, plaintext: &'a [u8]) -> BackendFuture<'a, String> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                if self.down.load(Ordering::SeqCst) {
                    return Err(Error::Request {
                        kms: "vault-transit://secret-host:8200/kage".into(),
                        action: "encrypt",
                        message: "connection refused".into(),
                    });
                }
                let mut reversed = plaintext.to_vec();
                reversed.reverse();
                Ok(format!(
                    "vault:v{}:{}",
                    self.version.load(Ordering::SeqCst),
                    String::from_utf8_lossy(&reversed)
                ))
            })
        }
        fn decrypt<'a>(&'a self, ciphertext: &'a str) -> BackendFuture<'a, Zeroizing<Vec<u8>>> {
            Box::pin(async move {
                let body = ciphertext.splitn(3, ':').nth(2).unwrap_or_default();
                let mut plain = body.as_bytes().to_vec();
                plain.reverse();
                Ok(Zeroizing::new(plain))
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_key_id_follows_the_key_version_and_status_is_reused_briefly() {
        let fake = Fake::default();
        fake.version.store(1, Ordering::SeqCst);
        let plugin = Plugin::new(&fake);
        let status = plugin.status().await;
        assert_eq!(
            (status.version.as_str(), status.healthz.as_str()),
            ("v2", "ok")
        );
        assert_eq!(status.key_id, "transit/keys/kage:v1");
        fake.version.store(2, Ordering::SeqCst);
        assert_eq!(plugin.status().await.key_id, "transit/keys/kage:v1");
        assert_eq!(
            fake.calls.load(Ordering::SeqCst),
            1,
            "reused for STATUS_REUSE"
        );
        tokio::time::advance(STATUS_REUSE).await;
        assert_eq!(plugin.status().await.key_id, "transit/keys/kage:v2");
        let sealed = plugin
            .encrypt(&EncryptRequest {
                plaintext: vec![7; 32],
                uid: "u".into(),
            })
            .await
            .unwrap();
        assert_eq!(sealed.key_id, "transit/keys/kage:v2");
        let opened = plugin
            .decrypt(&DecryptRequest {
                ciphertext: sealed.ciphertext.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(opened.plaintext, vec![7; 32]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_kms_is_unhealthy_without_saying_where_it_is() {
        let fake = Fake::default();
        fake.version.store(4, Ordering::SeqCst);
        let plugin = Plugin::new(&fake);
        assert_eq!(plugin.status().await.healthz, "ok");
        fake.down.store(true, Ordering::SeqCst);
        tokio::time::advance(STATUS_REUSE).await;
        let status = plugin.status().await;
        assert_ne!(status.healthz, "ok");
        assert!(
            !status.healthz.contains("secret-host"),
            "{}",
            status.healthz
        );
        assert_eq!(
            status.key_id, "transit/keys/kage:v4",
            "the last key id is kept"
        );
        let refused = plugin
            .encrypt(&EncryptRequest {
                plaintext: vec![1; 32],
                uid: String::new(),
            })
            .await
            .unwrap_err();
        assert!(matches!(refused, Refusal::Unavailable(_)));
        assert!(!refused.to_string().contains("secret-host"));
    }

    #[tokio::test]
    async fn sizes_and_formats_are_refused_before_the_kms_is_asked() {
        let fake = Fake::default();
        fake.version.store(1, Ordering::SeqCst);
        let plugin = Plugin::new(&fake);
        for plaintext in [vec![], vec![0; MAX_PLAINTEXT_BYTES + 1]] {
            let request = EncryptRequest {
                plaintext,
                uid: String::new(),
            };
            assert!(matches!(
                plugin.encrypt(&request).await,
                Err(Refusal::Invalid(_))
            ));
        }
        for ciphertext in [
            vec![],
            vec![b'a'; MAX_CIPHERTEXT_BYTES + 1],
            b"not:transit".to_vec(),
            vec![0xff, 0xfe],
        ] {
            let request = DecryptRequest {
                ciphertext,
                ..Default::default()
            };
            assert!(matches!(
                plugin.decrypt(&request).await,
                Err(Refusal::Invalid(_))
            ));
        }
        assert_eq!(fake.calls.load(Ordering::SeqCst), 0);
        // At the limit it is accepted.
        let request = EncryptRequest {
            plaintext: vec![b'x'; MAX_PLAINTEXT_BYTES - 16],
            uid: String::new(),
        };
        assert!(plugin.encrypt(&request).await.is_ok());
    }
}
