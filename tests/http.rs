//! The `http` feature's router, end to end: real 3-node clusters on the
//! in-process `MemoryTransport`, driven through `tower::ServiceExt::oneshot`
//! (no sockets), and once served by `axum::serve` on a loopback port and
//! spoken to in raw HTTP/1.1 over a `TcpStream`.
//!
//! The clusters run in real time (axum and paused time do not mix well) with
//! timings scaled down to a 5 ms tick. Nothing asserts how fast anything
//! is; where a role may change under a request (a lease can lapse on a busy
//! machine), the test finds the Goose again and retries.
#![cfg(feature = "http")]

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use duckduckgoose::core::Membership;
use duckduckgoose::http::{BODY_LIMIT_BYTES, router};
use duckduckgoose::runtime::{HandleError, Node, NodeConfig, NodeHandle};
use duckduckgoose::storage::{MemStorage, Storage, StorageError};
use duckduckgoose::transport::{MemoryNetwork, MemoryTransport};
use duckduckgoose::{HardState, NodeId};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, sleep, timeout};
use tower::ServiceExt;

/// Many election timeouts (150–300 ms each).
const ELECTION_WAIT: Duration = Duration::from_secs(20);

/// How often a test finds the Goose again after it lost the role between
/// finding it and asking it.
const ATTEMPTS: usize = 20;

fn ids() -> Vec<NodeId> {
    (1..=3).map(NodeId).collect()
}

/// The default timing divided by two: tick 5 ms, heartbeat 25 ms, election
/// timeout 150–300 ms, so a 125 ms lease. Node 3 has no display address.
fn config(id: NodeId, members: &[NodeId]) -> NodeConfig {
    let mut config = NodeConfig::new(id, members.iter().copied());
    fast(&mut config);
    for member in members.iter().filter(|member| member.0 != 3) {
        config
            .addresses
            .insert(*member, format!("127.0.0.1:{}", 7000 + member.0));
    }
    config
}

/// The timing of [`config`], for configurations made otherwise.
fn fast(config: &mut NodeConfig) {
    config.tick = Duration::from_millis(5);
    config.heartbeat = Duration::from_millis(25);
    config.election_timeout = Duration::from_millis(150)..Duration::from_millis(300);
    config.rng_seed = Some(500 + config.id.0);
}

struct Cluster {
    nodes: Vec<NodeHandle>,
    storages: Vec<MemStorage>,
    network: MemoryNetwork,
}

impl Cluster {
    async fn start(seed: u64) -> Self {
        let members = ids();
        let network = MemoryTransport::network(seed);
        let mut nodes = Vec::new();
        let mut storages = Vec::new();
        for &id in &members {
            let storage = MemStorage::new();
            let node = Node::start(config(id, &members), network.transport(id), storage.clone())
                .await
                .expect("a valid node starts");
            nodes.push(node);
            storages.push(storage);
        }
        Cluster {
            nodes,
            storages,
            network,
        }
    }

    /// The three voters of [`Cluster::start`] and node 4, a learner with the
    /// display address `127.0.0.1:7004`.
    async fn start_with_learner(seed: u64) -> Self {
        let voters = ids();
        let network = MemoryTransport::network(seed);
        let mut nodes = Vec::new();
        let mut storages = Vec::new();
        for id in (1..=4).map(NodeId) {
            let mut config = config(id, &voters);
            config.learners = vec![NodeId(4)];
            config
                .addresses
                .insert(NodeId(4), "127.0.0.1:7004".to_owned());
            let storage = MemStorage::new();
            let node = Node::start(config, network.transport(id), storage.clone())
                .await
                .expect("a valid node starts");
            nodes.push(node);
            storages.push(storage);
        }
        Cluster {
            nodes,
            storages,
            network,
        }
    }

    fn node(&self, id: NodeId) -> &NodeHandle {
        &self.nodes[(id.0 - 1) as usize]
    }

    fn router(&self, id: NodeId) -> Router {
        router(self.node(id).clone())
    }

    /// Waits until exactly one node is the Goose, checking at every sample
    /// that no two are at once, and returns its id.
    async fn goose(&self) -> NodeId {
        let deadline = Instant::now() + ELECTION_WAIT;
        loop {
            let geese: Vec<NodeId> = self
                .nodes
                .iter()
                .filter(|node| node.is_goose())
                .map(NodeHandle::id)
                .collect();
            assert!(geese.len() <= 1, "two Geese at once: {geese:?}");
            if let [goose] = geese[..] {
                return goose;
            }
            assert!(Instant::now() < deadline, "no Goose was elected");
            sleep(Duration::from_millis(2)).await;
        }
    }

