//! Scripted control, in the style of turmoil: faults and commands aimed at
//! named nodes (or at whoever is the Goose), and read access to the cluster
//! between steps. Each method is one [`Action`] performed now; a
//! [`Schedule`](crate::sim::Schedule) performs the same actions at set
//! times. Every action is recorded in the trace and followed by the same
//! checks as an event.

use thiserror::Error;

use super::Simulation;
use super::host::Answer;
use crate::core::{CommandError, Election, MembershipError, MembershipId, NodeId};
use crate::sim::checker::index_of;
use crate::sim::report::SimFailure;
use crate::sim::schedule::{Action, LinkFaults, PersistSide, ScheduleError, Target};
use crate::sim::trace::SimCommand;

/// Why a scripted action was not performed. Nothing changed, except for
/// [`Failed`](Self::Failed).
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The action is invalid whenever it runs: it names a node the
    /// simulation does not have, a pause of zero, a clock rate out of
    /// range, invalid link faults or an empty partition (the checks a
    /// [`Schedule`](crate::sim::Schedule) gets before the run).
    #[error(transparent)]
    Invalid(#[from] ScheduleError),
    /// The action names the current Goose and no node is the Goose now.
    #[error("no node is the Goose now")]
    NoGoose,
    /// The node is down (crashed and not restarted).
    #[error("n{0} is down")]
    Down(NodeId),
    /// The node is a spare that has not joined the cluster yet.
    #[error("n{0} has not joined the cluster")]
    NotJoined(NodeId),
    /// `restart` of a node that is up.
    #[error("n{0} is already up")]
    AlreadyUp(NodeId),
    /// A command to a node whose process is paused: it cannot answer.
    #[error("n{0} is paused")]
    Paused(NodeId),
    /// The run has broken an invariant, at this action or before it; the
    /// simulation stays failed.
    #[error("{0}")]
    Failed(Box<SimFailure>),
}

impl From<SimFailure> for ControlError {
    fn from(failure: SimFailure) -> Self {
        ControlError::Failed(Box::new(failure))
    }
}

impl From<NodeId> for Target {
    fn from(id: NodeId) -> Self {
        Target::Node(id)
    }
}

impl Simulation {
    // ----- looking ------------------------------------------------------------

    /// Read access to node `id`'s election while it is up (paused or not):
    /// its status, role, term, membership, counters. `None` for a node that
    /// is down, has not joined, or does not exist.
    pub fn node(&self, id: NodeId) -> Option<&Election> {
        self.nodes.get(index_of(id)?)?.election.as_ref()
    }

    /// Whether node `id`'s process is paused now.
    pub fn is_paused(&self, id: NodeId) -> bool {
        index_of(id)
            .and_then(|index| self.nodes.get(index))
            .is_some_and(|node| node.pause.is_some())
    }

    /// Node `id`'s clock rate, in parts per million away from real time.
    pub fn clock_rate_ppm(&self, id: NodeId) -> Option<i64> {
        Some(self.nodes.get(index_of(id)?)?.clock_rate_ppm)
    }

    // ----- the network ----------------------------------------------------------

    /// Cuts both directions between `a` and `b` until [`repair`](Self::repair),
    /// [`heal_all`](Self::heal_all) or the end of the fault phase.
    pub fn cut(&mut self, a: impl Into<Target>, b: impl Into<Target>) -> Result<(), ControlError> {
        self.perform(Action::Cut(a.into(), b.into()))
    }

    /// Cuts the messages from `from` to `to` only: `to` still reaches `from`.
    pub fn cut_one_way(
        &mut self,
        from: impl Into<Target>,
        to: impl Into<Target>,
    ) -> Result<(), ControlError> {
        self.perform(Action::CutOneWay(from.into(), to.into()))
    }

    /// Repairs both directions between `a` and `b`, whether the script or the
    /// plan's partitions cut them.
    pub fn repair(
        &mut self,
        a: impl Into<Target>,
        b: impl Into<Target>,
    ) -> Result<(), ControlError> {
        self.perform(Action::Repair(a.into(), b.into()))
    }

    /// Cuts `node` from every other node, both ways.
    pub fn isolate(&mut self, node: impl Into<Target>) -> Result<(), ControlError> {
        self.perform(Action::Isolate(node.into()))
    }

    /// Removes every cut, scripted or drawn by the plan (whose partitions
    /// carry on at their next change). Links keep faults set with
    /// [`set_link`](Self::set_link).
    pub fn heal_all(&mut self) -> Result<(), ControlError> {
        self.perform(Action::HealAll)
    }

    /// Replaces the scripted cuts with a partition: two nodes reach each
    /// other only if some group holds both. Groups may overlap: a node in
    /// two groups bridges them (it reaches everyone, the two sides do not
    /// reach each other). A node in no group reaches nobody.
    pub fn partition(&mut self, groups: &[&[NodeId]]) -> Result<(), ControlError> {
        let groups = groups
            .iter()
            .map(|group| group.iter().copied().map(Target::Node).collect())
            .collect();
        self.perform(Action::Partition(groups))
    }

    /// Gives the link from `from` to `to` its own latency, jitter, loss and
    /// duplication, replacing the plan's (and the healed latency) on that
    /// link until the end of the fault phase.
    pub fn set_link(
        &mut self,
        from: impl Into<Target>,
        to: impl Into<Target>,
        faults: LinkFaults,
    ) -> Result<(), ControlError> {
        self.perform(Action::SetLink(from.into(), to.into(), faults))
    }

