//! What one simulated run looks like: cluster size, seed, timing, faults.

use std::ops::RangeInclusive;

use thiserror::Error;

use super::plan::{FaultPlan, PlanError, non_empty};
#[cfg(feature = "__planted-bugs")]
use super::planted::{HostBug, PlantedMutation};
use super::schedule::ScheduleError;
use crate::core::{Config, ConfigError, Membership, NodeId};

/// Ids of garbage senders start here, so a cluster must be smaller.
pub(crate) const FIRST_NON_MEMBER_ID: u64 = 1_000;

/// The configuration of one simulated run.
///
/// Voters have ids `1..=nodes` and learners (non-voting members, see
/// [`Membership`]) the `learners` ids after them,
/// `nodes + 1..=nodes + learners`; [`spare_nodes`](Self::spare_nodes) more
/// ids follow, for nodes that join while the cluster runs. Every node,
/// voter, learner or joined spare, is simulated alike: it ticks, crashes,
/// restarts, is partitioned and receives garbage and commands. The run has two phases: a **fault phase** of
/// `fault_phase_us` in which [`faults`](Self::faults) apply, then a **healed
/// phase** in which partitions are gone, crashed nodes restart, nothing is
/// lost or duplicated and latency is drawn from `healed_latency_us`; a Goose
/// must then appear within [`liveness_bound_us`](Self::liveness_bound_us).
///
/// Replaying a failure needs the whole configuration, but everything except
/// `seed` and `faults` usually keeps its default. Build one with
/// [`SimConfig::new`] and the `with_*` setters; the setters check nothing
/// themselves, [`Simulation::new`](super::Simulation::new) checks the whole
/// configuration.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SimConfig {
    /// How many voters; their ids are `1..=nodes`. At least 1.
    pub nodes: usize,
    /// How many learners; their ids are `nodes + 1..=nodes + learners`.
    /// Default 0. Voters and learners together are at most 999 (ids from
    /// 1000 up are garbage senders).
    pub learners: usize,
    /// How many spare nodes: ids `nodes + learners + 1..=nodes + learners +
    /// spare_nodes`, not members at the start. A `propose_add` command (see
    /// [`CommandPlan::add`](super::CommandPlan::add)) names one; the node is
    /// started (fresh hard state) once a committed membership contains it,
    /// with that membership as its starting one, as the runtime's joiner
    /// starts from `JoinReply::Accepted`. Ids are never reused: a removed
    /// node stays out. Default 0, which draws nothing more from the RNG, so
    /// old seeds replay unchanged.
    pub spare_nodes: usize,
    /// Seeds everything random in the run.
    pub seed: u64,
    /// Election settings shared by every node. `id` and `membership` are
    /// replaced by each node's id and by voters `1..=nodes` with the
    /// learners after them.
    pub election: Config,
    /// Nominal tick length in microseconds. Each node's actual tick period
    /// is drawn so that its clock rate stays within the election's
    /// `drift_bound_ppm` of real time.
    pub tick_us: u64,
    /// Length of the fault phase, in microseconds of virtual time.
    pub fault_phase_us: u64,
    /// The healed phase must produce a Goose within this many
    /// `election_timeout_max_ticks` (measured on the slowest clock allowed);
    /// see [`liveness_bound_us`](Self::liveness_bound_us). Default 10.
    pub liveness_timeouts: u64,
    /// One-way latency of every message in the healed phase, in
    /// microseconds.
    pub healed_latency_us: RangeInclusive<u64>,
    /// The faults of the fault phase.
    pub faults: FaultPlan,
    /// Keep every trace event and return them in the report (for
    /// determinism checks and debugging). Failures always carry the last
    /// `trace_tail_len` events either way.
    pub record_trace: bool,
    /// How many trace events a failure shows.
    pub trace_tail_len: usize,
    /// A deliberate bug planted in some nodes, to show that the checkers
    /// catch it. Not for users.
    #[doc(hidden)]
    #[cfg(feature = "__planted-bugs")]
    pub mutation: Option<PlantedMutation>,
    /// A deliberate bug planted in the simulated host (not the core), to
    /// show that the checkers catch it. Not for users.
    #[doc(hidden)]
    #[cfg(feature = "__planted-bugs")]
    pub host_bug: Option<HostBug>,
}

