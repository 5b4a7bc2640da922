//! gRPC on a Unix socket: the three unary calls of the KMS v2 service, over hyper's HTTP/2.
//!
//! A gRPC unary call is an HTTP/2 POST to `/v2.KeyManagementService/<method>` whose body is one
//! frame (a zero compression flag, a 4-byte big-endian length, the protobuf message); the
//! answer is one frame and a `grpc-status` trailer. [`parse`] turns a request into a [`Call`]
//! and refuses anything else; it is the fuzz target's entry.

use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::combinators::WithTrailers;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;
use tokio::net::UnixListener;

use crate::plugin::{Backend, Plugin, Refusal};
use crate::proto::{DecryptRequest, EncryptRequest, SERVICE, StatusRequest};

/// The largest request message: a `Decrypt` with its ciphertext (1 KiB), key id (1 KiB) and
/// annotations (32 KiB at most, as the API server bounds them) fits.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Connections served at once; the API server keeps one.
pub const MAX_CONNECTIONS: usize = 16;

/// Calls in flight on one connection.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 64;

/// The largest header block of a request.
pub const MAX_HEADER_BYTES: u32 = 16 * 1024;

/// How long the body of a request may take to arrive.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one call may take, logins and OpenBao requests included; a shorter deadline the
/// client sends (`grpc-timeout`; the API server's `timeout`, 3 s by default) wins.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// gRPC status codes kage-kms answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    /// Done.
    Ok = 0,
    /// The call took longer than [`CALL_TIMEOUT`].
    DeadlineExceeded = 4,
    /// A malformed request, or one over a limit.
    InvalidArgument = 3,
    /// A request over [`MAX_MESSAGE_BYTES`].
    ResourceExhausted = 8,
    /// Not a method of the service, or a compressed message.
    Unimplemented = 12,
    /// The KMS could not do it.
    Unavailable = 14,
}

/// A refused call: its code and a message without any payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The gRPC code.
    pub code: Code,
    /// Why, for the API server's log.
    pub message: String,
}

impl Status {
    fn new(code: Code, message: impl Into<String>) -> Self {
        Status {
            code,
            message: message.into(),
        }
    }
}

impl From<Refusal> for Status {
    fn from(refusal: Refusal) -> Self {
        let code = match refusal {
            Refusal::Invalid(_) => Code::InvalidArgument,
            Refusal::Unavailable(_) => Code::Unavailable,
        };
        Status::new(code, refusal.to_string())
    }
}

/// One parsed call.
#[derive(Debug)]
pub enum Call {
    /// `Status`.
    Status,
    /// `Encrypt`.
    Encrypt(EncryptRequest),
    /// `Decrypt`.
    Decrypt(DecryptRequest),
}

/// Parses a request: the method from its path, the message from its one frame.
pub fn parse(path: &str, body: &[u8]) -> Result<Call, Status> {
    let method = path
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(SERVICE))
        .and_then(|p| p.strip_prefix('/'))
        .ok_or_else(|| Status::new(Code::Unimplemented, "unknown service"))?;
    let message = unframe(body)?;
    let invalid = |_| Status::new(Code::InvalidArgument, "the message is not valid protobuf");
    match method {
        "Status" => StatusRequest::decode(message)
            .map(|_| Call::Status)
            .map_err(invalid),
        "Encrypt" => EncryptRequest::decode(message)
            .map(Call::Encrypt)
            .map_err(invalid),
        "Decrypt" => DecryptRequest::decode(message)
            .map(Call::Decrypt)
            .map_err(invalid),
        _ => Err(Status::new(Code::Unimplemented, "unknown method")),
    }
}

/// The message of a body holding exactly one uncompressed frame.
fn unframe(body: &[u8]) -> Result<&[u8], Status> {
    let (head, message) = body
        .split_at_checked(5)
        .ok_or_else(|| Status::new(Code::InvalidArgument, "no gRPC frame"))?;
    if head[0] != 0 {
        return Err(Status::new(
            Code::Unimplemented,
            "compressed messages are not accepted",
        ));
    }
    let length = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if length > MAX_MESSAGE_BYTES {
        return Err(Status::new(
            Code::ResourceExhausted,
            format!("message over {MAX_MESSAGE_BYTES} bytes"),
        ));
    }
    if length != message.len() {
        return Err(Status::new(
            Code::InvalidArgument,
            "the gRPC frame's length is not the body's",
        ));
    }
    Ok(message)
}

/// One frame around `message`.
pub fn frame(message: &[u8]) -> Bytes {
    let mut framed = BytesMut::with_capacity(message.len() + 5);
    framed.put_u8(0);
    // Messages are bounded far below u32::MAX.
    framed.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    framed.put_slice(message);
    framed.freeze()
}

/// Runs a parsed call.
pub async fn run<B: Backend>(plugin: &Plugin<B>, call: Call) -> Result<Vec<u8>, Status> {
    Ok(match call {
        Call::Status => plugin.status().await.encode_to_vec(),
        Call::Encrypt(request) => plugin.encrypt(&request).await?.encode_to_vec(),
        Call::Decrypt(request) => {
            let response = plugin.decrypt(&request).await?;
            response.encode_to_vec()
        }
    })
}

/// The answer's body: one frame (or none) and the status trailers.
pub type Body = WithTrailers<Full<Bytes>, Ready<Option<Result<HeaderMap, Infallible>>>>;

