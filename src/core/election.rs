//! The election state machine.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::config::{Config, ConfigError};
use super::membership::{Membership, MembershipError, MembershipId};
use super::message::Message;
use super::output::{CommandError, Counters, DropReason, Event, Output, RoleChangeReason};
use super::quorum::{Tally, TallyResult, quorum_tick};
use super::status::Status;
use super::types::{HardState, NodeId, Role, Term};

mod admission;

/// Deliberate protocol bugs, for proving that the simulator's invariant
/// checkers can fail. Never use outside tests. (The type exists in every
/// build so that the checks compile to nothing outside feature `sim`.)
#[doc(hidden)]
#[cfg_attr(not(feature = "sim"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Persist outputs never carry the vote, so a restart forgets it.
    SkipVotePersist,
    /// Grant votes and pre-votes even while in contact with a live Goose.
    IgnoreStickiness,
    /// Run with this lease, skipping the drift-bound check.
    LeaseTicks(u64),
    /// Grant votes and pre-votes whatever membership the candidate holds.
    SkipMembershipVoteCheck,
    /// While a change is pending, count the lease over the new voters only.
    LeaseOverNewVotersOnly,
    /// A new Goose neither re-issues its membership nor waits for a
    /// majority-acknowledged round before its first change.
    NoReissue,
    /// Count commit holders among the voters before the change.
    CommitOnOldVoters,
    /// A node that adopts a membership without itself keeps campaigning.
    RemovedStillCampaigns,
    /// A Goose whose removal commits keeps leading.
    NoStepDownOnRemoval,
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
    /// What each peer has acknowledged, sorted by id: every member of the
    /// membership in force and, while a change is pending, of the one before
    /// it. Allocated at election and at each change, so acks never allocate.
    progress: Vec<Progress>,
    /// Newest heartbeat tick acknowledged by a majority: the lease start.
    lease_start_tick: Option<u64>,
    /// The membership in force is not yet held by a majority of its voters.
    pending: bool,
    /// While a change this leadership proposed is pending, the membership
    /// before it: the lease needs a majority of both, because until the
    /// change commits a node holding either can still campaign.
    previous: Option<Membership>,
    /// Whether this leadership has re-issued its membership yet (it does
    /// once it first holds a lease).
    reissued: bool,
}

/// Which heartbeats [`Election::send_round`] sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RoundSend {
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
struct Progress {
    id: NodeId,
    /// Newest heartbeat round tick it echoed.
    acked_tick: Option<u64>,
    /// Newest membership it said it holds durably.
    membership: MembershipId,
    /// First round tick of its current unbroken run of acks: a joining
    /// learner is promoted once the run spans an election timeout.
    streak_start_tick: Option<u64>,
    /// A voter of the membership in force; cached because every ack
    /// counts the lease over it.
    voter: bool,
    /// A voter of the membership before the pending change (as `voter`
    /// when nothing is pending).
    voter_before: bool,
}

