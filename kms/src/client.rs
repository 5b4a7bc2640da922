//! A client of the plugin's socket, as the API server calls it: for tests, benchmarks and
//! `kage-kms status`.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
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
    sender: hyper::client::conn::http2::SendRequest<BoxBody<Bytes, Infallible>>,
    timeout: Option<Duration>,
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
        Ok(Client {
            sender,
            timeout: None,
        })
    }

    /// Sends a deadline (`grpc-timeout`) with every call from now on, as the API server does.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = Some(timeout);
    }

    /// Calls `method` with `message`: for the typed calls below, and for tests that send what
    /// the API server would not.
    pub async fn call_raw<M: Message, R: Message + Default>(
        &mut self,
        method: &str,
        message: &M,
    ) -> Result<R, ClientError> {
        let body = Full::new(frame(&message.encode_to_vec())).boxed();
        self.send(method, body).await
    }

    /// Sends the start of a frame for `method` and never the rest: the server's read timeout
    /// answers.
    pub async fn stalled_call(&mut self, method: &str) -> Result<(), ClientError> {
        use futures::StreamExt;
        let start = Bytes::from_static(&[0, 0, 0, 0, 100, 1]);
        let frames = futures::stream::once(async { Ok(hyper::body::Frame::data(start)) })
            .chain(futures::stream::pending());
        let body = BodyExt::boxed(StreamBody::new(frames));
        self.send::<crate::proto::StatusResponse>(method, body)
            .await
            .map(drop)
    }

    async fn send<R: Message + Default>(
        &mut self,
        method: &str,
        body: BoxBody<Bytes, Infallible>,
    ) -> Result<R, ClientError> {
        let mut request = Request::post(format!("http://localhost/{SERVICE}/{method}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        if let Some(timeout) = self.timeout {
            request = request.header("grpc-timeout", format!("{}m", timeout.as_millis()));
        }
        let request = request.body(body).map_err(transport)?;
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
        self.call_raw("Status", &StatusRequest {}).await
    }

    /// `Encrypt`.
    pub async fn encrypt(&mut self, plaintext: &[u8]) -> Result<EncryptResponse, ClientError> {
        let request = EncryptRequest {
            plaintext: plaintext.to_vec(),
            uid: "kage-kms-client".to_owned(),
        };
        self.call_raw("Encrypt", &request).await
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
        self.call_raw("Decrypt", &request).await
    }
}
