//! What makes a schedule runnable: every node it names exists, every value
//! is one the simulator can apply. Checked before a run starts, so that a
//! bad script is an error naming the action, not a fault mid-run.

use thiserror::Error;

use super::{Action, LinkFaults, MAX_CLOCK_RATE_PPM, MIN_CLOCK_RATE_PPM, Schedule, Target};
use crate::core::NodeId;
use crate::sim::SimCommand;
use crate::sim::plan::{PlanError, probability};

/// Why a [`Schedule`] was rejected. Each names the time of the action at
/// fault, which tells the action apart from the others.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// An action names a node outside the run's ids (`1..=` voters,
    /// learners and spare nodes together), as a target or as the node a
    /// command names.
    #[error("the action at {at_us} µs names node {node}, which is not one of the run's ids")]
    UnknownNode {
        /// When the action runs, in microseconds.
        at_us: u64,
        /// The unknown id.
        node: NodeId,
    },
    /// A [`Action::SetLink`] gives a link faults that are not valid (see
    /// [`LinkFaults::validate`]).
    #[error("the action at {at_us} µs sets invalid link faults: {error}")]
    LinkFaults {
        /// When the action runs, in microseconds.
        at_us: u64,
        /// What is wrong with the faults.
        #[source]
        error: PlanError,
    },
    /// A [`Action::SetClockRatePpm`] rate would stop the clock, run it
    /// backwards, or run it more than 1001 times as fast as real time.
    #[error(
        "the action at {at_us} µs sets a clock rate of {ppm} ppm, outside \
         -999999..=1000000000 (the clock must run forward, at most 1001 times real time)"
    )]
    ClockRate {
        /// When the action runs, in microseconds.
        at_us: u64,
        /// The rejected rate, in parts per million away from real time.
        ppm: i64,
    },
    /// A [`Action::Pause`] of zero microseconds, which would pause nothing.
    #[error("the action at {at_us} µs pauses for 0 µs: a pause lasts at least 1 µs")]
    ZeroPause {
        /// When the action runs, in microseconds.
        at_us: u64,
    },
    /// A [`Action::Partition`] whose groups name no node: it would cut every
    /// node from every other, which [`Action::Isolate`] says plainly.
    #[error("the action at {at_us} µs is a partition whose groups are all empty")]
    EmptyPartition {
        /// When the action runs, in microseconds.
        at_us: u64,
    },
}

impl ScheduleError {
    /// The same error naming `at_us` as the action's time: for a check made
    /// outside a schedule (see [`check_clock_rate_ppm`]), by the caller that
    /// knows the instant.
    pub(crate) fn at(mut self, at_us: u64) -> Self {
        match &mut self {
            ScheduleError::UnknownNode { at_us: time, .. }
            | ScheduleError::LinkFaults { at_us: time, .. }
            | ScheduleError::ClockRate { at_us: time, .. }
            | ScheduleError::ZeroPause { at_us: time }
            | ScheduleError::EmptyPartition { at_us: time } => *time = at_us,
        }
        self
    }
}

impl LinkFaults {
    /// Checks the faults, returning the first problem: both probabilities
    /// within `[0, 1]` ([`PlanError::NotAProbability`], NaN included). Any
    /// latency and jitter is valid.
    pub fn validate(&self) -> Result<(), PlanError> {
        probability("loss_probability", self.loss_probability)?;
        probability("duplicate_probability", self.duplicate_probability)
    }
}

/// Checks a clock rate, in parts per million away from real time: within
/// `-999_999..=1_000_000_000`. At `-1_000_000` the clock stops and below it
/// runs backwards, which no host's clock does; the upper bound (1001 times
/// real time) is far beyond any real drift and keeps the tick period
/// arithmetic from overflowing. The error names time 0: a caller that knows
/// the instant sets it with [`ScheduleError::at`].
pub(crate) fn check_clock_rate_ppm(ppm: i64) -> Result<(), ScheduleError> {
    if (MIN_CLOCK_RATE_PPM..=MAX_CLOCK_RATE_PPM).contains(&ppm) {
        Ok(())
    } else {
        Err(ScheduleError::ClockRate { at_us: 0, ppm })
    }
}

impl Schedule {
    /// Checks every action for a run with `total_ids` ids (voters, learners
    /// and spares: [`SimConfig::total_ids`](crate::sim::SimConfig::total_ids)),
    /// returning the first problem in time order:
    ///
    /// * every node named, as a target or in a command (the target of a
    ///   transfer, the node an add or a removal names), is in
    ///   `1..=total_ids` ([`ScheduleError::UnknownNode`]);
    /// * link faults are valid ([`ScheduleError::LinkFaults`]);
    /// * clock rates are within `-999_999..=1_000_000_000` ppm
    ///   ([`ScheduleError::ClockRate`]);
    /// * a pause lasts at least 1 µs ([`ScheduleError::ZeroPause`]);
    /// * a partition names at least one node
    ///   ([`ScheduleError::EmptyPartition`]).
    ///
    /// Any time is valid: an action after the fault phase runs in the healed
    /// phase.
    pub fn validate(&self, total_ids: usize) -> Result<(), ScheduleError> {
        for (at_us, action) in self.iter() {
            validate_action(at_us, action, total_ids)?;
        }
        Ok(())
    }
}

/// Checks one action, to run at `at_us` in a run with `total_ids` ids: what
/// [`Schedule::validate`] checks of each, and what a control method checks
/// before it acts.
pub(crate) fn validate_action(
    at_us: u64,
    action: &Action,
    total_ids: usize,
) -> Result<(), ScheduleError> {
    let known = |node: NodeId| {
        if (1..=total_ids as u64).contains(&node.0) {
            Ok(())
        } else {
            Err(ScheduleError::UnknownNode { at_us, node })
        }
    };
    let target = |target: &Target| match target {
        Target::Node(node) => known(*node),
        Target::Goose => Ok(()),
    };
    match action {
        Action::Cut(a, b) | Action::CutOneWay(a, b) | Action::Repair(a, b) => {
            target(a)?;
            target(b)
        }
        Action::Isolate(node) | Action::Crash(node) | Action::Restart(node) => target(node),
        Action::CrashAtPersist(node, _) => target(node),
        Action::HealAll => Ok(()),
        Action::Partition(groups) => {
            groups.iter().flatten().try_for_each(target)?;
            if groups.iter().all(Vec::is_empty) {
                return Err(ScheduleError::EmptyPartition { at_us });
            }
            Ok(())
        }
        Action::SetLink(from, to, faults) => {
            target(from)?;
            target(to)?;
            faults
                .validate()
                .map_err(|error| ScheduleError::LinkFaults { at_us, error })
        }
        Action::Pause(node, for_us) => {
            target(node)?;
            if *for_us == 0 {
                return Err(ScheduleError::ZeroPause { at_us });
            }
            Ok(())
        }
        Action::SetClockRatePpm(node, ppm) => {
            target(node)?;
            check_clock_rate_ppm(*ppm).map_err(|error| error.at(at_us))
        }
        Action::Command(node, command) => {
            target(node)?;
            match command {
                SimCommand::Transfer(named)
                | SimCommand::AddNode(named)
                | SimCommand::RemoveNode(named) => known(*named),
                SimCommand::Campaign | SimCommand::StepDown | SimCommand::Leave => Ok(()),
            }
        }
    }
}
