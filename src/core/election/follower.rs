//! The Duck that follows a Goose (or waits for one): heartbeats, its
//! election timer, and becoming a follower from any role.

use rand::RngExt;

use super::super::membership::Membership;
use super::super::message::Message;
use super::super::output::{DropReason, Event, RoleChangeReason};
use super::super::types::{HardState, NodeId, Role, Term};
use super::vote::Candidacy;
use super::{Election, State};

/// What only a follower has.
#[derive(Debug, Default)]
pub(super) struct Follower {
    /// The Goose of the current term, once known.
    pub(super) leader: Option<NodeId>,
    /// When this node campaigns (or, as a learner, probes) unless a Goose is
    /// heard from first.
    pub(super) election_deadline_tick: u64,
}

impl Election {
    /// A follower's step: answer requests, follow the Goose's heartbeats;
    /// what only candidates or the Goose await is dropped.
    pub(super) fn step_follower(&mut self, from: NodeId, msg: Message) {
        match msg {
            Message::PreVote { term, membership } => self.on_pre_vote(from, term, membership),
            Message::Vote {
                term,
                transfer,
                membership,
            } => self.on_vote(from, term, transfer, membership),
            Message::Heartbeat {
                sent_tick,
                membership,
                ..
            } => self.on_heartbeat(from, sent_tick, membership),
            Message::TimeoutNow { .. } => self.on_timeout_now(from),
            Message::MembershipProbe { membership, .. } => {
                self.send_newer_membership(from, membership)
            }
            Message::NewerMembership { membership, .. } => self.on_newer_membership(*membership),
            Message::PreVoteResponse { .. }
            | Message::VoteResponse { .. }
            | Message::HeartbeatAck { .. }
            | Message::Leave { .. } => self.drop_message(from, DropReason::Unexpected),
        }
    }

    /// The Goose of this term is alive: follow it, stay sticky, adopt the
    /// membership it brings, and acknowledge.
    pub(super) fn on_heartbeat(
        &mut self,
        from: NodeId,
        sent_tick: u64,
        membership: Option<Box<Membership>>,
    ) {
        self.set_leader(Some(from));
        self.last_contact_tick = self.now_tick;
        self.reset_election_timer();
        self.outbox.counters.heartbeats_received += 1;
        // An older membership is a reordered heartbeat of the same Goose (a
        // newer Goose re-issues under a higher term): nothing to adopt.
        if let Some(membership) = membership.filter(|m| m.id() > self.membership.id()) {
            self.adopt_membership(*membership);
        }
        // The ack names the membership held; `send` persists it first, so
        // the Goose never counts a copy that a crash could still lose.
        self.send(
            from,
            Message::HeartbeatAck {
                term: self.hard.term,
                sent_tick,
                membership: self.membership.id(),
            },
        );
        if self.leaving && self.membership.contains(self.config.id) {
            self.send(
                from,
                Message::Leave {
                    term: self.hard.term,
                },
            );
        }
    }

    /// Becomes a Duck following `leader` in `term` (adopting it if newer).
    pub(super) fn become_follower(
        &mut self,
        term: Term,
        leader: Option<NodeId>,
        reason: RoleChangeReason,
    ) {
        if term > self.hard.term {
            self.hard = HardState {
                term,
                voted_for: None,
            };
            self.outbox.hard_changed();
        }
        let previous = self.leader();
        let election_deadline_tick = match self.state.election_deadline_tick() {
            Some(deadline) => deadline,
            // Stepping down: the election timer did not run while leading.
            None => self.draw_election_deadline(),
        };
        self.state = State::Follower(Follower {
            leader,
            election_deadline_tick,
        });
        self.announce_leader(previous);
        if self.announced_role == Role::Goose {
            self.role_changed(Role::Duck, reason);
        }
    }

    /// A candidate hears of a Goose (or of a newer membership) in its term:
    /// it gives up its campaign and follows, keeping its election timer.
    pub(super) fn give_up_campaign(&mut self) {
        if let State::PreCandidate(candidacy) | State::Candidate(candidacy) = &self.state {
            self.state = State::Follower(Follower {
                leader: None,
                election_deadline_tick: candidacy.election_deadline_tick,
            });
        }
    }

    /// Follows `leader`, announcing a change. Only a follower follows:
    /// callers make this node one first (a candidate follows nobody, so
    /// `None` changes nothing there).
    pub(super) fn set_leader(&mut self, leader: Option<NodeId>) {
        let previous = self.leader();
        if let State::Follower(follower) = &mut self.state {
            follower.leader = leader;
        }
        self.announce_leader(previous);
    }

    /// Announces the Goose this node believes in, if it is not `previous`.
    pub(super) fn announce_leader(&mut self, previous: Option<NodeId>) {
        let leader = self.leader();
        if leader != previous {
            self.emit(Event::LeaderChanged {
                leader,
                term: self.hard.term,
            });
        }
    }

    /// Restarts the election timer of a Duck, a pre-candidate or a
    /// candidate. (A Goose has none; the draw is made all the same, so that
    /// the random sequence depends only on the inputs.)
    pub(super) fn reset_election_timer(&mut self) {
        let deadline = self.draw_election_deadline();
        if let Some(election_deadline_tick) = self.state.election_deadline_mut() {
            *election_deadline_tick = deadline;
        }
    }

    /// A new election deadline, a random timeout from now.
    pub(super) fn draw_election_deadline(&mut self) -> u64 {
        let timeout = self.rng.random_range(
            self.config.election_timeout_min_ticks..self.config.election_timeout_max_ticks,
        );
        self.now_tick + timeout
    }
}

impl State {
    /// When a Duck or (pre-)candidate times out; a Goose has no election
    /// timer.
    pub(super) fn election_deadline_tick(&self) -> Option<u64> {
        match self {
            State::Follower(Follower {
                election_deadline_tick,
                ..
            })
            | State::PreCandidate(Candidacy {
                election_deadline_tick,
                ..
            })
            | State::Candidate(Candidacy {
                election_deadline_tick,
                ..
            }) => Some(*election_deadline_tick),
            State::Leader(_) => None,
        }
    }

    pub(super) fn election_deadline_mut(&mut self) -> Option<&mut u64> {
        match self {
            State::Follower(Follower {
                election_deadline_tick,
                ..
            })
            | State::PreCandidate(Candidacy {
                election_deadline_tick,
                ..
            })
            | State::Candidate(Candidacy {
                election_deadline_tick,
                ..
            }) => Some(election_deadline_tick),
            State::Leader(_) => None,
        }
    }
}
