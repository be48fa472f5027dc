//! The persist barrier: a host makes every `Output::Persist` and
//! `Output::PersistMembership` durable before it handles the next output, so
//! everything a node tells the world (a message, a membership event) must
//! already be on disk. Otherwise a crash right after the send would let the
//! node come back having forgotten a term, a vote or a membership that others
//! already counted on.

use thiserror::Error;

use crate::core::{Event, HardState, Membership, MembershipId, Message, NodeId, Output, Term};

/// What one node's host has made durable: the last `Persist` and the last
/// `PersistMembership` it handled, or the state the node was added with.
///
/// A restarted node is built from exactly this, as a real host would build
/// it from its storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Durable {
    hard_state: HardState,
    membership: Membership,
}

impl Durable {
    pub(super) fn new(hard_state: HardState, membership: Membership) -> Self {
        Durable {
            hard_state,
            membership,
        }
    }

    /// The durable term and vote.
    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    /// The durable membership.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// Makes `hard_state` durable (after [`check`] accepted it).
    pub(super) fn persist(&mut self, hard_state: HardState) {
        self.hard_state = hard_state;
    }

    /// Makes `membership` durable (after [`check`] accepted it).
    pub(super) fn persist_membership(&mut self, membership: Membership) {
        self.membership = membership;
    }
}

/// An output that breaks the persist barrier: durable state going back, or
/// something told to the world before the state it shows was durable.
///
/// Every variant is a bug in the core (or in a planted mutation), never in
/// the driver's input.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PersistBarrierViolation {
    /// A `Persist` with a lower term than the durable one.
    #[error("n{node} persisted term {persisted}, below its durable term {durable}")]
    TermWentBack {
        /// The node.
        node: NodeId,
        /// Its durable term.
        durable: Term,
        /// The term it persisted.
        persisted: Term,
    },
    /// A `Persist` that changes the vote already durable in the same term:
    /// the node voted twice.
    #[error(
        "n{node} persisted a vote for {persisted:?} in term {term}, where its durable vote is for n{durable}"
    )]
    VoteChanged {
        /// The node.
        node: NodeId,
        /// The term of both votes.
        term: Term,
        /// The durable vote.
        durable: NodeId,
        /// The vote it persisted.
        persisted: Option<NodeId>,
    },
    /// A `PersistMembership` not newer than the durable membership (older,
    /// or the same one persisted twice).
    #[error("n{node} persisted membership {persisted}, not newer than its durable {durable}")]
    MembershipNotNewer {
        /// The node.
        node: NodeId,
        /// The id of its durable membership.
        durable: MembershipId,
        /// The id of the membership it persisted.
        persisted: MembershipId,
    },
    /// A message carrying a term above the durable one.
    #[error("n{node} sent {kind} to n{to} in term {term} before that term was durable ({durable})")]
    TermNotDurable {
        /// The sender.
        node: NodeId,
        /// The receiver.
        to: NodeId,
        /// The message kind ([`Message::kind`]).
        kind: &'static str,
        /// The term the message carries.
        term: Term,
        /// The sender's durable term.
        durable: Term,
    },
    /// A message that shows a vote (a candidate's request or heartbeat
    /// shows its vote for itself, a granted `VoteResponse` the vote it
    /// grants) that is not the durable one.
    #[error(
        "n{node} sent {kind} to n{to} showing a vote for n{candidate} in term {term} before it was durable ({durable:?})"
    )]
    VoteNotDurable {
        /// The sender.
        node: NodeId,
        /// The receiver.
        to: NodeId,
        /// The message kind ([`Message::kind`]).
        kind: &'static str,
        /// The term of the vote.
        term: Term,
        /// The candidate the vote is for.
        candidate: NodeId,
        /// The sender's durable hard state.
        durable: HardState,
    },
    /// A message naming a membership the sender holds (a vote request, an
    /// ack, an attached or answered membership) newer than its durable one.
    #[error(
        "n{node} sent {kind} to n{to} holding membership {membership} before it was durable ({durable})"
    )]
    MembershipNotDurable {
        /// The sender.
        node: NodeId,
        /// The receiver.
        to: NodeId,
        /// The message kind ([`Message::kind`]).
        kind: &'static str,
        /// The membership the message names.
        membership: MembershipId,
        /// The id of the sender's durable membership.
        durable: MembershipId,
    },
    /// A `MembershipChanged` or `MembershipCommitted` event about a
    /// membership newer than the durable one.
    #[error("n{node} reported {event} {membership} before it was durable ({durable})")]
    EventNotDurable {
        /// The node.
        node: NodeId,
        /// `"MembershipChanged"` or `"MembershipCommitted"`.
        event: &'static str,
        /// The membership the event names.
        membership: MembershipId,
        /// The id of the node's durable membership.
        durable: MembershipId,
    },
}

