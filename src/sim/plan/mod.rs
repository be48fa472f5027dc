//! Fault plans: how hostile the simulated world is during the fault phase.
//!
//! A plan holds rates and ranges: the simulator draws the concrete faults
//! (which message is lost, which node crashes after how many outputs, which
//! shape a partition takes) from its seeded RNG. Beside them it may carry a
//! script, a [`Schedule`] of faults at chosen times. A seed and a plan
//! therefore replay one run exactly.
//!
//! Every type here prints with `{:?}` as a valid Rust expression (given
//! `use duckduckgoose::sim::*`), so a plan printed by a failing run can be
//! pasted straight into a regression test. A [`FaultPlan`] prints as
//! [`FaultPlan::none`] followed by its setters, since users cannot write it
//! as a struct literal.

use std::fmt;
use std::ops::RangeInclusive;

use thiserror::Error;

use super::schedule::Schedule;

mod random;

/// The faults injected during the fault phase of a run.
///
/// Per-message faults (`loss_probability`, `duplicate_probability`, latency)
/// apply to every message independently; crashes are decided after every
/// input a node handles; partitions, garbage and commands happen at random
/// intervals; the [`schedule`](Self::schedule)'s actions at their times.
/// After the fault phase the simulator heals everything (see
/// [`SimConfig`](super::SimConfig)).
///
/// Build one from [`FaultPlan::none`] (or [`FaultPlan::random`]) with the
/// `with_*` setters; the setters check nothing themselves,
/// [`validate`](FaultPlan::validate) checks the whole plan.
///
/// ```
/// use duckduckgoose::sim::{FaultPlan, PartitionPlan, PartitionShapes};
///
/// let plan = FaultPlan::none()
///     .with_loss_probability(0.1)
///     .with_partitions(PartitionPlan {
///         change_every_us: 100_000..=500_000,
///         shapes: PartitionShapes::all(),
///     });
/// assert!(plan.validate().is_ok());
/// ```
#[derive(Clone, PartialEq)]
#[non_exhaustive]
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
    /// Scripted faults, each at its own time, beside the random ones. Empty
    /// by default.
    pub schedule: Schedule,
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
            schedule: Schedule::new(),
        }
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

impl FaultPlan {
    /// The same plan with the base one-way latency of each directed link
    /// drawn from `link_latency_us`, in microseconds, once per link at the
    /// start of a run. Default `1_000..=1_000` (1 ms).
    ///
    /// Checked by [`validate`](Self::validate): not empty
    /// ([`PlanError::EmptyRange`]).
    #[must_use]
    pub fn with_link_latency_us(mut self, link_latency_us: RangeInclusive<u64>) -> Self {
        self.link_latency_us = link_latency_us;
        self
    }

    /// The same plan delaying every message by an extra delay drawn from
    /// `0..=jitter_us` microseconds; a jitter above the gap between two
    /// sends reorders messages. Default 0. Any value is valid.
    #[must_use]
    pub fn with_jitter_us(mut self, jitter_us: u64) -> Self {
        self.jitter_us = jitter_us;
        self
    }

    /// The same plan losing every message with probability
    /// `loss_probability`. Default 0.
    ///
    /// Checked by [`validate`](Self::validate): within `[0, 1]`
    /// ([`PlanError::NotAProbability`]).
    #[must_use]
    pub fn with_loss_probability(mut self, loss_probability: f64) -> Self {
        self.loss_probability = loss_probability;
        self
    }

    /// The same plan delivering every message that is not lost twice with
    /// probability `duplicate_probability`. Default 0.
    ///
    /// Checked by [`validate`](Self::validate): within `[0, 1]`
    /// ([`PlanError::NotAProbability`]).
    #[must_use]
    pub fn with_duplicate_probability(mut self, duplicate_probability: f64) -> Self {
        self.duplicate_probability = duplicate_probability;
        self
    }

    /// The same plan crashing a node with probability `crash_probability` at
    /// each point where the host could stop while draining the outputs of
    /// one input (see [`crash_probability`](Self::crash_probability)).
    /// Default 0.
    ///
    /// Checked by [`validate`](Self::validate): within `[0, 1]`
    /// ([`PlanError::NotAProbability`]).
    #[must_use]
    pub fn with_crash_probability(mut self, crash_probability: f64) -> Self {
        self.crash_probability = crash_probability;
        self
    }

    /// The same plan keeping a crashed node down for a delay drawn from
    /// `restart_delay_us`, in microseconds, before it restarts from its
    /// persisted state. Default `0..=0`.
    ///
    /// Checked by [`validate`](Self::validate): not empty
    /// ([`PlanError::EmptyRange`]).
    #[must_use]
    pub fn with_restart_delay_us(mut self, restart_delay_us: RangeInclusive<u64>) -> Self {
        self.restart_delay_us = restart_delay_us;
        self
    }

    /// The same plan partitioning the network as `partitions` says. None by
    /// default.
    ///
    /// Checked by [`validate`](Self::validate): an interval of at least
    /// 1 µs ([`PlanError::EmptyRange`], [`PlanError::ZeroInterval`]) and a
    /// non-zero shape weight ([`PlanError::NoPartitionShape`]).
    #[must_use]
    pub fn with_partitions(mut self, partitions: PartitionPlan) -> Self {
        self.partitions = Some(partitions);
        self
    }

