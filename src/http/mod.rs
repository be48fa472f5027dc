//! axum [`Router`]s that show a node to humans and to monitoring, let an
//! operator hand leadership over, and grow or shrink the cluster (feature
//! `http`).
//!
//! Three routers, so that what changes the cluster is never served by
//! accident:
//!
//! * [`read_router`]`(handle)`: the read-only routes (`GET /status`,
//!   `/cluster`, `/members`, `/metrics`, `/health`), for monitoring and
//!   clients.
//! * [`admin_router`]`(handle, auth)`: the admin routes (`POST /step-down`,
//!   `POST /members`, `DELETE /members/{id}`), each behind an [`AdminAuth`]
//!   check and a JSON content type ([Admin requests](#admin-requests)).
//! * [`router`]`(handle, auth)`: both, on one listener. It takes the
//!   [`AdminAuth`] too, so no router serves the admin routes without the
//!   caller having chosen who may call them.
//!
//! | Request                | Router | Answer |
//! |------------------------|--------|--------|
//! | `GET /status`          | read   | `200 {"id": 1, "role": "Goose", "term": 7, "leader": 1, "lease_ms": 240, "goose": {"id": 1, "term": 7, "addr": "10.0.0.1:7001", "meta": {"http": "http://10.0.0.1:8080"}}}` |
//! | `GET /cluster`         | read   | `200 {"leader": 1, "term": 7, "member": true, "membership": {"term": 7, "version": 3}, "pending": false, "members": [{"id": 1, "addr": "10.0.0.1:7001", "voter": true, "joining": false, "last_contact_ms": 0, "ack_rtt_ms": null, "meta": {"http": "http://10.0.0.1:8080"}}, {"id": 2, …, "last_contact_ms": 12, "ack_rtt_ms": {"last": 0.412, "smoothed": 0.398}, …}, …]}` |
//! | `GET /members`         | read   | `200 {"membership": {"term": 7, "version": 3}, "members": [{"id": 1, "addr": "10.0.0.1:7001", "voter": true, "joining": false, "meta": {}}, …]}` |
//! | `GET /metrics`         | read   | `200`, Prometheus text format 0.0.4, every name prefixed `duckduckgoose_` ([Metrics](#metrics)) |
//! | `GET /health`          | read   | `200 {"status": "ok"}`; `503 {"status": "failed", "error": "…"}` after a fatal error; `503 {"status": "stopped"}` after shutdown |
//! | `POST /step-down`      | admin  | `202 {"stepped_down": true, "term": 7}`, or `409 {"error": "not the Goose", "leader": 2}` |
//! | `POST /members`        | admin  | body `{"id": 4, "addr": "10.0.0.4:7001"}`, optionally with `"meta": {"http": "http://10.0.0.4:8080"}`: `200` with the committed membership (as `GET /members`); errors below |
//! | `DELETE /members/{id}` | admin  | `200` with the committed membership; errors below |
//!
//! * `role` is `"Goose"` only while [`NodeHandle::is_goose`] holds, the
//!   real-time lease check, and `lease_ms` is then the lease left; otherwise
//!   `role` is `"Duck"` and `lease_ms` is `null`. `leader` is `null` when
//!   unknown.
//! * `goose` says where the Goose is, from the same reading as `role` and
//!   `leader` (as [`NodeHandle::goose`]): its id, the term, its cluster
//!   address (`null` if none is recorded) and its metadata (`{}` if none), or
//!   `null` when no Goose is known. Forward a client to the address its
//!   metadata publishes for that (`meta.http`, say).
//! * `/cluster` is this node's view of every member of the membership it
//!   holds, voters and learners, in ascending id order: `voter` is `false`
//!   for a learner, which follows the Goose but never becomes it, and
//!   `joining` is `true` for a learner that will be promoted to voter once
//!   it has kept up with the Goose for an election timeout (a node added
//!   with `POST /members`). `addr` is the member's cluster address (`null`
//!   when none is known), `meta` its metadata (`{}` if none; see
//!   [`NodeMetadata`](crate::core::NodeMetadata)), `last_contact_ms` the time since this node last
//!   received a message from that member (`null` if never, `0` for the node
//!   itself). `ack_rtt_ms` is that member's heartbeat-ack round trip as this
//!   node measured it, in milliseconds to the microsecond: `last` the
//!   newest measurement, `smoothed` a moving average (TCP's smoothed round
//!   trip, new samples weighing 1/8); see
//!   [`PeerStatus::ack_round_trip`](crate::runtime::PeerStatus::ack_round_trip).
//!   Only a node that leads its current term (or led it, and lost its
//!   lease) measures round trips: it is `null` on every other node, for the
//!   node itself, and for a peer whose ack it has not measured in that
//!   term. `membership` names the membership (it grows with every
//!   change; compare two nodes' to see whether they agree) and `pending` is,
//!   on the Goose, whether its latest change still waits for a majority
//!   (`null` on a Duck). `member` is whether this node is one of `members`:
//!   `false` on a **removed node** (removed while it ran, or restarted on a
//!   data directory whose membership no longer holds it), which stays a
//!   Duck, never campaigns, and turns `true` again only if the Goose adds
//!   it back.
//! * A learner answers `/status` like any Duck: `role` is always `"Duck"`
//!   and `leader` names the Goose it follows, so it can serve reads that
//!   only need to know who leads.
//! * `/step-down` hands leadership to the most responsive voter, as
//!   [`NodeHandle::step_down`]; a node that is not the Goose answers `409`
//!   with the leader it knows, so a client can retry there.
//! * Unknown paths answer `404`, known paths with another method `405`, both
//!   with a JSON body `{"error": "…"}`; a path the router does not serve is
//!   unknown to it (the read router answers `404` to `POST /step-down`,
//!   `405` to `POST /members`). Request bodies larger than
//!   [`BODY_LIMIT_BYTES`] answer `413` before anything else.
//!
//! # Metrics
//!
//! | Family (`duckduckgoose_…`) | Type | What |
//! |----------------------------|------|------|
//! | `node_info{node_id}`       | gauge | always 1, names the node |
//! | `term`                     | gauge | the current term; the fencing token while Goose |
//! | `is_goose`                 | gauge | 1 while this node is the Goose, lease checked |
//! | `elections_started_total`, `pre_votes_started_total`, `role_changes_total`, `heartbeats_sent_total`, `heartbeats_received_total` | counter | what the node did |
//! | `messages_dropped_total{reason}` | counter | messages dropped without effect: `not_member`, `from_self`, `stale_term`, `unexpected` |
//! | `persist_latency_seconds`  | histogram | time to save the term and vote ([`PERSIST_LATENCY_BUCKETS`](crate::runtime::PERSIST_LATENCY_BUCKETS)) |
//! | `ack_round_trip_seconds`   | histogram | heartbeat-ack round trips measured while leading, every peer's ([`ACK_ROUND_TRIP_BUCKETS`](crate::runtime::ACK_ROUND_TRIP_BUCKETS), 0.1 ms to 2.5 s) |
//! | `late_acks_total`          | counter | acks that arrived after the lease they could have extended had run out (round trip ≥ lease); each is also a [`NodeEvent::LateAck`](crate::runtime::NodeEvent::LateAck) and, at most once per [`LATE_ACK_WARNING_INTERVAL`](crate::runtime::LATE_ACK_WARNING_INTERVAL), a warning in the log |
//! | `driver_wakeups_total`     | counter | times the driver task woke up: each heartbeat round on the Goose, each timeout, message, command or join request; an idle Duck wakes only for the Goose's heartbeats |
//!
//! # Admin requests
//!
//! Every admin request passes one guard, in this order (after the `404`,
//! `405` and `413` above):
//!
//! 1. **Authentication.** With [`AdminAuth::Bearer`], the request needs
//!    `Authorization: Bearer <token>` (the scheme in any case); otherwise
//!    it answers `401` with `WWW-Authenticate: Bearer` and
//!    `{"error": "<why>", "reason": "unauthorized"}`. The token is compared
//!    in constant time ([`AdminToken`]). [`AdminAuth::Open`] checks nothing:
//!    only for a listener on loopback, see its risks there.
//! 2. **A JSON content type**, even on a request without a body
//!    (`DELETE`, `POST /step-down`): `Content-Type: application/json`,
//!    parameters such as `; charset=utf-8` allowed; otherwise `415` with
//!    `{"error": "<why>", "reason": "unsupported_media_type"}`. A browser
//!    sends that type across origins only after a CORS preflight, which
//!    this router never approves, so a web page cannot make a visitor's
//!    browser post a form here, whatever the [`AdminAuth`].
//!
//! Authentication comes first, so a client without the token learns nothing
//! else about the request it would have to send. With curl:
//!
//! ```sh
//! curl -X POST -H "Authorization: Bearer $(cat admin-token)" \
//!      -H 'Content-Type: application/json' http://127.0.0.1:8080/step-down
//! ```
//!
//! # Changing the membership
//!
//! `POST /members` ([`NodeHandle::add_node`]) and `DELETE /members/{id}`
//! ([`NodeHandle::remove_node`]) are answered by the Goose, one change at a
//! time, once the change is **committed** (a majority of the new voters
//! hold it). An added node starts as a joining learner (`"voter": false,
//! "joining": true`) and becomes a voter by itself once it keeps up; a node
//! started with `duckduckgoose run --join` asks for this itself, so the
//! endpoint is for adding nodes that are started from the membership by
//! other means. Adding a member again at the same address with the same
//! metadata changes nothing and answers `200`. Removing the Goose itself is allowed: it hands over
//! when the removal commits.
//!
//! Every refusal has the body `{"error": "<why>", "reason": "<code>"}`, and
//! changes nothing:
//!
//! | Status | `reason` | When |
//! |--------|----------|------|
//! | `400`  | `bad_request` | the body is not `{"id": <integer>, "addr": "<string>"}` (bad JSON, a missing or unknown field, a negative id), or the `{id}` in the path is not an integer |
//! | `400`  | `invalid_address` | `addr` is not `HOST:PORT`, its port is 0, or its host is a wildcard (`0.0.0.0`, `[::]`): the other members must be able to dial it |
//! | `400`  | `invalid_metadata` | `meta` breaks a bound of [`NodeMetadata`](crate::core::NodeMetadata) (the error names it), or all members' metadata together would exceed [`MAX_MEMBERSHIP_METADATA_LEN`](crate::core::MAX_MEMBERSHIP_METADATA_LEN) |
//! | `400`  | `last_voter` | the node is the only voter; a cluster needs one |
//! | `401`  | `unauthorized` | no `Authorization: Bearer` header, or the wrong token ([Admin requests](#admin-requests)) |
//! | `404`  | `not_a_member` | `DELETE` of a node that is not a member |
//! | `409`  | `not_goose` | this node is not the Goose; the body's `"goose"` is the Goose it knows (`null` if none): retry there |
//! | `409`  | `change_in_progress` | another change is not committed yet (the body's `"pending"` is its id); retry shortly |
//! | `409`  | `address_conflict` | the id is already a member at another address |
//! | `409`  | `metadata_conflict` | the id is already a member with other metadata (remove it and add it again to change it) |
//! | `415`  | `unsupported_media_type` | no `Content-Type: application/json` ([Admin requests](#admin-requests)) |
//! | `503`  | `leadership_lost` | this node stopped being the Goose before the change committed; it **may still commit**: look at `/members` on the new Goose before retrying |
//! | `503`  | `stopped` | the node is not running |
//! | `504`  | `timeout` | the change did not commit within [`MEMBERSHIP_TIMEOUT`]; it may still commit |
//!
//! # Mounting it in your service
//!
//! The routers carry their own state, so they merge into (or nest under)
//! any `axum::Router`, next to your own routes:
//!
//! ```
//! use std::time::Duration;
//! use axum::Router;
//! use axum::body::Body;
//! use axum::http::{Request, StatusCode, header};
//! use axum::routing::get;
//! use duckduckgoose::http::{AdminAuth, AdminToken};
//! use duckduckgoose::{NodeId, Role};
//! use duckduckgoose::runtime::{Node, NodeConfig};
//! use duckduckgoose::storage::MemStorage;
//! use duckduckgoose::transport::MemoryTransport;
//! use tower::ServiceExt; // for `oneshot`
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A one-node cluster, for brevity; a real one uses the TCP transport.
//! let network = MemoryTransport::network(1);
//! let mut config = NodeConfig::new(NodeId(1), [NodeId(1)]);
//! config.addresses.insert(NodeId(1), "10.0.0.1:7001".to_owned());
//! let node = Node::start(config, network.transport(NodeId(1)), MemStorage::new()).await?;
//! tokio::time::timeout(Duration::from_secs(5), node.wait_for_role(Role::Goose)).await??;
//!
//! // In production, `AdminAuth::bearer_from_file(path)?`.
//! let auth = AdminAuth::Bearer(AdminToken::new("5e0f6b2c9a1d4e8f")?);
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "my service" }))
//!     // Or `.nest("/election", …)` to keep the paths apart.
//!     .merge(duckduckgoose::http::router(node.clone(), auth));
//!
//! let request = Request::get("/status").body(Body::empty())?;
//! let response = app.clone().oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! let body = axum::body::to_bytes(response.into_body(), 4096).await?;
//! assert!(std::str::from_utf8(&body)?.contains(r#""role":"Goose""#));
//!
//! // An admin request without the token is refused.
//! let request = Request::post("/step-down")
//!     .header(header::CONTENT_TYPE, "application/json")
//!     .body(Body::empty())?;
//! let response = app.clone().oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//!
//! // Serving it: your listener, your shutdown signal.
//! async fn serve(app: Router) -> std::io::Result<()> {
//!     let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//!     axum::serve(listener, app).await
//! }
//! # let _ = serve;
//! node.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! Each router has a JSON fallback for unknown paths. axum refuses to
//! `merge` two routers that both have a fallback: merge [`router`] rather
//! than [`read_router`] and [`admin_router`] together; if your app has its
//! own fallback, nest a router under a prefix, or merge
//! `router(handle, auth).reset_fallback()` to keep yours. To keep the admin
//! routes off the network, serve [`read_router`] on the public listener and
//! [`admin_router`] on one bound to loopback.

