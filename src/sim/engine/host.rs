//! The simulated host: feeds one input to a node's election and plays its
//! host for every output (persist, send, events), crashing part-way when
//! the plan or a script says so.

use rand::RngExt;

use super::{Input, Simulation, new_election};
use crate::core::{
    CommandError, Event, HardState, Membership, MembershipError, MembershipId, Message, Output,
    Role,
};
use crate::sim::checker::{CommandOutcome, Invariant, Violation, node_id};
use crate::sim::config::SimConfig;
#[cfg(feature = "__planted-bugs")]
use crate::sim::planted::HostBug;
use crate::sim::queue::EventKind;
use crate::sim::schedule::PersistSide;
use crate::sim::trace::{SimCommand, TraceKind};

/// The core's answer to one input: nothing for a tick or a message, the
/// command's result for a command.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Answer {
    None,
    Leadership(Result<(), CommandError>),
    Proposed(Result<MembershipId, MembershipError>),
    Left(Result<(), MembershipError>),
}

impl Answer {
    /// Whether the node accepted the command (a tick or message is always
    /// "accepted").
    fn accepted(&self) -> bool {
        match self {
            Answer::None => true,
            Answer::Leadership(result) => result.is_ok(),
            Answer::Proposed(result) => result.is_ok(),
            Answer::Left(result) => result.is_ok(),
        }
    }
}

impl Simulation {
    /// Feeds one input to a node, then plays its host: handles the outputs
    /// in order, unless the plan or a script crashes the node part-way
    /// through them. Returns the core's answer to a command.
    pub(super) fn drive(&mut self, index: usize, input: Input) -> Result<Answer, Violation> {
        let Some(election) = self.nodes[index].election.as_mut() else {
            return Ok(Answer::None);
        };
        let was_goose = election.role() == Role::Goose;
        let membership_before = election.membership().id();
        let from_peer = matches!(&input, Input::Message(_, Message::NewerMembership { .. }));
        let answer = match &input {
            Input::Tick => {
                election.tick();
                Answer::None
            }
            Input::Message(from, msg) => {
                election.handle_message(*from, msg.clone());
                Answer::None
            }
            Input::Command(SimCommand::Campaign) => Answer::Leadership(election.campaign()),
            Input::Command(SimCommand::StepDown) => Answer::Leadership(election.step_down()),
            Input::Command(SimCommand::Transfer(to)) => {
                Answer::Leadership(election.transfer_leadership(*to))
            }
            Input::Command(SimCommand::AddNode(id)) => {
                Answer::Proposed(election.propose_add(*id, &SimConfig::address(*id)))
            }
            Input::Command(SimCommand::RemoveNode(id)) => {
                Answer::Proposed(election.propose_remove(*id))
            }
            Input::Command(SimCommand::Leave) => Answer::Left(election.leave()),
        };
        let accepted = answer.accepted();
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
            self.stats.commands += 1;
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
        let scripted = self.scripted_crash_point(index);
        let crash_after = scripted.or_else(|| self.draw_crash_point(total));
        let handled = crash_after.unwrap_or(total);
        let outputs = std::mem::take(&mut self.outputs);
        let result = outputs[..handled]
            .iter()
            .try_for_each(|output| self.handle_output(index, output));
        self.outputs = outputs;
        result?;
        if crash_after.is_some() {
            // A scripted crash stays down until restarted; the plan's come
            // back after its restart delay.
            self.crash_node(index, handled, total - handled, scripted.is_none());
        }
        Ok(answer)
    }

    /// Where an armed scripted crash falls in the outputs just produced:
    /// around the first persist, if there is one (else it stays armed).
    fn scripted_crash_point(&mut self, index: usize) -> Option<usize> {
        let side = self.nodes[index].crash_at_persist?;
        let persist = self.outputs.iter().position(|output| {
            matches!(output, Output::Persist(_) | Output::PersistMembership(_))
        })?;
        self.nodes[index].crash_at_persist = None;
        Some(match side {
            PersistSide::Before => persist,
            PersistSide::After => persist + 1,
        })
    }

    /// Plays the host for one output.
    #[inline]
    pub(super) fn handle_output(&mut self, index: usize, output: &Output) -> Result<(), Violation> {
        let node = node_id(index);
        match output {
            &Output::Persist(hard_state) => {
                let previous = self.nodes[index].durable;
                self.checker
                    .on_persist(self.now_us, node, previous, hard_state)?;
                // The planted host bug acknowledges the write but loses it.
                if !self.skips_persist() {
                    self.nodes[index].durable = hard_state;
                }
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
                // The voters whose connectivity counts may have changed.
                self.topology_changed();
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
            node.begin_life(election, self.now_us);
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

    /// Whether the planted host bug loses every hard state write.
    fn skips_persist(&self) -> bool {
        #[cfg(feature = "__planted-bugs")]
        return self.config.host_bug == Some(HostBug::SkipPersist);
        #[cfg(not(feature = "__planted-bugs"))]
        false
    }

    pub(super) fn schedule_first_tick(&mut self, index: usize) {
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
}
