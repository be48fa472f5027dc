//! The event queue: a min-heap on (virtual time, sequence number), so that
//! events at the same instant run in the order they were scheduled and a
//! run never depends on heap internals.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::core::Message;

/// Something scheduled to happen. Nodes are indexed `0..n`.
#[derive(Clone, Debug)]
pub(crate) enum EventKind {
    /// A node's clock ticks; ignored if the node restarted since (another
    /// incarnation) or is down.
    Tick { node: usize, incarnation: u64 },
    /// A message arrives.
    Deliver {
        from: usize,
        to: usize,
        msg: Message,
    },
    /// A crashed node comes back, unless it already did.
    Restart { node: usize, incarnation: u64 },
    /// A paused process resumes, unless it crashed or was paused for
    /// longer since.
    Resume {
        node: usize,
        incarnation: u64,
        until_us: u64,
    },
    /// The scheduled action at this index of the plan's schedule.
    Scripted(usize),
    /// The partition changes.
    Repartition,
    /// A message from a non-member is injected.
    Garbage,
    /// An operator command is issued.
    Command,
    /// The fault phase ends.
    Heal,
}

#[derive(Debug)]
pub(crate) struct Scheduled {
    pub(crate) at_us: u64,
    seq: u64,
    pub(crate) kind: EventKind,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest event.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at_us, other.seq).cmp(&(self.at_us, self.seq))
    }
}

/// Pending events, earliest first; ties in scheduling order.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    heap: BinaryHeap<Scheduled>,
    next_seq: u64,
}

impl EventQueue {
    pub(crate) fn push(&mut self, at_us: u64, kind: EventKind) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Scheduled { at_us, seq, kind });
    }

    pub(crate) fn pop(&mut self) -> Option<Scheduled> {
        self.heap.pop()
    }

    /// When the next event is due.
    pub(crate) fn peek_at_us(&self) -> Option<u64> {
        self.heap.peek().map(|event| event.at_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_then_in_scheduling_order() {
        let mut queue = EventQueue::default();
        queue.push(5, EventKind::Heal);
        queue.push(3, EventKind::Garbage);
        queue.push(5, EventKind::Command);
        queue.push(3, EventKind::Repartition);
        let order: Vec<_> = std::iter::from_fn(|| queue.pop())
            .map(|event| (event.at_us, format!("{:?}", event.kind)))
            .collect();
        assert_eq!(
            order,
            [
                (3, "Garbage".to_string()),
                (3, "Repartition".to_string()),
                (5, "Heal".to_string()),
                (5, "Command".to_string()),
            ]
        );
    }
}
