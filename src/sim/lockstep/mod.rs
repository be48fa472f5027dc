//! A lock-step driver: `N` [`Election`]s ticking at the same instants, wired
//! by a network you steer link by link, with the persist barrier checked on
//! every output.
//!
//! Reach for [`LockStep`] when you want a deterministic, step-by-step
//! scenario ("elect, cut this link, tick until the lease runs out, heal,
//! check who leads") without the random simulator. Nothing in it is drawn at
//! random (the elections' own seeds aside), so a scenario reads as a script
//! and replays exactly. [`Simulation`](super::Simulation) does the opposite
//! job: it explores random fault plans and checks every invariant.
//!
//! # The model
//!
//! * **Time** is one counter, [`LockStep::now_tick`]. [`LockStep::tick`]
//!   advances it, ticks every node that is up, in id order, at that instant,
//!   then [settles](LockStep::settle). [`LockStep::tick_one`] ticks a single
//!   node (the others' timers stand still, so a steady state can be held as
//!   long as needed); [`LockStep::tick_only`] ticks everyone and delivers
//!   nothing yet.
//! * **Delivery.** A message sent at tick `t` falls due at `t + delay`
//!   ([`LockStep::with_delay_ticks`]; 0 by default: at once, within the same
//!   instant). Settling drains every node's outputs, in id order, then hands
//!   every due message to its receiver in send order, and repeats until no
//!   message is due: with no delay, a whole exchange (vote requests, answers,
//!   the new Goose's first heartbeats and their acks) completes within one
//!   tick.
//! * **Links** ([`Link`]). Each directed link is open, cut (messages are
//!   dropped) or held (messages are kept in send order until the link is
//!   opened, or until they are released or dropped by hand). The rule in
//!   force when a message falls due decides its fate. An isolated node is
//!   cut from every other, including nodes added later.
//! * **Crashes.** [`LockStep::crash`] drops a node, with the outputs it
//!   produced and the driver has not drained yet: its host died before
//!   handling them. [`LockStep::restart`] builds a new `Election` from the
//!   node's [`Durable`] state (its hard state, and its membership as
//!   `Config::membership`), as a real host would from its storage.
//! * **The persist barrier.** The driver is the nodes' host: it makes every
//!   `Output::Persist` and `Output::PersistMembership` durable when it
//!   drains it. Before handling any output it checks that durable state
//!   never goes back, that no message shows a term, a vote or a membership
//!   not yet durable, and that no membership event names one; a breach
//!   stops the driver with a [`PersistBarrierViolation`].
//! * **Records.** Every output drained ([`LockStep::outputs`]) and every
//!   message delivered ([`LockStep::deliveries`]) is logged, unless
//!   recording is turned off ([`LockStep::with_recording`]); with it off and
//!   the network healthy, a steady state allocates nothing in the driver.
//!
//! # Example
//!
//! ```
//! use duckduckgoose::core::{Config, Election, HardState, NodeId, Role};
//! use duckduckgoose::sim::LockStep;
//!
//! let ids = [NodeId(1), NodeId(2), NodeId(3)];
//! let nodes = ids.map(|id| Election::new(Config::new(id, ids), HardState::default(), id.0));
//! let mut net = LockStep::new(nodes.into_iter().map(Result::unwrap))?;
//! let old = net.elect(1_000)?;
//!
//! // Cut the Goose off: its lease runs out, then the others elect.
//! net.isolate(old);
//! net.run_until(1_000, |net| net.geese().any(|goose| goose != old))?;
//! assert_eq!(net.node(old).map(Election::role), Some(Role::Duck));
//!
//! // The new Goose's vote for itself was durable before anyone heard of it.
//! let new = net.goose().expect("just elected");
//! let durable = net.durable(new).expect("a node of the network").hard_state();
//! assert_eq!(durable.voted_for, Some(new));
//!
//! // Crash it and bring it back from what it made durable.
//! net.crash(new)?;
//! net.restart(new, 42)?;
//! assert_eq!(net.node(new).map(Election::hard_state), Some(durable));
//! # Ok::<(), duckduckgoose::sim::LockStepError>(())
//! ```