impl Progress {
    fn new(id: NodeId) -> Self {
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
    fn for_membership(mut self, membership: &Membership, previous: Option<&Membership>) -> Self {
        self.voter = membership.is_voter(self.id);
        self.voter_before = previous.map_or(self.voter, |previous| previous.is_voter(self.id));
        self
    }
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
/// Outputs come out in causal order. When an [`Output::Persist`] (or
/// [`Output::PersistMembership`]) comes out, the host must make it durable
/// *before* polling again, because the [`Output::Send`]s after it may depend
/// on it (a vote, a vote request, an acknowledged membership).
///
/// # Membership changes
///
/// The Goose changes the membership one node at a time
/// ([`propose_add`](Self::propose_add), [`propose_remove`](Self::propose_remove),
/// and the automatic promotion of a joining learner that has acknowledged
/// heartbeats for `election_timeout_max_ticks`). The rules, after Raft's
/// single-server changes (thesis §4.1) with the 2015 raft-dev fix:
///
/// * A membership is identified by `(term, version)`; every new Goose
///   re-issues its membership under its own term as soon as it holds a lease
///   (its first round goes out bare, so that the lease waits for nobody's
///   disk), and makes no change until a majority holds that re-issue
///   ([`MembershipError::NotYetConfirmed`] until then). That is the
///   majority-acknowledged round in its own term that must precede its
///   first change.
/// * A membership travels with the heartbeats to each member until that
///   member acknowledges holding it; members persist it before acknowledging.
///   Every node uses the newest membership it holds, committed or not.
/// * A change commits when a majority of the new voters hold it; until then
///   the Goose's lease needs a majority of the old voters *and* of the new.
/// * A voter refuses votes and pre-votes from a candidate holding an older
///   membership than its own.
/// * A removed node no longer campaigns; a removed Goose steps down once the
///   change commits. Messages from non-members are dropped (rule 9).
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
///             Output::PersistMembership(membership) => { /* the same */ }
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
    /// The newest membership this node holds (committed or not), starting
    /// from `config.membership`.
    membership: Membership,
    /// `membership` changed since the last `PersistMembership` output.
    membership_dirty: bool,
    /// Every voter of `membership` but this node, in id order: who gets
    /// (pre-)vote requests.
    voter_peers: Vec<NodeId>,
    /// Whether this node votes; a learner never campaigns or votes.
    is_voter: bool,
    /// This node asked to be removed; it repeats the request to every Goose
    /// it hears from until a membership without it arrives.
    leaving: bool,
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
        let mut election = Election {
            membership: config.membership.clone(),
            membership_dirty: false,
            voter_peers: Vec::new(),
            is_voter: false,
            leaving: false,
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
        election.derive_from_membership();
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
            members: self.membership.voters().collect(),
            learners: self.membership.learners().collect(),
            membership: self.membership.id(),
            membership_pending: self.membership_pending(),
        }
    }

