//! Terms and votes: the one term check every message goes through, whether
//! to grant a vote or pre-vote, and campaigning (the pre-candidate and
//! candidate roles).

use super::super::membership::MembershipId;
use super::super::message::Message;
use super::super::output::{DropReason, Event, RoleChangeReason};
use super::super::quorum::{Tally, TallyResult};
use super::super::types::{NodeId, Term};
use super::mutation::Mutation;
use super::outbox::Durable;
use super::{Election, State};

/// The early retries of refused pre-vote rounds since one contact with a
/// Goose.
#[derive(Debug, Default)]
pub(super) struct EarlyRetries {
    /// The `last_contact_tick` these retries follow; a newer contact starts
    /// the count again.
    contact_tick: u64,
    /// Early retries made since that contact.
    used: u8,
}

/// What only a pre-candidate or candidate has.
#[derive(Debug)]
pub(super) struct Candidacy {
    /// The answers so far, this node's own grant included.
    pub(super) tally: Tally,
    /// When this node campaigns again unless the round is decided first.
    pub(super) election_deadline_tick: u64,
    /// A candidate has refused a rival of a lower id campaigning in its own
    /// term, so it leaves any early retry of a split round to that rival.
    outranked: bool,
}

impl Candidacy {
    fn new(me: NodeId, election_deadline_tick: u64) -> Self {
        Candidacy {
            tally: Tally::with_self(me),
            election_deadline_tick,
            outranked: false,
        }
    }
}

impl Election {
    // ----- the term check ---------------------------------------------------

    /// The term check, done once for every message, before anything else.
    /// Returns whether the message goes on to the step of this node's role.
    pub(super) fn check_term(&mut self, from: NodeId, msg: &Message) -> bool {
        let term = msg.term();
        let current = self.hard.term;
        if term > current {
            match msg {
                // A pre-vote never moves anyone's term; a granted answer
                // echoes the term we would campaign in. Nor does a probe.
                Message::PreVote { .. }
                | Message::PreVoteResponse { granted: true, .. }
                | Message::MembershipProbe { .. } => true,
                // A sticky node refuses without adopting the term, so a
                // disconnected node cannot depose a healthy Goose.
                Message::Vote {
                    transfer: false,
                    membership,
                    ..
                } if self.is_sticky() => {
                    self.send(
                        from,
                        Message::VoteResponse {
                            term: current,
                            granted: false,
                        },
                    );
                    self.send_newer_membership(from, *membership);
                    false
                }
                _ => {
                    // A heartbeat names the Goose of the new term at once.
                    let leader = matches!(msg, Message::Heartbeat { .. }).then_some(from);
                    self.become_follower(term, leader, RoleChangeReason::HigherTerm);
                    // A response from a newer term has had its whole effect;
                    // requests and heartbeats still need an answer.
                    matches!(
                        msg,
                        Message::Vote { .. }
                            | Message::Heartbeat { .. }
                            | Message::TimeoutNow { .. }
                            | Message::NewerMembership { .. }
                    )
                }
            }
        } else if term < current {
            // A membership is worth adopting, or telling about, whatever
            // the sender's term.
            if matches!(
                msg,
                Message::NewerMembership { .. } | Message::MembershipProbe { .. }
            ) {
                return true;
            }
            // Stale requests get the current term so the sender catches up
            // (and a stale membership the newer one); stale responses are
            // dropped.
            match *msg {
                Message::PreVote { membership, .. } | Message::Vote { membership, .. } => {
                    self.send_newer_membership(from, membership);
                }
                _ => {}
            }
            let reply = match *msg {
                Message::PreVote { .. } => Some(Message::PreVoteResponse {
                    term: current,
                    granted: false,
                }),
                Message::Vote { .. } => Some(Message::VoteResponse {
                    term: current,
                    granted: false,
                }),
                Message::Heartbeat { sent_tick, .. } => Some(Message::HeartbeatAck {
                    term: current,
                    sent_tick,
                    membership: self.membership.id(),
                }),
                _ => None,
            };
            match reply {
                Some(reply) => self.send(from, reply),
                None => self.drop_message(from, DropReason::StaleTerm),
            }
            false
        } else {
            true
        }
    }

    // ----- answering campaigns ----------------------------------------------

    /// Answers a pre-vote request, in any role.
    pub(super) fn on_pre_vote(&mut self, from: NodeId, term: Term, membership: MembershipId) {
        let granted = self.would_grant(from, term, false, membership);
        let term = if granted { term } else { self.hard.term };
        self.send(from, Message::PreVoteResponse { term, granted });
        if !granted {
            self.send_newer_membership(from, membership);
        }
    }

