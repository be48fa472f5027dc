//! `/members`: the membership as JSON, and the two changes an operator makes
//! to it (add a node, remove one), each answered once the change is
//! committed or refused.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::handlers::meta_of;
use super::refusal;
use crate::core::{Membership, MembershipError, MembershipId, NodeId, NodeMetadata};
use crate::runtime::{HandleError, NodeHandle};

/// How long `POST /members` and `DELETE /members/{id}` wait for the change
/// to commit before answering `504`. A change commits within a heartbeat
/// round or two of a healthy majority; a Goose that cannot reach one loses
/// its lease long before this, and the request ends with `503`.
pub const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(10);

/// A membership id as JSON: `{"term": 7, "version": 3}`.
#[derive(Serialize)]
pub(super) struct IdBody {
    term: u64,
    version: u64,
}

impl From<MembershipId> for IdBody {
    fn from(id: MembershipId) -> Self {
        IdBody {
            term: id.term.0,
            version: id.version,
        }
    }
}

/// One member in a membership.
#[derive(Serialize)]
struct MemberBody {
    id: u64,
    addr: Option<String>,
    voter: bool,
    joining: bool,
    meta: BTreeMap<String, String>,
}

/// A membership as JSON: its id and every member, in ascending id order.
#[derive(Serialize)]
pub(super) struct MembershipBody {
    membership: IdBody,
    members: Vec<MemberBody>,
}

impl From<&Membership> for MembershipBody {
    fn from(membership: &Membership) -> Self {
        MembershipBody {
            membership: membership.id().into(),
            members: membership
                .members()
                .map(|id| MemberBody {
                    id: id.0,
                    addr: membership.address(id).map(str::to_owned),
                    voter: membership.is_voter(id),
                    joining: membership.is_joining(id),
                    meta: meta_of(membership, id),
                })
                .collect(),
        }
    }
}

/// `GET /members`: the membership this node holds.
pub(super) async fn list(State(handle): State<NodeHandle>) -> Json<MembershipBody> {
    Json(MembershipBody::from(&handle.membership()))
}

/// The body of `POST /members`. Unknown fields are refused, so that a typo
/// (`"address"`) is an error rather than a missing field's default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddRequest {
    id: u64,
    addr: String,
    /// Checked after parsing, so a broken bound is named in the answer.
    #[serde(default)]
    meta: BTreeMap<String, String>,
}

/// `POST /members` with `{"id": 4, "addr": "HOST:PORT"}`, and optionally
/// `"meta": {"KEY": "VALUE", ...}` (the node's metadata): adds the node as a
/// joining learner (promoted to voter once it keeps up with the Goose), and
/// answers with the committed membership. Metadata that breaks a bound of
/// [`NodeMetadata`] is refused with `400` and `"reason": "invalid_metadata"`.
pub(super) async fn add(State(handle): State<NodeHandle>, body: Bytes) -> Response {
    // The content type was checked before any admin handler runs.
    let request = match parse_add(&body) {
        Ok(request) => request,
        Err(error) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &format!(
                    r#"expected {{"id": <node id>, "addr": "HOST:PORT"}}, optionally with "meta": {{"KEY": "VALUE"}}: {error}"#
                ),
            );
        }
    };
    if let Err(why) = check_dialable(&request.addr) {
        return refusal(StatusCode::BAD_REQUEST, "invalid_address", &why);
    }
    let metadata = match NodeMetadata::try_from(request.meta) {
        Ok(metadata) => metadata,
        Err(error) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "invalid_metadata",
                &error.to_string(),
            );
        }
    };
    let change = handle.add_node_with_metadata(NodeId(request.id), request.addr, metadata);
    answer(
        &handle,
        tokio::time::timeout(MEMBERSHIP_TIMEOUT, change).await,
    )
}

/// `DELETE /members/{id}`: removes the node (a voter or a learner; the Goose
/// itself too, which then hands over) and answers with the committed
/// membership.
pub(super) async fn remove(
    State(handle): State<NodeHandle>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let id = match id {
        Ok(Path(id)) => id,
        Err(rejection) => {
            return refusal(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &rejection.body_text(),
            );
        }
    };
    let Ok(id) = id.parse::<u64>() else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!("node id {id:?} is not a non-negative integer"),
        );
    };
    let change = handle.remove_node(NodeId(id));
    answer(
        &handle,
        tokio::time::timeout(MEMBERSHIP_TIMEOUT, change).await,
    )
}

