//! What a run returns: figures when it passes, a replayable failure when it
//! does not.

use std::fmt;

use super::checker::Violation;
use super::config::SimConfig;
use super::trace::TraceEvent;
use crate::core::{NodeId, Term};

/// Counts of what happened in a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimStats {
    /// Events processed (ticks, deliveries, crashes, restarts, ...).
    pub events: u64,
    /// Ticks delivered to nodes.
    pub ticks: u64,
    /// Messages nodes handed to the network.
    pub messages_sent: u64,
    /// Messages handed to their destination (duplicates count twice).
    pub messages_delivered: u64,
    /// Messages lost.
    pub messages_lost: u64,
    /// Messages dropped by a partition.
    pub messages_cut: u64,
    /// Messages duplicated.
    pub messages_duplicated: u64,
    /// Messages that arrived at a node that was down.
    pub messages_to_down_nodes: u64,
    /// Messages that arrived while their node's process was paused, handed
    /// to it when it resumed.
    pub messages_held_while_paused: u64,
    /// Process pauses.
    pub pauses: u64,
    /// Scripted actions performed (schedules and control methods).
    pub scripted_actions: u64,
    /// Scripted actions skipped (no Goose to aim at, a node down, ...).
    pub scripted_actions_skipped: u64,
    /// Node crashes.
    pub crashes: u64,
    /// Crashes that lost at least one output.
    pub crashes_mid_output: u64,
    /// Node restarts.
    pub restarts: u64,
    /// Partition changes.
    pub partitions: u64,
    /// Messages injected from non-members.
    pub garbage_injected: u64,
    /// Operator commands issued.
    pub commands: u64,
    /// Commands that would have made a learner lead (`campaign` on a
    /// learner, a transfer to one), all rightly refused.
    pub learner_commands_refused: u64,
    /// Membership commands issued (`propose_add`, `propose_remove`,
    /// `leave`).
    pub membership_commands: u64,
    /// Membership commands refused (not the Goose, a change already pending,
    /// not a member, the last voter, ...); a refusal changes nothing.
    pub membership_commands_refused: u64,
    /// Membership commits announced by a Goose (re-issues by new Geese
    /// included) and handled by its host.
    pub memberships_committed: u64,
    /// Spare nodes started because a committed membership named them.
    pub nodes_joined: u64,
    /// Newer memberships a node adopted from a peer's `NewerMembership`
    /// (the answer to a vote or pre-vote request made with an older one):
    /// a stale node catching up without a Goose to bring the change.
    pub memberships_from_peers: u64,
    /// Restarts of a node whose durable membership did not contain it (it
    /// was removed, or its removal was pending when it crashed): it starts
    /// as a removed node, as the runtime starts it.
    pub removed_restarts: u64,
    /// Real elections started (a term incremented).
    pub elections_started: u64,
    /// Times a node became the Goose.
    pub geese: u64,
    /// Terms that had a leader.
    pub terms_with_leader: u64,
    /// The highest term any node reached.
    pub max_term: Term,
}

/// The outcome of a run in which every invariant held, or the run so far
/// ([`Simulation::report`](super::Simulation::report)).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SimReport {
    /// The seed of the run.
    pub seed: u64,
    /// Counts of what happened.
    pub stats: SimStats,
    /// When the first Goose appeared, in microseconds of virtual time.
    pub first_goose_at_us: Option<u64>,
    /// When the fault phase ended and the network healed; `None` before.
    pub healed_at_us: Option<u64>,
    /// How long after healing a Goose followed by every node appeared;
    /// `None` until it has.
    pub goose_after_heal_us: Option<u64>,
    /// Liveness during the faults: every stretch of the fault phase in which
    /// a majority of the voters was up, running and connected both ways,
    /// with how soon it had a Goose and how many terms it used.
    pub fault_stretches: Vec<FaultStretch>,
    /// Each node's clock rate, in parts per million away from real time
    /// (drawn within the drift bound, or set by
    /// [`Simulation::set_clock_rate_ppm`](super::Simulation::set_clock_rate_ppm)),
    /// spare nodes included.
    pub clock_rates_ppm: Vec<(NodeId, i64)>,
    /// Every trace event, when [`SimConfig::record_trace`] is set; empty
    /// otherwise.
    pub trace: Vec<TraceEvent>,
}

