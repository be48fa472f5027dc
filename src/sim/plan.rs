//! Fault plans: how hostile the simulated world is during the fault phase.
//!
//! A plan holds rates and ranges, not a script: the simulator draws the
//! concrete faults (which message is lost, which node crashes after how many
//! outputs, which shape a partition takes) from its seeded RNG. A seed and a
//! plan therefore replay one run exactly.
//!
//! Every type here prints with `{:?}` as a valid Rust expression (given
//! `use duckduckgoose::sim::*`), so a plan printed by a failing run can be
//! pasted straight into a regression test.

use std::ops::RangeInclusive;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use thiserror::Error;

/// The faults injected during the fault phase of a run.
///
/// Per-message faults (`loss_probability`, `duplicate_probability`, latency)
/// apply to every message independently; crashes are decided after every
/// input a node handles; partitions, garbage and commands happen at random
/// intervals. After the fault phase the simulator heals everything (see
/// [`SimConfig`](super::SimConfig)).
#[derive(Clone, Debug, PartialEq)]
pub struct FaultPlan {
    /// Base one-way latency of each directed link, drawn once per link at
    /// the start of a run, in microseconds.
    pub link_latency_us: RangeInclusive<u64>,
    /// Extra delay drawn for every message from `0..=jitter_us`. When it
    /// exceeds the gap between two sends, messages overtake each other: this
    /// is how the simulator reorders.
    pub jitter_us: u64,
    /// Probability that a message is lost.
    pub loss_probability: f64,
    /// Probability that a message that is not lost is delivered twice (each
    /// copy with its own jitter).
    pub duplicate_probability: f64,
    /// Probability that a node crashes at each point where the host could
    /// stop while it drains the outputs of one input: before the first
    /// output, between any two, after the last. The outputs after the crash
    /// point are lost; a `Persist` before it is durable, one after it is not.
    pub crash_probability: f64,
    /// How long a crashed node stays down before it restarts from its
    /// persisted state, in microseconds.
    pub restart_delay_us: RangeInclusive<u64>,
    /// Network partitions, if any.
    pub partitions: Option<PartitionPlan>,
    /// Interval between two messages injected from ids outside the cluster,
    /// with arbitrary content, in microseconds; `None` for no garbage.
    pub garbage_every_us: Option<RangeInclusive<u64>>,
    /// Operator commands issued during the fault phase, if any.
    pub commands: Option<CommandPlan>,
}

/// Operator commands the simulator issues at random intervals:
/// [`campaign`](crate::core::Election::campaign) to a random node,
/// [`step_down`](crate::core::Election::step_down) and
/// [`transfer_leadership`](crate::core::Election::transfer_leadership) (to a
/// random node) to the Goose if there is one; and membership changes:
/// [`propose_add`](crate::core::Election::propose_add) of a spare node (see
/// [`SimConfig::spare_nodes`](super::SimConfig::spare_nodes)) and
/// [`propose_remove`](crate::core::Election::propose_remove) of any member
/// (the Goose itself included) to the Goose if there is one, and
/// [`leave`](crate::core::Election::leave) on a random node. Refused commands
/// are fine: they must change nothing.
///
/// The membership weights are zero unless set, and a plan whose membership
/// weights are all zero draws exactly what it drew before they existed, so
/// old seeds replay unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandPlan {
    /// Interval between two commands, in microseconds.
    pub every_us: RangeInclusive<u64>,
    /// Relative weight of `campaign`.
    pub campaign: u32,
    /// Relative weight of `step_down`.
    pub step_down: u32,
    /// Relative weight of `transfer_leadership`.
    pub transfer: u32,
    /// Relative weight of `propose_add` of a spare node (when every spare
    /// has been used, of an existing member, which must change nothing or
    /// only record its address).
    pub add: u32,
    /// Relative weight of `propose_remove` of a member.
    pub remove: u32,
    /// Relative weight of `leave` on a random node.
    pub leave: u32,
}

impl CommandPlan {
    /// Every leadership command (`campaign`, `step_down`, transfer), equally
    /// likely, every `every_us`; no membership change.
    pub fn all(every_us: RangeInclusive<u64>) -> Self {
        CommandPlan {
            every_us,
            campaign: 1,
            step_down: 1,
            transfer: 1,
            add: 0,
            remove: 0,
            leave: 0,
        }
    }

    /// The same plan with membership changes too: adds weighted 2, removals
    /// and leaves 1 each, so that clusters grow about as often as they
    /// shrink.
    #[must_use]
    pub fn with_membership_changes(mut self) -> Self {
        self.add = 2;
        self.remove = 1;
        self.leave = 1;
        self
    }

    /// Whether any membership command can be drawn.
    pub fn changes_membership(&self) -> bool {
        self.add > 0 || self.remove > 0 || self.leave > 0
    }

    pub(crate) fn total(&self) -> u64 {
        [
            self.campaign,
            self.step_down,
            self.transfer,
            self.add,
            self.remove,
            self.leave,
        ]
        .into_iter()
        .map(u64::from)
        .sum()
    }
}

