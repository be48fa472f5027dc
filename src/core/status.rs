//! A snapshot of a node, for users and dashboards.

use serde::{Deserialize, Serialize};

use super::membership::MembershipId;
use super::types::{NodeId, Role, Term};

/// What [`Election::status`](crate::core::Election::status) reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Status {
    /// This node.
    pub id: NodeId,
    /// Goose or Duck, as [`Election::role`](crate::core::Election::role).
    pub role: Role,
    /// The current term; while Goose, the fencing token.
    pub term: Term,
    /// The Goose this node believes leads `term` (itself when elected).
    pub leader: Option<NodeId>,
    /// The vote this node cast in `term`.
    pub voted_for: Option<NodeId>,
    /// While Goose: ticks until the lease runs out unless renewed.
    pub lease_remaining_ticks: Option<u64>,
    /// The voters, in ascending id order.
    pub members: Vec<NodeId>,
    /// The learners (non-voting members, joining ones included), in
    /// ascending id order.
    pub learners: Vec<NodeId>,
    /// The membership in force on this node.
    pub membership: MembershipId,
    /// On a Goose: whether that membership is still uncommitted. `None` on
    /// a Duck.
    pub membership_pending: Option<bool>,
}
