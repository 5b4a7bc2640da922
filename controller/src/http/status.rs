//! Every refusal in one shape: a Kubernetes `Status`.

use super::*;

/// A refused request. Every endpoint answers errors in one shape, a Kubernetes `Status`
/// (`kind: Status`, `code`, `message`), which kube clients, kubectl and the service proxy
/// already understand.
#[derive(Debug)]
pub struct Refused {
    code: StatusCode,
    message: String,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let reason = self.code.canonical_reason().unwrap_or_default();
        let body = StatusBody {
            api_version: "v1",
            kind: "Status",
            status: kube::core::Status::failure(&self.message, reason)
                .with_code(self.code.as_u16()),
        };
        (self.code, Json(body)).into_response()
    }
}

/// A `kube::core::Status` with the type fields a Kubernetes client expects of a body.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusBody {
    api_version: &'static str,
    kind: &'static str,
    #[serde(flatten)]
    status: kube::core::Status,
}

/// An error response not written as a [`Refused`] (axum's own 404, 405, body-limit 413 and
/// extractor rejections) becomes one, so that every error has the one shape; a plain-text
/// message is kept.
pub(super) async fn as_status(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let message = match status {
        StatusCode::NOT_FOUND => {
            format!(
                "no such endpoint: the API has {}, {} and {}",
                path::KEYS,
                path::VERIFY,
                path::RESEAL
            )
        }
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this endpoint".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("the body is larger than the limit of {MAX_REQUEST_BYTES} bytes")
        }
        other => {
            let text = axum::body::to_bytes(response.into_body(), MAX_ERROR_TEXT_BYTES)
                .await
                .unwrap_or_default();
            match std::str::from_utf8(&text).map(str::trim) {
                Ok(text) if !text.is_empty() => text.to_owned(),
                _ => other.canonical_reason().unwrap_or("error").to_owned(),
            }
        }
    };
    error(status, message).into_response()
}

/// Longest plain-text error message kept when an error is rewritten as a `Status`.
pub(super) const MAX_ERROR_TEXT_BYTES: usize = 4096;

pub(super) fn error(code: StatusCode, message: impl std::fmt::Display) -> Refused {
    Refused {
        code,
        message: message.to_string(),
    }
}
