//! Liveness during faults: the stretches of the fault phase in which a
//! majority of voters is up, running and connected both ways, and how soon
//! each had a Goose. Recomputed only when the topology changes (a cut, a
//! repair, a crash, a restart, a pause, a commit), so a run without
//! partitions pays one comparison per event.

use super::Simulation;
use crate::core::{NodeId, Term};
use crate::sim::checker::{index_of, node_id};
use crate::sim::report::FaultStretch;

/// The stretches so far and the one open now.
#[derive(Debug, Default)]
pub(super) struct Stretches {
    /// The topology changed since the last look.
    dirty: bool,
    open: Option<Open>,
    done: Vec<FaultStretch>,
}

#[derive(Debug)]
struct Open {
    from_us: u64,
    majority: Vec<NodeId>,
    term_at_start: Term,
    goose_at_us: Option<u64>,
}

impl Open {
    fn closed(&self, until_us: u64, max_term: Term) -> FaultStretch {
        FaultStretch {
            from_us: self.from_us,
            until_us,
            majority: self.majority.clone(),
            goose_after_us: self.goose_at_us.map(|at_us| at_us - self.from_us),
            terms_used: max_term.0.saturating_sub(self.term_at_start.0),
        }
    }
}

impl Stretches {
    /// Ends the open stretch, if any (the fault phase is over).
    pub(super) fn close(&mut self, now_us: u64, max_term: Term) {
        if let Some(open) = self.open.take() {
            self.done.push(open.closed(now_us, max_term));
        }
        self.dirty = false;
    }

    /// Every stretch so far, the open one ending now.
    pub(super) fn so_far(&self, now_us: u64, max_term: Term) -> Vec<FaultStretch> {
        let mut all = self.done.clone();
        all.extend(self.open.as_ref().map(|open| open.closed(now_us, max_term)));
        all
    }
}

impl Simulation {
    /// Something that decides who can reach whom changed.
    pub(super) fn topology_changed(&mut self) {
        self.stretches.dirty = true;
    }

    /// After an event of the fault phase: opens or closes a stretch when the
    /// topology changed, and notes the first lease-holding Goose inside the
    /// connected majority. `goose` is the node the sweep counted as Goose.
    ///
    /// Runs after every event; the common case (nothing changed, no stretch
    /// waiting for its Goose) is two tests.
    #[inline]
    pub(super) fn track_stretches(&mut self, goose: Option<usize>) {
        if self.stretches.dirty {
            self.reopen_stretch();
        }
        if let Some(goose) = goose
            && self
                .stretches
                .open
                .as_ref()
                .is_some_and(|open| open.goose_at_us.is_none())
        {
            self.note_goose(goose);
        }
    }

    /// The topology changed: closes the open stretch if no majority is
    /// connected any more, or opens one if a majority now is.
    #[inline(never)]
    fn reopen_stretch(&mut self) {
        self.stretches.dirty = false;
        let majority = self.connected_majority();
        let max_term = self.stats.max_term;
        let stretches = &mut self.stretches;
        match (&stretches.open, majority) {
            (Some(_), Some(_)) | (None, None) => {}
            (Some(_), None) => {
                if let Some(open) = stretches.open.take() {
                    stretches.done.push(open.closed(self.now_us, max_term));
                }
            }
            (None, Some(majority)) => {
                stretches.open = Some(Open {
                    from_us: self.now_us,
                    majority,
                    term_at_start: max_term,
                    goose_at_us: None,
                });
            }
        }
    }

    /// The open stretch is waiting for its Goose: `goose` is it if it is
    /// inside the connected majority and holds its lease.
    #[inline(never)]
    fn note_goose(&mut self, goose: usize) {
        let counts = self.holds_lease(goose);
        if let Some(open) = self.stretches.open.as_mut()
            && counts
            && open.majority.contains(&node_id(goose))
        {
            open.goose_at_us = Some(self.now_us);
        }
    }

    /// The largest set of voters of the latest committed membership that
    /// are up, not paused, and pairwise connected both ways, if it is a
    /// majority of those voters.
    fn connected_majority(&self) -> Option<Vec<NodeId>> {
        let membership = self.checker.latest_committed();
        let voters = membership.voter_count();
        let running: Vec<usize> = membership
            .voters()
            .filter_map(index_of)
            .filter(|index| self.nodes.get(*index).is_some_and(|node| node.is_running()))
            .collect();
        let needed = voters / 2 + 1;
        if running.len() < needed || running.len() > 128 {
            return None;
        }
        let loss = self.config.faults.loss_probability;
        let adjacent: Vec<u128> = running
            .iter()
            .map(|a| {
                running.iter().enumerate().fold(0, |mask, (bit, b)| {
                    let both = a != b
                        && self.network.is_open(*a, *b, loss)
                        && self.network.is_open(*b, *a, loss);
                    mask | (u128::from(both) << bit)
                })
            })
            .collect();
        let all = if running.len() == 128 {
            u128::MAX
        } else {
            (1 << running.len()) - 1
        };
        let clique = largest_clique(&adjacent, 0, all, 0);
        (clique.count_ones() as usize >= needed).then(|| {
            (0..running.len())
                .filter(|bit| clique & (1 << bit) != 0)
                .map(|bit| node_id(running[bit]))
                .collect()
        })
    }
}

/// The largest clique (as a bit mask) that contains `chosen` and otherwise
/// only `candidates`, in the graph whose neighbours of vertex `v` are
/// `adjacent[v]`. Branch and bound: fine for the handful of voters a
/// cluster has.
fn largest_clique(adjacent: &[u128], chosen: u128, candidates: u128, best: u128) -> u128 {
    if candidates == 0 {
        return if chosen.count_ones() > best.count_ones() {
            chosen
        } else {
            best
        };
    }
    if chosen.count_ones() + candidates.count_ones() <= best.count_ones() {
        return best;
    }
    let vertex = candidates.trailing_zeros() as usize;
    let bit = 1_u128 << vertex;
    // With the vertex, then without it.
    let best = largest_clique(adjacent, chosen | bit, candidates & adjacent[vertex], best);
    largest_clique(adjacent, chosen, candidates & !bit, best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(n: usize, edges: &[(usize, usize)]) -> Vec<u128> {
        let mut adjacent = vec![0; n];
        for &(a, b) in edges {
            adjacent[a] |= 1 << b;
            adjacent[b] |= 1 << a;
        }
        adjacent
    }

    #[test]
    fn the_bridge_node_makes_a_majority_with_either_half() {
        // 0-1, 3-4 and 2 bridging both halves.
        let adjacent = graph(5, &[(0, 1), (0, 2), (1, 2), (2, 3), (2, 4), (3, 4)]);
        let clique = largest_clique(&adjacent, 0, 0b11111, 0);
        assert_eq!(clique.count_ones(), 3);
        assert!(clique & 0b00100 != 0, "the bridge is in it");
    }

    #[test]
    fn no_edges_no_clique_beyond_one_node() {
        let adjacent = graph(4, &[]);
        assert_eq!(largest_clique(&adjacent, 0, 0b1111, 0).count_ones(), 1);
        let full = graph(4, &[(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]);
        assert_eq!(largest_clique(&full, 0, 0b1111, 0), 0b1111);
    }
}
