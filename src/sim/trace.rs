//! The event trace: what happened, in order, in small records.

use std::collections::VecDeque;
use std::fmt;

use super::schedule::Action;
use crate::core::{HardState, MembershipId, Message, NodeId, Role, Term};

/// One thing that happened in a run, at a virtual instant.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEvent {
    /// Virtual time, in microseconds since the start of the run.
    pub at_us: u64,
    /// What happened.
    pub kind: TraceKind,
}

/// What a [`TraceEvent`] records.
///
/// Ticks that produce no output are not recorded: they are most events and
/// say nothing.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TraceKind {
    /// A node ticked and produced `outputs` outputs.
    Tick {
        /// The node.
        node: NodeId,
        /// How many outputs the tick produced.
        outputs: usize,
    },
    /// A node handed a message to the network.
    Sent {
        /// The sender.
        from: NodeId,
        /// The destination.
        to: NodeId,
        /// The message.
        msg: Message,
        /// What the network did with it.
        fate: SendFate,
    },
    /// A message reached its destination and was handed to it.
    Delivered {
        /// The sender.
        from: NodeId,
        /// The destination.
        to: NodeId,
        /// The message.
        msg: Message,
    },
    /// A message arrived at a node that was down.
    ArrivedAtDownNode {
        /// The sender.
        from: NodeId,
        /// The destination.
        to: NodeId,
        /// The message.
        msg: Message,
    },
    /// The host made a hard state durable.
    Persisted {
        /// The node.
        node: NodeId,
        /// What is now on its disk.
        hard_state: HardState,
    },
    /// The host made a membership durable.
    PersistedMembership {
        /// The node.
        node: NodeId,
        /// The membership now on its disk.
        id: MembershipId,
    },
    /// The Goose announced that membership `id` is committed.
    MembershipCommitted {
        /// The Goose.
        node: NodeId,
        /// The committed membership.
        id: MembershipId,
    },
    /// A spare node was started, because a committed membership names it:
    /// fresh hard state, that membership as its starting one (what the
    /// runtime's joiner gets from `JoinReply::Accepted`).
    Joined {
        /// The new node.
        node: NodeId,
        /// The membership it starts with.
        membership: MembershipId,
    },
    /// A node's role changed (from its `RoleChanged` event).
    RoleChanged {
        /// The node.
        node: NodeId,
        /// The new role.
        role: Role,
        /// Its term.
        term: Term,
    },
    /// A node crashed after the host had handled `handled` of the outputs of
    /// its last input; `lost` outputs were never handled.
    Crashed {
        /// The node.
        node: NodeId,
        /// Outputs handled before the crash.
        handled: usize,
        /// Outputs lost with the crash.
        lost: usize,
    },
    /// A node's process was paused until `until_us`: no ticks, messages
    /// held.
    Paused {
        /// The node.
        node: NodeId,
        /// When it resumes.
        until_us: u64,
    },
    /// A paused process resumed and handles the `queued` messages that
    /// arrived meanwhile.
    Resumed {
        /// The node.
        node: NodeId,
        /// Messages held while it was paused.
        queued: usize,
    },
    /// A scripted action (from a schedule or a control method) ran, or was
    /// skipped for the reason given.
    Scripted {
        /// The action, its targets as given.
        action: Action,
        /// Why it was skipped; `None` if it ran.
        skipped: Option<String>,
    },
    /// A node restarted from its persisted state.
    Restarted {
        /// The node.
        node: NodeId,
        /// The state it loaded.
        hard_state: HardState,
        /// Its durable membership does not contain it (it was removed, or
        /// its removal was pending when it crashed): it starts as a removed
        /// node, as the runtime starts it.
        removed: bool,
    },
    /// The partition changed; these directed links now drop every message.
    Partitioned {
        /// `(from, to)` pairs that are cut; empty when all is connected.
        cut: Vec<(NodeId, NodeId)>,
    },
    /// A message from a non-member was injected.
    Garbage {
        /// The claimed sender (not a member).
        from: NodeId,
        /// The destination.
        to: NodeId,
        /// The message.
        msg: Message,
    },
    /// An operator command was issued to a node.
    Command {
        /// The node.
        node: NodeId,
        /// The command.
        command: SimCommand,
        /// Whether the node accepted it.
        accepted: bool,
    },
    /// The fault phase ended: partitions removed, crashed nodes restarted,
    /// no more loss, duplication or crashes.
    Healed,
}

/// What the network did with a sent message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendFate {
    /// In flight; it arrives at this instant.
    InFlight {
        /// Arrival time, in microseconds.
        arrives_at_us: u64,
    },
    /// Duplicated; the copies arrive at these instants.
    Duplicated {
        /// Arrival times, in microseconds.
        arrives_at_us: [u64; 2],
    },
    /// Lost.
    Lost,
    /// Dropped by a partition.
    Cut,
}

/// An operator command the simulator issues during the fault phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimCommand {
    /// [`Election::campaign`](crate::core::Election::campaign).
    Campaign,
    /// [`Election::step_down`](crate::core::Election::step_down).
    StepDown,
    /// [`Election::transfer_leadership`](crate::core::Election::transfer_leadership).
    Transfer(NodeId),
    /// [`Election::propose_add`](crate::core::Election::propose_add) of this
    /// node, at the address the simulator gives it.
    AddNode(NodeId),
    /// [`Election::propose_remove`](crate::core::Election::propose_remove)
    /// of this node.
    RemoveNode(NodeId),
    /// [`Election::leave`](crate::core::Election::leave).
    Leave,
}

impl SimCommand {
    /// Whether this command changes (or asks to change) the membership.
    pub fn is_membership_change(&self) -> bool {
        matches!(
            self,
            SimCommand::AddNode(_) | SimCommand::RemoveNode(_) | SimCommand::Leave
        )
    }
}

