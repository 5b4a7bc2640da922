//! OpenBao (or HashiCorp Vault): the Transit engine kage wraps keys with, and the logins that
//! get a token for it.
//!
//! [`Transit`] encrypts and decrypts with one Transit key. It holds a [`Credential`], logs in
//! with it when it needs a token, renews the token before it expires (at
//! [`RENEW_AT_FRACTION`] of its lease) and logs in again when the renewal fails, when the token
//! nears its maximum lifetime, or when OpenBao answers 403 (a revoked token). Of the
//! credentials, only [`Credential::Token`] is a static token; it is the weakest choice.
//!
//! No error string carries a token, a secret id, a plaintext or a ciphertext.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tokio::time::Instant;
use zeroize::{Zeroize, Zeroizing};

/// How long one request to OpenBao may take, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A token is renewed once this fraction of its lease has passed.
pub const RENEW_AT_FRACTION: f64 = 2.0 / 3.0;

/// The largest answer read from OpenBao; Transit answers for kage's payloads are a few KiB.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why OpenBao could not be used. Never holds a credential or a payload.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is not understood.
    #[error(
        "unsupported KMS URL {0:?} (expected vault-transit://HOST:PORT/KEY or vault-transit+http://...)"
    )]
    BadUrl(String),
    /// The credential could not be read.
    #[error("no OpenBao credential: {0}")]
    NoCredential(String),
    /// Logging in failed.
    #[error("OpenBao login ({method}) at {kms} failed: {message}")]
    Login {
        /// Which OpenBao and key.
        kms: String,
        /// The auth method.
        method: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A Transit request failed.
    #[error("KMS {kms} {action} failed: {message}")]
    Request {
        /// Which OpenBao and key.
        kms: String,
        /// encrypt, decrypt, ...
        action: &'static str,
        /// What went wrong (from OpenBao, never the payload).
        message: String,
    },
}

/// How kage proves who it is to OpenBao.
pub enum Credential {
    /// A static token (from a file or `BAO_TOKEN`). Never renewed; the weakest choice: whoever
    /// reads it has the key's use until someone revokes it.
    Token(Zeroizing<String>),
    /// AppRole: a role id and a secret id (already unwrapped, see [`unwrap_secret_id`]). The
    /// token it gets is short-lived and renewed; the secret id never leaves memory.
    AppRole {
        /// The AppRole mount (`approle`).
        mount: String,
        /// The role id (not a secret on its own).
        role_id: String,
        /// The secret id.
        secret_id: Zeroizing<String>,
    },
    /// OpenBao's Kubernetes auth method: a projected ServiceAccount token, read from its file at
    /// every login (the kubelet refreshes it), exchanged for a short-lived OpenBao token.
    Kubernetes {
        /// The Kubernetes auth mount (`kubernetes`).
        mount: String,
        /// The OpenBao role bound to the ServiceAccount.
        role: String,
        /// The projected token's path.
        jwt_file: PathBuf,
    },
}

impl Credential {
    /// The auth method's name, for logs and errors.
    pub fn method(&self) -> &'static str {
        match self {
            Credential::Token(_) => "token",
            Credential::AppRole { .. } => "approle",
            Credential::Kubernetes { .. } => "kubernetes",
        }
    }
}

/// Where a Transit key lives: parsed from `vault-transit://HOST:PORT/KEY` (HTTPS) or
/// `vault-transit+http://HOST:PORT/KEY`.
#[derive(Debug, Clone)]
pub struct TransitUrl {
    /// The URL as given: names the KMS in logs and errors.
    pub url: String,
    /// `https://HOST:PORT` or `http://HOST:PORT`.
    pub base: String,
    /// The Transit key's name.
    pub key: String,
}

impl std::str::FromStr for TransitUrl {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self, Error> {
        let bad = || Error::BadUrl(url.to_owned());
        let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
        let http_scheme = match scheme {
            "vault-transit" => "https",
            "vault-transit+http" => "http",
            _ => return Err(bad()),
        };
        let (host, key) = rest.split_once('/').ok_or_else(bad)?;
        let key_chars = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if host.is_empty() || key.is_empty() || !key.chars().all(key_chars) {
            return Err(bad());
        }
        Ok(TransitUrl {
            url: url.to_owned(),
            base: format!("{http_scheme}://{host}"),
            key: key.to_owned(),
        })
    }
}