    /// Waits until the Goose is not `old` and returns it.
    async fn goose_other_than(&self, old: NodeId) -> NodeId {
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

    async fn shutdown(&self) {
        for node in &self.nodes {
            node.shutdown().await;
        }
    }
}

/// One request through the router, without sockets.
async fn call(
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

async fn call_request(
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
async fn call_json(app: &Router, method: Method, path: &str) -> (StatusCode, Value) {
    let (status, content_type, body) = call(app, method, path, Body::empty()).await;
    assert_eq!(content_type.as_deref(), Some("application/json"), "{path}");
    let json = serde_json::from_slice(&body).expect("the body is JSON");
    (status, json)
}

async fn get_json(app: &Router, path: &str) -> (StatusCode, Value) {
    call_json(app, Method::GET, path).await
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(keys: &[&'a str]) -> BTreeSet<&'a str> {
    keys.iter().copied().collect()
}

#[tokio::test]
async fn status_reports_the_goose_and_the_ducks_with_exact_keys() {
    let cluster = Cluster::start(1).await;
    let status_keys = set(&["id", "role", "term", "leader", "lease_ms"]);

    // The Goose: retried if its lease lapses between finding and asking.
    let mut goose_seen = None;
    for _ in 0..ATTEMPTS {
        let goose = cluster.goose().await;
        let (code, body) = get_json(&cluster.router(goose), "/status").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(keys(&body), status_keys);
        assert_eq!(body["id"], json!(goose.0));
        if body["role"] == "Goose" {
            assert_eq!(body["leader"], json!(goose.0));
            let term = body["term"].as_u64().expect("term is a number");
            assert!(term >= 1);
            let lease_ms = body["lease_ms"].as_u64().expect("a Goose has a lease");
            assert!(lease_ms <= 125, "the lease is 25 ticks of 5 ms: {lease_ms}");
            goose_seen = Some((goose, term));
            break;
        }
        assert_eq!(body["role"], "Duck", "the only other role");
    }
    let (goose, term) = goose_seen.expect("the Goose answered as the Goose");

    // A Duck, once it follows the Goose, names it.
    let duck = ids().into_iter().find(|&id| id != goose).expect("3 nodes");
    let app = cluster.router(duck);
    let deadline = Instant::now() + ELECTION_WAIT;
    loop {
        let (code, body) = get_json(&app, "/status").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(keys(&body), status_keys);
        assert_eq!(body["id"], json!(duck.0));
        assert_eq!(body["role"], "Duck");
        assert_eq!(body["lease_ms"], Value::Null);
        let follows = body["leader"].as_u64().map(NodeId);
        if follows == cluster.node(duck).status().leader && follows.is_some() {
            assert!(body["term"].as_u64() >= Some(term));
            break;
        }
        assert!(Instant::now() < deadline, "the Duck never named a leader");
        sleep(Duration::from_millis(5)).await;
    }
    cluster.shutdown().await;

    // A stopped node is a Duck that names nobody.
    let (code, body) = get_json(&cluster.router(goose), "/status").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["role"], "Duck");
    assert_eq!(body["leader"], Value::Null);
    assert_eq!(body["lease_ms"], Value::Null);
}

#[tokio::test]
async fn cluster_lists_every_member_with_its_address_and_last_contact() {
    let cluster = Cluster::start(2).await;
    let goose = cluster.goose().await;
    let duck = ids().into_iter().find(|&id| id != goose).expect("3 nodes");

    // Heartbeats keep every Duck in touch with the Goose.
    let app = cluster.router(duck);
    let deadline = Instant::now() + ELECTION_WAIT;
    let body = loop {
        let (code, body) = get_json(&app, "/cluster").await;
        assert_eq!(code, StatusCode::OK);
        let leader = body["leader"].as_u64();
        if leader.is_some() && body["members"][(goose.0 - 1) as usize]["last_contact_ms"].is_u64() {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "no contact with a leader: {body}"
        );
        sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(
        keys(&body),
        set(&[
            "leader",
            "term",
            "member",
            "membership",
            "pending",
            "members"
        ])
    );
    assert_eq!(body["member"], json!(true));
    assert!(body["term"].as_u64() >= Some(1));
    assert_eq!(keys(&body["membership"]), set(&["term", "version"]));
    if body["leader"] == json!(duck.0) {
        assert!(body["pending"].is_boolean(), "the Goose knows: {body}");
    } else {
        assert_eq!(body["pending"], Value::Null, "a Duck does not know: {body}");
    }
    let members = body["members"].as_array().expect("an array");
    assert_eq!(members.len(), 3);
    for (member, id) in members.iter().zip(ids()) {
        assert_eq!(
            keys(member),
            set(&["id", "addr", "voter", "joining", "last_contact_ms"])
        );
        assert_eq!(member["id"], json!(id.0));
        assert_eq!(member["voter"], json!(true));
        assert_eq!(member["joining"], json!(false));
        let address = if id.0 == 3 {
            Value::Null
        } else {
            json!(format!("127.0.0.1:{}", 7000 + id.0))
        };
        assert_eq!(member["addr"], address, "member {id}");
        if id == duck {
            assert_eq!(member["last_contact_ms"], json!(0), "itself");
        }
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_node_that_never_heard_from_a_peer_shows_a_null_contact() {
    let members = ids();
    let network = MemoryTransport::network(3);
    // Node 1 is cut off before it starts: it never hears from anyone.
    network.isolate(NodeId(1));
    let node = Node::start(
        config(NodeId(1), &members),
        network.transport(NodeId(1)),
        MemStorage::new(),
    )
    .await
    .expect("start");
    let (code, body) = get_json(&router(node.clone()), "/cluster").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body["leader"], Value::Null);
    let contacts: Vec<&Value> = body["members"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|member| &member["last_contact_ms"])
        .collect();
    assert_eq!(contacts, [&json!(0), &Value::Null, &Value::Null]);
    node.shutdown().await;
}

#[tokio::test]
async fn step_down_hands_over_and_a_duck_answers_409() {
    let cluster = Cluster::start(4).await;

    let mut handed_over = None;
    for _ in 0..ATTEMPTS {
        let goose = cluster.goose().await;
        let term = cluster.node(goose).status().term;
        let (code, body) = call_json(&cluster.router(goose), Method::POST, "/step-down").await;
        if code == StatusCode::ACCEPTED {
            assert_eq!(keys(&body), set(&["stepped_down", "term"]));
            assert_eq!(body["stepped_down"], json!(true));
            assert_eq!(body["term"], json!(term.0));
            assert!(!cluster.node(goose).is_goose());
            handed_over = Some((goose, term));
            break;
        }
        // The lease lapsed between finding the Goose and asking it.
        assert_eq!(code, StatusCode::CONFLICT, "{body}");
    }
    let (old, old_term) = handed_over.expect("a Goose stepped down");
    let new = cluster.goose_other_than(old).await;
    assert!(cluster.node(new).status().term > old_term);

    // A Duck refuses and points at the leader it knows, if any.
    for _ in 0..ATTEMPTS {
        let goose = cluster.goose().await;
        let duck = ids().into_iter().find(|&id| id != goose).expect("3 nodes");
        let (code, body) = call_json(&cluster.router(duck), Method::POST, "/step-down").await;
        if code == StatusCode::ACCEPTED {
            // It became the Goose meanwhile and handed over; try again.
            continue;
        }
        assert_eq!(code, StatusCode::CONFLICT);
        assert_eq!(keys(&body), set(&["error", "leader"]));
        assert_eq!(body["error"], "not the Goose");
        let leader = &body["leader"];
        assert!(
            leader.is_null() || (leader.is_u64() && *leader != json!(duck.0)),
            "{body}"
        );
        cluster.shutdown().await;
        return;
    }
    panic!("no Duck stayed a Duck long enough to refuse");
}

#[tokio::test]
async fn step_down_in_a_cluster_of_one_is_refused() {
    let network = MemoryTransport::network(5);
    let node = Node::start(
        config(NodeId(1), &[NodeId(1)]),
        network.transport(NodeId(1)),
        MemStorage::new(),
    )
    .await
    .expect("start");
    node.wait_for_role(duckduckgoose::Role::Goose, ELECTION_WAIT)
        .await
        .expect("a cluster of one elects itself");
    let (code, body) = call_json(&router(node.clone()), Method::POST, "/step-down").await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(body["error"], "no other voter to hand over to");
    assert_eq!(body["leader"], json!(1));
    node.shutdown().await;
}

/// One sample line of the text format: `name{labels} value`.
#[derive(Debug)]
struct PromSample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_' || first == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses a sample line strictly enough to catch malformed output.
fn parse_sample(line: &str) -> PromSample {
    let (series, value) = line.rsplit_once(' ').expect("`series value`");
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}")),
    };
    let (name, labels) = match series.split_once('{') {
        None => (series, Vec::new()),
        Some((name, rest)) => {
            let inner = rest.strip_suffix('}').expect("labels end with }");
            let labels = inner
                .split(',')
                .map(|pair| {
                    let (label, quoted) = pair.split_once('=').expect("label=value");
                    assert!(is_metric_name(label) && !label.contains(':'), "{line:?}");
                    let unquoted = quoted
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .expect("quoted label value");
                    assert!(!unquoted.contains(['"', '\\', '\n']), "{line:?}");
                    (label.to_owned(), unquoted.to_owned())
                })
                .collect();
            (name, labels)
        }
    };
    assert!(is_metric_name(name), "bad name in {line:?}");
    PromSample {
        name: name.to_owned(),
        labels,
        value,
    }
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text() {
    let cluster = Cluster::start(6).await;
    let goose = cluster.goose().await;
    let (code, content_type, body) = call(
        &cluster.router(goose),
        Method::GET,
        "/metrics",
        Body::empty(),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let content_type = content_type.expect("a content type");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = String::from_utf8(body).expect("UTF-8");

    let mut types = std::collections::BTreeMap::new();
    let mut helps = BTreeSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("# HELP name text");
            assert!(!help.is_empty());
            assert!(helps.insert(name.to_owned()), "two HELP lines for {name}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(types.insert(name.to_owned(), kind.to_owned()).is_none());
        } else {
            assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
            let sample = parse_sample(line);
            assert!(sample.name.starts_with("duckduckgoose_"), "{line}");
            // Every sample belongs to a family declared above it.
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    let base = sample.name.strip_suffix(suffix)?;
                    (types.get(base).map(String::as_str) == Some("histogram")).then_some(base)
                })
                .unwrap_or(&sample.name)
                .to_owned();
            assert!(types.contains_key(&family), "no TYPE for {line}");
            assert!(helps.contains(&family), "no HELP for {line}");
            samples.push(sample);
        }
    }
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(l, v)| s.labels.iter().any(|(sl, sv)| sl == l && sv == v))
            })
            .unwrap_or_else(|| panic!("no sample {name} {labels:?} in\n{text}"))
            .value
    };

