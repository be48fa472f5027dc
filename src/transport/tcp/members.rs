//! The peer set as the inbound side sees it, and the live inbound
//! connection of each node: peers, and a few strangers.
//!
//! The transport does not decide who may talk to this node: the core does
//! (see [`Transport::set_peers`](crate::transport::Transport::set_peers)).
//! It authenticates who is talking and bounds what that costs. A node
//! outside the peer set that passes the handshake (the cluster id, and the
//! cluster key when there is one) gets a *stranger* connection, at most
//! [`MAX_STRANGER_CONNECTIONS`] at a time, and its messages go to the core,
//! which admits them (a newer Goose bringing a membership that names this
//! node: a lagging member's way to catch up) or drops and counts them.
//!
//! Both sit under one lock so that a peer removed while one of its
//! handshakes is under way is counted against the stranger cap when it
//! registers, never as a peer.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::oneshot;

use crate::core::NodeId;

/// How many inbound connections from authenticated nodes outside the peer
/// set may be open at once; beyond it, a stranger's connection is closed
/// after its handshake and counted in
/// [`TransportStats::strangers_refused`](super::TransportStats::strangers_refused).
///
/// Small and fixed: a lagging member needs one, from the Goose it does not
/// know yet (and perhaps from a few other new members), until it adopts the
/// membership that names them and they become peers. A removed node left
/// running dials only to answer, and lets its connection go once idle (see
/// [`Transport::set_removed`](crate::transport::Transport::set_removed)).
/// Without a cluster key a stranger's id is only what its hello claims, so
/// the cap is also what an unauthenticated client can hold of this node.
pub const MAX_STRANGER_CONNECTIONS: usize = 4;

/// Tells an inbound connection's reader to stop: a value sent means its
/// peer was removed; the sender dropped unsent means a newer connection
/// from the same node replaced it.
pub(crate) type CloseSignal = oneshot::Sender<()>;

#[derive(Debug, Default)]
struct State {
    /// The peers now (never this node itself).
    peers: BTreeSet<NodeId>,
    /// The live inbound connection of each node, peer or stranger, with its
    /// generation. A newer one closes the older, so a node that reconnects
    /// after a silent failure does not leave a stale reader behind.
    inbound: BTreeMap<NodeId, (u64, CloseSignal)>,
}

impl State {
    /// Inbound connections from nodes outside the peer set.
    fn strangers(&self) -> usize {
        self.inbound
            .keys()
            .filter(|id| !self.peers.contains(id))
            .count()
    }

    /// Whether a connection from `from` may register now: a peer always; a
    /// stranger replacing its own connection (no new slot); another
    /// stranger while the cap is not reached.
    fn has_room_for(&self, from: NodeId) -> bool {
        self.peers.contains(&from)
            || self.inbound.contains_key(&from)
            || self.strangers() < MAX_STRANGER_CONNECTIONS
    }
}

/// A registered inbound connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Registration {
    /// For [`Members::unregister_inbound`].
    pub(crate) generation: u64,
    /// Whether it came from outside the peer set.
    pub(crate) stranger: bool,
}

/// The peer set and the live inbound connections.
#[derive(Debug, Default)]
pub(crate) struct Members {
    state: Mutex<State>,
    next_generation: AtomicU64,
}

