//! The driver's side of membership changes: what it logs and publishes,
//! and which peers the transport carries.

use super::{Driver, id_list};
use crate::runtime::admission::peer_addresses;
use crate::storage::Storage;
use crate::transport::Transport;

impl<T: Transport, S: Storage> Driver<T, S> {
    /// The node holds a new membership, durably (`held`): the peers table
    /// and the transport follow it.
    pub(super) fn membership_changed(&mut self) {
        let id = self.election.id();
        let held = &self.held;
        tracing::info!(
            %id,
            membership = %held.id(),
            voters = ?id_list(held.voters()),
            learners = ?id_list(held.learners()),
            joining = ?id_list(held.joining()),
            member = held.contains(id),
            "membership changed"
        );
        let member = held.contains(id);
        if self.member && !member {
            tracing::info!(
                %id,
                "this node was removed from the cluster; it no longer campaigns, and dials the \
                 members only to answer them"
            );
        } else if !self.member && member {
            tracing::info!(%id, "this node is a member again: the Goose added it back");
        }
        if self.member != member {
            self.transport.set_removed(!member);
        }
        self.member = member;
        self.observed.peers.replace(held);
        self.sync_transport_peers();
    }

    /// Hands the transport the peers the core admits now, with their
    /// addresses, if they changed. Called after every output that may change
    /// them (a membership change or commit, a new leader, a role change);
    /// the core alone decides who they are.
    ///
    /// It may run before the drain's `Persist` of a new term (a heartbeat
    /// that names a new Goose): the transport only carries, and no message
    /// leaves before the persist barrier anyway.
    pub(super) fn sync_transport_peers(&mut self) {
        let mut admitted = self.election.admitted_peers();
        self.outsiders.admitted(&admitted);
        // Inside a drain, a peer that leaves keeps its route until the drain
        // ends (`drain` syncs again then).
        if self.draining
            && let Some(current) = &self.transport_peers
            && current.keys().any(|id| !admitted.contains(id))
        {
            admitted.extend(current.keys().copied());
            self.removals_deferred = true;
        }
        let membership = self.election.membership();
        let me = self.election.id();
        match peer_addresses(&admitted, membership, me, self.transport_peers.as_ref()) {
            Some(peers) if self.transport_peers.as_ref() != Some(&peers) => {
                self.transport.set_peers(&peers);
                self.transport_peers = Some(peers);
            }
            Some(_) => {}
            // `Node::start` and the Goose's changes require every address;
            // a membership without them came from a Goose that does not.
            None if self.transport.needs_peer_addresses() => {
                tracing::error!(
                    id = %me,
                    membership = %membership.id(),
                    "the membership lacks the address of some members; the transport keeps the peers \
                     it had (record every member's address: add_node with a member's id and address)"
                );
            }
            None => {}
        }
    }
}