mod admin;
mod auth;
mod body;
mod handlers;
mod members;
mod metrics;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::runtime::NodeHandle;

pub use auth::{
    AdminAuth, AdminToken, AdminTokenError, AdminTokenFileError, MAX_ADMIN_TOKEN_BYTES,
};
pub use members::MEMBERSHIP_TIMEOUT;

/// The largest request body accepted, in bytes; larger ones answer `413`.
/// Only `POST /members` reads a body, a few dozen bytes; the limit stops a
/// client from making the server buffer an unbounded one.
pub const BODY_LIMIT_BYTES: usize = 4096;

/// Every route of one node: those of [`read_router`] and those of
/// [`admin_router`], the admin ones behind `auth` (see the
/// [module docs](self)). Serve it on one listener; to serve the two sets
/// apart (the admin routes on a loopback-only listener, say), build them
/// separately instead.
pub fn router(handle: NodeHandle, auth: AdminAuth) -> Router {
    finish(read_routes().merge(admin::routes(auth)), handle)
}

/// The read-only routes of one node, safe to expose to monitoring:
/// `GET /status`, `/cluster`, `/members`, `/metrics` and `/health`. Nothing
/// it serves changes anything; the admin paths answer `404` (or `405` for
/// `POST /members`).
pub fn read_router(handle: NodeHandle) -> Router {
    finish(read_routes(), handle)
}