/// How the network splits during the fault phase.
///
/// Every `change_every_us` the simulator replaces the current partition with
/// a new one, of a shape drawn by the weights in `shapes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionPlan {
    /// How long each partition lasts before the next one replaces it, in
    /// microseconds.
    pub change_every_us: RangeInclusive<u64>,
    /// Relative weights of the shapes.
    pub shapes: PartitionShapes,
}

/// Relative weights of the partition shapes; at least one must be non-zero.
///
/// Links are directed: a partition is a set of `(from, to)` pairs whose
/// messages are dropped when sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionShapes {
    /// The cluster splits into two sides that cannot reach each other.
    pub symmetric: u32,
    /// One side's messages to the other side are dropped; the other way
    /// works.
    pub one_way: u32,
    /// Some pairs of nodes cannot reach each other while both still reach
    /// the rest: A sees B, B sees C, A does not see C.
    pub partial: u32,
    /// Everything is connected until the next change.
    pub connected: u32,
}

impl PartitionShapes {
    /// Every shape, equally likely.
    pub fn all() -> Self {
        PartitionShapes {
            symmetric: 1,
            one_way: 1,
            partial: 1,
            connected: 1,
        }
    }

    pub(crate) fn total(&self) -> u64 {
        u64::from(self.symmetric)
            + u64::from(self.one_way)
            + u64::from(self.partial)
            + u64::from(self.connected)
    }
}

/// Why a [`FaultPlan`] was rejected.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A probability is not within `[0, 1]` (or is NaN).
    #[error("{name} = {value} is not a probability in [0, 1]")]
    NotAProbability {
        /// The field.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// A range's start is above its end.
    #[error("{name} is empty: {start} > {end}")]
    EmptyRange {
        /// The field.
        name: &'static str,
        /// The start.
        start: u64,
        /// The end.
        end: u64,
    },
    /// An interval can be zero, which would schedule infinitely many events
    /// at one instant.
    #[error("{name} must be at least 1 microsecond")]
    ZeroInterval {
        /// The field.
        name: &'static str,
    },
    /// Every partition shape has weight zero.
    #[error("partition shapes all have weight zero")]
    NoPartitionShape,
    /// Every command has weight zero.
    #[error("commands all have weight zero")]
    NoCommand,
}

impl FaultPlan {
    /// A perfect network: fixed 1 ms latency, no loss, no crash, no
    /// partition, no garbage, no command.
    pub fn none() -> Self {
        FaultPlan {
            link_latency_us: 1_000..=1_000,
            jitter_us: 0,
            loss_probability: 0.0,
            duplicate_probability: 0.0,
            crash_probability: 0.0,
            restart_delay_us: 0..=0,
            partitions: None,
            garbage_every_us: None,
            commands: None,
        }
    }

    /// A random plan derived from `seed` alone, covering every fault kind
    /// with roughly the ranges of
    /// [`strategy::arb_fault_plan`](super::strategy::arb_fault_plan). Soak
    /// tests use it so that one number replays a run.
    pub fn random(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let latency_min_us = rng.random_range(100..=5_000);
        let latency_max_us = latency_min_us + rng.random_range(0..=20_000);
        let restart_min_us = rng.random_range(0..=500_000);
        let restart_max_us = restart_min_us + rng.random_range(0..=1_500_000);
        let partitions = rng.random_bool(0.7).then(|| {
            let min_us = rng.random_range(100_000..=1_000_000);
            PartitionPlan {
                change_every_us: min_us..=min_us + rng.random_range(0..=2_000_000),
                shapes: PartitionShapes {
                    symmetric: rng.random_range(0..=3),
                    one_way: rng.random_range(0..=3),
                    partial: rng.random_range(0..=3),
                    // Never all zero: a connected spell is always possible.
                    connected: rng.random_range(1..=3),
                },
            }
        });
        let garbage_every_us = rng.random_bool(0.5).then(|| {
            let min_us = rng.random_range(10_000..=200_000);
            min_us..=min_us + rng.random_range(0..=200_000)
        });
        let commands = rng.random_bool(0.5).then(|| {
            let min_us = rng.random_range(100_000..=1_000_000);
            CommandPlan {
                every_us: min_us..=min_us + rng.random_range(0..=1_000_000),
                campaign: rng.random_range(0..=2),
                step_down: rng.random_range(0..=2),
                // Never all zero.
                transfer: rng.random_range(1..=2),
                add: 0,
                remove: 0,
                leave: 0,
            }
        });
        FaultPlan {
            link_latency_us: latency_min_us..=latency_max_us,
            jitter_us: rng.random_range(0..=30_000),
            loss_probability: rng.random_range(0.0..=0.3),
            duplicate_probability: rng.random_range(0.0..=0.2),
            crash_probability: rng.random_range(0.0..=0.003),
            restart_delay_us: restart_min_us..=restart_max_us,
            partitions,
            garbage_every_us,
            commands,
        }
    }