    for (name, kind) in [
        ("duckduckgoose_term", "gauge"),
        ("duckduckgoose_is_goose", "gauge"),
        ("duckduckgoose_elections_started_total", "counter"),
        ("duckduckgoose_pre_votes_started_total", "counter"),
        ("duckduckgoose_role_changes_total", "counter"),
        ("duckduckgoose_heartbeats_sent_total", "counter"),
        ("duckduckgoose_heartbeats_received_total", "counter"),
        ("duckduckgoose_messages_dropped_total", "counter"),
        ("duckduckgoose_persist_latency_seconds", "histogram"),
    ] {
        assert_eq!(types.get(name).map(String::as_str), Some(kind), "{name}");
    }
    let id = goose.0.to_string();
    assert_eq!(value("duckduckgoose_node_info", &[("node_id", &id)]), 1.0);
    let term = value("duckduckgoose_term", &[]);
    assert!(term >= 1.0);
    let is_goose = value("duckduckgoose_is_goose", &[]);
    assert!(is_goose == 0.0 || is_goose == 1.0);
    // Only a node that campaigned can have been elected.
    assert!(value("duckduckgoose_elections_started_total", &[]) >= 1.0);
    assert!(value("duckduckgoose_pre_votes_started_total", &[]) >= 1.0);
    assert!(value("duckduckgoose_role_changes_total", &[]) >= 1.0);
    assert!(value("duckduckgoose_heartbeats_sent_total", &[]) >= 1.0);
    for reason in ["not_member", "from_self", "stale_term", "unexpected"] {
        assert!(
            value(
                "duckduckgoose_messages_dropped_total",
                &[("reason", reason)]
            ) >= 0.0
        );
    }

