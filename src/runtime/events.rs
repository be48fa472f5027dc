//! Every transition of a node, none coalesced: the core's record of role
//! and Goose changes, broadcast by the driver to each [`Events`] stream,
//! with the late heartbeat acks that explain a Goose losing its lease.

use std::time::Duration;
use thiserror::Error;

use tokio::sync::broadcast;
use tokio::time::Instant;

use super::handle::NodeHandle;
use crate::core::{NodeId, Role, RoleChangeReason, Term};

/// How many events a subscriber may fall behind before it loses the oldest
/// ones (and is told how many with [`EventsError::Lagged`]). A transition
/// makes a few events per node, so this holds hundreds of transitions: a
/// subscriber that reads as it goes never lags. A power of two, which the
/// channel needs to hold exactly this many.
pub const EVENTS_CAPACITY: usize = 1024;

/// One transition of a node, as its driver handled it.
///
/// These are the core's record: the core notices that a lease ran out at a
/// tick, so a Goose whose driver is stalled past its lease reports
/// `RoleChanged` only when the driver runs again. The real-time signal is
/// [`Leadership::lost`](super::Leadership::lost), which completes at the
/// lease's deadline whatever the driver does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeEvent {
    /// This node became the Goose or a Duck.
    RoleChanged {
        /// The term at the change; for a new Goose, its fencing token.
        term: Term,
        /// The new role.
        role: Role,
        /// Why it changed.
        reason: RoleReason,
        /// When the driver handled the change (tokio's clock).
        at: Instant,
    },
    /// The Goose this node follows changed (itself when it leads).
    GooseChanged {
        /// The Goose of `term`, if known.
        id: Option<NodeId>,
        /// The term.
        term: Term,
    },
    /// A heartbeat ack of the term this node leads (or led) arrived after
    /// the lease it could have extended had run out: its round trip is at
    /// least the lease. A Goose whose acks are late cannot keep its lease:
    /// it is elected, steps down, and again. Every late ack is reported
    /// (once per heartbeat round and peer); the log line saying what to
    /// change is rate-limited
    /// ([`LATE_ACK_WARNING_INTERVAL`](super::LATE_ACK_WARNING_INTERVAL)), and
    /// `NodeHandle::late_acks` counts them.
    LateAck {
        /// The peer that acknowledged.
        peer: NodeId,
        /// From the instant this node processed the heartbeat's tick to the
        /// ack's arrival; `None` when that tick is older than the driver
        /// remembers (2.5 s, the top of
        /// [`ACK_ROUND_TRIP_BUCKETS`](super::ACK_ROUND_TRIP_BUCKETS), or the
        /// lease if longer), so longer still.
        round_trip: Option<Duration>,
        /// The lease length in real time.
        lease: Duration,
    },
}

/// Why a node's role changed: the core's reasons, and the node stopping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RoleReason {
    /// Won an election and a majority acknowledged the first heartbeat round.
    Elected,
    /// The lease ran out before a majority acknowledged a newer heartbeat
    /// (noticed by the core at a tick).
    LeaseExpired,
    /// A message with a higher term arrived.
    HigherTerm,
    /// The Goose handed over with `transfer_leadership`, `step_down`, or a
    /// graceful shutdown.
    Transfer,
    /// The Goose removed itself from the membership and the change committed.
    Removed,
    /// The node stopped while it led without handing over (a fatal error):
    /// the last event before the stream closes. An aborted node sends
    /// nothing; its stream just closes.
    Stopped,
}

impl From<RoleChangeReason> for RoleReason {
    fn from(reason: RoleChangeReason) -> Self {
        match reason {
            RoleChangeReason::Elected => RoleReason::Elected,
            RoleChangeReason::LeaseExpired => RoleReason::LeaseExpired,
            RoleChangeReason::HigherTerm => RoleReason::HigherTerm,
            RoleChangeReason::Transfer => RoleReason::Transfer,
            RoleChangeReason::Removed => RoleReason::Removed,
        }
    }
}

/// Why [`Events::recv`] returned no event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EventsError {
    /// This subscriber fell more than [`EVENTS_CAPACITY`] events behind and
    /// the oldest `missed` were dropped; the next `recv` returns the oldest
    /// event still held, and the stream goes on.
    #[error("fell behind: {missed} events were dropped")]
    Lagged {
        /// How many events this subscriber will never see.
        missed: u64,
    },
    /// The node has stopped and every event it sent has been received.
    #[error("the node stopped; no more events")]
    Closed,
}

