//! Planted bugs: how the simulator's tests show that each invariant checker
//! can fail. Everything about them but the branches in protocol code lives
//! here; outside the private feature `__planted-bugs` no bug can be planted and every check is
//! `false`.

use super::super::types::HardState;
use super::Election;

/// Deliberate protocol bugs, for proving that the simulator's invariant
/// checkers can fail. Never use outside tests. (The type exists in every
/// build so that the checks compile to nothing outside that feature.)
#[doc(hidden)]
#[cfg_attr(not(feature = "__planted-bugs"), allow(dead_code))]
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
    /// Not a safety bug: turns the split-vote tie-break off (a pre-candidate
    /// never yields to a lower-id rival), so that the `split_votes` bench can
    /// show the timings with and without it side by side.
    NoPreVoteTieBreak,
    /// Not a safety bug: turns the split-vote retry off (a candidate of a
    /// split round always waits for its whole timeout), for the same
    /// comparison.
    NoSplitVoteRetry,
    /// Not a safety bug: both of the above at once, the core before either
    /// split-vote rule.
    NoSplitVoteRules,
}

impl Election {
    /// Plants a deliberate bug (see [`Mutation`]).
    #[cfg(feature = "__planted-bugs")]
    #[doc(hidden)]
    pub fn set_mutation(&mut self, mutation: Mutation) {
        if let Mutation::LeaseTicks(ticks) = mutation {
            self.lease_ticks = ticks;
        }
        self.mutation = Some(mutation);
    }

    /// Whether the planted bug `mutation` is on (never, outside `__planted-bugs`).
    pub(super) fn mutated(&self, mutation: Mutation) -> bool {
        self.mutation_flag() == Some(mutation)
    }

    #[cfg(feature = "__planted-bugs")]
    fn mutation_flag(&self) -> Option<Mutation> {
        self.mutation
    }

    #[cfg(not(feature = "__planted-bugs"))]
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
