//! What the driver saw: every output drained and every message delivered
//! (when recording), and how many messages met each fate.

use crate::core::{Message, NodeId, Output};

/// One output of one node, as the driver drained it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggedOutput {
    /// The driver's tick when the output was drained.
    pub tick: u64,
    /// The node that produced it.
    pub node: NodeId,
    /// The output, sends to cut links included.
    pub output: Output,
}

/// One message handed to its receiver's `handle_message`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// The driver's tick at delivery.
    pub tick: u64,
    /// The sender.
    pub from: NodeId,
    /// The receiver.
    pub to: NodeId,
    /// The message.
    pub msg: Message,
}

/// How many messages met each fate since the driver was built. Counted
/// whether recording is on or not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageCounts {
    /// Handed to the receiver (released held messages included).
    pub delivered: u64,
    /// Dropped on a cut link (to or from an isolated node included), or held
    /// and then dropped by hand.
    pub dropped: u64,
    /// Dropped because the receiver was down or not in the network.
    pub dropped_no_receiver: u64,
}

/// The logs, kept only when recording is on: a long run that does not need
/// them (or that counts allocations) turns them off.
#[derive(Debug)]
pub(super) struct Records {
    pub(super) on: bool,
    pub(super) outputs: Vec<LoggedOutput>,
    pub(super) deliveries: Vec<Delivery>,
}

impl Records {
    pub(super) fn new(on: bool) -> Self {
        Records {
            on,
            outputs: Vec::new(),
            deliveries: Vec::new(),
        }
    }

    /// Logs the output `make` builds, building it only when recording.
    pub(super) fn output(&mut self, tick: u64, node: NodeId, make: impl FnOnce() -> Output) {
        if self.on {
            self.outputs.push(LoggedOutput {
                tick,
                node,
                output: make(),
            });
        }
    }

    /// Logs a copy of `msg`, delivered now, only when recording.
    pub(super) fn delivery(&mut self, tick: u64, from: NodeId, to: NodeId, msg: &Message) {
        if self.on {
            self.deliveries.push(Delivery {
                tick,
                from,
                to,
                msg: msg.clone(),
            });
        }
    }
}
