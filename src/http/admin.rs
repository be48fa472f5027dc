//! The admin routes, the requests that change something, and the one guard
//! every one of them passes: the [`AdminAuth`] check, then the JSON content
//! type.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, post};

use super::auth::AdminAuth;
use super::{handlers, members, refusal};
use crate::runtime::NodeHandle;

/// `POST /step-down`, `POST /members` and `DELETE /members/{id}`, each
/// behind [`guard`]. A route layer, so that a path or method the admin
/// routes do not serve answers `404` or `405`, not `401`.
pub(super) fn routes(auth: AdminAuth) -> Router<NodeHandle> {
    Router::new()
        .route("/step-down", post(handlers::step_down))
        .route("/members", post(members::add))
        .route("/members/{id}", delete(members::remove))
        .route_layer(middleware::from_fn_with_state(auth, guard))
}

/// Lets a request through to an admin handler, or answers `401` (it does
/// not carry what `auth` asks for) or `415` (it is not declared as JSON).
///
/// Authentication comes first, so a client without the token learns
/// nothing else about the request it would have to send.
async fn guard(State(auth): State<AdminAuth>, request: Request, next: Next) -> Response {
    if let Err(denial) = auth.admits(request.headers()) {
        let mut response = refusal(StatusCode::UNAUTHORIZED, "unauthorized", denial.message());
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    if !is_json(request.headers()) {
        return refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "admin requests must be sent with Content-Type: application/json",
        );
    }
    next.run(request).await
}

/// Whether the request says its body is JSON (`application/json`, any
/// parameters such as `; charset=utf-8` allowed), even when it has none.
/// A browser sends that type across origins only after a CORS preflight,
/// which these routes never approve, so a web page cannot make a visitor's
/// browser change anything with a plain form post, even without a token.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
            headers
        };
        for json in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            " application/json ;charset=UTF-8",
        ] {
            assert!(is_json(&with(json)), "{json}");
        }
        for other in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
            "application/json-seq",
            "application/ld+json",
            "",
        ] {
            assert!(!is_json(&with(other)), "{other}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }
}