    /// The split-vote tie-break: a pre-candidate that has just granted its
    /// pre-vote to a rival of a lower id, asking for the same term, gives up
    /// its own round and follows again, keeping its election timer.
    ///
    /// Why: nodes whose timers run out at the same instant all pass the
    /// pre-vote (nobody is sticky without a Goose) and then split the real
    /// vote, and every voter that granted one redraws its timer at the same
    /// instant again. With 101 voters and 10 distinct timeout values about
    /// ten nodes tie every round, and a round elects only when exactly one
    /// node draws the earliest value (thousands of ticks in a lock-step
    /// model). A rival's pre-vote request reaches the other tied
    /// pre-candidates before their own answers can have (both left at the
    /// same instant), so of the pre-candidates that hear each other only the
    /// lowest id goes on to the real vote, and wins it. The Raft paper
    /// (§5.2) dropped a ranking of candidates for its availability issues: a
    /// lower-ranked server that backs off must time out again when the
    /// higher-ranked one fails, and not so soon that it resets progress.
    /// Here the yielding node keeps the timer it drew, so a rival that fails
    /// costs it at most that one timeout, the rule acts only on a tie within
    /// one pre-vote round, and it never touches the real vote.
    ///
    /// Safety is untouched: it changes no answer (the grant came first,
    /// exactly as without the rule), no term, no vote and no timer; it only
    /// makes this node campaign less.
    fn yield_to_lower_id_rival(&mut self, rival: NodeId, rival_term: Term, granted: bool) {
        if !granted
            || rival > self.config.id
            || rival_term != self.hard.term.next()
            || self.mutated(Mutation::NoPreVoteTieBreak)
            || self.mutated(Mutation::NoSplitVoteRules)
        {
            return;
        }
        if matches!(self.state, State::PreCandidate(_)) {
            self.give_up_campaign();
        }
    }

    /// Answers a vote request, in any role; a grant is durable before the
    /// answer goes out.
    pub(super) fn on_vote(
        &mut self,
        from: NodeId,
        term: Term,
        transfer: bool,
        membership: MembershipId,
    ) {
        let granted = self.would_grant(from, term, transfer, membership);
        if granted {
            self.hard.voted_for = Some(from);
            self.outbox.hard_changed();
            self.reset_election_timer();
        }
        self.send(
            from,
            Message::VoteResponse {
                term: self.hard.term,
                granted,
            },
        );
        if !granted {
            self.send_newer_membership(from, membership);
        }
    }

    /// Whether this node would vote for `candidate`, which holds membership
    /// `candidate_membership`, in `term`. The same answer serves pre-votes.
    fn would_grant(
        &self,
        candidate: NodeId,
        term: Term,
        transfer: bool,
        candidate_membership: MembershipId,
    ) -> bool {
        let mine = self.membership.id();
        // Votes follow the candidate's membership, as in Raft, where any
        // server answers RequestVote: the candidate counts only the voters
        // of its own membership.
        // * Newer than mine: this node may be a voter there though it still
        //   knows itself as a learner (a promotion that has not reached it).
        // * Equal: only between voters of it.
        // * The one just before mine, issued by the same Goose, while this
        //   node is no voter of mine: mine removed it (or never made it a
        //   voter) and may not be committed; the others may still need this
        //   vote to elect anyone. Safe, because if mine is committed a
        //   majority of its voters hold it and refuse, and every majority of
        //   the older voters includes one of them (single-node changes).
        let newer = candidate_membership > mine;
        let same =
            candidate_membership == mine && self.is_voter && self.membership.is_voter(candidate);
        let just_before_mine = !self.is_voter
            && candidate_membership.term == mine.term
            && candidate_membership.version.checked_add(1) == Some(mine.version);
        let membership_ok =
            self.mutated(Mutation::SkipMembershipVoteCheck) || newer || same || just_before_mine;
        if term < self.hard.term || !membership_ok {
            return false;
        }
        if !transfer && self.is_sticky() {
            return false;
        }
        term > self.hard.term || self.hard.voted_for.is_none_or(|v| v == candidate)
    }

    /// A node is sticky while it leads, or within the minimum election
    /// timeout of its last contact with a live Goose or of its start.
    pub(super) fn is_sticky(&self) -> bool {
        if self.mutated(Mutation::IgnoreStickiness) {
            return false;
        }
        matches!(self.state, State::Leader(_))
            || self.now_tick
                < self
                    .last_contact_tick
                    .saturating_add(self.config.election_timeout_min_ticks)
    }

    /// Tells a candidate this node refused, which holds `candidate_membership`,
    /// about this node's newer one, so that it catches up (a learner's probe
    /// gets the same answer). Never after a grant: a candidate running on the
    /// membership just before a removal that has not committed may need to
    /// win on it (and would give up its campaign on learning of the removal).
    pub(super) fn send_newer_membership(&mut self, to: NodeId, candidate_membership: MembershipId) {
        if candidate_membership < self.membership.id() {
            self.send(
                to,
                Message::NewerMembership {
                    term: self.hard.term,
                    membership: Box::new(self.membership.clone()),
                },
            );
        }
    }