mod barrier;
mod links;
mod nodes;
mod record;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use thiserror::Error;

use crate::core::{Config, ConfigError, Election, NodeId, Output};

pub use barrier::{Durable, PersistBarrierViolation};
pub use links::Link;
pub use record::{Delivery, LoggedOutput, MessageCounts};

use links::{InFlight, Wire};
use record::Records;

/// Delivery rounds one [`LockStep::settle`] may take: far more than any
/// exchange of the core needs (a few round trips), so reaching it means
/// messages bounce forever.
const MAX_ROUNDS_PER_SETTLE: u32 = 1_000;

/// `N` elections in lock step over a steerable network, hosted with the
/// persist barrier checked: see [the module docs](self) for the model and an
/// example.
#[derive(Debug)]
pub struct LockStep {
    /// The nodes that are up, in id order.
    nodes: Vec<Election>,
    /// What each node of `nodes` has made durable, at the same index.
    durable: Vec<Durable>,
    /// The nodes that are down.
    down: BTreeMap<NodeId, Down>,
    wire: Wire,
    delay_ticks: u64,
    /// Set by [`LockStep::with_shuffled_delivery`]: the order in which the
    /// messages due in one settling round are delivered.
    shuffle: Option<StdRng>,
    now_tick: u64,
    records: Records,
    counts: MessageCounts,
}

/// A crashed node: what its host keeps to restart it.
#[derive(Debug)]
struct Down {
    config: Config,
    durable: Durable,
}

/// Why the driver refused a request or stopped.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LockStepError {
    /// A node with this id is already in the network (up or down).
    #[error("n{0} is already in the network")]
    DuplicateNode(NodeId),
    /// No node with this id is in the network.
    #[error("n{0} is not in the network")]
    UnknownNode(NodeId),
    /// The node is down: restart it first.
    #[error("n{0} is down")]
    NodeDown(NodeId),
    /// The node is up: crash it before restarting it.
    #[error("n{0} is up: crash it before restarting it")]
    NodeUp(NodeId),
    /// The node's durable state does not make a valid config.
    #[error("n{node} cannot restart from its durable state: {source}")]
    Restart {
        /// The node.
        node: NodeId,
        /// Why `Election::new` refused.
        #[source]
        source: ConfigError,
    },
    /// A node broke the persist barrier: a bug in the core.
    #[error(transparent)]
    PersistBarrier(#[from] PersistBarrierViolation),
    /// Messages were still due after this many delivery rounds in one
    /// instant.
    #[error("messages still due after {rounds} delivery rounds in one instant")]
    NotQuiet {
        /// The rounds taken.
        rounds: u32,
    },
    /// [`LockStep::run_until`] (or an `elect` helper) did not get there.
    #[error("not done within {max_ticks} ticks")]
    Deadline {
        /// The ticks allowed.
        max_ticks: u64,
    },
}

impl LockStep {
    /// A network of `nodes`, every link open, delivering at once, recording.
    /// Each node's current hard state and membership are taken as durable,
    /// as its host would have stored them: add nodes whose outputs have not
    /// been polled yet, or have all been handled.
    pub fn new(nodes: impl IntoIterator<Item = Election>) -> Result<Self, LockStepError> {
        let mut net = LockStep {
            nodes: Vec::new(),
            durable: Vec::new(),
            down: BTreeMap::new(),
            wire: Wire::default(),
            delay_ticks: 0,
            shuffle: None,
            now_tick: 0,
            records: Records::new(true),
            counts: MessageCounts::default(),
        };
        for node in nodes {
            net.add(node)?;
        }
        Ok(net)
    }

    /// Messages fall due this many ticks after they are sent; 0 delivers
    /// within the same instant. Set it before the first tick: messages
    /// already in flight keep their due tick.
    #[must_use]
    pub fn with_delay_ticks(mut self, delay_ticks: u64) -> Self {
        self.delay_ticks = delay_ticks;
        self
    }