    // The histogram: ascending bounds, cumulative counts, +Inf == count,
    // and at least the Goose's own vote for itself was saved.
    let buckets: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.name == "duckduckgoose_persist_latency_seconds_bucket")
        .map(|s| {
            let le = &s.labels.iter().find(|(l, _)| l == "le").expect("le").1;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().expect("a number")
            };
            (bound, s.value)
        })
        .collect();
    assert!(buckets.len() >= 2);
    assert!(
        buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1)
    );
    let (last_bound, last_count) = *buckets.last().expect("buckets");
    assert_eq!(last_bound, f64::INFINITY);
    let count = value("duckduckgoose_persist_latency_seconds_count", &[]);
    assert_eq!(last_count, count);
    assert!(count >= 1.0);
    assert!(value("duckduckgoose_persist_latency_seconds_sum", &[]) >= 0.0);
    cluster.shutdown().await;
}

#[tokio::test]
async fn health_is_ok_then_503_after_a_storage_failure_and_after_shutdown() {
    let cluster = Cluster::start(7).await;
    for id in ids() {
        let (code, body) = get_json(&cluster.router(id), "/health").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body, json!({ "status": "ok" }));
    }

    // A transfer makes its target campaign, which must save its vote: the
    // save fails and the target stops (as in tests/runtime.rs).
    let mut failed = None;
    for _ in 0..ATTEMPTS {
        let goose = cluster.goose().await;
        let target = ids().into_iter().find(|&id| id != goose).expect("3 nodes");
        cluster.storages[(target.0 - 1) as usize].set_fail_saves(true);
        match cluster.node(goose).transfer_leadership(target).await {
            Ok(_term) => {
                failed = Some(target);
                break;
            }
            Err(HandleError::Rejected(_)) => {
                cluster.storages[(target.0 - 1) as usize].set_fail_saves(false);
            }
            Err(other) => panic!("the transfer failed: {other}"),
        }
    }
    let target = failed.expect("a transfer started");
    let node = cluster.node(target);
    timeout(ELECTION_WAIT, node.stopped())
        .await
        .expect("the target stops");
    let (code, body) = get_json(&cluster.router(target), "/health").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(keys(&body), set(&["status", "error"]));
    assert_eq!(body["status"], "failed");
    let error = body["error"].as_str().expect("a message");
    assert!(error.contains("injected save failure"), "{error}");

    // A node shut down on purpose is "stopped", with no error.
    let survivor = ids().into_iter().find(|&id| id != target).expect("3 nodes");
    cluster.node(survivor).shutdown().await;
    let (code, body) = get_json(&cluster.router(survivor), "/health").await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, json!({ "status": "stopped" }));
    cluster.shutdown().await;
}

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
    let app = router(node.clone());

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
    let at_limit = vec![b'x'; BODY_LIMIT_BYTES];
    let (code, _, _) = call(&app, Method::POST, "/step-down", Body::from(at_limit)).await;
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
    let cluster = Cluster::start(9).await;
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
    let merged = own().merge(router(node.clone()));
    let (code, _, body) = call(&merged, Method::GET, "/hello", Body::empty()).await;
    assert_eq!((code, body.as_slice()), (StatusCode::OK, &b"hi"[..]));
    let (code, _) = get_json(&merged, "/status").await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = get_json(&merged, "/nope").await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // Nested under a prefix, next to an app with its own fallback.
    let nested = own()
        .fallback(|| async { (StatusCode::NOT_FOUND, "mine") })
        .nest("/election", router(node.clone()));
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
        .merge(router(node.clone()).reset_fallback());
    let (code, _) = get_json(&merged, "/cluster").await;
    assert_eq!(code, StatusCode::OK);
    node.shutdown().await;
}

