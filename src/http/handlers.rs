//! The JSON endpoints: what each answers, and in which shape. Numbers are
//! plain JSON numbers (ids, terms, milliseconds), so the wire format does not
//! depend on how the core's types serialize.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::time::Instant;

use super::members::IdBody;
use super::metrics;
use crate::core::{CommandError, Membership, NodeId, Term};
use crate::runtime::{AckRoundTrip, GooseInfo, HandleError, NodeHandle, NodeStatus, PeerStatus};

/// The media type of the Prometheus text exposition format.
const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Serialize)]
pub(super) struct StatusBody {
    id: u64,
    role: &'static str,
    term: u64,
    leader: Option<u64>,
    lease_ms: Option<u64>,
    goose: Option<GooseBody>,
}

/// Where the Goose is: what [`NodeHandle::goose`] answers.
#[derive(Serialize)]
struct GooseBody {
    id: u64,
    term: u64,
    addr: Option<String>,
    meta: BTreeMap<String, String>,
}

impl GooseBody {
    /// `leader` leading `term`, with what `membership` records of it.
    fn new(leader: NodeId, term: Term, membership: &Membership) -> Self {
        let GooseInfo {
            id,
            term,
            address,
            metadata,
            ..
        } = GooseInfo::from_membership(leader, term, membership);
        GooseBody {
            id: id.0,
            term: term.0,
            addr: address,
            meta: metadata.as_map().clone(),
        }
    }
}

/// `GET /status`: Goose only while the real-time lease check holds. The
/// `goose` object says where the Goose is (as
/// [`NodeHandle::goose`](crate::runtime::NodeHandle::goose)), from the same
/// reading as `role` and `leader`.
pub(super) async fn status(State(handle): State<NodeHandle>) -> Json<StatusBody> {
    let id = handle.id();
    // The lease first: a node that is the Goose reports the term it leads,
    // whatever a status snapshot taken a moment apart would say.
    let body = match handle.lease() {
        Some(lease) => StatusBody {
            id: id.0,
            role: "Goose",
            term: lease.term.0,
            leader: Some(id.0),
            lease_ms: lease.remaining.map(whole_millis),
            goose: Some(GooseBody::new(id, lease.term, &handle.membership())),
        },
        None => {
            let status = handle.status();
            let leader = known_leader(&status);
            StatusBody {
                id: id.0,
                role: "Duck",
                term: status.term.0,
                leader: leader.map(|leader| leader.0),
                lease_ms: None,
                goose: leader
                    .map(|leader| GooseBody::new(leader, status.term, &status.full_membership)),
            }
        }
    };
    Json(body)
}

#[derive(Serialize)]
pub(super) struct ClusterBody {
    leader: Option<u64>,
    term: u64,
    /// Whether this node is in `members`; `false` for a removed node.
    member: bool,
    membership: IdBody,
    pending: Option<bool>,
    members: Vec<MemberBody>,
}

#[derive(Serialize)]
struct MemberBody {
    id: u64,
    addr: Option<String>,
    voter: bool,
    joining: bool,
    last_contact_ms: Option<u64>,
    ack_rtt_ms: Option<RoundTripBody>,
    meta: BTreeMap<String, String>,
}

/// A peer's heartbeat-ack round trip, in milliseconds with microsecond
/// precision (a LAN's is a fraction of one).
#[derive(Serialize)]
struct RoundTripBody {
    last: f64,
    smoothed: f64,
}

impl From<AckRoundTrip> for RoundTripBody {
    fn from(round_trip: AckRoundTrip) -> Self {
        RoundTripBody {
            last: micros_as_millis(round_trip.last),
            smoothed: micros_as_millis(round_trip.smoothed),
        }
    }
}