/// A subscriber to a node's transitions, from [`NodeHandle::events`]. It
/// sees the events sent after it was created, in order.
#[derive(Debug)]
pub struct Events {
    /// `None` when subscribed after the node stopped.
    receiver: Option<broadcast::Receiver<NodeEvent>>,
}

impl Events {
    /// The next event. Fails with [`EventsError::Lagged`] if this
    /// subscriber fell behind (then carries on from the oldest event still
    /// held), and with [`EventsError::Closed`] once the node has stopped
    /// and every event has been received.
    pub async fn recv(&mut self) -> Result<NodeEvent, EventsError> {
        let Some(receiver) = &mut self.receiver else {
            return Err(EventsError::Closed);
        };
        receiver.recv().await.map_err(|error| match error {
            broadcast::error::RecvError::Lagged(missed) => EventsError::Lagged { missed },
            broadcast::error::RecvError::Closed => EventsError::Closed,
        })
    }
}

impl NodeHandle {
    /// Every transition of this node from now on, none coalesced (unlike
    /// [`subscribe`](Self::subscribe)): role changes with their reason and
    /// instant, changes of the Goose it follows, and heartbeat acks that
    /// came too late to extend its lease ([`NodeEvent::LateAck`]), in the
    /// order the driver handled them. A graceful shutdown of a Goose reports its
    /// hand-over; a fatal error while leading reports a last
    /// [`RoleReason::Stopped`] Duck.
    ///
    /// Each subscriber holds up to [`EVENTS_CAPACITY`] unread events; one
    /// that falls further behind gets [`EventsError::Lagged`] with the
    /// exact count it missed. Subscribing after the node stopped gives a
    /// stream that is closed at once.
    ///
    /// These are the core's record, reported when the driver runs: for a
    /// real-time "leadership is over", use
    /// [`Leadership::lost`](super::Leadership::lost).
    pub fn events(&self) -> Events {
        Events {
            receiver: self.event_sender().map(|sender| sender.subscribe()),
        }
    }
}

/// What the driver sends events with; sending to nobody is not an error.
#[derive(Debug)]
pub(crate) struct EventSender {
    sender: broadcast::Sender<NodeEvent>,
    /// The role of the last `RoleChanged` sent, so that a node that stops
    /// while leading says it no longer does.
    leading: Option<Term>,
}

impl EventSender {
    /// A channel of [`EVENTS_CAPACITY`]; the handles keep its weak end.
    pub(crate) fn new() -> (Self, broadcast::WeakSender<NodeEvent>) {
        let (sender, _) = broadcast::channel(EVENTS_CAPACITY);
        let weak = sender.downgrade();
        (
            EventSender {
                sender,
                leading: None,
            },
            weak,
        )
    }

    /// Sends a role change the core reported.
    pub(crate) fn role_changed(&mut self, term: Term, role: Role, reason: RoleChangeReason) {
        self.send_role(term, role, reason.into());
    }

    /// Sends a change of the Goose followed.
    pub(crate) fn goose_changed(&self, id: Option<NodeId>, term: Term) {
        // No subscriber is not an error: nobody is listening.
        let _ = self.sender.send(NodeEvent::GooseChanged { id, term });
    }

    /// Sends a late ack the driver measured.
    pub(crate) fn late_ack(&self, peer: NodeId, round_trip: Option<Duration>, lease: Duration) {
        let _ = self.sender.send(NodeEvent::LateAck {
            peer,
            round_trip,
            lease,
        });
    }

    /// The driver is stopping: a node still leading says it no longer does.
    pub(crate) fn stopped(&mut self) {
        if let Some(term) = self.leading {
            self.send_role(term, Role::Duck, RoleReason::Stopped);
        }
    }

    fn send_role(&mut self, term: Term, role: Role, reason: RoleReason) {
        self.leading = (role == Role::Goose).then_some(term);
        let at = Instant::now();
        let _ = self.sender.send(NodeEvent::RoleChanged {
            term,
            role,
            reason,
            at,
        });
    }
}