impl SimReport {
    /// The longest wait for a Goose over the fault stretches that had one,
    /// in microseconds; `None` if none had.
    pub fn max_goose_after_us(&self) -> Option<u64> {
        self.fault_stretches
            .iter()
            .filter_map(|stretch| stretch.goose_after_us)
            .max()
    }

    /// The fault stretches that ended without a Goose.
    pub fn stretches_without_goose(&self) -> usize {
        self.fault_stretches
            .iter()
            .filter(|stretch| stretch.goose_after_us.is_none())
            .count()
    }
}

/// A stretch of the fault phase in which a majority of the voters (of the
/// latest committed membership) was up, not paused, and pairwise connected
/// both ways (no cut and a loss below 1 on every link between them): the
/// conditions under which a Goose should appear within a few election
/// timeouts.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultStretch {
    /// When the majority became connected, in microseconds.
    pub from_us: u64,
    /// When it stopped being connected (or the fault phase, or the run so
    /// far, ended).
    pub until_us: u64,
    /// The connected majority when the stretch began.
    pub majority: Vec<NodeId>,
    /// How long after `from_us` a node of that majority was the Goose with
    /// its lease held ([`Simulation::goose`](super::Simulation::goose));
    /// `None` if none was before the stretch ended.
    pub goose_after_us: Option<u64>,
    /// How far the highest term rose during the stretch.
    pub terms_used: u64,
}

/// A run that broke an invariant: the violation, the configuration that
/// replays it exactly (seed and fault plan included) and the last events.
///
/// Its `Display` is the report to paste into a bug: the violation, the
/// invariant that found it, the seed, the plan, how to replay, and the trace
/// tail.
#[derive(Clone, Debug, PartialEq)]
pub struct SimFailure {
    /// What broke.
    pub violation: Violation,
    /// The name ([`Invariant::name`](crate::sim::Invariant::name)) of the invariant that found it, so
    /// that a failure says whose promise broke: a built-in family
    /// (`"learners"`, `"memberships"`, `"election_safety"`,
    /// `"durability"`), one added with
    /// [`Simulation::with_invariant`](crate::sim::Simulation::with_invariant),
    /// or the simulator's own judgements, `"garbage"` (a non-member's
    /// message left a trace) and `"liveness"` (the healed cluster did not
    /// settle).
    pub invariant: Box<str>,
    /// The configuration of the run; `Simulation::new(config).run()`, with
    /// the same invariants added, fails again the same way.
    pub config: Box<SimConfig>,
    /// Counts up to the failure (boxed: a failure is passed by value, and
    /// should stay small).
    pub stats: Box<SimStats>,
    /// The last events before the failure, oldest first.
    pub trace_tail: Box<[TraceEvent]>,
}

impl SimFailure {
    /// The seed of the failing run.
    pub fn seed(&self) -> u64 {
        self.config.seed
    }
}

impl fmt::Display for SimFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.config;
        writeln!(f, "simulation failed: {}", self.violation)?;
        writeln!(f, "  invariant: {}", self.invariant)?;
        writeln!(f, "  seed:  {}", config.seed)?;
        writeln!(
            f,
            "  nodes: {} voters, {} learners, {} spare nodes",
            config.nodes, config.learners, config.spare_nodes
        )?;
        writeln!(f, "  plan:  {:?}", config.faults)?;
        #[cfg(feature = "__planted-bugs")]
        if let Some(mutation) = &config.mutation {
            writeln!(f, "  mutation: {mutation:?}")?;
        }
        #[cfg(feature = "__planted-bugs")]
        if let Some(bug) = &config.host_bug {
            writeln!(f, "  host bug: {bug:?}")?;
        }
        writeln!(
            f,
            "  replay: Simulation::new(config).run() with this seed and plan (and the same invariants added); full config: {config:?}"
        )?;
        writeln!(f, "  stats: {:?}", self.stats)?;
        writeln!(f, "  last {} events:", self.trace_tail.len())?;
        for event in &self.trace_tail {
            writeln!(f, "    {event}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SimFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.violation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Users return `Result<_, SimFailure>` from their own helpers; below
    /// 128 bytes, clippy's `result_large_err` leaves them alone.
    #[test]
    fn a_failure_stays_small_enough_to_return() {
        assert!(std::mem::size_of::<SimFailure>() < 128);
    }
}
