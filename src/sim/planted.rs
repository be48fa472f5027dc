//! Planted bugs (private feature `__planted-bugs`): deliberate protocol
//! and host bugs that the crate's own tests plant to show that every
//! invariant checker can fail. Not part of the API.

use crate::core::{Mutation, NodeId};

/// A deliberate bug in the simulated host, applied to every node.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostBug {
    /// The host polls past `PersistMembership` without making it durable: a
    /// restarted node comes back with an older membership than its acks
    /// claimed to hold.
    ForgetMembership,
    /// The host polls past `Persist` without making it durable: a restarted
    /// node comes back with an older term and vote than its messages showed.
    SkipPersist,
}

/// A deliberate protocol bug and the nodes that carry it; reapplied after
/// every restart.
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlantedMutation {
    /// The bug.
    pub mutation: Mutation,
    /// The nodes that carry it; `None` for every node.
    pub nodes: Option<Vec<NodeId>>,
}

impl PlantedMutation {
    /// `mutation` in every node.
    pub fn everywhere(mutation: Mutation) -> Self {
        PlantedMutation {
            mutation,
            nodes: None,
        }
    }

    pub(crate) fn applies_to(&self, id: NodeId) -> bool {
        self.nodes.as_ref().is_none_or(|nodes| nodes.contains(&id))
    }
}