    // ----- campaigning ------------------------------------------------------

    /// A pre-candidate's or candidate's step: count the answers of its own
    /// round, answer requests, and give up for a Goose or a newer membership.
    pub(super) fn step_candidate(&mut self, from: NodeId, msg: Message) {
        match msg {
            Message::PreVote { term, membership } => {
                // Answered first, as in any role; the tie-break changes no
                // answer.
                let granted = self.would_grant(from, term, false, membership);
                self.on_pre_vote(from, term, membership);
                self.yield_to_lower_id_rival(from, term, granted);
            }
            Message::Vote {
                term,
                transfer,
                membership,
            } => {
                self.on_vote(from, term, transfer, membership);
                self.retry_split_vote_soon(from, term);
            }
            Message::PreVoteResponse { term, granted } => {
                self.on_pre_vote_response(from, term, granted)
            }
            Message::VoteResponse { granted, .. } => self.on_vote_response(from, granted),
            Message::Heartbeat {
                sent_tick,
                membership,
                ..
            } => {
                self.give_up_campaign();
                self.on_heartbeat(from, sent_tick, membership);
            }
            Message::TimeoutNow { .. } => self.on_timeout_now(from),
            Message::MembershipProbe { membership, .. } => {
                self.send_newer_membership(from, membership)
            }
            Message::NewerMembership { membership, .. } => self.on_newer_membership(*membership),
            Message::HeartbeatAck { .. } | Message::Leave { .. } => {
                self.drop_message(from, DropReason::Unexpected)
            }
        }
    }

    /// The election timer ran out on a Duck or a (pre-)candidate: a voter
    /// campaigns; a learner, cut off from any Goose, cannot, but it may have
    /// missed changes, so it asks the voters.
    pub(super) fn on_election_timeout(&mut self) {
        if self.is_voter {
            self.start_election(false);
        } else if self.membership.contains(self.config.id) {
            self.reset_election_timer();
            self.broadcast_to_voters(Message::MembershipProbe {
                term: self.hard.term,
                membership: self.membership.id(),
            });
        }
    }

    /// A Goose handing over asks this node to campaign at once.
    pub(super) fn on_timeout_now(&mut self, from: NodeId) {
        if self.is_voter {
            self.start_election(true);
        } else {
            self.drop_message(from, DropReason::Unexpected);
        }
    }

    fn on_pre_vote_response(&mut self, from: NodeId, term: Term, granted: bool) {
        if !self.membership.is_voter(from) {
            return self.drop_message(from, DropReason::Unexpected);
        }
        let campaign_term = self.hard.term.next();
        // A candidate is past its pre-vote round.
        let State::PreCandidate(candidacy) = &mut self.state else {
            return self.drop_message(from, DropReason::Unexpected);
        };
        // A grant must echo the term we are asking for; an older echo belongs
        // to an earlier round.
        if granted && term != campaign_term {
            return self.drop_message(from, DropReason::StaleTerm);
        }
        candidacy.tally.record(from, granted);
        match candidacy
            .tally
            .result(self.membership.quorum(), self.membership.voter_count())
        {
            TallyResult::Won => self.become_candidate(false),
            TallyResult::Lost => {
                self.become_follower(self.hard.term, None, RoleChangeReason::HigherTerm);
                self.retry_refused_pre_vote_soon();
            }
            TallyResult::Pending => {}
        }
    }

    /// A pre-vote round a majority refused is asked again early, a tick
    /// later and then a heartbeat interval later, instead of a whole new
    /// timeout later; twice at most per contact with a Goose.
    ///
    /// After a Goose dies, the Duck whose timer runs out first may have
    /// drawn the minimum timeout, and its voters heard the Goose's last
    /// heartbeat at the same instant but count ticks at another phase: each
    /// is still sticky for up to a tick with even odds (the first retry), or
    /// heard one more round that this node lost and is sticky a heartbeat
    /// interval longer (the second). Without the retries the failover waits
    /// for the next timeout. Where the refusals have another cause (a live
    /// Goose this node cannot hear), two extra rounds per timeout cost a few
    /// messages and change nobody's state: pre-votes move no term.
    fn retry_refused_pre_vote_soon(&mut self) {
        let retries = &mut self.early_retries;
        if retries.contact_tick != self.last_contact_tick {
            *retries = EarlyRetries {
                contact_tick: self.last_contact_tick,
                used: 0,
            };
        }
        let delay_ticks = match retries.used {
            0 => 1,
            1 => self.config.heartbeat_interval_ticks,
            _ => return,
        };
        retries.used += 1;
        let soon = self.now_tick + delay_ticks;
        if let Some(deadline) = self.state.election_deadline_mut() {
            *deadline = (*deadline).min(soon);
        }
    }

