//! The Goose: per-peer progress, heartbeat rounds, acks and the lease.
//!
//! A committed self-removal ends the leadership in the middle of whatever
//! the Goose was doing (see `check_commit`), so the helpers that can run
//! after that point (sending a round, counting the lease or a commit,
//! promoting a learner) look the leader state up again and do nothing once
//! this node no longer leads.

use super::super::config::Config;
use super::super::membership::{Membership, MembershipId};
use super::super::message::Message;
use super::super::output::{DropReason, RoleChangeReason};
use super::super::quorum::quorum_tick;
use super::super::types::{NodeId, Role, Term};
use super::mutation::Mutation;
use super::outbox::{Durable, Outbox};
use super::{Election, State};

/// What only the Goose has (also while elected and awaiting the first
/// acknowledgements).
#[derive(Debug)]
pub(super) struct LeaderState {
    /// Tick at which this node won the election.
    pub(super) elected_tick: u64,
    /// Tick of the latest heartbeat round this node sent.
    pub(super) last_round_tick: u64,
    /// When the next heartbeat round is due.
    pub(super) next_round_tick: u64,
    /// What each peer has acknowledged, sorted by id: every member of the
    /// membership in force and, while a change is pending, of the one before
    /// it. Allocated at election and at each change, so acks never allocate.
    pub(super) progress: Vec<Progress>,
    /// Newest heartbeat tick acknowledged by a majority: the lease start.
    pub(super) lease_start_tick: Option<u64>,
    /// The membership in force is not yet held by a majority of its voters.
    pub(super) pending: bool,
    /// While a change this leadership proposed is pending, the membership
    /// before it: the lease needs a majority of both, because until the
    /// change commits a node holding either can still campaign.
    pub(super) previous: Option<Membership>,
    /// Whether this leadership has re-issued its membership yet (it does
    /// once it first holds a lease).
    pub(super) reissued: bool,
    /// Reused buffer for lease arithmetic, so acks never allocate.
    scratch: Vec<u64>,
}

/// Which heartbeats [`Election::send_round`] sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RoundSend {
    /// To every peer, none carrying the membership (a new Goose's first
    /// round, so that the lease waits for no disk).
    Bare,
    /// To every peer, the membership attached for those behind on it.
    Attaching,
    /// Only to the peers behind on the membership, attached.
    OnlyBehind,
}

/// What one peer has acknowledged to the current Goose.
#[derive(Clone, Copy, Debug)]
pub(super) struct Progress {
    pub(super) id: NodeId,
    /// Newest heartbeat round tick it echoed.
    pub(super) acked_tick: Option<u64>,
    /// Newest membership it said it holds durably.
    pub(super) membership: MembershipId,
    /// First round tick of its current unbroken run of acks: a joining
    /// learner is promoted once the run spans an election timeout.
    pub(super) streak_start_tick: Option<u64>,
    /// A voter of the membership in force; cached because every ack
    /// counts the lease over it.
    pub(super) voter: bool,
    /// A voter of the membership before the pending change (as `voter`
    /// when nothing is pending).
    pub(super) voter_before: bool,
}

impl Progress {
    pub(super) fn new(id: NodeId) -> Self {
        Progress {
            id,
            acked_tick: None,
            membership: MembershipId::default(),
            streak_start_tick: None,
            voter: false,
            voter_before: false,
        }
    }

    /// The same progress with its voter flags for `membership` in force,
    /// after `previous` (if a change is pending).
    pub(super) fn for_membership(
        mut self,
        membership: &Membership,
        previous: Option<&Membership>,
    ) -> Self {
        self.voter = membership.is_voter(self.id);
        self.voter_before = previous.map_or(self.voter, |previous| previous.is_voter(self.id));
        self
    }
}

/// What a tick asks of the Goose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LeaderTick {
    /// The lease ran out unrenewed: step down.
    LeaseExpired,
    /// Send the next heartbeat round.
    RoundDue,
    Idle,
}

/// What an ack did to its peer's progress.
enum Ack {
    /// It echoes no round this leadership sent, or comes from no peer.
    Unexpected,
    /// It echoes a round the peer had acknowledged already (it may still
    /// report a newer membership).
    Repeated,
    /// It echoes a newer round.
    Fresh,
}

impl LeaderState {
    /// What is due at tick `now_tick`.
    pub(super) fn tick_due(&self, now_tick: u64, lease_ticks: u64, config: &Config) -> LeaderTick {
        let lease_deadline = self.lease_deadline_tick(lease_ticks);
        // Nobody can be elected before our lease would have ended; stepping
        // down then keeps "at most one Goose".
        if config.check_quorum && now_tick >= lease_deadline {
            LeaderTick::LeaseExpired
        } else if now_tick >= self.next_round_tick {
            LeaderTick::RoundDue
        } else {
            LeaderTick::Idle
        }
    }

