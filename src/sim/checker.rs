//! The invariant checkers, and the violations they report.
//!
//! The simulator feeds the checker what it sees after every event: the live
//! state of nodes, every output they produce, the messages that leave them,
//! what their hosts make durable and what they load on restart. The checker
//! keeps the history those promises are about, knows which nodes are
//! learners, follows every membership ever issued and committed, and
//! reports the first broken promise.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use thiserror::Error;

use super::trace::{DisplayHardState, DisplayVote, SimCommand};
use crate::core::{
    Event, HardState, Membership, MembershipId, Message, NodeId, Output, Role, Term,
};

/// A broken promise, with the virtual time (in microseconds) it was seen at.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Violation {
    /// Two nodes were elected leader of the same term (promise 1).
    #[error("at {at_us}us: two leaders in term {term}: n{first} and n{second}")]
    TwoLeadersInTerm {
        /// When the second one was seen.
        at_us: u64,
        /// The term.
        term: Term,
        /// The first leader of `term`.
        first: NodeId,
        /// The second one.
        second: NodeId,
    },
    /// Two nodes answered "I am the Goose" at the same instant (promise 2).
    #[error(
        "at {at_us}us: two Geese at once: n{first} (term {first_term}) and n{second} (term {second_term})"
    )]
    TwoGeese {
        /// The instant.
        at_us: u64,
        /// One Goose.
        first: NodeId,
        /// Its term.
        first_term: Term,
        /// The other Goose.
        second: NodeId,
        /// Its term.
        second_term: Term,
    },
    /// A live node's term decreased.
    #[error("at {at_us}us: n{node}'s term went back from {from} to {to}")]
    TermWentBack {
        /// When.
        at_us: u64,
        /// The node.
        node: NodeId,
        /// The term before.
        from: Term,
        /// The term after.
        to: Term,
    },
    /// A live node's vote changed within one term.
    #[error("at {at_us}us: n{node} changed its vote in term {term} from n{from} to {}", DisplayVote(*to))]
    VoteChanged {
        /// When.
        at_us: u64,
        /// The node.
        node: NodeId,
        /// The term.
        term: Term,
        /// The vote before.
        from: NodeId,
        /// The vote after.
        to: Option<NodeId>,
    },
    /// What a host made durable went back: a lower term, or a vote dropped
    /// or changed within a term.
    #[error(
        "at {at_us}us: n{node}'s persisted state went back from ({}) to ({})",
        DisplayHardState(*previous), DisplayHardState(*next)
    )]
    DurableStateWentBack {
        /// When.
        at_us: u64,
        /// The node.
        node: NodeId,
        /// The durable state before.
        previous: HardState,
        /// The state persisted now.
        next: HardState,
    },
    /// A node restarted from a state older than what its messages had
    /// already shown the world: it sent something depending on a term or
    /// vote before that was durable (promise 5, the persist barrier).
    #[error(
        "at {at_us}us: n{node} restarted from ({}) but had already sent messages showing term {exposed_term}{}",
        DisplayHardState(*loaded),
        exposed_vote.map(|vote| format!(" and a vote for n{vote}")).unwrap_or_default()
    )]
    ExposedStateLost {
        /// When the node restarted.
        at_us: u64,
        /// The node.
        node: NodeId,
        /// The state it loaded.
        loaded: HardState,
        /// The highest term its messages had shown.
        exposed_term: Term,
        /// The vote its messages had shown in that term.
        exposed_vote: Option<NodeId>,
    },
    /// A node voted for two candidates in one term (a granted `VoteResponse`,
    /// or a `Vote` request, which is a vote for oneself).
    #[error("at {at_us}us: n{node} voted twice in term {term}: for n{first} and for n{second}")]
    DoubleVote {
        /// When the second vote was sent.
        at_us: u64,
        /// The voter.
        node: NodeId,
        /// The term.
        term: Term,
        /// The first candidate.
        first: NodeId,
        /// The second candidate.
        second: NodeId,
    },
    /// A message from a non-member changed a node's status (promise 6).
    #[error("at {at_us}us: a message from non-member {from} changed n{node}'s status")]
    GarbageChangedState {
        /// When.
        at_us: u64,
        /// The node.
        node: NodeId,
        /// The claimed sender.
        from: NodeId,
    },
    /// A message from a non-member was not counted as dropped (promise 6).
    #[error("at {at_us}us: a message from non-member {from} to n{node} was not counted as dropped")]
    GarbageNotCounted {
        /// When.
        at_us: u64,
        /// The node.
        node: NodeId,
        /// The claimed sender.
        from: NodeId,
    },
    /// A learner answered "I am the Goose" (`role() == Goose`, or a
    /// `RoleChanged` event to Goose): a non-voting member must never lead.
    #[error("at {at_us}us: learner n{node} is the Goose in term {term}")]
    LearnerIsGoose {
        /// When.
        at_us: u64,
        /// The learner.
        node: NodeId,
        /// Its term.
        term: Term,
    },
    /// A learner's status names itself as the leader of its term.
    #[error("at {at_us}us: learner n{node} says it leads term {term}")]
    LearnerLeads {
        /// When.
        at_us: u64,
        /// The learner.
        node: NodeId,
        /// The term it claims to lead.
        term: Term,
    },
    /// A learner sent a granted `VoteResponse` or `PreVoteResponse`: a
    /// learner always refuses.
    #[error(
        "at {at_us}us: learner n{node} granted its {} for term {term} to n{candidate}",
        if *pre_vote { "pre-vote" } else { "vote" }
    )]
    LearnerGrantedVote {
        /// When.
        at_us: u64,
        /// The learner.
        node: NodeId,
        /// The candidate it granted.
        candidate: NodeId,
        /// The term of the response.
        term: Term,
        /// `true` for a pre-vote.
        pre_vote: bool,
    },
    /// A node that is not a voter of the membership it holds (removed, or a
    /// learner waiting for promotion) granted a vote or pre-vote to a
    /// candidate that asked with neither a newer membership (where it may
    /// be a voter though it has not heard yet) nor the one its own was made
    /// from (whose change may be uncommitted: the others may need this vote
    /// to undo it). Such a vote would count in a membership that has been
    /// replaced.
    #[error(
        "at {at_us}us: n{node}, not a voter of its membership {held}, granted its {} for term \
         {term} to n{candidate}, which asked with {}",
        if *pre_vote { "pre-vote" } else { "vote" },
        if asked_with.is_empty() {
            "no request at all".to_owned()
        } else {
            asked_with.iter().map(ToString::to_string).collect::<Vec<_>>().join(" or ")
        }
    )]
    NonVoterGrantedVote {
        /// When.
        at_us: u64,
        /// The node.
        node: NodeId,
        /// The candidate it granted.
        candidate: NodeId,
        /// The term of the response.
        term: Term,
        /// `true` for a pre-vote.
        pre_vote: bool,
        /// The membership the node held.
        held: MembershipId,
        /// The memberships the candidate's requests for `term` to this node
        /// carried.
        asked_with: Vec<MembershipId>,
    },
    /// A learner started an election or a pre-vote round (an
    /// `ElectionStarted` event): a learner never campaigns.
    #[error(
        "at {at_us}us: learner n{node} started {} for term {term}",
        if *pre_vote { "a pre-vote round" } else { "an election" }
    )]
    LearnerStartedElection {
        /// When.
        at_us: u64,
        /// The learner.
        node: NodeId,
        /// The term campaigned for.
        term: Term,
        /// `true` for a pre-vote round.
        pre_vote: bool,
    },
    /// A node accepted a command that must be refused because it would make
    /// a learner lead: `campaign` on a learner, or a transfer to one.
    #[error(
        "at {at_us}us: n{node} accepted {command}, which would make learner n{learner} lead; \
         it must be refused"
    )]
    LearnerCommandAccepted {
        /// When.
        at_us: u64,
        /// The node the command was issued to.
        node: NodeId,
        /// The command.
        command: SimCommand,
        /// The learner it involves.
        learner: NodeId,
    },
    /// After healing, no Goose that every node follows appeared within the
    /// bound (promise 4). With membership changes: no Goose among the voters
    /// of the latest committed membership that every live member of its own
    /// membership follows.
    #[error(
        "at {at_us}us: no Goose followed by every node within {bound_us}us of healing at {healed_at_us}us; \
         the cluster then: {cluster}"
    )]
    NoGooseAfterHeal {
        /// When the bound ran out.
        at_us: u64,
        /// When the network healed.
        healed_at_us: u64,
        /// The bound, in microseconds.
        bound_us: u64,
        /// Every node as the bound ran out: up or not, role, term, leader,
        /// and the membership it holds.
        cluster: String,
    },
    /// After healing, a Goose was followed by every member, but a node that
    /// joined (and was not removed) was still a learner when the bound ran
    /// out: automatic promotion did not happen.
    #[error(
        "at {at_us}us: joined node n{node} was still not a voter {bound_us}us after healing at {healed_at_us}us"
    )]
    JoinerNotPromoted {
        /// When the bound ran out.
        at_us: u64,
        /// The joined node.
        node: NodeId,
        /// When the network healed.
        healed_at_us: u64,
        /// The bound, in microseconds.
        bound_us: u64,
    },
    /// A node's membership went back to an older one: in memory (the
    /// memberships it holds, in output order), or on its disk.
    #[error(
        "at {at_us}us: n{node}'s {} membership went back from {from} to {to}",
        if *durable { "durable" } else { "live" }
    )]
    MembershipWentBack {
        /// When.
        at_us: u64,
        /// The node.
        node: NodeId,
        /// The membership before.
        from: MembershipId,
        /// The membership after.
        to: MembershipId,
        /// Whether it was the durable copy that went back.
        durable: bool,
    },
    /// A node restarted with an older membership than its messages (an
    /// acknowledgement, a vote request, a heartbeat) had said it held.
    #[error(
        "at {at_us}us: n{node} restarted with membership {loaded} but had already sent messages \
         saying it held {exposed}"
    )]
    ExposedMembershipLost {
        /// When the node restarted.
        at_us: u64,
        /// The node.
        node: NodeId,
        /// The membership it restarted with.
        loaded: MembershipId,
        /// The newest membership its messages had claimed.
        exposed: MembershipId,
    },
    /// Two different memberships were issued under the same id.
    #[error(
        "at {at_us}us: n{node} holds membership {id} as {second}, but it was issued as {first}"
    )]
    MembershipIdReused {
        /// When the second one was seen.
        at_us: u64,
        /// The node that held (or sent) the second one.
        node: NodeId,
        /// The id.
        id: MembershipId,
        /// The membership first seen under `id`.
        first: Box<DisplayMembership>,
        /// The other one.
        second: Box<DisplayMembership>,
    },
    /// A Goose issued a membership whose voters differ from those of the
    /// membership it held before by more than one node (single-server
    /// changes only).
    #[error(
        "at {at_us}us: n{node} issued membership {to}, whose voters differ from those of {from} by {changed:?}"
    )]
    MultiVoterChange {
        /// When.
        at_us: u64,
        /// The issuer.
        node: NodeId,
        /// The membership it held before.
        from: MembershipId,
        /// The one it issued.
        to: MembershipId,
        /// The voters added or removed.
        changed: Vec<NodeId>,
    },
    /// A membership change was issued on top of (or committed after) a
    /// membership that was not committed: one change at a time, and a new
    /// Goose's first change only after its re-issue committed.
    #[error(
        "at {at_us}us: n{node}'s membership change {change} was made on top of {base}, which was not committed"
    )]
    ChangeOnUncommittedBase {
        /// When.
        at_us: u64,
        /// The issuer (or the node committing).
        node: NodeId,
        /// The membership the change was made from.
        base: MembershipId,
        /// The change.
        change: MembershipId,
    },
    /// A Goose announced a membership committed while fewer than a majority
    /// of its voters held it durably.
    #[error(
        "at {at_us}us: n{node} committed membership {id} while only {holders} of its voters held it \
         durably (a majority is {quorum})"
    )]
    CommittedWithoutMajority {
        /// When.
        at_us: u64,
        /// The Goose.
        node: NodeId,
        /// The membership.
        id: MembershipId,
        /// Voters holding it (or newer) on disk.
        holders: usize,
        /// The majority of its voters.
        quorum: usize,
    },
    /// A node removed by a committed change is the Goose (or announced it).
    #[error(
        "at {at_us}us: n{node}, removed by a committed membership change, is the Goose in term {term}"
    )]
    RemovedNodeIsGoose {
        /// When.
        at_us: u64,
        /// The node.
        node: NodeId,
        /// Its term.
        term: Term,
    },
    /// A node started an election (or pre-vote round) while holding a
    /// membership that does not contain it: a removed node never campaigns.
    #[error(
        "at {at_us}us: n{node} started {} for term {term} while holding membership {membership}, \
         which does not contain it",
        if *pre_vote { "a pre-vote round" } else { "an election" }
    )]
    RemovedNodeCampaigned {
        /// When.
        at_us: u64,
        /// The node.
        node: NodeId,
        /// The term campaigned for.
        term: Term,
        /// `true` for a pre-vote round.
        pre_vote: bool,
        /// The membership it held.
        membership: MembershipId,
    },
    /// A node answered "I am the Goose" while not a voter of its own
    /// membership, other than while the change removing it is pending (a
    /// Goose that removes itself leads until the removal commits, then
    /// steps down at once).
    #[error(
        "at {at_us}us: n{node} is the Goose in term {term} but not a voter of its membership {membership}, \
         and no change is pending"
    )]
    GooseNotAVoter {
        /// When.
        at_us: u64,
        /// The node.
        node: NodeId,
        /// Its term.
        term: Term,
        /// Its membership.
        membership: MembershipId,
    },
    /// A `MembershipChanged` or `MembershipCommitted` event reached the host
    /// before the `PersistMembership` of that membership: the event promises
    /// a durable membership.
    #[error(
        "at {at_us}us: n{node} announced membership {id} {} while its disk held {durable}",
        if *committed { "committed" } else { "changed" }
    )]
    MembershipEventNotDurable {
        /// When.
        at_us: u64,
        /// The node.
        node: NodeId,
        /// The membership the event names.
        id: MembershipId,
        /// What the host had made durable.
        durable: MembershipId,
        /// `true` for `MembershipCommitted`.
        committed: bool,
    },
    /// A node that was not the Goose changed the membership with
    /// `propose_add` or `propose_remove`: only the Goose does.
    #[error("at {at_us}us: n{node} changed its membership with {command} while not the Goose")]
    MembershipCommandAcceptedByDuck {
        /// When.
        at_us: u64,
        /// The node.
        node: NodeId,
        /// The command.
        command: SimCommand,
    },
}

