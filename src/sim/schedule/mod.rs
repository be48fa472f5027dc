//! Scripted faults as data: a timed list of actions, each naming nodes (or
//! "whoever is the Goose then"), that a [`FaultPlan`](super::FaultPlan)
//! carries beside its random faults and that a run replays from its seed.
//!
//! Every action is also a method on [`Simulation`](super::Simulation)
//! (`cut`, `pause`, `crash_at_persist`, ...): a schedule is the same script
//! written down, so that a failing run prints it and replays it.
//!
//! Every type here prints with `{:?}` as the Rust expression that builds it
//! (given `use duckduckgoose::sim::*;` and
//! `use duckduckgoose::core::NodeId;`), so a schedule printed by a failing
//! run pastes straight into a regression test.

use crate::core::NodeId;
use crate::sim::SimCommand;

mod print;
#[cfg(test)]
mod tests;
mod validate;

pub use validate::ScheduleError;
// For the simulation's control methods, which check a rate set directly.
#[cfg_attr(not(test), allow(unused_imports))]
pub(crate) use validate::{check_clock_rate_ppm, validate_action};

/// The node an action applies to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// This node.
    Node(NodeId),
    /// The node that is the Goose when the action runs, judged as
    /// [`Simulation::goose`](super::Simulation::goose) judges (role and
    /// real-time lease). With no Goose at that instant, the action is
    /// skipped, and the trace says so.
    Goose,
}

/// Which side of a persist a scripted crash falls on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PersistSide {
    /// The host crashes just before it makes the output durable: the
    /// `Persist` (or `PersistMembership`) and everything after it are lost.
    Before,
    /// The host crashes just after the output is durable: what follows it
    /// (the sends and events it guards) is lost.
    After,
}

/// The faults of one directed link, replacing the plan's for that link
/// until the heal at the end of the fault phase (or until replaced).
///
/// Prints with `{:?}` as the struct literal that builds it (a non-finite
/// probability as `f64::NAN`, `f64::INFINITY` or `f64::NEG_INFINITY`).
///
/// Checked by [`validate`](Self::validate), which
/// [`Schedule::validate`] calls for every [`Action::SetLink`].
#[derive(Clone, Copy, PartialEq)]
pub struct LinkFaults {
    /// One-way latency of every message on the link, in microseconds.
    pub latency_us: u64,
    /// Extra delay drawn for every message from `0..=jitter_us`; above the
    /// gap between two sends, it reorders.
    pub jitter_us: u64,
    /// Probability that a message is lost, in `[0, 1]`.
    pub loss_probability: f64,
    /// Probability that a message that is not lost arrives twice, in
    /// `[0, 1]`.
    pub duplicate_probability: f64,
}

/// One scripted action. Each has a method of the same name on
/// [`Simulation`](super::Simulation), whose docs say what it does.
///
/// What [`Schedule::validate`] checks of each is on its variant.
#[derive(Clone, PartialEq)]
pub enum Action {
    /// Cut both directions between two nodes.
    Cut(Target, Target),
    /// Cut the messages from the first node to the second only.
    CutOneWay(Target, Target),
    /// Repair both directions between two nodes (cut by script or plan).
    Repair(Target, Target),
    /// Cut a node from every other node, both ways.
    Isolate(Target),
    /// Remove every cut, scripted or drawn by the plan.
    HealAll,
    /// Only nodes that share a group reach each other; groups may overlap
    /// (a node in two groups bridges them) and a node in no group reaches
    /// nobody. At least one group must name a node (to cut every node from
    /// every other, isolate them).
    Partition(Vec<Vec<Target>>),
    /// Give the directed link from the first node to the second its own
    /// faults.
    SetLink(Target, Target, LinkFaults),
    /// Crash a node now, between two inputs; it stays down until restarted.
    Crash(Target),
    /// Crash a node at its host's next persist, on the given side of it.
    CrashAtPersist(Target, PersistSide),
    /// Restart a crashed node from its disk.
    Restart(Target),
    /// Pause a node's process for this many microseconds, at least 1.
    Pause(Target, u64),
    /// Set a node's clock rate, in parts per million away from real time,
    /// within `-999_999..=1_000_000_000`: the clock must run forward, and at
    /// most 1001 times real time.
    SetClockRatePpm(Target, i64),
    /// Issue an operator command to a node. The node a command names
    /// (the target of a transfer, the node an add or a removal names) must
    /// be one of the run's ids too.
    Command(Target, SimCommand),
}