    /// The same plan injecting a message with arbitrary content from an id
    /// outside the cluster every interval drawn from `garbage_every_us`, in
    /// microseconds. None by default.
    ///
    /// Checked by [`validate`](Self::validate): an interval of at least
    /// 1 µs ([`PlanError::EmptyRange`], [`PlanError::ZeroInterval`]).
    #[must_use]
    pub fn with_garbage_every_us(mut self, garbage_every_us: RangeInclusive<u64>) -> Self {
        self.garbage_every_us = Some(garbage_every_us);
        self
    }

    /// The same plan issuing operator commands as `commands` says. None by
    /// default.
    ///
    /// Checked by [`validate`](Self::validate): an interval of at least
    /// 1 µs ([`PlanError::EmptyRange`], [`PlanError::ZeroInterval`]) and a
    /// non-zero command weight ([`PlanError::NoCommand`]).
    #[must_use]
    pub fn with_commands(mut self, commands: CommandPlan) -> Self {
        self.commands = Some(commands);
        self
    }

    /// The same plan running `schedule`'s scripted actions, each at its
    /// time, beside the random faults. Empty by default.
    ///
    /// Not checked by [`validate`](Self::validate), since the node ids it
    /// may name depend on the cluster: checked by
    /// [`Simulation::new`](super::Simulation::new) with
    /// [`Schedule::validate`]
    /// ([`SimConfigError::Schedule`](super::SimConfigError::Schedule)).
    #[must_use]
    pub fn with_schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }
}

/// Prints the plan as the Rust expression that builds it:
/// [`FaultPlan::none`], then a setter for every field (the optional ones only
/// when set, the schedule only when not empty).
impl fmt::Debug for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FaultPlan::none().with_link_latency_us({:?}).with_jitter_us({:?})\
             .with_loss_probability({:?}).with_duplicate_probability({:?})\
             .with_crash_probability({:?}).with_restart_delay_us({:?})",
            self.link_latency_us,
            self.jitter_us,
            self.loss_probability,
            self.duplicate_probability,
            self.crash_probability,
            self.restart_delay_us,
        )?;
        if let Some(partitions) = &self.partitions {
            write!(f, ".with_partitions({partitions:?})")?;
        }
        if let Some(every) = &self.garbage_every_us {
            write!(f, ".with_garbage_every_us({every:?})")?;
        }
        if let Some(commands) = &self.commands {
            write!(f, ".with_commands({commands:?})")?;
        }
        if !self.schedule.is_empty() {
            write!(f, ".with_schedule({:?})", self.schedule)?;
        }
        Ok(())
    }
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan::none()
    }
}

pub(crate) fn probability(name: &'static str, value: f64) -> Result<(), PlanError> {
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
    use crate::core::NodeId;
    use crate::sim::{Action, Target};

    #[test]
    fn each_setter_sets_its_own_field() {
        let partitions = PartitionPlan {
            change_every_us: 1..=2,
            shapes: PartitionShapes::all(),
        };
        let commands = CommandPlan::all(3..=4);
        let schedule = Schedule::new().at(12, Action::HealAll);
        let built = FaultPlan::none()
            .with_link_latency_us(5..=6)
            .with_jitter_us(7)
            .with_loss_probability(0.1)
            .with_duplicate_probability(0.2)
            .with_crash_probability(0.3)
            .with_restart_delay_us(8..=9)
            .with_partitions(partitions.clone())
            .with_garbage_every_us(10..=11)
            .with_commands(commands.clone())
            .with_schedule(schedule.clone());
        let mut expected = FaultPlan::none();
        expected.link_latency_us = 5..=6;
        expected.jitter_us = 7;
        expected.loss_probability = 0.1;
        expected.duplicate_probability = 0.2;
        expected.crash_probability = 0.3;
        expected.restart_delay_us = 8..=9;
        expected.partitions = Some(partitions);
        expected.garbage_every_us = Some(10..=11);
        expected.commands = Some(commands);
        expected.schedule = schedule;
        assert_eq!(built, expected);
    }

    #[test]
    fn a_plan_prints_as_the_setters_that_build_it() {
        assert_eq!(
            format!("{:?}", FaultPlan::none()),
            "FaultPlan::none().with_link_latency_us(1000..=1000).with_jitter_us(0)\
             .with_loss_probability(0.0).with_duplicate_probability(0.0)\
             .with_crash_probability(0.0).with_restart_delay_us(0..=0)"
        );
        let plan = FaultPlan::none().with_garbage_every_us(1..=2);
        assert!(format!("{plan:?}").ends_with(".with_garbage_every_us(1..=2)"));
        // An empty schedule prints nothing; a schedule prints as its builder.
        let plan = FaultPlan::none().with_schedule(Schedule::new());
        assert_eq!(format!("{plan:?}"), format!("{:?}", FaultPlan::none()));
        let plan = FaultPlan::none()
            .with_commands(CommandPlan::all(3..=4))
            .with_schedule(Schedule::new().at(5, Action::Crash(Target::Node(NodeId(2)))));
        assert!(
            format!("{plan:?}").ends_with(
                ".with_schedule(Schedule::new().at(5, Action::Crash(Target::Node(NodeId(2)))))"
            ),
            "{plan:?}"
        );
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
