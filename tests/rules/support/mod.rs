//! The harness every rules test shares: timing constants, nodes built in a
//! known state, the outputs and messages tests expect, and drivers for one
//! node (here) and for whole clusters (`cluster`).

use duckduckgoose::core::{
    Config, DropReason, Election, Event, HardState, Membership, MembershipId, Message, NodeId,
    Output, Role, RoleChangeReason, Term,
};

mod cluster;
mod membership;

pub use cluster::Cluster;
pub use membership::*;

/// The seed for single-node tests whose timing does not matter.
pub const SEED: u64 = 7;

/// Default timing from `Config::new`, repeated here so that tests read plainly.
pub const HEARTBEAT: u64 = 5;
pub const TIMEOUT_MIN: u64 = 30;
pub const TIMEOUT_MAX: u64 = 60;
/// The longest lease for min 30 and 5% drift: 30·0.95/1.05 = 27.14 → 27 → −2.
pub const LEASE: u64 = 25;
/// The tick at which the harness's nodes campaign: a node counts its start as
/// contact with a live Goose (rule 3), so `campaign()` is refused before it.
pub const CAMPAIGN_AT: u64 = TIMEOUT_MIN;
/// The tick at which `elect` (and so `goose`) wins: every response arrives
/// within the tick it campaigns, so its first heartbeat round, and the lease
/// start once a majority acknowledges it, are at this tick too.
pub const ELECTED_AT: u64 = CAMPAIGN_AT;

/// The id of the membership a cluster is configured with.
pub const CONFIGURED: MembershipId = MembershipId {
    term: Term(0),
    version: 0,
};

pub fn id(n: u64) -> NodeId {
    NodeId(n)
}

pub fn membership_id(term: u64, version: u64) -> MembershipId {
    MembershipId {
        term: Term(term),
        version,
    }
}

/// The id under which the Goose of `term`, elected from the configured
/// membership, re-issues it (each new Goose re-issues first).
pub fn reissued(term: u64) -> MembershipId {
    membership_id(term, 1)
}

/// Node `me` of a cluster of voters `1..=voters`, default timing.
pub fn config(me: u64, voters: u64) -> Config {
    Config::new(id(me), (1..=voters).map(NodeId))
}

pub fn build(config: Config, hard: HardState, seed: u64) -> Election {
    Election::new(config, hard, seed).expect("the tests' configs are valid")
}

/// A brand-new node `me` of `1..=voters`.
pub fn fresh(me: u64, voters: u64) -> Election {
    build(config(me, voters), HardState::default(), SEED)
}

pub fn hard(term: u64, voted_for: Option<u64>) -> HardState {
    HardState {
        term: Term(term),
        voted_for: voted_for.map(NodeId),
    }
}

/// Every output the last input produced, in order.
pub fn drain(node: &mut Election) -> Vec<Output> {
    std::iter::from_fn(|| node.poll_output()).collect()
}

/// Drops `MessageDropped { reason: Unexpected }` events. Used only by the
/// term-adoption tests, so that they check the adoption itself; whether a
/// response that moved the term may also be reported as dropped is pinned by
/// `rule7_a_higher_term_response_is_not_reported_as_dropped`.
pub fn without_unexpected_drops(outputs: Vec<Output>) -> Vec<Output> {
    outputs
        .into_iter()
        .filter(|output| {
            !matches!(
                output,
                Output::Event(Event::MessageDropped {
                    reason: DropReason::Unexpected,
                    ..
                })
            )
        })
        .collect()
}

// ----- outputs -----

pub fn send(to: u64, msg: Message) -> Output {
    Output::Send { to: id(to), msg }
}

pub fn persist(term: u64, voted_for: Option<u64>) -> Output {
    Output::Persist(hard(term, voted_for))
}

pub fn election_started(term: u64, pre_vote: bool) -> Output {
    Output::Event(Event::ElectionStarted {
        term: Term(term),
        pre_vote,
    })
}

pub fn leader_changed(leader: Option<u64>, term: u64) -> Output {
    Output::Event(Event::LeaderChanged {
        leader: leader.map(NodeId),
        term: Term(term),
    })
}

pub fn role_changed(role: Role, term: u64, reason: RoleChangeReason) -> Output {
    Output::Event(Event::RoleChanged {
        role,
        term: Term(term),
        reason,
    })
}

pub fn persist_membership(membership: &Membership) -> Output {
    Output::PersistMembership(Box::new(membership.clone()))
}

pub fn membership_changed(id: MembershipId) -> Output {
    Output::Event(Event::MembershipChanged { id })
}

pub fn membership_committed(id: MembershipId) -> Output {
    Output::Event(Event::MembershipCommitted { id })
}

