//! The request body limit, enforced before routing so that no handler, now
//! or later, sees a body larger than [`BODY_LIMIT_BYTES`].

use std::pin::Pin;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::Response;

use super::{BODY_LIMIT_BYTES, error};

/// Reads the request body up to the limit and passes it on, or answers
/// `413` (too large) or `400` (the body could not be read).
pub(super) async fn limit(request: Request, next: Next) -> Response {
    // A declared length over the limit is refused without reading a byte.
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT_BYTES as u64) {
        return too_large();
    }
    let (parts, body) = request.into_parts();
    // Chunked bodies have no declared length: count as they arrive.
    match read_at_most(body, BODY_LIMIT_BYTES).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(BodyError::TooLarge) => too_large(),
        Err(BodyError::Unreadable) => error(StatusCode::BAD_REQUEST, "unreadable request body"),
    }
}

fn too_large() -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("request body larger than {BODY_LIMIT_BYTES} bytes"),
    )
}

enum BodyError {
    TooLarge,
    Unreadable,
}

/// The whole body, if it is at most `limit` bytes; trailers are ignored.
async fn read_at_most(mut body: Body, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut bytes = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|_| BodyError::Unreadable)?;
        if let Ok(data) = frame.into_data() {
            if data.len() > limit - bytes.len() {
                return Err(BodyError::TooLarge);
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes)
}
