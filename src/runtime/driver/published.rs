//! What the driver publishes on the status channel: the first status a
//! handle sees, and the parts that change while the node runs.

use std::sync::Arc;

use tokio::time::Instant;

use crate::core::{Counters, Election, MembershipId, NodeId, Role, Term};
use crate::runtime::handle::{NodeStatus, leads_at};

/// The parts of [`NodeStatus`] that change while the node runs. All `Copy`:
/// comparing and publishing them never allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Published {
    pub(super) role: Role,
    pub(super) term: Term,
    pub(super) leader: Option<NodeId>,
    pub(super) voted_for: Option<NodeId>,
    pub(super) lease_deadline: Option<Instant>,
    pub(super) counters: Counters,
    pub(super) membership: MembershipId,
    pub(super) membership_pending: Option<bool>,
    /// See [`NodeStatus::reign`].
    pub(super) reign: u64,
}

impl Published {
    /// Whether this shows a Goose holding its lease at `now`, as the
    /// handles judge it.
    pub(super) fn holds_lease_at(&self, now: Instant, lease_checked: bool) -> bool {
        leads_at(self.role, self.lease_deadline, now, lease_checked)
    }

    /// Whether going from `self` to `next` is worth waking watchers for: a
    /// renewed lease deadline or a grown counter alone is not, but a lease
    /// renewed after it lapsed is a new reign.
    pub(super) fn notable_change(&self, next: &Published) -> bool {
        self.reign != next.reign
            || self.role != next.role
            || self.term != next.term
            || self.leader != next.leader
            || self.voted_for != next.voted_for
            || self.lease_deadline.is_some() != next.lease_deadline.is_some()
            || self.membership != next.membership
            || self.membership_pending != next.membership_pending
    }
}

/// The first status a handle sees, before the driver has run.
pub(crate) fn initial_status(election: &Election) -> NodeStatus {
    let membership = election.membership();
    NodeStatus {
        id: election.id(),
        // No lease yet: whatever the core says, the node does not lead.
        role: Role::Duck,
        core_role: election.role(),
        term: election.term(),
        leader: election.leader(),
        voted_for: election.hard_state().voted_for,
        lease_deadline: None,
        members: membership.voters().collect(),
        learners: membership.learners().collect(),
        member: membership.contains(election.id()),
        membership: membership.id(),
        membership_pending: election.membership_pending(),
        counters: *election.counters(),
        running: true,
        fatal_error: None,
        full_membership: Arc::new(membership.clone()),
        reign: 0,
    }
}
