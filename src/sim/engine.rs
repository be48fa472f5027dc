//! The simulation loop: pops events in time order, feeds them to the
//! elections, plays the host (persist, send), and runs the checkers after
//! every event. The host is in [`host`], the sweep after every event (and
//! who counts as the Goose) in [`sweep`], the fault plan in [`faults`],
//! garbage in [`garbage`], scripted control in [`control`] and [`script`],
//! the in-fault liveness figures in [`stretches`], and [`liveness`] judges
//! whether the healed cluster has settled.

mod control;
#[cfg(test)]
mod control_tests;
mod faults;
mod garbage;
mod host;
mod invariants;
mod liveness;
mod script;
mod stretches;
mod sweep;
#[cfg(test)]
mod tests;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use self::garbage::GarbageSource;
use self::stretches::Stretches;
use super::checker::{Checker, Violation, node_id};
use super::config::{SimConfig, SimConfigError};
use super::network::Network;
use super::queue::{EventKind, EventQueue};
use super::report::{SimFailure, SimReport, SimStats};
use super::schedule::PersistSide;
use super::trace::{Recorder, SimCommand, TraceKind};
use crate::core::{Config, Election, HardState, Membership, Message, NodeId, Output};
use crate::tick_clock::TickClock;
pub use control::ControlError;

/// A deterministic simulation of a cluster of [`Election`]s.
///
/// Build it with [`Simulation::new`], then either consume it with
/// [`Simulation::run`], or drive it yourself: [`step`](Self::step) and
/// [`run_until`](Self::run_until) advance virtual time, the control methods
/// ([`cut`](Self::cut), [`pause`](Self::pause),
/// [`crash_at_persist`](Self::crash_at_persist), [`campaign`](Self::campaign)
/// ...) aim faults and commands at named nodes, and
/// [`goose`](Self::goose), [`node`](Self::node) and [`report`](Self::report)
/// look at the cluster between steps. Every invariant is checked after every
/// event and every control action alike; the module docs describe the
/// model.
#[derive(Debug)]
pub struct Simulation {
    config: SimConfig,
    rng: StdRng,
    now_us: u64,
    queue: EventQueue,
    nodes: Vec<SimNode>,
    network: Network,
    checker: Checker,
    recorder: Recorder,
    stats: SimStats,
    /// Set when the fault phase ends.
    healed_at_us: Option<u64>,
    /// [`SimConfig::liveness_bound_us`], computed once: it is read after
    /// every event of the healed phase.
    liveness_bound_us: u64,
    /// Set when, after the heal, the cluster first settled.
    settled_at_us: Option<u64>,
    first_goose_at_us: Option<u64>,
    /// Reused buffer for the outputs of one input.
    outputs: Vec<Output>,
    /// Draws the garbage, when the plan injects any.
    garbage: Option<GarbageSource>,
    /// The stretches of the fault phase in which a majority of voters is
    /// connected both ways, and how soon each had a Goose.
    stretches: Stretches,
    /// The first violation: a failed run stays failed.
    failure: Option<Box<SimFailure>>,
}

/// One simulated machine: its election while it is up, and its disk.
#[derive(Debug)]
struct SimNode {
    config: Config,
    election: Option<Election>,
    /// Bumped by every crash, so ticks of an earlier life are ignored.
    incarnation: u64,
    /// What the host has made durable: the last `Persist` it handled.
    durable: HardState,
    /// The membership the host has made durable: the last
    /// `PersistMembership` it handled, or the configured one. A restart
    /// passes it as `Config::membership`, as the runtime does, even when it
    /// does not contain the node (which then starts as a removed node).
    durable_membership: Membership,
    /// Whether the node exists: members from the start; a spare once a
    /// committed membership named it.
    joined: bool,
    /// `leave()` was accepted in this life (the request is volatile: a
    /// restart forgets it). Shown in liveness failures.
    leaving: bool,
    /// Real time between two ticks of this node's clock.
    tick_period_us: u64,
    /// The clock's rate, in parts per million away from real time.
    clock_rate_ppm: i64,
    /// When each recent tick of this life was processed, to place the lease
    /// in real time as the runtime does.
    ticks: TickClock<u64>,
    /// While the process is paused: until when, and the messages that
    /// arrived meanwhile, in order.
    pause: Option<Pause>,
    /// The process was paused in this life: its tick count lags real time,
    /// so its role alone no longer says whether its lease holds.
    lagging: bool,
    /// A scripted crash waiting for the host's next persist.
    crash_at_persist: Option<PersistSide>,
}

/// A paused process.
#[derive(Debug)]
struct Pause {
    until_us: u64,
    inbox: Vec<(usize, Message)>,
}

impl SimNode {
    /// Whether the node runs and handles inputs: up and not paused.
    fn is_running(&self) -> bool {
        self.election.is_some() && self.pause.is_none()
    }
}

