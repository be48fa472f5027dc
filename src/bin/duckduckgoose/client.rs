//! A minimal HTTP/1.1 client for a node's API: one request per connection,
//! JSON in and out, a bearer token for the admin routes.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use thiserror::Error;
use tokio::net::TcpStream;

/// How long one request may take, connection included: a node answers in
/// milliseconds, except a membership change, which the node bounds at 10 s.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a request got no answer to show.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot reach {node}: {source}")]
    Connect {
        node: String,
        source: std::io::Error,
    },
    #[error("{node} did not answer within {}s", REQUEST_TIMEOUT.as_secs())]
    Timeout { node: String },
    #[error("HTTP exchange with {node} failed: {source}")]
    Http { node: String, source: hyper::Error },
    #[error("cannot build a request to {node}: {source}")]
    Request {
        node: String,
        source: hyper::http::Error,
    },
    #[error("{node} answered {status} with a body that is not JSON: {body:?}")]
    NotJson {
        node: String,
        status: StatusCode,
        body: String,
    },
}

/// A node's answer: its status code and JSON body.
pub struct Answer {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl Answer {
    /// The `error` field of a refusal, or the whole body.
    pub fn reason(&self) -> String {
        match self.body.get("error").and_then(|error| error.as_str()) {
            Some(error) => error.to_owned(),
            None => self.body.to_string(),
        }
    }
}

/// Sends one request to the node at `node` (`HOST:PORT`). A `body` is sent
/// as JSON; a `token` as `Authorization: Bearer`.
pub async fn request(
    node: &str,
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
    token: Option<&str>,
) -> Result<Answer, ClientError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, exchange(node, method, path, body, token)).await {
        Ok(answer) => answer,
        Err(_) => Err(ClientError::Timeout {
            node: node.to_owned(),
        }),
    }
}

async fn exchange(
    node: &str,
    method: Method,
    path: &str,
    body: Option<&serde_json::Value>,
    token: Option<&str>,
) -> Result<Answer, ClientError> {
    let http = |source| ClientError::Http {
        node: node.to_owned(),
        source,
    };
    let stream = TcpStream::connect(node)
        .await
        .map_err(|source| ClientError::Connect {
            node: node.to_owned(),
            source,
        })?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(http)?;
    // Drives the connection until the answer is read; ends with it.
    tokio::spawn(connection);

    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, node);
    if let Some(token) = token {
        builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    // State changes always carry a JSON body, even an empty object: the
    // node refuses them without a JSON content type.
    let payload = match body {
        Some(body) => {
            builder = builder.header(CONTENT_TYPE, "application/json");
            Bytes::from(body.to_string())
        }
        None => Bytes::new(),
    };
    let request = builder
        .body(Full::new(payload))
        .map_err(|source| ClientError::Request {
            node: node.to_owned(),
            source,
        })?;
    let response = sender.send_request(request).await.map_err(http)?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(http)?
        .to_bytes();
    match serde_json::from_slice(&bytes) {
        Ok(body) => Ok(Answer { status, body }),
        Err(_) => Err(ClientError::NotJson {
            node: node.to_owned(),
            status,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }),
    }
}