/// The admin routes of one node: `POST /step-down`, `POST /members` and
/// `DELETE /members/{id}`, each answered only to a request that `auth`
/// admits (else `401`) and that declares a JSON body (else `415`). Every
/// other path answers `404` (`GET /members` `405`).
pub fn admin_router(handle: NodeHandle, auth: AdminAuth) -> Router {
    finish(admin::routes(auth), handle)
}

fn read_routes() -> Router<NodeHandle> {
    Router::new()
        .route("/status", get(handlers::status))
        .route("/cluster", get(handlers::cluster))
        .route("/members", get(members::list))
        .route("/metrics", get(handlers::metrics))
        .route("/health", get(handlers::health))
}

/// `routes` with what every router answers the same way: JSON `404` and
/// `405`, and the body limit, checked before anything else.
fn finish(routes: Router<NodeHandle>, handle: NodeHandle) -> Router {
    routes
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(middleware::from_fn(body::limit))
        // Extractors added later read bodies under the same limit.
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .with_state(handle)
}

/// An error answer: `status` with the body `{"error": message}`.
fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

/// A refused request: `status` with the body `{"error": message, "reason":
/// reason}`, `reason` a stable code for programs to match.
fn refusal(status: StatusCode, reason: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": message, "reason": reason })),
    )
        .into_response()
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not found")
}

async fn method_not_allowed() -> Response {
    error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}
