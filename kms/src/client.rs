//! A client of the plugin's socket, as the API server calls it: for tests, benchmarks and
//! `kage-kms status`.

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;

use crate::grpc::{MAX_MESSAGE_BYTES, frame};
use crate::proto::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, SERVICE, StatusRequest,
    StatusResponse,
};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket or HTTP/2 failed.
    #[error("{0}")]
    Transport(String),
    /// The plugin answered a gRPC error.
    #[error("gRPC status {code}: {message}")]
    Status {
        /// The gRPC code.
        code: u8,
        /// The plugin's message.
        message: String,
    },
}

/// One HTTP/2 connection to the plugin.
pub struct Client {
    sender: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
}

fn transport(e: impl std::fmt::Display) -> ClientError {
    ClientError::Transport(e.to_string())
}

impl Client {
    /// Connects to the plugin's Unix socket.
    pub async fn connect(socket: &std::path::Path) -> Result<Self, ClientError> {
        let stream = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(transport)?;
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .map_err(transport)?;
        tokio::spawn(connection);
        Ok(Client { sender })
    }

    async fn call<M: Message, R: Message + Default>(
        &mut self,
        method: &str,
        message: &M,
    ) -> Result<R, ClientError> {
        let request = Request::post(format!("http://localhost/{SERVICE}/{method}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Full::new(frame(&message.encode_to_vec())))
            .map_err(transport)?;
        self.sender.ready().await.map_err(transport)?;
        let response = self.sender.send_request(request).await.map_err(transport)?;
        let collected = response.into_body().collect().await.map_err(transport)?;
        let trailers = collected.trailers().cloned().unwrap_or_default();
        let text = |name: &str| {
            trailers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let code: u8 = text("grpc-status").parse().map_err(transport)?;
        if code != 0 {
            return Err(ClientError::Status {
                code,
                message: text("grpc-message"),
            });
        }
        let body = collected.to_bytes();
        if body.len() < 5 || body.len() > MAX_MESSAGE_BYTES + 5 {
            return Err(transport("no gRPC frame in the answer"));
        }
        R::decode(&body[5..]).map_err(transport)
    }

    /// `Status`.
    pub async fn status(&mut self) -> Result<StatusResponse, ClientError> {
        self.call("Status", &StatusRequest {}).await
    }

    /// `Encrypt`.
    pub async fn encrypt(&mut self, plaintext: &[u8]) -> Result<EncryptResponse, ClientError> {
        let request = EncryptRequest {
            plaintext: plaintext.to_vec(),
            uid: "kage-kms-client".to_owned(),
        };
        self.call("Encrypt", &request).await
    }

    /// `Decrypt`.
    pub async fn decrypt(
        &mut self,
        ciphertext: &[u8],
        key_id: &str,
    ) -> Result<DecryptResponse, ClientError> {
        let request = DecryptRequest {
            ciphertext: ciphertext.to_vec(),
            uid: "kage-kms-client".to_owned(),
            key_id: key_id.to_owned(),
            annotations: Default::default(),
        };
        self.call("Decrypt", &request).await
    }
}
