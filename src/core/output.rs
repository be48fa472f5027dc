//! What the core asks its host to do, and what it reports.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::membership::{Membership, MembershipId};
use super::message::Message;
use super::types::{HardState, NodeId, Role, Term};

/// One thing the host must do, drained with
/// [`Election::poll_output`](crate::core::Election::poll_output).
///
/// Handle them in the order they come out; the drain order (and why a
/// `Persist` must be durable before polling again) is set out on
/// [`Election`](crate::core::Election).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Write this hard state to stable storage, then poll again.
    Persist(HardState),
    /// Write this membership to stable storage (next to the hard state), then
    /// poll again. Rare: it comes out when the membership changes and when a
    /// new Goose re-issues it under its own term. (Boxed so that the common
    /// outputs stay small.)
    PersistMembership(Box<Membership>),
    /// Send `msg` to node `to`, best effort.
    Send {
        /// The destination.
        to: NodeId,
        /// The message.
        msg: Message,
    },
    /// Something a user may want to know about.
    Event(Event),
}

/// A change worth telling users about.
///
/// New kinds of event may be added in minor releases: a `match` on it needs a
/// wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Event {
    /// [`Election::role`](crate::core::Election::role) changed.
    RoleChanged {
        /// The new role.
        role: Role,
        /// The term at the change; for a new Goose this is its fencing token.
        term: Term,
        /// Why the role changed.
        reason: RoleChangeReason,
    },
    /// The node this node follows changed (`None`: no known Goose).
    LeaderChanged {
        /// The Goose of `term`, if known.
        leader: Option<NodeId>,
        /// The term.
        term: Term,
    },
    /// This node started an election (or a pre-vote round) for `term`.
    ElectionStarted {
        /// The term campaigned for.
        term: Term,
        /// `true` for a pre-vote round, which does not change the node's term.
        pre_vote: bool,
    },
    /// This node adopted a newer membership (a Goose: proposed one). It is
    /// durable once the `PersistMembership` before this event is; read it
    /// with [`Election::membership`](crate::core::Election::membership).
    MembershipChanged {
        /// The membership now in force on this node.
        id: MembershipId,
    },
    /// The Goose saw a majority of the new voters hold membership `id`: the
    /// change is committed, and the next one may start.
    MembershipCommitted {
        /// The committed membership.
        id: MembershipId,
    },
    /// A message was dropped without effect.
    MessageDropped {
        /// The sender as claimed.
        from: NodeId,
        /// Why.
        reason: DropReason,
    },
}

/// Why a node's role changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RoleChangeReason {
    /// Won an election and a majority acknowledged the first heartbeat round.
    Elected,
    /// The lease ran out before a majority acknowledged a newer heartbeat.
    LeaseExpired,
    /// A message with a higher term arrived.
    HigherTerm,
    /// The Goose handed over with `transfer_leadership` or `step_down`.
    Transfer,
    /// The Goose removed itself from the membership and the change committed.
    Removed,
}

/// Why a message was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DropReason {
    /// The sender is not a member of the cluster, nor a departing member or
    /// a Goose the core still admits.
    NotMember,
    /// The message claims to come from this node itself.
    FromSelf,
    /// A response or ack from an older term.
    StaleTerm,
    /// Valid, but meaningless in this node's current state (e.g. a vote
    /// response after the election ended, or a heartbeat from a second Goose
    /// in the same term, which cannot legitimately exist).
    Unexpected,
}

/// Counters of what the node has done, for metrics. They only grow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Counters {
    /// Pre-vote rounds started.
    pub pre_votes_started: u64,
    /// Real elections started (term incremented).
    pub elections_started: u64,
    /// Changes of [`Election::role`](crate::core::Election::role).
    pub role_changes: u64,
    /// Heartbeats sent (one per destination).
    pub heartbeats_sent: u64,
    /// Heartbeats received from a current Goose.
    pub heartbeats_received: u64,
    /// Messages dropped because the sender is not a member.
    pub dropped_not_member: u64,
    /// Messages dropped because they claim to come from this node.
    pub dropped_from_self: u64,
    /// Responses dropped because they belong to an older term.
    pub dropped_stale_term: u64,
    /// Messages dropped because they mean nothing in the current state.
    pub dropped_unexpected: u64,
    /// Newer memberships adopted (proposed, re-issued or received).
    pub membership_changes: u64,
}

impl Counters {
    /// Total messages dropped, all reasons together.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_not_member
            + self.dropped_from_self
            + self.dropped_stale_term
            + self.dropped_unexpected
    }
}

/// Why a command (`campaign`, `step_down`, `transfer_leadership`) was refused.
/// A refused command changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The command needs this node to be the Goose, and it is not.
    #[error("this node is not the Goose")]
    NotGoose,
    /// This node already leads the current term.
    #[error("this node already leads the current term")]
    AlreadyLeader,
    /// `campaign` was called within `election_timeout_min` of hearing from a
    /// live Goose (or of starting). A campaign now could overlap that Goose's
    /// lease; ask the Goose to `transfer_leadership` instead, or wait.
    #[error(
        "this node heard from a live Goose (or started) less than the minimum election timeout ago; \
         campaigning now could overlap its lease (ask the Goose to transfer leadership instead)"
    )]
    Sticky,
    /// The target of a transfer is not a voter.
    #[error("node {0} is not a voter")]
    NotAVoter(NodeId),
    /// A Goose cannot transfer leadership to itself.
    #[error("cannot transfer leadership to this node itself")]
    TransferToSelf,
    /// `step_down` found no other voter to hand over to.
    #[error("no other voter to hand over to")]
    NoTransferTarget,
}
