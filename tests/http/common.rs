//! What the router tests share: fast timing, 3-node clusters on the
//! in-process network, and requests through the router without sockets.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use duckduckgoose::NodeId;
use duckduckgoose::core::NodeMetadata;
use duckduckgoose::http::{AdminAuth, AdminToken, router};
use duckduckgoose::runtime::{Node, NodeConfig, NodeHandle};
use duckduckgoose::storage::Storage;
use duckduckgoose::transport::MemoryNetwork;
use serde_json::{Value, json};
use tokio::time::{Instant, sleep};
use tower::ServiceExt;

pub use crate::support::cluster::Cluster;
use crate::support::cluster::single_goose;

/// Many election timeouts (150–300 ms each).
pub const ELECTION_WAIT: Duration = Duration::from_secs(20);

/// How often a test finds the Goose again after it lost the role between
/// finding it and asking it.
pub const ATTEMPTS: usize = 20;

/// The three voters.
pub fn ids() -> Vec<NodeId> {
    (1..=3).map(NodeId).collect()
}

/// The default timing divided by two: tick 5 ms, heartbeat 25 ms, election
/// timeout 150–300 ms, so a 125 ms lease. Node 3 has no display address
/// and no metadata; the others have both ([`meta_json`]).
pub fn config(id: NodeId, members: &[NodeId]) -> NodeConfig {
    let mut config = NodeConfig::new(id, members.iter().copied());
    fast_with_addresses(&mut config);
    config
}

/// The timing of [`config`], for configurations made otherwise.
pub fn fast(config: &mut NodeConfig) {
    config.tick = Duration::from_millis(5);
    config.heartbeat = Duration::from_millis(25);
    config.election_timeout = Duration::from_millis(150)..Duration::from_millis(300);
    config.rng_seed = Some(500 + config.id.0);
}

/// [`fast`], and the display address and metadata of every voter but
/// node 3.
fn fast_with_addresses(config: &mut NodeConfig) {
    fast(config);
    let members = config.members.clone();
    for member in members.iter().filter(|member| member.0 != 3) {
        config
            .addresses
            .insert(*member, format!("127.0.0.1:{}", 7000 + member.0));
        let app = NodeMetadata::new()
            .with("http", app_url(*member))
            .expect("valid metadata");
        config.metadata.insert(*member, app);
    }
}

/// Where voter `id`'s application serves, in its metadata.
pub fn app_url(id: NodeId) -> String {
    format!("http://127.0.0.1:{}", 8000 + id.0)
}

/// The metadata of member `id` as JSON: `{"http": ...}` for voters 1 and 2,
/// `{}` otherwise.
pub fn meta_json(id: NodeId) -> Value {
    match id.0 {
        1 | 2 => json!({ "http": app_url(id) }),
        _ => json!({}),
    }
}

/// The display address of member `id` as JSON: `null` for node 3.
pub fn addr_json(id: NodeId) -> Value {
    match id.0 {
        3 => Value::Null,
        n => json!(format!("127.0.0.1:{}", 7000 + n)),
    }
}

/// Three voters of [`config`] on the in-process network of `seed`.
/// Node 1 of a cluster of one on `network`, with `storage`, once it is the
/// Goose.
pub async fn lone_goose<S: Storage>(network: &MemoryNetwork, storage: S) -> NodeHandle {
    let node = Node::start(
        config(NodeId(1), &[NodeId(1)]),
        network.transport(NodeId(1)),
        storage,
    )
    .await
    .expect("start");
    tokio::time::timeout(
        ELECTION_WAIT,
        node.wait_for_role(duckduckgoose::Role::Goose),
    )
    .await
    .expect("a cluster of one elects itself")
    .expect("the node runs");
    node
}

pub async fn start_cluster(seed: u64) -> Cluster {
    Cluster::memory(seed)
        .voters(3)
        .configure(fast_with_addresses)
        .start()
        .await
}

/// The three voters of [`start_cluster`] and node 4, a learner with the
/// display address `127.0.0.1:7004`.
pub async fn start_cluster_with_learner(seed: u64) -> Cluster {
    Cluster::memory(seed)
        .voters(3)
        .learners(1)
        .configure(|config| {
            fast_with_addresses(config);
            config
                .addresses
                .insert(NodeId(4), "127.0.0.1:7004".to_owned());
        })
        .start()
        .await
}

/// The admin token of the router tests' routers.
pub const ADMIN_TOKEN: &str = "router-tests-admin-token-5f3a";

/// Admin requests need [`ADMIN_TOKEN`].
pub fn admin_auth() -> AdminAuth {
    AdminAuth::Bearer(AdminToken::new(ADMIN_TOKEN).expect("a valid token"))
}

/// The router of `handle`, both route sets, the admin ones behind
/// [`ADMIN_TOKEN`].
pub fn app(handle: NodeHandle) -> Router {
    router(handle, admin_auth())
}

/// The router tests' own views of the shared cluster.
impl Cluster {
    /// The router of node `id`, both route sets, the admin ones behind
    /// [`ADMIN_TOKEN`].
    pub fn router(&self, id: NodeId) -> Router {
        app(self.node(id))
    }

    /// Waits until exactly one node is the Goose, checking at every sample
    /// that no two are at once, and returns its id.
    pub async fn goose(&self) -> NodeId {
        single_goose(self.nodes(), ELECTION_WAIT).await.id()
    }

    /// Waits until the Goose is not `old` and returns it.
    pub async fn goose_other_than(&self, old: NodeId) -> NodeId {
        let deadline = Instant::now() + ELECTION_WAIT;
        loop {
            let goose = self.goose().await;
            if goose != old {
                return goose;
            }
            assert!(Instant::now() < deadline, "{old} stayed the Goose");
            sleep(Duration::from_millis(2)).await;
        }
    }
}

/// One request through the router, without sockets.
pub async fn call(
    app: &Router,
    method: Method,
    path: &str,
    body: Body,
) -> (StatusCode, Option<String>, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(body)
        .expect("a valid request");
    call_request(app, request).await
}

pub async fn call_request(
    app: &Router,
    request: Request<Body>,
) -> (StatusCode, Option<String>, Vec<u8>) {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().expect("ASCII content type").to_owned());
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a readable body");
    (status, content_type, body.to_vec())
}

/// A request whose answer must be JSON.
pub async fn call_json(app: &Router, method: Method, path: &str) -> (StatusCode, Value) {
    let (status, content_type, body) = call(app, method, path, Body::empty()).await;
    assert_eq!(content_type.as_deref(), Some("application/json"), "{path}");
    let json = serde_json::from_slice(&body).expect("the body is JSON");
    (status, json)
}

/// An admin request as a client that may make it sends it: with
/// [`ADMIN_TOKEN`], `Content-Type: application/json` and `body`. Its answer
/// must be JSON.
pub async fn send_json(
    app: &Router,
    method: Method,
    path: &str,
    body: &str,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .expect("a valid request");
    let (status, content_type, body) = call_request(app, request).await;
    assert_eq!(content_type.as_deref(), Some("application/json"), "{path}");
    let json = serde_json::from_slice(&body).expect("the body is JSON");
    (status, json)
}

pub async fn get_json(app: &Router, path: &str) -> (StatusCode, Value) {
    call_json(app, Method::GET, path).await
}

pub fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect()
}

pub fn set<'a>(keys: &[&'a str]) -> BTreeSet<&'a str> {
    keys.iter().copied().collect()
}
