//! The network between the nodes: messages in flight, in send order, each due
//! at a tick; and per-link rules (open, cut, held) that decide, when a
//! message falls due, whether it is delivered, dropped or kept.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::core::{Message, NodeId};

use super::LockStep;

/// What a link from one node to another does with a message that falls due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Link {
    /// Delivered to the receiver (if it is up).
    Open,
    /// Dropped, as by a partition.
    Cut,
    /// Kept, in send order, until the link is opened or the messages are
    /// released or dropped by hand.
    Held,
}

/// A message between two nodes, due at `due_tick`.
#[derive(Debug)]
pub(super) struct InFlight {
    pub(super) due_tick: u64,
    pub(super) from: NodeId,
    pub(super) to: NodeId,
    pub(super) msg: Message,
}

/// The rules of every link. Every link is open unless named here; a node
/// isolated is cut from every other, present or future, whatever its links
/// say.
#[derive(Debug, Default)]
pub(super) struct Links {
    isolated: BTreeSet<NodeId>,
    rules: BTreeMap<(NodeId, NodeId), Link>,
}

impl Links {
    /// What the link `from → to` does now.
    pub(super) fn state(&self, from: NodeId, to: NodeId) -> Link {
        // The common case, a healthy network, costs two length checks.
        if self.isolated.is_empty() && self.rules.is_empty() {
            return Link::Open;
        }
        if self.isolated.contains(&from) || self.isolated.contains(&to) {
            return Link::Cut;
        }
        self.rules.get(&(from, to)).copied().unwrap_or(Link::Open)
    }

    pub(super) fn set(&mut self, from: NodeId, to: NodeId, link: Link) {
        if link == Link::Open {
            self.rules.remove(&(from, to));
        } else {
            self.rules.insert((from, to), link);
        }
    }

    pub(super) fn isolate(&mut self, node: NodeId) {
        self.isolated.insert(node);
    }

    pub(super) fn reconnect(&mut self, node: NodeId) {
        self.isolated.remove(&node);
    }

    pub(super) fn clear(&mut self) {
        self.isolated.clear();
        self.rules.clear();
    }
}

/// Messages in flight and messages held, in send order.
#[derive(Debug, Default)]
pub(super) struct Wire {
    /// Ordered by due tick: every message is due `delay_ticks` after it was
    /// sent, and released messages, due at once, go to the front.
    pub(super) in_flight: VecDeque<InFlight>,
    pub(super) held: Vec<InFlight>,
    pub(super) links: Links,
}

impl Wire {
    /// The next message due at or before `now_tick`, if any.
    pub(super) fn pop_due(&mut self, now_tick: u64) -> Option<InFlight> {
        if self.in_flight.front()?.due_tick <= now_tick {
            self.in_flight.pop_front()
        } else {
            None
        }
    }

    /// Takes the messages held on `from → to` out of the held list, in send
    /// order.
    pub(super) fn take_held(&mut self, from: NodeId, to: NodeId) -> Vec<InFlight> {
        let (taken, kept) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|m| m.from == from && m.to == to);
        self.held = kept;
        taken
    }

    /// Puts `released` back in flight ahead of everything else, due at
    /// `now_tick`: they were sent before anything still in flight on their
    /// link.
    pub(super) fn requeue(&mut self, released: Vec<InFlight>, now_tick: u64) {
        for mut message in released.into_iter().rev() {
            message.due_tick = now_tick;
            self.in_flight.push_front(message);
        }
    }
}

/// Steering the network. Links are named by node ids, which need not be in
/// the network yet: a link to a joiner can be cut before it starts.
impl LockStep {
    /// What the link `from → to` does with a message falling due now.
    pub fn link(&self, from: NodeId, to: NodeId) -> Link {
        self.wire.links.state(from, to)
    }

    /// Drops every message on `from → to` from now on (the other direction
    /// is untouched).
    pub fn cut(&mut self, from: NodeId, to: NodeId) {
        self.wire.links.set(from, to, Link::Cut);
    }

    /// Cuts both directions between `a` and `b`.
    pub fn cut_both_ways(&mut self, a: NodeId, b: NodeId) {
        self.cut(a, b);
        self.cut(b, a);
    }

    /// Keeps every message on `from → to` from now on, in send order, until
    /// the link is opened or they are released or dropped.
    pub fn hold(&mut self, from: NodeId, to: NodeId) {
        self.wire.links.set(from, to, Link::Held);
    }

    /// Opens `from → to` again; the messages held on it fall due at once,
    /// ahead of everything else, and are delivered at the next settle.
    pub fn open(&mut self, from: NodeId, to: NodeId) {
        self.wire.links.set(from, to, Link::Open);
        let released = self.wire.take_held(from, to);
        self.wire.requeue(released, self.now_tick);
    }

    /// Opens both directions between `a` and `b`.
    pub fn open_both_ways(&mut self, a: NodeId, b: NodeId) {
        self.open(a, b);
        self.open(b, a);
    }

    /// Cuts `node` from every other node, present or future, until
    /// [`LockStep::reconnect`] or [`LockStep::heal`].
    pub fn isolate(&mut self, node: NodeId) {
        self.wire.links.isolate(node);
    }

    /// Ends the isolation of `node`; its links are as they were before.
    pub fn reconnect(&mut self, node: NodeId) {
        self.wire.links.reconnect(node);
    }

    /// Opens every link and ends every isolation; every held message falls
    /// due at once, ahead of everything else.
    pub fn heal(&mut self) {
        self.wire.links.clear();
        let released = std::mem::take(&mut self.wire.held);
        self.wire.requeue(released, self.now_tick);
    }

    /// The messages held so far, in send order: (from, to, message).
    pub fn held(&self) -> impl Iterator<Item = (NodeId, NodeId, &Message)> {
        self.wire.held.iter().map(|m| (m.from, m.to, &m.msg))
    }

    /// Hands the messages held on `from → to` to `to` now, in send order,
    /// whatever the link says, and returns how many were delivered (none
    /// when `to` is down). The link keeps its rule; what they make the
    /// receiver answer is handled at the next settle.
    pub fn release(&mut self, from: NodeId, to: NodeId) -> usize {
        let released = self.wire.take_held(from, to);
        released
            .into_iter()
            .map(|message| usize::from(self.deliver(message)))
            .sum()
    }

    /// Drops the messages held on `from → to`; returns how many.
    pub fn drop_held(&mut self, from: NodeId, to: NodeId) -> usize {
        let dropped = self.wire.take_held(from, to).len();
        self.counts.dropped += dropped as u64;
        dropped
    }
}