    /// The newest membership this node holds, which it acts on whether or not
    /// it is committed yet.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// While Goose (or elected and awaiting acknowledgements): whether the
    /// membership in force is still uncommitted, so no other change may start.
    /// `None` on a Duck, which cannot know.
    pub fn membership_pending(&self) -> Option<bool> {
        match &self.state {
            State::Leader(leader) => Some(leader.pending),
            _ => None,
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

    /// The configuration this node was created with. Its `membership` is the
    /// starting one; [`membership`](Self::membership) is the one in force.
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
                    self.heartbeat_round(RoundSend::Attaching);
                    self.promote_caught_up_learner();
                }
            }
            _ if self.now_tick < self.election_deadline_tick => {}
            _ if self.is_voter => self.start_election(false),
            _ if self.membership.contains(self.config.id) => {
                // A learner cut off from any Goose: it cannot campaign, but it
                // may have missed changes; ask the voters.
                self.reset_election_timer();
                self.broadcast_to_voters(Message::MembershipProbe {
                    term: self.hard.term,
                    membership: self.membership.id(),
                });
            }
            _ => {}
        }
        self.flush_hard_state();
    }

    /// A message from `from` arrived.
    ///
    /// Messages from senders this node does not admit (see
    /// [`admitted_peers`](Self::admitted_peers); a newer Goose whose
    /// heartbeat brings a membership naming this node is admitted too), from
    /// this node's own id, and responses from older terms are dropped and
    /// counted; nothing else about the node changes. This never panics,
    /// whatever the message says.
    pub fn handle_message(&mut self, from: NodeId, msg: Message) {
        if from == self.config.id {
            self.drop_message(from, DropReason::FromSelf);
        } else if !self.admits(from, &msg) {
            self.drop_message(from, DropReason::NotMember);
        } else if self.check_term(from, &msg) {
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
        if !matches!(self.state, State::Leader(_)) {
            return Err(CommandError::NotGoose);
        }
        // Only a voter that knows it is one can take over: a learner whose
        // promotion has not reached it would drop the `TimeoutNow`.
        let current = self.membership.id();
        let target = self
            .most_responsive_voter(|peer| peer.membership >= current || peer.voter_before)
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
        if !self.membership.is_voter(to) {
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

    /// Proposes adding `id` at `addr` (`"HOST:PORT"`) as a joining learner,
    /// to be promoted to voter once it has acknowledged heartbeats for
    /// `election_timeout_max_ticks`. Returns the id of the proposed
    /// membership; it is committed when
    /// [`Event::MembershipCommitted`] names it. Adding a member again at its
    /// own address changes nothing and returns the membership in force.
    pub fn propose_add(&mut self, id: NodeId, addr: &str) -> Result<MembershipId, MembershipError> {
        if matches!(self.state, State::Leader(_))
            && self.membership.contains(id)
            && self.membership.address(id) == Some(addr)
        {
            // Already in (perhaps by the pending change itself: a joiner
            // asking twice): the caller waits for this id to commit.
            return Ok(self.membership.id());
        }
        let term = self.ready_for_change()?;
        match self.membership.adding(term, id, addr)? {
            Some(next) => Ok(self.propose(next)),
            None => Ok(self.membership.id()),
        }
    }

    /// Proposes removing `id`, a voter or a learner; this node itself
    /// included, in which case it steps down once the change commits and
    /// hands over to the most responsive voter holding it.
    pub fn propose_remove(&mut self, id: NodeId) -> Result<MembershipId, MembershipError> {
        let term = self.ready_for_change()?;
        let next = self.membership.removing(term, id)?;
        Ok(self.propose(next))
    }

    /// Asks to be removed from the membership. A Goose hands over first (to
    /// the most responsive voter), then, like any Duck, repeats the request
    /// to every Goose it hears from until it holds a membership without
    /// itself.
    pub fn leave(&mut self) -> Result<(), MembershipError> {
        let me = self.config.id;
        if !self.membership.contains(me) {
            return Err(MembershipError::NotAMember(me));
        }
        if self.membership.is_voter(me) && self.membership.len() == 1 {
            return Err(MembershipError::LastVoter(me));
        }
        self.leaving = true;
        if matches!(self.state, State::Leader(_)) && self.step_down().is_err() {
            // No voter can take over yet (the others have not caught up with
            // a promotion): remove itself instead, now or, when a change is
            // in progress, once it commits (see `check_commit`).
            match self.propose_remove(me) {
                Ok(_)
                | Err(
                    MembershipError::ChangeInProgress { .. } | MembershipError::NotYetConfirmed,
                ) => {}
                Err(error) => {
                    self.leaving = false;
                    return Err(error);
                }
            }
        }
        if let Some(leader) = self.leader.filter(|leader| *leader != me) {
            self.send(
                leader,
                Message::Leave {
                    term: self.hard.term,
                },
            );
        }
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
    fn check_term(&mut self, from: NodeId, msg: &Message) -> bool {
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
                // disconnected node cannot depose a healthy Goose (rule 3).
                Message::Vote {
                    transfer: false, ..
                } if self.is_sticky() => {
                    let candidate_membership = match msg {
                        Message::Vote { membership, .. } => *membership,
                        _ => self.membership.id(),
                    };
                    self.send(
                        from,
                        Message::VoteResponse {
                            term: current,
                            granted: false,
                        },
                    );
                    self.send_newer_membership(from, candidate_membership);
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

    /// Dispatches a message whose term has been checked.
    fn step(&mut self, from: NodeId, msg: Message) {
        match msg {
            Message::PreVote { term, membership } => {
                let granted = self.would_grant(from, term, false, membership);
                let term = if granted { term } else { self.hard.term };
                self.send(from, Message::PreVoteResponse { term, granted });
                if !granted {
                    self.send_newer_membership(from, membership);
                }
            }
            Message::PreVoteResponse { term, granted } => {
                self.on_pre_vote_response(from, term, granted)
            }
            Message::Vote {
                term,
                transfer,
                membership,
            } => {
                let granted = self.would_grant(from, term, transfer, membership);
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
                if !granted {
                    self.send_newer_membership(from, membership);
                }
            }
            Message::VoteResponse { granted, .. } => self.on_vote_response(from, granted),
            Message::Heartbeat {
                sent_tick,
                membership,
                ..
            } => self.on_heartbeat(from, sent_tick, membership),
            Message::HeartbeatAck {
                sent_tick,
                membership,
                ..
            } => self.on_heartbeat_ack(from, sent_tick, membership),
            Message::TimeoutNow { .. } => {
                if matches!(self.state, State::Leader(_)) || !self.is_voter {
                    self.drop_message(from, DropReason::Unexpected);
                } else {
                    self.start_election(true);
                }
            }
            Message::Leave { .. } => self.on_leave(from),
            Message::MembershipProbe { membership, .. } => {
                self.send_newer_membership(from, membership)
            }
            Message::NewerMembership { membership, .. } => {
                self.on_newer_membership(from, *membership)
            }
        }
    }

    /// Tells a candidate this node refused, which holds `candidate_membership`,
    /// about this node's newer one, so that it catches up. Never after a
    /// grant: a candidate running on the membership just before a removal
    /// that has not committed may need to win on it (and would give up its
    /// campaign on learning of the removal).
    fn send_newer_membership(&mut self, to: NodeId, candidate_membership: MembershipId) {
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

    /// A member sent a newer membership than this node's: adopt it, like
    /// one a Goose attached to a heartbeat. Holding an issued membership
    /// earlier than its Goose would have delivered it changes nothing the
    /// protocol relies on; a campaign run on the old one is abandoned.
    fn on_newer_membership(&mut self, from: NodeId, membership: Membership) {
        if membership.id() <= self.membership.id() {
            return;
        }
        if matches!(self.state, State::Leader(_)) {
            // A Goose's own membership is the newest of its term; a newer
            // one comes with a newer term, which has deposed it already.
            return self.drop_message(from, DropReason::Unexpected);
        }
        if !matches!(self.state, State::Follower) {
            self.state = State::Follower;
        }
        self.adopt_membership(membership);
    }

    /// Whether this node would vote for `candidate`, which holds membership
    /// `candidate_membership`, in `term` (rule 3). The same answer serves
    /// pre-votes.
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

    fn on_pre_vote_response(&mut self, from: NodeId, term: Term, granted: bool) {
        if !self.membership.is_voter(from) {
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
        match tally.result(self.membership.quorum(), self.membership.len()) {
            TallyResult::Won => self.become_candidate(false),
            TallyResult::Lost => {
                self.become_follower(self.hard.term, None, RoleChangeReason::HigherTerm)
            }
            TallyResult::Pending => {}
        }
    }

    fn on_vote_response(&mut self, from: NodeId, granted: bool) {
        if !self.membership.is_voter(from) {
            return self.drop_message(from, DropReason::Unexpected);
        }
        let State::Candidate(tally) = &mut self.state else {
            return self.drop_message(from, DropReason::Unexpected);
        };
        tally.record(from, granted);
        match tally.result(self.membership.quorum(), self.membership.len()) {
            TallyResult::Won => self.become_leader(),
            TallyResult::Lost => {
                self.become_follower(self.hard.term, None, RoleChangeReason::HigherTerm)
            }
            TallyResult::Pending => {}
        }
    }

    fn on_heartbeat(&mut self, from: NodeId, sent_tick: u64, membership: Option<Box<Membership>>) {
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

    fn on_heartbeat_ack(&mut self, from: NodeId, sent_tick: u64, membership: MembershipId) {
        let gap_ticks = self.config.election_timeout_min_ticks;
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
        let Ok(index) = leader.progress.binary_search_by_key(&from, |peer| peer.id) else {
            return self.drop_message(from, DropReason::Unexpected);
        };
        let peer = &mut leader.progress[index];
        // A membership newer than the Goose's own cannot exist in its term.
        if membership > peer.membership && membership <= self.membership.id() {
            peer.membership = membership;
        }
        if peer
            .acked_tick
            .is_some_and(|previous| previous >= sent_tick)
        {
            return self.check_commit();
        }
        // A run of acks is broken by a silence a voter would notice.
        let broken = peer
            .acked_tick
            .is_none_or(|previous| sent_tick > previous + gap_ticks);
        if broken {
            peer.streak_start_tick = Some(sent_tick);
        }
        peer.acked_tick = Some(sent_tick);
        self.update_lease();
        self.check_commit();
    }

    /// A member asks to be removed; the Goose obliges when no other change is
    /// under way (the member asks again with every heartbeat until then).
    fn on_leave(&mut self, from: NodeId) {
        if !matches!(self.state, State::Leader(_)) {
            return self.drop_message(from, DropReason::Unexpected);
        }
        match self.propose_remove(from) {
            // Busy: the member asks again with the next heartbeat.
            Ok(_)
            | Err(MembershipError::ChangeInProgress { .. } | MembershipError::NotYetConfirmed) => {}
            Err(_) => self.drop_message(from, DropReason::Unexpected),
        }
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
            if self.membership.quorum() == 1 {
                return self.become_candidate(false);
            }
            self.broadcast_to_voters(Message::PreVote {
                term,
                membership: self.membership.id(),
            });
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
        if self.membership.quorum() == 1 {
            return self.become_leader();
        }
        self.broadcast_to_voters(Message::Vote {
            term: self.hard.term,
            transfer,
            membership: self.membership.id(),
        });
    }

    fn become_leader(&mut self) {
        let me = self.config.id;
        let progress = self
            .membership
            .members()
            .filter(|id| *id != me)
            .map(|id| Progress::new(id).for_membership(&self.membership, None))
            .collect();
        self.state = State::Leader(LeaderState {
            elected_tick: self.now_tick,
            last_round_tick: self.now_tick,
            next_round_tick: self.now_tick,
            progress,
            lease_start_tick: None,
            pending: false,
            previous: None,
            reissued: false,
        });
        self.set_leader(Some(me));
        tracing::debug!(id = %me, term = %self.hard.term, "won the election");
        // The first round goes out at once and bare: the lease must not wait
        // for anybody's disk, this node's included (a hand-over is a few
        // milliseconds of fsyncs). The re-issue follows the lease.
        self.heartbeat_round(RoundSend::Bare);
    }

    /// Re-issues the membership under this Goose's term (the "no-op entry"),
    /// once it first holds a lease: when a majority holds the re-issue,
    /// memberships proposed by earlier Geese and never committed can no
    /// longer win an election, and this Goose may start changes of its own.
    /// Durable first, it goes out at once in the current round's heartbeats
    /// sent again (an ack of either echoes the same tick).
    fn reissue_membership(&mut self) {
        let State::Leader(leader) = &mut self.state else {
            return;
        };
        if leader.reissued {
            return;
        }
        leader.reissued = true;
        if self.mutated(Mutation::NoReissue) {
            return;
        }
        let reissued = self.membership.reissued(self.hard.term);
        self.install_membership(reissued, None);
        // A single voter holds it already.
        self.check_commit();
        self.send_round(RoundSend::OnlyBehind);
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

    /// Sends the current round's heartbeat (its tick is `last_round_tick`)
    /// as `how` says.
    fn send_round(&mut self, how: RoundSend) {
        let current = self.membership.id();
        // Indexing (rather than iterating) lets the loop borrow `self`
        // mutably; the list only changes with the membership, never here.
        for index in 0..leader_progress_len(&self.state) {
            let State::Leader(leader) = &self.state else {
                return;
            };
            let (peer, sent_tick) = (leader.progress[index], leader.last_round_tick);
            let behind = peer.membership < current;
            if how == RoundSend::OnlyBehind && !behind {
                continue;
            }
            // A peer that has not acknowledged the membership gets it
            // attached; everyone else gets the allocation-free heartbeat.
            let membership =
                (behind && how != RoundSend::Bare).then(|| Box::new(self.membership.clone()));
            self.counters.heartbeats_sent += 1;
            self.send(
                peer.id,
                Message::Heartbeat {
                    term: self.hard.term,
                    sent_tick,
                    membership,
                },
            );
        }
    }

    /// Recomputes the lease start from the acks (rule 5): the newest round
    /// tick a majority of the voters in force acknowledged and, while a change
    /// is pending, also a majority of the voters before it.
    fn update_lease(&mut self) {
        let me = self.config.id;
        let old_voters_count = !self.mutated(Mutation::LeaseOverNewVotersOnly);
        let State::Leader(leader) = &mut self.state else {
            return;
        };
        let in_force = (self.is_voter, self.membership.quorum());
        let mut start = quorum_of(in_force, leader, |peer| peer.voter, &mut self.scratch);
        if let Some(previous) = leader.previous.as_ref().filter(|_| old_voters_count) {
            let before = (previous.is_voter(me), previous.quorum());
            start = start.min(quorum_of(
                before,
                leader,
                |peer| peer.voter_before,
                &mut self.scratch,
            ));
        }
        // Not a running maximum: a change of voters can legitimately make the
        // lease shorter, and the shorter one is the safe one.
        leader.lease_start_tick = start;
        if self.announced_role == Role::Duck && self.role() == Role::Goose {
            self.role_changed(Role::Goose, RoleChangeReason::Elected);
            self.reissue_membership();
        }
    }

    // ----- membership changes -----------------------------------------------

    /// The term a change would be issued in, if this node may start one now.
    fn ready_for_change(&self) -> Result<Term, MembershipError> {
        let State::Leader(leader) = &self.state else {
            return Err(MembershipError::NotGoose {
                leader: self.leader,
            });
        };
        // A new Goose's re-issue (the only change without a `previous`) is
        // committed only by a majority-acknowledged round in its own term:
        // until then, and until it holds a lease, it is not ready. That is
        // not another change in progress; hosts wait and retry.
        let confirmed = (leader.reissued && leader.lease_start_tick.is_some())
            || self.mutated(Mutation::NoReissue);
        if !confirmed || (leader.pending && leader.previous.is_none()) {
            return Err(MembershipError::NotYetConfirmed);
        }
        if leader.pending {
            return Err(MembershipError::ChangeInProgress {
                pending: self.membership.id(),
            });
        }
        Ok(self.hard.term)
    }

    /// Puts `next` in force on the Goose: durable before any heartbeat
    /// carries it, pending until a majority of its voters hold it.
    fn propose(&mut self, next: Membership) -> MembershipId {
        let previous = self.membership.clone();
        let id = next.id();
        tracing::debug!(id = %self.config.id, membership = %id, "proposing a membership");
        self.install_membership(next, Some(previous));
        self.update_lease();
        self.check_commit();
        self.flush_hard_state();
        id
    }

    /// Makes `next` the membership in force on the Goose, with `previous` the
    /// one it replaces (`None` for a re-issue of the same members), and
    /// rebuilds the per-peer progress over both.
    fn install_membership(&mut self, next: Membership, previous: Option<Membership>) {
        let me = self.config.id;
        let State::Leader(leader) = &mut self.state else {
            return;
        };
        let ids: Vec<NodeId> = match &previous {
            Some(previous) => next
                .members()
                .chain(previous.members())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
            None => next.members().collect(),
        };
        leader.progress = ids
            .into_iter()
            .filter(|id| *id != me)
            .map(|id| {
                leader
                    .progress
                    .binary_search_by_key(&id, |peer| peer.id)
                    .map_or_else(|_| Progress::new(id), |index| leader.progress[index])
                    .for_membership(&next, previous.as_ref())
            })
            .collect();
        leader.pending = true;
        leader.previous = previous;
        self.membership = next;
        self.membership_dirty = true;
        self.derive_from_membership();
        self.counters.membership_changes += 1;
        self.emit(Event::MembershipChanged {
            id: self.membership.id(),
        });
    }

    /// Commits the pending membership once a majority of its voters hold it;
    /// a Goose that removed itself then steps down.
    fn check_commit(&mut self) {
        let me = self.config.id;
        let current = self.membership.id();
        let commit_on_old_voters = self.mutated(Mutation::CommitOnOldVoters);
        let State::Leader(leader) = &mut self.state else {
            return;
        };
        if !leader.pending {
            return;
        }
        let (counted, counts): (_, fn(&Progress) -> bool) = match &leader.previous {
            Some(previous) if commit_on_old_voters => (previous, |peer| peer.voter_before),
            _ => (&self.membership, |peer| peer.voter),
        };
        let holders = leader
            .progress
            .iter()
            .filter(|peer| counts(peer) && peer.membership >= current)
            .count()
            + usize::from(counted.is_voter(me));
        if holders < counted.quorum() {
            return;
        }
        leader.pending = false;
        if leader.previous.take().is_some() {
            // Members removed by the change get no more heartbeats.
            leader
                .progress
                .retain(|peer| self.membership.contains(peer.id));
            for peer in &mut leader.progress {
                peer.voter_before = peer.voter;
            }
        }
        tracing::debug!(id = %me, membership = %current, "membership committed");
        self.emit(Event::MembershipCommitted { id: current });
        let removed = !self.membership.is_voter(me);
        if removed && !self.mutated(Mutation::NoStepDownOnRemoval) {
            // A Goose that is no longer a voter leads nobody (a learner
            // cannot lead): it steps down now that the change is safe, and
            // hands over to the most responsive voter holding the change
            // (which still answers the Goose it follows) so that nobody
            // waits out an election timeout.
            let successor = self.most_responsive_voter(|peer| peer.membership >= current);
            self.become_follower(self.hard.term, None, RoleChangeReason::Removed);
            if let Some(to) = successor {
                self.send(
                    to,
                    Message::TimeoutNow {
                        term: self.hard.term,
                    },
                );
            }
        } else {
            // The lease no longer needs the old voters.
            self.update_lease();
            if self.leaving {
                // Asked to leave and led anyway (`campaign()`, or elected
                // while its hand-over was lost): it removes itself.
                let _ = self.propose_remove(me);
            }
        }
    }

    /// On a Goose, among the voters of the membership in force that
    /// `eligible` accepts, the one that acknowledged the newest round. Ties go
    /// to the lowest id (`progress` is sorted by id and `max_by_key` keeps
    /// the last maximum, hence the reverse).
    fn most_responsive_voter(&self, eligible: impl Fn(&Progress) -> bool) -> Option<NodeId> {
        let State::Leader(leader) = &self.state else {
            return None;
        };
        leader
            .progress
            .iter()
            .rev()
            .filter(|peer| peer.voter && eligible(peer))
            .max_by_key(|peer| peer.acked_tick)
            .map(|peer| peer.id)
    }

    /// Proposes promoting the first joining learner that has acknowledged
    /// every heartbeat for a whole maximum election timeout: long enough to
    /// show it keeps up, so that promoting it cannot stall the majority.
    fn promote_caught_up_learner(&mut self) {
        let State::Leader(leader) = &self.state else {
            return;
        };
        if leader.pending || leader.lease_start_tick.is_none() {
            return;
        }
        let current = self.membership.id();
        let needed_ticks = self.config.election_timeout_max_ticks;
        let ready = self.membership.joining().find(|id| {
            leader
                .progress
                .binary_search_by_key(id, |peer| peer.id)
                .is_ok_and(|index| {
                    let peer = &leader.progress[index];
                    peer.membership == current
                        && match (peer.streak_start_tick, peer.acked_tick) {
                            (Some(start), Some(last)) => last - start >= needed_ticks,
                            _ => false,
                        }
                })
        });
        if let Some(id) = ready {
            let next = self.membership.promoting(self.hard.term, id);
            self.propose(next);
        }
    }

    /// A Duck adopts a newer membership sent by the Goose.
    fn adopt_membership(&mut self, next: Membership) {
        tracing::debug!(id = %self.config.id, membership = %next.id(), "adopting a membership");
        self.membership = next;
        self.membership_dirty = true;
        self.derive_from_membership();
        self.counters.membership_changes += 1;
        if !self.membership.contains(self.config.id) {
            // Removed: done asking, and never campaigning again.
            self.leaving = false;
        }
        self.emit(Event::MembershipChanged {
            id: self.membership.id(),
        });
    }

    /// Recomputes what derives from the membership in force.
    fn derive_from_membership(&mut self) {
        let me = self.config.id;
        self.voter_peers.clear();
        self.voter_peers
            .extend(self.membership.voters().filter(|id| *id != me));
        self.is_voter = self.membership.is_voter(me)
            || (self.mutated(Mutation::RemovedStillCampaigns)
                && self.config.membership.is_voter(me));
    }

    // ----- helpers ----------------------------------------------------------

    /// A node is sticky while it leads, or within the minimum election
    /// timeout of its last contact with a live Goose or of its start.
    fn is_sticky(&self) -> bool {
        if self.mutated(Mutation::IgnoreStickiness) {
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

    /// Sends `msg` to every voter but this node.
    fn broadcast_to_voters(&mut self, msg: Message) {
        for index in 0..self.voter_peers.len() {
            self.send(self.voter_peers[index], msg.clone());
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
            // Announces a membership this node holds (or committed), which
            // is only true once it is durable.
            Event::MembershipChanged { .. } | Event::MembershipCommitted { .. } => true,
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

    /// Emits a pending `Persist` and `PersistMembership`. Called before every
    /// send and at the end of every input.
    fn flush_hard_state(&mut self) {
        if self.hard_dirty {
            self.hard_dirty = false;
            self.outputs
                .push_back(Output::Persist(self.persisted_form()));
        }
        if self.membership_dirty {
            self.membership_dirty = false;
            self.outputs
                .push_back(Output::PersistMembership(Box::new(self.membership.clone())));
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

    /// Whether the planted bug `mutation` is on (never, outside `sim`).
    fn mutated(&self, mutation: Mutation) -> bool {
        mutated(self.mutation_flag(), mutation)
    }

    #[cfg(feature = "sim")]
    fn mutation_flag(&self) -> Option<Mutation> {
        self.mutation
    }

    #[cfg(not(feature = "sim"))]
    fn mutation_flag(&self) -> Option<Mutation> {
        None
    }
}

fn mutated(flag: Option<Mutation>, mutation: Mutation) -> bool {
    flag == Some(mutation)
}

/// The newest round tick acknowledged to `leader` by a quorum of a set of
/// voters: `(whether this node is one, the quorum)`, and the peers `is_voter`
/// picks (this node counts its own latest round). Uses `scratch` so that acks
/// never allocate.
fn quorum_of(
    (me_votes, quorum): (bool, usize),
    leader: &LeaderState,
    is_voter: fn(&Progress) -> bool,
    scratch: &mut Vec<u64>,
) -> Option<u64> {
    scratch.clear();
    if me_votes {
        scratch.push(leader.last_round_tick);
    }
    scratch.extend(
        leader
            .progress
            .iter()
            .filter(|peer| is_voter(peer))
            .filter_map(|peer| peer.acked_tick),
    );
    quorum_tick(scratch, quorum)
}

/// How many peers a Goose heartbeats (zero for anyone else).
fn leader_progress_len(state: &State) -> usize {
    match state {
        State::Leader(leader) => leader.progress.len(),
        _ => 0,
    }
}
