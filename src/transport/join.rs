//! Joining a running cluster: how a node outside the membership asks to be
//! added.
//!
//! A transport that can reach nodes outside the membership (the TCP one, in
//! its join handshake mode) hands each request to the runtime as a
//! [`JoinRequest`], through the channel of
//! [`Transport::take_join_requests`](super::Transport::take_join_requests);
//! the runtime answers with a [`JoinReply`]. A Duck answers
//! [`JoinReply::NotGoose`], and the transport forwards the request to the
//! Goose named there (once: a forwarded request is never forwarded again)
//! and relays the Goose's answer.
//!
//! A joiner over TCP calls `transport::tcp::request_join` (feature `tcp`).

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::core::{Membership, NodeId, NodeMetadata};

/// A node outside the membership asks to be added.
#[derive(Debug)]
pub struct JoinRequest {
    /// The id the joining node will use.
    pub id: NodeId,
    /// Where the members can reach it (`"HOST:PORT"`).
    pub addr: String,
    /// What it says about itself (its application URL, ...), recorded in
    /// the membership with its address; empty if it says nothing.
    pub metadata: NodeMetadata,
    /// Where the answer goes. Answer every request, promptly: the
    /// transport waits a bounded time (TCP:
    /// `TcpConfig::join_timeout`) and then refuses the joiner itself.
    /// Dropping it unanswered tells the joiner the node could not answer (it
    /// is shutting down).
    pub reply: oneshot::Sender<JoinReply>,
}

/// The answer to a [`JoinRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinReply {
    /// Added as a (joining) learner, and the change is committed: here is a
    /// membership that holds the joiner. It is promoted to voter once it has
    /// kept up with the Goose for an election timeout.
    Accepted(Membership),
    /// This node is not the Goose. `leader` is the Goose it knows of, with
    /// its address, if known.
    NotGoose {
        /// The Goose, if known.
        leader: Option<NodeId>,
        /// The Goose's address, if known.
        leader_addr: Option<String>,
    },
    /// Refused, with the reason (an id already in use at another address or
    /// with other metadata, invalid metadata, a change already in progress,
    /// ...). Nothing changed.
    Refused(String),
}