/// The slowest clock rate an action may set, in parts per million away from
/// real time: a millionth of real time. A rate of `-1_000_000` would stop
/// the clock, and a lower one run it backwards, which no host's clock does.
pub(crate) const MIN_CLOCK_RATE_PPM: i64 = -999_999;

/// The fastest clock rate an action may set, in parts per million away from
/// real time: 1001 times real time. Far beyond any drift a real clock has
/// (a node at this rate times out a thousand times early), and it keeps the
/// tick period arithmetic far from overflow.
pub(crate) const MAX_CLOCK_RATE_PPM: i64 = 1_000_000_000;

/// A script of faults: [`Action`]s at instants of virtual time, in
/// microseconds since the start of the run.
///
/// A [`FaultPlan`](super::FaultPlan) carries one
/// ([`with_schedule`](super::FaultPlan::with_schedule)) beside its random
/// faults, so that a hand-picked scenario (this partition, then this crash)
/// runs with the same seeded world around it and replays from the seed.
/// Actions run in time order, actions at the same instant in the order they
/// were added. [`validate`](Self::validate) checks the node ids against the
/// run's; [`Simulation::new`](super::Simulation::new) calls it.
///
/// Prints with `{:?}` as the builder chain that makes it.
///
/// ```
/// use duckduckgoose::core::NodeId;
/// use duckduckgoose::sim::{Action, FaultPlan, Schedule, SimConfig, Simulation, Target};
///
/// let node = |id| Target::Node(NodeId(id));
/// // n3 bridges {n1, n2} and {n4, n5}: both sides see it, not each other.
/// let bridge = vec![vec![node(1), node(2), node(3)], vec![node(3), node(4), node(5)]];
/// let schedule = Schedule::new()
///     .at(1_000_000, Action::Partition(bridge))
///     .at(2_000_000, Action::Crash(Target::Goose))
///     .at(3_000_000, Action::HealAll);
/// assert_eq!(schedule.len(), 3);
/// assert_eq!(schedule.validate(5), Ok(()));
/// // Prints as the code that builds it, to paste into a regression test.
/// assert!(format!("{schedule:?}").ends_with(
///     ".at(2000000, Action::Crash(Target::Goose)).at(3000000, Action::HealAll)"
/// ));
///
/// let plan = FaultPlan::none().with_schedule(schedule);
/// assert!(Simulation::new(SimConfig::new(5, 7).with_faults(plan.clone())).is_ok());
/// // Three nodes have no n4 or n5.
/// assert!(Simulation::new(SimConfig::new(3, 7).with_faults(plan)).is_err());
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Schedule {
    /// Sorted by time; ties in the order they were added.
    actions: Vec<(u64, Action)>,
}

impl Schedule {
    /// An empty schedule: no scripted fault.
    pub fn new() -> Self {
        Schedule::default()
    }

    /// The same schedule with `action` at `at_us` microseconds of virtual
    /// time, after any action already at that instant.
    #[must_use]
    pub fn at(mut self, at_us: u64, action: Action) -> Self {
        let index = self.actions.partition_point(|(time, _)| *time <= at_us);
        self.actions.insert(index, (at_us, action));
        self
    }

    /// Every action with its time, in the order they run: by time, ties in
    /// the order they were added.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (u64, &Action)> + DoubleEndedIterator {
        self.actions.iter().map(|(at_us, action)| (*at_us, action))
    }

    /// How many actions the schedule holds.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether the schedule holds no action.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}