    /// Delivers the messages due in each settling round in a random order
    /// drawn from `seed`, instead of in send order: links that race each
    /// other, so that which of several simultaneous requests a node hears
    /// first is not always decided by the senders' ids (the model in which
    /// many voters with few distinct timeouts split their votes).
    #[must_use]
    pub fn with_shuffled_delivery(mut self, seed: u64) -> Self {
        self.shuffle = Some(StdRng::seed_from_u64(seed));
        self
    }

    /// Whether to log every output and delivery (on by default). Counts are
    /// kept either way.
    #[must_use]
    pub fn with_recording(mut self, on: bool) -> Self {
        self.records.on = on;
        self
    }

    /// The driver's clock: how many ticks have passed.
    pub fn now_tick(&self) -> u64 {
        self.now_tick
    }

    /// How long messages take, in ticks.
    pub fn delay_ticks(&self) -> u64 {
        self.delay_ticks
    }

    /// One instant: every node that is up ticks, in id order, then the
    /// network settles.
    pub fn tick(&mut self) -> Result<(), LockStepError> {
        self.tick_only();
        self.settle()
    }

    /// One instant in which every node that is up ticks, and nothing is
    /// drained or delivered yet: what they produced waits for the next
    /// [`LockStep::settle`] (and sees the links as they are then).
    pub fn tick_only(&mut self) {
        self.now_tick += 1;
        for node in &mut self.nodes {
            node.tick();
        }
    }

    /// One instant in which only node `id` ticks, then the network settles.
    pub fn tick_one(&mut self, id: NodeId) -> Result<(), LockStepError> {
        let index = self.index_up(id)?;
        self.now_tick += 1;
        self.nodes[index].tick();
        self.settle()
    }

    /// Drains every node's outputs and delivers every message due, round
    /// after round, until none is due: after it, every answer that could
    /// arrive by now has.
    pub fn settle(&mut self) -> Result<(), LockStepError> {
        for _ in 0..MAX_ROUNDS_PER_SETTLE {
            self.drain_outputs()?;
            if self.deliver_due() == 0 {
                return Ok(());
            }
        }
        Err(LockStepError::NotQuiet {
            rounds: MAX_ROUNDS_PER_SETTLE,
        })
    }

    /// Half a settling round: takes every output of every node that is up,
    /// in id order, checks it against the persist barrier, makes persists
    /// durable and puts sends in flight. Use it with
    /// [`LockStep::deliver_due`] to look at the cluster between rounds.
    pub fn drain_outputs(&mut self) -> Result<(), LockStepError> {
        let now_tick = self.now_tick;
        let due_tick = now_tick.saturating_add(self.delay_ticks);
        for (node, durable) in self.nodes.iter_mut().zip(&mut self.durable) {
            let me = node.id();
            while let Some(output) = node.poll_output() {
                if let Err(violation) = barrier::check(me, durable, &output) {
                    self.records.output(now_tick, me, || output);
                    return Err(violation.into());
                }
                match output {
                    Output::Send { to, msg } => {
                        self.records.output(now_tick, me, || Output::Send {
                            to,
                            msg: msg.clone(),
                        });
                        self.wire.in_flight.push_back(InFlight {
                            due_tick,
                            from: me,
                            to,
                            msg,
                        });
                    }
                    Output::Persist(hard_state) => {
                        durable.persist(hard_state);
                        self.records
                            .output(now_tick, me, || Output::Persist(hard_state));
                    }
                    Output::PersistMembership(membership) => {
                        self.records.output(now_tick, me, || {
                            Output::PersistMembership(membership.clone())
                        });
                        durable.persist_membership(*membership);
                    }
                    event @ Output::Event(_) => self.records.output(now_tick, me, || event),
                }
            }
        }
        Ok(())
    }

