//! The election state machine.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::config::{Config, ConfigError};
use super::message::Message;
use super::output::{CommandError, Counters, DropReason, Event, Output, RoleChangeReason};
use super::quorum::{Tally, TallyResult, quorum_tick};
use super::status::Status;
use super::types::{HardState, NodeId, Role, Term};

/// Deliberate protocol bugs, for proving that the simulator's invariant
/// checkers can fail. Never use outside tests.
#[cfg(feature = "sim")]
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Persist outputs never carry the vote, so a restart forgets it.
    SkipVotePersist,
    /// Grant votes and pre-votes even while in contact with a live Goose.
    IgnoreStickiness,
    /// Run with this lease, skipping the drift-bound check.
    LeaseTicks(u64),
}

/// The state a node is in; each variant carries only its own data.
#[derive(Debug)]
enum State {
    Follower,
    PreCandidate(Tally),
    Candidate(Tally),
    Leader(LeaderState),
}

#[derive(Debug)]
struct LeaderState {
    /// Tick at which this node won the election.
    elected_tick: u64,
    /// Tick of the latest heartbeat round this node sent.
    last_round_tick: u64,
    /// When the next heartbeat round is due.
    next_round_tick: u64,
    /// Newest heartbeat tick each peer has echoed, sorted by id; allocated
    /// once at election so that acks never allocate.
    acked: Vec<(NodeId, Option<u64>)>,
    /// Newest heartbeat tick acknowledged by a majority: the lease start.
    lease_start_tick: Option<u64>,
}

/// One node's view of the election: a pure, deterministic state machine.
///
/// `Election` does no I/O and reads no clock. The host drives it with three
/// kinds of input and drains its outputs after each one:
///
/// * **inputs**: [`tick`](Self::tick) (one unit of local time passed),
///   [`handle_message`](Self::handle_message), and the commands
///   [`campaign`](Self::campaign), [`step_down`](Self::step_down) and
///   [`transfer_leadership`](Self::transfer_leadership);
/// * **outputs**: [`poll_output`](Self::poll_output) until it returns `None`.
///
/// Outputs come out in causal order. When an [`Output::Persist`] comes out,
/// the host must make it durable *before* polling again, because the
/// [`Output::Send`]s after it may depend on it (a vote, a vote request).
///
/// ```
/// use duckduckgoose::core::{Config, Election, HardState, NodeId, Output, Role};
///
/// // A one-node cluster elects itself once its election timer runs out.
/// let config = Config::new(NodeId(1), [NodeId(1)]);
/// let mut node = Election::new(config, HardState::default(), 42).unwrap();
/// while node.role() != Role::Goose {
///     node.tick();
///     while let Some(output) = node.poll_output() {
///         match output {
///             Output::Persist(hard_state) => { /* write it to disk, fsync */ }
///             Output::Send { to, msg } => { /* hand it to the transport */ }
///             Output::Event(event) => { /* log it, update a status page */ }
///         }
///     }
/// }
/// assert_eq!(node.status().term.0, 1);
/// ```
#[derive(Debug)]
pub struct Election {
    config: Config,
    /// Every member but this node, voters and learners, in id order: who
    /// gets heartbeats. Derived from the membership.
    peers: Vec<NodeId>,
    /// Every voter but this node, in id order: who gets (pre-)vote requests
    /// and whose acks count towards the lease.
    voter_peers: Vec<NodeId>,
    /// Whether this node votes; a learner never campaigns or votes.
    is_voter: bool,
    lease_ticks: u64,
    hard: HardState,
    /// `hard` changed since the last `Persist` output.
    hard_dirty: bool,
    now_tick: u64,
    state: State,
    leader: Option<NodeId>,
    /// Last contact with a live Goose (or start-up, or being the Goose):
    /// the node is sticky for `election_timeout_min_ticks` after it.
    last_contact_tick: u64,
    election_deadline_tick: u64,
    rng: StdRng,
    outputs: VecDeque<Output>,
    counters: Counters,
    /// The role the last `RoleChanged` event announced. Transitions compare
    /// against it rather than against `role()`, which can already have
    /// changed with the clock (a lease ends as `now_tick` advances).
    announced_role: Role,
    /// Reused buffer for lease arithmetic, so acks never allocate.
    scratch: Vec<u64>,
    #[cfg(feature = "sim")]
    mutation: Option<Mutation>,
}