impl Members {
    pub(crate) fn new(peers: BTreeSet<NodeId>) -> Self {
        Members {
            state: Mutex::new(State {
                peers,
                inbound: BTreeMap::new(),
            }),
            next_generation: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock and the state is valid
        // between any two operations, so a poisoned lock is still safe.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces the peer set, closing the inbound connection of every peer
    /// that left it (it may connect again, as a stranger). A stranger that
    /// becomes a peer keeps its connection; other strangers keep theirs.
    pub(crate) fn replace(&self, peers: BTreeSet<NodeId>) {
        let mut state = self.lock();
        let left: Vec<NodeId> = state
            .peers
            .iter()
            .filter(|id| !peers.contains(id) && state.inbound.contains_key(id))
            .copied()
            .collect();
        for id in left {
            if let Some((_, close)) = state.inbound.remove(&id) {
                // The reader may have ended already; then nobody listens.
                let _ = close.send(());
            }
        }
        state.peers = peers;
    }

    /// Whether a connection from `from` could register now. The handshake
    /// asks first, so that a stranger refused for the cap learns it before
    /// sending anything (the answer may change before it registers).
    pub(crate) fn has_room_for(&self, from: NodeId) -> bool {
        self.lock().has_room_for(from)
    }

    /// Records `from`'s new connection, closing the one it replaces, and
    /// returns its registration; or `None` (dropping `close`) when `from`
    /// is a stranger and [`MAX_STRANGER_CONNECTIONS`] other strangers are
    /// connected already.
    pub(crate) fn register_inbound(
        &self,
        from: NodeId,
        close: CloseSignal,
    ) -> Option<Registration> {
        let mut state = self.lock();
        if !state.has_room_for(from) {
            return None;
        }
        let stranger = !state.peers.contains(&from);
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        // Dropping the old signal unsent wakes the old reader as superseded.
        drop(state.inbound.insert(from, (generation, close)));
        Some(Registration {
            generation,
            stranger,
        })
    }

    /// Forgets `from`'s connection if it is still the live one.
    pub(crate) fn unregister_inbound(&self, from: NodeId, generation: u64) {
        let mut state = self.lock();
        if state
            .inbound
            .get(&from)
            .is_some_and(|(g, _)| *g == generation)
        {
            state.inbound.remove(&from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register(members: &Members, id: u64) -> (Option<Registration>, oneshot::Receiver<()>) {
        let (close, closed) = oneshot::channel();
        (members.register_inbound(NodeId(id), close), closed)
    }

    fn is_open(closed: &mut oneshot::Receiver<()>) -> bool {
        matches!(closed.try_recv(), Err(oneshot::error::TryRecvError::Empty))
    }

    #[test]
    fn removal_closes_the_connection_and_refuses_new_ones() {
        let members = Members::new(BTreeSet::from([NodeId(2), NodeId(3)]));
        let (first, mut first_rx) = register(&members, 2);
        assert!(first.is_some_and(|r| !r.stranger));
        let (second, mut second_rx) = register(&members, 2);
        assert!(second.is_some());
        // Superseded: dropped unsent.
        assert!(matches!(
            first_rx.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        // A stale generation does not unregister the live connection.
        members.unregister_inbound(NodeId(2), first.expect("registered").generation);
        assert!(is_open(&mut second_rx));

        members.replace(BTreeSet::from([NodeId(3)]));
        // Removed: told so.
        assert_eq!(second_rx.try_recv(), Ok(()));
        // It may connect again, but only as a stranger: the core decides
        // whether its messages count, and the strangers' cap bounds it.
        let (late, _late_rx) = register(&members, 2);
        assert!(late.is_some_and(|r| r.stranger));
    }

    #[test]
    fn strangers_are_capped_and_a_peer_never_is() {
        let members = Members::new(BTreeSet::from([NodeId(2)]));
        let cap = MAX_STRANGER_CONNECTIONS as u64;
        let mut open = Vec::new();
        for id in 10..10 + cap {
            let (registration, closed) = register(&members, id);
            assert!(registration.is_some_and(|r| r.stranger), "stranger {id}");
            open.push((id, registration.expect("registered"), closed));
        }
        // One more stranger is refused; its signal is dropped unsent.
        assert!(!members.has_room_for(NodeId(99)));
        assert!(members.has_room_for(NodeId(2)) && members.has_room_for(NodeId(10)));
        let (refused, mut refused_rx) = register(&members, 99);
        assert_eq!(refused, None);
        assert!(matches!(
            refused_rx.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        // A peer still gets in, and a stranger may replace its own
        // connection without a new slot.
        assert!(register(&members, 2).0.is_some_and(|r| !r.stranger));
        let (again, _again_rx) = register(&members, 10);
        assert!(again.is_some_and(|r| r.stranger));
        assert!(!is_open(&mut open[0].2), "superseded");
        // A stranger that leaves frees its slot.
        let (id, registration, _) = &open[1];
        members.unregister_inbound(NodeId(*id), registration.generation);
        assert!(register(&members, 99).0.is_some());
        assert_eq!(register(&members, 98).0, None);
    }

    #[test]
    fn a_stranger_that_becomes_a_peer_keeps_its_connection_and_frees_its_slot() {
        let members = Members::new(BTreeSet::new());
        let cap = MAX_STRANGER_CONNECTIONS as u64;
        let mut open: Vec<_> = (1..=cap).map(|id| register(&members, id)).collect();
        assert_eq!(register(&members, 50).0, None, "full");

        // Node 1 is admitted (the core adopted a membership naming it): its
        // connection stays, and no longer counts as a stranger's.
        members.replace(BTreeSet::from([NodeId(1)]));
        assert!(open.iter_mut().all(|(_, closed)| is_open(closed)));
        assert!(register(&members, 50).0.is_some_and(|r| r.stranger));
        assert_eq!(register(&members, 51).0, None, "full again");

        // Leaving the peer set closes its connection, as for any peer.
        members.replace(BTreeSet::new());
        assert_eq!(open[0].1.try_recv(), Ok(()));
        assert!(open[1..].iter_mut().all(|(_, closed)| is_open(closed)));
        // It may come back only within the strangers' cap, full now.
        assert_eq!(register(&members, 1).0, None);
    }
}