/// A membership as a violation shows it: id, voters, learners (joining ones
/// starred).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayMembership(pub Membership);

impl fmt::Display for DisplayMembership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let membership = &self.0;
        write!(f, "{} voters [", membership.id())?;
        for (i, id) in membership.voters().enumerate() {
            write!(f, "{}n{id}", if i == 0 { "" } else { " " })?;
        }
        f.write_str("] learners [")?;
        for (i, id) in membership.learners().enumerate() {
            let star = if membership.is_joining(id) { "*" } else { "" };
            write!(f, "{}n{id}{star}", if i == 0 { "" } else { " " })?;
        }
        f.write_str("]")
    }
}

/// The most a node's messages have shown about its hard state: the highest
/// term, and the vote in that term if one was shown.
#[derive(Clone, Copy, Debug, Default)]
struct Exposure {
    term: Term,
    vote: Option<NodeId>,
}

/// The history the invariants are about. Nodes are indexed `0..n`, with id
/// `index + 1`; the voters come first, then the learners, then the spares.
#[derive(Debug)]
pub(crate) struct Checker {
    /// How many voters; the `learners` indices after them are learners.
    voters: usize,
    /// How many configured (permanent) learners.
    learners: usize,
    /// The leader of every term that has one.
    leaders: BTreeMap<Term, NodeId>,
    /// Each node's hard state as last seen in its current life; `None` while
    /// it is down.
    live: Vec<Option<HardState>>,
    /// What each node's messages have shown, across all its lives.
    exposed: Vec<Exposure>,
    /// Every vote shown by a message: (voter, term) -> candidate.
    votes: BTreeMap<(NodeId, Term), NodeId>,
    /// Memberships: every one ever issued, and what is committed.
    memberships: MembershipHistory,
}

/// What the checker knows about memberships.
#[derive(Debug)]
struct MembershipHistory {
    /// Every membership ever issued, by id (first sight).
    issued: BTreeMap<MembershipId, Membership>,
    /// For each issued membership, the one its issuer held before.
    predecessor: BTreeMap<MembershipId, MembershipId>,
    /// Every membership a Goose's core announced committed, whether or not
    /// its host then crashed before handling the event (and the configured
    /// one): what the core believes, which it must not change on top of.
    decided: BTreeSet<MembershipId>,
    /// Every membership whose commit event a host handled (and the
    /// configured one): a majority of its voters held it durably then.
    committed: BTreeSet<MembershipId>,
    /// The newest committed membership.
    latest_committed: Membership,
    /// Every node that was a member of some committed membership.
    ever_committed_members: BTreeSet<NodeId>,
    /// Each node's membership as of its latest output (in memory, lost
    /// outputs included); `None` before a spare joins.
    held: Vec<Option<Membership>>,
    /// Each node's membership as its host made it durable.
    durable: Vec<MembershipId>,
    /// The newest membership each node's messages claimed it held.
    exposed: Vec<MembershipId>,
    /// The memberships vote and pre-vote requests carried, by (voter,
    /// candidate, term, pre-vote): what a voter may have been asked with.
    requests: BTreeMap<(NodeId, NodeId, Term, bool), BTreeSet<MembershipId>>,
}

