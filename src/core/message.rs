//! The messages nodes exchange. Every message carries a term; the receiver
//! checks it once, before anything else: a higher term makes it
//! a Duck of that term, a stale request is answered with the current term.

use serde::{Deserialize, Serialize};

use super::membership::{Membership, MembershipId};
use super::types::Term;

/// A protocol message between two members.
///
/// The steady state (heartbeats without a membership attached, and acks)
/// holds no heap data, so it never allocates; only a heartbeat carrying a
/// membership change does.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Message {
    /// "Would you vote for me in `term`?" `term` is the sender's term plus
    /// one; the sender has not moved to it (Raft thesis §9.6).
    PreVote {
        /// The term the sender would campaign in.
        term: Term,
        /// The membership the sender holds; a voter holding a newer one
        /// refuses.
        membership: MembershipId,
    },
    /// Answer to [`Message::PreVote`]. When granted, `term` echoes the
    /// request's term; when refused, it is the responder's current term.
    PreVoteResponse {
        /// See the variant docs.
        term: Term,
        /// Whether the pre-vote was granted.
        granted: bool,
    },
    /// "Vote for me in `term`" (Raft's RequestVote).
    Vote {
        /// The candidate's term.
        term: Term,
        /// Set when the election was started by a leadership transfer; it
        /// lets the vote through a voter's stickiness (a sticky voter, one that
        /// heard from a live Goose within the minimum election timeout,
        /// refuses other votes).
        transfer: bool,
        /// The membership the candidate holds; a voter holding a newer one
        /// refuses.
        membership: MembershipId,
    },
    /// Answer to [`Message::Vote`], carrying the responder's current term.
    VoteResponse {
        /// The responder's term.
        term: Term,
        /// Whether the vote was granted.
        granted: bool,
    },
    /// The Goose's heartbeat.
    Heartbeat {
        /// The Goose's term.
        term: Term,
        /// The Goose's local tick when it sent this heartbeat, echoed by the ack.
        sent_tick: u64,
        /// The Goose's membership, attached until the receiver acknowledges
        /// holding it (boxed so that the common, empty case stays small).
        membership: Option<Box<Membership>>,
    },
    /// Acknowledgement of a heartbeat, echoing its `sent_tick`; the Goose's
    /// lease is counted from the newest tick a majority has echoed.
    HeartbeatAck {
        /// The responder's term.
        term: Term,
        /// The `sent_tick` of the heartbeat being acknowledged.
        sent_tick: u64,
        /// The membership the responder holds, durably.
        membership: MembershipId,
    },
    /// Sent by a Goose handing over: "start an election now".
    TimeoutNow {
        /// The Goose's term.
        term: Term,
    },
    /// Sent by a member to the Goose: "remove me from the membership".
    Leave {
        /// The sender's term.
        term: Term,
    },
    /// From a learner that has heard from no Goose for an election timeout,
    /// to the voters: "is my membership current?" A voter holding a newer
    /// one answers with [`Message::NewerMembership`]. (Voters learn the same
    /// from each other's refused pre-votes; learners never campaign, and the
    /// Goose of a membership they missed may be a node their transport does
    /// not know.) Never moves anyone's term.
    MembershipProbe {
        /// The sender's term.
        term: Term,
        /// The membership the sender holds.
        membership: MembershipId,
    },
    /// "The membership you campaign with is out of date; here is mine": the
    /// answer, besides the refusal, to a (pre-)vote request holding an older
    /// membership. A node that missed changes thus catches up from any
    /// member it still knows, even when no Goose exists (or the Goose is a
    /// node it has never heard of, which its transport would not accept).
    NewerMembership {
        /// The sender's term.
        term: Term,
        /// The sender's membership.
        membership: Box<Membership>,
    },
}

impl Message {
    /// The term this message carries.
    pub fn term(&self) -> Term {
        match *self {
            Message::PreVote { term, .. }
            | Message::PreVoteResponse { term, .. }
            | Message::Vote { term, .. }
            | Message::VoteResponse { term, .. }
            | Message::Heartbeat { term, .. }
            | Message::HeartbeatAck { term, .. }
            | Message::TimeoutNow { term }
            | Message::Leave { term }
            | Message::MembershipProbe { term, .. }
            | Message::NewerMembership { term, .. } => term,
        }
    }

    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::PreVote { .. } => "pre_vote",
            Message::PreVoteResponse { .. } => "pre_vote_response",
            Message::Vote { .. } => "vote",
            Message::VoteResponse { .. } => "vote_response",
            Message::Heartbeat { .. } => "heartbeat",
            Message::HeartbeatAck { .. } => "heartbeat_ack",
            Message::TimeoutNow { .. } => "timeout_now",
            Message::Leave { .. } => "leave",
            Message::MembershipProbe { .. } => "membership_probe",
            Message::NewerMembership { .. } => "newer_membership",
        }
    }
}
