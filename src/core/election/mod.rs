//! The election state machine, split by role.
//!
//! Every message goes through one term check ([`vote`]), then to the step of
//! the role the node is in: [`follower`] (a Duck following a Goose, or none),
//! [`vote`] (pre-candidates and candidates) or [`leader`]. Membership changes
//! live in [`reconfig`], who may talk to this node in [`admission`], and
//! everything the node asks of its host in [`outbox`].

mod admission;
mod deadline;
mod follower;
mod leader;
pub(crate) use leader::is_round_tick;
mod mutation;
mod outbox;
mod reconfig;
mod vote;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::config::{Config, ConfigError};
use super::membership::{Membership, MembershipError, MembershipId};
use super::message::Message;
use super::metadata::NodeMetadata;
use super::output::{CommandError, Counters, DropReason, Event, Output, RoleChangeReason};
use super::status::Status;
use super::types::{HardState, NodeId, Role, Term};
use follower::Follower;
use leader::LeaderState;
#[cfg(feature = "__planted-bugs")]
pub use mutation::Mutation;
use outbox::Outbox;
use vote::{Candidacy, EarlyRetries};

/// The role a node is in; each variant carries only its own data.
#[derive(Debug)]
enum State {
    Follower(Follower),
    PreCandidate(Candidacy),
    Candidate(Candidacy),
    Leader(LeaderState),
}