impl Checker {
    /// A checker for `voters` voters followed by `learners` learners (all
    /// members of `initial`), then `spares` spare nodes that may join later.
    pub(crate) fn new(voters: usize, learners: usize, spares: usize, initial: &Membership) -> Self {
        let members = voters + learners;
        let nodes = members + spares;
        let mut live = vec![Some(HardState::default()); members];
        live.resize(nodes, None);
        let mut held = vec![Some(initial.clone()); members];
        held.resize(nodes, None);
        Checker {
            voters,
            learners,
            leaders: BTreeMap::new(),
            live,
            exposed: vec![Exposure::default(); nodes],
            votes: BTreeMap::new(),
            memberships: MembershipHistory {
                issued: BTreeMap::from([(initial.id(), initial.clone())]),
                predecessor: BTreeMap::new(),
                decided: BTreeSet::from([initial.id()]),
                committed: BTreeSet::from([initial.id()]),
                latest_committed: initial.clone(),
                ever_committed_members: initial.members().collect(),
                held,
                durable: vec![initial.id(); nodes],
                exposed: vec![MembershipId::default(); nodes],
                requests: BTreeMap::new(),
            },
        }
    }

    /// Invariant 1: `node` says it leads `term`.
    pub(crate) fn on_leader(
        &mut self,
        at_us: u64,
        node: NodeId,
        term: Term,
    ) -> Result<(), Violation> {
        let first = *self.leaders.entry(term).or_insert(node);
        if first != node {
            return Err(Violation::TwoLeadersInTerm {
                at_us,
                term,
                first,
                second: node,
            });
        }
        Ok(())
    }

    /// Whether the node at `index` is a configured (permanent) learner.
    pub(crate) fn is_learner(&self, index: usize) -> bool {
        index >= self.voters && index < self.voters + self.learners
    }

    /// Whether node `id` is a learner.
    pub(crate) fn is_learner_id(&self, id: NodeId) -> bool {
        usize::try_from(id.0)
            .ok()
            .and_then(|id| id.checked_sub(1))
            .is_some_and(|index| self.is_learner(index))
    }

    /// Invariant 1 and invariant 5 (learners never lead), from what a live
    /// node reports after an event: its role, term and the leader it
    /// believes in.
    pub(crate) fn on_status(
        &mut self,
        at_us: u64,
        index: usize,
        role: Role,
        term: Term,
        leader: Option<NodeId>,
    ) -> Result<(), Violation> {
        let node = node_id(index);
        if self.is_learner(index) {
            if role == Role::Goose {
                return Err(Violation::LearnerIsGoose { at_us, node, term });
            }
            if leader == Some(node) {
                return Err(Violation::LearnerLeads { at_us, node, term });
            }
        }
        if leader == Some(node) {
            self.on_leader(at_us, node, term)?;
        }
        Ok(())
    }

    /// Invariant 5 (a learner never campaigns, never votes, never becomes
    /// the Goose), from one output of a node.
    ///
    /// The simulator shows this every output an input produced, including
    /// those a crash then loses: they are what the core decided, whether or
    /// not the host got to act on them.
    ///
    /// It also follows the node's memberships in output order (invariants
    /// 6 to 10, see [`Self::on_membership_output`]).
    pub(crate) fn on_output(
        &mut self,
        at_us: u64,
        index: usize,
        output: &Output,
    ) -> Result<(), Violation> {
        self.learner_output(at_us, index, output)?;
        self.on_membership_output(at_us, index, output)
    }

    fn learner_output(&self, at_us: u64, index: usize, output: &Output) -> Result<(), Violation> {
        if !self.is_learner(index) {
            return Ok(());
        }
        let node = node_id(index);
        match *output {
            Output::Event(Event::ElectionStarted { term, pre_vote }) => {
                Err(Violation::LearnerStartedElection {
                    at_us,
                    node,
                    term,
                    pre_vote,
                })
            }
            Output::Event(Event::RoleChanged {
                role: Role::Goose,
                term,
                ..
            }) => Err(Violation::LearnerIsGoose { at_us, node, term }),
            Output::Send {
                to,
                msg:
                    Message::VoteResponse {
                        term,
                        granted: true,
                    },
            } => Err(Violation::LearnerGrantedVote {
                at_us,
                node,
                candidate: to,
                term,
                pre_vote: false,
            }),
            Output::Send {
                to,
                msg:
                    Message::PreVoteResponse {
                        term,
                        granted: true,
                    },
            } => Err(Violation::LearnerGrantedVote {
                at_us,
                node,
                candidate: to,
                term,
                pre_vote: true,
            }),
            _ => Ok(()),
        }
    }

    /// Invariant 5, for commands: `campaign` on a learner and a transfer to a
    /// learner must be refused. Returns whether the command involved a
    /// learner (and so was rightly refused), for the caller to count.
    pub(crate) fn on_command(
        &self,
        at_us: u64,
        index: usize,
        command: SimCommand,
        accepted: bool,
    ) -> Result<bool, Violation> {
        let learner = match command {
            SimCommand::Campaign if self.is_learner(index) => node_id(index),
            SimCommand::Transfer(to) if self.is_learner_id(to) => to,
            _ => return Ok(false),
        };
        if accepted {
            return Err(Violation::LearnerCommandAccepted {
                at_us,
                node: node_id(index),
                command,
                learner,
            });
        }
        Ok(true)
    }

    /// Invariant 3: a live node's term never decreases, and its vote never
    /// changes within a term.
    pub(crate) fn on_live_state(
        &mut self,
        at_us: u64,
        index: usize,
        now: HardState,
    ) -> Result<(), Violation> {
        let node = node_id(index);
        if let Some(before) = self.live[index] {
            if now.term < before.term {
                return Err(Violation::TermWentBack {
                    at_us,
                    node,
                    from: before.term,
                    to: now.term,
                });
            }
            if now.term == before.term
                && let Some(vote) = before.voted_for
                && now.voted_for != Some(vote)
            {
                return Err(Violation::VoteChanged {
                    at_us,
                    node,
                    term: now.term,
                    from: vote,
                    to: now.voted_for,
                });
            }
        }
        self.live[index] = Some(now);
        Ok(())
    }

    /// Durable state only moves forward: never a lower term, never a vote
    /// dropped or changed within a term.
    pub(crate) fn on_persist(
        &mut self,
        at_us: u64,
        index: usize,
        previous: HardState,
        next: HardState,
    ) -> Result<(), Violation> {
        let same_term_vote_lost = next.term == previous.term
            && previous.voted_for.is_some()
            && next.voted_for != previous.voted_for;
        if next.term < previous.term || same_term_vote_lost {
            return Err(Violation::DurableStateWentBack {
                at_us,
                node: node_id(index),
                previous,
                next,
            });
        }
        Ok(())
    }

    /// Invariant 4, first half: record what a message leaving `index` shows
    /// about its sender, and catch a second vote in a term.
    ///
    /// The claim is read from the message itself rather than from the
    /// sender's in-memory state: the message is what the world saw, and the
    /// sender may already have moved on (to a state its host has not made
    /// durable yet) by the time the host drains the send.
    pub(crate) fn on_send(
        &mut self,
        at_us: u64,
        index: usize,
        to: NodeId,
        msg: &Message,
    ) -> Result<(), Violation> {
        let node = node_id(index);
        if let Some(held) = claimed_membership(msg) {
            let exposed = &mut self.memberships.exposed[index];
            *exposed = (*exposed).max(held);
        }
        if let Some((term, pre_vote, membership)) = vote_request(msg) {
            self.memberships
                .requests
                .entry((to, node, term, pre_vote))
                .or_default()
                .insert(membership);
        }
        let Some((term, vote)) = claim(node, to, msg) else {
            return Ok(());
        };
        if let Some(candidate) = vote {
            let first = *self.votes.entry((node, term)).or_insert(candidate);
            if first != candidate {
                return Err(Violation::DoubleVote {
                    at_us,
                    node,
                    term,
                    first,
                    second: candidate,
                });
            }
        }
        let exposed = &mut self.exposed[index];
        if term > exposed.term {
            *exposed = Exposure { term, vote };
        } else if term == exposed.term && vote.is_some() {
            exposed.vote = vote;
        }
        Ok(())
    }

    /// The node crashed: its live state is gone.
    pub(crate) fn on_crash(&mut self, index: usize) {
        self.live[index] = None;
    }

    /// Invariant 4, second half (and invariant 3 across restarts): a node
    /// restarts from a state at least as new as anything its messages
    /// showed.
    pub(crate) fn on_restart(
        &mut self,
        at_us: u64,
        index: usize,
        loaded: HardState,
        membership: &Membership,
    ) -> Result<(), Violation> {
        let exposed_membership = self.memberships.exposed[index];
        if membership.id() < exposed_membership {
            return Err(Violation::ExposedMembershipLost {
                at_us,
                node: node_id(index),
                loaded: membership.id(),
                exposed: exposed_membership,
            });
        }
        let durable = self.memberships.durable[index];
        if membership.id() < durable {
            return Err(Violation::MembershipWentBack {
                at_us,
                node: node_id(index),
                from: durable,
                to: membership.id(),
                durable: true,
            });
        }
        self.memberships.held[index] = Some(membership.clone());
        let exposed = self.exposed[index];
        let vote_lost = loaded.term == exposed.term
            && exposed.vote.is_some()
            && loaded.voted_for != exposed.vote;
        if loaded.term < exposed.term || vote_lost {
            return Err(Violation::ExposedStateLost {
                at_us,
                node: node_id(index),
                loaded,
                exposed_term: exposed.term,
                exposed_vote: exposed.vote,
            });
        }
        self.live[index] = Some(loaded);
        Ok(())
    }

