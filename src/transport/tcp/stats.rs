//! Counters of what the transport did and refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the transport's counters, from
/// [`TcpTransport::stats`](super::TcpTransport::stats) or a
/// [`TcpStatsHandle`].
///
/// The cause counters (`decode_errors`, `oversized_frames`) count every
/// occurrence, in a handshake or after it. `handshake_failures`
/// counts handshakes that failed for any reason but the key;
/// `auth_failures` counts the key's refusals (a bad or missing tag on a
/// hello, an ack or a frame, or a keyed node meeting an unkeyed one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportStats {
    /// Message frames written to a peer's socket.
    pub frames_sent: u64,
    /// Message frames received, verified and handed to the runtime.
    pub frames_received: u64,
    /// Messages dropped because a peer's queue was full.
    pub dropped_queue_full: u64,
    /// Messages lost because writing them to a socket failed, or, on a
    /// removed node, because their peer could not be reached at the first
    /// attempt (see [`Transport::set_removed`](crate::transport::Transport::set_removed)).
    pub dropped_write_failed: u64,
    /// Messages dropped at sending because their frame would exceed the
    /// 64 KiB frame limit: a heartbeat carrying a membership too large for
    /// one frame (some 1,400 members with 40-byte addresses fit). The
    /// connection stays up and the other messages go.
    pub dropped_oversized: u64,
    /// Messages still queued for a peer when it left the membership, and
    /// dropped with its queue.
    pub dropped_peer_removed: u64,
    /// Messages received and verified, then dropped because the runtime's
    /// inbound queue was full (its driver is behind). The connection stays
    /// up and later messages are delivered once there is room; a reader
    /// never waits, so one slow driver cannot hold a peer's later
    /// heartbeats back.
    pub dropped_inbound_full: u64,
    /// Handshakes, frames or acks refused by the cluster key.
    pub auth_failures: u64,
    /// Handshakes that failed for another reason (wrong magic, version or
    /// cluster, a hello addressed to another node or from this node's own
    /// id, timeout, closed early, ...), on either side.
    pub handshake_failures: u64,
    /// Frames whose body did not decode.
    pub decode_errors: u64,
    /// Frames whose length prefix exceeded the maximum.
    pub oversized_frames: u64,
    /// Messages sent to ids that are not peers (never were, or were
    /// removed). Hellos from them are not refused: see
    /// `stranger_connections`.
    pub unknown_peer: u64,
    /// Dials that found no address for a peer's `HOST:PORT`: unparseable,
    /// unknown to the resolver, or the resolver timed out. Each failed
    /// attempt counts; the dial is retried with backoff.
    pub resolve_failures: u64,
    /// Inbound message connections that completed the handshake, from
    /// peers and strangers alike (join connections are counted in the
    /// `join_` counters).
    pub connections_accepted: u64,
    /// Of `connections_accepted`, those from authenticated nodes outside the
    /// peer set ("strangers"), whose messages the core admits or drops; see
    /// [`MAX_STRANGER_CONNECTIONS`](super::MAX_STRANGER_CONNECTIONS).
    pub stranger_connections: u64,
    /// Connections from strangers refused (in their handshake, or as they
    /// registered) because
    /// [`MAX_STRANGER_CONNECTIONS`](super::MAX_STRANGER_CONNECTIONS) were
    /// open already. Counted here alone, not in `handshake_failures`.
    pub strangers_refused: u64,
    /// Inbound connections closed at once because too many were open.
    pub connections_rejected: u64,
    /// Attempts to open a connection to a peer for messages, successful or
    /// not (a name that did not resolve counts too). A member dials each
    /// peer once and again, with backoff, whenever the connection is lost;
    /// a removed node only when it has something to send.
    pub dials: u64,
    /// Outbound connections established again after a peer's first one.
    pub reconnects: u64,
    /// Transport tasks (acceptor, per-peer writers, per-connection readers)
    /// running now; zero once `shutdown` has returned.
    pub tasks_running: u64,
    /// Join requests received: well-formed, authenticated (keyed
    /// clusters), on a join connection. Each is answered as one of
    /// `join_accepted`, `join_refused` or `join_not_goose`, unless the
    /// joiner hangs up first.
    pub join_requests: u64,
    /// Join requests answered "accepted", by this node's runtime or, for
    /// a forwarded one, by the Goose's.
    pub join_accepted: u64,
    /// Join requests refused, by the runtime (an id in use, a change in
    /// progress, ...) or by the transport: too many at once or too fast
    /// (busy), nobody takes join requests, no answer within
    /// [`TcpConfig::join_timeout`](super::TcpConfig::join_timeout).
    pub join_refused: u64,
    /// Join requests answered "not the Goose" without an answer from
    /// the Goose: none known, the request was already forwarded once, or
    /// the forward failed.
    pub join_not_goose: u64,
    /// Join requests this node forwarded to the Goose (its runtime
    /// named the Goose's address); the Goose's answer is relayed.
    pub join_forwarded: u64,
    /// Forwards that got no answer from the Goose (unreachable,
    /// refused handshake, timeout); the joiner is told "not the Goose",
    /// with the Goose's address.
    pub join_forward_failures: u64,
    /// Join connections closed for breaking the join protocol: anything
    /// but exactly one well-formed join request (a message frame, a second
    /// frame, an undecodable or unauthenticated one, an id other than the
    /// hello's, nothing before the handshake timeout). The cause counters
    /// (`decode_errors`, `auth_failures`, ...) count them too.
    pub join_violations: u64,
}

