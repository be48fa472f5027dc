//! Election safety (invariants 1 and 2 of the `sim` module docs): one
//! leader per term, and never two Geese at the same virtual instant.

use std::collections::BTreeMap;

use super::Violation;
use super::invariant::{Invariant, NodeView};
use crate::core::{NodeId, Term};

/// Remembers the leader of every term, and the Goose seen so far in the
/// current sweep.
#[derive(Debug, Default)]
pub(crate) struct ElectionSafety {
    /// The leader of every term that has one.
    leaders: BTreeMap<Term, NodeId>,
    /// The first Goose of the current sweep, and its term.
    goose: Option<(NodeId, Term)>,
}

impl ElectionSafety {
    /// Invariant 1: `node` says it leads `term`.
    pub(crate) fn on_leader(
        &mut self,
        at_us: u64,
        node: NodeId,
        term: Term,
    ) -> Result<(), Violation> {
        let first = *self.leaders.entry(term).or_insert(node);
        if first != node {
            return Err(Violation::TwoLeadersInTerm {
                at_us,
                term,
                first,
                second: node,
            });
        }
        Ok(())
    }

    /// How many terms had a leader.
    pub(crate) fn terms_with_leader(&self) -> u64 {
        self.leaders.len() as u64
    }
}

impl Invariant for ElectionSafety {
    fn name(&self) -> &str {
        "election_safety"
    }

    #[inline]
    fn on_sweep(&mut self, _at_us: u64) {
        self.goose = None;
    }

    /// Invariant 1, from what a live node reports: the leader it believes in.
    #[inline]
    fn on_status(&mut self, at_us: u64, status: &NodeView<'_>) -> Result<(), Violation> {
        if status.leader == Some(status.id) {
            self.on_leader(at_us, status.id, status.term)?;
        }
        Ok(())
    }

    /// Invariant 2: a second Goose in one sweep is a second Goose at the same
    /// instant.
    #[inline]
    fn on_goose(&mut self, at_us: u64, status: &NodeView<'_>) -> Result<(), Violation> {
        if let Some((first, first_term)) = self.goose {
            return Err(Violation::TwoGeese {
                at_us,
                first,
                first_term,
                second: status.id,
                second_term: status.term,
            });
        }
        self.goose = Some((status.id, status.term));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_leader_in_a_term_is_caught() {
        let mut checker = ElectionSafety::default();
        assert!(checker.on_leader(1, NodeId(1), Term(2)).is_ok());
        assert!(checker.on_leader(2, NodeId(1), Term(2)).is_ok());
        assert!(matches!(
            checker.on_leader(3, NodeId(2), Term(2)),
            Err(Violation::TwoLeadersInTerm { .. })
        ));
    }

    #[test]
    fn a_second_goose_in_one_sweep_is_caught() {
        let membership = crate::core::Membership::new([NodeId(1), NodeId(2)]);
        let goose = |id, term| NodeView {
            id: NodeId(id),
            role: crate::core::Role::Goose,
            term: Term(term),
            leader: Some(NodeId(id)),
            membership: &membership,
            membership_pending: Some(false),
            is_goose: true,
            paused: false,
        };
        let mut checker = ElectionSafety::default();
        checker.on_sweep(1);
        assert_eq!(checker.on_goose(1, &goose(1, 2)), Ok(()));
        // The next sweep is another instant: a new Goose there is fine.
        checker.on_sweep(2);
        assert_eq!(checker.on_goose(2, &goose(2, 3)), Ok(()));
        assert_eq!(
            checker.on_goose(2, &goose(1, 2)),
            Err(Violation::TwoGeese {
                at_us: 2,
                first: NodeId(2),
                first_term: Term(3),
                second: NodeId(1),
                second_term: Term(2),
            })
        );
    }
}
