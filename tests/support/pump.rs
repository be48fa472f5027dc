//! A lock-step, loss-free in-process cluster, shared by the allocation test
//! and the core benchmark: `sim::LockStep` delivering at once, with
//! recording off, so that once its queue has grown to the working size
//! pumping allocates nothing in the driver (the persist barrier is still
//! checked on every output).

use duckduckgoose::core::{Config, Election, HardState, NodeId};
use duckduckgoose::sim::LockStep;

/// N elections with ids 1..=n, the default config, and a loss-free network.
pub struct Pump {
    net: LockStep,
}

impl Pump {
    /// `n` fresh nodes with ids 1..=n and the default config.
    pub fn new(n: u64, seed: u64) -> Self {
        let ids: Vec<NodeId> = (1..=n).map(NodeId).collect();
        let nodes = ids.iter().map(|id| {
            Election::new(
                Config::new(*id, ids.iter().copied()),
                HardState::default(),
                seed ^ id.0,
            )
            .expect("the default config is valid")
        });
        let net = LockStep::new(nodes)
            .expect("distinct ids")
            .with_recording(false);
        Pump { net }
    }

    /// Every node, in id order.
    pub fn nodes(&self) -> &[Election] {
        self.net.nodes()
    }

    /// Node `id`.
    pub fn node(&self, id: NodeId) -> &Election {
        self.net.node(id).expect("a node of the cluster")
    }

    /// Messages handed to `handle_message` so far.
    #[allow(
        dead_code,
        reason = "the allocation test counts messages, the benchmark does not"
    )]
    pub fn delivered(&self) -> u64 {
        self.net.counts().delivered
    }

    /// Ticks only node `id` once and settles (followers' timers stand still,
    /// so a steady state can be held for as long as needed).
    pub fn tick_one(&mut self, id: NodeId) {
        self.net.tick_one(id).expect("the persist barrier holds");
    }

    /// Ticks everyone until some node is the Goose; returns its id and the
    /// ticks it took.
    pub fn elect(&mut self, max_ticks: u64) -> Option<(NodeId, u64)> {
        let start_tick = self.net.now_tick();
        let goose = self.net.elect(max_ticks).ok()?;
        Some((goose, self.net.now_tick() - start_tick))
    }
}