fn answer(result: Result<Vec<u8>, Status>) -> Response<Body> {
    let mut trailers = HeaderMap::new();
    let data = match result {
        Ok(mut message) => {
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            let framed = frame(&message);
            zeroize::Zeroize::zeroize(&mut message);
            framed
        }
        Err(status) => {
            trailers.insert(
                "grpc-status",
                HeaderValue::from(u16::from(status.code as u8)),
            );
            if let Ok(message) = HeaderValue::from_str(&percent_encode(&status.message)) {
                trailers.insert("grpc-message", message);
            }
            Bytes::new()
        }
    };
    let mut response =
        Response::new(Full::new(data).with_trailers(std::future::ready(Some(Ok(trailers)))));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    response
}

/// The client's deadline from `grpc-timeout` (`2999m`, `3S`: at most 8 digits and a unit).
fn parse_timeout(text: &str) -> Option<Duration> {
    let (digits, unit) = text.split_at_checked(text.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value * 3600),
        "M" => Duration::from_secs(value * 60),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

/// gRPC's percent-encoding of `grpc-message`.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b' '..=b'~' if b != b'%' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn handle<B: Backend>(plugin: Arc<Plugin<B>>, request: Request<Incoming>) -> Response<Body> {
    let grpc = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if request.method() != http::Method::POST || !grpc {
        return answer(Err(Status::new(
            Code::InvalidArgument,
            "not a gRPC request",
        )));
    }
    let path = request.uri().path().to_owned();
    let deadline = request
        .headers()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_timeout)
        .map_or(CALL_TIMEOUT, |t| t.min(CALL_TIMEOUT));
    let body = Limited::new(request.into_body(), MAX_MESSAGE_BYTES + 5);
    let body = match tokio::time::timeout(READ_TIMEOUT, body.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => {
            return answer(Err(Status::new(
                Code::ResourceExhausted,
                format!("message over {MAX_MESSAGE_BYTES} bytes"),
            )));
        }
        Err(_) => {
            return answer(Err(Status::new(
                Code::DeadlineExceeded,
                "the request took too long to arrive",
            )));
        }
    };
    let result = match parse(&path, &body) {
        Ok(call) => tokio::time::timeout(deadline, run(&plugin, call))
            .await
            .unwrap_or_else(|_| Err(Status::new(Code::DeadlineExceeded, "the KMS took too long"))),
        Err(status) => Err(status),
    };
    // The body may hold a data key source (Encrypt); wipe what this copy can reach.
    if let Ok(mut bytes) = body.try_into_mut() {
        zeroize::Zeroize::zeroize(&mut bytes[..]);
    }
    if let Err(status) = &result {
        tracing::info!(path, code = status.code as u8, message = %status.message, "refused a call");
    }
    answer(result)
}

/// Serves the plugin on `listener` until `shutdown` completes.
pub async fn serve<B: Backend + 'static>(
    listener: UnixListener,
    plugin: Arc<Plugin<B>>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http2
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .max_header_list_size(MAX_HEADER_BYTES);
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                limit = MAX_CONNECTIONS,
                "too many connections; closing a new one"
            );
            continue;
        };
        let plugin = plugin.clone();
        let connection = http2.serve_connection(
            TokioIo::new(stream),
            hyper::service::service_fn(move |request| {
                let plugin = plugin.clone();
                async move { Ok::<_, Infallible>(handle(plugin, request).await) }
            }),
        );
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended");
            }
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_parsed_or_refused_with_a_code() {
        let status = frame(&[]);
        assert!(matches!(
            parse("/v2.KeyManagementService/Status", &status),
            Ok(Call::Status)
        ));
        let encrypt = frame(
            &EncryptRequest {
                plaintext: vec![1; 32],
                uid: "u".into(),
            }
            .encode_to_vec(),
        );
        assert!(matches!(
            parse("/v2.KeyManagementService/Encrypt", &encrypt),
            Ok(Call::Encrypt(r)) if r.plaintext == vec![1; 32]
        ));
        let code = |path: &str, body: &[u8]| parse(path, body).unwrap_err().code;
        assert_eq!(
            code("/v1beta1.KeyManagementService/Encrypt", &encrypt),
            Code::Unimplemented
        );
        assert_eq!(
            code("/v2.KeyManagementService/Other", &status),
            Code::Unimplemented
        );
        assert_eq!(
            code("/v2.KeyManagementService/Encrypt", &encrypt[..7]),
            Code::InvalidArgument
        );
        assert_eq!(
            code("/v2.KeyManagementService/Encrypt", b"\x00\x00"),
            Code::InvalidArgument
        );
        let mut compressed = encrypt.to_vec();
        compressed[0] = 1;
        assert_eq!(
            code("/v2.KeyManagementService/Encrypt", &compressed),
            Code::Unimplemented
        );
        let mut huge = vec![0, 0, 1, 0, 1];
        huge.resize(5 + MAX_MESSAGE_BYTES + 1, 0);
        assert_eq!(
            code("/v2.KeyManagementService/Encrypt", &huge),
            Code::ResourceExhausted
        );
        assert_eq!(
            code("/v2.KeyManagementService/Decrypt", &frame(b"\xff\xff\xff")),
            Code::InvalidArgument
        );
    }

    #[test]
    fn the_client_deadline_is_read() {
        assert_eq!(parse_timeout("2999m"), Some(Duration::from_millis(2999)));
        assert_eq!(parse_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_timeout("1H"), Some(Duration::from_secs(3600)));
        for bad in ["", "m", "123456789m", "3x", "-1S", "é"] {
            assert_eq!(parse_timeout(bad), None, "{bad}");
        }
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(percent_encode("a b%c\né"), "a b%25c%0A%C3%A9");
    }
}