pub fn dropped(from: u64, reason: DropReason) -> Output {
    Output::Event(Event::MessageDropped {
        from: id(from),
        reason,
    })
}

// ----- messages -----

/// A pre-vote from a candidate holding the configured membership.
pub fn pre_vote(term: u64) -> Message {
    pre_vote_holding(term, CONFIGURED)
}

pub fn pre_vote_holding(term: u64, membership: MembershipId) -> Message {
    Message::PreVote {
        term: Term(term),
        membership,
    }
}

pub fn pre_vote_response(term: u64, granted: bool) -> Message {
    Message::PreVoteResponse {
        term: Term(term),
        granted,
    }
}

/// A vote request from a candidate holding the configured membership.
pub fn vote(term: u64, transfer: bool) -> Message {
    vote_holding(term, transfer, CONFIGURED)
}

pub fn vote_holding(term: u64, transfer: bool, membership: MembershipId) -> Message {
    Message::Vote {
        term: Term(term),
        transfer,
        membership,
    }
}

pub fn vote_response(term: u64, granted: bool) -> Message {
    Message::VoteResponse {
        term: Term(term),
        granted,
    }
}

/// A heartbeat without a membership attached: the steady state, sent to a
/// peer that has acknowledged the Goose's membership.
pub fn heartbeat(term: u64, sent_tick: u64) -> Message {
    Message::Heartbeat {
        term: Term(term),
        sent_tick,
        membership: None,
    }
}

/// A heartbeat carrying `membership`, sent until the peer acknowledges it.
pub fn heartbeat_carrying(term: u64, sent_tick: u64, membership: &Membership) -> Message {
    Message::Heartbeat {
        term: Term(term),
        sent_tick,
        membership: Some(Box::new(membership.clone())),
    }
}

/// An ack from a node durably holding `membership`.
pub fn ack(term: u64, sent_tick: u64, membership: MembershipId) -> Message {
    Message::HeartbeatAck {
        term: Term(term),
        sent_tick,
        membership,
    }
}

pub fn timeout_now(term: u64) -> Message {
    Message::TimeoutNow { term: Term(term) }
}

pub fn newer_membership(term: u64, membership: &Membership) -> Message {
    Message::NewerMembership {
        term: Term(term),
        membership: Box::new(membership.clone()),
    }
}

pub fn leave(term: u64) -> Message {
    Message::Leave { term: Term(term) }
}

// ----- driving single nodes -----

pub fn is_election_started(output: &Output) -> bool {
    matches!(output, Output::Event(Event::ElectionStarted { .. }))
}

/// Ticks until a tick produces an `ElectionStarted`; returns how many ticks
/// that took and that tick's outputs.
pub fn ticks_until_election(node: &mut Election) -> (u64, Vec<Output>) {
    for ticks in 1..=10_000 {
        node.tick();
        let outputs = drain(node);
        if outputs.iter().any(is_election_started) {
            return (ticks, outputs);
        }
    }
    panic!("no election within 10 000 ticks");
}

/// The tick at which a node built from `config` and `seed` first times out.
pub fn first_timeout_tick(config: &Config, seed: u64) -> u64 {
    ticks_until_election(&mut build(config.clone(), HardState::default(), seed)).0
}

/// The first seed under which a node built from `config` and `hard`, after
/// `setup`, starts no election up to and including tick `quiet_through_tick`.
/// Tests that need "tick N without the node timing out" use it, so that they
/// do not depend on what one particular seed draws.
pub fn quiet_seed(
    config: &Config,
    hard: HardState,
    quiet_through_tick: u64,
    setup: impl Fn(&mut Election),
) -> u64 {
    (0..1_000)
        .find(|seed| {
            let mut node = build(config.clone(), hard, *seed);
            setup(&mut node);
            let mut quiet = !drain(&mut node).iter().any(is_election_started);
            while quiet && node.now_tick() < quiet_through_tick {
                node.tick();
                quiet = !drain(&mut node).iter().any(is_election_started);
            }
            quiet
        })
        .expect("some seed draws a timeout above the minimum")
}

/// A node built from `config` and restarted from `hard`, ticked to exactly
/// `election_timeout_min` (`CAMPAIGN_AT`) without timing out: no longer
/// sticky from its start, so it may vote and `campaign()`, and still a plain
/// follower with no known Goose.
pub fn unsticky(config: Config, hard: HardState) -> Election {
    let seed = quiet_seed(&config, hard, CAMPAIGN_AT, |_| {});
    let mut node = build(config, hard, seed);
    for _ in 0..CAMPAIGN_AT {
        node.tick();
    }
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.now_tick(), CAMPAIGN_AT);
    node
}

