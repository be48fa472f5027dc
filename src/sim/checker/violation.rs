//! The catalogue of broken promises the checkers report.
//!
//! One enum for every invariant family (and for the engine's own garbage and
//! liveness judgements), so that a failing run names its violation the same
//! way whichever checker found it.

use std::fmt;

use thiserror::Error;

use crate::core::{HardState, Membership, MembershipId, NodeId, Term};
use crate::sim::trace::{DisplayHardState, DisplayVote, SimCommand};

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
        asked_with: Box<[MembershipId]>,
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
        changed: Box<[NodeId]>,
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
    /// A promise of an invariant added with
    /// [`Simulation::with_invariant`](crate::sim::Simulation::with_invariant)
    /// was broken: the simulator cannot know its shape, so the invariant
    /// describes it. Build it with [`Violation::custom`].
    #[error("at {at_us}us: {detail}")]
    Custom {
        /// When it was seen.
        at_us: u64,
        /// What broke, as the invariant says it (shown after the time).
        detail: String,
    },
}

impl Violation {
    /// The violation a user's [`Invariant`](crate::sim::Invariant) returns:
    /// the virtual time it was seen at (the hook's `at_us`) and what broke.
    pub fn custom(at_us: u64, detail: impl Into<String>) -> Self {
        Violation::Custom {
            at_us,
            detail: detail.into(),
        }
    }
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