/// A token and when to renew it.
struct Session {
    token: Zeroizing<String>,
    /// `None` for a static token.
    renew_at: Option<Instant>,
    /// The lease the login gave, to tell a renewal that hit the maximum lifetime.
    login_lease: Duration,
    renewable: bool,
}

/// One Transit key of one OpenBao, with the credential to use it.
pub struct Transit {
    url: TransitUrl,
    client: kube::Client,
    mount: String,
    credential: Credential,
    session: tokio::sync::Mutex<Option<Session>>,
}

impl Transit {
    /// A client for `url`'s key, logging in with `credential` when it first needs a token.
    pub fn new(url: TransitUrl, credential: Credential) -> Result<Self, Error> {
        let client = http_client(&url)?;
        Ok(Transit {
            url,
            client,
            mount: "transit".to_owned(),
            credential,
            session: tokio::sync::Mutex::new(None),
        })
    }

    /// The URL as given (no credential): names the KMS.
    pub fn id(&self) -> &str {
        &self.url.url
    }

    /// The Transit key's mount and name, `transit/keys/NAME`.
    pub fn key_path(&self) -> String {
        format!("{}/keys/{}", self.mount, self.url.key)
    }

    /// Encrypts `plaintext` with the key's latest version: `vault:vN:...`.
    pub async fn encrypt(&self, plaintext: &[u8]) -> Result<String, Error> {
        let body = Zeroizing::new(json!({"plaintext": STANDARD.encode(plaintext)}).to_string());
        let answer = self.transit("encrypt", body).await?;
        answer["data"]["ciphertext"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| self.fail("encrypt", "no ciphertext in the answer"))
    }

    /// Decrypts what [`Transit::encrypt`] produced.
    pub async fn decrypt(&self, ciphertext: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
        let body = Zeroizing::new(json!({"ciphertext": ciphertext}).to_string());
        let mut answer = self.transit("decrypt", body).await?;
        let decoded = answer["data"]["plaintext"]
            .as_str()
            .and_then(|p| STANDARD.decode(p).ok())
            .map(Zeroizing::new);
        if let Some(Value::String(s)) = answer.pointer_mut("/data/plaintext") {
            s.zeroize();
        }
        decoded.ok_or_else(|| self.fail("decrypt", "no plaintext in the answer"))
    }

    fn fail(&self, action: &'static str, message: &str) -> Error {
        Error::Request {
            kms: self.url.url.clone(),
            action,
            message: message.to_owned(),
        }
    }

    /// A Transit call with a valid token; on 403 (a revoked or expired token) logs in again and
    /// retries once.
    async fn transit(&self, action: &'static str, body: Zeroizing<String>) -> Result<Value, Error> {
        let path = format!("/v1/{}/{action}/{}", self.mount, self.url.key);
        let token = self.token(false).await?;
        match post(&self.client, &path, Some(&token), &body).await {
            Err(Failure::Status(403, _)) if !matches!(self.credential, Credential::Token(_)) => {
                let token = self.token(true).await?;
                post(&self.client, &path, Some(&token), &body).await
            }
            other => other,
        }
        .map_err(|e| self.fail(action, &e.to_string()))
    }

    /// The current token: logs in when there is none (or `fresh`), renews it when due.
    async fn token(&self, fresh: bool) -> Result<Zeroizing<String>, Error> {
        let mut session = self.session.lock().await;
        if fresh {
            *session = None;
        }
        if let Some(current) = session.as_mut() {
            match current.renew_at {
                Some(at) if Instant::now() >= at => {
                    if current.renewable && self.renew(current).await {
                        return Ok(current.token.clone());
                    }
                }
                _ => return Ok(current.token.clone()),
            }
        }
        let new = self.login().await?;
        let token = new.token.clone();
        *session = Some(new);
        Ok(token)
    }

