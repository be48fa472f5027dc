//! Garbage: messages with arbitrary content, claiming to come from ids
//! outside the cluster, each of which must be dropped, counted and leave
//! its receiver's status unchanged.

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use rand::RngExt;
use rand::rngs::StdRng;

use super::Simulation;
use crate::core::{Message, NodeId};
use crate::sim::checker::{Invariant, Violation, node_id};
use crate::sim::config::FIRST_NON_MEMBER_ID;
use crate::sim::queue::EventKind;
use crate::sim::strategy::arb_message;
use crate::sim::trace::TraceKind;

/// Where garbage comes from: [`arb_message`], the crate's one generator of
/// arbitrary messages, drawn by a runner seeded from the simulation's RNG,
/// so that a seed replays the same garbage.
#[derive(Debug)]
pub(super) struct GarbageSource {
    runner: TestRunner,
}

impl GarbageSource {
    /// A source seeded from `rng` (one draw).
    pub(super) fn new(rng: &mut StdRng) -> Self {
        let seed: [u8; 16] = rng.random();
        // The runner only draws values: nothing to save on failure.
        let config = Config {
            failure_persistence: None,
            ..Config::default()
        };
        // XorShift: garbage needs no cryptographic quality, only speed.
        let rng = TestRng::from_seed(RngAlgorithm::XorShift, &seed);
        GarbageSource {
            runner: TestRunner::new_with_rng(config, rng),
        }
    }

    /// The next message; `None` if the strategy rejected one, which it never
    /// does (it has no filter).
    fn draw(&mut self) -> Option<Message> {
        let tree = arb_message().new_tree(&mut self.runner).ok()?;
        Some(tree.current())
    }
}

impl Simulation {
    /// Sends a random message, claiming to come from a non-member, to a random
    /// live node, and checks that it was dropped, counted and changed nothing.
    pub(super) fn inject_garbage(&mut self) -> Result<(), Violation> {
        // A paused process handles nothing, garbage included.
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|index| self.nodes[*index].is_running())
            .collect();
        if up.is_empty() {
            return Ok(());
        }
        let index = up[self.rng.random_range(0..up.len())];
        let from =
            NodeId(FIRST_NON_MEMBER_ID + self.rng.random_range(0..=u64::MAX - FIRST_NON_MEMBER_ID));
        let Some(msg) = self.garbage.as_mut().and_then(GarbageSource::draw) else {
            return Ok(());
        };
        self.stats.garbage_injected += 1;
        let node = node_id(index);
        self.recorder.record(
            self.now_us,
            TraceKind::Garbage {
                from,
                to: node,
                msg: msg.clone(),
            },
        );

        let Some(election) = self.nodes[index].election.as_mut() else {
            return Ok(());
        };
        let status_before = election.status();
        let dropped_before = election.counters().dropped_not_member;
        election.handle_message(from, msg);
        let status_after = election.status();
        let dropped_after = election.counters().dropped_not_member;
        self.outputs.clear();
        while let Some(output) = election.poll_output() {
            self.outputs.push(output);
        }
        let outputs = std::mem::take(&mut self.outputs);
        let result = outputs.iter().try_for_each(|output| {
            self.checker.on_output(self.now_us, node, output)?;
            self.handle_output(index, output)
        });
        self.outputs = outputs;
        result?;
        if status_after != status_before {
            return Err(Violation::GarbageChangedState {
                at_us: self.now_us,
                node,
                from,
            });
        }
        if dropped_after != dropped_before + 1 {
            return Err(Violation::GarbageNotCounted {
                at_us: self.now_us,
                node,
                from,
            });
        }
        Ok(())
    }

    pub(super) fn schedule_garbage(&mut self) {
        if let Some(every) = &self.config.faults.garbage_every_us {
            let at_us = self.now_us + self.rng.random_range(every.clone());
            self.queue.push(at_us, EventKind::Garbage);
        }
    }
}