/// One input to a node.
#[derive(Clone, Debug)]
enum Input {
    Tick,
    Message(NodeId, Message),
    Command(SimCommand),
}

impl Simulation {
    /// Builds the cluster described by `config`: every node, voter or
    /// learner, starts as a brand-new Duck (`HardState::default()`), with its
    /// own clock rate and tick phase. Spare nodes get a clock rate now and
    /// start when they join.
    pub fn new(config: SimConfig) -> Result<Self, SimConfigError> {
        config.validate()?;
        let mut rng = StdRng::seed_from_u64(config.seed);
        let (shortest_us, longest_us) = config.tick_period_range_us();
        let total = config.total_nodes();
        let mut nodes = Vec::with_capacity(total);
        for index in 0..total {
            let node_config = config.election_config(node_id(index));
            let election = new_election(&config, &node_config, HardState::default(), &mut rng)?;
            let mut node = SimNode::fresh(&config, node_config, shortest_us, longest_us, &mut rng);
            node.durable_membership = node.config.membership.clone();
            node.election = Some(election);
            node.joined = true;
            nodes.push(node);
        }
        let initial = config.election_config(node_id(0)).membership;
        // No draw at all without spares, so old seeds replay unchanged.
        for index in total..config.total_ids() {
            // Its config's membership is replaced by the one it joins with.
            let node_config = config.election_config(node_id(index));
            nodes.push(SimNode::fresh(
                &config,
                node_config,
                shortest_us,
                longest_us,
                &mut rng,
            ));
        }
        let network = Network::new(config.total_ids(), &config.faults, &mut rng);
        let mut simulation = Simulation {
            rng,
            now_us: 0,
            queue: EventQueue::default(),
            checker: Checker::new(config.nodes, config.learners, config.spare_nodes, &initial),
            recorder: Recorder::new(config.record_trace, config.trace_tail_len),
            stats: SimStats::default(),
            healed_at_us: None,
            liveness_bound_us: config.liveness_bound_us(),
            settled_at_us: None,
            first_goose_at_us: None,
            outputs: Vec::with_capacity(4 * total + 8),
            garbage: None,
            stretches: Stretches::default(),
            failure: None,
            nodes,
            network,
            config,
        };
        for index in 0..total {
            simulation.schedule_first_tick(index);
        }
        simulation
            .queue
            .push(simulation.config.fault_phase_us, EventKind::Heal);
        if let Some(partitions) = &simulation.config.faults.partitions {
            let at_us = simulation
                .rng
                .random_range(partitions.change_every_us.clone());
            simulation.queue.push(at_us, EventKind::Repartition);
        }
        if simulation.config.faults.garbage_every_us.is_some() {
            simulation.garbage = Some(GarbageSource::new(&mut simulation.rng));
        }
        simulation.schedule_garbage();
        simulation.schedule_command();
        simulation.schedule_script();
        simulation.topology_changed();
        // The cluster starts connected: its first stretch opens at 0, not
        // at the first event.
        simulation.track_stretches(None);
        Ok(simulation)
    }

    /// The configuration this simulation runs.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Runs the fault phase, heals, and runs until the cluster has settled (a
    /// Goose among the voters of the latest committed membership, followed
    /// by every live member of its membership, none of them still waiting
    /// for promotion), checking every invariant after every event.
    ///
    /// After [`step`](Self::step), [`run_until`](Self::run_until) or control
    /// actions, it carries on from where they left the run.
    ///
    /// Returns the first violation found, with everything needed to replay
    /// it; or, when none is found, figures about the run.
    pub fn run(mut self) -> Result<SimReport, SimFailure> {
        self.failed()?;
        while self.settled_at_us.is_none() {
            if let Err(violation) = self.step_event() {
                return Err(self.record_failure(violation));
            }
        }
        let mut report = self.report_without_trace();
        report.trace = self.recorder.into_full();
        Ok(report)
    }

    /// Processes the next event (a tick, a delivery, a restart, a scripted
    /// action, ...) and checks every invariant, advancing
    /// [`now_us`](Self::now_us) to its time. Once the fault phase has
    /// healed, the cluster must settle within the liveness bound, as in
    /// [`run`](Self::run); an event past the bound fails the run.
    ///
    /// A run that failed stays failed: every later step returns the same
    /// failure.
    pub fn step(&mut self) -> Result<(), SimFailure> {
        self.failed()?;
        let result = self.step_event();
        self.settle(result)
    }

    /// Processes every event up to and including virtual time `at_us`, then
    /// sets [`now_us`](Self::now_us) to `at_us`: what a scripted action taken
    /// next sees as "now". A time already past leaves the run as it is.
    pub fn run_until(&mut self, at_us: u64) -> Result<(), SimFailure> {
        while self
            .queue
            .peek_at_us()
            .is_some_and(|next_us| next_us <= at_us)
        {
            self.step()?;
        }
        self.failed()?;
        self.now_us = self.now_us.max(at_us);
        Ok(())
    }

