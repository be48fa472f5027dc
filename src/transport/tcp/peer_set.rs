//! The peer set: who this node dials, and what happens to a peer that
//! leaves it (its queued messages get the flush timeout to go).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::task::AbortHandle;
use tracing::info;

use super::addr::PeerAddr;
use super::queue::PeerQueue;
use super::stats::add;
use super::{Peer, Phase, TcpTransport, log_panic};
use crate::core::NodeId;

impl TcpTransport {
    /// Ends a removed peer's writer once [`TcpConfig::flush_timeout`] has
    /// passed, and counts what it could not send then in
    /// [`TransportStats::dropped_peer_removed`].
    fn abort_after_flush_timeout(&self, writer: Option<AbortHandle>, queue: Arc<PeerQueue>) {
        let counters = Arc::clone(&self.shared);
        let drop_now = move || {
            if let Some(writer) = &writer {
                writer.abort();
            }
            add(
                &counters.counters.dropped_peer_removed,
                queue.clear() as u64,
            );
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) if self.phase == Phase::Started => {
                let timeout = self.shared.config.flush_timeout;
                runtime.spawn(async move {
                    tokio::time::sleep(timeout).await;
                    drop_now();
                });
            }
            // Not started (no writer) or no runtime to wait in: now.
            _ => drop_now(),
        }
    }

    pub(super) fn replace_peers(&mut self, mut wanted: BTreeMap<NodeId, PeerAddr>) {
        wanted.remove(&self.shared.config.id);
        // Inbound first: a new peer's hello may arrive as soon as it learns
        // about this node, and a removed one's connections close now.
        self.shared
            .members
            .replace(wanted.keys().copied().collect::<BTreeSet<_>>());

        let removed: Vec<NodeId> = self
            .peers
            .keys()
            .filter(|id| !wanted.contains_key(id))
            .copied()
            .collect();
        for id in removed {
            let Some(peer) = self.peers.remove(&id) else {
                continue;
            };
            // What is queued (a removed node's last heartbeat, carrying the
            // membership that removes it) gets the flush timeout to leave.
            self.shared.heard.forget(id);
            let queued = peer.queue.len();
            peer.queue.retire();
            self.abort_after_flush_timeout(peer.writer, Arc::clone(&peer.queue));
            info!(peer = %id, addr = %peer.addr, queued, "peer removed");
        }

        let mut to_dial = Vec::new();
        for (id, addr) in wanted {
            match self.peers.get_mut(&id) {
                Some(peer) if peer.addr == addr => {}
                Some(peer) => {
                    info!(peer = %id, from = %peer.addr, to = %addr, "peer address changed");
                    if let Some(writer) = peer.writer.take() {
                        writer.abort();
                    }
                    peer.addr = addr;
                    to_dial.push(id);
                }
                None => {
                    info!(peer = %id, %addr, "peer added");
                    let queue = Arc::new(PeerQueue::new(self.shared.config.queue_capacity));
                    self.peers.insert(
                        id,
                        Peer {
                            addr,
                            queue,
                            writer: None,
                        },
                    );
                    to_dial.push(id);
                }
            }
        }
        if self.phase == Phase::Started {
            for id in to_dial {
                self.spawn_writer(id);
            }
        }
        // Aborted writers linger in the set until joined; reap them so that
        // a long run of membership changes does not grow it.
        while let Some(joined) = self.tasks.try_join_next() {
            log_panic(joined);
        }
    }
}
