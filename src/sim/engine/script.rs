//! Performing scripted actions: resolving their targets, refusing what
//! cannot be done (changing nothing), doing the rest, and checking the
//! cluster afterwards as after any event. Schedules are queued here too.

use super::host::Answer;
use super::{Input, Pause, Simulation, period_us};
use crate::sim::checker::{Violation, index_of, node_id};
use crate::sim::queue::EventKind;
use crate::sim::schedule::{
    Action, LinkFaults, PersistSide, ScheduleError, Target, validate_action,
};
use crate::sim::trace::{SimCommand, TraceKind};

use super::control::ControlError;

/// An action with its targets resolved to node indexes, checked against
/// the cluster as it is now.
#[derive(Debug)]
enum Resolved {
    Cut(usize, usize, bool),
    Repair(usize, usize),
    Isolate(usize),
    HealAll,
    Partition(Vec<Vec<usize>>),
    SetLink(usize, usize, LinkFaults),
    Crash(usize),
    CrashAtPersist(usize, PersistSide),
    Restart(usize),
    Pause(usize, u64),
    SetClockRate(usize, i64),
    Command(usize, SimCommand),
}

impl Simulation {
    /// Performs `action` now: refused with nothing changed, or done,
    /// recorded and followed by the checks of an event.
    pub(super) fn act(&mut self, action: Action) -> Result<Answer, ControlError> {
        self.failed()?;
        let resolved = self.begin_action(action)?;
        let answer = self
            .perform_resolved(resolved)
            .map_err(|violation| self.record_failure(violation))?;
        let checked = self.after_change();
        self.settle(checked)?;
        Ok(answer)
    }

    /// Resolves `action` and records it in the trace and the figures, as
    /// performed or as skipped with the reason.
    fn begin_action(&mut self, action: Action) -> Result<Resolved, ControlError> {
        match self.resolve_action(&action) {
            Ok(resolved) => {
                self.stats.scripted_actions += 1;
                self.record_scripted(action, None);
                Ok(resolved)
            }
            Err(refusal) => {
                self.stats.scripted_actions_skipped += 1;
                self.record_scripted(action, Some(refusal.to_string()));
                Err(refusal)
            }
        }
    }

    /// Queues every action of the plan's schedule at its time.
    pub(super) fn schedule_script(&mut self) {
        let times: Vec<u64> = self
            .config
            .faults
            .schedule
            .iter()
            .map(|(at_us, _)| at_us)
            .collect();
        for (index, at_us) in times.into_iter().enumerate() {
            self.queue.push(at_us, EventKind::Scripted(index));
        }
    }

    /// The schedule's action `index` comes due: performed, or skipped (and
    /// recorded as such) when it cannot be done now, as when it names the
    /// Goose and there is none. Only a broken invariant fails the run.
    pub(super) fn apply_scheduled(&mut self, index: usize) -> Result<(), Violation> {
        let Some((_, action)) = self.config.faults.schedule.iter().nth(index) else {
            return Ok(());
        };
        match self.begin_action(action.clone()) {
            Ok(resolved) => self.perform_resolved(resolved).map(|_| ()),
            Err(_) => Ok(()),
        }
    }

    fn record_scripted(&mut self, action: Action, skipped: Option<String>) {
        self.recorder
            .record(self.now_us, TraceKind::Scripted { action, skipped });
    }

    /// A target's node index, or why it cannot be aimed at.
    fn target(&self, target: Target) -> Result<usize, ControlError> {
        match target {
            Target::Node(node) => index_of(node)
                .filter(|index| *index < self.nodes.len())
                .ok_or(ControlError::Invalid(ScheduleError::UnknownNode {
                    at_us: self.now_us,
                    node,
                })),
            Target::Goose => self.goose().and_then(index_of).ok_or(ControlError::NoGoose),
        }
    }

    /// A target that is up (paused or not).
    fn up(&self, target: Target) -> Result<usize, ControlError> {
        let index = self.target(target)?;
        let node = &self.nodes[index];
        match (&node.election, node.joined) {
            (Some(_), _) => Ok(index),
            (None, true) => Err(ControlError::Down(node_id(index))),
            (None, false) => Err(ControlError::NotJoined(node_id(index))),
        }
    }

