//! Who takes part in elections.
//!
//! Membership is static for now (given in [`Config`](crate::core::Config));
//! every question about it goes through this type so that making it change at
//! run time touches one place.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::types::NodeId;

/// The set of voting members of a cluster.
///
/// A `BTreeSet` keeps iteration order fixed, so the order of the messages a
/// node sends never depends on hashing (DESIGN §3, determinism).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    voters: BTreeSet<NodeId>,
}

impl Membership {
    /// A membership made of these voters.
    pub fn new(voters: impl IntoIterator<Item = NodeId>) -> Self {
        Membership {
            voters: voters.into_iter().collect(),
        }
    }

    /// Whether `id` is a voting member.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id)
    }

    /// Whether `id` may send messages to this cluster at all.
    pub fn contains(&self, id: NodeId) -> bool {
        self.is_voter(id)
    }

    /// The voters, in ascending id order.
    pub fn voters(&self) -> impl ExactSizeIterator<Item = NodeId> + '_ {
        self.voters.iter().copied()
    }

    /// Number of voters.
    pub fn len(&self) -> usize {
        self.voters.len()
    }

    /// Whether there are no voters at all (never true for a valid config).
    pub fn is_empty(&self) -> bool {
        self.voters.is_empty()
    }

    /// How many votes (or acknowledgements) make a majority.
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }
}
