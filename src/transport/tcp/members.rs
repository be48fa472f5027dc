//! Which nodes may connect in, and the live inbound connection of each.
//!
//! Both sit under one lock so that a peer removed while one of its
//! handshakes is under way cannot slip in after the removal: the handshake
//! checks membership, and registering the connection checks it again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::oneshot;

use crate::core::NodeId;

/// Tells an inbound connection's reader to stop: a value sent means its
/// peer was removed; the sender dropped unsent means a newer connection
/// from the same peer replaced it.
pub(crate) type CloseSignal = oneshot::Sender<()>;

#[derive(Debug, Default)]
struct State {
    /// The peers now (never this node itself).
    peers: BTreeSet<NodeId>,
    /// The live inbound connection of each peer, with its generation. A
    /// newer one closes the older, so a peer that reconnects after a silent
    /// failure does not leave a stale reader behind.
    inbound: BTreeMap<NodeId, (u64, CloseSignal)>,
}

/// The membership as the inbound side sees it.
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

    /// Whether `id` is a peer now.
    pub(crate) fn contains(&self, id: NodeId) -> bool {
        self.lock().peers.contains(&id)
    }

    /// Replaces the peer set, closing the inbound connection of every peer
    /// that left it.
    pub(crate) fn replace(&self, peers: BTreeSet<NodeId>) {
        let mut state = self.lock();
        let removed: Vec<NodeId> = state
            .inbound
            .keys()
            .filter(|id| !peers.contains(id))
            .copied()
            .collect();
        for id in removed {
            if let Some((_, close)) = state.inbound.remove(&id) {
                // The reader may have ended already; then nobody listens.
                let _ = close.send(());
            }
        }
        state.peers = peers;
    }

    /// Records `from`'s new connection, closing the one it replaces; returns
    /// its generation for [`unregister_inbound`](Self::unregister_inbound),
    /// or `None` (and drops `close`) when `from` is no longer a peer.
    pub(crate) fn register_inbound(&self, from: NodeId, close: CloseSignal) -> Option<u64> {
        let mut state = self.lock();
        if !state.peers.contains(&from) {
            return None;
        }
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        // Dropping the old signal unsent wakes the old reader as superseded.
        drop(state.inbound.insert(from, (generation, close)));
        Some(generation)
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

    #[test]
    fn removal_closes_the_connection_and_refuses_new_ones() {
        let members = Members::new(BTreeSet::from([NodeId(2), NodeId(3)]));
        let (first_tx, mut first_rx) = oneshot::channel();
        let (second_tx, mut second_rx) = oneshot::channel();
        let first = members.register_inbound(NodeId(2), first_tx);
        assert!(first.is_some());
        let second = members.register_inbound(NodeId(2), second_tx);
        assert!(second.is_some());
        // Superseded: dropped unsent.
        assert!(matches!(
            first_rx.try_recv(),
            Err(oneshot::error::TryRecvError::Closed)
        ));
        // A stale generation does not unregister the live connection.
        members.unregister_inbound(NodeId(2), first.expect("registered"));
        assert!(matches!(
            second_rx.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        ));

        members.replace(BTreeSet::from([NodeId(3)]));
        assert!(!members.contains(NodeId(2)));
        assert!(members.contains(NodeId(3)));
        // Removed: told so.
        assert_eq!(second_rx.try_recv(), Ok(()));
        let (late_tx, _late_rx) = oneshot::channel();
        assert_eq!(members.register_inbound(NodeId(2), late_tx), None);
    }
}