    /// Virtual time, in microseconds since the start of the run.
    pub fn now_us(&self) -> u64 {
        self.now_us
    }

    /// The report of the run so far: the figures a passing [`run`](Self::run)
    /// would return if it ended now (`healed_at_us` and `goose_after_heal_us`
    /// are `None` until the heal and the settling).
    pub fn report(&self) -> SimReport {
        let mut report = self.report_without_trace();
        report.trace = self.recorder.full().to_vec();
        report
    }

    fn report_without_trace(&self) -> SimReport {
        let mut stats = self.stats;
        stats.terms_with_leader = self.checker.terms_with_leader();
        SimReport {
            seed: self.config.seed,
            stats,
            first_goose_at_us: self.first_goose_at_us,
            healed_at_us: self.healed_at_us,
            goose_after_heal_us: self
                .settled_at_us
                .zip(self.healed_at_us)
                .map(|(settled, healed)| settled - healed),
            fault_stretches: self.stretches.so_far(self.now_us, self.stats.max_term),
            clock_rates_ppm: self
                .nodes
                .iter()
                .enumerate()
                .map(|(index, node)| (node_id(index), node.clock_rate_ppm))
                .collect(),
            trace: Vec::new(),
        }
    }

    /// One event, checked.
    #[inline]
    fn step_event(&mut self) -> Result<(), Violation> {
        let event = self.queue.pop();
        if let Some(healed_at_us) = self.healed_at_us
            && self.settled_at_us.is_none()
        {
            let bound_us = self.liveness_bound_us;
            let deadline_us = healed_at_us.saturating_add(bound_us);
            // Every node always has a tick pending, so an empty queue
            // cannot happen; treat it like running out of time anyway.
            if event.as_ref().is_none_or(|event| event.at_us > deadline_us) {
                return Err(self.unsettled(deadline_us, healed_at_us, bound_us));
            }
        }
        let Some(event) = event else {
            return Ok(());
        };
        self.now_us = event.at_us;
        self.stats.events += 1;
        self.handle(event.kind)?;
        self.after_change()
    }

    /// The checks after anything changed the cluster (an event or a control
    /// action): the sweep, the in-fault figures, and whether the healed
    /// cluster has settled.
    #[inline]
    fn after_change(&mut self) -> Result<(), Violation> {
        let goose = self.check_cluster()?;
        if self.faults_active() {
            self.track_stretches(goose);
        }
        if self.healed_at_us.is_some() && self.settled_at_us.is_none() && self.settled() {
            self.settled_at_us = Some(self.now_us);
        }
        Ok(())
    }

    /// The failure of this run, if it has failed.
    fn failed(&self) -> Result<(), SimFailure> {
        match &self.failure {
            Some(failure) => Err(SimFailure::clone(failure)),
            None => Ok(()),
        }
    }

    /// Records the first violation, if any, as the run's failure.
    fn settle(&mut self, result: Result<(), Violation>) -> Result<(), SimFailure> {
        result.map_err(|violation| self.record_failure(violation))
    }

    /// Records `violation` as the run's failure, which it stays.
    fn record_failure(&mut self, violation: Violation) -> SimFailure {
        let mut stats = self.stats;
        stats.terms_with_leader = self.checker.terms_with_leader();
        let failure = SimFailure {
            invariant: self.checker.blame(&violation).into(),
            violation,
            trace_tail: self.recorder.tail().into(),
            stats: Box::new(stats),
            config: Box::new(self.config.clone()),
        };
        self.failure = Some(Box::new(failure.clone()));
        failure
    }

    fn faults_active(&self) -> bool {
        self.healed_at_us.is_none()
    }

    // ----- events -----------------------------------------------------------

    fn handle(&mut self, kind: EventKind) -> Result<(), Violation> {
        match kind {
            EventKind::Tick { node, incarnation } => {
                if self.nodes[node].incarnation == incarnation
                    && self.nodes[node].election.is_some()
                {
                    let next_us = self.now_us + self.nodes[node].tick_period_us;
                    self.queue
                        .push(next_us, EventKind::Tick { node, incarnation });
                    // A paused process misses its ticks; its clock runs on.
                    if self.nodes[node].pause.is_none() {
                        self.stats.ticks += 1;
                        self.nodes[node].ticks.record(self.now_us);
                        self.drive(node, Input::Tick)?;
                    }
                }
            }
            EventKind::Deliver { from, to, msg } => self.deliver(from, to, msg)?,
            EventKind::Restart { node, incarnation } => {
                if self.nodes[node].incarnation == incarnation
                    && self.nodes[node].election.is_none()
                    && self.nodes[node].joined
                {
                    self.restart_node(node)?;
                }
            }
            EventKind::Resume {
                node,
                incarnation,
                until_us,
            } => {
                let paused = self.nodes[node].pause.as_ref();
                if self.nodes[node].incarnation == incarnation
                    && paused.is_some_and(|pause| pause.until_us == until_us)
                {
                    self.resume(node)?;
                }
            }
            EventKind::Scripted(index) => self.apply_scheduled(index)?,
            EventKind::Repartition => self.repartition(),
            EventKind::Garbage => {
                self.inject_garbage()?;
                self.schedule_garbage();
            }
            EventKind::Command => {
                if self.faults_active() {
                    self.issue_command()?;
                    self.schedule_command();
                }
            }
            EventKind::Heal => self.heal()?,
        }
        Ok(())
    }

