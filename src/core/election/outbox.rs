//! What the node asks of its host, queued in causal order, with the persist
//! barrier: no `Send` (and no event announcing durable state) ever overtakes
//! a pending `Persist` or `PersistMembership`.
//!
//! The outbox is a field of its own so that it can be borrowed beside the
//! leader's per-peer progress: a heartbeat round iterates the peers while it
//! queues their heartbeats.

use std::collections::VecDeque;

use super::super::membership::Membership;
use super::super::message::Message;
use super::super::output::{Counters, DropReason, Event, Output};
use super::super::types::{HardState, NodeId, Role};
use super::Election;

/// The queued outputs, what must be persisted before the next send, and the
/// counters.
#[derive(Debug)]
pub(super) struct Outbox {
    /// This node, so that events announcing its own term wait for the disk.
    me: NodeId,
    outputs: VecDeque<Output>,
    /// The hard state changed since the last `Persist` output.
    hard_dirty: bool,
    /// The membership changed since the last `PersistMembership` output.
    membership_dirty: bool,
    pub(super) counters: Counters,
}

/// What a pending `Persist` and `PersistMembership` carry: the node's hard
/// state (as it is written) and membership, borrowed when it is queued.
#[derive(Clone, Copy, Debug)]
pub(super) struct Durable<'a> {
    pub(super) hard: HardState,
    pub(super) membership: &'a Membership,
}

impl Outbox {
    /// An empty outbox for node `me`, with room for `capacity` outputs.
    pub(super) fn new(me: NodeId, capacity: usize) -> Self {
        Outbox {
            me,
            outputs: VecDeque::with_capacity(capacity),
            hard_dirty: false,
            membership_dirty: false,
            counters: Counters::default(),
        }
    }

    /// The hard state changed: the next flush persists it.
    pub(super) fn hard_changed(&mut self) {
        self.hard_dirty = true;
    }

    /// The membership changed: the next flush persists it.
    pub(super) fn membership_changed(&mut self) {
        self.membership_dirty = true;
    }

    /// Queues a message, preceded by whatever is pending persist: the
    /// persist barrier lives here, so no send can overtake it.
    #[inline]
    pub(super) fn send(&mut self, durable: Durable<'_>, to: NodeId, msg: Message) {
        self.flush(durable);
        self.outputs.push_back(Output::Send { to, msg });
    }

    /// Queues an event. An event that announces this node's own new term or
    /// leadership comes after any pending `Persist`, because it is only true
    /// once the term is durable; other events do not force a write, so a
    /// vote in a new term costs one `Persist`, not two.
    pub(super) fn emit(&mut self, durable: Durable<'_>, event: Event) {
        let announces_own_term = match event {
            Event::ElectionStarted { pre_vote, .. } => !pre_vote,
            Event::LeaderChanged { leader, .. } => leader == Some(self.me),
            Event::RoleChanged { role, .. } => role == Role::Goose,
            // Announces a membership this node holds (or committed), which
            // is only true once it is durable.
            Event::MembershipChanged { .. } | Event::MembershipCommitted { .. } => true,
            Event::MessageDropped { .. } => false,
        };
        if announces_own_term {
            self.flush(durable);
        }
        self.outputs.push_back(Output::Event(event));
    }

    /// Counts a dropped message and reports it.
    pub(super) fn drop_message(&mut self, durable: Durable<'_>, from: NodeId, reason: DropReason) {
        let counter = match reason {
            DropReason::NotMember => &mut self.counters.dropped_not_member,
            DropReason::FromSelf => &mut self.counters.dropped_from_self,
            DropReason::StaleTerm => &mut self.counters.dropped_stale_term,
            DropReason::Unexpected => &mut self.counters.dropped_unexpected,
        };
        *counter += 1;
        self.emit(durable, Event::MessageDropped { from, reason });
    }

    /// Queues a pending `Persist` and `PersistMembership`. Called before every
    /// send and at the end of every input.
    #[inline]
    pub(super) fn flush(&mut self, durable: Durable<'_>) {
        if self.hard_dirty {
            self.hard_dirty = false;
            self.outputs.push_back(Output::Persist(durable.hard));
        }
        if self.membership_dirty {
            self.membership_dirty = false;
            self.outputs.push_back(Output::PersistMembership(Box::new(
                durable.membership.clone(),
            )));
        }
    }

    /// The oldest queued output.
    pub(super) fn pop(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }
}

impl Election {
    /// The outbox, with what a persist queued now would carry.
    #[inline]
    fn outbox_mut(&mut self) -> (&mut Outbox, Durable<'_>) {
        let hard = self.persisted_form();
        let durable = Durable {
            hard,
            membership: &self.membership,
        };
        (&mut self.outbox, durable)
    }

    /// Queues `msg` to `to` behind any pending persist.
    #[inline]
    pub(super) fn send(&mut self, to: NodeId, msg: Message) {
        let (outbox, durable) = self.outbox_mut();
        outbox.send(durable, to, msg);
    }

    /// Queues `event` (behind any pending persist when it announces durable
    /// state).
    pub(super) fn emit(&mut self, event: Event) {
        let (outbox, durable) = self.outbox_mut();
        outbox.emit(durable, event);
    }

    /// Counts and reports a message dropped without effect.
    pub(super) fn drop_message(&mut self, from: NodeId, reason: DropReason) {
        let (outbox, durable) = self.outbox_mut();
        outbox.drop_message(durable, from, reason);
    }

    /// Queues whatever is pending persist; at the end of every input.
    pub(super) fn flush_hard_state(&mut self) {
        let (outbox, durable) = self.outbox_mut();
        outbox.flush(durable);
    }
}