impl SimConfig {
    /// A run of `nodes` voters and no learner, seeded with `seed`: default
    /// election timing ([`Config::new`]), 10 ms ticks, a 3 s fault phase with no faults
    /// ([`FaultPlan::none`]), a liveness bound of 10 maximum election
    /// timeouts, 0.5–1.5 ms latency once healed, no full trace.
    pub fn new(nodes: usize, seed: u64) -> Self {
        SimConfig {
            nodes,
            learners: 0,
            spare_nodes: 0,
            seed,
            election: Config::new(NodeId(1), member_ids(nodes)),
            tick_us: 10_000,
            fault_phase_us: 3_000_000,
            liveness_timeouts: 10,
            healed_latency_us: 500..=1_500,
            faults: FaultPlan::none(),
            record_trace: false,
            trace_tail_len: 40,
            #[cfg(feature = "__planted-bugs")]
            mutation: None,
            #[cfg(feature = "__planted-bugs")]
            host_bug: None,
        }
    }

    /// The same configuration seeded with `seed` instead: everything random
    /// in the run is drawn from it, so a seed and a configuration replay one
    /// run exactly. For sweeping seeds over one configuration. Any value is
    /// valid.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The same configuration with `spare_nodes` spare nodes: ids after the
    /// learners, not members at the start, for nodes that join while the
    /// cluster runs (see [`spare_nodes`](Self::spare_nodes)). Default 0.
    ///
    /// Checked by [`Simulation::new`](super::Simulation::new): voters,
    /// learners and spares together at most 999
    /// ([`SimConfigError::TooManyNodes`]).
    #[must_use]
    pub fn with_spare_nodes(mut self, spare_nodes: usize) -> Self {
        self.spare_nodes = spare_nodes;
        self
    }

    /// Every id the run may use: the members it starts with, then the
    /// spares.
    pub fn total_ids(&self) -> usize {
        self.total_nodes().saturating_add(self.spare_nodes)
    }

    /// Whether `id` is one of the spare nodes.
    pub fn is_spare(&self, id: NodeId) -> bool {
        id.0 > self.total_nodes() as u64 && id.0 <= self.total_ids() as u64
    }

    /// Whether the membership can change in this run: spare nodes exist or
    /// the command plan proposes changes. (Every new Goose still re-issues
    /// the membership under its term either way.)
    pub fn changes_membership(&self) -> bool {
        self.spare_nodes > 0
            || self
                .faults
                .commands
                .as_ref()
                .is_some_and(super::plan::CommandPlan::changes_membership)
    }

    /// The same configuration with `learners` learners (non-voting
    /// members), ids `nodes + 1..=nodes + learners`. Default 0.
    ///
    /// Checked by [`Simulation::new`](super::Simulation::new): voters,
    /// learners and spares together at most 999
    /// ([`SimConfigError::TooManyNodes`]).
    #[must_use]
    pub fn with_learners(mut self, learners: usize) -> Self {
        self.learners = learners;
        self
    }

    /// Every simulated node, voters and learners.
    pub fn total_nodes(&self) -> usize {
        self.nodes.saturating_add(self.learners)
    }

    /// Whether `id` is one of the learners.
    pub fn is_learner(&self, id: NodeId) -> bool {
        id.0 > self.nodes as u64 && id.0 <= self.total_nodes() as u64
    }

    /// The same configuration with `faults` as the plan of the fault phase.
    /// Default [`FaultPlan::none`].
    ///
    /// Checked by [`Simulation::new`](super::Simulation::new) with
    /// [`FaultPlan::validate`] ([`SimConfigError::Plan`]), and its schedule
    /// with [`Schedule::validate`](super::Schedule::validate) against
    /// [`total_ids`](Self::total_ids) ([`SimConfigError::Schedule`]).
    #[must_use]
    pub fn with_faults(mut self, faults: FaultPlan) -> Self {
        self.faults = faults;
        self
    }

    /// The same configuration with `election` as the election settings every
    /// node shares; its `id` and `membership` are replaced by each node's id
    /// and the simulated cluster's members. Default [`Config::new`].
    ///
    /// Checked by [`Simulation::new`](super::Simulation::new) with
    /// [`Config::validate`] for each node ([`SimConfigError::Election`]).
    #[must_use]
    pub fn with_election(mut self, election: Config) -> Self {
        self.election = election;
        self
    }