impl Election {
    // ----- construction ---------------------------------------------------

    /// A node restarting from `hard_state` (use `HardState::default()` for a
    /// brand-new node). All randomness comes from `rng_seed`.
    ///
    /// The node starts as a Duck and counts its start as contact with a live
    /// Goose: it refuses votes for `election_timeout_min_ticks`, so a node
    /// that crashed and restarted cannot help elect a second Goose while the
    /// old one's lease may still run (DESIGN §3, rule 3).
    pub fn new(config: Config, hard_state: HardState, rng_seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let voters = config.membership.len();
        let members = config.membership.members().count();
        let peers = config
            .membership
            .members()
            .filter(|id| *id != config.id)
            .collect();
        let voter_peers = config
            .membership
            .voters()
            .filter(|id| *id != config.id)
            .collect();
        let mut election = Election {
            peers,
            voter_peers,
            is_voter: config.membership.is_voter(config.id),
            lease_ticks: config.lease_ticks(),
            config,
            hard: hard_state,
            hard_dirty: false,
            now_tick: 0,
            state: State::Follower,
            leader: None,
            last_contact_tick: 0,
            election_deadline_tick: 0,
            rng: StdRng::seed_from_u64(rng_seed),
            // A heartbeat round is one send per peer plus a few events.
            outputs: VecDeque::with_capacity(2 * members + 8),
            counters: Counters::default(),
            announced_role: Role::Duck,
            scratch: Vec::with_capacity(voters),
            #[cfg(feature = "sim")]
            mutation: None,
        };
        election.reset_election_timer();
        Ok(election)
    }

    /// Plants a deliberate bug (see [`Mutation`]).
    #[cfg(feature = "sim")]
    #[doc(hidden)]
    pub fn set_mutation(&mut self, mutation: Mutation) {
        if let Mutation::LeaseTicks(ticks) = mutation {
            self.lease_ticks = ticks;
        }
        self.mutation = Some(mutation);
    }

    // ----- getters ----------------------------------------------------------

    /// Goose while this node leads and holds a lease acknowledged by a
    /// majority; Duck otherwise.
    pub fn role(&self) -> Role {
        match &self.state {
            State::Leader(_) if !self.config.check_quorum => Role::Goose,
            State::Leader(leader) => match leader.lease_start_tick {
                Some(start) if self.now_tick < start.saturating_add(self.lease_ticks) => {
                    Role::Goose
                }
                _ => Role::Duck,
            },
            _ => Role::Duck,
        }
    }