/// One node's view of the election: a pure, deterministic state machine.
///
/// `Election` does no I/O and reads no clock. The host drives it with three
/// kinds of input and drains its outputs after each one:
///
/// * **inputs**: [`tick`](Self::tick) (one unit of local time passed) or
///   [`advance_to`](Self::advance_to) (local time reached a tick),
///   [`handle_message`](Self::handle_message), and the commands
///   [`campaign`](Self::campaign), [`step_down`](Self::step_down) and
///   [`transfer_leadership`](Self::transfer_leadership);
/// * **outputs**: [`poll_output`](Self::poll_output) until it returns `None`;
/// * **timers**: [`next_deadline_tick`](Self::next_deadline_tick), read after
///   draining: the host may sleep until that tick (or until the next message
///   or command) and then call `advance_to` with the tick its clock reached,
///   before handling whatever woke it. Ticking every tick and advancing by
///   deadline give the same outputs in the same order.
///
/// # Drain order
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
///   change commits. Messages from nodes this node does not admit (see
///   [`admitted_peers`](Self::admitted_peers)) are dropped.
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
    now_tick: u64,
    state: State,
    /// Last contact with a live Goose (or start-up, or being the Goose):
    /// the node is sticky for `election_timeout_min_ticks` after it. Kept
    /// across roles, because a Goose that steps down stays sticky.
    last_contact_tick: u64,
    /// How many refused pre-vote rounds this node has asked again early
    /// since its last contact with a Goose (see
    /// `retry_refused_pre_vote_soon`), and that contact's tick.
    early_retries: EarlyRetries,
    rng: StdRng,
    outbox: Outbox,
    /// The role the last `RoleChanged` event announced. Transitions compare
    /// against it rather than against `role()`, which can already have
    /// changed with the clock (a lease ends as `now_tick` advances).
    announced_role: Role,
    #[cfg(feature = "__planted-bugs")]
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
    /// old one's lease may still run (a node grants no vote within the
    /// minimum election timeout of hearing from a live Goose).
    ///
    /// A node restarting from term 0 with no vote is sticky too, though
    /// under the storage contract it can have acknowledged nothing: every
    /// Goose's term is at least 1, a heartbeat of a newer term is adopted
    /// and its `Persist` drained before the ack that shows it (the persist
    /// barrier), and a vote is made durable before it is answered. The core
    /// cannot tell such a node from one whose directory was wiped under the
    /// same id, which the crate tells operators to do to rejoin a removed
    /// node (`--join`): a node whose removal had not committed may have
    /// acknowledged the Goose whose lease still runs, and a new Goose may
    /// undo the removal. Whether that wiped node can then tip an election
    /// rests on the runtime (a join waits for a pending change to commit),
    /// not on anything `Election` sees, so the stickiness stays; it costs a
    /// brand-new cluster at most the part of a tick by which a node's timer
    /// runs ahead of another's at the first election.
    pub fn new(config: Config, hard_state: HardState, rng_seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let members = config.membership.members().count();
        let mut election = Election {
            membership: config.membership.clone(),
            voter_peers: Vec::new(),
            is_voter: false,
            leaving: false,
            lease_ticks: config.lease_ticks(),
            hard: hard_state,
            now_tick: 0,
            state: State::Follower(Follower::default()),
            last_contact_tick: 0,
            early_retries: EarlyRetries::default(),
            rng: StdRng::seed_from_u64(rng_seed),
            // A heartbeat round is one send per peer plus a few events.
            outbox: Outbox::new(config.id, 2 * members + 8),
            announced_role: Role::Duck,
            #[cfg(feature = "__planted-bugs")]
            mutation: None,
            config,
        };
        election.derive_from_membership();
        election.reset_election_timer();
        Ok(election)
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
            leader: self.leader(),
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

    /// The Goose this node believes leads the current term: itself while it
    /// leads, the Goose a Duck follows, nobody while campaigning.
    pub fn leader(&self) -> Option<NodeId> {
        match &self.state {
            State::Follower(follower) => follower.leader,
            State::PreCandidate(_) | State::Candidate(_) => None,
            State::Leader(_) => Some(self.config.id),
        }
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
        &self.outbox.counters
    }

    // ----- inputs -----------------------------------------------------------

    /// One tick of local time has passed.
    pub fn tick(&mut self) {
        self.now_tick += 1;
        match &self.state {
            State::Leader(leader) => {
                let due = leader.tick_due(self.now_tick, self.lease_ticks, &self.config);
                self.tick_leader(due);
            }
            _ => {
                if self
                    .state
                    .election_deadline_tick()
                    .is_some_and(|deadline| self.now_tick >= deadline)
                {
                    self.on_election_timeout();
                }
            }
        }
        self.flush_hard_state();
    }

    /// A message from `from` arrived.
    ///
    /// Messages from nodes this node does not admit (see
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
            match self.state {
                State::Follower(_) => self.step_follower(from, msg),
                State::PreCandidate(_) | State::Candidate(_) => self.step_candidate(from, msg),
                State::Leader(_) => self.step_leader(from, msg),
            }
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
        // Only a voter that knows it is one can take over: a learner whose
        // promotion has not reached it would drop the `TimeoutNow`.
        let current = self.membership.id();
        let target = leader
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
    /// [`Event::MembershipCommitted`](super::Event::MembershipCommitted)
    /// names it. Adding a member again at its own address changes nothing
    /// and returns the membership in force.
    pub fn propose_add(&mut self, id: NodeId, addr: &str) -> Result<MembershipId, MembershipError> {
        self.propose_add_with_metadata(id, addr, &NodeMetadata::new())
    }

    /// [`propose_add`](Self::propose_add) of a node that brings
    /// `metadata` (what it says about itself, such as its application URL),
    /// recorded in the membership with its address. A member's address and
    /// metadata are fixed while it is a member: adding it again with the same
    /// ones changes nothing, with others is refused
    /// ([`MembershipError::AddressConflict`],
    /// [`MembershipError::MetadataConflict`]). Refused too when all
    /// members' metadata together would exceed
    /// [`MAX_MEMBERSHIP_METADATA_LEN`](crate::core::MAX_MEMBERSHIP_METADATA_LEN)
    /// ([`MembershipError::Metadata`]).
    pub fn propose_add_with_metadata(
        &mut self,
        id: NodeId,
        addr: &str,
        metadata: &NodeMetadata,
    ) -> Result<MembershipId, MembershipError> {
        if matches!(self.state, State::Leader(_)) && self.membership.records(id, addr, metadata) {
            // Already in (perhaps by the pending change itself: a joiner
            // asking twice): the caller waits for this id to commit.
            return Ok(self.membership.id());
        }
        let term = self.ready_for_change()?;
        match self
            .membership
            .adding_with_metadata(term, id, addr, metadata)?
        {
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
        if self.membership.is_voter(me) && self.membership.voter_count() == 1 {
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
        if let Some(leader) = self.leader().filter(|leader| *leader != me) {
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
        self.outbox.pop()
    }

    // ----- shared by every role ---------------------------------------------

    /// Announces a new role.
    pub(super) fn role_changed(&mut self, role: Role, reason: RoleChangeReason) {
        self.announced_role = role;
        self.outbox.counters.role_changes += 1;
        tracing::debug!(id = %self.config.id, term = %self.hard.term, %role, ?reason, "role changed");
        self.emit(Event::RoleChanged {
            role,
            term: self.hard.term,
            reason,
        });
    }
}
