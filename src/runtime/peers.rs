//! When this node last heard from each member, for status pages.
//!
//! The driver records a contact for every inbound message; handles read the
//! table on demand. Recording is one atomic store into a table allocated at
//! start, so it never allocates and never wakes status watchers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::core::{Membership, NodeId};

/// One member of the cluster as this node sees it, from
/// [`NodeHandle::peers`](crate::runtime::NodeHandle::peers).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerStatus {
    /// The member.
    pub id: NodeId,
    /// Its display address from
    /// [`NodeConfig::addresses`](crate::runtime::NodeConfig::addresses), if
    /// one was given.
    pub address: Option<String>,
    /// Whether it votes in elections; `false` for a learner
    /// ([`NodeConfig::learners`](crate::runtime::NodeConfig::learners)),
    /// which follows the Goose but can never become it.
    pub voter: bool,
    /// When this node last received a message from it; `None` if never since
    /// this node started. For this node itself, the moment of the call: a
    /// node is always in touch with itself.
    pub last_contact: Option<Instant>,
}

/// The members' addresses and last-contact times, shared by the driver
/// (writer) and the handles (readers).
#[derive(Debug)]
pub(crate) struct Peers {
    /// The instant the contact times count from: the node's start.
    epoch: Instant,
    /// The members, voters and learners, in ascending id order; the other
    /// slices line up with it.
    ids: Box<[NodeId]>,
    voters: Box<[bool]>,
    addresses: Box<[Option<String>]>,
    /// Nanoseconds from `epoch` to the last message from each member, plus
    /// one so that zero can mean "never".
    contact_nanos: Box<[AtomicU64]>,
}

impl Peers {
    /// A table for every member of `membership`, voters and learners, with
    /// no contact yet. Addresses of nodes that are not members are ignored.
    pub(crate) fn new(
        epoch: Instant,
        membership: &Membership,
        addresses: &BTreeMap<NodeId, String>,
    ) -> Self {
        let ids: Box<[NodeId]> = membership.members().collect();
        debug_assert!(ids.is_sorted(), "members come from an ordered set");
        Peers {
            epoch,
            voters: ids.iter().map(|&id| membership.is_voter(id)).collect(),
            addresses: ids.iter().map(|id| addresses.get(id).cloned()).collect(),
            contact_nanos: ids.iter().map(|_| AtomicU64::new(0)).collect(),
            ids,
        }
    }

    /// Records that a message from `from` arrived at `now`. Messages from
    /// non-members are not recorded (the core drops and counts them).
    pub(crate) fn record(&self, from: NodeId, now: Instant) {
        if let Ok(index) = self.ids.binary_search(&from) {
            let nanos = now.saturating_duration_since(self.epoch).as_nanos();
            // 2^64 ns is 584 years of uptime; saturating is a formality.
            let stored = u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1;
            // A single writer (the driver): no ordering with anything else is
            // needed, readers only want a recent value.
            self.contact_nanos[index].store(stored, Ordering::Relaxed);
        }
    }

    /// Every member with its address and last contact, in ascending id
    /// order; `me` is shown as in contact at `now`.
    pub(crate) fn snapshot(&self, me: NodeId, now: Instant) -> Vec<PeerStatus> {
        self.ids
            .iter()
            .zip(&self.voters)
            .zip(&self.addresses)
            .zip(&self.contact_nanos)
            .map(|(((&id, &voter), address), nanos)| {
                let last_contact = if id == me {
                    Some(now)
                } else {
                    match nanos.load(Ordering::Relaxed) {
                        0 => None,
                        stored => Some(self.epoch + Duration::from_nanos(stored - 1)),
                    }
                };
                PeerStatus {
                    id,
                    address: address.clone(),
                    voter,
                    last_contact,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_contacts_of_members_only() {
        let epoch = Instant::now();
        let addresses = BTreeMap::from([
            (NodeId(2), "10.0.0.2:7000".to_owned()),
            (NodeId(9), "not a member".to_owned()),
        ]);
        let membership = Membership::new([NodeId(1), NodeId(2), NodeId(3)]);
        let peers = Peers::new(epoch, &membership, &addresses);
        let at = epoch + Duration::from_millis(5);
        peers.record(NodeId(2), at);
        peers.record(NodeId(9), at);
        let now = epoch + Duration::from_millis(7);
        let snapshot = peers.snapshot(NodeId(1), now);
        assert_eq!(
            snapshot,
            vec![
                PeerStatus {
                    id: NodeId(1),
                    address: None,
                    voter: true,
                    last_contact: Some(now),
                },
                PeerStatus {
                    id: NodeId(2),
                    address: Some("10.0.0.2:7000".to_owned()),
                    voter: true,
                    last_contact: Some(at),
                },
                PeerStatus {
                    id: NodeId(3),
                    address: None,
                    voter: true,
                    last_contact: None,
                },
            ]
        );
    }

    #[test]
    fn a_contact_at_the_epoch_is_not_never() {
        let epoch = Instant::now();
        let peers = Peers::new(
            epoch,
            &Membership::new([NodeId(1), NodeId(2)]),
            &BTreeMap::new(),
        );
        peers.record(NodeId(2), epoch);
        assert_eq!(
            peers.snapshot(NodeId(1), epoch)[1].last_contact,
            Some(epoch)
        );
    }

    #[test]
    fn learners_are_listed_in_id_order_as_non_voters() {
        let epoch = Instant::now();
        let membership = Membership::new([NodeId(1), NodeId(3)]).with_learners([NodeId(2)]);
        let addresses = BTreeMap::from([(NodeId(2), "10.0.0.2:7000".to_owned())]);
        let peers = Peers::new(epoch, &membership, &addresses);
        let at = epoch + Duration::from_millis(3);
        peers.record(NodeId(2), at);
        let snapshot = peers.snapshot(NodeId(1), epoch);
        let rows: Vec<_> = snapshot
            .iter()
            .map(|peer| {
                (
                    peer.id,
                    peer.voter,
                    peer.address.as_deref(),
                    peer.last_contact,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (NodeId(1), true, None, Some(epoch)),
                (NodeId(2), false, Some("10.0.0.2:7000"), Some(at)),
                (NodeId(3), true, None, None),
            ]
        );
    }
}