    // ----- processes ----------------------------------------------------------

    /// Crashes `node` now, between two inputs: its volatile state is lost,
    /// its disk kept. It stays down until [`restart`](Self::restart) or the
    /// end of the fault phase.
    pub fn crash(&mut self, node: impl Into<Target>) -> Result<(), ControlError> {
        self.perform(Action::Crash(node.into()))
    }

    /// Crashes `node` at its host's next persist (a `Persist` or
    /// `PersistMembership` output): just before the host makes it durable,
    /// or just after. Everything after the crash point is lost; the node
    /// stays down until restarted. The node runs normally until then.
    pub fn crash_at_persist(
        &mut self,
        node: impl Into<Target>,
        side: PersistSide,
    ) -> Result<(), ControlError> {
        self.perform(Action::CrashAtPersist(node.into(), side))
    }

    /// Restarts a crashed node from its disk (hard state and membership), as
    /// a new `Election`.
    pub fn restart(&mut self, node: impl Into<Target>) -> Result<(), ControlError> {
        self.perform(Action::Restart(node.into()))
    }

    /// Pauses `node`'s process for `duration_us` (a SIGSTOP, a long GC, a
    /// frozen VM): no ticks and no message handling; messages wait for it
    /// and are handled in order when it resumes, still believing what it
    /// believed. Its clock runs on: once resumed, its ticks lag real time,
    /// and it counts as the Goose only while its real-time lease holds (see
    /// [`goose`](Self::goose)). Pausing a paused node extends the pause.
    pub fn pause(&mut self, node: impl Into<Target>, duration_us: u64) -> Result<(), ControlError> {
        self.perform(Action::Pause(node.into(), duration_us))
    }

    /// Sets `node`'s clock rate, in parts per million away from real time
    /// (positive: fast), from its next tick on. Within the election's
    /// `drift_bound_ppm` every promise must hold; beyond it (a negative
    /// control) leases can overlap.
    pub fn set_clock_rate_ppm(
        &mut self,
        node: impl Into<Target>,
        ppm: i64,
    ) -> Result<(), ControlError> {
        self.perform(Action::SetClockRatePpm(node.into(), ppm))
    }

    // ----- commands -------------------------------------------------------------

    /// [`Election::campaign`] on `node`; the inner result is the core's
    /// answer.
    pub fn campaign(
        &mut self,
        node: impl Into<Target>,
    ) -> Result<Result<(), CommandError>, ControlError> {
        self.leadership(node.into(), SimCommand::Campaign)
    }

    /// [`Election::step_down`] on `node`; the inner result is the core's
    /// answer.
    pub fn step_down(
        &mut self,
        node: impl Into<Target>,
    ) -> Result<Result<(), CommandError>, ControlError> {
        self.leadership(node.into(), SimCommand::StepDown)
    }

    /// [`Election::transfer_leadership`] to `to`, on `node`; the inner
    /// result is the core's answer.
    pub fn transfer(
        &mut self,
        node: impl Into<Target>,
        to: NodeId,
    ) -> Result<Result<(), CommandError>, ControlError> {
        self.leadership(node.into(), SimCommand::Transfer(to))
    }

    /// [`Election::propose_add`] of `id` (at the address the simulator gives
    /// it), on `node`. A spare that a committed membership names joins, as
    /// with the plan's commands.
    pub fn propose_add(
        &mut self,
        node: impl Into<Target>,
        id: NodeId,
    ) -> Result<Result<MembershipId, MembershipError>, ControlError> {
        self.membership_change(node.into(), SimCommand::AddNode(id))
    }

    /// [`Election::propose_remove`] of `id`, on `node`.
    pub fn propose_remove(
        &mut self,
        node: impl Into<Target>,
        id: NodeId,
    ) -> Result<Result<MembershipId, MembershipError>, ControlError> {
        self.membership_change(node.into(), SimCommand::RemoveNode(id))
    }

    /// [`Election::leave`] on `node`.
    pub fn leave(
        &mut self,
        node: impl Into<Target>,
    ) -> Result<Result<(), MembershipError>, ControlError> {
        match self.act(Action::Command(node.into(), SimCommand::Leave))? {
            Answer::Left(answer) => Ok(answer),
            other => unreachable!("leave answers with a membership result, not {other:?}"),
        }
    }

    /// Performs one scripted action now, as a schedule would: the general
    /// form of the methods above, for actions built as data.
    pub fn perform(&mut self, action: Action) -> Result<(), ControlError> {
        self.act(action).map(|_| ())
    }

    fn leadership(
        &mut self,
        node: Target,
        command: SimCommand,
    ) -> Result<Result<(), CommandError>, ControlError> {
        match self.act(Action::Command(node, command))? {
            Answer::Leadership(answer) => Ok(answer),
            other => unreachable!("{command} answers with a command result, not {other:?}"),
        }
    }

    fn membership_change(
        &mut self,
        node: Target,
        command: SimCommand,
    ) -> Result<Result<MembershipId, MembershipError>, ControlError> {
        match self.act(Action::Command(node, command))? {
            Answer::Proposed(answer) => Ok(answer),
            other => unreachable!("{command} answers with a membership result, not {other:?}"),
        }
    }
}