/// `GET /cluster`: every member as this node sees it, from the membership
/// it holds, with the contact times the driver recorded.
pub(super) async fn cluster(State(handle): State<NodeHandle>) -> Json<ClusterBody> {
    let me = handle.id();
    let goose = handle.lease();
    let status = handle.status();
    let membership = handle.membership();
    let peers: BTreeMap<NodeId, PeerStatus> = handle
        .peers()
        .into_iter()
        .map(|peer| (peer.id, peer))
        .collect();
    // Taken after the contacts were read, so no contact lies in the future.
    let now = Instant::now();
    let members = membership
        .members()
        .map(|id| {
            let peer = peers.get(&id);
            MemberBody {
                id: id.0,
                addr: membership
                    .address(id)
                    .map(str::to_owned)
                    .or_else(|| peer.and_then(|peer| peer.address.clone())),
                voter: membership.is_voter(id),
                joining: membership.is_joining(id),
                last_contact_ms: if id == me {
                    Some(0)
                } else {
                    peer.and_then(|peer| peer.last_contact)
                        .map(|contact| whole_millis(now.saturating_duration_since(contact)))
                },
                // Measured only by a node that leads (or led) its term.
                ack_rtt_ms: peer
                    .and_then(|peer| peer.ack_round_trip)
                    .map(RoundTripBody::from),
                meta: meta_of(&membership, id),
            }
        })
        .collect();
    let (leader, term) = match goose {
        Some(lease) => (Some(me), lease.term),
        None => (known_leader(&status), status.term),
    };
    Json(ClusterBody {
        leader: leader.map(|leader| leader.0),
        term: term.0,
        member: membership.contains(me),
        membership: membership.id().into(),
        // Only the Goose knows whether its membership is committed; a
        // stopped node's answer would be stale.
        pending: status.membership_pending.filter(|_| status.running),
        members,
    })
}

#[derive(Serialize)]
struct SteppedDownBody {
    stepped_down: bool,
    term: u64,
}

#[derive(Serialize)]
struct NotGooseBody {
    error: String,
    leader: Option<u64>,
}

/// `POST /step-down`: `202` once this Goose has handed over, `409` if there
/// was nothing (or nobody) to hand over to.
pub(super) async fn step_down(State(handle): State<NodeHandle>) -> Response {
    let refused = match handle.step_down().await {
        Ok(term) => {
            let body = SteppedDownBody {
                stepped_down: true,
                term: term.0,
            };
            return (StatusCode::ACCEPTED, Json(body)).into_response();
        }
        // A stopped node is not the Goose either.
        Err(HandleError::Rejected(CommandError::NotGoose) | HandleError::Stopped) => {
            "not the Goose".to_owned()
        }
        Err(HandleError::Rejected(other)) => other.to_string(),
        Err(other) => other.to_string(),
    };
    // A Goose can be refused too (a cluster of one has nobody to hand over
    // to); then it is the leader to point at.
    let leader = match handle.lease() {
        Some(_) => Some(handle.id()),
        None => known_leader(&handle.status()),
    };
    let body = NotGooseBody {
        error: refused,
        leader: leader.map(|leader| leader.0),
    };
    (StatusCode::CONFLICT, Json(body)).into_response()
}

/// `GET /health`: `200` while the driver runs, `503` once it has stopped.
pub(super) async fn health(State(handle): State<NodeHandle>) -> Response {
    if handle.is_running() {
        return (StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))).into_response();
    }
    let body = match handle.fatal_error() {
        Some(error) => serde_json::json!({ "status": "failed", "error": error.to_string() }),
        None => serde_json::json!({ "status": "stopped" }),
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

/// `GET /metrics`: the Prometheus text exposition format.
pub(super) async fn metrics(State(handle): State<NodeHandle>) -> Response {
    let text = metrics::render(&metrics::Sample::take(&handle));
    ([(CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], text).into_response()
}

/// The leader a node that is not the Goose can point to: `None` when it
/// knows none, when it has stopped (its view is stale), and when its core
/// still names itself (a stalled or lease-less leader is not the Goose).
fn known_leader(status: &NodeStatus) -> Option<NodeId> {
    status
        .leader
        .filter(|&leader| status.running && leader != status.id)
}

/// The metadata `membership` records for `id`, as a JSON object (empty if
/// none).
pub(super) fn meta_of(membership: &Membership, id: NodeId) -> BTreeMap<String, String> {
    membership
        .metadata(id)
        .map(|metadata| metadata.as_map().clone())
        .unwrap_or_default()
}

/// Milliseconds with three decimals (whole microseconds, rounded down), so
/// that the JSON number is exact: `0.412`, `300`.
fn micros_as_millis(duration: Duration) -> f64 {
    // Below 2^53 µs (285 years) the quotient is exact to the microsecond.
    let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
    (micros / 1000) as f64 + (micros % 1000) as f64 / 1000.0
}

/// Milliseconds, rounded down.
fn whole_millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
