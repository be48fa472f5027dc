//! Scripted faults as data: a timed list of actions, each naming nodes (or
//! "whoever is the Goose then"), that a [`FaultPlan`](super::FaultPlan)
//! carries beside its random faults and that a run replays from its seed.
//!
//! Every action is also a method on [`Simulation`](super::Simulation)
//! (`cut`, `pause`, `crash_at_persist`, ...): a schedule is the same script
//! written down, so that a failing run prints it and replays it.

use crate::core::NodeId;
use crate::sim::SimCommand;

/// The node an action applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
/// Prints with `{:?}` as the struct literal that builds it.
#[derive(Clone, Copy, Debug, PartialEq)]
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
#[derive(Clone, Debug, PartialEq)]
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
    /// nobody.
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
    /// Pause a node's process for this many microseconds.
    Pause(Target, u64),
    /// Set a node's clock rate, in parts per million away from real time.
    SetClockRatePpm(Target, i64),
    /// Issue an operator command to a node.
    Command(Target, SimCommand),
}

impl LinkFaults {
    /// Checks that both probabilities are within `[0, 1]`.
    pub fn validate(&self) -> Result<(), crate::sim::PlanError> {
        for (name, value) in [
            ("loss_probability", self.loss_probability),
            ("duplicate_probability", self.duplicate_probability),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(crate::sim::PlanError::NotAProbability { name, value });
            }
        }
        Ok(())
    }
}
