//! Key management systems that wrap the sealing keys.
//!
//! With a KMS, key Secrets hold only the KMS-wrapped identity: the plaintext identity exists
//! only in the controller's memory, so a stolen key Secret is useless without KMS access.
//!
//! Adding a KMS (AWS KMS, GCP Cloud KMS, Azure Key Vault) means implementing [`Kms`]: `wrap`
//! turns an identity into an opaque string stored in the Secret, `unwrap` reverses it, and
//! [`from_url`] maps a URL scheme to the implementation.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use kage_openbao::{Credential, Transit, TransitUrl};
use zeroize::Zeroizing;

/// Why the KMS could not wrap or unwrap. Never contains key material.
pub type KmsError = kage_openbao::Error;

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

/// How the controller logs in to the KMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KmsAuth {
    /// OpenBao's Kubernetes auth method with the controller's projected ServiceAccount token:
    /// no static credential anywhere.
    Kubernetes,
    /// A static token from `--kms-token-file`, `$BAO_TOKEN` or `$VAULT_TOKEN`: the weakest
    /// choice.
    Token,
}

/// What `--kms-*` flags say about the KMS credential.
pub struct KmsLogin<'a> {
    /// The auth method.
    pub auth: KmsAuth,
    /// `--kms-token-file`.
    pub token_file: Option<&'a PathBuf>,
    /// `--kms-role`: the OpenBao role for Kubernetes auth.
    pub role: &'a str,
    /// `--kms-jwt-file`: the projected ServiceAccount token.
    pub jwt_file: &'a Path,
    /// `--kms-auth-mount`: where the Kubernetes auth method is mounted.
    pub mount: &'a str,
}

/// Builds the KMS named by `url`, logging in as `login` says.
pub fn from_url(url: &str, login: &KmsLogin<'_>) -> Result<Box<dyn Kms>, KmsError> {
    let url: TransitUrl = url.parse()?;
    let credential = match login.auth {
        KmsAuth::Token => {
            let token = match login.token_file {
                Some(path) => std::fs::read_to_string(path).map_err(|e| {
                    KmsError::NoCredential(format!("cannot read --kms-token-file {path:?}: {e}"))
                })?,
                None => std::env::var("BAO_TOKEN")
                    .or_else(|_| std::env::var("VAULT_TOKEN"))
                    .map_err(|_| {
                        KmsError::NoCredential(
                            "set --kms-token-file, or BAO_TOKEN / VAULT_TOKEN".to_owned(),
                        )
                    })?,
            };
            Credential::Token(Zeroizing::new(token.trim().to_owned()))
        }
        KmsAuth::Kubernetes => Credential::Kubernetes {
            mount: login.mount.to_owned(),
            role: login.role.to_owned(),
            jwt_file: login.jwt_file.to_owned(),
        },
    };
    Ok(Box::new(Transit::new(url, credential)?))
}

impl Kms for Transit {
    fn id(&self) -> &str {
        Transit::id(self)
    }

    fn wrap<'a>(&'a self, plaintext: &'a [u8]) -> KmsFuture<'a, String> {
        Box::pin(self.encrypt(plaintext))
    }

    fn unwrap<'a>(&'a self, wrapped: &'a str) -> KmsFuture<'a, Zeroizing<Vec<u8>>> {
        Box::pin(self.decrypt(wrapped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        let login = KmsLogin {
            auth: KmsAuth::Kubernetes,
            token_file: None,
            role: "kage",
            jwt_file: Path::new("/nonexistent"),
            mount: "kubernetes",
        };
        for bad in [
            "vault://h/k",
            "vault-transit://h",
            "vault-transit:///k",
            "vault-transit://h/a/b",
        ] {
            assert!(
                matches!(from_url(bad, &login), Err(KmsError::BadUrl(_))),
                "{bad}"
            );
        }
    }
}
