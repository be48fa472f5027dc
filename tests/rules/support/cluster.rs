//! Whole clusters in lock step, on `sim::LockStep`.

use std::collections::BTreeMap;

use duckduckgoose::core::{Election, HardState, NodeId, Term};
use duckduckgoose::sim::LockStep;

use super::*;

/// Nodes ticked in lockstep with instant delivery, for the few rules that
/// are about more than one node: `sim::LockStep`, which checks the persist
/// barrier on every node's outputs and logs them, plus a check, after every
/// delivery round, that at most one node is Goose.
pub struct Cluster {
    /// The driver: the clock, the links (`isolate`, `heal`) and the output
    /// log.
    pub net: LockStep,
    /// The Goose seen in each term.
    geese_by_term: BTreeMap<Term, NodeId>,
}

impl Cluster {
    pub fn new(voters: u64, seed: u64) -> Self {
        let nodes = (1..=voters)
            .map(|me| build(config(me, voters), HardState::default(), seed * 1_000 + me));
        Cluster {
            net: LockStep::new(nodes).expect("distinct ids"),
            geese_by_term: BTreeMap::new(),
        }
    }

    pub fn node(&mut self, node: u64) -> &mut Election {
        self.net.node_mut(id(node)).expect("a member")
    }

    /// Node `node`, to look at.
    pub fn get(&self, node: NodeId) -> &Election {
        self.net.node(node).expect("a member")
    }

    pub fn geese(&self) -> Vec<NodeId> {
        self.net.geese().collect()
    }

    /// Delivers everything in flight until the cluster is quiet.
    pub fn pump(&mut self) {
        loop {
            self.net
                .drain_outputs()
                .unwrap_or_else(|breach| panic!("{breach}"));
            self.check_geese();
            if self.net.deliver_due() == 0 {
                return;
            }
        }
    }

    /// One tick on every node, then delivery.
    pub fn tick(&mut self) {
        self.net.tick_only();
        self.pump();
    }

    /// Adds a node started later (a joiner), with its starting membership
    /// already durable, as its host would have stored it.
    pub fn join(&mut self, node: Election) {
        self.net.add(node).expect("a new id");
    }

    /// Ticks until `done` holds, checking every invariant on the way.
    pub fn run_until(&mut self, limit_ticks: u64, done: impl Fn(&Cluster) -> bool) {
        for _ in 0..limit_ticks {
            self.tick();
            if done(self) {
                return;
            }
        }
        panic!("not done within {limit_ticks} ticks");
    }

    /// Ticks until some node is Goose; returns it.
    pub fn run_until_goose(&mut self, limit_ticks: u64) -> NodeId {
        for _ in 0..limit_ticks {
            self.tick();
            if let [goose] = self.geese()[..] {
                return goose;
            }
        }
        panic!("no Goose within {limit_ticks} ticks");
    }

    /// One Goose per term and one at a time, as seen in lockstep: at most one Goose at any
    /// instant, at most one per term.
    pub fn check_geese(&mut self) {
        let geese = self.geese();
        assert!(
            geese.len() <= 1,
            "two Geese at tick {}: {geese:?}",
            self.net.now_tick()
        );
        for goose in geese {
            let term = self.get(goose).term();
            let first = *self.geese_by_term.entry(term).or_insert(goose);
            assert_eq!(first, goose, "two Geese in term {term}");
        }
    }
}
