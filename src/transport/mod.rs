//! How messages travel between nodes.
//!
//! A transport is best effort: it may drop, delay, duplicate or reorder
//! messages, and the election stays safe. It never waits, on either side:
//! sending never blocks the driver, and a message arriving while the
//! driver's inbound queue is full is dropped and counted (see
//! [`Transport::start`]).

use std::collections::BTreeMap;

use async_trait::async_trait;
use thiserror::Error;
use tokio::sync::mpsc;

use crate::core::{Message, NodeId};

/// A message that arrived, with the sender the transport authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inbound {
    /// The sending node.
    pub from: NodeId,
    /// The message.
    pub msg: Message,
}

/// Carries [`Message`]s between the nodes of a cluster.
#[async_trait]
pub trait Transport: Send + 'static {
    /// Starts receiving: every message that arrives for this node is pushed
    /// into `inbound`. Called once, by the runtime, before any `send`.
    ///
    /// # A full inbound queue
    ///
    /// When `inbound` is full, the transport drops the arriving message and
    /// counts it; it never waits for room. A receiver that waited would hold
    /// every later message from that peer, heartbeats included, behind a
    /// slow driver, while for election traffic only the newest message
    /// matters and the protocol tolerates loss. A connection (where there is
    /// one) stays up through the drops, and messages are delivered again as
    /// soon as the driver makes room. Once `inbound` is closed (the runtime
    /// stopped), the transport stops delivering.
    async fn start(&mut self, inbound: mpsc::Sender<Inbound>) -> Result<(), TransportError>;

    /// Queues `msg` for `to`, best effort. Must return at once: when a queue
    /// is full the transport drops (and counts) a message instead of waiting.
    fn send(&mut self, to: NodeId, msg: Message);

    /// Stops the transport, giving queued messages a brief chance to leave
    /// (a handing-over Goose's `TimeoutNow` among them).
    async fn shutdown(&mut self);

    /// Whether this transport reaches its peers at addresses it is given
    /// ([`set_peers`](Self::set_peers)), as TCP does, rather than by id
    /// alone, as an in-process transport does. The default says no.
    ///
    /// For a transport that does, the membership is where the addresses
    /// come from, so the runtime requires every member's: it refuses to
    /// start a node whose membership lacks one
    /// ([`NodeConfigError::MissingAddresses`](crate::runtime::NodeConfigError::MissingAddresses))
    /// and refuses to add a node while one is missing
    /// ([`HandleError::MissingAddresses`](crate::runtime::HandleError::MissingAddresses)),
    /// instead of running a node that cannot reach some members.
    fn needs_peer_addresses(&self) -> bool {
        false
    }

    /// Replaces the set of peers and their addresses. The set is the nodes
    /// the election admits
    /// ([`Election::admitted_peers`](crate::core::Election::admitted_peers):
    /// the members of the membership in force, and departing peers still
    /// owed answers); the runtime hands it over before
    /// [`start`](Self::start) and again whenever it changes, when the
    /// membership knows every member's address (which it always does for a
    /// transport that [needs them](Self::needs_peer_addresses), except for a
    /// membership that arrives from a peer without them).
    ///
    /// Each address is `"HOST:PORT"` as users write it: an IP address or a
    /// DNS name (`"10.0.0.7:7000"`, `"[::1]:7000"`, `"db-3.internal:7000"`).
    /// `peers` may hold this node's own id (one map can describe the whole
    /// cluster); that entry is ignored. Peers missing from `peers` are no
    /// longer reachable: what the transport holds for them (queued
    /// messages, connections) may go.
    ///
    /// The election decides who may talk to this node, not the transport.
    /// A transport authenticates senders and bounds what they cost, but
    /// does not refuse a node of the cluster merely for being outside this
    /// set: its messages go to the runtime, and the election admits them or
    /// drops and counts them
    /// ([`DropReason::NotMember`](crate::core::DropReason::NotMember)). That
    /// is how a member that missed membership changes hears from a Goose
    /// it does not know yet. (The TCP transport lets a few such *strangers*
    /// connect at once; without a cluster key, a sender is who it claims to
    /// be.)
    ///
    /// Like [`send`](Self::send), it must return at once: a transport that
    /// resolves names does it later, in its own tasks, and reports a bad
    /// address through its own counters rather than here. The default does
    /// nothing, for transports that do not address peers (in-process ones).
    fn set_peers(&mut self, peers: &BTreeMap<NodeId, String>) {
        let _ = peers;
    }

    /// Tells the transport whether this node is outside its own membership
    /// (removed): the runtime calls it before the node's first message and
    /// whenever that changes.
    ///
    /// A removed node still has a little to say: it answers vote requests,
    /// so that the others can undo a removal that has not committed, and
    /// the heartbeats of a Goose that adds it back. It has nothing else to
    /// send, and the members no longer count it as a peer, so a transport
    /// that keeps connections open to its peers should open them only to
    /// deliver a message, and let them go once idle: otherwise a removed
    /// node left running would redial the members for ever and hold one of
    /// the few slots each keeps for nodes outside its peer set. The default
    /// does nothing, for transports without connections.
    fn set_removed(&mut self, removed: bool) {
        let _ = removed;
    }

    /// The join requests this transport receives from nodes outside the
    /// membership, if it accepts any. The runtime takes the receiver once,
    /// at start, and answers every request. The default accepts none.
    fn take_join_requests(&mut self) -> Option<mpsc::Receiver<JoinRequest>> {
        None
    }
}

/// Why a transport could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Binding or configuring a socket failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, e.g. "bind 127.0.0.1:7001".
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The TCP transport's configuration is invalid; the error says which
    /// field and why, so a caller can tell the cases apart.
    #[cfg(feature = "tcp")]
    #[error("invalid transport configuration: {0}")]
    Config(#[from] tcp::TcpConfigError),
    /// `start` was called twice.
    #[error("transport already started")]
    AlreadyStarted,
    /// The UDP transport's socket and TCP listener are on different ports;
    /// a node has one address, which both serve.
    #[cfg(feature = "udp")]
    #[error("the UDP socket ({udp}) and the TCP listener ({tcp}) must share a port")]
    PortMismatch {
        /// The TCP listener's address.
        tcp: std::net::SocketAddr,
        /// The UDP socket's address.
        udp: std::net::SocketAddr,
    },
}

mod join;
pub use join::{JoinReply, JoinRequest};
mod memory;
pub use memory::{MemoryNetwork, MemoryTransport};
#[cfg(feature = "tcp")]
#[cfg_attr(docsrs, doc(cfg(feature = "tcp")))]
pub mod tcp;
#[cfg(feature = "udp")]
#[cfg_attr(docsrs, doc(cfg(feature = "udp")))]
pub mod udp;