    /// The same configuration with a nominal tick of `tick_us`
    /// microseconds; each node's actual tick period is drawn within the
    /// election's drift bound of it. Default 10 000 (10 ms).
    ///
    /// Checked by [`Simulation::new`](super::Simulation::new): at least 1
    /// ([`SimConfigError::ZeroTick`]).
    #[must_use]
    pub fn with_tick_us(mut self, tick_us: u64) -> Self {
        self.tick_us = tick_us;
        self
    }

    /// The same configuration with a fault phase of `fault_phase_us`
    /// microseconds of virtual time, after which everything heals. Default
    /// 3 000 000 (3 s). Any value is valid.
    #[must_use]
    pub fn with_fault_phase_us(mut self, fault_phase_us: u64) -> Self {
        self.fault_phase_us = fault_phase_us;
        self
    }

    /// The same configuration requiring a Goose within `liveness_timeouts`
    /// maximum election timeouts of healing (see
    /// [`liveness_bound_us`](Self::liveness_bound_us)). Default 10. Any value
    /// is valid; too small a bound reports liveness failures that are not
    /// bugs.
    #[must_use]
    pub fn with_liveness_timeouts(mut self, liveness_timeouts: u64) -> Self {
        self.liveness_timeouts = liveness_timeouts;
        self
    }

    /// The same configuration with every message of the healed phase taking
    /// a one-way latency drawn from `healed_latency_us`, in microseconds.
    /// Default 500..=1 500.
    ///
    /// Checked by [`Simulation::new`](super::Simulation::new): not empty
    /// ([`SimConfigError::Plan`] with
    /// [`PlanError::EmptyRange`](super::PlanError::EmptyRange)).
    #[must_use]
    pub fn with_healed_latency_us(mut self, healed_latency_us: RangeInclusive<u64>) -> Self {
        self.healed_latency_us = healed_latency_us;
        self
    }

    /// The same configuration keeping every trace event (or not) and
    /// returning them in the report, for determinism checks and debugging.
    /// Default off; failures carry the last
    /// [`trace_tail_len`](Self::trace_tail_len) events either way. Any value
    /// is valid.
    #[must_use]
    pub fn with_record_trace(mut self, record_trace: bool) -> Self {
        self.record_trace = record_trace;
        self
    }

    /// The same configuration showing the last `trace_tail_len` trace events
    /// in a failure. Default 40. Any value is valid.
    #[must_use]
    pub fn with_trace_tail_len(mut self, trace_tail_len: usize) -> Self {
        self.trace_tail_len = trace_tail_len;
        self
    }

    /// How long after healing the cluster must have settled, in
    /// microseconds of virtual time: `liveness_timeouts ×
    /// election_timeout_max_ticks ×` the longest tick period the drift bound
    /// allows.
    ///
    /// When the membership can change, more: a change left pending at the
    /// heal may be the Goose removing itself, which steps down when it
    /// commits and needs a whole new election (another `liveness_timeouts`);
    /// and each spare that joined must then be promoted, which takes an
    /// unbroken run of acknowledgements spanning one maximum election
    /// timeout, plus its commit round (a few heartbeats), one joiner at a
    /// time; two maximum election timeouts per spare cover it with room for
    /// a run broken once by the new election.
    pub fn liveness_bound_us(&self) -> u64 {
        let mut timeouts = self.liveness_timeouts;
        if self.changes_membership() {
            let per_spare = 2_u64.saturating_mul(self.spare_nodes as u64);
            timeouts = timeouts
                .saturating_add(self.liveness_timeouts)
                .saturating_add(per_spare);
        }
        timeouts
            .saturating_mul(self.election.election_timeout_max_ticks)
            .saturating_mul(self.tick_period_range_us().1)
    }

    /// The shortest and longest tick period a node may have: the nominal tick
    /// divided by a clock rate in `[1 − ρ, 1 + ρ]`, rounded inwards so the
    /// bound holds exactly.
    pub(crate) fn tick_period_range_us(&self) -> (u64, u64) {
        const PPM: u128 = 1_000_000;
        let drift_ppm = u128::from(self.election.drift_bound_ppm).min(PPM - 1);
        let tick_us = u128::from(self.tick_us);
        let shortest = (tick_us * PPM).div_ceil(PPM + drift_ppm);
        let longest = tick_us * PPM / (PPM - drift_ppm);
        let clamp = |value: u128| u64::try_from(value).unwrap_or(u64::MAX).max(1);
        (clamp(shortest), clamp(longest.max(shortest)))
    }

