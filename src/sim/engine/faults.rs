//! The fault plan applied: crashes part-way through a node's outputs and
//! restarts from its disk, the faulty network and its partitions, operator
//! commands, and the healing that ends the fault phase.

use rand::RngExt;

use super::{Input, Simulation, new_election};
use crate::core::{Message, NodeId, Role};
use crate::sim::checker::{Invariant, Violation, node_id};
use crate::sim::network::Route;
use crate::sim::queue::EventKind;
use crate::sim::trace::{SendFate, SimCommand, TraceKind};

impl Simulation {
    // ----- the network ---------------------------------------------------------

    /// Hands a message to the network: through the plan's latency, jitter,
    /// loss, duplication and partitions during the fault phase, with the
    /// healed latency after it; scripted cuts and link faults apply in both
    /// phases.
    #[inline]
    pub(super) fn send(&mut self, from: usize, to_id: NodeId, msg: Message) {
        self.stats.messages_sent += 1;
        let from_id = node_id(from);
        let to = match usize::try_from(to_id.0) {
            Ok(id) if (1..=self.nodes.len()).contains(&id) => id - 1,
            // The core only answers members; anything else goes nowhere.
            _ => return,
        };
        let plan = self.faults_active().then_some(&self.config.faults);
        let route = self.network.route(
            from,
            to,
            plan,
            &self.config.healed_latency_us,
            &mut self.rng,
        );
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

    // ----- crashes and restarts -----------------------------------------------

    /// Where the host crashes while draining `total` outputs: after `k` of
    /// them, each of the `total + 1` points getting the plan's crash
    /// probability in turn; `None` for no crash. Inputs with more outputs
    /// offer more points, so crashes land across `Persist`/`Send` boundaries
    /// in proportion to how many there are, not only between inputs.
    pub(super) fn draw_crash_point(&mut self, total: usize) -> Option<usize> {
        let probability = self.config.faults.crash_probability;
        if !self.faults_active() || probability <= 0.0 {
            return None;
        }
        (0..=total).find(|_| self.rng.random_bool(probability))
    }

    /// Volatile state is lost; the disk (`durable`) is kept. The plan's
    /// crashes (`restart_later`) come back after its restart delay; a
    /// scripted one stays down until restarted or healed.
    pub(super) fn crash_node(
        &mut self,
        index: usize,
        handled: usize,
        lost: usize,
        restart_later: bool,
    ) {
        let node = &mut self.nodes[index];
        node.election = None;
        node.leaving = false;
        node.pause = None;
        node.crash_at_persist = None;
        node.incarnation += 1;
        let incarnation = node.incarnation;
        self.checker.on_crash(self.now_us, node_id(index));
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
        self.topology_changed();
        if !restart_later {
            return;
        }
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
    pub(super) fn restart_node(&mut self, index: usize) -> Result<(), Violation> {
        let loaded = self.nodes[index].durable;
        self.checker.on_restart(
            self.now_us,
            node_id(index),
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
        self.nodes[index].begin_life(election, self.now_us);
        self.topology_changed();
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

    // ----- scheduled faults: partitions and commands ----------------------------

    pub(super) fn repartition(&mut self) {
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
        self.topology_changed();
        self.recorder
            .record(self.now_us, TraceKind::Partitioned { cut });
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
    pub(super) fn issue_command(&mut self) -> Result<(), Violation> {
        let Some(commands) = &self.config.faults.commands else {
            return Ok(());
        };
        let up: Vec<usize> = (0..self.nodes.len())
            .filter(|index| self.nodes[*index].is_running())
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
        self.drive(index, Input::Command(command))?;
        Ok(())
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

    // ----- healing -------------------------------------------------------------

    /// Ends the fault phase: no partition (the plan's or the script's), no
    /// link with faults of its own, no crash armed for a persist, every
    /// paused process resumed, every crashed node back, and from now on no
    /// loss, duplication, crash or command from the plan. Scripted actions
    /// after this are still honoured.
    pub(super) fn heal(&mut self) -> Result<(), Violation> {
        self.stretches.close(self.now_us, self.stats.max_term);
        self.healed_at_us = Some(self.now_us);
        self.network.heal();
        self.recorder.record(self.now_us, TraceKind::Healed);
        for index in 0..self.nodes.len() {
            // A crash armed for a persist that has not come is a fault too.
            self.nodes[index].crash_at_persist = None;
            let node = &self.nodes[index];
            if node.pause.is_some() {
                self.resume(index)?;
            } else if node.election.is_none() && node.joined {
                self.restart_node(index)?;
            }
        }
        Ok(())
    }

    /// A paused process resumes: it handles the messages that arrived
    /// meanwhile, in order, believing what it believed; its ticks go on at
    /// the next beat of its clock.
    pub(super) fn resume(&mut self, index: usize) -> Result<(), Violation> {
        let Some(pause) = self.nodes[index].pause.take() else {
            return Ok(());
        };
        self.topology_changed();
        self.recorder.record(
            self.now_us,
            TraceKind::Resumed {
                node: node_id(index),
                queued: pause.inbox.len(),
            },
        );
        for (from, msg) in pause.inbox {
            self.deliver(from, index, msg)?;
        }
        Ok(())
    }

    pub(super) fn schedule_command(&mut self) {
        if let Some(commands) = &self.config.faults.commands {
            let at_us = self.now_us + self.rng.random_range(commands.every_us.clone());
            self.queue.push(at_us, EventKind::Command);
        }
    }
}