    /// Records `from`'s ack of the round sent at `sent_tick`, reporting that
    /// it holds `membership` (at most `current`, the Goose's own).
    fn record_ack(
        &mut self,
        from: NodeId,
        sent_tick: u64,
        membership: MembershipId,
        current: MembershipId,
        config: &Config,
    ) -> Ack {
        // Only echoes of heartbeats this leadership actually sent count; a
        // replayed ack echoes an old tick and cannot extend the lease.
        let sent = is_round_tick(
            sent_tick,
            self.elected_tick,
            self.last_round_tick,
            config.heartbeat_interval_ticks,
        );
        if !sent {
            return Ack::Unexpected;
        }
        let Ok(index) = self.progress.binary_search_by_key(&from, |peer| peer.id) else {
            return Ack::Unexpected;
        };
        let peer = &mut self.progress[index];
        // A membership newer than the Goose's own cannot exist in its term.
        if membership > peer.membership && membership <= current {
            peer.membership = membership;
        }
        if peer
            .acked_tick
            .is_some_and(|previous| previous >= sent_tick)
        {
            return Ack::Repeated;
        }
        // A run of acks is broken by a silence a voter would notice.
        let broken = peer
            .acked_tick
            .is_none_or(|previous| sent_tick > previous + config.election_timeout_min_ticks);
        if broken {
            peer.streak_start_tick = Some(sent_tick);
        }
        peer.acked_tick = Some(sent_tick);
        Ack::Fresh
    }

    /// The newest round tick acknowledged by a quorum of a set of voters:
    /// `(whether this node is one, the quorum)`, and the peers `is_voter`
    /// picks (this node counts its own latest round).
    fn quorum_of(
        &mut self,
        (me_votes, quorum): (bool, usize),
        is_voter: fn(&Progress) -> bool,
    ) -> Option<u64> {
        self.scratch.clear();
        if me_votes {
            self.scratch.push(self.last_round_tick);
        }
        self.scratch.extend(
            self.progress
                .iter()
                .filter(|peer| is_voter(peer))
                .filter_map(|peer| peer.acked_tick),
        );
        quorum_tick(&mut self.scratch, quorum)
    }

    /// Among the voters of the membership in force that `eligible` accepts,
    /// the one that acknowledged the newest round: who takes over when this
    /// Goose steps down or removes itself. Ties go to the lowest id
    /// (`progress` is sorted by id and `max_by_key` keeps the last maximum,
    /// hence the reverse).
    pub(super) fn most_responsive_voter(
        &self,
        eligible: impl Fn(&Progress) -> bool,
    ) -> Option<NodeId> {
        self.progress
            .iter()
            .rev()
            .filter(|peer| peer.voter && eligible(peer))
            .max_by_key(|peer| peer.acked_tick)
            .map(|peer| peer.id)
    }

    /// Queues the current round's heartbeat (its tick is `last_round_tick`)
    /// as `how` says, each behind whatever `durable` still has to persist.
    fn send_round(&self, how: RoundSend, term: Term, durable: Durable<'_>, outbox: &mut Outbox) {
        let membership = durable.membership;
        let current = membership.id();
        for peer in &self.progress {
            let behind = peer.membership < current;
            if how == RoundSend::OnlyBehind && !behind {
                continue;
            }
            // A peer that has not acknowledged the membership gets it
            // attached; everyone else gets the allocation-free heartbeat.
            let membership =
                (behind && how != RoundSend::Bare).then(|| Box::new(membership.clone()));
            outbox.counters.heartbeats_sent += 1;
            outbox.send(
                durable,
                peer.id,
                Message::Heartbeat {
                    term,
                    sent_tick: self.last_round_tick,
                    membership,
                },
            );
        }
    }
}

/// Whether `sent_tick` is a heartbeat round of a leadership elected at
/// `elected_tick` whose newest round is no later than `newest_tick`: rounds
/// leave at the election and then every `heartbeat_interval_ticks`, so an
/// ack echoing any other tick answers no heartbeat this leadership sent.
pub(crate) fn is_round_tick(
    sent_tick: u64,
    elected_tick: u64,
    newest_tick: u64,
    heartbeat_interval_ticks: u64,
) -> bool {
    sent_tick >= elected_tick
        && sent_tick <= newest_tick
        && (sent_tick - elected_tick).is_multiple_of(heartbeat_interval_ticks)
}

