//! Who takes part in the cluster: voters, and learners that follow without
//! voting.
//!
//! Membership is static for now (given in [`Config`](crate::core::Config));
//! every question about it goes through this type so that making it change at
//! run time touches one place.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::types::NodeId;

/// The members of a cluster: **voters**, which elect the Goose and count
/// towards its lease, and **learners**, non-voting Ducks that receive
/// heartbeats and know the Goose but never vote, never campaign and never
/// count towards a quorum.
///
/// `BTreeSet`s keep iteration order fixed, so the order of the messages a
/// node sends never depends on hashing (DESIGN §3, determinism).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    voters: BTreeSet<NodeId>,
    learners: BTreeSet<NodeId>,
}

impl Membership {
    /// A membership made of these voters and no learners.
    pub fn new(voters: impl IntoIterator<Item = NodeId>) -> Self {
        Membership {
            voters: voters.into_iter().collect(),
            learners: BTreeSet::new(),
        }
    }

    /// The same membership with these learners added.
    #[must_use]
    pub fn with_learners(mut self, learners: impl IntoIterator<Item = NodeId>) -> Self {
        self.learners.extend(learners);
        self
    }

    /// Whether `id` is a voting member.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id)
    }

    /// Whether `id` is a learner.
    pub fn is_learner(&self, id: NodeId) -> bool {
        self.learners.contains(&id)
    }

    /// Whether `id` may send messages to this cluster at all: a voter or a
    /// learner.
    pub fn contains(&self, id: NodeId) -> bool {
        self.is_voter(id) || self.is_learner(id)
    }

    /// The voters, in ascending id order.
    pub fn voters(&self) -> impl ExactSizeIterator<Item = NodeId> + '_ {
        self.voters.iter().copied()
    }

    /// The learners, in ascending id order.
    pub fn learners(&self) -> impl ExactSizeIterator<Item = NodeId> + '_ {
        self.learners.iter().copied()
    }

    /// Every member, voters and learners, in ascending id order.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.voters.union(&self.learners).copied()
    }

    /// Number of voters.
    pub fn len(&self) -> usize {
        self.voters.len()
    }

    /// Whether there are no voters at all (never true for a valid config).
    pub fn is_empty(&self) -> bool {
        self.voters.is_empty()
    }

    /// How many votes (or acknowledgements) of voters make a majority.
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// A node that is both a voter and a learner, if any (never true for a
    /// valid config).
    pub fn voter_and_learner(&self) -> Option<NodeId> {
        self.voters.intersection(&self.learners).next().copied()
    }
}
