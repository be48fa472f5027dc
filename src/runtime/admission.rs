//! What the runtime hands the transport: the peers the core admits
//! ([`Election::admitted_peers`](crate::core::Election::admitted_peers)),
//! with their addresses. The rule of who they are lives in the core alone;
//! this only finds addresses for them, and says when a membership lacks
//! some (the one rule for starting a node and for adding one).

use std::collections::{BTreeMap, BTreeSet};

use super::error::MissingAddresses;
use crate::core::{Membership, NodeId};

/// The members of `membership` that have no address, this node included if
/// it is one; `None` when every member has one. A transport that dials its
/// peers ([`Transport::needs_peer_addresses`](crate::transport::Transport::needs_peer_addresses))
/// cannot work with such a membership: the members it lacks are out of
/// this node's reach, and a member without an address is out of everyone
/// else's.
pub(crate) fn missing_addresses(membership: &Membership) -> Option<MissingAddresses> {
    let ids: Vec<NodeId> = membership
        .members()
        .filter(|&id| membership.address(id).is_none())
        .collect();
    (!ids.is_empty()).then_some(MissingAddresses { ids })
}

/// `membership` with the addresses it lacks taken from `configured`; the
/// ones it has are kept, and entries for non-members are ignored. For a
/// membership saved before its members' addresses were recorded.
pub(crate) fn fill_addresses(
    membership: Membership,
    configured: &BTreeMap<NodeId, String>,
) -> Membership {
    let missing: Vec<(NodeId, String)> = configured
        .iter()
        .filter(|(id, _)| membership.contains(**id) && membership.address(**id).is_none())
        .map(|(id, addr)| (*id, addr.clone()))
        .collect();
    membership.with_addresses(missing)
}

/// The peer map for a transport: every admitted node with its address, or
/// `None` when the membership does not know where every other member is (a
/// cluster configured without
/// [`NodeConfig::addresses`](crate::runtime::NodeConfig::addresses)):
/// handing such a map to the transport would cut it off from the members
/// it lacks, so the transport keeps its own configuration.
///
/// A member's address comes from `membership`, the membership in force. A
/// departing peer (admitted, no longer a member) keeps the address in
/// `known`, the map last given to the transport; one never known is left
/// out, as there is no way to reach it. This node's own address is kept
/// when the membership has it (one map describes the cluster; transports
/// ignore their own id).
pub(crate) fn peer_addresses(
    admitted: &BTreeSet<NodeId>,
    membership: &Membership,
    me: NodeId,
    known: Option<&BTreeMap<NodeId, String>>,
) -> Option<BTreeMap<NodeId, String>> {
    let mut peers = BTreeMap::new();
    // The core admits peers, never itself; the map describes the cluster.
    let own = membership.contains(me).then_some(me);
    for &id in admitted.iter().chain(own.iter()) {
        let addr = if membership.contains(id) {
            match membership.address(id) {
                Some(addr) => addr,
                None if id == me => continue,
                None => return None,
            }
        } else {
            match known.and_then(|known| known.get(&id)) {
                Some(addr) => addr.as_str(),
                None => continue,
            }
        };
        peers.insert(id, addr.to_owned());
    }
    Some(peers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u64]) -> BTreeSet<NodeId> {
        ids.iter().copied().map(NodeId).collect()
    }

    fn map(entries: &[(u64, &str)]) -> BTreeMap<NodeId, String> {
        entries
            .iter()
            .map(|(id, addr)| (NodeId(*id), (*addr).to_owned()))
            .collect()
    }

    #[test]
    fn transport_peers_need_every_other_members_address() {
        let me = NodeId(1);
        let partial =
            Membership::new([NodeId(1), NodeId(2), NodeId(3)]).with_addresses([(NodeId(2), "b:1")]);
        assert_eq!(peer_addresses(&set(&[1, 2, 3]), &partial, me, None), None);
        let complete = partial.clone().with_addresses([(NodeId(3), "c:1")]);
        assert_eq!(
            peer_addresses(&set(&[1, 2, 3]), &complete, me, None),
            Some(map(&[(2, "b:1"), (3, "c:1")]))
        );
        // A member's address is never taken from what was known before.
        assert_eq!(
            peer_addresses(&set(&[1, 2, 3]), &partial, me, Some(&map(&[(3, "c:1")]))),
            None
        );
    }

    #[test]
    fn transport_peers_keep_departing_members_at_their_known_address() {
        let me = NodeId(1);
        let before = map(&[(2, "b:1"), (3, "c:1")]);
        let after = Membership::new([NodeId(1), NodeId(2)]).with_addresses([(NodeId(2), "b:2")]);
        assert_eq!(
            peer_addresses(&set(&[1, 2, 3]), &after, me, Some(&before)),
            Some(map(&[(2, "b:2"), (3, "c:1")])),
            "the new address wins; the departing member stays"
        );
        assert_eq!(
            peer_addresses(&set(&[1, 2]), &after, me, Some(&before)),
            Some(map(&[(2, "b:2")])),
            "no longer admitted: gone"
        );
        assert_eq!(
            peer_addresses(&set(&[1, 2, 3]), &after, me, None),
            Some(map(&[(2, "b:2")])),
            "a departing peer whose address was never known is left out"
        );
    }

    #[test]
    fn missing_addresses_name_every_member_without_one_this_node_included() {
        let membership = Membership::new([NodeId(1), NodeId(2), NodeId(3)])
            .with_learners([NodeId(4)])
            .with_addresses([(NodeId(2), "b:1"), (NodeId(5), "e:1")]);
        assert_eq!(
            missing_addresses(&membership),
            Some(MissingAddresses {
                ids: vec![NodeId(1), NodeId(3), NodeId(4)]
            })
        );
        let complete =
            membership.with_addresses([(NodeId(1), "a:1"), (NodeId(3), "c:1"), (NodeId(4), "d:1")]);
        assert_eq!(missing_addresses(&complete), None);
    }

    #[test]
    fn a_saved_membership_takes_only_the_addresses_it_lacks_from_the_config() {
        let saved =
            Membership::new([NodeId(1), NodeId(2), NodeId(3)]).with_addresses([(NodeId(2), "b:1")]);
        let configured = map(&[(1, "a:1"), (2, "b:2"), (9, "z:1")]);
        let filled = fill_addresses(saved.clone(), &configured);
        assert_eq!(filled.addresses(), &map(&[(1, "a:1"), (2, "b:1")]));
        assert_eq!(filled.id(), saved.id(), "the same membership");
        assert_eq!(
            missing_addresses(&filled),
            Some(MissingAddresses {
                ids: vec![NodeId(3)]
            })
        );
    }

    #[test]
    fn this_nodes_own_address_is_kept_when_known() {
        let me = NodeId(1);
        let membership = Membership::new([NodeId(1), NodeId(2)])
            .with_addresses([(NodeId(1), "a:1"), (NodeId(2), "b:1")]);
        assert_eq!(
            peer_addresses(&set(&[1, 2]), &membership, me, None),
            Some(map(&[(1, "a:1"), (2, "b:1")]))
        );
    }
}