/// The body of `POST /members`. A JSON object only: serde would also take
/// `[4, "HOST:PORT"]` for the struct, which nobody means to send.
fn parse_add(body: &[u8]) -> Result<AddRequest, serde_json::Error> {
    let value: serde_json::Value = serde_json::from_slice(body)?;
    if !value.is_object() {
        return Err(serde::de::Error::custom("the body is not a JSON object"));
    }
    serde_json::from_value(value)
}

/// The answer to a change, from how waiting for it ended.
fn answer(
    handle: &NodeHandle,
    outcome: Result<Result<Membership, HandleError>, tokio::time::error::Elapsed>,
) -> Response {
    let result = match outcome {
        Ok(result) => result,
        Err(_elapsed) => {
            return refusal(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                &format!(
                    "the change did not commit within {MEMBERSHIP_TIMEOUT:?}; it may still \
                     commit: check GET /members"
                ),
            );
        }
    };
    let error = match result {
        Ok(membership) => {
            return (StatusCode::OK, Json(MembershipBody::from(&membership))).into_response();
        }
        Err(HandleError::Membership(error)) => error,
        Err(HandleError::LeadershipLost) => {
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "leadership_lost",
                "this node stopped being the Goose before the change committed; it may still \
                 commit: check GET /members on the new Goose",
            );
        }
        Err(HandleError::Stopped) => {
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "stopped",
                "the node is not running",
            );
        }
        Err(other) => {
            return refusal(StatusCode::CONFLICT, "refused", &other.to_string());
        }
    };
    let message = error.to_string();
    match error {
        MembershipError::NotGoose { leader } => {
            // A node whose core still names itself (its lease lapsed) is no
            // Goose to point at.
            let goose = leader.filter(|&leader| leader != handle.id());
            let body = json!({
                "error": "not the Goose",
                "reason": "not_goose",
                "goose": goose.map(|goose| goose.0),
            });
            (StatusCode::CONFLICT, Json(body)).into_response()
        }
        MembershipError::ChangeInProgress { pending } => {
            let body = json!({
                "error": message,
                "reason": "change_in_progress",
                "pending": IdBody::from(pending),
            });
            (StatusCode::CONFLICT, Json(body)).into_response()
        }
        MembershipError::NotYetConfirmed => refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_yet_confirmed",
            &message,
        ),
        MembershipError::AddressConflict { .. } => {
            refusal(StatusCode::CONFLICT, "address_conflict", &message)
        }
        MembershipError::NotAMember(_) => refusal(StatusCode::NOT_FOUND, "not_a_member", &message),
        MembershipError::LastVoter(_) => refusal(StatusCode::BAD_REQUEST, "last_voter", &message),
        MembershipError::InvalidAddress(_) => {
            refusal(StatusCode::BAD_REQUEST, "invalid_address", &message)
        }
        MembershipError::MetadataConflict { .. } => {
            refusal(StatusCode::CONFLICT, "metadata_conflict", &message)
        }
        MembershipError::Metadata(_) => {
            refusal(StatusCode::BAD_REQUEST, "invalid_metadata", &message)
        }
    }
}

/// Checks that `addr` is a `HOST:PORT` the other members can dial: not a
/// wildcard address, not port 0. The core checks the syntax again.
fn check_dialable(addr: &str) -> Result<(), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("address {addr:?} is not HOST:PORT"))?;
    let bare_host = host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
        .unwrap_or(host);
    if bare_host.is_empty()
        || bare_host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!("address {addr:?} is not HOST:PORT"));
    }
    match port.parse::<u16>() {
        Ok(0) => return Err(format!("address {addr:?}: port 0 cannot be dialled")),
        Ok(_) => {}
        Err(_) => {
            return Err(format!(
                "address {addr:?}: port {port:?} is not a number from 1 to 65535"
            ));
        }
    }
    if bare_host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified())
    {
        return Err(format!(
            "address {addr:?} is a wildcard address; give one the other members can dial"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_dialable;

    #[test]
    fn dialable_addresses() {
        for good in ["127.0.0.1:7004", "db-4.internal:7000", "[::1]:7000"] {
            assert_eq!(check_dialable(good), Ok(()), "{good}");
        }
        for bad in [
            "127.0.0.1",
            ":7000",
            "127.0.0.1:0",
            "127.0.0.1:70000",
            "127.0.0.1:x",
            "0.0.0.0:7000",
            "[::]:7000",
            "a b:7000",
            "a\u{0}:7000",
        ] {
            assert!(check_dialable(bad).is_err(), "{bad}");
        }
    }
}
