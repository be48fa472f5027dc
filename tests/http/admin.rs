//! The admin routes' guard: the bearer token, then the JSON content type;
//! the read-only and admin routers apart; tokens from files.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use duckduckgoose::http::{
    AdminAuth, AdminToken, AdminTokenError, AdminTokenFileError, MAX_ADMIN_TOKEN_BYTES,
    admin_router, read_router, router,
};
use duckduckgoose::runtime::NodeHandle;
use duckduckgoose::storage::MemStorage;
use duckduckgoose::transport::MemoryTransport;
use serde_json::{Value, json};
use tokio::time::{Instant, sleep};
use tower::ServiceExt;

use crate::common::{ADMIN_TOKEN, ELECTION_WAIT, admin_auth, call_request, get_json, lone_goose};
use crate::members::READD_1;

const JSON: &str = "application/json";

/// The three admin requests, each with a body it may carry.
const ADMIN_REQUESTS: [(&str, &str, &str); 3] = [
    ("POST", "/step-down", ""),
    ("POST", "/members", READD_1),
    ("DELETE", "/members/99", ""),
];

/// `method path` with `body` and the headers given; the status, the
/// `WWW-Authenticate` header and the body, which must be JSON.
async fn send(
    app: &Router,
    (method, path, body): (&str, &str, &str),
    headers: &[(header::HeaderName, &str)],
) -> (StatusCode, Option<String>, Value) {
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("a method"))
        .uri(path);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let request = request
        .body(Body::from(body.to_owned()))
        .expect("a valid request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|value| value.to_str().expect("ASCII").to_owned());
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a readable body");
    assert_eq!(
        content_type.as_ref().map(|value| value.as_bytes()),
        Some(JSON.as_bytes()),
        "{method} {path}: {status}"
    );
    let body = serde_json::from_slice(&body).expect("a JSON body");
    (status, challenge, body)
}

fn unauthorized(message: &str) -> Value {
    json!({ "error": message, "reason": "unauthorized" })
}

const MISSING: &str = "admin requests need one Authorization: Bearer <token> header";
const WRONG_SCHEME: &str = "the Authorization header must use the Bearer scheme";
const WRONG_TOKEN: &str = "the bearer token is not the admin token";

fn unsupported() -> Value {
    json!({
        "error": "admin requests must be sent with Content-Type: application/json",
        "reason": "unsupported_media_type",
    })
}

