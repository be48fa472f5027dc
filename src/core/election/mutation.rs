//! Planted bugs: how the simulator's tests show that each invariant checker
//! can fail. Everything about them but the branches in protocol code lives
//! here; outside feature `sim` no bug can be planted and every check is
//! `false`.

use super::super::types::HardState;
use super::Election;

/// Deliberate protocol bugs, for proving that the simulator's invariant
/// checkers can fail. Never use outside tests. (The type exists in every
/// build so that the checks compile to nothing outside feature `sim`.)
#[doc(hidden)]
#[cfg_attr(not(feature = "sim"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Persist outputs never carry the vote, so a restart forgets it.
    SkipVotePersist,
    /// Grant votes and pre-votes even while in contact with a live Goose.
    IgnoreStickiness,
    /// Run with this lease, skipping the drift-bound check.
    LeaseTicks(u64),
    /// Grant votes and pre-votes whatever membership the candidate holds.
    SkipMembershipVoteCheck,
    /// While a change is pending, count the lease over the new voters only.
    LeaseOverNewVotersOnly,
    /// A new Goose neither re-issues its membership nor waits for a
    /// majority-acknowledged round before its first change.
    NoReissue,
    /// Count commit holders among the voters before the change.
    CommitOnOldVoters,
    /// A node that adopts a membership without itself keeps campaigning.
    RemovedStillCampaigns,
    /// A Goose whose removal commits keeps leading.
    NoStepDownOnRemoval,
}

impl Election {
    /// Plants a deliberate bug (see [`Mutation`]).
    #[cfg(feature = "sim")]
    #[doc(hidden)]
    pub fn set_mutation(&mut self, mutation: Mutation) {
        if let Mutation::LeaseTicks(ticks) = mutation {
            self.lease_ticks = ticks;
        }
        self.mutation = Some(mutation);
    }

    /// Whether the planted bug `mutation` is on (never, outside `sim`).
    pub(super) fn mutated(&self, mutation: Mutation) -> bool {
        self.mutation_flag() == Some(mutation)
    }

    #[cfg(feature = "sim")]
    fn mutation_flag(&self) -> Option<Mutation> {
        self.mutation
    }

    #[cfg(not(feature = "sim"))]
    fn mutation_flag(&self) -> Option<Mutation> {
        None
    }

    /// The hard state as a `Persist` output carries it.
    #[inline]
    pub(super) fn persisted_form(&self) -> HardState {
        if self.mutated(Mutation::SkipVotePersist) {
            return HardState {
                term: self.hard.term,
                voted_for: None,
            };
        }
        self.hard
    }
}