    /// The address a node is added at: derived from its id, so that adding
    /// it again (after an add was lost) asks for the same address.
    pub fn address(id: NodeId) -> String {
        format!("n{id}.sim:7000")
    }

    /// The election configuration of node `id`.
    pub(crate) fn election_config(&self, id: NodeId) -> Config {
        let mut config = self.election.clone();
        config.id = id;
        config.membership = Membership::new(member_ids(self.nodes))
            .with_learners(learner_ids(self.nodes, self.learners));
        config
    }

    /// Checks everything that does not need a node to be built.
    pub(crate) fn validate(&self) -> Result<(), SimConfigError> {
        if self.nodes == 0 {
            return Err(SimConfigError::NoNodes);
        }
        // Ids run up to `nodes + learners + spare_nodes`; garbage senders
        // start above.
        let total = self.total_ids();
        if total as u64 >= FIRST_NON_MEMBER_ID {
            return Err(SimConfigError::TooManyNodes {
                nodes: self.nodes,
                learners: self.learners,
                spare_nodes: self.spare_nodes,
            });
        }
        if self.tick_us == 0 {
            return Err(SimConfigError::ZeroTick);
        }
        non_empty("healed_latency_us", &self.healed_latency_us)?;
        self.faults.validate()?;
        self.faults.schedule.validate(self.total_ids())?;
        Ok(())
    }
}

pub(crate) fn member_ids(nodes: usize) -> impl Iterator<Item = NodeId> {
    (1..=nodes as u64).map(NodeId)
}

/// The ids of `learners` learners after `voters` voters.
fn learner_ids(voters: usize, learners: usize) -> impl Iterator<Item = NodeId> {
    let first = voters as u64 + 1;
    (first..first + learners as u64).map(NodeId)
}