/// A cluster of one, Goose, with a membership the Goose may change.
async fn goose(seed: u64) -> NodeHandle {
    let network = MemoryTransport::network(seed);
    let node = lone_goose(&network, MemStorage::new()).await;
    // A new Goose's first change waits for its re-issue to commit.
    let app = router(node.clone(), admin_auth());
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let deadline = Instant::now() + ELECTION_WAIT;
    loop {
        let headers = [
            (header::AUTHORIZATION, bearer.as_str()),
            (header::CONTENT_TYPE, JSON),
        ];
        let (code, _, body) = send(&app, ADMIN_REQUESTS[1], &headers).await;
        if code == StatusCode::OK {
            return node;
        }
        assert!(Instant::now() < deadline, "{code} {body}");
        sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn admin_requests_without_the_right_bearer_token_answer_401_and_change_nothing() {
    let node = goose(31).await;
    let before = node.membership();
    let app = admin_router(node.clone(), admin_auth());
    let prefix = &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1];
    let longer = format!("{ADMIN_TOKEN}x");
    let mut same_length = ADMIN_TOKEN.as_bytes().to_vec();
    same_length[5] ^= 1;
    let same_length = String::from_utf8(same_length).expect("ASCII");
    let refused: Vec<(Vec<&str>, &str)> = vec![
        (vec![], MISSING),
        (vec!["Basic YWRtaW46YWRtaW4="], WRONG_SCHEME),
        (vec!["Token router-tests-admin-token-5f3a"], WRONG_SCHEME),
        (vec!["Bearerrouter-tests-admin-token-5f3a"], WRONG_SCHEME),
        (vec![""], WRONG_SCHEME),
        (vec!["Bearer"], WRONG_TOKEN),
        (vec!["Bearer "], WRONG_TOKEN),
    ];
    let wrong_tokens = [
        format!("Bearer {same_length}"),
        format!("Bearer {prefix}"),
        format!("Bearer {longer}"),
        format!("Bearer {}", ADMIN_TOKEN.to_uppercase()),
        format!("Bearer {ADMIN_TOKEN} x"),
    ];
    let right = format!("Bearer {ADMIN_TOKEN}");
    let cases = refused
        .into_iter()
        .chain(
            wrong_tokens
                .iter()
                .map(|value| (vec![value.as_str()], WRONG_TOKEN)),
        )
        // Two headers, even both right: which one counts is not guessed.
        .chain([(vec![right.as_str(), right.as_str()], MISSING)]);
    for (authorizations, message) in cases {
        for request in ADMIN_REQUESTS {
            let mut headers = vec![(header::CONTENT_TYPE, JSON)];
            headers.extend(
                authorizations
                    .iter()
                    .map(|value| (header::AUTHORIZATION, *value)),
            );
            let (code, challenge, body) = send(&app, request, &headers).await;
            assert_eq!(
                (code, challenge.as_deref(), body),
                (
                    StatusCode::UNAUTHORIZED,
                    Some("Bearer"),
                    unauthorized(message)
                ),
                "{request:?} with {authorizations:?}"
            );
        }
    }
    // The additions refused would have changed the membership.
    let (code, _, _) = send(
        &app,
        ("POST", "/members", r#"{"id": 4, "addr": "127.0.0.1:7004"}"#),
        &[(header::CONTENT_TYPE, JSON)],
    )
    .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(node.membership(), before);
    assert!(node.is_goose());
    node.shutdown().await;
}

#[tokio::test]
async fn admin_requests_with_the_right_bearer_token_are_answered_as_before() {
    let node = goose(32).await;
    let app = admin_router(node.clone(), admin_auth());
    for authorization in [
        format!("Bearer {ADMIN_TOKEN}"),
        format!("bearer {ADMIN_TOKEN}"),
        format!("BEARER   {ADMIN_TOKEN}"),
    ] {
        for content_type in [JSON, "application/json; charset=utf-8", "Application/JSON"] {
            let headers = [
                (header::AUTHORIZATION, authorization.as_str()),
                (header::CONTENT_TYPE, content_type),
            ];
            let (code, challenge, body) = send(&app, ADMIN_REQUESTS[0], &headers).await;
            assert_eq!(
                (code, challenge, body),
                (
                    StatusCode::CONFLICT,
                    None,
                    json!({ "error": "no other voter to hand over to", "leader": 1 })
                ),
                "{authorization} {content_type}"
            );
            let (code, _, body) = send(&app, ADMIN_REQUESTS[1], &headers).await;
            assert_eq!(code, StatusCode::OK, "{body}");
            assert_eq!(body["members"][0]["id"], json!(1));
            let (code, _, body) = send(&app, ADMIN_REQUESTS[2], &headers).await;
            assert_eq!(
                (code, body),
                (
                    StatusCode::NOT_FOUND,
                    json!({ "error": "node 99 is not a member", "reason": "not_a_member" })
                )
            );
        }
    }
    node.shutdown().await;
}

#[tokio::test]
async fn admin_requests_without_a_json_content_type_answer_415_after_authentication() {
    let node = goose(33).await;
    let before = node.membership();
    let app = admin_router(node.clone(), admin_auth());
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    for content_type in [
        None,
        Some("application/x-www-form-urlencoded"),
        Some("text/plain"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonp"),
        Some("text/json"),
    ] {
        for request in ADMIN_REQUESTS {
            let mut headers = vec![(header::AUTHORIZATION, bearer.as_str())];
            headers.extend(content_type.map(|value| (header::CONTENT_TYPE, value)));
            let (code, challenge, body) = send(&app, request, &headers).await;
            assert_eq!(
                (code, challenge, body),
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, None, unsupported()),
                "{request:?} as {content_type:?}"
            );
            // Without the token, the content type is not even looked at.
            let headers: Vec<_> = content_type
                .map(|value| (header::CONTENT_TYPE, value))
                .into_iter()
                .collect();
            let (code, _, body) = send(&app, request, &headers).await;
            assert_eq!(
                (code, body),
                (StatusCode::UNAUTHORIZED, unauthorized(MISSING)),
                "{request:?} as {content_type:?}"
            );
        }
    }
    assert_eq!(node.membership(), before);
    node.shutdown().await;
}

#[tokio::test]
async fn open_admin_routes_need_no_token_but_still_json() {
    let node = goose(34).await;
    let app = router(node.clone(), AdminAuth::Open);
    let (code, challenge, body) =
        send(&app, ADMIN_REQUESTS[2], &[(header::CONTENT_TYPE, JSON)]).await;
    assert_eq!(
        (code, challenge, body),
        (
            StatusCode::NOT_FOUND,
            None,
            json!({ "error": "node 99 is not a member", "reason": "not_a_member" })
        )
    );
    // Any Authorization header is ignored.
    let headers = [
        (header::AUTHORIZATION, "Basic YWRtaW46YWRtaW4="),
        (header::CONTENT_TYPE, JSON),
    ];
    let (code, _, _) = send(&app, ADMIN_REQUESTS[2], &headers).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    for request in ADMIN_REQUESTS {
        let headers = [(header::CONTENT_TYPE, "application/x-www-form-urlencoded")];
        let (code, _, body) = send(&app, request, &headers).await;
        assert_eq!(
            (code, body),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, unsupported()),
            "{request:?}"
        );
    }
    node.shutdown().await;
}

#[tokio::test]
async fn the_read_router_serves_no_admin_path_and_the_admin_router_no_read_path() {
    let network = MemoryTransport::network(35);
    let node = lone_goose(&network, MemStorage::new()).await;
    let read = read_router(node.clone());
    let not_found = json!({ "error": "not found" });
    let not_allowed = json!({ "error": "method not allowed" });
    // Even from a client with the token and the content type.
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let headers = [
        (header::AUTHORIZATION, bearer.as_str()),
        (header::CONTENT_TYPE, JSON),
    ];
    for (request, expected) in [
        (ADMIN_REQUESTS[0], (StatusCode::NOT_FOUND, &not_found)),
        (
            ADMIN_REQUESTS[1],
            (StatusCode::METHOD_NOT_ALLOWED, &not_allowed),
        ),
        (ADMIN_REQUESTS[2], (StatusCode::NOT_FOUND, &not_found)),
        (
            ("DELETE", "/members/1", ""),
            (StatusCode::NOT_FOUND, &not_found),
        ),
    ] {
        let (code, _, body) = send(&read, request, &headers).await;
        assert_eq!((code, &body), expected, "{request:?}");
    }
    for path in ["/status", "/cluster", "/members", "/metrics", "/health"] {
        let (code, _, _) = call_request(
            &read,
            Request::get(path).body(Body::empty()).expect("a request"),
        )
        .await;
        assert_eq!(code, StatusCode::OK, "{path}");
    }
    assert!(node.is_goose(), "nothing stepped down");

    // The admin router alone: no read path, and a path it does not serve
    // answers 404 or 405 before any token is asked for.
    let admin = admin_router(node.clone(), admin_auth());
    for (path, expected) in [
        ("/status", (StatusCode::NOT_FOUND, &not_found)),
        ("/health", (StatusCode::NOT_FOUND, &not_found)),
        ("/members", (StatusCode::METHOD_NOT_ALLOWED, &not_allowed)),
        ("/step-down", (StatusCode::METHOD_NOT_ALLOWED, &not_allowed)),
    ] {
        let (code, challenge, body) = send(&admin, ("GET", path, ""), &[]).await;
        assert_eq!((code, &body), expected, "{path}");
        assert_eq!(challenge, None, "{path}");
    }
    // Both together: reads open, admin behind the token.
    let both = router(node.clone(), admin_auth());
    let (code, _) = get_json(&both, "/members").await;
    assert_eq!(code, StatusCode::OK);
    let (code, _, body) = send(&both, ADMIN_REQUESTS[1], &[(header::CONTENT_TYPE, JSON)]).await;
    assert_eq!(
        (code, body),
        (StatusCode::UNAUTHORIZED, unauthorized(MISSING))
    );
    node.shutdown().await;
}

#[tokio::test]
async fn a_token_from_a_file_loses_one_line_ending_and_guards_the_router() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("admin-token");
    std::fs::write(&path, format!("{ADMIN_TOKEN}\r\n")).expect("write");
    let auth = AdminAuth::bearer_from_file(&path).expect("a valid token file");
    let network = MemoryTransport::network(36);
    let node = lone_goose(&network, MemStorage::new()).await;
    let app = admin_router(node.clone(), auth);
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let headers = [
        (header::AUTHORIZATION, bearer.as_str()),
        (header::CONTENT_TYPE, JSON),
    ];
    let (code, _, _) = send(&app, ADMIN_REQUESTS[0], &headers).await;
    assert_eq!(code, StatusCode::CONFLICT, "past the guard");
    node.shutdown().await;
}