    /// The split-vote retry: a candidate that hears a rival campaigning in
    /// its own term knows the round may be split, with nobody winning it.
    /// If the rival's id is higher and no lower-id rival has shown up, it
    /// asks again (pre-vote for the next term) a heartbeat interval later
    /// unless it has won by then, instead of a whole new timeout later; a
    /// candidate that has seen a lower-id rival keeps at least a minimum
    /// timeout before it asks again.
    ///
    /// Why: two Ducks whose timers run out within one pre-vote round trip of
    /// each other can both pass the pre-vote before either hears the other
    /// (the pre-vote tie-break acts only on a rival heard while still
    /// pre-voting), then split the real vote. Every voter of a split round
    /// redraws its timer when it votes, and so does each candidate when it
    /// campaigns, so without the rule the cluster waits a whole new timeout;
    /// with it, exactly one of the tied candidates (the lowest id) asks
    /// again soon, alone, and nobody is sticky to refuse it. A round that
    /// was not split but is slow (answers later than a heartbeat interval)
    /// costs one more round trip, since nobody else campaigns that soon.
    ///
    /// Safety is untouched: it changes no answer, term or vote, only when
    /// this node next campaigns, which the rules allow at any time.
    fn retry_split_vote_soon(&mut self, rival: NodeId, rival_term: Term) {
        if rival == self.config.id
            || rival_term != self.hard.term
            || self.mutated(Mutation::NoSplitVoteRetry)
            || self.mutated(Mutation::NoSplitVoteRules)
        {
            return;
        }
        let soon = self.now_tick + self.config.heartbeat_interval_ticks;
        let not_soon = self.now_tick + self.config.election_timeout_min_ticks;
        let State::Candidate(candidacy) = &mut self.state else {
            return;
        };
        if rival < self.config.id {
            candidacy.outranked = true;
            candidacy.election_deadline_tick = candidacy.election_deadline_tick.max(not_soon);
        } else if !candidacy.outranked {
            candidacy.election_deadline_tick = candidacy.election_deadline_tick.min(soon);
        }
    }

    fn on_vote_response(&mut self, from: NodeId, granted: bool) {
        if !self.membership.is_voter(from) {
            return self.drop_message(from, DropReason::Unexpected);
        }
        // A pre-candidate has asked for no vote yet.
        let State::Candidate(candidacy) = &mut self.state else {
            return self.drop_message(from, DropReason::Unexpected);
        };
        candidacy.tally.record(from, granted);
        match candidacy
            .tally
            .result(self.membership.quorum(), self.membership.voter_count())
        {
            TallyResult::Won => self.become_leader(),
            TallyResult::Lost => {
                self.become_follower(self.hard.term, None, RoleChangeReason::HigherTerm)
            }
            TallyResult::Pending => {}
        }
    }

    /// Starts a pre-vote round, or (with `pre_vote` off, or for a transfer) a
    /// real election.
    pub(super) fn start_election(&mut self, transfer: bool) {
        let election_deadline_tick = self.draw_election_deadline();
        self.set_leader(None);
        if self.config.pre_vote && !transfer {
            let term = self.hard.term.next();
            self.outbox.counters.pre_votes_started += 1;
            self.emit(Event::ElectionStarted {
                term,
                pre_vote: true,
            });
            self.state =
                State::PreCandidate(Candidacy::new(self.config.id, election_deadline_tick));
            if self.membership.quorum() == 1 {
                return self.become_candidate(false);
            }
            self.broadcast_to_voters(Message::PreVote {
                term,
                membership: self.membership.id(),
            });
        } else {
            // The real election draws its own deadline.
            self.become_candidate(transfer);
        }
    }

    fn become_candidate(&mut self, transfer: bool) {
        self.hard.term = self.hard.term.next();
        self.hard.voted_for = Some(self.config.id);
        self.outbox.hard_changed();
        self.outbox.counters.elections_started += 1;
        let election_deadline_tick = self.draw_election_deadline();
        self.emit(Event::ElectionStarted {
            term: self.hard.term,
            pre_vote: false,
        });
        self.state = State::Candidate(Candidacy::new(self.config.id, election_deadline_tick));
        if self.membership.quorum() == 1 {
            return self.become_leader();
        }
        self.broadcast_to_voters(Message::Vote {
            term: self.hard.term,
            transfer,
            membership: self.membership.id(),
        });
    }

    /// Sends `msg` to every voter but this node.
    fn broadcast_to_voters(&mut self, msg: Message) {
        let durable = Durable {
            hard: self.persisted_form(),
            membership: &self.membership,
        };
        for to in &self.voter_peers {
            self.outbox.send(durable, *to, msg.clone());
        }
    }
}