    /// A message arrives: handed to its node, queued while the node's
    /// process is paused, or lost if the node is down.
    #[inline]
    fn deliver(&mut self, from: usize, to: usize, msg: Message) -> Result<(), Violation> {
        let (from_id, to_id) = (node_id(from), node_id(to));
        let node = &mut self.nodes[to];
        if node.election.is_none() {
            self.stats.messages_to_down_nodes += 1;
            self.recorder.record(
                self.now_us,
                TraceKind::ArrivedAtDownNode {
                    from: from_id,
                    to: to_id,
                    msg,
                },
            );
            return Ok(());
        }
        if let Some(pause) = &mut node.pause {
            pause.inbox.push((from, msg));
            self.stats.messages_held_while_paused += 1;
            return Ok(());
        }
        self.stats.messages_delivered += 1;
        self.recorder.record(
            self.now_us,
            TraceKind::Delivered {
                from: from_id,
                to: to_id,
                msg: msg.clone(),
            },
        );
        self.drive(to, Input::Message(from_id, msg))?;
        Ok(())
    }
}

impl SimNode {
    /// A node that has not started, with its election config: its clock
    /// drawn within the drift bound.
    fn fresh(
        config: &SimConfig,
        node_config: Config,
        shortest_us: u64,
        longest_us: u64,
        rng: &mut StdRng,
    ) -> Self {
        let tick_period_us = draw_tick_period(shortest_us, longest_us, rng);
        SimNode {
            config: node_config,
            election: None,
            incarnation: 0,
            durable: HardState::default(),
            durable_membership: Membership::default(),
            joined: false,
            leaving: false,
            tick_period_us,
            clock_rate_ppm: rate_ppm(config.tick_us, tick_period_us),
            ticks: TickClock::new(0, config.election.lease_ticks()),
            pause: None,
            lagging: false,
            crash_at_persist: None,
        }
    }

    /// A new life from `now_us`: no pause, ticks counted from now.
    fn begin_life(&mut self, election: Election, now_us: u64) {
        self.ticks = TickClock::new(now_us, election.lease_ticks());
        self.election = Some(election);
        self.pause = None;
        self.lagging = false;
    }
}

/// A node's election, with the planted mutation if it carries one.
fn new_election(
    #[cfg_attr(not(feature = "__planted-bugs"), allow(unused_variables))] config: &SimConfig,
    node_config: &Config,
    hard_state: HardState,
    rng: &mut StdRng,
) -> Result<Election, SimConfigError> {
    #[cfg_attr(not(feature = "__planted-bugs"), allow(unused_mut))]
    let mut election = Election::new(node_config.clone(), hard_state, rng.random())?;
    #[cfg(feature = "__planted-bugs")]
    if let Some(planted) = &config.mutation
        && planted.applies_to(node_config.id)
    {
        election.set_mutation(planted.mutation);
    }
    Ok(election)
}

/// The clock rate, in parts per million, of a clock that ticks every
/// `period_us` when it should every `tick_us`.
fn rate_ppm(tick_us: u64, period_us: u64) -> i64 {
    let ppm = (i128::from(tick_us) * 1_000_000) / i128::from(period_us.max(1)) - 1_000_000;
    i64::try_from(ppm).unwrap_or(i64::MAX)
}

/// The tick period of a clock `ppm` parts per million fast (negative: slow);
/// at least 1 µs.
fn period_us(tick_us: u64, ppm: i64) -> u64 {
    let rate = 1_000_000 + i128::from(ppm);
    let period = (i128::from(tick_us) * 1_000_000) / rate.max(1);
    u64::try_from(period).unwrap_or(u64::MAX).max(1)
}

/// A tick period within the drift bound. The extremes get a third of the
/// draws each: the lease arithmetic is tightest there.
fn draw_tick_period(shortest_us: u64, longest_us: u64, rng: &mut StdRng) -> u64 {
    match rng.random_range(0..3) {
        0 => shortest_us,
        1 => longest_us,
        _ => rng.random_range(shortest_us..=longest_us),
    }
}