    // ----- memberships ------------------------------------------------------

    /// A spare node joined, starting from `membership`: it is live, holds
    /// that membership, and has it on disk.
    pub(crate) fn on_join(&mut self, index: usize, membership: &Membership) {
        self.live[index] = Some(HardState::default());
        let history = &mut self.memberships;
        history.held[index] = Some(membership.clone());
        history.durable[index] = membership.id();
    }

    /// Memberships in a node's output stream (what the core decided, lost
    /// outputs included):
    ///
    /// * 6: the memberships a node holds never go back;
    /// * 7: no two different memberships share an id;
    /// * 8: a membership seen for the first time was issued by this node, and
    ///   its voters differ from those of the one it held before by at most
    ///   one; if its members differ at all (a change, not a re-issue), the
    ///   one before was committed;
    /// * 9 (with [`Self::on_membership_event`]): a committed membership is
    ///   durably held by a majority of its voters; a committed change was
    ///   made on a committed base;
    /// * 10: a node never campaigns while its membership does not contain it
    ///   (nor while it is a learner of it: a joining node waits for its
    ///   promotion), grants a vote while not a voter only as
    ///   [`Self::check_grant`] allows, and never becomes the Goose once a
    ///   committed change removed it.
    fn on_membership_output(
        &mut self,
        at_us: u64,
        index: usize,
        output: &Output,
    ) -> Result<(), Violation> {
        let node = node_id(index);
        match output {
            Output::PersistMembership(membership) => self.on_held(at_us, index, membership),
            Output::Send {
                msg:
                    Message::Heartbeat {
                        membership: Some(membership),
                        ..
                    }
                    | Message::NewerMembership { membership, .. },
                ..
            } => self.check_same_as_issued(at_us, node, membership),
            &Output::Send {
                to,
                msg:
                    Message::VoteResponse {
                        term,
                        granted: true,
                    },
            } => self.check_grant(at_us, index, to, term, false),
            &Output::Send {
                to,
                msg:
                    Message::PreVoteResponse {
                        term,
                        granted: true,
                    },
            } => self.check_grant(at_us, index, to, term, true),
            &Output::Event(Event::ElectionStarted { term, pre_vote }) => {
                let Some(held) = &self.memberships.held[index] else {
                    return Ok(());
                };
                if !held.contains(node) {
                    return Err(Violation::RemovedNodeCampaigned {
                        at_us,
                        node,
                        term,
                        pre_vote,
                        membership: held.id(),
                    });
                }
                if !held.is_voter(node) {
                    return Err(Violation::LearnerStartedElection {
                        at_us,
                        node,
                        term,
                        pre_vote,
                    });
                }
                Ok(())
            }
            &Output::Event(Event::RoleChanged {
                role: Role::Goose,
                term,
                ..
            }) if self.is_removed(node) => Err(Violation::RemovedNodeIsGoose { at_us, node, term }),
            &Output::Event(Event::MembershipCommitted { id }) => {
                self.memberships.decided.insert(id);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Invariant 10 for a (pre-)vote the node at `index` granted to
    /// `candidate` for `term`: a voter of the membership it holds may grant
    /// it (the core's other rules decide); any other node only on a request
    /// carrying a membership newer than its own, or the one its own was made
    /// from. Votes follow the candidate's membership, which counts only its
    /// own voters, so the vote cannot help elect anyone in a membership that
    /// replaced the one it counts in: if the change that took this node's
    /// vote committed, a majority of its voters hold it and refuse the
    /// candidate, and that majority meets every majority of the membership
    /// before (single-server changes).
    fn check_grant(
        &self,
        at_us: u64,
        index: usize,
        candidate: NodeId,
        term: Term,
        pre_vote: bool,
    ) -> Result<(), Violation> {
        let node = node_id(index);
        let Some(held) = &self.memberships.held[index] else {
            return Ok(());
        };
        if held.is_voter(node) {
            return Ok(());
        }
        let history = &self.memberships;
        let asked_with = history
            .requests
            .get(&(node, candidate, term, pre_vote))
            .cloned()
            .unwrap_or_default();
        let made_from = history.predecessor.get(&held.id()).copied();
        let allowed = asked_with
            .iter()
            .any(|asked| *asked > held.id() || Some(*asked) == made_from);
        if allowed {
            return Ok(());
        }
        Err(Violation::NonVoterGrantedVote {
            at_us,
            node,
            candidate,
            term,
            pre_vote,
            held: held.id(),
            asked_with: asked_with.into_iter().collect(),
        })
    }

    /// Invariants 6 to 8 for a membership the node now holds.
    fn on_held(&mut self, at_us: u64, index: usize, next: &Membership) -> Result<(), Violation> {
        let node = node_id(index);
        let history = &mut self.memberships;
        let previous = history.held[index].take();
        history.held[index] = Some(next.clone());
        let Some(previous) = previous else {
            return Ok(());
        };
        if next.id() < previous.id() {
            return Err(Violation::MembershipWentBack {
                at_us,
                node,
                from: previous.id(),
                to: next.id(),
                durable: false,
            });
        }
        if history.issued.contains_key(&next.id()) {
            return self.check_same_as_issued(at_us, node, next);
        }
        // First sight: this node issued it. Any other holder received it
        // from a node that persisted it, and so showed it, first: from the
        // Goose's heartbeat, or from any member's `NewerMembership` (a
        // stale node catching up from a peer adopts an issued membership,
        // it does not issue one).
        history.issued.insert(next.id(), next.clone());
        history.predecessor.insert(next.id(), previous.id());
        let changed = changed_voters(&previous, next);
        if changed.len() > 1 {
            return Err(Violation::MultiVoterChange {
                at_us,
                node,
                from: previous.id(),
                to: next.id(),
                changed,
            });
        }
        if !same_members(&previous, next) && !history.decided.contains(&previous.id()) {
            return Err(Violation::ChangeOnUncommittedBase {
                at_us,
                node,
                base: previous.id(),
                change: next.id(),
            });
        }
        Ok(())
    }

    /// Invariant 7: `membership` is the one first issued under its id.
    fn check_same_as_issued(
        &self,
        at_us: u64,
        node: NodeId,
        membership: &Membership,
    ) -> Result<(), Violation> {
        match self.memberships.issued.get(&membership.id()) {
            Some(first) if first != membership => Err(Violation::MembershipIdReused {
                at_us,
                node,
                id: membership.id(),
                first: Box::new(DisplayMembership(first.clone())),
                second: Box::new(DisplayMembership(membership.clone())),
            }),
            _ => Ok(()),
        }
    }

    /// Invariant 9: the host of the Goose at `index` handled the event
    /// committing `id`.
    fn on_commit(&mut self, at_us: u64, index: usize, id: MembershipId) -> Result<(), Violation> {
        let node = node_id(index);
        let history = &mut self.memberships;
        let Some(membership) = history.issued.get(&id).cloned() else {
            // Never held by anyone: the Goose did not persist what it
            // commits. The event check of the host reports it.
            return Ok(());
        };
        let holders = membership
            .voters()
            .filter(|voter| {
                index_of(*voter)
                    .and_then(|index| history.durable.get(index))
                    .is_some_and(|durable| *durable >= id)
            })
            .count();
        if holders < membership.quorum() {
            return Err(Violation::CommittedWithoutMajority {
                at_us,
                node,
                id,
                holders,
                quorum: membership.quorum(),
            });
        }
        if let Some(base) = history.predecessor.get(&id).copied()
            && let Some(base_membership) = history.issued.get(&base)
            && !same_members(base_membership, &membership)
            && !history.committed.contains(&base)
        {
            return Err(Violation::ChangeOnUncommittedBase {
                at_us,
                node,
                base,
                change: id,
            });
        }
        history.committed.insert(id);
        history.ever_committed_members.extend(membership.members());
        if id > history.latest_committed.id() {
            history.latest_committed = membership;
        }
        Ok(())
    }

    /// Whether a committed change removed `node`: it was a member of a
    /// committed membership and is not one of the newest. (The simulator
    /// never adds a removed node again.)
    pub(crate) fn is_removed(&self, node: NodeId) -> bool {
        let history = &self.memberships;
        history.ever_committed_members.contains(&node) && !history.latest_committed.contains(node)
    }

    /// The membership issued under `id`, if any node ever held it.
    pub(crate) fn issued(&self, id: MembershipId) -> Option<&Membership> {
        self.memberships.issued.get(&id)
    }

    /// The newest committed membership.
    pub(crate) fn latest_committed(&self) -> &Membership {
        &self.memberships.latest_committed
    }

    /// Invariant 6 for a live node's in-memory membership after an input.
    pub(crate) fn on_live_membership(
        &mut self,
        at_us: u64,
        index: usize,
        id: MembershipId,
    ) -> Result<(), Violation> {
        if let Some(held) = &self.memberships.held[index]
            && id < held.id()
        {
            return Err(Violation::MembershipWentBack {
                at_us,
                node: node_id(index),
                from: held.id(),
                to: id,
                durable: false,
            });
        }
        Ok(())
    }

    /// Invariant 6 on disk, and the host's side of the event promise: the
    /// host made `membership` durable.
    pub(crate) fn on_persist_membership(
        &mut self,
        at_us: u64,
        index: usize,
        id: MembershipId,
    ) -> Result<(), Violation> {
        let durable = &mut self.memberships.durable[index];
        if id < *durable {
            return Err(Violation::MembershipWentBack {
                at_us,
                node: node_id(index),
                from: *durable,
                to: id,
                durable: true,
            });
        }
        *durable = id;
        Ok(())
    }

    /// A membership event reached the host: it must name what the host has
    /// made durable (the `PersistMembership` comes first). A commit is then
    /// checked and recorded (invariant 9).
    pub(crate) fn on_membership_event(
        &mut self,
        at_us: u64,
        index: usize,
        id: MembershipId,
        committed: bool,
    ) -> Result<(), Violation> {
        let durable = self.memberships.durable[index];
        if durable != id {
            return Err(Violation::MembershipEventNotDurable {
                at_us,
                node: node_id(index),
                id,
                durable,
                committed,
            });
        }
        if committed {
            self.on_commit(at_us, index, id)?;
        }
        Ok(())
    }

    /// Invariants 10 (the Goose side) and 11, from a live node after every
    /// event: a node removed by a committed change is never the Goose, and a
    /// Goose is a voter of its own membership unless the change removing
    /// it is pending.
    pub(crate) fn on_goose(
        &self,
        at_us: u64,
        index: usize,
        term: Term,
        membership: &Membership,
        pending: Option<bool>,
    ) -> Result<(), Violation> {
        let node = node_id(index);
        if self.is_removed(node) {
            return Err(Violation::RemovedNodeIsGoose { at_us, node, term });
        }
        if !membership.is_voter(node) && pending != Some(true) {
            return Err(Violation::GooseNotAVoter {
                at_us,
                node,
                term,
                membership: membership.id(),
            });
        }
        Ok(())
    }

    /// Only the Goose changes the membership with `propose_add` and
    /// `propose_remove`. (`proposed`: the command was accepted and the
    /// node's membership changed; accepting an add of a member at its own
    /// address changes nothing, and an elected node may answer it before
    /// its lease starts.)
    pub(crate) fn on_membership_command(
        &self,
        at_us: u64,
        index: usize,
        command: SimCommand,
        proposed: bool,
        was_goose: bool,
    ) -> Result<(), Violation> {
        let proposes = matches!(command, SimCommand::AddNode(_) | SimCommand::RemoveNode(_));
        if proposes && proposed && !was_goose {
            return Err(Violation::MembershipCommandAcceptedByDuck {
                at_us,
                node: node_id(index),
                command,
            });
        }
        Ok(())
    }

    /// How many terms had a leader.
    pub(crate) fn terms_with_leader(&self) -> u64 {
        self.leaders.len() as u64
    }
}

/// The id of the node at `index`.
pub(crate) fn node_id(index: usize) -> NodeId {
    NodeId(index as u64 + 1)
}

/// The index of node `id`, if it could be a simulated node.
fn index_of(id: NodeId) -> Option<usize> {
    usize::try_from(id.0).ok()?.checked_sub(1)
}

/// The membership a message says its sender holds durably (every send
/// follows the persist barrier).
fn claimed_membership(msg: &Message) -> Option<MembershipId> {
    match msg {
        Message::PreVote { membership, .. }
        | Message::Vote { membership, .. }
        | Message::HeartbeatAck { membership, .. } => Some(*membership),
        Message::Heartbeat {
            membership: Some(membership),
            ..
        }
        | Message::NewerMembership { membership, .. } => Some(membership.id()),
        _ => None,
    }
}

/// A vote or pre-vote request: the term asked for, whether it is a
/// pre-vote, and the membership the candidate holds.
fn vote_request(msg: &Message) -> Option<(Term, bool, MembershipId)> {
    match *msg {
        Message::PreVote { term, membership } => Some((term, true, membership)),
        Message::Vote {
            term, membership, ..
        } => Some((term, false, membership)),
        _ => None,
    }
}

/// The voters in one membership and not the other.
fn changed_voters(a: &Membership, b: &Membership) -> Vec<NodeId> {
    let a: BTreeSet<NodeId> = a.voters().collect();
    let b: BTreeSet<NodeId> = b.voters().collect();
    a.symmetric_difference(&b).copied().collect()
}

/// Whether two memberships have the same content, ids aside (a re-issue).
fn same_members(a: &Membership, b: &Membership) -> bool {
    a.voters().eq(b.voters())
        && a.learners().eq(b.learners())
        && a.joining().eq(b.joining())
        && a.addresses() == b.addresses()
}

/// What `msg`, sent by `from` to `to`, proves about `from`'s hard state: its
/// term, and its vote in that term when the message implies one. Pre-vote
/// traffic proves nothing durable: it does not move the sender's term.
fn claim(from: NodeId, to: NodeId, msg: &Message) -> Option<(Term, Option<NodeId>)> {
    match *msg {
        // A candidate votes for itself, and a Goose was one.
        Message::Vote { term, .. } | Message::Heartbeat { term, .. } => Some((term, Some(from))),
        Message::VoteResponse { term, granted } => Some((term, granted.then_some(to))),
        // `Leave` goes out through the same persist barrier as any send.
        Message::HeartbeatAck { term, .. }
        | Message::TimeoutNow { term }
        | Message::Leave { term }
        | Message::MembershipProbe { term, .. }
        | Message::NewerMembership { term, .. } => Some((term, None)),
        // A refusal carries the responder's current term; a grant echoes
        // the requester's, which the responder has not adopted.
        Message::PreVoteResponse {
            term,
            granted: false,
        } => Some((term, None)),
        Message::PreVoteResponse { granted: true, .. } | Message::PreVote { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configured membership of `voters` voters and `learners`
    /// learners after them, as the simulator builds it.
    fn initial(voters: u64, learners: u64) -> Membership {
        Membership::new((1..=voters).map(NodeId))
            .with_learners((voters + 1..=voters + learners).map(NodeId))
    }

    fn checker_for(voters: usize, learners: usize) -> Checker {
        Checker::new(
            voters,
            learners,
            0,
            &initial(voters as u64, learners as u64),
        )
    }

    fn hs(term: u64, vote: Option<u64>) -> HardState {
        HardState {
            term: Term(term),
            voted_for: vote.map(NodeId),
        }
    }

    #[test]
    fn a_second_leader_in_a_term_is_caught() {
        let mut checker = checker_for(3, 0);
        assert!(checker.on_leader(1, NodeId(1), Term(2)).is_ok());
        assert!(checker.on_leader(2, NodeId(1), Term(2)).is_ok());
        assert!(matches!(
            checker.on_leader(3, NodeId(2), Term(2)),
            Err(Violation::TwoLeadersInTerm { .. })
        ));
    }

    #[test]
    fn live_votes_and_terms_only_move_forward() {
        let mut checker = checker_for(1, 0);
        assert!(checker.on_live_state(0, 0, hs(3, None)).is_ok());
        assert!(checker.on_live_state(0, 0, hs(3, Some(2))).is_ok());
        assert!(matches!(
            checker.on_live_state(0, 0, hs(3, Some(3))),
            Err(Violation::VoteChanged { .. })
        ));
        assert!(checker.on_live_state(0, 0, hs(4, None)).is_ok());
        assert!(matches!(
            checker.on_live_state(0, 0, hs(2, None)),
            Err(Violation::TermWentBack { .. })
        ));
    }

    #[test]
    fn a_restart_behind_a_sent_vote_is_caught() {
        let mut checker = checker_for(3, 0);
        let vote = Message::VoteResponse {
            term: Term(5),
            granted: true,
        };
        assert!(checker.on_send(10, 0, NodeId(2), &vote).is_ok());
        checker.on_crash(0);
        assert!(matches!(
            checker.on_restart(20, 0, hs(5, None), &initial(3, 0)),
            Err(Violation::ExposedStateLost { .. })
        ));
        assert!(
            checker
                .on_restart(20, 0, hs(5, Some(2)), &initial(3, 0))
                .is_ok()
        );
        assert!(
            checker
                .on_restart(20, 0, hs(6, None), &initial(3, 0))
                .is_ok()
        );
    }

    #[test]
    fn a_vote_for_self_then_for_another_is_a_double_vote() {
        let mut checker = checker_for(3, 0);
        let request = Message::Vote {
            term: Term(4),
            transfer: false,
            membership: crate::core::MembershipId::default(),
        };
        assert!(checker.on_send(1, 0, NodeId(2), &request).is_ok());
        assert!(checker.on_send(1, 0, NodeId(3), &request).is_ok());
        let grant = Message::VoteResponse {
            term: Term(4),
            granted: true,
        };
        let error = checker.on_send(2, 0, NodeId(3), &grant).unwrap_err();
        assert_eq!(
            error,
            Violation::DoubleVote {
                at_us: 2,
                node: NodeId(1),
                term: Term(4),
                first: NodeId(1),
                second: NodeId(3),
            }
        );
        assert_eq!(
            error.to_string(),
            "at 2us: n1 voted twice in term 4: for n1 and for n3"
        );
    }

    #[test]
    fn durable_state_never_goes_back() {
        let mut checker = checker_for(1, 0);
        assert!(
            checker
                .on_persist(0, 0, hs(1, None), hs(1, Some(1)))
                .is_ok()
        );
        assert!(
            checker
                .on_persist(0, 0, hs(1, Some(1)), hs(2, None))
                .is_ok()
        );
        assert!(
            checker
                .on_persist(0, 0, hs(2, Some(1)), hs(2, None))
                .is_err()
        );
        assert!(checker.on_persist(0, 0, hs(2, None), hs(1, None)).is_err());
    }

    // ----- learners: the checkers can fail ---------------------------------
    //
    // The core cannot be made to misbehave from here (its planted mutations
    // do not cover learners), so these feed the checkers fabricated
    // observations of a learner doing what it must never do.

    /// Voters 1..=3, learners 4 and 5.
    fn with_learners() -> Checker {
        checker_for(3, 2)
    }

    #[test]
    fn learners_are_the_indices_after_the_voters() {
        let checker = with_learners();
        assert!(!checker.is_learner(2));
        assert!(checker.is_learner(3) && checker.is_learner(4));
        assert!(!checker.is_learner(5));
        assert!(!checker.is_learner_id(NodeId(0)));
        assert!(checker.is_learner_id(NodeId(4)));
        assert!(!checker.is_learner_id(NodeId(6)));
        assert!(!checker.is_learner_id(NodeId(u64::MAX)));
    }

    #[test]
    fn a_learner_reported_as_goose_is_caught() {
        let mut checker = with_learners();
        // A voter Goose leading its term, and a learner following it, are fine.
        assert_eq!(
            checker.on_status(1, 0, Role::Goose, Term(2), Some(NodeId(1))),
            Ok(())
        );
        assert_eq!(
            checker.on_status(1, 3, Role::Duck, Term(2), Some(NodeId(1))),
            Ok(())
        );
        let error = checker
            .on_status(2, 3, Role::Goose, Term(3), Some(NodeId(4)))
            .unwrap_err();
        assert_eq!(
            error,
            Violation::LearnerIsGoose {
                at_us: 2,
                node: NodeId(4),
                term: Term(3),
            }
        );
        assert_eq!(
            error.to_string(),
            "at 2us: learner n4 is the Goose in term 3"
        );
    }

    #[test]
    fn a_learner_leading_a_term_is_caught() {
        let mut checker = with_learners();
        let error = checker
            .on_status(5, 4, Role::Duck, Term(7), Some(NodeId(5)))
            .unwrap_err();
        assert_eq!(
            error,
            Violation::LearnerLeads {
                at_us: 5,
                node: NodeId(5),
                term: Term(7),
            }
        );
        assert_eq!(error.to_string(), "at 5us: learner n5 says it leads term 7");
        // Not recorded as the leader of term 7 either: a voter may still lead it.
        assert_eq!(
            checker.on_status(6, 1, Role::Duck, Term(7), Some(NodeId(2))),
            Ok(())
        );
    }

    #[test]
    fn a_learner_granting_a_vote_or_pre_vote_is_caught() {
        let mut checker = with_learners();
        let grant = |msg| Output::Send { to: NodeId(2), msg };
        let refusal = grant(Message::VoteResponse {
            term: Term(4),
            granted: false,
        });
        assert_eq!(checker.on_output(1, 3, &refusal), Ok(()));
        let vote = grant(Message::VoteResponse {
            term: Term(4),
            granted: true,
        });
        // A voter may grant; a learner may not.
        assert_eq!(checker.on_output(1, 0, &vote), Ok(()));
        let error = checker.on_output(2, 3, &vote).unwrap_err();
        assert_eq!(
            error,
            Violation::LearnerGrantedVote {
                at_us: 2,
                node: NodeId(4),
                candidate: NodeId(2),
                term: Term(4),
                pre_vote: false,
            }
        );
        assert_eq!(
            error.to_string(),
            "at 2us: learner n4 granted its vote for term 4 to n2"
        );
        let pre_vote = grant(Message::PreVoteResponse {
            term: Term(5),
            granted: true,
        });
        assert_eq!(
            checker.on_output(3, 4, &pre_vote).unwrap_err().to_string(),
            "at 3us: learner n5 granted its pre-vote for term 5 to n2"
        );
    }

    #[test]
    fn a_learner_starting_an_election_is_caught() {
        let mut checker = with_learners();
        let started = |pre_vote| {
            Output::Event(Event::ElectionStarted {
                term: Term(9),
                pre_vote,
            })
        };
        assert_eq!(checker.on_output(1, 2, &started(true)), Ok(()));
        let error = checker.on_output(1, 3, &started(true)).unwrap_err();
        assert_eq!(
            error,
            Violation::LearnerStartedElection {
                at_us: 1,
                node: NodeId(4),
                term: Term(9),
                pre_vote: true,
            }
        );
        assert_eq!(
            error.to_string(),
            "at 1us: learner n4 started a pre-vote round for term 9"
        );
        assert_eq!(
            checker
                .on_output(2, 4, &started(false))
                .unwrap_err()
                .to_string(),
            "at 2us: learner n5 started an election for term 9"
        );
        // Becoming the Goose shows in the event stream too.
        let elected = Output::Event(Event::RoleChanged {
            role: Role::Goose,
            term: Term(9),
            reason: crate::core::RoleChangeReason::Elected,
        });
        assert_eq!(
            checker.on_output(3, 4, &elected),
            Err(Violation::LearnerIsGoose {
                at_us: 3,
                node: NodeId(5),
                term: Term(9),
            })
        );
    }

    #[test]
    fn commands_that_would_make_a_learner_lead_must_be_refused() {
        let checker = with_learners();
        // Refused: fine, and reported as a learner command to count.
        assert_eq!(
            checker.on_command(1, 3, SimCommand::Campaign, false),
            Ok(true)
        );
        assert_eq!(
            checker.on_command(1, 0, SimCommand::Transfer(NodeId(5)), false),
            Ok(true)
        );
        // Commands among voters are none of this check's business.
        assert_eq!(
            checker.on_command(1, 0, SimCommand::Campaign, true),
            Ok(false)
        );
        assert_eq!(
            checker.on_command(1, 0, SimCommand::Transfer(NodeId(2)), true),
            Ok(false)
        );
        assert_eq!(
            checker.on_command(1, 3, SimCommand::StepDown, false),
            Ok(false)
        );
        // Accepted: a violation.
        let error = checker
            .on_command(2, 0, SimCommand::Transfer(NodeId(4)), true)
            .unwrap_err();
        assert_eq!(
            error,
            Violation::LearnerCommandAccepted {
                at_us: 2,
                node: NodeId(1),
                command: SimCommand::Transfer(NodeId(4)),
                learner: NodeId(4),
            }
        );
        assert_eq!(
            error.to_string(),
            "at 2us: n1 accepted transfer_leadership(n4), which would make learner n4 lead; \
             it must be refused"
        );
        assert!(matches!(
            checker.on_command(3, 4, SimCommand::Campaign, true),
            Err(Violation::LearnerCommandAccepted {
                learner: NodeId(5),
                ..
            })
        ));
    }

    // ----- memberships: the checkers can fail ------------------------------
    //
    // The planted core bugs and the host bug in `tests/sim_props.rs` reach
    // some of these through the simulator; the rest need core mutations that
    // do not exist yet, so these feed the checker fabricated outputs.

    use crate::core::RoleChangeReason;

    /// Voters n1..=n3, no learner: the configured membership, v0@t0.
    fn three() -> (Checker, Membership) {
        let initial = initial(3, 0);
        (Checker::new(3, 0, 2, &initial), initial)
    }

    fn persist(membership: &Membership) -> Output {
        Output::PersistMembership(Box::new(membership.clone()))
    }

    fn committed(id: MembershipId) -> Output {
        Output::Event(Event::MembershipCommitted { id })
    }

    /// `node` (an index) holds `membership` in its output stream, and its
    /// host made it durable.
    fn hold(checker: &mut Checker, index: usize, membership: &Membership) {
        assert_eq!(checker.on_output(1, index, &persist(membership)), Ok(()));
        assert_eq!(
            checker.on_persist_membership(1, index, membership.id()),
            Ok(())
        );
    }

    /// The Goose at index 0 re-issues the configured membership in term 2,
    /// every node holds it, and it commits.
    fn reissued_and_committed(checker: &mut Checker, initial: &Membership) -> Membership {
        let reissue = initial.reissued(Term(2));
        for index in 0..3 {
            hold(checker, index, &reissue);
        }
        assert_eq!(checker.on_output(1, 0, &committed(reissue.id())), Ok(()));
        assert_eq!(
            checker.on_membership_event(1, 0, reissue.id(), true),
            Ok(())
        );
        reissue
    }

    #[test]
    fn memberships_that_go_back_are_caught() {
        let (mut checker, initial) = three();
        let newer = initial.reissued(Term(3));
        hold(&mut checker, 0, &newer);
        // In memory...
        assert!(matches!(
            checker.on_live_membership(2, 0, initial.id()),
            Err(Violation::MembershipWentBack { durable: false, .. })
        ));
        assert!(matches!(
            checker.on_output(2, 0, &persist(&initial)),
            Err(Violation::MembershipWentBack { durable: false, .. })
        ));
        // ...and on disk.
        let error = checker
            .on_persist_membership(3, 1, newer.id())
            .and_then(|()| checker.on_persist_membership(3, 1, initial.id()))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "at 3us: n2's durable membership went back from v1@t3 to v0@t0"
        );
    }

    #[test]
    fn a_restart_behind_an_exposed_membership_is_caught() {
        let (mut checker, initial) = three();
        let newer = initial.reissued(Term(3));
        let ack = Message::HeartbeatAck {
            term: Term(3),
            sent_tick: 5,
            membership: newer.id(),
        };
        assert_eq!(checker.on_send(1, 1, NodeId(1), &ack), Ok(()));
        checker.on_crash(1);
        let error = checker
            .on_restart(2, 1, HardState::default(), &initial)
            .unwrap_err();
        assert_eq!(
            error,
            Violation::ExposedMembershipLost {
                at_us: 2,
                node: NodeId(2),
                loaded: initial.id(),
                exposed: newer.id(),
            }
        );
        assert_eq!(
            checker.on_restart(2, 1, hs(3, None), &newer),
            Ok(()),
            "restarting with what it showed is fine"
        );
    }

    #[test]
    fn two_memberships_under_one_id_are_caught() {
        let (mut checker, initial) = three();
        let reissue = reissued_and_committed(&mut checker, &initial);
        let add_four = reissue
            .adding(Term(2), NodeId(4), "n4.sim:7000")
            .unwrap()
            .unwrap();
        hold(&mut checker, 0, &add_four);
        // Another membership under the same id (say, from a Goose that
        // forgot to bump the version), held or sent by anyone.
        let add_five = reissue
            .adding(Term(2), NodeId(5), "n5.sim:7000")
            .unwrap()
            .unwrap();
        assert_eq!(add_five.id(), add_four.id());
        let error = checker.on_output(4, 1, &persist(&add_five)).unwrap_err();
        assert!(
            matches!(
                error,
                Violation::MembershipIdReused {
                    node: NodeId(2),
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(
            error.to_string(),
            "at 4us: n2 holds membership v2@t2 as v2@t2 voters [n1 n2 n3] learners [n5*], \
             but it was issued as v2@t2 voters [n1 n2 n3] learners [n4*]"
        );
        let heartbeat = Output::Send {
            to: NodeId(3),
            msg: Message::Heartbeat {
                term: Term(2),
                sent_tick: 1,
                membership: Some(Box::new(add_five)),
            },
        };
        assert!(matches!(
            checker.on_output(5, 2, &heartbeat),
            Err(Violation::MembershipIdReused { .. })
        ));
    }

    #[test]
    fn a_change_of_two_voters_at_once_is_caught() {
        let (mut checker, initial) = three();
        let reissue = reissued_and_committed(&mut checker, &initial);
        // n1 and n2 out at once (two single changes without the step
        // between), issued by n1.
        let two_out = reissue
            .removing(Term(2), NodeId(1))
            .unwrap()
            .removing(Term(2), NodeId(2))
            .unwrap();
        let error = checker.on_output(3, 0, &persist(&two_out)).unwrap_err();
        assert_eq!(
            error,
            Violation::MultiVoterChange {
                at_us: 3,
                node: NodeId(1),
                from: reissue.id(),
                to: two_out.id(),
                changed: vec![NodeId(1), NodeId(2)],
            }
        );
    }

    #[test]
    fn a_change_on_an_uncommitted_membership_is_caught() {
        let (mut checker, initial) = three();
        // The re-issue is held but never committed...
        let reissue = initial.reissued(Term(2));
        hold(&mut checker, 0, &reissue);
        // ...and a change on top of it must not be made.
        let change = reissue.removing(Term(2), NodeId(3)).unwrap();
        assert_eq!(
            checker.on_output(2, 0, &persist(&change)),
            Err(Violation::ChangeOnUncommittedBase {
                at_us: 2,
                node: NodeId(1),
                base: reissue.id(),
                change: change.id(),
            })
        );
        // A re-issue of an uncommitted membership is fine (that is how a new
        // Goose commits it).
        let (mut checker, initial) = three();
        let change = initial.removing(Term(0), NodeId(3)).unwrap();
        hold(&mut checker, 1, &change);
        assert_eq!(
            checker.on_output(3, 1, &persist(&change.reissued(Term(4)))),
            Ok(())
        );
    }

    #[test]
    fn a_commit_without_a_durable_majority_is_caught() {
        let (mut checker, initial) = three();
        let reissue = initial.reissued(Term(2));
        // Only the Goose holds it durably; n2 holds it in memory only.
        hold(&mut checker, 0, &reissue);
        assert_eq!(checker.on_output(1, 1, &persist(&reissue)), Ok(()));
        assert_eq!(checker.on_output(2, 0, &committed(reissue.id())), Ok(()));
        assert_eq!(
            checker.on_membership_event(2, 0, reissue.id(), true),
            Err(Violation::CommittedWithoutMajority {
                at_us: 2,
                node: NodeId(1),
                id: reissue.id(),
                holders: 1,
                quorum: 2,
            })
        );
        // Once n2's host has made it durable, the commit holds.
        assert_eq!(checker.on_persist_membership(3, 1, reissue.id()), Ok(()));
        assert_eq!(
            checker.on_membership_event(3, 0, reissue.id(), true),
            Ok(())
        );
        assert_eq!(checker.latest_committed().id(), reissue.id());
    }

    #[test]
    fn a_membership_event_before_its_persist_is_caught() {
        let (mut checker, initial) = three();
        let reissue = initial.reissued(Term(2));
        assert_eq!(checker.on_output(1, 0, &persist(&reissue)), Ok(()));
        // The host sees the event while its disk still holds v0@t0.
        let error = checker
            .on_membership_event(1, 0, reissue.id(), false)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "at 1us: n1 announced membership v1@t2 changed while its disk held v0@t0"
        );
    }

    #[test]
    fn a_removed_node_that_campaigns_or_leads_is_caught() {
        let (mut checker, initial) = three();
        let reissue = reissued_and_committed(&mut checker, &initial);
        let without_three = reissue.removing(Term(2), NodeId(3)).unwrap();
        hold(&mut checker, 0, &without_three);
        hold(&mut checker, 2, &without_three);
        // n3 holds a membership without itself: it must not campaign.
        let started = Output::Event(Event::ElectionStarted {
            term: Term(3),
            pre_vote: true,
        });
        assert_eq!(
            checker.on_output(2, 2, &started),
            Err(Violation::RemovedNodeCampaigned {
                at_us: 2,
                node: NodeId(3),
                term: Term(3),
                pre_vote: true,
                membership: without_three.id(),
            })
        );
        // Not yet committed: n3 is not "removed by a committed change".
        assert!(!checker.is_removed(NodeId(3)));
        hold(&mut checker, 1, &without_three);
        assert_eq!(
            checker.on_output(3, 0, &committed(without_three.id())),
            Ok(())
        );
        assert_eq!(
            checker.on_membership_event(3, 0, without_three.id(), true),
            Ok(())
        );
        assert!(checker.is_removed(NodeId(3)));
        // Now it must never lead again, whatever membership it holds.
        assert_eq!(
            checker.on_goose(4, 2, Term(5), &initial, Some(false)),
            Err(Violation::RemovedNodeIsGoose {
                at_us: 4,
                node: NodeId(3),
                term: Term(5),
            })
        );
        let elected = Output::Event(Event::RoleChanged {
            role: Role::Goose,
            term: Term(5),
            reason: RoleChangeReason::Elected,
        });
        assert!(matches!(
            checker.on_output(4, 2, &elected),
            Err(Violation::RemovedNodeIsGoose { .. })
        ));
    }

    #[test]
    fn a_joining_learner_that_campaigns_or_votes_is_caught() {
        let (mut checker, initial) = three();
        let reissue = reissued_and_committed(&mut checker, &initial);
        let with_four = reissue
            .adding(Term(2), NodeId(4), "n4.sim:7000")
            .unwrap()
            .unwrap();
        checker.on_join(3, &with_four);
        let started = Output::Event(Event::ElectionStarted {
            term: Term(3),
            pre_vote: false,
        });
        assert!(matches!(
            checker.on_output(1, 3, &started),
            Err(Violation::LearnerStartedElection {
                node: NodeId(4),
                ..
            })
        ));
        let grant = Output::Send {
            to: NodeId(1),
            msg: Message::PreVoteResponse {
                term: Term(3),
                granted: true,
            },
        };
        // n1 asks with the membership n4 holds: n4 is no voter there.
        let ask = |checker: &mut Checker, membership: MembershipId| {
            let request = Message::PreVote {
                term: Term(3),
                membership,
            };
            assert_eq!(checker.on_send(1, 0, NodeId(4), &request), Ok(()));
        };
        ask(&mut checker, with_four.id());
        assert_eq!(
            checker.on_output(1, 3, &grant),
            Err(Violation::NonVoterGrantedVote {
                at_us: 1,
                node: NodeId(4),
                candidate: NodeId(1),
                term: Term(3),
                pre_vote: true,
                held: with_four.id(),
                asked_with: vec![with_four.id()],
            })
        );
        // Promoted by the Goose, n1, once the add committed: a candidate
        // holding the promotion may count n4's vote though n4 has not heard
        // of it yet.
        for index in [0, 1, 3] {
            hold(&mut checker, index, &with_four);
        }
        assert_eq!(checker.on_output(2, 0, &committed(with_four.id())), Ok(()));
        let promoted = with_four.promoting(Term(2), NodeId(4));
        assert_eq!(checker.on_output(2, 0, &persist(&promoted)), Ok(()));
        ask(&mut checker, promoted.id());
        assert_eq!(checker.on_output(2, 3, &grant), Ok(()));
        // Once it holds the promotion, it is a voter: both are fine.
        assert_eq!(checker.on_output(2, 3, &persist(&promoted)), Ok(()));
        assert_eq!(checker.on_output(2, 3, &started), Ok(()));
        assert_eq!(checker.on_output(2, 3, &grant), Ok(()));
    }

    #[test]
    fn a_removed_node_votes_only_to_undo_its_removal() {
        let (mut checker, initial) = three();
        let reissue = reissued_and_committed(&mut checker, &initial);
        let without_three = reissue.removing(Term(2), NodeId(3)).unwrap();
        hold(&mut checker, 0, &without_three);
        hold(&mut checker, 2, &without_three);
        let grant = Output::Send {
            to: NodeId(2),
            msg: Message::VoteResponse {
                term: Term(3),
                granted: true,
            },
        };
        let ask = |checker: &mut Checker, membership: MembershipId| {
            let request = Message::Vote {
                term: Term(3),
                transfer: false,
                membership,
            };
            assert_eq!(checker.on_send(1, 1, NodeId(3), &request), Ok(()));
        };
        // n2 never asked n3.
        assert!(matches!(
            checker.on_output(2, 2, &grant),
            Err(Violation::NonVoterGrantedVote { asked_with, .. }) if asked_with.is_empty()
        ));
        // n2 asks with the configured membership, two changes back: the
        // removal of n3 was made on the re-issue, not on that one.
        ask(&mut checker, initial.id());
        assert!(matches!(
            checker.on_output(2, 2, &grant),
            Err(Violation::NonVoterGrantedVote {
                node: NodeId(3),
                pre_vote: false,
                ..
            })
        ));
        // With the membership the removal was made on: n2 may need n3's
        // vote to undo an uncommitted removal.
        ask(&mut checker, reissue.id());
        assert_eq!(checker.on_output(2, 2, &grant), Ok(()));
    }

    #[test]
    fn a_goose_that_is_not_a_voter_is_caught() {
        let (checker, initial) = three();
        let without_one = initial.removing(Term(2), NodeId(1)).unwrap();
        // Leading its own removal while it is pending is fine...
        assert_eq!(
            checker.on_goose(1, 0, Term(2), &without_one, Some(true)),
            Ok(())
        );
        // ...still leading once it committed is not.
        assert_eq!(
            checker.on_goose(2, 0, Term(2), &without_one, Some(false)),
            Err(Violation::GooseNotAVoter {
                at_us: 2,
                node: NodeId(1),
                term: Term(2),
                membership: without_one.id(),
            })
        );
        let learner = Membership::new([NodeId(2), NodeId(3)]).with_learners([NodeId(1)]);
        assert!(matches!(
            checker.on_goose(3, 0, Term(2), &learner, None),
            Err(Violation::GooseNotAVoter { .. })
        ));
    }

    #[test]
    fn a_duck_that_changes_the_membership_is_caught() {
        let (checker, _) = three();
        let add = SimCommand::AddNode(NodeId(4));
        assert_eq!(checker.on_membership_command(1, 0, add, true, true), Ok(()));
        // Refused, or accepted without a change: fine.
        assert_eq!(
            checker.on_membership_command(1, 1, add, false, false),
            Ok(())
        );
        // `leave` is for anyone.
        assert_eq!(
            checker.on_membership_command(1, 1, SimCommand::Leave, true, false),
            Ok(())
        );
        assert_eq!(
            checker
                .on_membership_command(2, 1, SimCommand::RemoveNode(NodeId(3)), true, false)
                .unwrap_err()
                .to_string(),
            "at 2us: n2 changed its membership with propose_remove(n3) while not the Goose"
        );
    }

    /// A stale node catching up from a peer's `NewerMembership` adopts an
    /// issued membership: it is not checked as one it issued (here two
    /// voters away from its own, and made on bases it never held), and the
    /// message binds its sender like a heartbeat does.
    #[test]
    fn a_membership_adopted_from_a_peer_is_not_issued_by_the_adopter() {
        let (mut checker, initial) = three();
        let reissue = reissued_and_committed(&mut checker, &initial);
        // n1 removes n3, adds n4 and promotes it, each change held by n1 and
        // n2 and committed; n3 hears of none of them.
        let mut base = reissue;
        let changes = [
            base.removing(Term(2), NodeId(3)).unwrap(),
            base.removing(Term(2), NodeId(3))
                .unwrap()
                .adding(Term(2), NodeId(4), "n4.sim:7000")
                .unwrap()
                .unwrap(),
        ];
        for change in changes {
            hold(&mut checker, 0, &change);
            hold(&mut checker, 1, &change);
            assert_eq!(checker.on_output(1, 0, &committed(change.id())), Ok(()));
            assert_eq!(checker.on_membership_event(1, 0, change.id(), true), Ok(()));
            base = change;
        }
        let promoted = base.promoting(Term(2), NodeId(4));
        hold(&mut checker, 0, &promoted);
        hold(&mut checker, 1, &promoted);
        assert_eq!(checker.on_output(1, 0, &committed(promoted.id())), Ok(()));
        assert_eq!(
            checker.on_membership_event(1, 0, promoted.id(), true),
            Ok(())
        );
        assert_eq!(changed_voters(&initial, &promoted).len(), 2);

        // n3 campaigns with the re-issue; n2 answers with what it holds.
        let answer = Message::NewerMembership {
            term: Term(2),
            membership: Box::new(promoted.clone()),
        };
        let sent = Output::Send {
            to: NodeId(3),
            msg: answer.clone(),
        };
        assert_eq!(checker.on_output(2, 1, &sent), Ok(()));
        assert_eq!(checker.on_send(2, 1, NodeId(3), &answer), Ok(()));
        // n3 adopts it (and finds itself removed).
        hold(&mut checker, 2, &promoted);
        assert_eq!(
            checker.on_output(
                3,
                2,
                &Output::Event(Event::MembershipChanged { id: promoted.id() })
            ),
            Ok(())
        );
        assert_eq!(
            checker.on_membership_event(3, 2, promoted.id(), false),
            Ok(())
        );

        // The answer showed what n2 holds: it may not restart behind it.
        checker.on_crash(1);
        assert_eq!(
            checker.on_restart(4, 1, hs(2, None), &initial),
            Err(Violation::ExposedMembershipLost {
                at_us: 4,
                node: NodeId(2),
                loaded: initial.id(),
                exposed: promoted.id(),
            })
        );
        // And it must carry the membership issued under its id.
        let forged = base.removing(Term(2), NodeId(4)).unwrap();
        assert_eq!(forged.id(), promoted.id());
        let sent = Output::Send {
            to: NodeId(3),
            msg: Message::NewerMembership {
                term: Term(2),
                membership: Box::new(forged),
            },
        };
        assert!(matches!(
            checker.on_output(5, 0, &sent),
            Err(Violation::MembershipIdReused {
                node: NodeId(1),
                ..
            })
        ));
    }
}