/// Why a [`SimConfig`] was rejected.
#[derive(Clone, Debug, PartialEq, Error)]
#[non_exhaustive]
pub enum SimConfigError {
    /// The cluster has no voter (learners alone cannot elect anyone).
    #[error("a simulated cluster needs at least one voter")]
    NoNodes,
    /// Voters, learners and spare nodes together take ids from 1000 up,
    /// which are reserved for garbage senders.
    #[error(
        "{nodes} voters, {learners} learners and {spare_nodes} spare nodes are too many: \
         at most 999 in all, ids from 1000 up are reserved for non-members"
    )]
    TooManyNodes {
        /// The configured number of voters.
        nodes: usize,
        /// The configured number of learners.
        learners: usize,
        /// The configured number of spare nodes.
        spare_nodes: usize,
    },
    /// `tick_us` is zero.
    #[error("tick_us must be at least 1")]
    ZeroTick,
    /// The election settings are invalid.
    #[error("invalid election config: {0}")]
    Election(#[from] ConfigError),
    /// The fault plan (or the healed latency) is invalid.
    #[error("invalid fault plan: {0}")]
    Plan(#[from] PlanError),
    /// The fault plan's schedule names a node outside the run's ids, or an
    /// action that cannot run.
    #[error("invalid schedule: {0}")]
    Schedule(#[from] ScheduleError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_setter_sets_its_own_field() {
        let election = Config::new(NodeId(1), [NodeId(1)]).with_pre_vote(false);
        let faults = FaultPlan::none().with_jitter_us(3);
        let built = SimConfig::new(3, 0)
            .with_seed(9)
            .with_learners(1)
            .with_spare_nodes(2)
            .with_election(election.clone())
            .with_tick_us(5_000)
            .with_fault_phase_us(7)
            .with_liveness_timeouts(4)
            .with_healed_latency_us(1..=2)
            .with_faults(faults.clone())
            .with_record_trace(true)
            .with_trace_tail_len(8);
        let mut expected = SimConfig::new(3, 9);
        expected.learners = 1;
        expected.spare_nodes = 2;
        expected.election = election;
        expected.tick_us = 5_000;
        expected.fault_phase_us = 7;
        expected.liveness_timeouts = 4;
        expected.healed_latency_us = 1..=2;
        expected.faults = faults;
        expected.record_trace = true;
        expected.trace_tail_len = 8;
        assert_eq!(built, expected);
    }

    #[test]
    fn tick_periods_stay_inside_the_drift_bound() {
        let config = SimConfig::new(3, 0);
        // 5% drift around 10 ms: 10 000 / 1.05 = 9523.8, 10 000 / 0.95 = 10526.3.
        assert_eq!(config.tick_period_range_us(), (9_524, 10_526));
        assert_eq!(config.liveness_bound_us(), 10 * 60 * 10_526);
    }

    #[test]
    fn validate_rejects_impossible_clusters() {
        assert_eq!(
            SimConfig::new(0, 0).validate(),
            Err(SimConfigError::NoNodes)
        );
        assert_eq!(
            SimConfig::new(1_000, 0).validate(),
            Err(SimConfigError::TooManyNodes {
                nodes: 1_000,
                learners: 0,
                spare_nodes: 0
            })
        );
        // Learners count towards the limit: ids run up to `nodes + learners`.
        assert_eq!(SimConfig::new(997, 0).with_learners(2).validate(), Ok(()));
        assert_eq!(
            SimConfig::new(997, 0).with_learners(3).validate(),
            Err(SimConfigError::TooManyNodes {
                nodes: 997,
                learners: 3,
                spare_nodes: 0
            })
        );
        // Spares too.
        assert_eq!(
            SimConfig::new(997, 0)
                .with_learners(1)
                .with_spare_nodes(2)
                .validate(),
            Err(SimConfigError::TooManyNodes {
                nodes: 997,
                learners: 1,
                spare_nodes: 2
            })
        );
        // A cluster of learners alone has no voter to elect anyone.
        assert_eq!(
            SimConfig::new(0, 0).with_learners(2).validate(),
            Err(SimConfigError::NoNodes)
        );
    }

    #[test]
    fn validate_checks_the_schedule_against_every_id() {
        use crate::sim::{Action, Schedule, Target};

        let crash = |id| Schedule::new().at(5, Action::Crash(Target::Node(NodeId(id))));
        let config = |id| {
            SimConfig::new(3, 0)
                .with_learners(1)
                .with_spare_nodes(1)
                .with_faults(FaultPlan::none().with_schedule(crash(id)))
        };
        // Voters, learners and spares may be named: ids 1..=5.
        assert_eq!(config(4).validate(), Ok(()));
        assert_eq!(config(5).validate(), Ok(()));
        assert_eq!(
            config(6).validate(),
            Err(SimConfigError::Schedule(ScheduleError::UnknownNode {
                at_us: 5,
                node: NodeId(6)
            }))
        );
        let pause = Schedule::new().at(8, Action::Pause(Target::Goose, 0));
        assert_eq!(
            SimConfig::new(3, 0)
                .with_faults(FaultPlan::none().with_schedule(pause))
                .validate(),
            Err(SimConfigError::Schedule(ScheduleError::ZeroPause {
                at_us: 8
            }))
        );
        assert_eq!(
            config(6).validate().unwrap_err().to_string(),
            "invalid schedule: the action at 5 µs names node 6, which is not one of the run's ids"
        );
    }

    #[test]
    fn learners_take_the_ids_after_the_voters() {
        let config = SimConfig::new(3, 0).with_learners(2);
        assert_eq!(config.total_nodes(), 5);
        let membership = config.election_config(NodeId(5)).membership;
        assert_eq!(
            membership.voters().collect::<Vec<_>>(),
            [NodeId(1), NodeId(2), NodeId(3)]
        );
        assert_eq!(
            membership.learners().collect::<Vec<_>>(),
            [NodeId(4), NodeId(5)]
        );
        assert!(!config.is_learner(NodeId(3)));
        assert!(config.is_learner(NodeId(4)));
        assert!(!config.is_learner(NodeId(6)));
    }

    #[test]
    fn spares_take_the_ids_after_the_learners_and_widen_the_bound() {
        let config = SimConfig::new(3, 0).with_learners(1).with_spare_nodes(2);
        assert_eq!(config.total_nodes(), 4);
        assert_eq!(config.total_ids(), 6);
        assert!(!config.is_spare(NodeId(4)));
        assert!(config.is_spare(NodeId(5)) && config.is_spare(NodeId(6)));
        assert!(!config.is_spare(NodeId(7)));
        // Spares are not members at the start.
        let membership = config.election_config(NodeId(1)).membership;
        assert!(!membership.contains(NodeId(5)));
        // 10 timeouts, 10 more for an election after a self-removal, 2 per spare.
        assert!(config.changes_membership());
        assert_eq!(config.liveness_bound_us(), (10 + 10 + 4) * 60 * 10_526);
        assert!(!SimConfig::new(3, 0).changes_membership());
    }
}