impl Election {
    /// The Goose's step: count acks, take leave requests, answer requests;
    /// what only Ducks and candidates await is dropped.
    pub(super) fn step_leader(&mut self, from: NodeId, msg: Message) {
        match msg {
            Message::PreVote { term, membership } => self.on_pre_vote(from, term, membership),
            Message::Vote {
                term,
                transfer,
                membership,
            } => self.on_vote(from, term, transfer, membership),
            Message::HeartbeatAck {
                sent_tick,
                membership,
                ..
            } => self.on_heartbeat_ack(from, sent_tick, membership),
            Message::Leave { .. } => self.on_leave(from),
            Message::MembershipProbe { membership, .. } => {
                self.send_newer_membership(from, membership)
            }
            Message::NewerMembership { membership, .. } => {
                // A Goose's own membership is the newest of its term; a newer
                // one comes with a newer term, which has deposed it already.
                if membership.id() > self.membership.id() {
                    self.drop_message(from, DropReason::Unexpected);
                }
            }
            // Two Geese in one term cannot both have been elected: such a
            // heartbeat is forged or corrupted, and answering it would be
            // wrong.
            Message::Heartbeat { .. }
            | Message::PreVoteResponse { .. }
            | Message::VoteResponse { .. }
            | Message::TimeoutNow { .. } => self.drop_message(from, DropReason::Unexpected),
        }
    }

    /// What a tick does to the Goose.
    pub(super) fn tick_leader(&mut self, due: LeaderTick) {
        match due {
            LeaderTick::LeaseExpired => {
                self.become_follower(self.hard.term, None, RoleChangeReason::LeaseExpired)
            }
            LeaderTick::RoundDue => {
                self.heartbeat_round(RoundSend::Attaching);
                self.promote_caught_up_learner();
            }
            LeaderTick::Idle => {}
        }
    }

    fn on_heartbeat_ack(&mut self, from: NodeId, sent_tick: u64, membership: MembershipId) {
        let current = self.membership.id();
        let State::Leader(leader) = &mut self.state else {
            return;
        };
        match leader.record_ack(from, sent_tick, membership, current, &self.config) {
            Ack::Unexpected => self.drop_message(from, DropReason::Unexpected),
            Ack::Repeated => self.check_commit(),
            Ack::Fresh => {
                self.update_lease();
                self.check_commit();
            }
        }
    }

    /// Won the election: lead, and send the first round at once.
    pub(super) fn become_leader(&mut self) {
        let me = self.config.id;
        let progress = self
            .membership
            .members()
            .filter(|id| *id != me)
            .map(|id| Progress::new(id).for_membership(&self.membership, None))
            .collect();
        let previous_leader = self.leader();
        self.state = State::Leader(LeaderState {
            elected_tick: self.now_tick,
            last_round_tick: self.now_tick,
            next_round_tick: self.now_tick,
            progress,
            lease_start_tick: None,
            pending: false,
            previous: None,
            reissued: false,
            scratch: Vec::with_capacity(self.membership.voter_count()),
        });
        self.announce_leader(previous_leader);
        tracing::debug!(id = %me, term = %self.hard.term, "won the election");
        // The first round goes out at once and bare: the lease must not wait
        // for anybody's disk, this node's included (a hand-over is a few
        // milliseconds of fsyncs). The re-issue follows the lease.
        self.heartbeat_round(RoundSend::Bare);
    }

    /// Starts a heartbeat round: one heartbeat to every peer, sent `how`
    /// ([`RoundSend::Bare`] or [`RoundSend::Attaching`]), and the next round
    /// scheduled.
    fn heartbeat_round(&mut self, how: RoundSend) {
        let State::Leader(leader) = &mut self.state else {
            return;
        };
        leader.last_round_tick = self.now_tick;
        leader.next_round_tick = self.now_tick + self.config.heartbeat_interval_ticks;
        // The Goose is its own contact; it refuses votes while leading anyway.
        self.last_contact_tick = self.now_tick;
        self.send_round(how);
        // A single-node cluster is its own majority.
        self.update_lease();
        self.check_commit();
    }

    /// Sends the current round's heartbeat as `how` says.
    pub(super) fn send_round(&mut self, how: RoundSend) {
        let State::Leader(leader) = &self.state else {
            return;
        };
        let durable = Durable {
            hard: self.persisted_form(),
            membership: &self.membership,
        };
        leader.send_round(how, self.hard.term, durable, &mut self.outbox);
    }

    /// Recomputes the lease start from the acks: the newest round tick a
    /// majority of the voters in force acknowledged and, while a change is
    /// pending, also a majority of the voters before it.
    pub(super) fn update_lease(&mut self) {
        let me = self.config.id;
        let old_voters_count = !self.mutated(Mutation::LeaseOverNewVotersOnly);
        let State::Leader(leader) = &mut self.state else {
            return;
        };
        let in_force = (self.is_voter, self.membership.quorum());
        let mut start = leader.quorum_of(in_force, |peer| peer.voter);
        if let Some(previous) = leader.previous.as_ref().filter(|_| old_voters_count) {
            let before = (previous.is_voter(me), previous.quorum());
            start = start.min(leader.quorum_of(before, |peer| peer.voter_before));
        }
        // Not a running maximum: a change of voters can legitimately make the
        // lease shorter, and the shorter one is the safe one.
        leader.lease_start_tick = start;
        if self.announced_role == Role::Duck && self.role() == Role::Goose {
            self.role_changed(Role::Goose, RoleChangeReason::Elected);
            self.reissue_membership();
        }
    }
}
