//! The simulation loop: pops events in time order, feeds them to the
//! elections, plays the host (persist, send), and runs the checkers after
//! every event. The fault plan is applied in [`faults`], garbage is injected
//! in [`garbage`], and [`liveness`] judges whether the healed cluster has
//! settled.

mod faults;
mod garbage;
mod invariants;
mod liveness;
#[cfg(test)]
mod tests;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use self::garbage::GarbageSource;
use super::checker::{Checker, CommandOutcome, Invariant, NodeView, Violation, node_id};
use super::config::{SimConfig, SimConfigError};
use super::network::Network;
#[cfg(feature = "__planted-bugs")]
use super::planted::HostBug;
use super::queue::{EventKind, EventQueue};
use super::report::{SimFailure, SimReport, SimStats};
use super::trace::{Recorder, SimCommand, TraceKind};
use crate::core::{
    Config, Election, Event, HardState, Membership, MembershipId, Message, NodeId, Output, Role,
};

/// A deterministic simulation of a cluster of [`Election`]s.
///
/// Build it with [`Simulation::new`] and consume it with
/// [`Simulation::run`]; the module docs describe the model.
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
    first_goose_at_us: Option<u64>,
    /// Reused buffer for the outputs of one input.
    outputs: Vec<Output>,
    /// Draws the garbage, when the plan injects any.
    garbage: Option<GarbageSource>,
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
    tick_period_us: u64,
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
            nodes.push(SimNode {
                durable_membership: node_config.membership.clone(),
                config: node_config,
                election: Some(election),
                incarnation: 0,
                durable: HardState::default(),
                joined: true,
                leaving: false,
                tick_period_us: draw_tick_period(shortest_us, longest_us, &mut rng),
            });
        }
        let initial = config.election_config(node_id(0)).membership;
        // No draw at all without spares, so old seeds replay unchanged.
        for index in total..config.total_ids() {
            nodes.push(SimNode {
                // Replaced by the membership it joins with.
                config: config.election_config(node_id(index)),
                election: None,
                incarnation: 0,
                durable: HardState::default(),
                durable_membership: Membership::default(),
                joined: false,
                leaving: false,
                tick_period_us: draw_tick_period(shortest_us, longest_us, &mut rng),
            });
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
            first_goose_at_us: None,
            outputs: Vec::with_capacity(4 * total + 8),
            garbage: None,
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
    /// Returns the first violation found, with everything needed to replay
    /// it; or, when none is found, figures about the run.
    #[expect(
        clippy::result_large_err,
        reason = "a run fails at most once, at its end; the failure's big parts are boxed already"
    )]
    pub fn run(mut self) -> Result<SimReport, SimFailure> {
        match self.run_until_goose_after_heal() {
            Ok(goose_after_heal_us) => {
                self.stats.terms_with_leader = self.checker.terms_with_leader();
                Ok(SimReport {
                    seed: self.config.seed,
                    stats: self.stats,
                    first_goose_at_us: self.first_goose_at_us,
                    healed_at_us: self.healed_at_us.unwrap_or(self.now_us),
                    goose_after_heal_us,
                    trace: self.recorder.into_full(),
                })
            }
            Err(violation) => {
                self.stats.terms_with_leader = self.checker.terms_with_leader();
                Err(SimFailure {
                    invariant: self.checker.blame(&violation),
                    violation,
                    trace_tail: self.recorder.tail(),
                    stats: Box::new(self.stats),
                    config: Box::new(self.config),
                })
            }
        }
    }

    fn run_until_goose_after_heal(&mut self) -> Result<u64, Violation> {
        let bound_us = self.config.liveness_bound_us();
        loop {
            let event = self.queue.pop();
            if let Some(healed_at_us) = self.healed_at_us {
                let deadline_us = healed_at_us.saturating_add(bound_us);
                // Every node always has a tick pending, so an empty queue
                // cannot happen; treat it like running out of time anyway.
                if event.as_ref().is_none_or(|event| event.at_us > deadline_us) {
                    return Err(self.unsettled(deadline_us, healed_at_us, bound_us));
                }
            }
            let Some(event) = event else {
                continue;
            };
            self.now_us = event.at_us;
            self.stats.events += 1;
            self.handle(event.kind)?;
            self.check_cluster()?;
            if let Some(healed_at_us) = self.healed_at_us
                && self.settled()
            {
                return Ok(self.now_us - healed_at_us);
            }
        }
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
                    self.stats.ticks += 1;
                    let next_us = self.now_us + self.nodes[node].tick_period_us;
                    self.queue
                        .push(next_us, EventKind::Tick { node, incarnation });
                    self.drive(node, Input::Tick)?;
                }
            }
            EventKind::Deliver { from, to, msg } => {
                let (from_id, to_id) = (node_id(from), node_id(to));
                if self.nodes[to].election.is_some() {
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
                } else {
                    self.stats.messages_to_down_nodes += 1;
                    self.recorder.record(
                        self.now_us,
                        TraceKind::ArrivedAtDownNode {
                            from: from_id,
                            to: to_id,
                            msg,
                        },
                    );
                }
            }
            EventKind::Restart { node, incarnation } => {
                if self.nodes[node].incarnation == incarnation
                    && self.nodes[node].election.is_none()
                    && self.nodes[node].joined
                {
                    self.restart(node)?;
                }
            }
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

    /// Feeds one input to a node, then plays its host: handles the outputs
    /// in order, unless the plan crashes the node part-way through them.
    fn drive(&mut self, index: usize, input: Input) -> Result<(), Violation> {
        let Some(election) = self.nodes[index].election.as_mut() else {
            return Ok(());
        };
        let was_goose = election.role() == Role::Goose;
        let membership_before = election.membership().id();
        let from_peer = matches!(&input, Input::Message(_, Message::NewerMembership { .. }));
        let accepted = match &input {
            Input::Tick => {
                election.tick();
                true
            }
            Input::Message(from, msg) => {
                election.handle_message(*from, msg.clone());
                true
            }
            Input::Command(SimCommand::Campaign) => election.campaign().is_ok(),
            Input::Command(SimCommand::StepDown) => election.step_down().is_ok(),
            Input::Command(SimCommand::Transfer(to)) => election.transfer_leadership(*to).is_ok(),
            Input::Command(SimCommand::AddNode(id)) => {
                election.propose_add(*id, &SimConfig::address(*id)).is_ok()
            }
            Input::Command(SimCommand::RemoveNode(id)) => election.propose_remove(*id).is_ok(),
            Input::Command(SimCommand::Leave) => election.leave().is_ok(),
        };
        self.outputs.clear();
        while let Some(output) = election.poll_output() {
            self.outputs.push(output);
        }
        let hard_state = election.hard_state();
        let membership_id = election.membership().id();
        let node = node_id(index);
        self.checker.on_hard_state(self.now_us, node, hard_state)?;
        self.stats.max_term = self.stats.max_term.max(hard_state.term);

        match input {
            Input::Tick if !self.outputs.is_empty() => self.recorder.record(
                self.now_us,
                TraceKind::Tick {
                    node,
                    outputs: self.outputs.len(),
                },
            ),
            Input::Command(command) => self.recorder.record(
                self.now_us,
                TraceKind::Command {
                    node,
                    command,
                    accepted,
                },
            ),
            _ => {}
        }
        for output in &self.outputs {
            self.checker.on_output(self.now_us, node, output)?;
        }
        self.checker
            .on_membership(self.now_us, node, membership_id)?;
        if from_peer && membership_id != membership_before {
            self.stats.memberships_from_peers += 1;
        }
        if let Input::Command(command) = input {
            // Counted before the checks, so that a failure's figures include
            // this command.
            if !accepted && self.checker.learner_in_command(node, command).is_some() {
                self.stats.learner_commands_refused += 1;
            }
            if command == SimCommand::Leave && accepted {
                self.nodes[index].leaving = true;
            }
            if command.is_membership_change() {
                self.stats.membership_commands += 1;
                self.stats.membership_commands_refused += u64::from(!accepted);
            }
            let outcome = CommandOutcome {
                command,
                accepted,
                membership_changed: membership_id != membership_before,
                was_goose,
            };
            self.checker.on_command(self.now_us, node, &outcome)?;
        }

        let total = self.outputs.len();
        let crash_after = self.draw_crash_point(total);
        let handled = crash_after.unwrap_or(total);
        let outputs = std::mem::take(&mut self.outputs);
        let result = outputs[..handled]
            .iter()
            .try_for_each(|output| self.handle_output(index, output));
        self.outputs = outputs;
        result?;
        if crash_after.is_some() {
            self.crash(index, handled, total - handled);
        }
        Ok(())
    }

    /// Plays the host for one output.
    fn handle_output(&mut self, index: usize, output: &Output) -> Result<(), Violation> {
        let node = node_id(index);
        match output {
            &Output::Persist(hard_state) => {
                let previous = self.nodes[index].durable;
                self.checker
                    .on_persist(self.now_us, node, previous, hard_state)?;
                self.nodes[index].durable = hard_state;
                self.recorder
                    .record(self.now_us, TraceKind::Persisted { node, hard_state });
            }
            Output::PersistMembership(membership) => {
                self.checker
                    .on_persist_membership(self.now_us, node, membership.id())?;
                // The planted host bug acknowledges the write but loses it
                // (no fsync): a restart comes back with the older one.
                if !self.forgets_membership() {
                    self.nodes[index].durable_membership = Membership::clone(membership);
                }
                self.recorder.record(
                    self.now_us,
                    TraceKind::PersistedMembership {
                        node,
                        id: membership.id(),
                    },
                );
            }
            Output::Send { to, msg } => {
                self.checker.on_send(self.now_us, node, *to, msg)?;
                self.send(index, *to, msg.clone());
            }
            &Output::Event(Event::RoleChanged { role, term, .. }) => {
                if role == Role::Goose {
                    self.stats.geese += 1;
                }
                self.recorder
                    .record(self.now_us, TraceKind::RoleChanged { node, role, term });
            }
            Output::Event(Event::ElectionStarted {
                pre_vote: false, ..
            }) => self.stats.elections_started += 1,
            &Output::Event(Event::MembershipChanged { id }) => {
                self.checker
                    .on_membership_event(self.now_us, node, id, false)?;
            }
            &Output::Event(Event::MembershipCommitted { id }) => {
                self.checker
                    .on_membership_event(self.now_us, node, id, true)?;
                self.stats.memberships_committed += 1;
                self.recorder
                    .record(self.now_us, TraceKind::MembershipCommitted { node, id });
                self.start_joiners(id)?;
            }
            Output::Event(_) => {}
        }
        Ok(())
    }

    /// Starts every spare that committed membership `id` names and that
    /// has not joined yet, as the runtime's joiner does once its add
    /// committed: fresh hard state, and that membership as its starting one
    /// (`JoinReply::Accepted`).
    fn start_joiners(&mut self, id: MembershipId) -> Result<(), Violation> {
        let Some(membership) = self.checker.issued(id).cloned() else {
            return Ok(());
        };
        for index in self.config.total_nodes()..self.nodes.len() {
            let id = node_id(index);
            if self.nodes[index].joined || !membership.contains(id) {
                continue;
            }
            let mut config = self.nodes[index].config.clone();
            config.membership = membership.clone();
            let election = new_election(&self.config, &config, HardState::default(), &mut self.rng)
                .unwrap_or_else(|error| {
                    unreachable!("a member, with settings Simulation::new accepted: {error}")
                });
            let node = &mut self.nodes[index];
            node.election = Some(election);
            node.durable_membership = membership.clone();
            node.config = config;
            node.joined = true;
            self.checker.on_join(self.now_us, id, &membership);
            self.stats.nodes_joined += 1;
            self.recorder.record(
                self.now_us,
                TraceKind::Joined {
                    node: id,
                    membership: membership.id(),
                },
            );
            self.schedule_first_tick(index);
        }
        Ok(())
    }

    /// Whether the planted host bug loses every membership write.
    fn forgets_membership(&self) -> bool {
        #[cfg(feature = "__planted-bugs")]
        return self.config.host_bug == Some(HostBug::ForgetMembership);
        #[cfg(not(feature = "__planted-bugs"))]
        false
    }

    fn schedule_first_tick(&mut self, index: usize) {
        let node = &self.nodes[index];
        // A random phase: clocks of different nodes are not aligned.
        let at_us = self.now_us + self.rng.random_range(1..=node.tick_period_us);
        self.queue.push(
            at_us,
            EventKind::Tick {
                node: index,
                incarnation: node.incarnation,
            },
        );
    }

    // ----- checks -------------------------------------------------------------

    /// The cluster-wide invariants, after every event: one leader per term,
    /// never two Geese at once (counting every node that ever existed), no
    /// learner leading, no removed node leading, and every Goose a voter of
    /// its own membership (but while its own removal is pending).
    fn check_cluster(&mut self) -> Result<(), Violation> {
        self.checker.on_sweep(self.now_us);
        for election in self.nodes.iter().filter_map(|node| node.election.as_ref()) {
            let status = NodeView {
                id: election.id(),
                role: election.role(),
                term: election.term(),
                leader: election.leader(),
                membership: election.membership(),
                membership_pending: election.membership_pending(),
                is_goose: election.role() == Role::Goose,
                paused: false,
            };
            self.checker.on_status(self.now_us, &status)?;
            if status.is_goose {
                self.checker.on_goose(self.now_us, &status)?;
                self.first_goose_at_us.get_or_insert(self.now_us);
            }
        }
        Ok(())
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

/// A tick period within the drift bound. The extremes get a third of the
/// draws each: the lease arithmetic is tightest there.
fn draw_tick_period(shortest_us: u64, longest_us: u64, rng: &mut StdRng) -> u64 {
    match rng.random_range(0..3) {
        0 => shortest_us,
        1 => longest_us,
        _ => rng.random_range(shortest_us..=longest_us),
    }
}