/// Node `me` of `1..=voters` restarted from `hard` and made `unsticky`.
pub fn unsticky_voter(me: u64, voters: u64, hard: HardState) -> Election {
    unsticky(config(me, voters), hard)
}

/// Node `me` of `1..=voters` following Goose `leader` of `term`, having just
/// acknowledged its heartbeat (so it is sticky).
pub fn follower(me: u64, voters: u64, leader: u64, term: u64) -> Election {
    let mut node = fresh(me, voters);
    node.handle_message(id(leader), heartbeat(term, 0));
    drain(&mut node);
    assert_eq!(node.leader(), Some(id(leader)));
    node
}

/// Node 1 of `1..=voters` in a pre-vote round for term 1, started at
/// `CAMPAIGN_AT`.
pub fn pre_candidate(voters: u64) -> Election {
    let mut node = unsticky_voter(1, voters, HardState::default());
    node.campaign().expect("an unsticky follower may campaign");
    drain(&mut node);
    node
}

/// Node 1 of `1..=voters`, a candidate in term 1 since `CAMPAIGN_AT` (it
/// won the pre-vote).
pub fn candidate(voters: u64) -> Election {
    let mut node = pre_candidate(voters);
    let quorum = node.config().membership.quorum() as u64;
    for peer in 2..=quorum {
        node.handle_message(id(peer), pre_vote_response(1, true));
    }
    drain(&mut node);
    assert_eq!(node.term(), Term(1));
    node
}

/// Drives `node` to Goose: campaigns and feeds it pre-votes, votes and acks
/// of its first heartbeat round from the lowest-numbered peers of a majority.
/// The node must be past its stickiness (build it with `unsticky`); it wins
/// within the tick it is at.
pub fn elect(node: &mut Election) {
    let quorum = node.config().membership.quorum();
    let me = node.id();
    let peers: Vec<NodeId> = node
        .config()
        .membership
        .voters()
        .filter(|voter| *voter != me)
        .take(quorum - 1)
        .collect();
    let campaign_term = node.term().next();
    node.campaign()
        .expect("not leading yet, and no longer sticky");
    if node.config().pre_vote {
        for peer in &peers {
            node.handle_message(
                *peer,
                Message::PreVoteResponse {
                    term: campaign_term,
                    granted: true,
                },
            );
        }
    }
    for peer in &peers {
        node.handle_message(
            *peer,
            Message::VoteResponse {
                term: campaign_term,
                granted: true,
            },
        );
    }
    // The peers ack the bare first round, which gives the lease; the Goose
    // then re-issues its membership under its term in the same round sent
    // again, and the peers ack holding it, which commits it.
    let sent_tick = node.now_tick();
    let configured = node.membership().id();
    for peer in &peers {
        node.handle_message(
            *peer,
            Message::HeartbeatAck {
                term: campaign_term,
                sent_tick,
                membership: configured,
            },
        );
    }
    let membership = node.membership().id();
    assert_eq!(membership.term, campaign_term);
    for peer in &peers {
        node.handle_message(
            *peer,
            Message::HeartbeatAck {
                term: campaign_term,
                sent_tick,
                membership,
            },
        );
    }
    drain(node);
    assert_eq!(node.role(), Role::Goose);
    assert_eq!(node.membership_pending(), Some(false));
}

/// Node `me` of `1..=voters`, Goose of term 1 elected at `ELECTED_AT`: its
/// lease runs from `ELECTED_AT`, and the membership it re-issued
/// (`reissued(1)`) is committed, acked by the lowest-numbered peers of a
/// majority; the other peers still get it attached to their heartbeats.
pub fn goose(me: u64, voters: u64) -> Election {
    let mut node = unsticky_voter(me, voters, HardState::default());
    elect(&mut node);
    node
}

/// Node `me` of voters `1..=3` and learner 4.
pub fn with_learner(me: u64) -> Config {
    let mut config = config(me, 3);
    config.membership = Membership::new((1..=3).map(NodeId)).with_learners([id(4)]);
    config
}

/// `outputs` are membership probes to each of `voters` in turn, at least
/// one round of them, and nothing else.
pub fn assert_only_membership_probes(outputs: &[Output], voters: &[u64]) {
    assert!(!outputs.is_empty(), "no probe at all");
    for (index, output) in outputs.iter().enumerate() {
        let to = voters[index % voters.len()];
        assert!(
            matches!(
                output,
                Output::Send { to: dest, msg: Message::MembershipProbe { .. } } if *dest == id(to)
            ),
            "expected a probe to {to}, got {output:?}"
        );
    }
}
