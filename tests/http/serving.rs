//! Errors as JSON, the router served over a real socket, and mounted next
//! to a user's own routes.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use duckduckgoose::NodeId;
use duckduckgoose::http::BODY_LIMIT_BYTES;
use duckduckgoose::runtime::Node;
use duckduckgoose::storage::MemStorage;
use duckduckgoose::transport::MemoryTransport;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use crate::common::{
    ADMIN_TOKEN, app, call, call_json, call_request, config, get_json, ids, start_cluster,
};

#[tokio::test]
async fn unknown_paths_wrong_methods_and_large_bodies_answer_json_errors() {
    let network = MemoryTransport::network(8);
    let node = Node::start(
        config(NodeId(1), &ids()),
        network.transport(NodeId(1)),
        MemStorage::new(),
    )
    .await
    .expect("start");
    let app = app(node.clone());

    for path in [
        "/nope",
        "/status/extra",
        "//status",
        "/%ff%00",
        "/STATUS",
        "/",
    ] {
        let (code, body) = get_json(&app, path).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body, json!({ "error": "not found" }), "{path}");
    }
    let long_path = format!("/{}", "a".repeat(10_000));
    let (code, _) = get_json(&app, &long_path).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    // A query string is ignored.
    let (code, _) = get_json(&app, "/status?verbose=1&x").await;
    assert_eq!(code, StatusCode::OK);

    for (method, path) in [
        (Method::POST, "/status"),
        (Method::DELETE, "/cluster"),
        (Method::GET, "/step-down"),
        (Method::PUT, "/metrics"),
        (Method::PATCH, "/health"),
    ] {
        let (code, body) = call_json(&app, method.clone(), path).await;
        assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(body, json!({ "error": "method not allowed" }));
    }

    // Bodies: at the limit a request goes through (a Duck refuses to step
    // down); over it, with or without a declared length, it is 413.
    let at_limit = Request::post("/step-down")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(vec![b'x'; BODY_LIMIT_BYTES]))
        .expect("a valid request");
    let (code, _, _) = call_request(&app, at_limit).await;
    assert_eq!(code, StatusCode::CONFLICT);
    let over = vec![b'x'; BODY_LIMIT_BYTES + 1];
    let (code, content_type, body) = call(&app, Method::POST, "/step-down", Body::from(over)).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let body: Value = serde_json::from_slice(&body).expect("JSON");
    assert!(body["error"].is_string());
    // Declared too large: refused without reading the body.
    let request = Request::post("/step-down")
        .header(header::CONTENT_LENGTH, "1000000")
        .body(Body::empty())
        .expect("a valid request");
    let (code, _, _) = call_request(&app, request).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
    // Even on a GET, and on a path that does not exist.
    let (code, _, _) = call(&app, Method::GET, "/status", Body::from(vec![0u8; 100_000])).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);

    // Still healthy after all that.
    let (code, _) = get_json(&app, "/health").await;
    assert_eq!(code, StatusCode::OK);
    node.shutdown().await;
}

/// Sends `request` on a fresh connection and reads until the server closes
/// it; returns the status code and the body.
async fn raw_exchange(address: std::net::SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut response = Vec::new();
    timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("the server answers and closes")
        .expect("read");
    let text = String::from_utf8(response).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("headers end");
    let status_line = head.lines().next().expect("a status line");
    let code = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    (code, body.to_owned())
}

#[tokio::test]
async fn serves_raw_http_over_tcp_and_shrugs_off_garbage() {
    let cluster = start_cluster(9).await;
    let goose = cluster.goose().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("local address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, cluster.router(goose))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );

    let get = |path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").into_bytes()
    };
    let (code, body) = raw_exchange(address, &get("/status")).await;
    assert_eq!(code, 200);
    let status: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(status["id"], json!(goose.0));
    assert!(status["role"] == "Goose" || status["role"] == "Duck");

    // Garbage of several kinds: the server answers 400 or hangs up, and
    // keeps serving.
    let garbage: [&[u8]; 5] = [
        b"\x00\x01\x02\xff\xfe garbage\r\n\r\n",
        b"GET /status HTTP/9.9\r\n\r\n",
        b"GET /status HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n",
        b"GET /status HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"\r\n\r\n\r\n",
    ];
    for bytes in garbage {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        stream.write_all(bytes).await.expect("write");
        // Half-close, so a server waiting for more bytes sees the end.
        stream.shutdown().await.expect("half-close");
        let mut response = Vec::new();
        let _ = timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
            .await
            .expect("the server answers or hangs up");
        let text = String::from_utf8_lossy(&response);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 4"),
            "{bytes:?} got {text}"
        );
    }
    let (code, body) = raw_exchange(address, &get("/health")).await;
    assert_eq!((code, body.as_str()), (200, r#"{"status":"ok"}"#));

    // Errors over the wire are JSON too.
    let (code, body) = raw_exchange(address, &get("/missing")).await;
    assert_eq!((code, body.as_str()), (404, r#"{"error":"not found"}"#));
    let (code, _) = raw_exchange(
        address,
        b"POST /step-down HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 10000000\r\n\r\n",
    )
    .await;
    assert_eq!(code, 413);
    let mut chunked =
        b"POST /step-down HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for _ in 0..5 {
        chunked.extend_from_slice(b"400\r\n");
        chunked.extend_from_slice(&[b'y'; 0x400]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (code, _) = raw_exchange(address, &chunked).await;
    assert_eq!(code, 413);

    let (code, body) = raw_exchange(address, &get("/metrics")).await;
    assert_eq!(code, 200);
    assert!(body.contains("duckduckgoose_term "));

    let _ = stop.send(());
    timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops")
        .expect("the server task did not panic")
        .expect("serving succeeded");
    cluster.shutdown().await;
}

#[tokio::test]
async fn the_router_mounts_next_to_a_users_own_routes() {
    let network = MemoryTransport::network(10);
    let node = Node::start(
        config(NodeId(1), &ids()),
        network.transport(NodeId(1)),
        MemStorage::new(),
    )
    .await
    .expect("start");
    let own = || Router::new().route("/hello", axum::routing::get(|| async { "hi" }));

    // Merged: both sets of routes, and the JSON 404 for the rest.
    let merged = own().merge(app(node.clone()));
    let (code, _, body) = call(&merged, Method::GET, "/hello", Body::empty()).await;
    assert_eq!((code, body.as_slice()), (StatusCode::OK, &b"hi"[..]));
    let (code, _) = get_json(&merged, "/status").await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = get_json(&merged, "/nope").await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // Nested under a prefix, next to an app with its own fallback.
    let nested = own()
        .fallback(|| async { (StatusCode::NOT_FOUND, "mine") })
        .nest("/election", app(node.clone()));
    let (code, _) = get_json(&nested, "/election/health").await;
    assert_eq!(code, StatusCode::OK);
    let (code, body) = get_json(&nested, "/election/nope").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({ "error": "not found" }));
    let (code, _, body) = call(&nested, Method::GET, "/elsewhere", Body::empty()).await;
    assert_eq!(
        (code, body.as_slice()),
        (StatusCode::NOT_FOUND, &b"mine"[..])
    );

    // Merged into an app with its own fallback, after dropping ours.
    let merged = own()
        .fallback(|| async { (StatusCode::NOT_FOUND, "mine") })
        .merge(app(node.clone()).reset_fallback());
    let (code, _) = get_json(&merged, "/cluster").await;
    assert_eq!(code, StatusCode::OK);
    node.shutdown().await;
}
