//! The simulation loop: pops events in time order, feeds them to the
//! elections, plays the host (persist, send, crash), and runs the checkers
//! after every event.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::checker::{Checker, DisplayMembership, Violation, node_id};
use super::config::{FIRST_NON_MEMBER_ID, HostBug, SimConfig, SimConfigError};
use super::network::{Network, Route};
use super::queue::{EventKind, EventQueue};
use super::report::{SimFailure, SimReport, SimStats};
use super::trace::{Recorder, SendFate, SimCommand, TraceKind};
use crate::core::{
    Config, Election, Event, HardState, Membership, MembershipId, Message, NodeId, Output, Role,
    Term,
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
        self.checker.on_live_state(self.now_us, index, hard_state)?;
        self.stats.max_term = self.stats.max_term.max(hard_state.term);

        let node = node_id(index);
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
            self.checker.on_output(self.now_us, index, output)?;
        }
        self.checker
            .on_live_membership(self.now_us, index, membership_id)?;
        if from_peer && membership_id != membership_before {
            self.stats.memberships_from_peers += 1;
        }
        if let Input::Command(command) = input {
            if self
                .checker
                .on_command(self.now_us, index, command, accepted)?
            {
                self.stats.learner_commands_refused += 1;
            }
            if command == SimCommand::Leave && accepted {
                self.nodes[index].leaving = true;
            }
            if command.is_membership_change() {
                self.stats.membership_commands += 1;
                self.stats.membership_commands_refused += u64::from(!accepted);
                let proposed = accepted && membership_id != membership_before;
                self.checker.on_membership_command(
                    self.now_us,
                    index,
                    command,
                    proposed,
                    was_goose,
                )?;
            }
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

    /// Where the host crashes while draining `total` outputs: after `k` of
    /// them, each of the `total + 1` points getting the plan's crash
    /// probability in turn; `None` for no crash. Inputs with more outputs
    /// offer more points, so crashes land across `Persist`/`Send` boundaries
    /// in proportion to how many there are, not only between inputs.
    fn draw_crash_point(&mut self, total: usize) -> Option<usize> {
        let probability = self.config.faults.crash_probability;
        if !self.faults_active() || probability <= 0.0 {
            return None;
        }
        (0..=total).find(|_| self.rng.random_bool(probability))
    }

    /// Plays the host for one output.
    fn handle_output(&mut self, index: usize, output: &Output) -> Result<(), Violation> {
        let node = node_id(index);
        match output {
            &Output::Persist(hard_state) => {
                let previous = self.nodes[index].durable;
                self.checker
                    .on_persist(self.now_us, index, previous, hard_state)?;
                self.nodes[index].durable = hard_state;
                self.recorder
                    .record(self.now_us, TraceKind::Persisted { node, hard_state });
            }
            Output::PersistMembership(membership) => {
                self.checker
                    .on_persist_membership(self.now_us, index, membership.id())?;
                // The planted host bug acknowledges the write but loses it
                // (no fsync): a restart comes back with the older one.
                if self.config.host_bug != Some(HostBug::ForgetMembership) {
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
                self.checker.on_send(self.now_us, index, *to, msg)?;
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
                    .on_membership_event(self.now_us, index, id, false)?;
            }
            &Output::Event(Event::MembershipCommitted { id }) => {
                self.checker
                    .on_membership_event(self.now_us, index, id, true)?;
                self.stats.memberships_committed += 1;
                self.recorder
                    .record(self.now_us, TraceKind::MembershipCommitted { node, id });
                self.start_joiners(id)?;
            }
            Output::Event(_) => {}
        }
        Ok(())
    }

    /// Hands a message to the network.
    fn send(&mut self, from: usize, to_id: NodeId, msg: Message) {
        self.stats.messages_sent += 1;
        let from_id = node_id(from);
        let to = match usize::try_from(to_id.0) {
            Ok(id) if (1..=self.nodes.len()).contains(&id) => id - 1,
            // The core only answers members; anything else goes nowhere.
            _ => return,
        };
        let route = if self.faults_active() {
            self.network
                .route_faulty(from, to, &self.config.faults, &mut self.rng)
        } else {
            Route::Once(self.rng.random_range(self.config.healed_latency_us.clone()))
        };
        let fate = match route {
            Route::Once(delay_us) => {
                let arrives_at_us = self.now_us + delay_us;
                let msg = msg.clone();
                self.queue
                    .push(arrives_at_us, EventKind::Deliver { from, to, msg });
                SendFate::InFlight { arrives_at_us }
            }
            Route::Twice(first_us, second_us) => {
                self.stats.messages_duplicated += 1;
                let arrives_at_us = [self.now_us + first_us, self.now_us + second_us];
                for at_us in arrives_at_us {
                    let msg = msg.clone();
                    self.queue.push(at_us, EventKind::Deliver { from, to, msg });
                }
                SendFate::Duplicated { arrives_at_us }
            }
            Route::Lost => {
                self.stats.messages_lost += 1;
                SendFate::Lost
            }
            Route::Cut => {
                self.stats.messages_cut += 1;
                SendFate::Cut
            }
        };
        self.recorder.record(
            self.now_us,
            TraceKind::Sent {
                from: from_id,
                to: to_id,
                msg,
                fate,
            },
        );
    }

    // ----- crashes and restarts ----------------------------------------------

    /// Volatile state is lost; the disk (`durable`) is kept.
    fn crash(&mut self, index: usize, handled: usize, lost: usize) {
        let node = &mut self.nodes[index];
        node.election = None;
        node.leaving = false;
        node.incarnation += 1;
        let incarnation = node.incarnation;
        self.checker.on_crash(index);
        self.stats.crashes += 1;
        if lost > 0 {
            self.stats.crashes_mid_output += 1;
        }
        self.recorder.record(
            self.now_us,
            TraceKind::Crashed {
                node: node_id(index),
                handled,
                lost,
            },
        );
        let delay_us = self
            .rng
            .random_range(self.config.faults.restart_delay_us.clone());
        self.queue.push(
            self.now_us + delay_us,
            EventKind::Restart {
                node: index,
                incarnation,
            },
        );
    }

    /// A new `Election` from the persisted state only (hard state and
    /// membership), with a fresh seed.
    ///
    /// A node whose durable membership does not contain it (it was removed,
    /// or its removal was pending when it crashed) starts all the same, as
    /// the runtime starts it: the core runs it as a removed node, which
    /// never campaigns, votes only to let the others undo an uncommitted
    /// removal, and takes part again if a newer membership names it.
    fn restart(&mut self, index: usize) -> Result<(), Violation> {
        let loaded = self.nodes[index].durable;
        self.checker.on_restart(
            self.now_us,
            index,
            loaded,
            &self.nodes[index].durable_membership,
        )?;
        let mut config = self.nodes[index].config.clone();
        config.membership = self.nodes[index].durable_membership.clone();
        let removed = !config.membership.contains(config.id);
        let election =
            new_election(&self.config, &config, loaded, &mut self.rng).unwrap_or_else(|error| {
                // Every membership but the configured (version 0) one,
                // which names the node, was issued at run time with a higher
                // version, and the core accepts a node outside those.
                unreachable!(
                    "only the membership differs from a config Simulation::new accepted: {error}"
                )
            });
        self.nodes[index].election = Some(election);
        self.stats.restarts += 1;
        self.stats.removed_restarts += u64::from(removed);
        self.recorder.record(
            self.now_us,
            TraceKind::Restarted {
                node: node_id(index),
                hard_state: loaded,
                removed,
            },
        );
        self.schedule_first_tick(index);
        Ok(())
    }

    // ----- scheduled faults ---------------------------------------------------

    fn repartition(&mut self) {
        let Some(partitions) = &self.config.faults.partitions else {
            return;
        };
        if !self.faults_active() {
            return;
        }
        let cut = self.network.repartition(&partitions.shapes, &mut self.rng);
        let next_us = self.now_us + self.rng.random_range(partitions.change_every_us.clone());
        self.queue.push(next_us, EventKind::Repartition);
        self.stats.partitions += 1;
        self.recorder
            .record(self.now_us, TraceKind::Partitioned { cut });
    }

    /// Sends a random message, claiming to come from a non-member, to a random
    /// live node, and checks that it was dropped, counted and changed nothing.
    fn inject_garbage(&mut self) -> Result<(), Violation> {
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|index| self.nodes[*index].election.is_some())
            .collect();
        if up.is_empty() {
            return Ok(());
        }
        let index = up[self.rng.random_range(0..up.len())];
        let from =
            NodeId(FIRST_NON_MEMBER_ID + self.rng.random_range(0..=u64::MAX - FIRST_NON_MEMBER_ID));
        let msg = random_message(self.stats.max_term, &mut self.rng);
        self.stats.garbage_injected += 1;
        let node = node_id(index);
        self.recorder.record(
            self.now_us,
            TraceKind::Garbage {
                from,
                to: node,
                msg: msg.clone(),
            },
        );

        let Some(election) = self.nodes[index].election.as_mut() else {
            return Ok(());
        };
        let status_before = election.status();
        let dropped_before = election.counters().dropped_not_member;
        election.handle_message(from, msg);
        let status_after = election.status();
        let dropped_after = election.counters().dropped_not_member;
        self.outputs.clear();
        while let Some(output) = election.poll_output() {
            self.outputs.push(output);
        }
        let outputs = std::mem::take(&mut self.outputs);
        let result = outputs.iter().try_for_each(|output| {
            self.checker.on_output(self.now_us, index, output)?;
            self.handle_output(index, output)
        });
        self.outputs = outputs;
        result?;
        if status_after != status_before {
            return Err(Violation::GarbageChangedState {
                at_us: self.now_us,
                node,
                from,
            });
        }
        if dropped_after != dropped_before + 1 {
            return Err(Violation::GarbageNotCounted {
                at_us: self.now_us,
                node,
                from,
            });
        }
        Ok(())
    }

    /// An operator command, drawn by the plan's weights: `campaign` to
    /// anyone, learners included; `step_down` or a transfer (to anyone,
    /// learners included) to the Goose if there is one. Commands that would
    /// make a learner lead must be refused; they are counted.
    ///
    /// Membership commands: `propose_add` of a spare that has not joined
    /// (once every spare has, of a member of the target's membership, at its
    /// address) and `propose_remove` of any member of the target's
    /// membership, the Goose itself included, both to the Goose if there is
    /// one (a Duck refuses); `leave` on anyone.
    fn issue_command(&mut self) -> Result<(), Violation> {
        let Some(commands) = &self.config.faults.commands else {
            return Ok(());
        };
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|index| self.nodes[*index].election.is_some())
            .collect();
        if up.is_empty() {
            return Ok(());
        }
        let goose = up.iter().copied().find(|index| {
            self.nodes[*index]
                .election
                .as_ref()
                .is_some_and(|election| election.role() == Role::Goose)
        });
        let anyone = up[self.rng.random_range(0..up.len())];
        // Cumulative weights; with the membership weights zero this draws
        // exactly what it drew before they existed.
        let campaign = u64::from(commands.campaign);
        let step_down = campaign + u64::from(commands.step_down);
        let transfer = step_down + u64::from(commands.transfer);
        let add = transfer + u64::from(commands.add);
        let remove = add + u64::from(commands.remove);
        let pick = self.rng.random_range(0..commands.total());
        let (index, command) = if pick < campaign {
            (anyone, SimCommand::Campaign)
        } else if pick < step_down {
            (goose.unwrap_or(anyone), SimCommand::StepDown)
        } else if pick < transfer {
            let to = node_id(self.rng.random_range(0..self.nodes.len()));
            (goose.unwrap_or(anyone), SimCommand::Transfer(to))
        } else if pick < add {
            let index = goose.unwrap_or(anyone);
            (index, SimCommand::AddNode(self.draw_node_to_add(index)))
        } else if pick < remove {
            let index = goose.unwrap_or(anyone);
            (index, SimCommand::RemoveNode(self.draw_member(index)))
        } else {
            (anyone, SimCommand::Leave)
        };
        self.stats.commands += 1;
        self.drive(index, Input::Command(command))
    }

    /// A spare that has not joined yet, or (when none is left) a member of
    /// the membership node `index` holds.
    fn draw_node_to_add(&mut self, index: usize) -> NodeId {
        let spares: Vec<usize> = (self.config.total_nodes()..self.nodes.len())
            .filter(|spare| !self.nodes[*spare].joined)
            .collect();
        if spares.is_empty() {
            self.draw_member(index)
        } else {
            node_id(spares[self.rng.random_range(0..spares.len())])
        }
    }

    /// A member (voter or learner) of the membership node `index` holds.
    fn draw_member(&mut self, index: usize) -> NodeId {
        let members: Vec<NodeId> = self.nodes[index]
            .election
            .as_ref()
            .map(|election| election.membership().members().collect())
            .unwrap_or_default();
        if members.is_empty() {
            return node_id(index);
        }
        members[self.rng.random_range(0..members.len())]
    }

    /// Starts every spare that committed membership `id` names and that
    /// has not joined yet, as the runtime's joiner does once its add
    /// committed: fresh hard state, and that membership as its starting one
    /// (`JoinReply::Accepted`).
    fn start_joiners(&mut self, id: crate::core::MembershipId) -> Result<(), Violation> {
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
            self.checker.on_join(index, &membership);
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

    /// Ends the fault phase: no partition, every crashed node back, and from
    /// now on no loss, duplication, crash or command.
    fn heal(&mut self) -> Result<(), Violation> {
        self.healed_at_us = Some(self.now_us);
        self.network.heal();
        self.recorder.record(self.now_us, TraceKind::Healed);
        for index in 0..self.nodes.len() {
            let node = &self.nodes[index];
            if node.election.is_none() && node.joined {
                self.restart(index)?;
            }
        }
        Ok(())
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

    fn schedule_garbage(&mut self) {
        if let Some(every) = &self.config.faults.garbage_every_us {
            let at_us = self.now_us + self.rng.random_range(every.clone());
            self.queue.push(at_us, EventKind::Garbage);
        }
    }

    fn schedule_command(&mut self) {
        if let Some(commands) = &self.config.faults.commands {
            let at_us = self.now_us + self.rng.random_range(commands.every_us.clone());
            self.queue.push(at_us, EventKind::Command);
        }
    }

    // ----- checks -------------------------------------------------------------

    /// The cluster-wide invariants, after every event: one leader per term,
    /// never two Geese at once (counting every node that ever existed), no
    /// learner leading, no removed node leading, and every Goose a voter of
    /// its own membership (but while its own removal is pending).
    fn check_cluster(&mut self) -> Result<(), Violation> {
        let mut goose: Option<(NodeId, Term)> = None;
        for (index, node) in self.nodes.iter().enumerate() {
            let Some(election) = &node.election else {
                continue;
            };
            let (id, term, role) = (election.id(), election.term(), election.role());
            self.checker
                .on_status(self.now_us, index, role, term, election.leader())?;
            if role == Role::Goose {
                self.checker.on_goose(
                    self.now_us,
                    index,
                    term,
                    election.membership(),
                    election.membership_pending(),
                )?;
                self.first_goose_at_us.get_or_insert(self.now_us);
                if let Some((first, first_term)) = goose {
                    return Err(Violation::TwoGeese {
                        at_us: self.now_us,
                        first,
                        first_term,
                        second: id,
                        second_term: term,
                    });
                }
                goose = Some((id, term));
            }
        }
        Ok(())
    }

    /// Liveness: some node is the Goose, a voter of the latest committed
    /// membership, and every node its membership names, learners included,
    /// is up, follows it, and is no longer waiting for promotion. (Without
    /// membership changes: a Goose every node follows.) Nodes outside the
    /// Goose's membership (removed) and spares that never joined do not
    /// count.
    fn settled(&self) -> bool {
        self.settled_goose().is_some_and(|goose| {
            let membership = goose.membership();
            self.nodes.iter().enumerate().all(|(index, node)| {
                let id = node_id(index);
                match &node.election {
                    _ if !membership.contains(id) => true,
                    Some(election) => {
                        election.leader() == Some(goose.id()) && !membership.is_joining(id)
                    }
                    // A member that is down holds liveness back; one that
                    // never joined has nothing to follow.
                    None => !node.joined,
                }
            })
        })
    }

    /// The Goose, if there is one and it is a voter of the latest committed
    /// membership.
    fn settled_goose(&self) -> Option<&Election> {
        self.nodes
            .iter()
            .filter_map(|node| node.election.as_ref())
            .find(|election| election.role() == Role::Goose)
            .filter(|goose| self.checker.latest_committed().is_voter(goose.id()))
    }

    /// Why the cluster has not settled when the liveness bound runs out: a
    /// joined node still waiting for promotion under a Goose every member
    /// follows, or else no such Goose.
    fn unsettled(&self, at_us: u64, healed_at_us: u64, bound_us: u64) -> Violation {
        let waiting = self.settled_goose().and_then(|goose| {
            let membership = goose.membership();
            let followed = self.nodes.iter().all(|node| {
                node.election.as_ref().is_none_or(|election| {
                    !membership.contains(election.id()) || election.leader() == Some(goose.id())
                })
            });
            followed
                .then(|| {
                    self.nodes.iter().find_map(|node| {
                        let election = node.election.as_ref()?;
                        membership
                            .is_joining(election.id())
                            .then_some(election.id())
                    })
                })
                .flatten()
        });
        match waiting {
            Some(node) => Violation::JoinerNotPromoted {
                at_us,
                node,
                healed_at_us,
                bound_us,
            },
            None => Violation::NoGooseAfterHeal {
                at_us,
                healed_at_us,
                bound_us,
                cluster: self.snapshot(),
            },
        }
    }

    /// One line per node: whether it is up (and asked to leave), its role,
    /// term and leader, and the membership it holds (joining learners
    /// starred).
    fn snapshot(&self) -> String {
        let mut lines = Vec::new();
        for (index, node) in self.nodes.iter().enumerate() {
            let id = node_id(index);
            let line = match &node.election {
                Some(election) => format!(
                    "n{id} up{} {} term {} leader {} holds {}",
                    if node.leaving { " leaving" } else { "" },
                    election.role(),
                    election.term(),
                    election
                        .leader()
                        .map_or("none".to_owned(), |leader| format!("n{leader}")),
                    DisplayMembership(election.membership().clone()),
                ),
                None if !node.joined => format!("n{id} never joined"),
                None => format!(
                    "n{id} down holds {} on disk",
                    DisplayMembership(node.durable_membership.clone()),
                ),
            };
            lines.push(line);
        }
        format!(
            "[{}]; latest committed {}",
            lines.join("; "),
            DisplayMembership(self.checker.latest_committed().clone())
        )
    }
}

/// A node's election, with the planted mutation if it carries one.
fn new_election(
    config: &SimConfig,
    node_config: &Config,
    hard_state: HardState,
    rng: &mut StdRng,
) -> Result<Election, SimConfigError> {
    let mut election = Election::new(node_config.clone(), hard_state, rng.random())?;
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

/// Any message at all: terms near the real ones half the time, anywhere in
/// `u64` otherwise; membership ids likewise; a heartbeat carries a random
/// membership a third of the time.
fn random_message(max_term: Term, rng: &mut StdRng) -> Message {
    let term = random_term(max_term, rng);
    let flag = rng.random_bool(0.5);
    let sent_tick = rng.random();
    let membership = random_membership_id(max_term, rng);
    match rng.random_range(0..10) {
        0 => Message::PreVote { term, membership },
        1 => Message::PreVoteResponse {
            term,
            granted: flag,
        },
        2 => Message::Vote {
            term,
            transfer: flag,
            membership,
        },
        3 => Message::VoteResponse {
            term,
            granted: flag,
        },
        4 => Message::Heartbeat {
            term,
            sent_tick,
            membership: rng
                .random_bool(1.0 / 3.0)
                .then(|| Box::new(random_membership(max_term, rng))),
        },
        5 => Message::HeartbeatAck {
            term,
            sent_tick,
            membership,
        },
        6 => Message::Leave { term },
        7 => Message::NewerMembership {
            term,
            membership: Box::new(random_membership(max_term, rng)),
        },
        8 => Message::MembershipProbe { term, membership },
        _ => Message::TimeoutNow { term },
    }
}

fn random_term(max_term: Term, rng: &mut StdRng) -> Term {
    if rng.random_bool(0.5) {
        Term(rng.random_range(0..=max_term.0.saturating_add(2)))
    } else {
        Term(rng.random())
    }
}

fn random_membership_id(max_term: Term, rng: &mut StdRng) -> MembershipId {
    MembershipId {
        term: random_term(max_term, rng),
        version: if rng.random_bool(0.5) {
            rng.random_range(0..=64)
        } else {
            rng.random()
        },
    }
}

/// A membership of small random ids (members or not), which a garbage
/// heartbeat tries to impose.
fn random_membership(max_term: Term, rng: &mut StdRng) -> Membership {
    let ids = |rng: &mut StdRng| -> Vec<NodeId> {
        (0..rng.random_range(0..=4))
            .map(|_| NodeId(rng.random_range(0..=12)))
            .collect()
    };
    let voters = ids(rng);
    let learners = ids(rng);
    let addresses: Vec<(NodeId, String)> = voters
        .iter()
        .map(|id| (*id, format!("10.0.0.{id}:7000")))
        .collect();
    // Issued by a "Goose" of a random term: an id that is often newer than
    // any the cluster holds, the kind a node would adopt from a member.
    Membership::new(voters)
        .with_learners(learners)
        .with_addresses(addresses)
        .reissued(random_term(max_term, rng))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Membership;
    use crate::sim::{CommandPlan, FaultPlan, PartitionPlan, PartitionShapes};

    /// Runs events, with every check, until a Goose followed by every node
    /// exists.
    fn run_until_goose_followed_by_all(simulation: &mut Simulation) {
        for _ in 0..100_000 {
            let event = simulation
                .queue
                .pop()
                .expect("every node always has a tick pending");
            simulation.now_us = event.at_us;
            let checked = simulation
                .handle(event.kind)
                .and_then(|()| simulation.check_cluster());
            if let Err(violation) = checked {
                panic!("{violation}");
            }
            if simulation.settled() {
                return;
            }
        }
        panic!("no Goose followed by every node");
    }

    #[test]
    fn liveness_waits_for_every_learner() {
        let mut simulation =
            Simulation::new(SimConfig::new(3, 5).with_learners(2)).expect("a valid config");
        run_until_goose_followed_by_all(&mut simulation);
        let learner = 4; // n5
        assert!(simulation.checker.is_learner(learner));

        // A learner that is down holds liveness back...
        let following = simulation.nodes[learner].election.take();
        assert!(!simulation.settled());
        // ...and so does one that follows nobody (here, just restarted).
        let fresh = new_election(
            &simulation.config,
            &simulation.nodes[learner].config,
            HardState::default(),
            &mut simulation.rng,
        )
        .expect("a valid config");
        assert_eq!(fresh.leader(), None);
        simulation.nodes[learner].election = Some(fresh);
        assert!(!simulation.settled());

        simulation.nodes[learner].election = following;
        assert!(simulation.settled());
    }

    /// A spare that joined holds liveness back until it is promoted, and a
    /// run that ends before then names it.
    #[test]
    fn liveness_waits_for_the_promotion_of_a_joiner() {
        let plan = FaultPlan {
            commands: Some(CommandPlan {
                every_us: 200_000..=200_000,
                campaign: 0,
                step_down: 0,
                transfer: 0,
                add: 1,
                remove: 0,
                leave: 0,
            }),
            ..FaultPlan::none()
        };
        let config = SimConfig::new(3, 1).with_spare_nodes(1).with_faults(plan);
        let mut simulation = Simulation::new(config).expect("a valid config");
        let joiner = 3; // n4
        let follows_goose = |simulation: &Simulation| {
            let goose = simulation.settled_goose().map(Election::id);
            simulation.nodes[joiner]
                .election
                .as_ref()
                .is_some_and(|election| goose.is_some() && election.leader() == goose)
        };
        for _ in 0..100_000 {
            let event = simulation.queue.pop().expect("ticks are always pending");
            simulation.now_us = event.at_us;
            let checked = simulation
                .handle(event.kind)
                .and_then(|()| simulation.check_cluster());
            if let Err(violation) = checked {
                panic!("{violation}");
            }
            if follows_goose(&simulation) {
                break;
            }
        }
        assert!(
            follows_goose(&simulation),
            "n4 joined and follows the Goose"
        );
        assert!(!simulation.settled(), "n4 is not promoted yet");
        assert_eq!(
            simulation.unsettled(9, 1, 8),
            Violation::JoinerNotPromoted {
                at_us: 9,
                node: NodeId(4),
                healed_at_us: 1,
                bound_us: 8,
            }
        );
        run_until_goose_followed_by_all(&mut simulation);
        let goose = simulation.settled_goose().expect("a Goose");
        assert!(goose.membership().is_voter(NodeId(4)), "n4 was promoted");
    }

    /// End to end, through the engine's wiring of the checkers: a learner
    /// misconfigured to believe it votes (the bug a half-applied membership
    /// change would cause) campaigns, and the run fails with a learner
    /// violation.
    #[test]
    fn a_learner_that_believes_it_votes_is_caught() {
        let caught = (0..20).find_map(|seed| {
            let mut config = SimConfig::new(3, seed)
                .with_learners(1)
                .with_faults(FaultPlan::random(seed));
            config.fault_phase_us = 10_000_000;
            let mut simulation = Simulation::new(config).expect("a valid config");
            let learner = 3; // n4
            let node = &mut simulation.nodes[learner];
            // Its own config makes it a fourth voter; everyone else, and the
            // checker, know it as a learner. Restarts keep the bug.
            node.config.membership = Membership::new((1..=4).map(NodeId));
            node.durable_membership = node.config.membership.clone();
            node.election = Some(
                Election::new(node.config.clone(), HardState::default(), seed)
                    .expect("a valid config"),
            );
            simulation.run().err()
        });
        let failure = caught.expect("a campaigning learner is caught within 20 seeds");
        println!("caught: {}", failure.violation);
        assert!(
            matches!(
                failure.violation,
                Violation::LearnerStartedElection {
                    node: NodeId(4),
                    ..
                } | Violation::LearnerCommandAccepted {
                    learner: NodeId(4),
                    ..
                }
            ),
            "{failure}"
        );
    }

    #[test]
    fn learners_are_simulated_like_voters() {
        let plan = FaultPlan {
            link_latency_us: 200..=8_000,
            jitter_us: 20_000,
            loss_probability: 0.1,
            duplicate_probability: 0.1,
            crash_probability: 0.003,
            restart_delay_us: 50_000..=500_000,
            partitions: Some(PartitionPlan {
                change_every_us: 200_000..=1_000_000,
                shapes: PartitionShapes::all(),
            }),
            garbage_every_us: Some(20_000..=100_000),
            commands: Some(CommandPlan::all(100_000..=300_000)),
        };
        let mut config = SimConfig::new(3, 8).with_learners(2).with_faults(plan);
        config.fault_phase_us = 30_000_000;
        config.record_trace = true;
        let report = Simulation::new(config)
            .expect("a valid config")
            .run()
            .unwrap_or_else(|failure| panic!("{failure}"));
        let learners = [NodeId(4), NodeId(5)];
        let touched = |wanted: fn(&TraceKind) -> Option<NodeId>| {
            report
                .trace
                .iter()
                .filter_map(|event| wanted(&event.kind))
                .any(|node| learners.contains(&node))
        };
        assert!(touched(|kind| match kind {
            TraceKind::Delivered { to, .. } => Some(*to),
            _ => None,
        }));
        assert!(touched(|kind| match kind {
            TraceKind::Sent { from, .. } => Some(*from),
            _ => None,
        }));
        assert!(touched(|kind| match kind {
            TraceKind::Persisted { node, .. } => Some(*node),
            _ => None,
        }));
        assert!(touched(|kind| match kind {
            TraceKind::Crashed { node, .. } => Some(*node),
            _ => None,
        }));
        assert!(touched(|kind| match kind {
            TraceKind::Restarted { node, .. } => Some(*node),
            _ => None,
        }));
        assert!(touched(|kind| match kind {
            TraceKind::Garbage { to, .. } => Some(*to),
            _ => None,
        }));
        let learner_cut = report.trace.iter().any(|event| {
            matches!(&event.kind, TraceKind::Partitioned { cut }
                if cut.iter().any(|(from, to)| learners.contains(from) || learners.contains(to)))
        });
        assert!(learner_cut);
        assert!(touched(|kind| match kind {
            TraceKind::Command {
                node,
                command: SimCommand::Campaign,
                accepted: false,
            } => Some(*node),
            _ => None,
        }));
        assert!(report.stats.learner_commands_refused > 0);
    }
}
