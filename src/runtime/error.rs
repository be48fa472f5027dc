//! The runtime's error types, one per boundary: starting a node, asking it
//! to do something, waiting on it, and what stopped it.

use thiserror::Error;

use super::config::NodeConfigError;
use crate::core::{CommandError, MembershipError, NodeId};
use crate::storage::StorageError;
use crate::transport::TransportError;

/// Why [`Node::start`](crate::runtime::Node::start) refused to start a node.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is invalid.
    #[error("invalid node configuration: {0}")]
    Config(#[from] NodeConfigError),
    /// The saved state could not be loaded. The node refuses to start rather
    /// than reset its term and vote, which could let it vote twice in a term.
    #[error("cannot load the node's saved state: {0}")]
    Storage(#[source] StorageError),
    /// The transport could not start.
    #[error("cannot start the transport: {0}")]
    Transport(#[source] TransportError),
}

/// Members whose address the membership lacks, while the transport needs
/// every member's ([`Transport::needs_peer_addresses`]): a node would never
/// reach them, nor they it.
///
/// [`Transport::needs_peer_addresses`]: crate::transport::Transport::needs_peer_addresses
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("the membership has no address for {}", describe_ids(ids))]
pub struct MissingAddresses {
    /// Every member without an address, in ascending order; never empty.
    pub ids: Vec<NodeId>,
}

/// `node 3` or `nodes 2, 3`.
fn describe_ids(ids: &[NodeId]) -> String {
    let list: Vec<String> = ids.iter().map(ToString::to_string).collect();
    match list.as_slice() {
        [one] => format!("node {one}"),
        _ => format!("nodes {}", list.join(", ")),
    }
}

/// Why a running node stopped on its own.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FatalError {
    /// Saving the term and vote failed. The node stops instead of sending
    /// messages that depend on state that may not be durable.
    #[error("saving the node's state failed: {0}")]
    Storage(#[source] StorageError),
}

/// Why a request made through a [`NodeHandle`](crate::runtime::NodeHandle)
/// failed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HandleError {
    /// The node refused the command; nothing changed.
    #[error(transparent)]
    Rejected(#[from] CommandError),
    /// The node refused the membership change; nothing changed. On a Duck
    /// this is [`MembershipError::NotGoose`], naming the Goose to ask
    /// instead, if known.
    #[error(transparent)]
    Membership(#[from] MembershipError),
    /// The node's transport dials its peers at their addresses, and some
    /// member's address is missing from the membership (one a Goose of an
    /// older version issued, or one saved by it): a node added now would not
    /// reach those members, nor they it. Nothing changed. Record the
    /// missing addresses first: adding a member again with its address
    /// records it.
    #[error("{0}; record every member's address before adding a node")]
    MissingAddresses(MissingAddresses),
    /// The node stopped being the Goose (a higher term, a lost lease, a
    /// handover) before the change it proposed was committed. The change may
    /// still commit under the next Goose, or be dropped by it: read the
    /// membership again (from the new Goose) before retrying.
    #[error("this node stopped being the Goose before the membership change was committed")]
    LeadershipLost,
    /// The node is not running (shut down, aborted, or stopped by a fatal
    /// error; see [`NodeHandle::fatal_error`](crate::runtime::NodeHandle::fatal_error)).
    #[error("the node is not running")]
    Stopped,
}

/// Why [`NodeHandle::wait_for_role`](crate::runtime::NodeHandle::wait_for_role)
/// or [`NodeHandle::leadership`](crate::runtime::NodeHandle::leadership)
/// gave up. Neither has a timeout of its own: wrap them in
/// [`tokio::time::timeout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WaitError {
    /// The node stopped before taking the role (or the lead) waited for.
    #[error("the node stopped while it was waited on")]
    Stopped,
}
