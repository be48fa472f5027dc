//! A peer that connects in is up: its writer, backing off after failed
//! dials (a restarted container or pod, whose address was gone meanwhile),
//! dials again at once instead of at the end of its backoff, and gives up
//! a dial still hanging on the old address.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::core::NodeId;

/// One wake-up per peer, shared by the acceptor (which rings it) and the
/// peer's writer (which waits on it).
#[derive(Debug, Default)]
pub(crate) struct HeardFrom {
    signals: Mutex<BTreeMap<NodeId, Arc<Notify>>>,
}

impl HeardFrom {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<NodeId, Arc<Notify>>> {
        // Nothing panics while holding it; the map is valid at any time.
        self.signals.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The signal `peer`'s writer waits on.
    pub(crate) fn signal(&self, peer: NodeId) -> Arc<Notify> {
        Arc::clone(self.lock().entry(peer).or_default())
    }

    /// `peer` connected in: wake its writer if it is dialling or backing
    /// off. A writer that is connected is not woken, nor is a wake-up kept
    /// for later: that would cut short a good dial after its next break.
    pub(crate) fn heard(&self, peer: NodeId) {
        if let Some(signal) = self.lock().get(&peer) {
            signal.notify_waiters();
        }
    }

    /// `peer` left the peer set.
    pub(crate) fn forget(&self, peer: NodeId) {
        self.lock().remove(&peer);
    }
}