    /// [`FaultPlan::random`] of the same seed, with membership changes among
    /// the commands: the same faults, and a command plan (drawn from a second
    /// stream derived from `seed`, so the faults stay those of
    /// `random(seed)`) whose add, remove and leave weights are drawn too,
    /// adds always possible.
    pub fn random_with_membership(seed: u64) -> Self {
        const STREAM: u64 = 0x6d65_6d62_6572_7321; // "members!"
        let mut plan = FaultPlan::random(seed);
        let mut rng = StdRng::seed_from_u64(seed ^ STREAM);
        let min_us = rng.random_range(100_000..=1_000_000);
        let mut commands = plan.commands.take().unwrap_or(CommandPlan {
            every_us: min_us..=min_us + rng.random_range(0..=1_000_000),
            campaign: rng.random_range(0..=1),
            step_down: rng.random_range(0..=1),
            transfer: rng.random_range(0..=1),
            add: 0,
            remove: 0,
            leave: 0,
        });
        commands.add = rng.random_range(1..=3);
        commands.remove = rng.random_range(0..=2);
        commands.leave = rng.random_range(0..=1);
        plan.commands = Some(commands);
        plan
    }

    /// Checks every field, returning the first problem.
    pub fn validate(&self) -> Result<(), PlanError> {
        probability("loss_probability", self.loss_probability)?;
        probability("duplicate_probability", self.duplicate_probability)?;
        probability("crash_probability", self.crash_probability)?;
        non_empty("link_latency_us", &self.link_latency_us)?;
        non_empty("restart_delay_us", &self.restart_delay_us)?;
        if let Some(partitions) = &self.partitions {
            interval("partitions.change_every_us", &partitions.change_every_us)?;
            if partitions.shapes.total() == 0 {
                return Err(PlanError::NoPartitionShape);
            }
        }
        if let Some(every) = &self.garbage_every_us {
            interval("garbage_every_us", every)?;
        }
        if let Some(commands) = &self.commands {
            interval("commands.every_us", &commands.every_us)?;
            if commands.total() == 0 {
                return Err(PlanError::NoCommand);
            }
        }
        Ok(())
    }
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan::none()
    }
}

fn probability(name: &'static str, value: f64) -> Result<(), PlanError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(PlanError::NotAProbability { name, value })
    }
}

pub(crate) fn non_empty(name: &'static str, range: &RangeInclusive<u64>) -> Result<(), PlanError> {
    if range.start() <= range.end() {
        Ok(())
    } else {
        Err(PlanError::EmptyRange {
            name,
            start: *range.start(),
            end: *range.end(),
        })
    }
}

fn interval(name: &'static str, range: &RangeInclusive<u64>) -> Result<(), PlanError> {
    non_empty(name, range)?;
    if *range.start() == 0 {
        return Err(PlanError::ZeroInterval { name });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_plans_are_valid_and_seeded() {
        for seed in 0..200 {
            let plan = FaultPlan::random(seed);
            assert_eq!(plan.validate(), Ok(()), "seed {seed}: {plan:?}");
            assert_eq!(plan, FaultPlan::random(seed));
        }
        assert_ne!(FaultPlan::random(1), FaultPlan::random(2));
    }

    #[test]
    fn membership_plans_keep_the_faults_of_their_seed() {
        for seed in 0..200 {
            let plain = FaultPlan::random(seed);
            let plan = FaultPlan::random_with_membership(seed);
            assert_eq!(plan.validate(), Ok(()), "seed {seed}: {plan:?}");
            assert_eq!(plan, FaultPlan::random_with_membership(seed));
            let commands = plan.commands.clone().expect("always commands");
            assert!(commands.add > 0 && commands.changes_membership());
            // Everything but the command plan is the plain plan's.
            assert_eq!(
                FaultPlan {
                    commands: plain.commands.clone(),
                    ..plan
                },
                plain
            );
            assert!(
                !plain
                    .commands
                    .is_some_and(|commands| commands.changes_membership())
            );
        }
    }

    #[test]
    fn validate_rejects_bad_fields() {
        let mut plan = FaultPlan::none();
        plan.loss_probability = f64::NAN;
        assert!(matches!(
            plan.validate(),
            Err(PlanError::NotAProbability { .. })
        ));
        let mut plan = FaultPlan::none();
        plan.garbage_every_us = Some(0..=10);
        assert_eq!(
            plan.validate(),
            Err(PlanError::ZeroInterval {
                name: "garbage_every_us"
            })
        );
        let mut plan = FaultPlan::none();
        plan.partitions = Some(PartitionPlan {
            change_every_us: 1..=1,
            shapes: PartitionShapes {
                symmetric: 0,
                one_way: 0,
                partial: 0,
                connected: 0,
            },
        });
        assert_eq!(plan.validate(), Err(PlanError::NoPartitionShape));
    }
}
