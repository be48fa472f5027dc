//! Vote tallies and the quorum arithmetic behind leases.

use std::collections::BTreeSet;

use super::types::NodeId;

/// The answers gathered in one (pre-)election round.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    granted: BTreeSet<NodeId>,
    refused: BTreeSet<NodeId>,
}

/// Where a round stands after an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TallyResult {
    Won,
    Lost,
    Pending,
}

impl Tally {
    /// A round in which `me` has voted for itself.
    pub(crate) fn with_self(me: NodeId) -> Self {
        let mut tally = Tally::default();
        tally.granted.insert(me);
        tally
    }

    /// Records `from`'s answer. A voter's first answer counts; a duplicate or
    /// contradicting one is ignored, so replays cannot change the outcome.
    pub(crate) fn record(&mut self, from: NodeId, granted: bool) {
        if self.granted.contains(&from) || self.refused.contains(&from) {
            return;
        }
        if granted {
            self.granted.insert(from);
        } else {
            self.refused.insert(from);
        }
    }

    /// The outcome given the size of a majority and the number of voters.
    pub(crate) fn result(&self, quorum: usize, voters: usize) -> TallyResult {
        if self.granted.len() >= quorum {
            TallyResult::Won
        } else if voters.saturating_sub(self.refused.len()) < quorum {
            TallyResult::Lost
        } else {
            TallyResult::Pending
        }
    }
}

/// The newest tick that at least `quorum` of `ticks` have reached: the
/// `quorum`-th largest value. `None` when fewer than `quorum` values exist.
///
/// Sorts `ticks` in place; callers pass a reused scratch buffer so the
/// steady state does not allocate.
pub(crate) fn quorum_tick(ticks: &mut [u64], quorum: usize) -> Option<u64> {
    if quorum == 0 || ticks.len() < quorum {
        return None;
    }
    ticks.sort_unstable_by(|a, b| b.cmp(a));
    Some(ticks[quorum - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_tick_is_the_quorum_th_largest() {
        assert_eq!(quorum_tick(&mut [5, 9, 7], 2), Some(7));
        assert_eq!(quorum_tick(&mut [5], 2), None);
        assert_eq!(quorum_tick(&mut [3, 1, 4, 1, 5], 3), Some(3));
    }

    #[test]
    fn tally_ignores_duplicate_answers() {
        let mut tally = Tally::with_self(NodeId(1));
        tally.record(NodeId(2), false);
        tally.record(NodeId(2), true);
        assert_eq!(tally.result(2, 3), TallyResult::Pending);
        tally.record(NodeId(3), false);
        assert_eq!(tally.result(2, 3), TallyResult::Lost);
    }
}
