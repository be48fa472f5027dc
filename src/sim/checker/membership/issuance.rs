//! How memberships are issued and committed (invariants 6 to 9 of the `sim`
//! module docs, for the memberships a node comes to hold): one membership
//! per id, single-server changes made on committed bases only, and commits
//! backed by a durable majority.

use std::collections::BTreeSet;

use super::Memberships;
use crate::core::{Membership, MembershipId, NodeId};
use crate::sim::checker::{DisplayMembership, Violation};

impl Memberships {
    /// Invariants 6 to 8 for a membership `node` now holds.
    pub(super) fn on_held(
        &mut self,
        at_us: u64,
        node: NodeId,
        next: &Membership,
    ) -> Result<(), Violation> {
        let Some(held) = self.held.get_mut(node) else {
            return Ok(());
        };
        let Some(previous) = held.replace(next.clone()) else {
            return Ok(());
        };
        if next.id() < previous.id() {
            return Err(Violation::MembershipWentBack {
                at_us,
                node,
                from: previous.id(),
                to: next.id(),
                durable: false,
            });
        }
        if self.issued.contains_key(&next.id()) {
            return self.check_same_as_issued(at_us, node, next);
        }
        // First sight: this node issued it. Any other holder received it
        // from a node that persisted it, and so showed it, first: from the
        // Goose's heartbeat, or from any member's `NewerMembership` (a
        // stale node catching up from a peer adopts an issued membership,
        // it does not issue one).
        self.issued.insert(next.id(), next.clone());
        self.predecessor.insert(next.id(), previous.id());
        let changed = changed_voters(&previous, next);
        if changed.len() > 1 {
            return Err(Violation::MultiVoterChange {
                at_us,
                node,
                from: previous.id(),
                to: next.id(),
                changed: changed.into(),
            });
        }
        if !same_members(&previous, next) && !self.decided.contains(&previous.id()) {
            return Err(Violation::ChangeOnUncommittedBase {
                at_us,
                node,
                base: previous.id(),
                change: next.id(),
            });
        }
        Ok(())
    }

    /// Invariant 7: `membership` is the one first issued under its id.
    pub(super) fn check_same_as_issued(
        &self,
        at_us: u64,
        node: NodeId,
        membership: &Membership,
    ) -> Result<(), Violation> {
        match self.issued.get(&membership.id()) {
            Some(first) if first != membership => Err(Violation::MembershipIdReused {
                at_us,
                node,
                id: membership.id(),
                first: Box::new(DisplayMembership(first.clone())),
                second: Box::new(DisplayMembership(membership.clone())),
            }),
            _ => Ok(()),
        }
    }

    /// Invariant 9: the host of the Goose `node` handled the event
    /// committing `id`.
    pub(super) fn on_commit(
        &mut self,
        at_us: u64,
        node: NodeId,
        id: MembershipId,
    ) -> Result<(), Violation> {
        let Some(membership) = self.issued.get(&id).cloned() else {
            // Never held by anyone: the Goose did not persist what it
            // commits. The event check of the host reports it.
            return Ok(());
        };
        let holders = membership
            .voters()
            .filter(|voter| {
                self.durable
                    .get(*voter)
                    .is_some_and(|durable| *durable >= id)
            })
            .count();
        if holders < membership.quorum() {
            return Err(Violation::CommittedWithoutMajority {
                at_us,
                node,
                id,
                holders,
                quorum: membership.quorum(),
            });
        }
        if let Some(base) = self.predecessor.get(&id).copied()
            && let Some(base_membership) = self.issued.get(&base)
            && !same_members(base_membership, &membership)
            && !self.committed.contains(&base)
        {
            return Err(Violation::ChangeOnUncommittedBase {
                at_us,
                node,
                base,
                change: id,
            });
        }
        self.committed.insert(id);
        self.ever_committed_members.extend(membership.members());
        if id > self.latest_committed.id() {
            self.latest_committed = membership;
        }
        self.update_removed();
        Ok(())
    }
}

/// The voters in one membership and not the other.
pub(super) fn changed_voters(a: &Membership, b: &Membership) -> Vec<NodeId> {
    let a: BTreeSet<NodeId> = a.voters().collect();
    let b: BTreeSet<NodeId> = b.voters().collect();
    a.symmetric_difference(&b).copied().collect()
}

/// Whether two memberships have the same content, ids aside (a re-issue).
fn same_members(a: &Membership, b: &Membership) -> bool {
    a.voters().eq(b.voters())
        && a.learners().eq(b.learners())
        && a.joining().eq(b.joining())
        && a.addresses() == b.addresses()
}
