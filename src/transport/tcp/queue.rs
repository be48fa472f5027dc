//! The bounded per-peer outbound queue.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::core::Message;

/// A bounded FIFO of outbound messages for one peer that never blocks.
///
/// When it is full, pushing drops the oldest heartbeat or heartbeat ack it
/// holds (a newer one supersedes it: the lease counts only the newest echoed
/// tick), or, when it holds none, the oldest message. Votes and hand-overs
/// therefore survive a burst of heartbeats.
#[derive(Clone, Debug)]
pub(crate) struct OutboundQueue {
    items: VecDeque<Message>,
    capacity: usize,
}

impl OutboundQueue {
    /// An empty queue holding at most `capacity` messages (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        OutboundQueue {
            items: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Appends `msg`; when the queue was full, returns the message dropped to
    /// make room.
    pub fn push(&mut self, msg: Message) -> Option<Message> {
        let dropped = if self.items.len() >= self.capacity {
            let victim = self
                .items
                .iter()
                .position(|m| matches!(m, Message::Heartbeat { .. } | Message::HeartbeatAck { .. }))
                .unwrap_or(0);
            self.items.remove(victim)
        } else {
            None
        };
        self.items.push_back(msg);
        dropped
    }

    /// Takes the oldest message (the writer drains instead).
    #[cfg(test)]
    pub fn pop(&mut self) -> Option<Message> {
        self.items.pop_front()
    }

    /// Moves every queued message, oldest first, to the end of `out`.
    pub fn drain_into(&mut self, out: &mut Vec<Message>) {
        out.extend(self.items.drain(..));
    }

    /// Messages queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The queued messages, oldest first.
    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = &Message> {
        self.items.iter()
    }
}

/// An [`OutboundQueue`] shared between `send` and a peer's writer task.
#[derive(Debug)]
pub(crate) struct PeerQueue {
    queue: Mutex<OutboundQueue>,
    /// Wakes the writer; `notify_one` keeps a permit when it is not waiting,
    /// so a push between its check and its wait is not lost.
    ready: Notify,
    /// The peer left the peer set: its writer sends what is queued, then
    /// ends.
    retired: AtomicBool,
}

impl PeerQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        PeerQueue {
            queue: Mutex::new(OutboundQueue::new(capacity)),
            ready: Notify::new(),
            retired: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, OutboundQueue> {
        // No code path panics while holding the lock, and the queue is valid
        // between any two of its operations, so a poisoned lock is still
        // safe to use.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `msg` and wakes the writer; returns the message dropped, if any.
    pub(crate) fn push(&self, msg: Message) -> Option<Message> {
        let dropped = self.lock().push(msg);
        self.ready.notify_one();
        dropped
    }

    pub(crate) fn drain_into(&self, out: &mut Vec<Message>) {
        self.lock().drain_into(out);
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Drops every queued message; returns how many there were.
    pub(crate) fn clear(&self) -> usize {
        let mut queue = self.lock();
        let dropped = queue.len();
        queue.items.clear();
        dropped
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Tells the writer its peer is gone: send what is queued, then end.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        self.ready.notify_one();
    }

    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// Resolves after the next push (or at once if one happened since the
    /// last wait).
    pub(crate) async fn ready(&self) {
        self.ready.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{MembershipId, Term};

    fn hb(tick: u64) -> Message {
        Message::Heartbeat {
            term: Term(1),
            sent_tick: tick,
            membership: None,
        }
    }

    fn vote(term: u64) -> Message {
        Message::Vote {
            term: Term(term),
            transfer: false,
            membership: MembershipId::default(),
        }
    }

    #[test]
    fn full_queue_drops_the_oldest_heartbeat_then_the_oldest_message() {
        let ack = |tick| Message::HeartbeatAck {
            term: Term(1),
            sent_tick: tick,
            membership: MembershipId::default(),
        };
        let timeout_now = Message::TimeoutNow { term: Term(1) };
        let mut queue = OutboundQueue::new(4);
        for msg in [vote(1), hb(1), ack(1), hb(2)] {
            assert_eq!(queue.push(msg), None);
        }
        assert_eq!(queue.push(timeout_now.clone()), Some(hb(1)));
        // Acks are heartbeat traffic too: a newer one supersedes them.
        assert_eq!(queue.push(vote(2)), Some(ack(1)));
        assert_eq!(queue.push(vote(3)), Some(hb(2)));
        // No heartbeat left: the oldest message goes.
        assert_eq!(queue.push(vote(4)), Some(vote(1)));
        assert_eq!(queue.len(), 4);
        assert_eq!(
            queue.iter().cloned().collect::<Vec<_>>(),
            [timeout_now.clone(), vote(2), vote(3), vote(4)]
        );
        assert_eq!(queue.pop(), Some(timeout_now));
    }
}