    /// The other half of a settling round: every message due by now meets
    /// its link, in send order: delivered, dropped or held. Returns how many
    /// were delivered.
    pub fn deliver_due(&mut self) -> usize {
        let mut delivered = 0;
        if let Some(rng) = &mut self.shuffle {
            // Delivering sends nothing (outputs wait for the next drain), so
            // the messages due now are all known before the first is handed
            // over.
            let mut due = Vec::new();
            while let Some(message) = self.wire.pop_due(self.now_tick) {
                due.push(message);
            }
            due.shuffle(rng);
            for message in due {
                delivered += usize::from(self.meet_link(message));
            }
        } else {
            while let Some(message) = self.wire.pop_due(self.now_tick) {
                delivered += usize::from(self.meet_link(message));
            }
        }
        delivered
    }

    /// `message` meets the rule of its link: delivered (returns whether it
    /// reached a node that is up), dropped or held.
    fn meet_link(&mut self, message: InFlight) -> bool {
        match self.wire.links.state(message.from, message.to) {
            Link::Open => self.deliver(message),
            Link::Cut => {
                self.counts.dropped += 1;
                false
            }
            Link::Held => {
                self.wire.held.push(message);
                false
            }
        }
    }

    /// Hands `message` to its receiver, if it is up.
    fn deliver(&mut self, message: InFlight) -> bool {
        let Some(index) = self.index(message.to) else {
            self.counts.dropped_no_receiver += 1;
            return false;
        };
        self.records
            .delivery(self.now_tick, message.from, message.to, &message.msg);
        self.nodes[index].handle_message(message.from, message.msg);
        self.counts.delivered += 1;
        true
    }

    /// Ticks until `done` holds (checked after each tick), at most
    /// `max_ticks` times; returns the ticks taken.
    pub fn run_until(
        &mut self,
        max_ticks: u64,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Result<u64, LockStepError> {
        for ticks in 1..=max_ticks {
            self.tick()?;
            if done(self) {
                return Ok(ticks);
            }
        }
        Err(LockStepError::Deadline { max_ticks })
    }

    /// Ticks until some node is the Goose, at most `max_ticks` times, and
    /// returns it.
    pub fn elect(&mut self, max_ticks: u64) -> Result<NodeId, LockStepError> {
        for _ in 0..max_ticks {
            self.tick()?;
            if let Some(goose) = self.goose() {
                return Ok(goose);
            }
        }
        Err(LockStepError::Deadline { max_ticks })
    }

    /// Ticks until some node is the Goose and its membership is committed
    /// (a new Goose re-issues its membership first, and accepts changes only
    /// once that has committed), at most `max_ticks` times; returns it.
    pub fn elect_committed(&mut self, max_ticks: u64) -> Result<NodeId, LockStepError> {
        for _ in 0..max_ticks {
            self.tick()?;
            if let Some(goose) = self.goose()
                && self.node(goose).and_then(Election::membership_pending) == Some(false)
            {
                return Ok(goose);
            }
        }
        Err(LockStepError::Deadline { max_ticks })
    }

    /// The first node, in id order, whose role is Goose. The core promises
    /// at most one at any instant; [`LockStep::geese`] lists them all.
    pub fn goose(&self) -> Option<NodeId> {
        self.geese().next()
    }

    /// Every node whose role is Goose now, in id order.
    pub fn geese(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes
            .iter()
            .filter(|node| node.role() == crate::core::Role::Goose)
            .map(Election::id)
    }

    /// Every output drained so far, in order (empty when not recording).
    pub fn outputs(&self) -> &[LoggedOutput] {
        &self.records.outputs
    }

    /// Every message delivered so far, in order (empty when not recording).
    pub fn deliveries(&self) -> &[Delivery] {
        &self.records.deliveries
    }

    /// Forgets the outputs and deliveries logged so far, so that a check
    /// can look at what happens from now on.
    pub fn clear_records(&mut self) {
        self.records.outputs.clear();
        self.records.deliveries.clear();
    }

    /// How many messages met each fate so far.
    pub fn counts(&self) -> MessageCounts {
        self.counts
    }
}
