//! The messages nodes exchange. Every message carries a term; the receiver
//! checks it once, before anything else (DESIGN §3, rule 7).

use serde::{Deserialize, Serialize};

use super::types::Term;

/// A protocol message between two members.
///
/// Messages are small `Copy` values with no heap data, so the steady state
/// (heartbeats and acks) never allocates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Message {
    /// "Would you vote for me in `term`?" `term` is the sender's term plus
    /// one; the sender has not moved to it (Raft thesis §9.6).
    PreVote {
        /// The term the sender would campaign in.
        term: Term,
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
        /// lets the vote through a voter's stickiness (DESIGN §3, rule 3).
        transfer: bool,
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
    },
    /// Acknowledgement of a heartbeat, echoing its `sent_tick`; the Goose's
    /// lease is counted from the newest tick a majority has echoed.
    HeartbeatAck {
        /// The responder's term.
        term: Term,
        /// The `sent_tick` of the heartbeat being acknowledged.
        sent_tick: u64,
    },
    /// Sent by a Goose handing over: "start an election now".
    TimeoutNow {
        /// The Goose's term.
        term: Term,
    },
}

impl Message {
    /// The term this message carries.
    pub fn term(&self) -> Term {
        match *self {
            Message::PreVote { term }
            | Message::PreVoteResponse { term, .. }
            | Message::Vote { term, .. }
            | Message::VoteResponse { term, .. }
            | Message::Heartbeat { term, .. }
            | Message::HeartbeatAck { term, .. }
            | Message::TimeoutNow { term } => term,
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
        }
    }
}
