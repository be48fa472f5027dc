//! The simulated network: per-link latency, loss, duplication, jitter and
//! partitions of any shape.

use rand::RngExt;
use rand::rngs::StdRng;

use super::checker::node_id;
use super::plan::{FaultPlan, PartitionShapes};
use crate::core::NodeId;

/// What happens to one message handed to the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Arrives after this many microseconds.
    Once(u64),
    /// Arrives twice, after these delays.
    Twice(u64, u64),
    /// Lost.
    Lost,
    /// Dropped by the partition.
    Cut,
}

/// Links between `n` nodes, indexed `from * n + to`.
#[derive(Debug)]
pub(crate) struct Network {
    nodes: usize,
    link_latency_us: Vec<u64>,
    cut: Vec<bool>,
}

impl Network {
    /// A connected network whose links draw their base latency from the plan.
    pub(crate) fn new(nodes: usize, plan: &FaultPlan, rng: &mut StdRng) -> Self {
        let link_latency_us = (0..nodes * nodes)
            .map(|_| rng.random_range(plan.link_latency_us.clone()))
            .collect();
        Network {
            nodes,
            link_latency_us,
            cut: vec![false; nodes * nodes],
        }
    }

    /// Routes one message during the fault phase.
    pub(crate) fn route_faulty(
        &self,
        from: usize,
        to: usize,
        plan: &FaultPlan,
        rng: &mut StdRng,
    ) -> Route {
        let link = from * self.nodes + to;
        if self.cut[link] {
            return Route::Cut;
        }
        if plan.loss_probability > 0.0 && rng.random_bool(plan.loss_probability) {
            return Route::Lost;
        }
        let base_us = self.link_latency_us[link];
        let first_us = base_us + rng.random_range(0..=plan.jitter_us);
        if plan.duplicate_probability > 0.0 && rng.random_bool(plan.duplicate_probability) {
            Route::Twice(first_us, base_us + rng.random_range(0..=plan.jitter_us))
        } else {
            Route::Once(first_us)
        }
    }

    /// Replaces the partition with a new one drawn by `shapes`; returns the
    /// cut links.
    pub(crate) fn repartition(
        &mut self,
        shapes: &PartitionShapes,
        rng: &mut StdRng,
    ) -> Vec<(NodeId, NodeId)> {
        self.cut.fill(false);
        let n = self.nodes;
        // A partition needs two nodes; a single node is always "connected".
        if n >= 2 {
            let mut pick = rng.random_range(0..shapes.total());
            let mut is = |weight: u32| {
                let hit = pick < u64::from(weight);
                pick = pick.saturating_sub(u64::from(weight));
                hit
            };
            if is(shapes.symmetric) {
                let side = random_side(n, rng);
                self.cut_between(&side, true);
            } else if is(shapes.one_way) {
                let side = random_side(n, rng);
                self.cut_between(&side, false);
            } else if is(shapes.partial) {
                self.cut_random_pairs(rng);
            }
        }
        self.cut_links()
    }

    /// Removes every cut.
    pub(crate) fn heal(&mut self) {
        self.cut.fill(false);
    }

    /// Cuts every link from `side` to the rest, and back when `both_ways`.
    fn cut_between(&mut self, side: &[bool], both_ways: bool) {
        let n = self.nodes;
        for from in 0..n {
            for to in 0..n {
                if side[from] && !side[to] {
                    self.cut[from * n + to] = true;
                    if both_ways {
                        self.cut[to * n + from] = true;
                    }
                }
            }
        }
    }

    /// Cuts each pair of nodes (both ways) with probability one half, at
    /// least one pair, so that some nodes see each other only through a
    /// third.
    fn cut_random_pairs(&mut self, rng: &mut StdRng) {
        let n = self.nodes;
        let pairs: Vec<(usize, usize)> = (0..n)
            .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
            .collect();
        let mut chosen: Vec<bool> = pairs.iter().map(|_| rng.random_bool(0.5)).collect();
        if !chosen.contains(&true) {
            let index = rng.random_range(0..pairs.len());
            chosen[index] = true;
        }
        for ((a, b), cut) in pairs.into_iter().zip(chosen) {
            if cut {
                self.cut[a * n + b] = true;
                self.cut[b * n + a] = true;
            }
        }
    }

    fn cut_links(&self) -> Vec<(NodeId, NodeId)> {
        let n = self.nodes;
        (0..n)
            .flat_map(|from| (0..n).map(move |to| (from, to)))
            .filter(|(from, to)| self.cut[from * n + to])
            .map(|(from, to)| (node_id(from), node_id(to)))
            .collect()
    }
}

/// A random non-empty proper subset of `n >= 2` nodes, as membership flags.
fn random_side(n: usize, rng: &mut StdRng) -> Vec<bool> {
    loop {
        let side: Vec<bool> = (0..n).map(|_| rng.random_bool(0.5)).collect();
        let inside = side.iter().filter(|in_side| **in_side).count();
        if inside > 0 && inside < n {
            return side;
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn only(shape: &str) -> PartitionShapes {
        PartitionShapes {
            symmetric: u32::from(shape == "symmetric"),
            one_way: u32::from(shape == "one_way"),
            partial: u32::from(shape == "partial"),
            connected: u32::from(shape == "connected"),
        }
    }

    #[test]
    fn shapes_cut_what_they_say() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut network = Network::new(5, &FaultPlan::none(), &mut rng);
        for _ in 0..50 {
            let cut = network.repartition(&only("symmetric"), &mut rng);
            assert!(!cut.is_empty());
            assert!(cut.iter().all(|(a, b)| cut.contains(&(*b, *a))));

            let cut = network.repartition(&only("one_way"), &mut rng);
            assert!(!cut.is_empty());
            assert!(cut.iter().all(|(a, b)| !cut.contains(&(*b, *a))));

            let cut = network.repartition(&only("partial"), &mut rng);
            assert!(!cut.is_empty());
            assert!(cut.iter().all(|(a, b)| cut.contains(&(*b, *a))));

            assert!(network.repartition(&only("connected"), &mut rng).is_empty());
        }
    }

    #[test]
    fn cut_links_drop_everything() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut network = Network::new(3, &FaultPlan::none(), &mut rng);
        let cut = network.repartition(&only("one_way"), &mut rng);
        let (from, to) = cut[0];
        let (from, to) = (from.0 as usize - 1, to.0 as usize - 1);
        let plan = FaultPlan::none();
        assert_eq!(network.route_faulty(from, to, &plan, &mut rng), Route::Cut);
        assert_eq!(
            network.route_faulty(to, from, &plan, &mut rng),
            Route::Once(1_000)
        );
        network.heal();
        assert_eq!(
            network.route_faulty(from, to, &plan, &mut rng),
            Route::Once(1_000)
        );
    }
}