    /// A snapshot of this node.
    pub fn status(&self) -> Status {
        Status {
            id: self.config.id,
            role: self.role(),
            term: self.hard.term,
            leader: self.leader,
            voted_for: self.hard.voted_for,
            lease_remaining_ticks: self.lease_remaining_ticks(),
            members: self.config.membership.voters().collect(),
            learners: self.config.membership.learners().collect(),
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.config.id
    }

    /// The current term.
    pub fn term(&self) -> Term {
        self.hard.term
    }

    /// The Goose this node believes leads the current term.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// The term and vote as they stand in memory (what the last `Persist`
    /// carried, or will carry).
    pub fn hard_state(&self) -> HardState {
        self.hard
    }

    /// The configuration this node runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Ticks this node has seen since it was created.
    pub fn now_tick(&self) -> u64 {
        self.now_tick
    }

    /// While Goose, the ticks left before the lease runs out unless renewed.
    pub fn lease_remaining_ticks(&self) -> Option<u64> {
        match (&self.state, self.role()) {
            (State::Leader(leader), Role::Goose) if self.config.check_quorum => leader
                .lease_start_tick
                .map(|start| (start + self.lease_ticks).saturating_sub(self.now_tick)),
            _ => None,
        }
    }

    /// While Goose, the local tick of the newest heartbeat round a majority
    /// acknowledged: the lease runs from it for the configured lease length.
    /// The runtime maps it to a monotonic `Instant` so that a stalled driver
    /// cannot report a stale lease.
    pub fn lease_start_tick(&self) -> Option<u64> {
        match (&self.state, self.role()) {
            (State::Leader(leader), Role::Goose) => leader.lease_start_tick,
            _ => None,
        }
    }

    /// The lease length this node runs with, in ticks.
    pub fn lease_ticks(&self) -> u64 {
        self.lease_ticks
    }

    /// What this node has done so far, for metrics.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    // ----- inputs -----------------------------------------------------------

    /// One tick of local time has passed.
    pub fn tick(&mut self) {
        self.now_tick += 1;
        match &mut self.state {
            State::Leader(leader) => {
                let lease_deadline = leader
                    .lease_start_tick
                    .unwrap_or(leader.elected_tick)
                    .saturating_add(self.lease_ticks);
                let round_due = self.now_tick >= leader.next_round_tick;
                if self.config.check_quorum && self.now_tick >= lease_deadline {
                    // Nobody can be elected before our lease would have ended
                    // (rule 6); stepping down now keeps "at most one Goose".
                    self.become_follower(self.hard.term, None, RoleChangeReason::LeaseExpired);
                } else if round_due {
                    self.heartbeat_round();
                }
            }
            _ => {
                if self.is_voter && self.now_tick >= self.election_deadline_tick {
                    self.start_election(false);
                }
            }
        }
        self.flush_hard_state();
    }

    /// A message from `from` arrived.
    ///
    /// Messages from non-members, from this node's own id, and responses from
    /// older terms are dropped and counted; nothing else about the node
    /// changes. This never panics, whatever the message says.
    pub fn handle_message(&mut self, from: NodeId, msg: Message) {
        if from == self.config.id {
            self.drop_message(from, DropReason::FromSelf);
        } else if !self.config.membership.contains(from) {
            self.drop_message(from, DropReason::NotMember);
        } else if self.check_term(from, msg) {
            self.step(from, msg);
        }
        self.flush_hard_state();
    }

    // ----- commands ---------------------------------------------------------

    /// Starts an election now instead of waiting for the timer (with a
    /// pre-vote round first when `pre_vote` is on).
    ///
    /// Refused with [`CommandError::Sticky`] within `election_timeout_min` of
    /// hearing from a live Goose or of starting: the node would vote for
    /// itself while that Goose's lease may still run, and with one more
    /// voter that is enough to elect a second Goose (found by the simulator).
    pub fn campaign(&mut self) -> Result<(), CommandError> {
        if matches!(self.state, State::Leader(_)) {
            return Err(CommandError::AlreadyLeader);
        }
        if !self.is_voter {
            return Err(CommandError::NotAVoter(self.config.id));
        }
        if self.is_sticky() {
            return Err(CommandError::Sticky);
        }
        self.start_election(false);
        self.flush_hard_state();
        Ok(())
    }

    /// Hands leadership to the most responsive Duck (the one whose latest
    /// acknowledgement is newest). This node is a Duck when it returns.
    pub fn step_down(&mut self) -> Result<(), CommandError> {
        let State::Leader(leader) = &self.state else {
            return Err(CommandError::NotGoose);
        };
        // Highest acked tick wins; ties go to the lowest id (`acked` is sorted
        // by id and `max_by_key` keeps the last maximum, hence the reverse).
        let target = leader
            .acked
            .iter()
            .rev()
            .max_by_key(|(_, acked)| *acked)
            .map(|(id, _)| *id)
            .ok_or(CommandError::NoTransferTarget)?;
        self.transfer_leadership(target)
    }

    /// Gives up the lease at once and tells `to` to start an election that
    /// bypasses stickiness. If no Goose emerges within an election timeout,
    /// normal elections take over.
    pub fn transfer_leadership(&mut self, to: NodeId) -> Result<(), CommandError> {
        if !matches!(self.state, State::Leader(_)) {
            return Err(CommandError::NotGoose);
        }
        if to == self.config.id {
            return Err(CommandError::TransferToSelf);
        }
        if !self.config.membership.is_voter(to) {
            return Err(CommandError::NotAVoter(to));
        }
        self.become_follower(self.hard.term, None, RoleChangeReason::Transfer);
        self.send(
            to,
            Message::TimeoutNow {
                term: self.hard.term,
            },
        );
        self.flush_hard_state();
        Ok(())
    }

    // ----- outputs ----------------------------------------------------------

    /// The next thing the host must do, in causal order; `None` when drained.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    // ----- message handling -------------------------------------------------

    /// The term check, done once for every message (rule 7). Returns whether
    /// the message goes on to [`Self::step`].
    fn check_term(&mut self, from: NodeId, msg: Message) -> bool {
        let term = msg.term();
        let current = self.hard.term;
        if term > current {
            match msg {
                // A pre-vote never moves anyone's term; a granted answer
                // echoes the term we would campaign in.
                Message::PreVote { .. } | Message::PreVoteResponse { granted: true, .. } => true,
                // A sticky node refuses without adopting the term, so a
                // disconnected node cannot depose a healthy Goose (rule 3).
                Message::Vote {
                    transfer: false, ..
                } if self.is_sticky() => {
                    self.send(
                        from,
                        Message::VoteResponse {
                            term: current,
                            granted: false,
                        },
                    );
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
                    )
                }
            }
        } else if term < current {
            // Stale requests get the current term so the sender catches up;
            // stale responses are dropped.
            let reply = match msg {
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

    /// Dispatches a message whose term has been checked.
    fn step(&mut self, from: NodeId, msg: Message) {
        match msg {
            Message::PreVote { term } => {
                let granted = self.would_grant(from, term, false);
                let term = if granted { term } else { self.hard.term };
                self.send(from, Message::PreVoteResponse { term, granted });
            }
            Message::PreVoteResponse { term, granted } => {
                self.on_pre_vote_response(from, term, granted)
            }
            Message::Vote { term, transfer } => {
                let granted = self.would_grant(from, term, transfer);
                if granted {
                    self.hard.voted_for = Some(from);
                    self.hard_dirty = true;
                    self.reset_election_timer();
                }
                self.send(
                    from,
                    Message::VoteResponse {
                        term: self.hard.term,
                        granted,
                    },
                );
            }
            Message::VoteResponse { granted, .. } => self.on_vote_response(from, granted),
            Message::Heartbeat { sent_tick, .. } => self.on_heartbeat(from, sent_tick),
            Message::HeartbeatAck { sent_tick, .. } => self.on_heartbeat_ack(from, sent_tick),
            Message::TimeoutNow { .. } => {
                if matches!(self.state, State::Leader(_)) || !self.is_voter {
                    self.drop_message(from, DropReason::Unexpected);
                } else {
                    self.start_election(true);
                }
            }
        }
    }

    /// Whether this node would vote for `candidate` in `term` (rule 3). The
    /// same answer serves pre-votes.
    fn would_grant(&self, candidate: NodeId, term: Term, transfer: bool) -> bool {
        // A learner's vote would count for nothing, and a learner cannot lead.
        if term < self.hard.term || !self.is_voter || !self.config.membership.is_voter(candidate) {
            return false;
        }
        if !transfer && self.is_sticky() {
            return false;
        }
        term > self.hard.term || self.hard.voted_for.is_none_or(|v| v == candidate)
    }

    fn on_pre_vote_response(&mut self, from: NodeId, term: Term, granted: bool) {
        if !self.config.membership.is_voter(from) {
            return self.drop_message(from, DropReason::Unexpected);
        }
        let campaign_term = self.hard.term.next();
        let State::PreCandidate(tally) = &mut self.state else {
            return self.drop_message(from, DropReason::Unexpected);
        };
        // A grant must echo the term we are asking for; an older echo belongs
        // to an earlier round.
        if granted && term != campaign_term {
            return self.drop_message(from, DropReason::StaleTerm);
        }
        tally.record(from, granted);
        match tally.result(
            self.config.membership.quorum(),
            self.config.membership.len(),
        ) {
            TallyResult::Won => self.become_candidate(false),
            TallyResult::Lost => {
                self.become_follower(self.hard.term, None, RoleChangeReason::HigherTerm)
            }
            TallyResult::Pending => {}
        }
    }

    fn on_vote_response(&mut self, from: NodeId, granted: bool) {
        if !self.config.membership.is_voter(from) {
            return self.drop_message(from, DropReason::Unexpected);
        }
        let State::Candidate(tally) = &mut self.state else {
            return self.drop_message(from, DropReason::Unexpected);
        };
        tally.record(from, granted);
        match tally.result(
            self.config.membership.quorum(),
            self.config.membership.len(),
        ) {
            TallyResult::Won => self.become_leader(),
            TallyResult::Lost => {
                self.become_follower(self.hard.term, None, RoleChangeReason::HigherTerm)
            }
            TallyResult::Pending => {}
        }
    }

    fn on_heartbeat(&mut self, from: NodeId, sent_tick: u64) {
        if matches!(self.state, State::Leader(_)) {
            // Two Geese in one term cannot both have been elected; this is a
            // forged or corrupted message, and answering it would be wrong.
            return self.drop_message(from, DropReason::Unexpected);
        }
        if !matches!(self.state, State::Follower) {
            self.state = State::Follower;
        }
        self.set_leader(Some(from));
        self.last_contact_tick = self.now_tick;
        self.reset_election_timer();
        self.counters.heartbeats_received += 1;
        self.send(
            from,
            Message::HeartbeatAck {
                term: self.hard.term,
                sent_tick,
            },
        );
    }

    fn on_heartbeat_ack(&mut self, from: NodeId, sent_tick: u64) {
        let State::Leader(leader) = &mut self.state else {
            return self.drop_message(from, DropReason::Unexpected);
        };
        // Only echoes of heartbeats this leadership actually sent count; a
        // replayed ack echoes an old tick and cannot extend the lease.
        let is_round_tick = sent_tick >= leader.elected_tick
            && sent_tick <= leader.last_round_tick
            && (sent_tick - leader.elected_tick)
                .is_multiple_of(self.config.heartbeat_interval_ticks);
        if !is_round_tick {
            return self.drop_message(from, DropReason::Unexpected);
        }
        let Ok(index) = leader.acked.binary_search_by_key(&from, |(id, _)| *id) else {
            // A learner acknowledges like anyone else, but only voters hold
            // up a lease.
            if !self.config.membership.is_learner(from) {
                self.drop_message(from, DropReason::Unexpected);
            }
            return;
        };
        let acked = &mut leader.acked[index].1;
        if acked.is_some_and(|previous| previous >= sent_tick) {
            return;
        }
        *acked = Some(sent_tick);
        self.update_lease();
    }

    // ----- transitions ------------------------------------------------------

    /// Rule 1 and 2: start a pre-vote round, or (with `pre_vote` off, or for a
    /// transfer) a real election.
    fn start_election(&mut self, transfer: bool) {
        self.reset_election_timer();
        self.set_leader(None);
        if self.config.pre_vote && !transfer {
            let term = self.hard.term.next();
            self.counters.pre_votes_started += 1;
            self.emit(Event::ElectionStarted {
                term,
                pre_vote: true,
            });
            self.state = State::PreCandidate(Tally::with_self(self.config.id));
            if self.config.membership.quorum() == 1 {
                return self.become_candidate(false);
            }
            self.broadcast_to_voters(Message::PreVote { term });
        } else {
            self.become_candidate(transfer);
        }
    }

    fn become_candidate(&mut self, transfer: bool) {
        self.hard.term = self.hard.term.next();
        self.hard.voted_for = Some(self.config.id);
        self.hard_dirty = true;
        self.counters.elections_started += 1;
        self.reset_election_timer();
        self.emit(Event::ElectionStarted {
            term: self.hard.term,
            pre_vote: false,
        });
        self.state = State::Candidate(Tally::with_self(self.config.id));
        if self.config.membership.quorum() == 1 {
            return self.become_leader();
        }
        self.broadcast_to_voters(Message::Vote {
            term: self.hard.term,
            transfer,
        });
    }

    fn become_leader(&mut self) {
        let acked = self.voter_peers.iter().map(|peer| (*peer, None)).collect();
        self.state = State::Leader(LeaderState {
            elected_tick: self.now_tick,
            last_round_tick: self.now_tick,
            next_round_tick: self.now_tick,
            acked,
            lease_start_tick: None,
        });
        self.set_leader(Some(self.config.id));
        tracing::debug!(id = %self.config.id, term = %self.hard.term, "won the election");
        self.heartbeat_round();
    }

    /// Becomes a Duck following `leader` in `term` (adopting it if newer).
    fn become_follower(&mut self, term: Term, leader: Option<NodeId>, reason: RoleChangeReason) {
        if term > self.hard.term {
            self.hard = HardState {
                term,
                voted_for: None,
            };
            self.hard_dirty = true;
        }
        if matches!(self.state, State::Leader(_)) {
            // Stepping down: the election timer did not run while leading.
            self.reset_election_timer();
        }
        self.state = State::Follower;
        self.set_leader(leader);
        if self.announced_role == Role::Goose {
            self.role_changed(Role::Duck, reason);
        }
    }

    /// Sends one heartbeat to every peer and schedules the next round.
    fn heartbeat_round(&mut self) {
        let State::Leader(leader) = &mut self.state else {
            return;
        };
        leader.last_round_tick = self.now_tick;
        leader.next_round_tick = self.now_tick + self.config.heartbeat_interval_ticks;
        // The Goose is its own contact; it refuses votes while leading anyway.
        self.last_contact_tick = self.now_tick;
        let msg = Message::Heartbeat {
            term: self.hard.term,
            sent_tick: self.now_tick,
        };
        self.counters.heartbeats_sent += self.peers.len() as u64;
        self.broadcast(msg);
        // A single-node cluster is its own majority.
        self.update_lease();
    }

    /// Recomputes the lease start from the acks (rule 5).
    fn update_lease(&mut self) {
        let quorum = self.config.membership.quorum();
        let State::Leader(leader) = &mut self.state else {
            return;
        };
        self.scratch.clear();
        self.scratch.push(leader.last_round_tick);
        self.scratch
            .extend(leader.acked.iter().filter_map(|(_, acked)| *acked));
        let start = quorum_tick(&mut self.scratch, quorum);
        if start > leader.lease_start_tick {
            leader.lease_start_tick = start;
        }
        if self.announced_role == Role::Duck && self.role() == Role::Goose {
            self.role_changed(Role::Goose, RoleChangeReason::Elected);
        }
    }

    // ----- helpers ----------------------------------------------------------

    /// A node is sticky while it leads, or within the minimum election
    /// timeout of its last contact with a live Goose or of its start.
    fn is_sticky(&self) -> bool {
        if self.mutated_ignore_stickiness() {
            return false;
        }
        matches!(self.state, State::Leader(_))
            || self.now_tick
                < self
                    .last_contact_tick
                    .saturating_add(self.config.election_timeout_min_ticks)
    }

    fn reset_election_timer(&mut self) {
        let timeout = self.rng.random_range(
            self.config.election_timeout_min_ticks..self.config.election_timeout_max_ticks,
        );
        self.election_deadline_tick = self.now_tick + timeout;
    }

    /// Sends `msg` to every peer, learners included. Indexing (rather than
    /// iterating) lets the loop borrow `self` mutably without copying the
    /// peer list.
    fn broadcast(&mut self, msg: Message) {
        for index in 0..self.peers.len() {
            self.send(self.peers[index], msg);
        }
    }

    /// Sends `msg` to every voter but this node.
    fn broadcast_to_voters(&mut self, msg: Message) {
        for index in 0..self.voter_peers.len() {
            self.send(self.voter_peers[index], msg);
        }
    }

    fn set_leader(&mut self, leader: Option<NodeId>) {
        if self.leader != leader {
            self.leader = leader;
            self.emit(Event::LeaderChanged {
                leader,
                term: self.hard.term,
            });
        }
    }

    fn role_changed(&mut self, role: Role, reason: RoleChangeReason) {
        self.announced_role = role;
        self.counters.role_changes += 1;
        tracing::debug!(id = %self.config.id, term = %self.hard.term, %role, ?reason, "role changed");
        self.emit(Event::RoleChanged {
            role,
            term: self.hard.term,
            reason,
        });
    }

    fn drop_message(&mut self, from: NodeId, reason: DropReason) {
        let counter = match reason {
            DropReason::NotMember => &mut self.counters.dropped_not_member,
            DropReason::FromSelf => &mut self.counters.dropped_from_self,
            DropReason::StaleTerm => &mut self.counters.dropped_stale_term,
            DropReason::Unexpected => &mut self.counters.dropped_unexpected,
        };
        *counter += 1;
        self.emit(Event::MessageDropped { from, reason });
    }

    /// Queues an event. An event that announces this node's own new term or
    /// leadership comes after any pending `Persist`, because it is only true
    /// once the term is durable; other events do not force a write, so a
    /// vote in a new term costs one `Persist`, not two.
    fn emit(&mut self, event: Event) {
        let announces_own_term = match event {
            Event::ElectionStarted { pre_vote, .. } => !pre_vote,
            Event::LeaderChanged { leader, .. } => leader == Some(self.config.id),
            Event::RoleChanged { role, .. } => role == Role::Goose,
            Event::MessageDropped { .. } => false,
        };
        if announces_own_term {
            self.flush_hard_state();
        }
        self.outputs.push_back(Output::Event(event));
    }

    /// Queues a message, preceded by a `Persist` if the hard state changed:
    /// the persist barrier lives here, so no send can overtake it.
    fn send(&mut self, to: NodeId, msg: Message) {
        self.flush_hard_state();
        self.outputs.push_back(Output::Send { to, msg });
    }

    /// Emits a pending `Persist`. Called before every send and at the end of
    /// every input.
    fn flush_hard_state(&mut self) {
        if self.hard_dirty {
            self.hard_dirty = false;
            self.outputs
                .push_back(Output::Persist(self.persisted_form()));
        }
    }

    #[cfg(feature = "sim")]
    fn persisted_form(&self) -> HardState {
        match self.mutation {
            Some(Mutation::SkipVotePersist) => HardState {
                term: self.hard.term,
                voted_for: None,
            },
            _ => self.hard,
        }
    }

    #[cfg(not(feature = "sim"))]
    fn persisted_form(&self) -> HardState {
        self.hard
    }

    #[cfg(feature = "sim")]
    fn mutated_ignore_stickiness(&self) -> bool {
        self.mutation == Some(Mutation::IgnoreStickiness)
    }

    #[cfg(not(feature = "sim"))]
    fn mutated_ignore_stickiness(&self) -> bool {
        false
    }
}