#[tokio::test]
async fn a_learner_is_a_non_voter_on_cluster_and_a_duck_naming_the_goose_on_status() {
    let cluster = Cluster::start_with_learner(11).await;
    let learner = NodeId(4);
    let app = cluster.router(learner);

    // `/status` on the learner: a Duck, without a lease, naming the Goose
    // once it follows it. `goose()` samples all four nodes, the learner
    // included, so it also checks that the learner never answers Goose.
    let deadline = Instant::now() + ELECTION_WAIT;
    let goose = loop {
        let goose = cluster.goose().await;
        assert_ne!(goose, learner, "a learner never leads");
        let (code, body) = get_json(&app, "/status").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(
            keys(&body),
            set(&["id", "role", "term", "leader", "lease_ms"])
        );
        assert_eq!(body["id"], json!(learner.0));
        assert_eq!(body["role"], "Duck");
        assert_eq!(body["lease_ms"], Value::Null);
        if body["leader"] == json!(goose.0) {
            assert!(body["term"].as_u64() >= Some(1));
            break goose;
        }
        assert!(
            Instant::now() < deadline,
            "the learner never named the Goose: {body}"
        );
        sleep(Duration::from_millis(5)).await;
    };

    // `/cluster` on a voter: four members, the learner with `"voter": false`.
    // On the Goose, which hears the learner's acks, its contact is known.
    let deadline = Instant::now() + ELECTION_WAIT;
    let mut goose = goose;
    let body = loop {
        let (code, body) = get_json(&cluster.router(goose), "/cluster").await;
        assert_eq!(code, StatusCode::OK);
        if body["leader"] == json!(goose.0) && body["members"][3]["last_contact_ms"].is_u64() {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "the Goose never heard the learner: {body}"
        );
        sleep(Duration::from_millis(5)).await;
        goose = cluster.goose().await;
    };
    let members = body["members"].as_array().expect("an array");
    let rows: Vec<(Value, Value, Value)> = members
        .iter()
        .map(|member| {
            assert_eq!(
                keys(member),
                set(&["id", "addr", "voter", "joining", "last_contact_ms"])
            );
            assert_eq!(
                member["joining"],
                json!(false),
                "a configured learner stays one"
            );
            (
                member["id"].clone(),
                member["voter"].clone(),
                member["addr"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (json!(1), json!(true), json!("127.0.0.1:7001")),
            (json!(2), json!(true), json!("127.0.0.1:7002")),
            (json!(3), json!(true), Value::Null),
            (json!(4), json!(false), json!("127.0.0.1:7004")),
        ]
    );

    // The learner's own `/cluster` agrees on who votes.
    let (code, body) = get_json(&app, "/cluster").await;
    assert_eq!(code, StatusCode::OK);
    let voters: Vec<&Value> = body["members"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|member| &member["voter"])
        .collect();
    assert_eq!(
        voters,
        [&json!(true), &json!(true), &json!(true), &json!(false)]
    );
    assert_eq!(body["members"][3]["last_contact_ms"], json!(0), "itself");
    assert_eq!(body["member"], json!(true), "a learner is a member");

    // A learner has nothing to step down from; it points at the Goose.
    let (code, body) = call_json(&app, Method::POST, "/step-down").await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert_eq!(body["error"], "not the Goose");
    let leader = &body["leader"];
    assert!(
        leader.is_null() || (leader.is_u64() && *leader != json!(learner.0)),
        "{body}"
    );
    cluster.shutdown().await;
}

// ----- /members ------------------------------------------------------------------

/// A request with `Content-Type: application/json` and `body`.
async fn send_json(app: &Router, method: Method, path: &str, body: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .expect("a valid request");
    let (status, content_type, body) = call_request(app, request).await;
    assert_eq!(content_type.as_deref(), Some("application/json"), "{path}");
    let json = serde_json::from_slice(&body).expect("the body is JSON");
    (status, json)
}

/// Whether an answer says to ask again, maybe elsewhere: the node was not
/// the Goose (or stopped being it), or a new Goose has not yet committed
/// its re-issue of the membership.
fn try_again(code: StatusCode, body: &Value) -> bool {
    matches!(
        (code, body["reason"].as_str()),
        (
            StatusCode::CONFLICT,
            Some("not_goose" | "change_in_progress")
        ) | (StatusCode::SERVICE_UNAVAILABLE, Some("leadership_lost"))
    )
}

/// Sends a membership request to the Goose, found again (after a pause)
/// as long as the answer says to try again; returns the Goose that
/// answered and its answer.
async fn on_the_goose(
    cluster: &Cluster,
    method: Method,
    path: &str,
    body: &str,
) -> (NodeId, StatusCode, Value) {
    let deadline = Instant::now() + ELECTION_WAIT;
    loop {
        let goose = cluster.goose().await;
        let (code, answer) = send_json(&cluster.router(goose), method.clone(), path, body).await;
        if !try_again(code, &answer) {
            return (goose, code, answer);
        }
        assert!(
            Instant::now() < deadline,
            "{method} {path} never got past {code} {answer}"
        );
        sleep(Duration::from_millis(10)).await;
    }
}

/// The members of a membership body (`GET /members`, or a change's answer):
/// `(id, voter, joining, addr)`.
fn member_rows(body: &Value) -> Vec<(u64, bool, bool, Value)> {
    body["members"]
        .as_array()
        .expect("an array of members")
        .iter()
        .map(|member| {
            assert_eq!(keys(member), set(&["id", "addr", "voter", "joining"]));
            (
                member["id"].as_u64().expect("an id"),
                member["voter"].as_bool().expect("a bool"),
                member["joining"].as_bool().expect("a bool"),
                member["addr"].clone(),
            )
        })
        .collect()
}

fn membership_version(body: &Value) -> u64 {
    assert_eq!(
        keys(&body["membership"]),
        set(&["term", "version"]),
        "{body}"
    );
    body["membership"]["version"]
        .as_u64()
        .expect("a version number")
}

const ADD_4: &str = r#"{"id": 4, "addr": "127.0.0.1:7004"}"#;

#[tokio::test]
async fn adding_a_member_answers_the_committed_membership_and_it_becomes_a_voter() {
    let mut cluster = Cluster::start(21).await;
    let (goose, code, body) = on_the_goose(&cluster, Method::POST, "/members", ADD_4).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), set(&["membership", "members"]));
    let added = membership_version(&body);
    assert!(added >= 1, "a change makes a new version: {body}");
    let addr = |id: u64| json!(format!("127.0.0.1:{}", 7000 + id));
    assert_eq!(
        member_rows(&body),
        [
            (1, true, false, addr(1)),
            (2, true, false, addr(2)),
            (3, true, false, Value::Null),
            (4, false, true, addr(4)),
        ],
        "node 4 is a joining learner"
    );
    // The committed membership is the one the Goose holds.
    let (code, held) = get_json(&cluster.router(goose), "/members").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(held["members"], body["members"]);

    // Again at the same address: nothing to change, and `200`.
    let (_, code, again) = on_the_goose(&cluster, Method::POST, "/members", ADD_4).await;
    assert_eq!(code, StatusCode::OK, "{again}");
    assert_eq!(again["members"], body["members"]);
    // At another address: refused, nothing changed.
    let (goose, code, refused) = on_the_goose(
        &cluster,
        Method::POST,
        "/members",
        r#"{"id": 4, "addr": "127.0.0.1:9999"}"#,
    )
    .await;
    assert_eq!(code, StatusCode::CONFLICT, "{refused}");
    assert_eq!(keys(&refused), set(&["error", "reason"]));
    assert_eq!(refused["reason"], "address_conflict");
    let message = refused["error"].as_str().expect("a message");
    assert!(message.contains("127.0.0.1:7004") && message.contains("127.0.0.1:9999"));
    let (_, held) = get_json(&cluster.router(goose), "/members").await;
    assert_eq!(held["members"], body["members"]);

    // Node 4 starts from the membership it was given and keeps up with the
    // Goose, which promotes it.
    let mut config = NodeConfig::from_membership(NodeId(4), cluster.node(goose).membership());
    fast(&mut config);
    let storage = MemStorage::new();
    let node = Node::start(
        config,
        cluster.network.transport(NodeId(4)),
        storage.clone(),
    )
    .await
    .expect("the new node starts");
    cluster.nodes.push(node);
    cluster.storages.push(storage);
    let deadline = Instant::now() + ELECTION_WAIT;
    loop {
        let goose = cluster.goose().await;
        let (code, body) = get_json(&cluster.router(goose), "/cluster").await;
        assert_eq!(code, StatusCode::OK);
        let four = &body["members"][3];
        if four["voter"] == json!(true) && body["pending"] == json!(false) {
            assert_eq!(four["id"], json!(4));
            assert_eq!(four["joining"], json!(false));
            assert_eq!(four["addr"], addr(4));
            assert!(four["last_contact_ms"].is_u64(), "{body}");
            assert!(
                membership_version(&body) > added,
                "the promotion is a change"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node 4 was never promoted: {body}"
        );
        sleep(Duration::from_millis(10)).await;
    }
    // Node 4 sees itself as a voter too.
    let deadline = Instant::now() + ELECTION_WAIT;
    loop {
        let (_, body) = get_json(&cluster.router(NodeId(4)), "/cluster").await;
        let voters: Vec<&Value> = body["members"]
            .as_array()
            .expect("an array")
            .iter()
            .map(|member| &member["voter"])
            .collect();
        if voters == [&json!(true); 4] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node 4 never saw itself promoted: {body}"
        );
        sleep(Duration::from_millis(10)).await;
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn membership_changes_on_a_duck_answer_409_naming_the_goose() {
    let cluster = Cluster::start(22).await;
    // Requests that change nothing even if the Duck has become the Goose
    // meanwhile: re-adding a member at its address, removing a non-member.
    let requests = [
        (
            Method::POST,
            "/members",
            r#"{"id": 1, "addr": "127.0.0.1:7001"}"#,
        ),
        (Method::DELETE, "/members/99", ""),
    ];
    for (method, path, body) in requests {
        let mut refused = false;
        for _ in 0..ATTEMPTS {
            let goose = cluster.goose().await;
            let duck = ids().into_iter().find(|&id| id != goose).expect("3 nodes");
            let (code, answer) = send_json(&cluster.router(duck), method.clone(), path, body).await;
            if code != StatusCode::CONFLICT {
                // It was the Goose after all.
                continue;
            }
            assert_eq!(
                keys(&answer),
                set(&["error", "reason", "goose"]),
                "{answer}"
            );
            assert_eq!(answer["error"], "not the Goose");
            assert_eq!(answer["reason"], "not_goose");
            let named = &answer["goose"];
            assert!(
                named.is_null() || (named.is_u64() && *named != json!(duck.0)),
                "{answer}"
            );
            refused = true;
            break;
        }
        assert!(
            refused,
            "{method} {path}: no Duck stayed a Duck long enough"
        );
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn bad_membership_requests_answer_400_404_415_and_change_nothing() {
    let cluster = Cluster::start(23).await;
    // Wait until the new Goose can make changes (its re-issue committed).
    let (goose, code, _) = on_the_goose(
        &cluster,
        Method::POST,
        "/members",
        r#"{"id": 1, "addr": "127.0.0.1:7001"}"#,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let before = cluster.node(goose).membership();

    // Bodies that are not `{"id": <integer>, "addr": "<string>"}`.
    for (body, mention) in [
        ("", "EOF"),
        ("not json", "expected"),
        (r#"{"id": 4}"#, "missing field `addr`"),
        (r#"{"addr": "127.0.0.1:7004"}"#, "missing field `id`"),
        (r#"{"id": -4, "addr": "127.0.0.1:7004"}"#, "-4"),
        (r#"{"id": "4", "addr": "127.0.0.1:7004"}"#, "invalid type"),
        (r#"{"id": 4.5, "addr": "127.0.0.1:7004"}"#, "invalid type"),
        (r#"{"id": 4, "addr": 7004}"#, "invalid type"),
        (
            r#"{"id": 4, "address": "127.0.0.1:7004"}"#,
            "unknown field `address`",
        ),
        (r#"[4, "127.0.0.1:7004"]"#, "not a JSON object"),
    ] {
        let (code, answer) =
            send_json(&cluster.router(goose), Method::POST, "/members", body).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(keys(&answer), set(&["error", "reason"]));
        assert_eq!(answer["reason"], "bad_request", "{body}");
        let message = answer["error"].as_str().expect("a message");
        assert!(message.contains(mention), "{body}: {message}");
    }
    // Addresses the other members could not dial.
    for addr in [
        "127.0.0.1",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "0.0.0.0:7004",
        "[::]:7004",
        ":7004",
        "bad host:7004",
    ] {
        let body = json!({ "id": 4, "addr": addr }).to_string();
        let (code, answer) =
            send_json(&cluster.router(goose), Method::POST, "/members", &body).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{addr}: {answer}");
        assert_eq!(answer["reason"], "invalid_address", "{addr}");
    }
    // Not declared as JSON.
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = Request::post("/members");
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let request = request.body(Body::from(ADD_4)).expect("a valid request");
        let (code, _, body) = call_request(&cluster.router(goose), request).await;
        assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type:?}");
        let body: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(body["reason"], "unsupported_media_type");
    }
    // Ids in the path that are not ids.
    for path in [
        "/members/abc",
        "/members/-1",
        "/members/1.0",
        "/members/%ff",
        "/members/99999999999999999999",
    ] {
        let (code, answer) = call_json(&cluster.router(goose), Method::DELETE, path).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{path}: {answer}");
        assert_eq!(answer["reason"], "bad_request", "{path}");
    }
    // Methods the paths do not take.
    for (method, path) in [
        (Method::PUT, "/members"),
        (Method::DELETE, "/members"),
        (Method::GET, "/members/1"),
        (Method::POST, "/members/1"),
    ] {
        let (code, _) = call_json(&cluster.router(goose), method.clone(), path).await;
        assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
    }
    // A node that is not a member.
    let (_, code, answer) = on_the_goose(&cluster, Method::DELETE, "/members/99", "").await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(keys(&answer), set(&["error", "reason"]));
    assert_eq!(answer["reason"], "not_a_member");
    assert_eq!(answer["error"], "node 99 is not a member");

    let goose = cluster.goose().await;
    assert_eq!(
        cluster
            .node(goose)
            .membership()
            .members()
            .collect::<Vec<_>>(),
        before.members().collect::<Vec<_>>(),
        "nothing changed"
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn removing_the_last_voter_answers_400() {
    let network = MemoryTransport::network(24);
    let node = Node::start(
        config(NodeId(1), &[NodeId(1)]),
        network.transport(NodeId(1)),
        MemStorage::new(),
    )
    .await
    .expect("start");
    node.wait_for_role(duckduckgoose::Role::Goose, ELECTION_WAIT)
        .await
        .expect("a cluster of one elects itself");
    let app = router(node.clone());
    let deadline = Instant::now() + ELECTION_WAIT;
    let answer = loop {
        let (code, answer) = send_json(&app, Method::DELETE, "/members/1", "").await;
        if !try_again(code, &answer) {
            assert_eq!(code, StatusCode::BAD_REQUEST, "{answer}");
            break answer;
        }
        assert!(Instant::now() < deadline, "{answer}");
        sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(answer["reason"], "last_voter");
    assert!(node.membership().is_voter(NodeId(1)));
    node.shutdown().await;
}

#[tokio::test]
async fn one_change_at_a_time_answers_409_change_in_progress() {
    let cluster = Cluster::start(25).await;
    // Two additions sent together: the second reaches the Goose while the
    // first waits for a majority, unless the first commits in between.
    for round in 0..u64::try_from(ATTEMPTS).expect("small") {
        let goose = cluster.goose().await;
        let app = cluster.router(goose);
        let first =
            json!({ "id": 10 + 2 * round, "addr": format!("127.0.0.1:{}", 8000 + 2 * round) })
                .to_string();
        let second =
            json!({ "id": 11 + 2 * round, "addr": format!("127.0.0.1:{}", 8001 + 2 * round) })
                .to_string();
        let ((code_1, answer_1), (code_2, answer_2)) = tokio::join!(
            send_json(&app, Method::POST, "/members", &first),
            send_json(&app, Method::POST, "/members", &second),
        );
        if code_1 == StatusCode::OK
            && code_2 == StatusCode::CONFLICT
            && answer_2["reason"] == "change_in_progress"
        {
            assert_eq!(keys(&answer_2), set(&["error", "reason", "pending"]));
            assert_eq!(keys(&answer_2["pending"]), set(&["term", "version"]));
            assert_eq!(
                answer_2["pending"], answer_1["membership"],
                "the change in progress was the first one"
            );
            let added = member_rows(&answer_1)
                .iter()
                .any(|row| row.0 == 10 + 2 * round);
            assert!(added, "{answer_1}");
            let held = cluster.node(goose).membership();
            assert!(
                !held.contains(NodeId(11 + 2 * round)),
                "the refused one changed nothing"
            );
            cluster.shutdown().await;
            return;
        }
        eprintln!("round {round}: {code_1} {answer_1} / {code_2} {answer_2}");
    }
    panic!("never saw a change refused while another was in progress");
}

#[tokio::test]
async fn removing_members_and_the_goose_itself() {
    let cluster = Cluster::start(26).await;
    let goose = cluster.goose().await;
    let duck = ids().into_iter().find(|&id| id != goose).expect("3 nodes");
    let path = format!("/members/{}", duck.0);
    let (goose, code, body) = on_the_goose(&cluster, Method::DELETE, &path, "").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let remaining: Vec<u64> = member_rows(&body).iter().map(|row| row.0).collect();
    assert!(
        !remaining.contains(&duck.0) && remaining.len() == 2,
        "{body}"
    );
    assert!(
        member_rows(&body).iter().all(|row| row.1),
        "both left are voters"
    );
    // Removing it again: it is no member.
    let (_, code, _) = on_the_goose(&cluster, Method::DELETE, &path, "").await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // The Goose removes itself; the last voter takes over.
    let old = goose;
    let path = format!("/members/{}", old.0);
    let (answered, code, body) = on_the_goose(&cluster, Method::DELETE, &path, "").await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(answered, old, "the Goose did not change meanwhile");
    let last = ids()
        .into_iter()
        .find(|&id| id != old && id != duck)
        .expect("3 nodes");
    let rows = member_rows(&body);
    assert_eq!(rows.len(), 1, "{body}");
    assert_eq!((rows[0].0, rows[0].1), (last.0, true));
    let deadline = Instant::now() + ELECTION_WAIT;
    loop {
        let (_, status) = get_json(&cluster.router(last), "/status").await;
        if status["role"] == "Goose" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node {last} never took over: {status}"
        );
        sleep(Duration::from_millis(10)).await;
    }
    let (_, body) = get_json(&cluster.router(last), "/cluster").await;
    let members: Vec<&Value> = body["members"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|member| &member["id"])
        .collect();
    assert_eq!(members, [&json!(last.0)]);
    assert_eq!(body["member"], json!(true));
    assert!(!cluster.node(old).is_goose());
    // The removed nodes say so on their own `/cluster`, once the removal
    // has reached them: `"member": false`, their id absent from `members`.
    for removed in [duck, old] {
        let deadline = Instant::now() + ELECTION_WAIT;
        let body = loop {
            let (_, body) = get_json(&cluster.router(removed), "/cluster").await;
            if body["member"] == json!(false) {
                break body;
            }
            assert!(
                Instant::now() < deadline,
                "node {removed} never heard of its removal: {body}"
            );
            sleep(Duration::from_millis(10)).await;
        };
        let ids: Vec<&Value> = body["members"]
            .as_array()
            .expect("an array")
            .iter()
            .map(|member| &member["id"])
            .collect();
        assert!(!ids.contains(&&json!(removed.0)), "{body}");
        assert!(!cluster.node(removed).status().member);
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_goose_cut_off_before_its_change_commits_answers_503() {
    let cluster = Cluster::start(27).await;
    for round in 0..u64::try_from(ATTEMPTS).expect("small") {
        // A Goose whose re-issue is committed, so that it may change things.
        let (goose, code, _) = on_the_goose(
            &cluster,
            Method::POST,
            "/members",
            r#"{"id": 1, "addr": "127.0.0.1:7001"}"#,
        )
        .await;
        assert_eq!(code, StatusCode::OK);
        // Cut off, it cannot commit, and its lease runs out.
        cluster.network.isolate(goose);
        let body =
            json!({ "id": 10 + round, "addr": format!("127.0.0.1:{}", 8000 + round) }).to_string();
        let (code, answer) =
            send_json(&cluster.router(goose), Method::POST, "/members", &body).await;
        cluster.network.reconnect(goose);
        if code == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(keys(&answer), set(&["error", "reason"]));
            assert_eq!(answer["reason"], "leadership_lost", "{answer}");
            assert!(
                answer["error"]
                    .as_str()
                    .is_some_and(|error| error.contains("may still"))
            );
            cluster.shutdown().await;
            return;
        }
        // Its lease ran out before the request reached it.
        assert_eq!(code, StatusCode::CONFLICT, "{answer}");
        assert_eq!(answer["reason"], "not_goose");
        eprintln!("round {round}: the Goose was gone before the request");
    }
    panic!("never saw a change outlive its Goose");
}

/// A storage that never finishes saving a membership once told to hang: a
/// stuck disk.
#[derive(Clone)]
struct HangingStorage {
    inner: MemStorage,
    hang: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

#[async_trait::async_trait]
impl Storage for HangingStorage {
    async fn load(&mut self) -> Result<Option<HardState>, StorageError> {
        self.inner.load().await
    }

    async fn save(&mut self, state: &HardState) -> Result<(), StorageError> {
        self.inner.save(state).await
    }

    async fn load_membership(&mut self) -> Result<Option<Membership>, StorageError> {
        self.inner.load_membership().await
    }

    async fn save_membership(&mut self, membership: &Membership) -> Result<(), StorageError> {
        if self.hang.load(std::sync::atomic::Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.inner.save_membership(membership).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_change_that_does_not_commit_in_time_answers_504() {
    let network = MemoryTransport::network(28);
    let storage = HangingStorage {
        inner: MemStorage::new(),
        hang: Default::default(),
    };
    let node = Node::start(
        config(NodeId(1), &[NodeId(1)]),
        network.transport(NodeId(1)),
        storage.clone(),
    )
    .await
    .expect("start");
    node.wait_for_role(duckduckgoose::Role::Goose, ELECTION_WAIT)
        .await
        .expect("a cluster of one elects itself");
    let app = router(node.clone());
    // Past the re-issue: a change that commits at once in a cluster of one.
    let deadline = Instant::now() + ELECTION_WAIT;
    loop {
        let (code, answer) = send_json(&app, Method::POST, "/members", ADD_4).await;
        if code == StatusCode::OK {
            break;
        }
        assert!(
            try_again(code, &answer) && Instant::now() < deadline,
            "{answer}"
        );
        sleep(Duration::from_millis(10)).await;
    }
    storage
        .hang
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let asked = Instant::now();
    let (code, answer) = send_json(
        &app,
        Method::POST,
        "/members",
        r#"{"id": 5, "addr": "127.0.0.1:7005"}"#,
    )
    .await;
    assert_eq!(code, StatusCode::GATEWAY_TIMEOUT, "{answer}");
    assert_eq!(answer["reason"], "timeout");
    assert!(asked.elapsed() >= duckduckgoose::http::MEMBERSHIP_TIMEOUT);
    // The driver is stuck in the save: a graceful shutdown would wait for it.
    node.abort();
}