    /// Resolves and checks an action without changing anything.
    fn resolve_action(&self, action: &Action) -> Result<Resolved, ControlError> {
        validate_action(self.now_us, action, self.nodes.len())?;
        Ok(match action {
            Action::Cut(a, b) => Resolved::Cut(self.target(*a)?, self.target(*b)?, true),
            Action::CutOneWay(from, to) => {
                Resolved::Cut(self.target(*from)?, self.target(*to)?, false)
            }
            Action::Repair(a, b) => Resolved::Repair(self.target(*a)?, self.target(*b)?),
            Action::Isolate(node) => Resolved::Isolate(self.target(*node)?),
            Action::HealAll => Resolved::HealAll,
            Action::Partition(groups) => Resolved::Partition(
                groups
                    .iter()
                    .map(|group| group.iter().map(|node| self.target(*node)).collect())
                    .collect::<Result<_, _>>()?,
            ),
            Action::SetLink(from, to, faults) => {
                Resolved::SetLink(self.target(*from)?, self.target(*to)?, *faults)
            }
            Action::Crash(node) => Resolved::Crash(self.up(*node)?),
            Action::CrashAtPersist(node, side) => Resolved::CrashAtPersist(self.up(*node)?, *side),
            Action::Restart(node) => {
                let index = self.target(*node)?;
                let node = &self.nodes[index];
                if !node.joined {
                    return Err(ControlError::NotJoined(node_id(index)));
                }
                if node.election.is_some() {
                    return Err(ControlError::AlreadyUp(node_id(index)));
                }
                Resolved::Restart(index)
            }
            Action::Pause(node, duration_us) => Resolved::Pause(self.up(*node)?, *duration_us),
            Action::SetClockRatePpm(node, ppm) => Resolved::SetClockRate(self.target(*node)?, *ppm),
            Action::Command(node, command) => {
                let index = self.up(*node)?;
                if self.nodes[index].pause.is_some() {
                    return Err(ControlError::Paused(node_id(index)));
                }
                Resolved::Command(index, *command)
            }
        })
    }

    /// Does what a resolved action says.
    fn perform_resolved(&mut self, resolved: Resolved) -> Result<Answer, Violation> {
        match resolved {
            Resolved::Cut(from, to, both_ways) => self.network.script_cut(from, to, both_ways),
            Resolved::Repair(a, b) => self.network.repair(a, b),
            Resolved::Isolate(node) => self.network.isolate(node),
            Resolved::HealAll => self.network.heal_all(),
            Resolved::Partition(groups) => self.network.partition(&groups),
            Resolved::SetLink(from, to, faults) => self.network.set_link(from, to, faults),
            Resolved::Crash(index) => self.crash_node(index, 0, 0, false),
            Resolved::CrashAtPersist(index, side) => {
                self.nodes[index].crash_at_persist = Some(side);
            }
            Resolved::Restart(index) => self.restart_node(index)?,
            Resolved::Pause(index, duration_us) => self.pause_process(index, duration_us),
            Resolved::SetClockRate(index, ppm) => {
                let node = &mut self.nodes[index];
                node.clock_rate_ppm = ppm;
                node.tick_period_us = period_us(self.config.tick_us, ppm);
            }
            Resolved::Command(index, command) => {
                return self.drive(index, Input::Command(command));
            }
        }
        self.topology_changed();
        Ok(Answer::None)
    }

    /// Pauses a node's process until `now + duration_us` (or later, if it
    /// is paused longer already).
    fn pause_process(&mut self, index: usize, duration_us: u64) {
        let until_us = self.now_us.saturating_add(duration_us);
        let node = &mut self.nodes[index];
        let pause = node.pause.get_or_insert(Pause {
            until_us,
            inbox: Vec::new(),
        });
        pause.until_us = pause.until_us.max(until_us);
        let until_us = pause.until_us;
        node.lagging = true;
        let incarnation = node.incarnation;
        self.stats.pauses += 1;
        self.recorder.record(
            self.now_us,
            TraceKind::Paused {
                node: node_id(index),
                until_us,
            },
        );
        self.queue.push(
            until_us,
            EventKind::Resume {
                node: index,
                incarnation,
                until_us,
            },
        );
    }
}
