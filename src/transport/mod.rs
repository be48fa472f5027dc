//! How messages travel between nodes (DESIGN §4).
//!
//! A transport is best effort: it may drop, delay, duplicate or reorder
//! messages, and the election stays safe. It must never block the driver.

use async_trait::async_trait;
use thiserror::Error;
use tokio::sync::mpsc;

use crate::core::{Message, NodeId};

/// A message that arrived, with the sender the transport authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    async fn start(&mut self, inbound: mpsc::Sender<Inbound>) -> Result<(), TransportError>;

    /// Queues `msg` for `to`, best effort. Must return at once: when a queue
    /// is full the transport drops (and counts) a message instead of waiting.
    fn send(&mut self, to: NodeId, msg: Message);

    /// Stops the transport, giving queued messages a brief chance to leave
    /// (a handing-over Goose's `TimeoutNow` among them).
    async fn shutdown(&mut self);
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
    /// The transport was misconfigured.
    #[error("invalid transport configuration: {0}")]
    Config(String),
    /// `start` was called twice.
    #[error("transport already started")]
    AlreadyStarted,
}

mod memory;
pub use memory::{MemoryNetwork, MemoryTransport};
#[cfg(feature = "tcp")]
pub mod tcp;
