//! A lock-step, loss-free in-process cluster, shared by the allocation test
//! and the core benchmark. Messages are delivered in send order through a
//! reused buffer, so pumping allocates nothing once warmed up.

use duckduckgoose::core::{Config, Election, HardState, Message, NodeId, Output, Role};

/// N elections wired to each other by a reusable message buffer.
pub struct Pump {
    pub nodes: Vec<Election>,
    in_flight: Vec<(NodeId, NodeId, Message)>,
    next: Vec<(NodeId, NodeId, Message)>,
    /// Messages handed to `handle_message` so far.
    pub delivered: u64,
}

impl Pump {
    /// `n` fresh nodes with ids 1..=n and the default config.
    pub fn new(n: u64, seed: u64) -> Self {
        let ids: Vec<NodeId> = (1..=n).map(NodeId).collect();
        let nodes = ids
            .iter()
            .map(|id| {
                Election::new(
                    Config::new(*id, ids.iter().copied()),
                    HardState::default(),
                    seed ^ id.0,
                )
                .expect("the default config is valid")
            })
            .collect();
        let capacity = (n * n * 4) as usize;
        Pump {
            nodes,
            in_flight: Vec::with_capacity(capacity),
            next: Vec::with_capacity(capacity),
            delivered: 0,
        }
    }

    fn index(id: NodeId) -> usize {
        (id.0 - 1) as usize
    }

    /// Drains every node's outputs, then delivers messages until none are left.
    pub fn settle(&mut self) {
        loop {
            for node in &mut self.nodes {
                let from = node.id();
                while let Some(output) = node.poll_output() {
                    if let Output::Send { to, msg } = output {
                        self.next.push((from, to, msg));
                    }
                }
            }
            if self.next.is_empty() {
                return;
            }
            std::mem::swap(&mut self.in_flight, &mut self.next);
            for (from, to, msg) in self.in_flight.drain(..) {
                self.delivered += 1;
                self.nodes[Self::index(to)].handle_message(from, msg);
            }
        }
    }

    /// Ticks every node once and settles.
    pub fn tick_all(&mut self) {
        for node in &mut self.nodes {
            node.tick();
        }
        self.settle();
    }

    /// Ticks only node `id` once and settles (followers' timers stand still,
    /// so a steady state can be held for as long as needed).
    pub fn tick_one(&mut self, id: NodeId) {
        self.nodes[Self::index(id)].tick();
        self.settle();
    }

    /// Ticks everyone until some node is the Goose; returns its id and the
    /// ticks it took.
    pub fn elect(&mut self, max_ticks: u64) -> Option<(NodeId, u64)> {
        for tick in 1..=max_ticks {
            self.tick_all();
            if let Some(goose) = self.nodes.iter().find(|n| n.role() == Role::Goose) {
                return Some((goose.id(), tick));
            }
        }
        None
    }
}
