//! The sweep after every event, and who counts as the Goose.
//!
//! Two judgements of "is this node the Goose": its `role()` (what the core
//! believes), and its lease as the runtime's `is_goose` judges it (role
//! Goose and the lease's real-time deadline not passed). They agree while a
//! node's ticks keep pace with real time, because the core steps down at
//! the tick its lease runs out. A paused process falls behind: it resumes
//! still believing in a lease that ran out in real time, which the runtime
//! would refuse to report. So "never two Geese at once" counts a node by
//! its role, except a node that was paused in this life, which counts only
//! while its real-time lease holds.

use super::Simulation;
use crate::core::{NodeId, Role};
use crate::sim::checker::{Invariant, NodeView, Violation, node_id};

impl Simulation {
    /// The node that is the Goose now, judged as the runtime's `is_goose`
    /// judges: its role is Goose and its lease's real-time deadline (the
    /// instant it processed the lease's starting tick, plus the lease on its
    /// own clock) has not passed; without the check-quorum lease, its role
    /// alone. `None` when no node is, for instance while a new Goose waits
    /// for its first round of acknowledgements.
    pub fn goose(&self) -> Option<NodeId> {
        (0..self.nodes.len())
            .find(|index| self.holds_lease(*index))
            .map(node_id)
    }

    /// Every node whose `role()` is Goose now, paused or not: what the cores
    /// believe, which a paused process can still believe after its lease ran
    /// out in real time. Compare with [`goose`](Self::goose).
    pub fn geese_by_role(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter_map(|node| node.election.as_ref())
            .filter(|election| election.role() == Role::Goose)
            .map(|election| election.id())
            .collect()
    }

    /// Whether node `index` holds its lease now, as `is_goose` judges.
    pub(super) fn holds_lease(&self, index: usize) -> bool {
        let node = &self.nodes[index];
        let Some(election) = node.election.as_ref() else {
            return false;
        };
        if election.role() != Role::Goose {
            return false;
        }
        if !election.config().check_quorum {
            return true;
        }
        let Some(started_us) = election
            .lease_start_tick()
            .and_then(|tick| node.ticks.instant_of(tick))
        else {
            return false;
        };
        let lease_us = election.lease_ticks().saturating_mul(node.tick_period_us);
        self.now_us < started_us.saturating_add(lease_us)
    }

    /// Whether node `index`, whose role is Goose, counts as the Goose for
    /// "never two Geese at once": by its role, or by its lease once its
    /// ticks fell behind.
    fn goose_counts(&self, index: usize) -> bool {
        !self.nodes[index].lagging || self.holds_lease(index)
    }

    /// The cluster-wide invariants, after every event: one leader per term,
    /// never two Geese at once (counting every node that ever existed), no
    /// learner leading, no removed node leading, and every Goose a voter of
    /// its own membership (but while its own removal is pending).
    ///
    /// Returns the node that counts as the Goose, if any.
    #[inline]
    pub(super) fn check_cluster(&mut self) -> Result<Option<usize>, Violation> {
        self.checker.on_sweep(self.now_us);
        let mut goose = None;
        for (index, node) in self.nodes.iter().enumerate() {
            let Some(election) = node.election.as_ref() else {
                continue;
            };
            let is_goose = election.role() == Role::Goose && self.goose_counts(index);
            let status = NodeView {
                id: election.id(),
                role: election.role(),
                term: election.term(),
                leader: election.leader(),
                membership: election.membership(),
                membership_pending: election.membership_pending(),
                is_goose,
                paused: node.pause.is_some(),
            };
            self.checker.on_status(self.now_us, &status)?;
            if is_goose {
                self.checker.on_goose(self.now_us, &status)?;
                self.first_goose_at_us.get_or_insert(self.now_us);
                goose.get_or_insert(index);
            }
        }
        Ok(goose)
    }
}
