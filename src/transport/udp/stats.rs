//! Counters of what the UDP transport sent, accepted and refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::transport::tcp::{TcpStatsHandle, TransportStats};

/// A snapshot of the UDP transport's counters, from
/// [`UdpTransport::stats`](super::UdpTransport::stats) or a
/// [`UdpStatsHandle`], with the inner TCP transport's beside them.
///
/// Every datagram that arrives is counted once: in `datagrams_received`
/// when delivered, or in exactly one of the refusal counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UdpStats {
    /// Datagrams handed to the socket.
    pub datagrams_sent: u64,
    /// Datagrams received, verified, fresh, and handed to the runtime.
    pub datagrams_received: u64,
    /// Messages sent through the inner TCP transport instead: those
    /// carrying a membership, and those too large for one datagram
    /// (also counted in `oversized`).
    pub sent_over_tcp: u64,
    /// Datagrams refused as seen before: a counter repeated within the
    /// sender's window, or older than the window.
    pub replays: u64,
    /// Datagrams refused because they name another node as the receiver,
    /// or this node as the sender (sent back at it).
    pub reflections: u64,
    /// Datagrams refused because they come from an older boot of their
    /// sender than one already heard from.
    pub stale_epochs: u64,
    /// Datagrams whose HMAC tag did not verify (another key, tampering),
    /// or whose keyed flag differs from this node's.
    pub auth_failures: u64,
    /// Datagrams refused, on a node without a cluster key, because their
    /// source IP is not a resolved address of a current peer.
    pub foreign_address: u64,
    /// Datagrams of another cluster (their cluster tag differs).
    pub other_cluster: u64,
    /// Datagrams that are not well formed: too short or long, wrong magic,
    /// version or flags, unpadded, a message that does not decode, or one
    /// that only travels over TCP.
    pub decode_errors: u64,
    /// Messages too large for one datagram ([`MAX_DATAGRAM_LEN`](super::MAX_DATAGRAM_LEN)),
    /// sent over TCP instead.
    pub oversized: u64,
    /// Datagrams the socket refused to send at once (its buffer full, no
    /// route, ...): dropped, as a lost datagram would be.
    pub send_failures: u64,
    /// Messages dropped because their receiver has no resolved address yet
    /// (a name that does not resolve yet, or not a peer at all).
    pub unresolved: u64,
    /// Failed attempts to resolve a peer's name (retried in the
    /// background, logged once per run of failures).
    pub resolve_failures: u64,
    /// Datagrams received and verified, then dropped because the runtime's
    /// inbound queue was full.
    pub dropped_inbound_full: u64,
    /// The inner TCP transport's counters.
    pub tcp: TransportStats,
}

/// The live counters behind [`UdpStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) datagrams_sent: AtomicU64,
    pub(crate) datagrams_received: AtomicU64,
    pub(crate) sent_over_tcp: AtomicU64,
    pub(crate) replays: AtomicU64,
    pub(crate) reflections: AtomicU64,
    pub(crate) stale_epochs: AtomicU64,
    pub(crate) auth_failures: AtomicU64,
    pub(crate) foreign_address: AtomicU64,
    pub(crate) other_cluster: AtomicU64,
    pub(crate) decode_errors: AtomicU64,
    pub(crate) oversized: AtomicU64,
    pub(crate) send_failures: AtomicU64,
    pub(crate) unresolved: AtomicU64,
    pub(crate) resolve_failures: AtomicU64,
    pub(crate) dropped_inbound_full: AtomicU64,
}

/// Adds one to a counter. Relaxed: statistics synchronise nothing.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    fn snapshot(&self, tcp: TransportStats) -> UdpStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        UdpStats {
            datagrams_sent: get(&self.datagrams_sent),
            datagrams_received: get(&self.datagrams_received),
            sent_over_tcp: get(&self.sent_over_tcp),
            replays: get(&self.replays),
            reflections: get(&self.reflections),
            stale_epochs: get(&self.stale_epochs),
            auth_failures: get(&self.auth_failures),
            foreign_address: get(&self.foreign_address),
            other_cluster: get(&self.other_cluster),
            decode_errors: get(&self.decode_errors),
            oversized: get(&self.oversized),
            send_failures: get(&self.send_failures),
            unresolved: get(&self.unresolved),
            resolve_failures: get(&self.resolve_failures),
            dropped_inbound_full: get(&self.dropped_inbound_full),
            tcp,
        }
    }
}

/// A cheap, clonable handle on a UDP transport's counters (and its TCP
/// half's) that stays valid after the transport has moved into the runtime.
#[derive(Clone, Debug)]
pub struct UdpStatsHandle {
    pub(crate) counters: Arc<Counters>,
    pub(crate) tcp: TcpStatsHandle,
}

impl UdpStatsHandle {
    /// The counters now.
    pub fn snapshot(&self) -> UdpStats {
        self.counters.snapshot(self.tcp.snapshot())
    }

    /// A handle on the inner TCP transport's counters alone.
    pub fn tcp(&self) -> TcpStatsHandle {
        self.tcp.clone()
    }
}
