//! What every sim_props module shares: simulation configs and runs, the
//! fault plans several modules use, and a lock-step network on
//! `sim::LockStep` for the reproductions.

use duckduckgoose::core::{Election, Membership, NodeId};
use duckduckgoose::sim::lockstep::Delivery;
use duckduckgoose::sim::{
    self, CommandPlan, FaultPlan, LockStepError, PartitionPlan, PartitionShapes, SimConfig,
    SimFailure, SimReport, Simulation,
};

/// Virtual length of the fault phase of every property-test case. A case
/// takes a few milliseconds per simulated minute on a 7-node cluster, so long
/// phases are cheap and see many elections, crashes and partitions.
pub const FAULT_PHASE_US: u64 = 60_000_000;

/// Garbage is mixed into every property-test case, whatever the plan says.
pub const GARBAGE_EVERY_US: std::ops::RangeInclusive<u64> = 20_000..=200_000;

pub fn sim_config(nodes: usize, seed: u64, plan: FaultPlan) -> SimConfig {
    let mut config = SimConfig::new(nodes, seed).with_faults(plan);
    config.fault_phase_us = FAULT_PHASE_US;
    config
}

pub fn run(config: SimConfig) -> Result<SimReport, Box<SimFailure>> {
    Simulation::new(config)
        .expect("test configs are valid")
        .run()
        .map_err(Box::new)
}

pub fn run_membership_seed(
    nodes: usize,
    spares: usize,
    seed: u64,
) -> Result<SimReport, Box<SimFailure>> {
    let plan = FaultPlan::random_with_membership(seed);
    run(sim_config(nodes, seed, plan).with_spare_nodes(spares))
}

/// Every fault kind at once, so that a trace exercises every RNG draw.
pub fn stormy_plan() -> FaultPlan {
    FaultPlan::none()
        .with_link_latency_us(200..=8_000)
        .with_jitter_us(20_000)
        .with_loss_probability(0.1)
        .with_duplicate_probability(0.1)
        .with_crash_probability(0.002)
        .with_restart_delay_us(50_000..=500_000)
        .with_partitions(PartitionPlan {
            change_every_us: 200_000..=1_000_000,
            shapes: PartitionShapes::all(),
        })
        .with_garbage_every_us(20_000..=100_000)
        .with_commands(CommandPlan::all(200_000..=600_000))
}

pub fn traced(nodes: usize, learners: usize, seed: u64) -> SimReport {
    let mut config = sim_config(nodes, seed, stormy_plan()).with_learners(learners);
    config.record_trace = true;
    run(config).unwrap_or_else(|failure| panic!("{failure}"))
}

/// How many seeds a planted bug may take to be caught.
#[cfg(feature = "__planted-bugs")]
pub const MUTATION_SEED_BUDGET: u64 = 200;

/// Many changes, partitions that come and go, nothing else.
pub fn membership_storm(_seed: u64) -> FaultPlan {
    FaultPlan::none()
        .with_link_latency_us(500..=3_000)
        .with_jitter_us(1_000)
        .with_partitions(PartitionPlan {
            change_every_us: 500_000..=2_000_000,
            shapes: PartitionShapes {
                symmetric: 3,
                one_way: 1,
                partial: 1,
                connected: 1,
            },
        })
        .with_commands(CommandPlan {
            every_us: 100_000..=400_000,
            campaign: 0,
            step_down: 0,
            transfer: 1,
            add: 3,
            remove: 1,
            leave: 0,
        })
}

/// A lossless network of elections in lock step: every tick, every node
/// ticks, then every message (and every answer) is delivered at once, except
/// on cut links. Scenarios the simulator found are replayed here by hand, on
/// `sim::LockStep` (which checks the persist barrier on every output too).
pub struct LockStep {
    net: sim::LockStep,
}

impl LockStep {
    pub fn new(nodes: Vec<Election>) -> Self {
        LockStep {
            net: sim::LockStep::new(nodes).expect("distinct ids"),
        }
    }

    pub fn node(&mut self, id: NodeId) -> &mut Election {
        self.net.node_mut(id).expect("a node of this network")
    }

    /// Every node, in id order.
    pub fn nodes(&self) -> &[Election] {
        self.net.nodes()
    }

    /// Adds a node started later, its state taken as durable.
    pub fn add(&mut self, node: Election) {
        self.net.add(node).expect("a new id");
    }

    /// Delivers every message, and every answer, until none is left.
    pub fn settle(&mut self) {
        self.net
            .settle()
            .unwrap_or_else(|breach| panic!("{breach}"));
    }

    /// Every node ticks, without delivering anything yet.
    pub fn tick_only(&mut self) {
        self.net.tick_only();
    }

    pub fn tick(&mut self) {
        self.tick_only();
        self.settle();
    }

    pub fn cut(&mut self, from: NodeId, to: NodeId) {
        self.net.cut(from, to);
    }

    pub fn cut_both_ways(&mut self, a: NodeId, b: NodeId) {
        self.net.cut_both_ways(a, b);
    }

    #[cfg(feature = "__planted-bugs")]
    pub fn open_both_ways(&mut self, a: NodeId, b: NodeId) {
        self.net.open_both_ways(a, b);
    }

    /// Every link open again.
    pub fn heal(&mut self) {
        self.net.heal();
    }

    /// Every message delivered since the last `clear_delivered`, in order.
    pub fn delivered(&self) -> &[Delivery] {
        self.net.deliveries()
    }

    pub fn clear_delivered(&mut self) {
        self.net.clear_records();
    }

    /// The membership node `id` holds.
    pub fn held(&self, id: NodeId) -> Membership {
        self.net
            .node(id)
            .expect("a node of this network")
            .membership()
            .clone()
    }

    pub fn goose(&self) -> Option<NodeId> {
        self.net.goose()
    }

    /// Ticks until a Goose exists whose membership is committed, at most
    /// `limit` ticks.
    pub fn until_settled_goose(&mut self, limit: u64) -> Option<NodeId> {
        match self.net.elect_committed(limit) {
            Ok(goose) => Some(goose),
            Err(LockStepError::Deadline { .. }) => None,
            Err(breach) => panic!("{breach}"),
        }
    }
}