    /// Renews the session's token; false when it must log in again instead.
    async fn renew(&self, session: &mut Session) -> bool {
        let answer = post(
            &self.client,
            "/v1/auth/token/renew-self",
            Some(&session.token),
            "{}",
        )
        .await;
        let Ok(answer) = answer else {
            tracing::info!(kms = %self.url.url, "renewing the OpenBao token failed; logging in again");
            return false;
        };
        let lease = lease_of(&answer);
        // A renewal capped by the token's maximum lifetime: log in again rather than renew
        // ever more often.
        if lease < session.login_lease / 4 {
            return false;
        }
        session.renew_at = Some(renew_at(lease));
        tracing::info!(kms = %self.url.url, lease_seconds = lease.as_secs(), "renewed the OpenBao token");
        true
    }

    async fn login(&self) -> Result<Session, Error> {
        let method = self.credential.method();
        let fail = |message: String| Error::Login {
            kms: self.url.url.clone(),
            method,
            message,
        };
        let (path, body) = match &self.credential {
            Credential::Token(token) => {
                return Ok(Session {
                    token: token.clone(),
                    renew_at: None,
                    login_lease: Duration::ZERO,
                    renewable: false,
                });
            }
            Credential::AppRole {
                mount,
                role_id,
                secret_id,
            } => (
                format!("/v1/auth/{mount}/login"),
                Zeroizing::new(
                    json!({"role_id": role_id, "secret_id": secret_id.as_str()}).to_string(),
                ),
            ),
            Credential::Kubernetes {
                mount,
                role,
                jwt_file,
            } => {
                let jwt = Zeroizing::new(std::fs::read_to_string(jwt_file).map_err(|e| {
                    fail(format!(
                        "cannot read the ServiceAccount token {jwt_file:?}: {e}"
                    ))
                })?);
                (
                    format!("/v1/auth/{mount}/login"),
                    Zeroizing::new(json!({"role": role, "jwt": jwt.trim()}).to_string()),
                )
            }
        };
        let mut answer = post(&self.client, &path, None, &body)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let token = answer
            .pointer_mut("/auth/client_token")
            .and_then(|t| match t {
                Value::String(s) => Some(Zeroizing::new(std::mem::take(s))),
                _ => None,
            })
            .ok_or_else(|| fail("no token in the answer".to_owned()))?;
        let lease = lease_of(&answer);
        tracing::info!(kms = %self.url.url, method, lease_seconds = lease.as_secs(), "logged in to OpenBao");
        Ok(Session {
            token,
            renew_at: (lease > Duration::ZERO).then(|| renew_at(lease)),
            login_lease: lease,
            renewable: answer["auth"]["renewable"].as_bool().unwrap_or(false),
        })
    }
}

fn lease_of(answer: &Value) -> Duration {
    Duration::from_secs(answer["auth"]["lease_duration"].as_u64().unwrap_or(0))
}

fn renew_at(lease: Duration) -> Instant {
    Instant::now() + lease.mul_f64(RENEW_AT_FRACTION)
}

/// Unwraps a response-wrapped AppRole secret id (`bao write -wrap-ttl=... -f
/// auth/approle/role/R/secret-id`). A wrapping token opens once: if it was unwrapped before
/// (intercepted, or used by an earlier start), this fails, and the secret id must be issued
/// again.
pub async fn unwrap_secret_id(
    url: &TransitUrl,
    wrapping_token: &str,
) -> Result<Zeroizing<String>, Error> {
    let fail = |message: String| Error::Login {
        kms: url.url.clone(),
        method: "approle",
        message,
    };
    let client = http_client(url)?;
    let mut answer = post(
        &client,
        "/v1/sys/wrapping/unwrap",
        Some(wrapping_token),
        "{}",
    )
    .await
    .map_err(|e| {
        fail(format!(
            "cannot unwrap the secret id ({e}): a wrapping token opens once; if it was \
                 already unwrapped, issue a new secret id and find out who used this one"
        ))
    })?;
    answer
        .pointer_mut("/data/secret_id")
        .and_then(|t| match t {
            Value::String(s) => Some(Zeroizing::new(std::mem::take(s))),
            _ => None,
        })
        .ok_or_else(|| fail("the wrapped answer holds no secret_id".to_owned()))
}