/// The command as the call it stands for: `campaign()`, `step_down()`,
/// `transfer_leadership(n4)`.
impl fmt::Display for SimCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimCommand::Campaign => f.write_str("campaign()"),
            SimCommand::StepDown => f.write_str("step_down()"),
            SimCommand::Transfer(to) => write!(f, "transfer_leadership(n{to})"),
            SimCommand::AddNode(id) => write!(f, "propose_add(n{id})"),
            SimCommand::RemoveNode(id) => write!(f, "propose_remove(n{id})"),
            SimCommand::Leave => f.write_str("leave()"),
        }
    }
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>12}us  ", self.at_us)?;
        match &self.kind {
            TraceKind::Tick { node, outputs } => write!(f, "n{node} tick -> {outputs} outputs"),
            TraceKind::Sent {
                from,
                to,
                msg,
                fate,
            } => write!(f, "n{from} -> n{to} send {msg:?}: {fate:?}"),
            TraceKind::Delivered { from, to, msg } => {
                write!(f, "n{from} -> n{to} deliver {msg:?}")
            }
            TraceKind::ArrivedAtDownNode { from, to, msg } => {
                write!(f, "n{from} -> n{to} arrived while n{to} is down: {msg:?}")
            }
            TraceKind::Persisted { node, hard_state } => {
                write!(f, "n{node} persisted {}", DisplayHardState(*hard_state))
            }
            TraceKind::PersistedMembership { node, id } => {
                write!(f, "n{node} persisted membership {id}")
            }
            TraceKind::MembershipCommitted { node, id } => {
                write!(f, "n{node} committed membership {id}")
            }
            TraceKind::Joined { node, membership } => {
                write!(f, "n{node} joined, starting with membership {membership}")
            }
            TraceKind::RoleChanged { node, role, term } => {
                write!(f, "n{node} is now {role} in term {term}")
            }
            TraceKind::Crashed {
                node,
                handled,
                lost,
            } => write!(
                f,
                "n{node} crashed after {handled} outputs ({lost} outputs lost)"
            ),
            TraceKind::Restarted {
                node,
                hard_state,
                removed,
            } => {
                write!(
                    f,
                    "n{node} restarted from {}{}",
                    DisplayHardState(*hard_state),
                    if *removed {
                        ", outside its durable membership (a removed node)"
                    } else {
                        ""
                    }
                )
            }
            TraceKind::Paused { node, until_us } => {
                write!(f, "n{node} paused until {until_us}us")
            }
            TraceKind::Resumed { node, queued } => {
                write!(f, "n{node} resumed with {queued} messages held")
            }
            TraceKind::Scripted {
                action,
                skipped: None,
            } => write!(f, "scripted {action:?}"),
            TraceKind::Scripted {
                action,
                skipped: Some(reason),
            } => write!(f, "scripted {action:?} skipped: {reason}"),
            TraceKind::Partitioned { cut } if cut.is_empty() => f.write_str("network connected"),
            TraceKind::Partitioned { cut } => {
                f.write_str("partition, cut links:")?;
                for (from, to) in cut {
                    write!(f, " n{from}->n{to}")?;
                }
                Ok(())
            }
            TraceKind::Garbage { from, to, msg } => {
                write!(f, "garbage from non-member {from} to n{to}: {msg:?}")
            }
            TraceKind::Command {
                node,
                command,
                accepted,
            } => write!(
                f,
                "n{node} command {command:?} {}",
                if *accepted { "accepted" } else { "refused" }
            ),
            TraceKind::Healed => f.write_str("healed: fault phase over"),
        }
    }
}

/// Displays a hard state as `term T, voted for nV` (or `no vote`).
pub(crate) struct DisplayHardState(pub(crate) HardState);

impl fmt::Display for DisplayHardState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "term {}, {}", self.0.term, DisplayVote(self.0.voted_for))
    }
}

/// Displays a vote as `voted for nV` or `no vote`.
pub(crate) struct DisplayVote(pub(crate) Option<NodeId>);

impl fmt::Display for DisplayVote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => write!(f, "voted for n{id}"),
            None => f.write_str("no vote"),
        }
    }
}

/// Records trace events: always the last few (for failure reports), and
/// every one when asked to.
#[derive(Debug)]
pub(crate) struct Recorder {
    full: Option<Vec<TraceEvent>>,
    tail: VecDeque<TraceEvent>,
    tail_len: usize,
}

impl Recorder {
    pub(crate) fn new(record_all: bool, tail_len: usize) -> Self {
        Recorder {
            full: record_all.then(Vec::new),
            // Preallocate a little: a huge `tail_len` means "keep everything".
            tail: VecDeque::with_capacity(tail_len.min(1_024).saturating_add(1)),
            tail_len,
        }
    }

    pub(crate) fn record(&mut self, at_us: u64, kind: TraceKind) {
        let event = TraceEvent { at_us, kind };
        if let Some(full) = &mut self.full {
            full.push(event.clone());
        }
        if self.tail_len > 0 {
            if self.tail.len() == self.tail_len {
                self.tail.pop_front();
            }
            self.tail.push_back(event);
        }
    }

    pub(crate) fn tail(&self) -> Vec<TraceEvent> {
        self.tail.iter().cloned().collect()
    }

    /// Every event so far, when recording them all; empty otherwise.
    pub(crate) fn full(&self) -> &[TraceEvent] {
        self.full.as_deref().unwrap_or_default()
    }

    pub(crate) fn into_full(self) -> Vec<TraceEvent> {
        self.full.unwrap_or_default()
    }
}