#[test]
fn token_files_that_hold_no_token_are_typed_errors() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let missing = dir.path().join("missing");
    match AdminToken::from_file(&missing) {
        Err(AdminTokenFileError::Unreadable { path, source }) => {
            assert_eq!(path, missing);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
    let error = AdminAuth::bearer_from_file(dir.path()).expect_err("a directory");
    assert!(
        matches!(&error, AdminTokenFileError::Unreadable { path, .. } if path == dir.path()),
        "{error:?}"
    );

    let invalid = |contents: &[u8]| {
        let path = dir.path().join("token");
        std::fs::write(&path, contents).expect("write");
        match AdminToken::from_file(&path) {
            Err(AdminTokenFileError::Invalid {
                path: named,
                source,
            }) => {
                assert_eq!(named, path);
                source
            }
            other => panic!("{contents:?}: {other:?}"),
        }
    };
    for empty in [&b""[..], b"\n", b"\r\n"] {
        assert_eq!(invalid(empty), AdminTokenError::Empty, "{empty:?}");
    }
    for (contents, position) in [
        (&b"token\n\n"[..], 5),
        (b"token\r", 5),
        (b"token \n", 5),
        (b" token", 0),
        (b"tok en", 3),
        (b"tok\ten", 3),
        (b"tok\xffen", 3),
        ("tökén".as_bytes(), 1),
        (b"line one\nline two\n", 4),
    ] {
        assert_eq!(
            invalid(contents),
            AdminTokenError::InvalidByte { position },
            "{contents:?}"
        );
    }
    let huge = vec![b'x'; 10 * MAX_ADMIN_TOKEN_BYTES];
    assert_eq!(
        invalid(&huge),
        AdminTokenError::TooLong {
            len_bytes: MAX_ADMIN_TOKEN_BYTES + 3
        }
    );
    let mut at_limit = vec![b'x'; MAX_ADMIN_TOKEN_BYTES];
    at_limit.extend_from_slice(b"\r\n");
    let path = dir.path().join("at-limit");
    std::fs::write(&path, &at_limit).expect("write");
    let token = AdminToken::from_file(&path).expect("a token at the limit");
    assert!(token.matches(&at_limit[..MAX_ADMIN_TOKEN_BYTES]));

    // The messages name the file and never the token.
    let path = dir.path().join("token");
    std::fs::write(&path, "secret value\n").expect("write");
    let error = AdminToken::from_file(&path).expect_err("a space inside");
    assert_eq!(
        error.to_string(),
        format!(
            "admin token file {}: the admin token has a byte at position 6 that is not \
             printable ASCII (no spaces, line breaks, control characters or non-ASCII)",
            path.display()
        )
    );
    std::fs::write(&path, "").expect("write");
    assert_eq!(
        AdminToken::from_file(&path).expect_err("empty").to_string(),
        format!(
            "admin token file {}: the admin token is empty",
            path.display()
        )
    );
}