fn http_client(url: &TransitUrl) -> Result<kube::Client, Error> {
    let base = url
        .base
        .parse()
        .map_err(|_| Error::BadUrl(url.url.clone()))?;
    let mut config = kube::Config::new(base);
    // One answer per call: a sealed OpenBao answers 503, which the client would otherwise retry
    // with backoff until REQUEST_TIMEOUT cut it short as "timed out".
    config.default_retry = false;
    kube::Client::try_from(config).map_err(|e| Error::Request {
        kms: url.url.clone(),
        action: "connect",
        message: e.to_string(),
    })
}

/// Why one HTTP call failed; the message never holds the request body.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// OpenBao answered an error: its code and its `errors` (which name the problem, never a
    /// payload: "permission denied", "invalid role name", ...).
    #[error("HTTP {0}: {1}")]
    Status(u16, String),
    #[error("timed out")]
    Timeout,
    #[error("answer over {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
    #[error("answer is not JSON")]
    NotJson,
    #[error("{0}")]
    Other(String),
}

/// The longest part of OpenBao's error list kept in an error string.
const MAX_ERROR_CHARS: usize = 300;

/// OpenBao's `{"errors": [...]}`, joined and cut to [`MAX_ERROR_CHARS`].
fn errors_of(body: &[u8]) -> String {
    let errors = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v["errors"].as_array().map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        })
        .unwrap_or_default();
    errors.chars().take(MAX_ERROR_CHARS).collect()
}

async fn post(
    client: &kube::Client,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Result<Value, Failure> {
    use http_body_util::BodyExt;
    let mut request = http::Request::post(path).header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("X-Vault-Token", token);
    }
    let request = request
        .body(kube::client::Body::from(body.as_bytes().to_vec()))
        .map_err(|e| Failure::Other(e.to_string()))?;
    let exchange = async {
        let response = client
            .send(request)
            .await
            .map_err(|e| Failure::Other(e.to_string()))?;
        let status = response.status().as_u16();
        let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|_| Failure::TooLarge)?
            .to_bytes();
        Ok::<_, Failure>((status, body))
    };
    let (status, body) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| Failure::Timeout)??;
    // The answer may hold a plaintext (decrypt) or a token (login): wipe it once parsed.
    let mut body = Zeroizing::new(Vec::from(body));
    if !(200..300).contains(&status) {
        return Err(Failure::Status(status, errors_of(&body)));
    }
    let parsed = serde_json::from_slice(&body).map_err(|_| Failure::NotJson);
    body.zeroize();
    parsed
}

/// The key version a Transit ciphertext (`vault:vN:...`) was made with.
pub fn key_version(ciphertext: &str) -> Option<u32> {
    let rest = ciphertext.strip_prefix("vault:v")?;
    let (version, _) = rest.split_once(':')?;
    version.parse().ok().filter(|v| *v > 0)
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
            "vault-transit://h/a?b",
        ] {
            assert!(
                matches!(bad.parse::<TransitUrl>(), Err(Error::BadUrl(_))),
                "{bad}"
            );
        }
        let url: TransitUrl = "vault-transit+http://127.0.0.1:8200/kage".parse().unwrap();
        assert_eq!(url.base, "http://127.0.0.1:8200");
        assert_eq!(url.key, "kage");
    }

    #[test]
    fn openbao_errors_are_joined_and_cut() {
        assert_eq!(
            errors_of(br#"{"errors":["permission denied","invalid role name"]}"#),
            "permission denied; invalid role name"
        );
        assert_eq!(errors_of(b"<html>not json</html>"), "");
        let long = format!(r#"{{"errors":["{}"]}}"#, "a".repeat(1000));
        assert_eq!(errors_of(long.as_bytes()).len(), MAX_ERROR_CHARS);
    }

    #[test]
    fn key_versions_are_read_from_ciphertexts() {
        assert_eq!(key_version("vault:v3:abc"), Some(3));
        assert_eq!(key_version("vault:v12:abc"), Some(12));
        for bad in [
            "vault:v0:abc",
            "vault:3:abc",
            "vault:vx:abc",
            "vault:v3",
            "v3:abc",
        ] {
            assert_eq!(key_version(bad), None, "{bad}");
        }
    }
}
