//! The simulated network: per-link latency, loss, duplication, jitter and
//! partitions of any shape, drawn by the plan or set by a script.

use std::ops::RangeInclusive;

use rand::RngExt;
use rand::rngs::StdRng;

use super::checker::node_id;
use super::plan::{FaultPlan, PartitionShapes};
use super::schedule::LinkFaults;
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
///
/// Two layers of cuts: the plan's, replaced at every repartition, and the
/// script's, changed only by scripted actions. A message passes a link only
/// when neither layer cuts it. A scripted link's own faults replace the
/// plan's on that link.
#[derive(Debug)]
pub(crate) struct Network {
    nodes: usize,
    link_latency_us: Vec<u64>,
    cut: Vec<bool>,
    script_cut: Vec<bool>,
    link_faults: Vec<Option<LinkFaults>>,
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
            script_cut: vec![false; nodes * nodes],
            link_faults: vec![None; nodes * nodes],
        }
    }

    /// Routes one message: through the plan's faults during the fault phase
    /// (`plan` is `Some`), with `healed_latency_us` after it; a scripted
    /// cut or a link's own faults apply in both phases.
    #[inline]
    pub(crate) fn route(
        &self,
        from: usize,
        to: usize,
        plan: Option<&FaultPlan>,
        healed_latency_us: &RangeInclusive<u64>,
        rng: &mut StdRng,
    ) -> Route {
        let link = from * self.nodes + to;
        if self.cut[link] || self.script_cut[link] {
            return Route::Cut;
        }
        if let Some(faults) = &self.link_faults[link] {
            return draw_route(
                faults.latency_us,
                faults.jitter_us,
                faults.loss_probability,
                faults.duplicate_probability,
                rng,
            );
        }
        match plan {
            Some(plan) => draw_route(
                self.link_latency_us[link],
                plan.jitter_us,
                plan.loss_probability,
                plan.duplicate_probability,
                rng,
            ),
            None => Route::Once(rng.random_range(healed_latency_us.clone())),
        }
    }

    /// Whether a message from `from` to `to` can get through: no cut, and
    /// not certain to be lost (`plan_loss` is the plan's loss probability
    /// while it applies).
    pub(crate) fn is_open(&self, from: usize, to: usize, plan_loss: f64) -> bool {
        let link = from * self.nodes + to;
        let loss = self.link_faults[link].map_or(plan_loss, |faults| faults.loss_probability);
        !self.cut[link] && !self.script_cut[link] && loss < 1.0
    }

    /// Cuts the link from `from` to `to`, and back when `both_ways`.
    pub(crate) fn script_cut(&mut self, from: usize, to: usize, both_ways: bool) {
        self.script_cut[from * self.nodes + to] = true;
        if both_ways {
            self.script_cut[to * self.nodes + from] = true;
        }
    }

    /// Repairs both directions between `a` and `b`, whoever cut them.
    pub(crate) fn repair(&mut self, a: usize, b: usize) {
        for link in [a * self.nodes + b, b * self.nodes + a] {
            self.cut[link] = false;
            self.script_cut[link] = false;
        }
    }

    /// Cuts `node` from every other node, both ways.
    pub(crate) fn isolate(&mut self, node: usize) {
        for other in (0..self.nodes).filter(|other| *other != node) {
            self.script_cut(node, other, true);
        }
    }

    /// Replaces the scripted cuts: only nodes that share a group reach each
    /// other (groups may overlap; a node in no group reaches nobody).
    pub(crate) fn partition(&mut self, groups: &[Vec<usize>]) {
        let n = self.nodes;
        for from in 0..n {
            for to in (0..n).filter(|to| *to != from) {
                let together = groups
                    .iter()
                    .any(|group| group.contains(&from) && group.contains(&to));
                self.script_cut[from * n + to] = !together;
            }
        }
    }

    /// Gives the link from `from` to `to` its own faults.
    pub(crate) fn set_link(&mut self, from: usize, to: usize, faults: LinkFaults) {
        self.link_faults[from * self.nodes + to] = Some(faults);
    }

    /// Removes every cut, the plan's and the script's; links keep their
    /// own faults.
    pub(crate) fn heal_all(&mut self) {
        self.cut.fill(false);
        self.script_cut.fill(false);
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

    /// The end of the fault phase: every cut and every link's own faults
    /// are gone.
    pub(crate) fn heal(&mut self) {
        self.heal_all();
        self.link_faults.fill(None);
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

/// A message's fate on a link of base latency `base_us`: lost, or
/// delivered once or twice, each copy with its own jitter.
#[inline]
fn draw_route(
    base_us: u64,
    jitter_us: u64,
    loss_probability: f64,
    duplicate_probability: f64,
    rng: &mut StdRng,
) -> Route {
    if loss_probability > 0.0 && rng.random_bool(loss_probability) {
        return Route::Lost;
    }
    let first_us = base_us + rng.random_range(0..=jitter_us);
    if duplicate_probability > 0.0 && rng.random_bool(duplicate_probability) {
        Route::Twice(first_us, base_us + rng.random_range(0..=jitter_us))
    } else {
        Route::Once(first_us)
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
        let healed = 5..=5;
        let mut route =
            |network: &Network, from, to| network.route(from, to, Some(&plan), &healed, &mut rng);
        assert_eq!(route(&network, from, to), Route::Cut);
        assert_eq!(route(&network, to, from), Route::Once(1_000));
        network.heal();
        assert_eq!(route(&network, from, to), Route::Once(1_000));
    }

    #[test]
    fn scripted_cuts_outlast_repartitions_and_the_heal_clears_them() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut network = Network::new(3, &FaultPlan::none(), &mut rng);
        let plan = FaultPlan::none();
        network.script_cut(0, 1, false);
        network.repartition(&only("connected"), &mut rng);
        assert_eq!(
            network.route(0, 1, Some(&plan), &(5..=5), &mut rng),
            Route::Cut
        );
        assert_eq!(
            network.route(1, 0, None, &(5..=5), &mut rng),
            Route::Once(5)
        );
        // A cut made after the heal still holds in the healed phase.
        assert_eq!(network.route(0, 1, None, &(5..=5), &mut rng), Route::Cut);
        network.heal();
        assert_eq!(
            network.route(0, 1, None, &(5..=5), &mut rng),
            Route::Once(5)
        );
    }

    #[test]
    fn overlapping_groups_make_a_bridge() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut network = Network::new(5, &FaultPlan::none(), &mut rng);
        network.partition(&[vec![0, 1, 2], vec![2, 3, 4]]);
        let open = |network: &Network, a, b| network.is_open(a, b, 0.0);
        assert!(open(&network, 0, 2) && open(&network, 2, 4) && open(&network, 4, 2));
        assert!(!open(&network, 0, 3) && !open(&network, 4, 1));
        network.repair(0, 3);
        assert!(open(&network, 0, 3) && open(&network, 3, 0));
        network.isolate(2);
        assert!(
            (0..5)
                .filter(|n| *n != 2)
                .all(|n| !open(&network, 2, n) && !open(&network, n, 2))
        );
        network.heal_all();
        assert!(open(&network, 2, 0));
    }

    #[test]
    fn a_link_of_its_own_replaces_the_plan() {
        let mut rng = StdRng::seed_from_u64(4);
        let mut network = Network::new(2, &FaultPlan::none(), &mut rng);
        let faults = LinkFaults {
            latency_us: 7,
            jitter_us: 0,
            loss_probability: 1.0,
            duplicate_probability: 0.0,
        };
        network.set_link(0, 1, faults);
        let plan = FaultPlan::none();
        assert_eq!(
            network.route(0, 1, Some(&plan), &(5..=5), &mut rng),
            Route::Lost
        );
        assert!(!network.is_open(0, 1, 0.0));
        assert_eq!(
            network.route(1, 0, Some(&plan), &(5..=5), &mut rng),
            Route::Once(1_000)
        );
        network.set_link(
            0,
            1,
            LinkFaults {
                loss_probability: 0.0,
                ..faults
            },
        );
        assert_eq!(
            network.route(0, 1, None, &(5..=5), &mut rng),
            Route::Once(7)
        );
        network.heal();
        assert_eq!(
            network.route(0, 1, None, &(5..=5), &mut rng),
            Route::Once(5)
        );
    }
}