/// The live counters behind [`TransportStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) frames_sent: AtomicU64,
    pub(crate) frames_received: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_write_failed: AtomicU64,
    pub(crate) dropped_oversized: AtomicU64,
    pub(crate) dropped_peer_removed: AtomicU64,
    pub(crate) dropped_inbound_full: AtomicU64,
    pub(crate) auth_failures: AtomicU64,
    pub(crate) handshake_failures: AtomicU64,
    pub(crate) decode_errors: AtomicU64,
    pub(crate) oversized_frames: AtomicU64,
    pub(crate) unknown_peer: AtomicU64,
    pub(crate) resolve_failures: AtomicU64,
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) stranger_connections: AtomicU64,
    pub(crate) strangers_refused: AtomicU64,
    pub(crate) connections_rejected: AtomicU64,
    pub(crate) dials: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) tasks_running: AtomicU64,
    pub(crate) join_requests: AtomicU64,
    pub(crate) join_accepted: AtomicU64,
    pub(crate) join_refused: AtomicU64,
    pub(crate) join_not_goose: AtomicU64,
    pub(crate) join_forwarded: AtomicU64,
    pub(crate) join_forward_failures: AtomicU64,
    pub(crate) join_violations: AtomicU64,
}

/// Adds `n` to a counter. Relaxed ordering: the counters are statistics,
/// nothing is synchronised through them.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    add(counter, 1);
}

impl Counters {
    fn snapshot(&self) -> TransportStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TransportStats {
            frames_sent: get(&self.frames_sent),
            frames_received: get(&self.frames_received),
            dropped_queue_full: get(&self.dropped_queue_full),
            dropped_write_failed: get(&self.dropped_write_failed),
            dropped_oversized: get(&self.dropped_oversized),
            dropped_peer_removed: get(&self.dropped_peer_removed),
            dropped_inbound_full: get(&self.dropped_inbound_full),
            auth_failures: get(&self.auth_failures),
            handshake_failures: get(&self.handshake_failures),
            decode_errors: get(&self.decode_errors),
            oversized_frames: get(&self.oversized_frames),
            unknown_peer: get(&self.unknown_peer),
            resolve_failures: get(&self.resolve_failures),
            connections_accepted: get(&self.connections_accepted),
            stranger_connections: get(&self.stranger_connections),
            strangers_refused: get(&self.strangers_refused),
            connections_rejected: get(&self.connections_rejected),
            dials: get(&self.dials),
            reconnects: get(&self.reconnects),
            tasks_running: get(&self.tasks_running),
            join_requests: get(&self.join_requests),
            join_accepted: get(&self.join_accepted),
            join_refused: get(&self.join_refused),
            join_not_goose: get(&self.join_not_goose),
            join_forwarded: get(&self.join_forwarded),
            join_forward_failures: get(&self.join_forward_failures),
            join_violations: get(&self.join_violations),
        }
    }
}

/// A cheap, clonable handle on a transport's counters that stays valid after
/// the transport has been moved into the runtime (or dropped).
#[derive(Clone, Debug, Default)]
pub struct TcpStatsHandle {
    pub(crate) counters: Arc<Counters>,
}

impl TcpStatsHandle {
    /// The counters now.
    pub fn snapshot(&self) -> TransportStats {
        self.counters.snapshot()
    }
}

/// Counts a task as running from its creation until its future is dropped
/// (finished or aborted).
#[derive(Debug)]
pub(crate) struct TaskGuard {
    counters: Arc<Counters>,
}

impl TaskGuard {
    pub(crate) fn new(counters: &Arc<Counters>) -> Self {
        bump(&counters.tasks_running);
        TaskGuard {
            counters: Arc::clone(counters),
        }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.counters.tasks_running.fetch_sub(1, Ordering::Relaxed);
    }
}
