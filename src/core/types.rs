//! Small value types shared by every layer: node ids, terms, roles and the
//! durable hard state.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The identity of a node in the cluster.
///
/// Ids are chosen by the operator and must be unique within a cluster. Every
/// value is a valid id; "no node" is always spelled `Option<NodeId>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u64);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u64> for NodeId {
    fn from(id: u64) -> Self {
        NodeId(id)
    }
}

/// An election term. Terms only grow; at most one Goose is elected per term.
///
/// The term of a Goose is its **fencing token**: pass it to the resources the
/// Goose guards so that they can reject a stale Goose (one paused past its
/// lease, say): terms only grow.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Term(pub u64);

impl Term {
    /// The term after this one.
    ///
    /// Saturates at `u64::MAX`; reaching it would take billions of elections
    /// per second for centuries, so saturation is a formality, not a path.
    #[must_use]
    pub fn next(self) -> Term {
        Term(self.0.saturating_add(1))
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a node is, as its users see it.
///
/// A node is the `Goose` only while it holds a lease acknowledged by a
/// majority; candidates, pre-candidates and a freshly elected node still
/// waiting for its first acknowledgements are all `Duck`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// The leader: exactly one node of a healthy cluster.
    Goose,
    /// Every other node.
    Duck,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Goose => "Goose",
            Role::Duck => "Duck",
        })
    }
}

/// The state a node must keep on stable storage: the current term and the
/// vote cast in it.
///
/// The host makes every [`Output::Persist`](crate::core::Output::Persist)
/// durable before it polls the next output; that ordering is what makes a
/// node unable to vote twice in one term across a crash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HardState {
    /// The latest term this node has seen.
    pub term: Term,
    /// The candidate this node voted for in `term`, if any.
    pub voted_for: Option<NodeId>,
}