/// Checks `output`, the next output of node `me`, against what its host has
/// made durable so far. It allocates nothing unless it fails.
pub(super) fn check(
    me: NodeId,
    durable: &Durable,
    output: &Output,
) -> Result<(), PersistBarrierViolation> {
    let held = durable.membership.id();
    match output {
        Output::Persist(next) => check_persist(me, durable.hard_state, *next),
        Output::PersistMembership(next) if next.id() <= held => {
            Err(PersistBarrierViolation::MembershipNotNewer {
                node: me,
                durable: held,
                persisted: next.id(),
            })
        }
        Output::PersistMembership(_) => Ok(()),
        Output::Send { to, msg } => check_send(me, *to, durable, msg),
        Output::Event(event) => match *event {
            Event::MembershipChanged { id } if id > held => {
                Err(PersistBarrierViolation::EventNotDurable {
                    node: me,
                    event: "MembershipChanged",
                    membership: id,
                    durable: held,
                })
            }
            Event::MembershipCommitted { id } if id > held => {
                Err(PersistBarrierViolation::EventNotDurable {
                    node: me,
                    event: "MembershipCommitted",
                    membership: id,
                    durable: held,
                })
            }
            _ => Ok(()),
        },
    }
}

/// Durable state never goes back: terms only grow, and a vote cast in a term
/// stays.
fn check_persist(
    me: NodeId,
    durable: HardState,
    next: HardState,
) -> Result<(), PersistBarrierViolation> {
    if next.term < durable.term {
        return Err(PersistBarrierViolation::TermWentBack {
            node: me,
            durable: durable.term,
            persisted: next.term,
        });
    }
    match durable.voted_for {
        Some(vote) if next.term == durable.term && next.voted_for != Some(vote) => {
            Err(PersistBarrierViolation::VoteChanged {
                node: me,
                term: next.term,
                durable: vote,
                persisted: next.voted_for,
            })
        }
        _ => Ok(()),
    }
}

fn check_send(
    me: NodeId,
    to: NodeId,
    durable: &Durable,
    msg: &Message,
) -> Result<(), PersistBarrierViolation> {
    let kind = msg.kind();
    match shown_hard_state(me, to, msg) {
        Some((term, Some(candidate)))
            if durable.hard_state
                != (HardState {
                    term,
                    voted_for: Some(candidate),
                }) =>
        {
            return Err(PersistBarrierViolation::VoteNotDurable {
                node: me,
                to,
                kind,
                term,
                candidate,
                durable: durable.hard_state,
            });
        }
        Some((term, None)) if term > durable.hard_state.term => {
            return Err(PersistBarrierViolation::TermNotDurable {
                node: me,
                to,
                kind,
                term,
                durable: durable.hard_state.term,
            });
        }
        _ => {}
    }
    let held = durable.membership.id();
    match shown_membership(msg) {
        Some(membership) if membership > held => {
            Err(PersistBarrierViolation::MembershipNotDurable {
                node: me,
                to,
                kind,
                membership,
                durable: held,
            })
        }
        _ => Ok(()),
    }
}

/// The term a message from `me` to `to` shows `me` is in, and the vote in
/// that term it shows, if any. Pre-vote traffic shows nothing durable: a
/// pre-vote names a term the sender has not moved to, and a granted
/// pre-vote echoes the requester's.
fn shown_hard_state(me: NodeId, to: NodeId, msg: &Message) -> Option<(Term, Option<NodeId>)> {
    match *msg {
        // A candidate votes for itself first, and a Goose was a candidate.
        Message::Vote { term, .. } | Message::Heartbeat { term, .. } => Some((term, Some(me))),
        Message::VoteResponse { term, granted } => Some((term, granted.then_some(to))),
        Message::HeartbeatAck { term, .. }
        | Message::TimeoutNow { term }
        | Message::Leave { term }
        | Message::MembershipProbe { term, .. }
        | Message::NewerMembership { term, .. }
        | Message::PreVoteResponse {
            term,
            granted: false,
        } => Some((term, None)),
        Message::PreVote { .. } | Message::PreVoteResponse { granted: true, .. } => None,
    }
}

/// The membership a message says its sender holds. The Goose counts an
/// ack's membership towards a commit, and a voter judges a candidate by the
/// membership it asks with: both must survive the sender's crash.
fn shown_membership(msg: &Message) -> Option<MembershipId> {
    match msg {
        Message::PreVote { membership, .. }
        | Message::Vote { membership, .. }
        | Message::HeartbeatAck { membership, .. }
        | Message::MembershipProbe { membership, .. } => Some(*membership),
        Message::Heartbeat {
            membership: Some(membership),
            ..
        }
        | Message::NewerMembership { membership, .. } => Some(membership.id()),
        _ => None,
    }
}
