//! One test per protocol rule: DESIGN §3 (rules 1 to 9, the persist barrier,
//! determinism) and the sentences of Raft §5.2, thesis §9.6 (pre-vote),
//! §4.2.3 (disruptive servers), §3.10 (leadership transfer) and §6.2/§6.4
//! (check-quorum, leases) that apply to an election without a log.
//!
//! Every test has the shape of openraft's engine tests: **init** (build one or
//! more `Election`s in a known state), **act** (one input), **check** (the
//! exact sequence of outputs that input produced, drained until `None`, and
//! the resulting status).

use std::collections::{BTreeMap, BTreeSet};

use duckduckgoose::core::{
    CommandError, Config, ConfigError, DropReason, Election, Event, HardState, Membership,
    MembershipError, MembershipId, Message, NodeId, Output, Role, RoleChangeReason, Term,
};
use duckduckgoose::sim::LockStep;

// ===== harness ===============================================================

/// The seed for single-node tests whose timing does not matter.
const SEED: u64 = 7;

/// Default timing from `Config::new`, repeated here so that tests read plainly.
const HEARTBEAT: u64 = 5;
const TIMEOUT_MIN: u64 = 30;
const TIMEOUT_MAX: u64 = 60;
/// The longest lease for min 30 and 5% drift: 30·0.95/1.05 = 27.14 → 27 → −2.
const LEASE: u64 = 25;
/// The tick at which the harness's nodes campaign: a node counts its start as
/// contact with a live Goose (rule 3), so `campaign()` is refused before it.
const CAMPAIGN_AT: u64 = TIMEOUT_MIN;
/// The tick at which `elect` (and so `goose`) wins: every response arrives
/// within the tick it campaigns, so its first heartbeat round, and the lease
/// start once a majority acknowledges it, are at this tick too.
const ELECTED_AT: u64 = CAMPAIGN_AT;

/// The id of the membership a cluster is configured with.
const CONFIGURED: MembershipId = MembershipId {
    term: Term(0),
    version: 0,
};

fn id(n: u64) -> NodeId {
    NodeId(n)
}

fn membership_id(term: u64, version: u64) -> MembershipId {
    MembershipId {
        term: Term(term),
        version,
    }
}

/// The id under which the Goose of `term`, elected from the configured
/// membership, re-issues it (DESIGN: each new Goose re-issues first).
fn reissued(term: u64) -> MembershipId {
    membership_id(term, 1)
}

/// Node `me` of a cluster of voters `1..=voters`, default timing.
fn config(me: u64, voters: u64) -> Config {
    Config::new(id(me), (1..=voters).map(NodeId))
}

fn build(config: Config, hard: HardState, seed: u64) -> Election {
    Election::new(config, hard, seed).expect("the tests' configs are valid")
}

/// A brand-new node `me` of `1..=voters`.
fn fresh(me: u64, voters: u64) -> Election {
    build(config(me, voters), HardState::default(), SEED)
}

fn hard(term: u64, voted_for: Option<u64>) -> HardState {
    HardState {
        term: Term(term),
        voted_for: voted_for.map(NodeId),
    }
}

/// Every output the last input produced, in order.
fn drain(node: &mut Election) -> Vec<Output> {
    std::iter::from_fn(|| node.poll_output()).collect()
}

/// Drops `MessageDropped { reason: Unexpected }` events. Used only by the
/// term-adoption tests, so that they check the adoption itself; whether a
/// response that moved the term may also be reported as dropped is pinned by
/// `rule7_a_higher_term_response_is_not_reported_as_dropped`.
fn without_unexpected_drops(outputs: Vec<Output>) -> Vec<Output> {
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

fn send(to: u64, msg: Message) -> Output {
    Output::Send { to: id(to), msg }
}

fn persist(term: u64, voted_for: Option<u64>) -> Output {
    Output::Persist(hard(term, voted_for))
}

fn election_started(term: u64, pre_vote: bool) -> Output {
    Output::Event(Event::ElectionStarted {
        term: Term(term),
        pre_vote,
    })
}

fn leader_changed(leader: Option<u64>, term: u64) -> Output {
    Output::Event(Event::LeaderChanged {
        leader: leader.map(NodeId),
        term: Term(term),
    })
}

fn role_changed(role: Role, term: u64, reason: RoleChangeReason) -> Output {
    Output::Event(Event::RoleChanged {
        role,
        term: Term(term),
        reason,
    })
}

fn persist_membership(membership: &Membership) -> Output {
    Output::PersistMembership(Box::new(membership.clone()))
}

fn membership_changed(id: MembershipId) -> Output {
    Output::Event(Event::MembershipChanged { id })
}

fn membership_committed(id: MembershipId) -> Output {
    Output::Event(Event::MembershipCommitted { id })
}

fn dropped(from: u64, reason: DropReason) -> Output {
    Output::Event(Event::MessageDropped {
        from: id(from),
        reason,
    })
}

// ----- messages -----

/// A pre-vote from a candidate holding the configured membership.
fn pre_vote(term: u64) -> Message {
    pre_vote_holding(term, CONFIGURED)
}

fn pre_vote_holding(term: u64, membership: MembershipId) -> Message {
    Message::PreVote {
        term: Term(term),
        membership,
    }
}

fn pre_vote_response(term: u64, granted: bool) -> Message {
    Message::PreVoteResponse {
        term: Term(term),
        granted,
    }
}

/// A vote request from a candidate holding the configured membership.
fn vote(term: u64, transfer: bool) -> Message {
    vote_holding(term, transfer, CONFIGURED)
}

fn vote_holding(term: u64, transfer: bool, membership: MembershipId) -> Message {
    Message::Vote {
        term: Term(term),
        transfer,
        membership,
    }
}

fn vote_response(term: u64, granted: bool) -> Message {
    Message::VoteResponse {
        term: Term(term),
        granted,
    }
}

/// A heartbeat without a membership attached: the steady state, sent to a
/// peer that has acknowledged the Goose's membership.
fn heartbeat(term: u64, sent_tick: u64) -> Message {
    Message::Heartbeat {
        term: Term(term),
        sent_tick,
        membership: None,
    }
}

/// A heartbeat carrying `membership`, sent until the peer acknowledges it.
fn heartbeat_carrying(term: u64, sent_tick: u64, membership: &Membership) -> Message {
    Message::Heartbeat {
        term: Term(term),
        sent_tick,
        membership: Some(Box::new(membership.clone())),
    }
}

/// An ack from a node durably holding `membership`.
fn ack(term: u64, sent_tick: u64, membership: MembershipId) -> Message {
    Message::HeartbeatAck {
        term: Term(term),
        sent_tick,
        membership,
    }
}

fn timeout_now(term: u64) -> Message {
    Message::TimeoutNow { term: Term(term) }
}

fn newer_membership(term: u64, membership: &Membership) -> Message {
    Message::NewerMembership {
        term: Term(term),
        membership: Box::new(membership.clone()),
    }
}

fn leave(term: u64) -> Message {
    Message::Leave { term: Term(term) }
}

// ----- driving single nodes -----

fn is_election_started(output: &Output) -> bool {
    matches!(output, Output::Event(Event::ElectionStarted { .. }))
}

/// Ticks until a tick produces an `ElectionStarted`; returns how many ticks
/// that took and that tick's outputs.
fn ticks_until_election(node: &mut Election) -> (u64, Vec<Output>) {
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
fn first_timeout_tick(config: &Config, seed: u64) -> u64 {
    ticks_until_election(&mut build(config.clone(), HardState::default(), seed)).0
}

/// The first seed under which a node built from `config` and `hard`, after
/// `setup`, starts no election up to and including tick `quiet_through_tick`.
/// Tests that need "tick N without the node timing out" use it, so that they
/// do not depend on what one particular seed draws.
fn quiet_seed(
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
fn unsticky(config: Config, hard: HardState) -> Election {
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
fn unsticky_voter(me: u64, voters: u64, hard: HardState) -> Election {
    unsticky(config(me, voters), hard)
}

/// Node `me` of `1..=voters` following Goose `leader` of `term`, having just
/// acknowledged its heartbeat (so it is sticky).
fn follower(me: u64, voters: u64, leader: u64, term: u64) -> Election {
    let mut node = fresh(me, voters);
    node.handle_message(id(leader), heartbeat(term, 0));
    drain(&mut node);
    assert_eq!(node.leader(), Some(id(leader)));
    node
}

/// Node 1 of `1..=voters` in a pre-vote round for term 1, started at
/// `CAMPAIGN_AT`.
fn pre_candidate(voters: u64) -> Election {
    let mut node = unsticky_voter(1, voters, HardState::default());
    node.campaign().expect("an unsticky follower may campaign");
    drain(&mut node);
    node
}

/// Node 1 of `1..=voters`, a candidate in term 1 since `CAMPAIGN_AT` (it
/// won the pre-vote).
fn candidate(voters: u64) -> Election {
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
fn elect(node: &mut Election) {
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
fn goose(me: u64, voters: u64) -> Election {
    let mut node = unsticky_voter(me, voters, HardState::default());
    elect(&mut node);
    node
}

// ----- driving whole clusters -----

/// Nodes ticked in lockstep with instant delivery, for the few rules that
/// are about more than one node: `sim::LockStep`, which checks the persist
/// barrier on every node's outputs and logs them, plus a check, after every
/// delivery round, that at most one node is Goose.
struct Cluster {
    net: LockStep,
    /// The Goose seen in each term.
    geese_by_term: BTreeMap<Term, NodeId>,
}

impl Cluster {
    fn new(voters: u64, seed: u64) -> Self {
        let nodes = (1..=voters)
            .map(|me| build(config(me, voters), HardState::default(), seed * 1_000 + me));
        Cluster {
            net: LockStep::new(nodes).expect("distinct ids"),
            geese_by_term: BTreeMap::new(),
        }
    }

    fn node(&mut self, node: u64) -> &mut Election {
        self.net.node_mut(id(node)).expect("a member")
    }

    /// Node `node`, to look at.
    fn get(&self, node: NodeId) -> &Election {
        self.net.node(node).expect("a member")
    }

    fn geese(&self) -> Vec<NodeId> {
        self.net.geese().collect()
    }

    /// Delivers everything in flight until the cluster is quiet.
    fn pump(&mut self) {
        loop {
            self.net
                .drain_outputs()
                .unwrap_or_else(|breach| panic!("{breach}"));
            self.check_geese();
            if self.net.deliver_due() == 0 {
                return;
            }
        }
    }

    /// One tick on every node, then delivery.
    fn tick(&mut self) {
        self.net.tick_only();
        self.pump();
    }

    /// Adds a node started later (a joiner), with its starting membership
    /// already durable, as its host would have stored it.
    fn join(&mut self, node: Election) {
        self.net.add(node).expect("a new id");
    }

    /// Ticks until `done` holds, checking every invariant on the way.
    fn run_until(&mut self, limit_ticks: u64, done: impl Fn(&Cluster) -> bool) {
        for _ in 0..limit_ticks {
            self.tick();
            if done(self) {
                return;
            }
        }
        panic!("not done within {limit_ticks} ticks");
    }

    /// Ticks until some node is Goose; returns it.
    fn run_until_goose(&mut self, limit_ticks: u64) -> NodeId {
        for _ in 0..limit_ticks {
            self.tick();
            if let [goose] = self.geese()[..] {
                return goose;
            }
        }
        panic!("no Goose within {limit_ticks} ticks");
    }

    /// DESIGN promises 1 and 2 as seen in lockstep: at most one Goose at any
    /// instant, at most one per term.
    fn check_geese(&mut self) {
        let geese = self.geese();
        assert!(
            geese.len() <= 1,
            "two Geese at tick {}: {geese:?}",
            self.net.now_tick()
        );
        for goose in geese {
            let term = self.get(goose).term();
            let first = *self.geese_by_term.entry(term).or_insert(goose);
            assert_eq!(first, goose, "two Geese in term {term}");
        }
    }
}

// ===== rule 1: a Duck that hears no Goose times out ==========================

#[test]
fn rule1_timeout_starts_a_pre_vote() {
    let mut node = fresh(1, 3);

    let (ticks, outputs) = ticks_until_election(&mut node);

    assert!((TIMEOUT_MIN..TIMEOUT_MAX).contains(&ticks), "{ticks}");
    assert_eq!(
        outputs,
        vec![
            election_started(1, true),
            send(2, pre_vote(1)),
            send(3, pre_vote(1)),
        ]
    );
    assert_eq!(node.role(), Role::Duck);
    assert_eq!(node.counters().pre_votes_started, 1);
    assert_eq!(node.counters().elections_started, 0);
}

#[test]
fn rule2_pre_vote_leaves_the_term_alone() {
    let mut node = build(config(1, 3), hard(4, Some(3)), SEED);

    let (_, outputs) = ticks_until_election(&mut node);

    assert!(!outputs.iter().any(|o| matches!(o, Output::Persist(_))));
    assert_eq!(
        outputs,
        vec![
            election_started(5, true),
            send(2, pre_vote(5)),
            send(3, pre_vote(5)),
        ]
    );
    assert_eq!(node.hard_state(), hard(4, Some(3)));
}

#[test]
fn rule1_pre_votes_go_to_each_peer_in_id_order() {
    // Voters given out of order; messages still leave in ascending id order.
    let config = Config::new(id(3), [5, 1, 4, 3, 2].map(NodeId));
    let mut node = unsticky(config, HardState::default());

    node.campaign().unwrap();

    assert_eq!(
        drain(&mut node),
        vec![
            election_started(1, true),
            send(1, pre_vote(1)),
            send(2, pre_vote(1)),
            send(4, pre_vote(1)),
            send(5, pre_vote(1)),
        ]
    );
}

#[test]
fn rule1_without_pre_vote_timeout_starts_a_real_election_persisting_first() {
    let mut config = config(1, 3);
    config.pre_vote = false;
    let mut node = build(config, HardState::default(), SEED);

    let (_, outputs) = ticks_until_election(&mut node);

    assert_eq!(
        outputs,
        vec![
            persist(1, Some(1)),
            election_started(1, false),
            send(2, vote(1, false)),
            send(3, vote(1, false)),
        ]
    );
    assert_eq!(node.hard_state(), hard(1, Some(1)));
    assert_eq!(node.counters().elections_started, 1);
}

#[test]
fn rule1_randomized_timeouts_cover_the_whole_range_at_every_reset() {
    // Many resets of one node: a pre-vote round nobody answers times out and
    // starts the next one, each with a fresh draw.
    let mut node = fresh(1, 3);
    let mut seen_after_reset = BTreeSet::new();
    for _ in 0..2_000 {
        seen_after_reset.insert(ticks_until_election(&mut node).0);
    }
    // Many seeds: the first draw of a freshly built node.
    let config = config(1, 3);
    let seen_first: BTreeSet<u64> = (0..2_000)
        .map(|seed| first_timeout_tick(&config, seed))
        .collect();

    let whole_range: BTreeSet<u64> = (TIMEOUT_MIN..TIMEOUT_MAX).collect();
    assert_eq!(seen_after_reset, whole_range);
    assert_eq!(seen_first, whole_range);
}

#[test]
fn rule1_five_nodes_started_together_rarely_time_out_on_the_same_tick() {
    const ROUNDS: u64 = 1_000;
    let mut first_tied = 0;
    let mut any_tied = 0;
    for round in 0..ROUNDS {
        let ticks: Vec<u64> = (1..=5)
            .map(|me| first_timeout_tick(&config(me, 5), round * 16 + me))
            .collect();
        let earliest = *ticks.iter().min().expect("five nodes");
        if ticks.iter().filter(|t| **t == earliest).count() > 1 {
            first_tied += 1;
        }
        if ticks.iter().collect::<BTreeSet<_>>().len() < ticks.len() {
            any_tied += 1;
        }
    }
    let first_tied_fraction = first_tied as f64 / ROUNDS as f64;
    let any_tied_fraction = any_tied as f64 / ROUNDS as f64;
    println!(
        "5 nodes, {ROUNDS} rounds: the first timeout is shared in {first_tied_fraction:.3} \
         of rounds; some two nodes share a timeout tick in {any_tied_fraction:.3}"
    );
    // A split vote needs the *first* timeouts to coincide. (That *some* two
    // of five share a tick is ≈ 1 − 30·29·28·27·26/30⁵ ≈ 0.296 with a
    // 30-tick range by arithmetic alone, so it is printed, not asserted.)
    assert!(first_tied_fraction <= 0.3, "{first_tied_fraction}");
}

// ===== rule 2: pre-vote =======================================================

#[test]
fn rule2_pre_vote_majority_makes_a_candidate_that_persists_then_requests_votes() {
    let mut node = pre_candidate(3);

    node.handle_message(id(2), pre_vote_response(1, true));

    assert_eq!(
        drain(&mut node),
        vec![
            persist(1, Some(1)),
            election_started(1, false),
            send(2, vote(1, false)),
            send(3, vote(1, false)),
        ]
    );
    assert_eq!(node.hard_state(), hard(1, Some(1)));
    assert_eq!(node.role(), Role::Duck);
    assert_eq!(node.counters().elections_started, 1);
}

#[test]
fn rule2_pre_vote_minority_does_not_make_a_candidate() {
    let mut node = pre_candidate(5);

    node.handle_message(id(2), pre_vote_response(1, true));

    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.hard_state(), HardState::default());
}

#[test]
fn rule2_pre_vote_refused_by_a_majority_ends_the_round_without_changing_the_term() {
    let mut node = pre_candidate(3);
    node.handle_message(id(2), pre_vote_response(0, false));
    assert_eq!(drain(&mut node), vec![]);

    node.handle_message(id(3), pre_vote_response(0, false));
    assert_eq!(drain(&mut node), vec![]);

    // The round is over: a late grant means nothing.
    node.handle_message(id(2), pre_vote_response(1, true));
    assert_eq!(drain(&mut node), vec![dropped(2, DropReason::Unexpected)]);
    assert_eq!(node.hard_state(), HardState::default());
    assert_eq!(node.counters().elections_started, 0);
}

#[test]
fn rule2_a_pre_vote_grant_for_another_round_is_dropped() {
    let mut node = pre_candidate(3);

    // Echoes term 2, but this round asks for term 1.
    node.handle_message(id(2), pre_vote_response(2, true));

    assert_eq!(drain(&mut node), vec![dropped(2, DropReason::StaleTerm)]);
    assert_eq!(node.hard_state(), HardState::default());
}

#[test]
fn rule2_voter_grants_a_pre_vote_without_changing_its_term_or_vote() {
    let mut node = unsticky_voter(2, 3, hard(3, None));

    node.handle_message(id(1), pre_vote(4));

    assert_eq!(drain(&mut node), vec![send(1, pre_vote_response(4, true))]);
    assert_eq!(node.hard_state(), hard(3, None));
}

#[test]
fn rule2_voter_refuses_a_pre_vote_it_would_not_vote_for() {
    // Voted for 3 in term 4: it would refuse 1's vote for term 4.
    let mut node = unsticky_voter(2, 3, hard(4, Some(3)));

    node.handle_message(id(1), pre_vote(4));

    assert_eq!(drain(&mut node), vec![send(1, pre_vote_response(4, false))]);
    assert_eq!(node.hard_state(), hard(4, Some(3)));
}

// ===== rule 3: voting, stickiness =============================================

#[test]
fn rule3_voter_persists_its_vote_before_sending_it() {
    let mut node = unsticky_voter(2, 3, HardState::default());

    node.handle_message(id(1), vote(1, false));

    assert_eq!(
        drain(&mut node),
        vec![persist(1, Some(1)), send(1, vote_response(1, true))]
    );
    let status = node.status();
    assert_eq!((status.term, status.voted_for), (Term(1), Some(id(1))));
    assert_eq!(status.role, Role::Duck);
}

#[test]
fn rule3_voter_refuses_a_second_candidate_in_the_same_term() {
    let mut node = unsticky_voter(2, 3, HardState::default());
    node.handle_message(id(1), vote(1, false));
    drain(&mut node);

    node.handle_message(id(3), vote(1, false));

    assert_eq!(drain(&mut node), vec![send(3, vote_response(1, false))]);
    assert_eq!(node.hard_state(), hard(1, Some(1)));
}

#[test]
fn rule3_voter_grants_the_same_candidate_again() {
    let mut node = unsticky_voter(2, 3, HardState::default());
    node.handle_message(id(1), vote(1, false));
    drain(&mut node);

    // A retransmitted request (the response was lost).
    node.handle_message(id(1), vote(1, false));

    // Persisting the unchanged vote again is redundant but harmless.
    assert_eq!(
        drain(&mut node),
        vec![persist(1, Some(1)), send(1, vote_response(1, true))]
    );
    assert_eq!(node.hard_state(), hard(1, Some(1)));
}

#[test]
fn rule3_a_vote_is_remembered_across_a_restart() {
    // Restarted from disk after voting for 2 in term 5.
    let mut node = unsticky_voter(1, 3, hard(5, Some(2)));

    node.handle_message(id(3), vote(5, false));
    assert_eq!(drain(&mut node), vec![send(3, vote_response(5, false))]);

    node.handle_message(id(2), vote(5, false));
    assert_eq!(
        drain(&mut node),
        vec![persist(5, Some(2)), send(2, vote_response(5, true))]
    );
}

#[test]
fn rule3_voter_grants_a_higher_term_even_after_voting_in_its_own() {
    let mut node = unsticky_voter(1, 3, hard(5, Some(2)));

    node.handle_message(id(3), vote(6, false));

    assert_eq!(
        drain(&mut node),
        vec![persist(6, Some(3)), send(3, vote_response(6, true))]
    );
}

#[test]
fn rule3_sticky_node_refuses_a_vote_and_does_not_adopt_the_term() {
    let mut node = follower(2, 3, 1, 1);
    let before = node.status();

    node.handle_message(id(3), vote(2, false));

    assert_eq!(drain(&mut node), vec![send(3, vote_response(1, false))]);
    assert_eq!(node.status(), before);
    assert_eq!(node.hard_state(), hard(1, None));
}

#[test]
fn rule3_sticky_node_refuses_a_pre_vote_and_does_not_adopt_the_term() {
    let mut node = follower(2, 3, 1, 1);
    let before = node.status();

    node.handle_message(id(3), pre_vote(2));

    assert_eq!(drain(&mut node), vec![send(3, pre_vote_response(1, false))]);
    assert_eq!(node.status(), before);
}

#[test]
fn rule3_stickiness_lasts_election_timeout_min_after_the_last_heartbeat() {
    // Heartbeat at tick 10; sticky through tick 39, free at tick 40.
    let config = config(2, 3);
    let contact_tick = 10;
    let setup = |node: &mut Election| {
        for _ in 0..contact_tick {
            node.tick();
        }
        node.handle_message(id(1), heartbeat(1, 0));
    };
    let seed = quiet_seed(
        &config,
        HardState::default(),
        contact_tick + TIMEOUT_MIN,
        setup,
    );
    let mut node = build(config, HardState::default(), seed);
    setup(&mut node);
    drain(&mut node);
    for _ in 0..TIMEOUT_MIN - 1 {
        node.tick();
    }
    assert_eq!(drain(&mut node), vec![]);

    node.handle_message(id(3), vote(2, false));
    assert_eq!(drain(&mut node), vec![send(3, vote_response(1, false))]);

    node.tick();
    assert_eq!(node.now_tick(), contact_tick + TIMEOUT_MIN);
    assert_eq!(drain(&mut node), vec![]);
    node.handle_message(id(3), vote(2, false));
    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(None, 2),
            persist(2, Some(3)),
            send(3, vote_response(2, true)),
        ]
    );
}

#[test]
fn rule3_fresh_node_refuses_votes_until_election_timeout_min_has_passed() {
    let config = config(2, 3);
    let seed = quiet_seed(&config, HardState::default(), TIMEOUT_MIN, |_| {});
    let mut node = build(config, HardState::default(), seed);
    for _ in 0..TIMEOUT_MIN - 1 {
        node.tick();
    }
    drain(&mut node);

    node.handle_message(id(1), vote(1, false));
    assert_eq!(drain(&mut node), vec![send(1, vote_response(0, false))]);
    node.handle_message(id(1), pre_vote(1));
    assert_eq!(drain(&mut node), vec![send(1, pre_vote_response(0, false))]);
    assert_eq!(node.hard_state(), HardState::default());

    node.tick();
    assert_eq!(drain(&mut node), vec![]);
    node.handle_message(id(1), pre_vote(1));
    assert_eq!(drain(&mut node), vec![send(1, pre_vote_response(1, true))]);
    node.handle_message(id(1), vote(1, false));
    assert_eq!(
        drain(&mut node),
        vec![persist(1, Some(1)), send(1, vote_response(1, true))]
    );
}

/// `campaign()` on a sticky node: refused with `Sticky`, and nothing about the
/// node changes (no output, no new term or vote, no timer reset, no counter).
fn assert_campaign_refused(node: &mut Election) {
    let before = format!("{node:?}");
    let status = node.status();
    let hard_state = node.hard_state();

    assert_eq!(node.campaign(), Err(CommandError::Sticky));

    // The whole state, election deadline and output queue included.
    assert_eq!(format!("{node:?}"), before);
    assert_eq!(drain(node), vec![]);
    assert_eq!(node.status(), status);
    assert_eq!(node.hard_state(), hard_state);
}

// A sticky node that campaigned would vote for itself while the Goose it
// heard may still hold its lease; with one more non-sticky voter that elects
// a second Goose (found by the simulator).
#[test]
fn rule3_campaign_is_refused_while_sticky() {
    // A fresh node: its start counts as contact with a live Goose.
    let fresh_config = config(1, 3);
    let seed = quiet_seed(&fresh_config, HardState::default(), TIMEOUT_MIN, |_| {});
    let mut node = build(fresh_config, HardState::default(), seed);
    for _ in 0..TIMEOUT_MIN {
        assert_campaign_refused(&mut node);
        node.tick();
        assert_eq!(drain(&mut node), vec![]);
    }
    assert_eq!(node.now_tick(), TIMEOUT_MIN);
    assert_eq!(node.campaign(), Ok(()));
    assert_eq!(
        drain(&mut node),
        vec![
            election_started(1, true),
            send(2, pre_vote(1)),
            send(3, pre_vote(1)),
        ]
    );

    // A follower that just heard a heartbeat, well after its start
    // stickiness ended: the heartbeat alone makes it sticky again.
    let follower_config = config(2, 3);
    let contact_tick = CAMPAIGN_AT;
    let setup = |node: &mut Election| {
        for _ in 0..contact_tick {
            node.tick();
        }
        node.handle_message(id(1), heartbeat(1, 0));
    };
    let seed = quiet_seed(
        &follower_config,
        HardState::default(),
        contact_tick + TIMEOUT_MIN,
        setup,
    );
    let mut node = build(follower_config, HardState::default(), seed);
    setup(&mut node);
    drain(&mut node);
    assert_eq!(node.leader(), Some(id(1)));
    for _ in 0..TIMEOUT_MIN {
        assert_campaign_refused(&mut node);
        node.tick();
        assert_eq!(drain(&mut node), vec![]);
    }
    assert_eq!(node.now_tick(), contact_tick + TIMEOUT_MIN);
    assert_eq!(node.campaign(), Ok(()));
    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(None, 1),
            election_started(2, true),
            send(1, pre_vote(2)),
            send(3, pre_vote(2)),
        ]
    );
}

// A node restarted from disk may have acknowledged a Goose just before it
// crashed, and that Goose's lease may still run. Without pre-vote a campaign
// would persist a vote for itself in a new term at once: the refusal must
// come before anything is written.
#[test]
fn rule3_a_restarted_node_cannot_campaign_within_its_start_stickiness() {
    for pre_vote_on in [true, false] {
        // Voted for 2 in term 5, then crashed and restarted.
        let mut restarted_config = config(1, 3);
        restarted_config.pre_vote = pre_vote_on;
        let restarted_from = hard(5, Some(2));
        let seed = quiet_seed(&restarted_config, restarted_from, TIMEOUT_MIN, |_| {});
        let mut node = build(restarted_config, restarted_from, seed);

        for _ in 0..TIMEOUT_MIN {
            assert_campaign_refused(&mut node);
            node.tick();
            assert_eq!(drain(&mut node), vec![], "pre_vote {pre_vote_on}");
        }
        assert_eq!(node.hard_state(), restarted_from);
        assert_eq!(node.counters().pre_votes_started, 0);
        assert_eq!(node.counters().elections_started, 0);

        assert_eq!(node.now_tick(), TIMEOUT_MIN);
        assert_eq!(node.campaign(), Ok(()));
        let expected = if pre_vote_on {
            vec![
                election_started(6, true),
                send(2, pre_vote(6)),
                send(3, pre_vote(6)),
            ]
        } else {
            vec![
                persist(6, Some(1)),
                election_started(6, false),
                send(2, vote(6, false)),
                send(3, vote(6, false)),
            ]
        };
        assert_eq!(drain(&mut node), expected, "pre_vote {pre_vote_on}");
    }
}

#[test]
fn rule3_transfer_flag_bypasses_stickiness() {
    let mut node = follower(2, 3, 1, 1);

    node.handle_message(id(3), vote(2, true));

    // One write carries the new term and the vote, before the response.
    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(None, 2),
            persist(2, Some(3)),
            send(3, vote_response(2, true)),
        ]
    );
    assert_eq!(node.hard_state(), hard(2, Some(3)));
}

// ===== rule 4: winning, heartbeats ============================================

#[test]
fn rule4_vote_majority_makes_a_leader_that_heartbeats_at_once() {
    let mut node = candidate(3);
    for _ in 0..3 {
        node.tick();
    }
    drain(&mut node);

    node.handle_message(id(3), vote_response(1, true));

    // It heartbeats at once, bare, so that its lease waits for nobody's
    // disk; the membership is re-issued once the lease holds.
    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(Some(1), 1),
            send(2, heartbeat(1, CAMPAIGN_AT + 3)),
            send(3, heartbeat(1, CAMPAIGN_AT + 3)),
        ]
    );
    assert_eq!(node.membership().id(), CONFIGURED);
    // Elected, but not Goose until a majority acknowledges a heartbeat.
    assert_eq!(node.role(), Role::Duck);
    assert_eq!(node.membership_pending(), Some(false));
    assert_eq!(node.status().leader, Some(id(1)));
    assert_eq!(node.lease_start_tick(), None);
    assert_eq!(node.status().lease_remaining_ticks, None);
}

#[test]
fn rule4_leader_becomes_goose_only_when_a_majority_acknowledges_a_heartbeat() {
    let mut node = candidate(5);
    node.handle_message(id(2), vote_response(1, true));
    node.handle_message(id(3), vote_response(1, true));
    drain(&mut node);

    // Elected at `CAMPAIGN_AT`, when its first round went out.
    node.handle_message(id(4), ack(1, CAMPAIGN_AT, CONFIGURED));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.role(), Role::Duck);

    // A majority starts the lease; the Goose then re-issues its membership
    // under its term, durable first, in the same round sent again.
    node.handle_message(id(5), ack(1, CAMPAIGN_AT, CONFIGURED));
    let reissue = node.membership().clone();
    assert_eq!(reissue.id(), reissued(1));
    assert_eq!(
        drain(&mut node),
        vec![
            role_changed(Role::Goose, 1, RoleChangeReason::Elected),
            persist_membership(&reissue),
            membership_changed(reissued(1)),
            send(2, heartbeat_carrying(1, CAMPAIGN_AT, &reissue)),
            send(3, heartbeat_carrying(1, CAMPAIGN_AT, &reissue)),
            send(4, heartbeat_carrying(1, CAMPAIGN_AT, &reissue)),
            send(5, heartbeat_carrying(1, CAMPAIGN_AT, &reissue)),
        ]
    );
    assert_eq!(node.membership_pending(), Some(true));
    assert_eq!(node.role(), Role::Goose);
    assert_eq!(node.lease_start_tick(), Some(CAMPAIGN_AT));
    assert_eq!(node.status().lease_remaining_ticks, Some(LEASE));
    assert_eq!(node.counters().role_changes, 1);
}

#[test]
fn rule4_goose_heartbeats_every_interval() {
    let mut node = goose(1, 3);
    for _ in 1..HEARTBEAT {
        node.tick();
        assert_eq!(drain(&mut node), vec![]);
    }

    node.tick();

    // 2 acknowledged the re-issued membership; 3 has not answered yet and
    // still gets it attached.
    assert_eq!(
        drain(&mut node),
        vec![
            send(2, heartbeat(1, ELECTED_AT + HEARTBEAT)),
            send(
                3,
                heartbeat_carrying(1, ELECTED_AT + HEARTBEAT, node.membership())
            ),
        ]
    );
    // Two bare and two carrying the re-issue at election, then this round.
    assert_eq!(node.counters().heartbeats_sent, 6);
}

#[test]
fn rule4_duck_acknowledges_every_heartbeat() {
    let mut node = follower(2, 3, 1, 1);

    for sent_tick in [5, 10, 15] {
        node.handle_message(id(1), heartbeat(1, sent_tick));
        assert_eq!(
            drain(&mut node),
            vec![send(1, ack(1, sent_tick, CONFIGURED))]
        );
    }
    assert_eq!(node.counters().heartbeats_received, 4);
}

#[test]
fn rule4_first_heartbeat_of_a_new_term_is_adopted_persisted_and_acknowledged() {
    let mut node = fresh(2, 3);
    // A new Goose's first heartbeat carries the membership it re-issued.
    let membership = goose(1, 3).membership().clone();

    node.handle_message(id(1), heartbeat_carrying(1, 0, &membership));

    // Term and membership are durable before the ack that depends on them.
    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(Some(1), 1),
            persist(1, None),
            persist_membership(&membership),
            membership_changed(reissued(1)),
            send(1, ack(1, 0, reissued(1))),
        ]
    );
    assert_eq!(node.status().leader, Some(id(1)));
    assert_eq!(node.membership(), &membership);
}

#[test]
fn raft_5_2_candidate_receiving_a_heartbeat_of_its_term_becomes_a_follower() {
    let mut node = candidate(3);

    node.handle_message(id(2), heartbeat(1, 4));

    assert_eq!(
        drain(&mut node),
        vec![leader_changed(Some(2), 1), send(2, ack(1, 4, CONFIGURED))]
    );
    assert_eq!(node.hard_state(), hard(1, Some(1)));
    // No longer campaigning: a late vote means nothing.
    node.handle_message(id(3), vote_response(1, true));
    assert_eq!(drain(&mut node), vec![dropped(3, DropReason::Unexpected)]);
    assert_eq!(node.status().leader, Some(id(2)));
}

#[test]
fn raft_5_2_pre_candidate_receiving_a_heartbeat_becomes_a_follower() {
    let mut node = unsticky_voter(1, 3, hard(1, None));
    node.campaign().unwrap();
    drain(&mut node);

    node.handle_message(id(2), heartbeat(1, 4));

    assert_eq!(
        drain(&mut node),
        vec![leader_changed(Some(2), 1), send(2, ack(1, 4, CONFIGURED))]
    );
    node.handle_message(id(3), pre_vote_response(2, true));
    assert_eq!(drain(&mut node), vec![dropped(3, DropReason::Unexpected)]);
    assert_eq!(node.term(), Term(1));
}

#[test]
fn raft_5_2_candidate_refused_by_a_majority_stops_campaigning() {
    let mut node = candidate(3);
    node.handle_message(id(2), vote_response(1, false));
    assert_eq!(drain(&mut node), vec![]);

    node.handle_message(id(3), vote_response(1, false));
    assert_eq!(drain(&mut node), vec![]);

    node.handle_message(id(2), vote_response(1, true));
    assert_eq!(drain(&mut node), vec![dropped(2, DropReason::Unexpected)]);
    assert_eq!(node.role(), Role::Duck);
    assert_eq!(node.hard_state(), hard(1, Some(1)));
}

#[test]
fn raft_5_2_split_vote_candidate_campaigns_again_after_a_new_random_timeout() {
    let mut config = config(1, 5);
    config.pre_vote = false;
    let mut node = build(config, HardState::default(), SEED);
    ticks_until_election(&mut node);
    // Split: one grant, one refusal, two never answer.
    node.handle_message(id(2), vote_response(1, true));
    node.handle_message(id(3), vote_response(1, false));
    assert_eq!(drain(&mut node), vec![]);

    let (ticks, outputs) = ticks_until_election(&mut node);

    assert!((TIMEOUT_MIN..TIMEOUT_MAX).contains(&ticks), "{ticks}");
    assert_eq!(
        outputs,
        vec![
            persist(2, Some(1)),
            election_started(2, false),
            send(2, vote(2, false)),
            send(3, vote(2, false)),
            send(4, vote(2, false)),
            send(5, vote(2, false)),
        ]
    );
    // And each retry draws its timeout anew.
    let retries: BTreeSet<u64> = (0..20).map(|_| ticks_until_election(&mut node).0).collect();
    assert!(retries.len() > 1, "{retries:?}");
}

#[test]
fn raft_5_2_split_vote_with_pre_vote_goes_back_to_a_pre_vote_round() {
    let mut node = candidate(3);

    let (ticks, outputs) = ticks_until_election(&mut node);

    assert!((TIMEOUT_MIN..TIMEOUT_MAX).contains(&ticks), "{ticks}");
    assert_eq!(
        outputs,
        vec![
            election_started(2, true),
            send(2, pre_vote(2)),
            send(3, pre_vote(2)),
        ]
    );
    assert_eq!(node.hard_state(), hard(1, Some(1)));
}

#[test]
fn raft_5_2_leader_does_not_grant_votes() {
    let mut node = goose(1, 3);
    let before = node.status();
    // The requests hold the configured membership; the Goose holds its
    // re-issue, and says so with each refusal.
    let held = newer_membership(1, node.membership());

    node.handle_message(id(3), vote(1, false));
    assert_eq!(
        drain(&mut node),
        vec![send(3, vote_response(1, false)), send(3, held.clone())]
    );
    node.handle_message(id(3), vote(2, false));
    assert_eq!(
        drain(&mut node),
        vec![send(3, vote_response(1, false)), send(3, held.clone())]
    );
    node.handle_message(id(3), pre_vote(2));
    assert_eq!(
        drain(&mut node),
        vec![send(3, pre_vote_response(1, false)), send(3, held)]
    );

    assert_eq!(node.status(), before);
    assert_eq!(node.role(), Role::Goose);
}

#[test]
fn raft_5_2_leader_drops_a_heartbeat_of_its_own_term() {
    // Two Geese cannot be elected in one term; such a heartbeat is forged.
    let mut node = goose(1, 3);

    node.handle_message(id(2), heartbeat(1, 9));

    assert_eq!(drain(&mut node), vec![dropped(2, DropReason::Unexpected)]);
    assert_eq!(node.role(), Role::Goose);
}

// ===== rule 5: the lease ======================================================

#[test]
fn rule5_lease_runs_from_the_newest_send_tick_a_majority_acknowledged() {
    // Goose of 5 elected at `ELECTED_AT` with acks from 2 and 3.
    let mut node = goose(1, 5);
    for _ in 0..HEARTBEAT {
        node.tick();
    }
    drain(&mut node);
    let round = ELECTED_AT + HEARTBEAT;

    // The second round acked by 2: only two of five (with the Goose) have
    // seen it.
    node.handle_message(id(2), ack(1, round, reissued(1)));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.lease_start_tick(), Some(ELECTED_AT));
    assert_eq!(node.lease_remaining_ticks(), Some(LEASE - HEARTBEAT));

    // Acked by 4 too: a majority.
    node.handle_message(id(4), ack(1, round, reissued(1)));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.lease_start_tick(), Some(round));
    assert_eq!(node.lease_remaining_ticks(), Some(LEASE));
    assert_eq!(node.status().lease_remaining_ticks, Some(LEASE));
}

#[test]
fn rule5_goose_without_acks_becomes_a_duck_at_exactly_the_tick_its_lease_ends() {
    let mut node = goose(1, 3);
    for _ in 1..LEASE {
        node.tick();
    }
    drain(&mut node);
    assert_eq!(node.now_tick(), ELECTED_AT + LEASE - 1);
    assert_eq!(node.role(), Role::Goose);
    assert_eq!(node.lease_remaining_ticks(), Some(1));

    node.tick();

    let outputs = drain(&mut node);
    assert!(
        !outputs.iter().any(|o| matches!(o, Output::Send { .. })),
        "no heartbeat after the lease: {outputs:?}"
    );
    assert_eq!(node.role(), Role::Duck);
    let status = node.status();
    assert_eq!(status.role, Role::Duck);
    assert_eq!(status.leader, None);
    assert_eq!(status.lease_remaining_ticks, None);
    assert_eq!(node.hard_state(), hard(1, Some(1)));
    // It stays a Duck and stops heartbeating.
    for _ in 0..HEARTBEAT * 2 {
        node.tick();
        assert!(
            !drain(&mut node)
                .iter()
                .any(|o| matches!(o, Output::Send { .. }))
        );
    }
}

// Regression: the lease-expiry step-down was once computed after the clock
// moved, when `role()` already said Duck, and went unreported.
#[test]
fn rule5_lease_expiry_is_reported_as_role_changed_lease_expired() {
    let mut node = goose(1, 3);
    for _ in 1..LEASE {
        node.tick();
    }
    drain(&mut node);
    let role_changes = node.counters().role_changes;

    node.tick();

    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(None, 1),
            role_changed(Role::Duck, 1, RoleChangeReason::LeaseExpired),
        ]
    );
    assert_eq!(node.counters().role_changes, role_changes + 1);
}

#[test]
fn rule5_acks_keep_the_goose_goose() {
    let mut node = goose(1, 3);
    for _ in 0..40 * HEARTBEAT {
        node.tick();
        for output in drain(&mut node) {
            assert!(
                !matches!(output, Output::Event(Event::RoleChanged { .. })),
                "{output:?}"
            );
            // Node 2 alone acks every round: with the Goose, a majority.
            if let Output::Send {
                to: NodeId(2),
                msg:
                    Message::Heartbeat {
                        term,
                        sent_tick,
                        membership: None,
                    },
            } = output
            {
                let membership = node.membership().id();
                node.handle_message(
                    id(2),
                    Message::HeartbeatAck {
                        term,
                        sent_tick,
                        membership,
                    },
                );
                assert_eq!(drain(&mut node), vec![]);
            }
        }
        assert_eq!(node.role(), Role::Goose);
    }
    assert_eq!(node.lease_start_tick(), Some(ELECTED_AT + 40 * HEARTBEAT));
}

#[test]
fn rule5_a_replayed_old_ack_does_not_extend_the_lease() {
    let mut node = goose(1, 3);
    for _ in 0..20 {
        node.tick();
    }
    drain(&mut node);
    assert_eq!(node.lease_start_tick(), Some(ELECTED_AT));

    // The acks of the first round again, from both peers.
    node.handle_message(id(2), ack(1, ELECTED_AT, reissued(1)));
    node.handle_message(id(3), ack(1, ELECTED_AT, reissued(1)));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.lease_start_tick(), Some(ELECTED_AT));
    assert_eq!(node.lease_remaining_ticks(), Some(LEASE - 20));

    // An ack echoing a tick after the newest round (a forgery) is dropped.
    node.handle_message(id(2), ack(1, ELECTED_AT + 21, reissued(1)));
    assert_eq!(drain(&mut node), vec![dropped(2, DropReason::Unexpected)]);
    assert_eq!(node.lease_start_tick(), Some(ELECTED_AT));

    // So is one echoing a tick between rounds, when no heartbeat was sent.
    node.handle_message(id(2), ack(1, ELECTED_AT + HEARTBEAT + 1, reissued(1)));
    assert_eq!(drain(&mut node), vec![dropped(2, DropReason::Unexpected)]);
    assert_eq!(node.lease_start_tick(), Some(ELECTED_AT));

    for _ in 20..LEASE {
        node.tick();
    }
    assert_eq!(node.role(), Role::Duck);
}

#[test]
fn rule5_a_stale_ack_cannot_pull_the_lease_back() {
    let mut node = goose(1, 3);
    for _ in 0..10 {
        node.tick();
    }
    drain(&mut node);
    node.handle_message(id(2), ack(1, ELECTED_AT + 10, reissued(1)));
    assert_eq!(node.lease_start_tick(), Some(ELECTED_AT + 10));

    // The previous round's ack arrives late, reordered.
    node.handle_message(id(2), ack(1, ELECTED_AT + 5, reissued(1)));

    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.lease_start_tick(), Some(ELECTED_AT + 10));
}

// ===== rule 6: the lease bound ================================================

#[test]
fn rule6_max_lease_follows_the_drift_bound_formula() {
    // lease < min · (1 − ρ) / (1 + ρ), less two ticks of rounding.
    let cases = [
        // (min, ρ in ppm, longest lease)
        (30, 50_000, 25),   // 27.14 → 27 → 25
        (100, 0, 97),       // exactly 100 → strictly below: 99 → 97
        (105, 50_000, 92),  // exactly 95 → 94 → 92
        (300, 50_000, 269), // 271.43 → 271 → 269
        (60, 100_000, 47),  // 49.09 → 49 → 47
        (3, 0, 0),          // no lease possible
    ];
    for (min, ppm, expected) in cases {
        let mut config = config(1, 3);
        config.election_timeout_min_ticks = min;
        config.election_timeout_max_ticks = min * 2;
        config.drift_bound_ppm = ppm;
        assert_eq!(config.max_lease_ticks(), expected, "min {min}, {ppm} ppm");
        assert_eq!(
            config.lease_ticks(),
            expected,
            "the default lease is the longest"
        );
    }
}

#[test]
fn rule6_validate_rejects_a_lease_longer_than_the_bound() {
    let mut config = config(1, 3);
    config.lease_override_ticks = Some(LEASE);
    assert_eq!(config.validate(), Ok(()));

    config.lease_override_ticks = Some(LEASE + 1);
    let expected = ConfigError::LeaseTooLong {
        lease_ticks: LEASE + 1,
        max_lease_ticks: LEASE,
    };
    assert_eq!(config.validate(), Err(expected.clone()));
    assert_eq!(
        Election::new(config, HardState::default(), SEED).map(|_| ()),
        Err(expected)
    );
}

#[test]
fn rule6_validate_rejects_a_lease_not_longer_than_the_heartbeat() {
    let mut config = config(1, 3);
    config.lease_override_ticks = Some(HEARTBEAT);
    assert_eq!(
        config.validate(),
        Err(ConfigError::LeaseNotLongerThanHeartbeat {
            lease_ticks: HEARTBEAT,
            heartbeat_interval_ticks: HEARTBEAT,
        })
    );
    config.lease_override_ticks = Some(HEARTBEAT + 1);
    assert_eq!(config.validate(), Ok(()));

    // The default lease, with a heartbeat as long as it.
    let mut config = self::config(1, 3);
    config.heartbeat_interval_ticks = LEASE;
    assert_eq!(
        config.validate(),
        Err(ConfigError::LeaseNotLongerThanHeartbeat {
            lease_ticks: LEASE,
            heartbeat_interval_ticks: LEASE,
        })
    );
}

#[test]
fn rule6_validate_rejects_impossible_timing_and_membership() {
    let check = |change: &dyn Fn(&mut Config), expected: ConfigError| {
        let mut config = config(1, 3);
        change(&mut config);
        assert_eq!(config.validate(), Err(expected));
    };
    check(
        &|c| c.election_timeout_max_ticks = c.election_timeout_min_ticks,
        ConfigError::EmptyElectionTimeoutRange {
            min_ticks: TIMEOUT_MIN,
            max_ticks: TIMEOUT_MIN,
        },
    );
    check(
        &|c| c.election_timeout_max_ticks = 10,
        ConfigError::EmptyElectionTimeoutRange {
            min_ticks: TIMEOUT_MIN,
            max_ticks: 10,
        },
    );
    check(
        &|c| c.heartbeat_interval_ticks = 0,
        ConfigError::ZeroHeartbeatInterval,
    );
    check(&|c| c.id = id(9), ConfigError::NotAMember { id: id(9) });
    check(
        &|c| c.drift_bound_ppm = 500_000,
        ConfigError::DriftBoundTooLarge {
            drift_bound_ppm: 500_000,
        },
    );
    assert_eq!(
        Config::new(id(1), []).validate(),
        Err(ConfigError::NoVoters)
    );
    assert_eq!(config(1, 3).validate(), Ok(()));
}

#[test]
fn rule6_a_cut_off_goose_loses_its_lease_before_the_others_can_elect() {
    for seed in 0..20 {
        let mut cluster = Cluster::new(3, seed);
        let old = cluster.run_until_goose(1_000);
        // Let it settle into steady heartbeats, then cut it off.
        for _ in 0..3 * HEARTBEAT {
            cluster.tick();
        }
        cluster.net.isolate(old);
        let mut lease_end_tick = None;
        let new = loop {
            cluster.tick(); // checks "never two Geese at once" every step
            if lease_end_tick.is_none() && cluster.get(old).role() == Role::Duck {
                lease_end_tick = Some(cluster.net.now_tick());
            }
            if let [goose] = cluster.geese()[..]
                && goose != old
            {
                break goose;
            }
            assert!(cluster.net.now_tick() < 5_000, "seed {seed}: no new Goose");
        };
        let lease_end_tick = lease_end_tick.expect("the old Goose stepped down first");
        assert!(lease_end_tick < cluster.net.now_tick(), "seed {seed}");
        assert!(cluster.get(new).term() > cluster.get(old).term());
    }
}

// ===== rule 7: terms ==========================================================

#[test]
fn rule7_heartbeat_with_a_higher_term_is_adopted() {
    let mut node = follower(2, 3, 1, 1);

    node.handle_message(id(3), heartbeat(3, 7));

    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(Some(3), 3),
            persist(3, None),
            send(3, ack(3, 7, CONFIGURED)),
        ]
    );
    assert_eq!(node.hard_state(), hard(3, None));
    assert_eq!(node.role(), Role::Duck);
}

#[test]
fn rule7_vote_response_with_a_higher_term_makes_a_candidate_a_duck() {
    let mut node = candidate(3);

    node.handle_message(id(2), vote_response(4, false));

    assert_eq!(
        without_unexpected_drops(drain(&mut node)),
        vec![persist(4, None)]
    );
    assert_eq!(node.hard_state(), hard(4, None));
    assert_eq!(node.role(), Role::Duck);
    // Campaigning for term 1 is over.
    node.handle_message(id(3), vote_response(4, true));
    assert_eq!(drain(&mut node), vec![dropped(3, DropReason::Unexpected)]);
}

#[test]
fn rule7_refused_pre_vote_response_with_a_higher_term_is_adopted() {
    let mut node = pre_candidate(3);

    node.handle_message(id(2), pre_vote_response(5, false));

    assert_eq!(
        without_unexpected_drops(drain(&mut node)),
        vec![persist(5, None)]
    );
    assert_eq!(node.hard_state(), hard(5, None));
}

#[test]
fn rule7_goose_seeing_a_higher_term_heartbeat_steps_down() {
    let mut node = goose(1, 3);

    node.handle_message(id(3), heartbeat(2, 40));

    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(Some(3), 2),
            role_changed(Role::Duck, 2, RoleChangeReason::HigherTerm),
            persist(2, None),
            send(3, ack(2, 40, reissued(1))),
        ]
    );
    assert_eq!(node.role(), Role::Duck);
    assert_eq!(node.hard_state(), hard(2, None));
}

#[test]
fn rule7_goose_seeing_a_higher_term_ack_steps_down() {
    let mut node = goose(1, 3);

    node.handle_message(id(2), ack(2, 0, reissued(1)));

    assert_eq!(
        without_unexpected_drops(drain(&mut node)),
        vec![
            leader_changed(None, 2),
            role_changed(Role::Duck, 2, RoleChangeReason::HigherTerm),
            persist(2, None),
        ]
    );
    assert_eq!(node.role(), Role::Duck);
    assert_eq!(node.hard_state(), hard(2, None));
    // It no longer heartbeats.
    for _ in 0..HEARTBEAT {
        node.tick();
        assert!(
            !drain(&mut node)
                .iter()
                .any(|o| matches!(o, Output::Send { .. }))
        );
    }
}

#[test]
fn rule7_goose_seeing_a_higher_term_transfer_vote_steps_down_and_grants() {
    let mut node = goose(1, 3);

    // From a candidate holding the membership this Goose re-issued: a
    // candidate holding an older one is refused whatever its term.
    node.handle_message(id(3), vote_holding(2, true, reissued(1)));

    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(None, 2),
            role_changed(Role::Duck, 2, RoleChangeReason::HigherTerm),
            persist(2, Some(3)),
            send(3, vote_response(2, true)),
        ]
    );
}

// Regression: a response whose only effect was its higher term was once
// also reported as `MessageDropped { Unexpected }`.
#[test]
fn rule7_a_higher_term_response_is_not_reported_as_dropped() {
    let mut node = goose(1, 3);
    node.handle_message(id(2), ack(2, 0, reissued(1)));
    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(None, 2),
            role_changed(Role::Duck, 2, RoleChangeReason::HigherTerm),
            persist(2, None),
        ]
    );

    let mut node = candidate(3);
    node.handle_message(id(2), vote_response(4, false));
    assert_eq!(drain(&mut node), vec![persist(4, None)]);

    let mut node = pre_candidate(3);
    node.handle_message(id(2), pre_vote_response(5, false));
    assert_eq!(drain(&mut node), vec![persist(5, None)]);
    assert_eq!(node.counters().dropped_total(), 0);
}

#[test]
fn rule7_stale_requests_are_answered_with_the_current_term() {
    let mut node = unsticky_voter(1, 3, hard(5, None));
    let before = node.status();

    node.handle_message(id(2), pre_vote(3));
    assert_eq!(drain(&mut node), vec![send(2, pre_vote_response(5, false))]);
    node.handle_message(id(2), vote(4, false));
    assert_eq!(drain(&mut node), vec![send(2, vote_response(5, false))]);
    node.handle_message(id(2), vote(4, true));
    assert_eq!(drain(&mut node), vec![send(2, vote_response(5, false))]);
    node.handle_message(id(3), heartbeat(4, 9));
    assert_eq!(drain(&mut node), vec![send(3, ack(5, 9, CONFIGURED))]);

    assert_eq!(node.status(), before);
    assert_eq!(node.counters().dropped_total(), 0);
}

#[test]
fn rule7_stale_responses_are_dropped_and_counted() {
    // A Goose of term 5, restarted from term 4.
    let mut node = unsticky_voter(1, 3, hard(4, Some(1)));
    elect(&mut node);
    assert_eq!(node.term(), Term(5));
    let before = node.status();

    for (from, msg) in [
        (2, pre_vote_response(4, true)),
        (2, pre_vote_response(4, false)),
        (3, vote_response(4, true)),
        (2, ack(4, 0, CONFIGURED)),
        (3, timeout_now(4)),
    ] {
        node.handle_message(id(from), msg.clone());
        assert_eq!(
            drain(&mut node),
            vec![dropped(from, DropReason::StaleTerm)],
            "{msg:?}"
        );
    }
    assert_eq!(node.counters().dropped_stale_term, 5);
    assert_eq!(node.status(), before);
    assert_eq!(node.role(), Role::Goose);
}

// ===== rule 8: step-down and transfer =========================================

#[test]
fn rule8_transfer_makes_the_goose_a_duck_at_once_and_sends_timeout_now() {
    let mut node = goose(1, 3);

    assert_eq!(node.transfer_leadership(id(3)), Ok(()));

    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(None, 1),
            role_changed(Role::Duck, 1, RoleChangeReason::Transfer),
            send(3, timeout_now(1)),
        ]
    );
    assert_eq!(node.role(), Role::Duck);
    assert_eq!(node.lease_start_tick(), None);
    assert_eq!(node.status().lease_remaining_ticks, None);
    // It stops heartbeating.
    for _ in 0..2 * HEARTBEAT {
        node.tick();
        assert_eq!(drain(&mut node), vec![]);
    }
}

#[test]
fn rule8_timeout_now_starts_a_flagged_election_at_once() {
    // Pre-vote is on, and the target is sticky: neither delays it.
    let mut node = follower(3, 3, 1, 1);

    node.handle_message(id(1), timeout_now(1));

    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(None, 1),
            persist(2, Some(3)),
            election_started(2, false),
            send(1, vote(2, true)),
            send(2, vote(2, true)),
        ]
    );
    assert_eq!(node.hard_state(), hard(2, Some(3)));
}

#[test]
fn rule8_sticky_voters_grant_a_transfer_vote() {
    let mut voter = follower(2, 3, 1, 1);

    voter.handle_message(id(3), vote(2, true));

    assert_eq!(
        drain(&mut voter),
        vec![
            leader_changed(None, 2),
            persist(2, Some(3)),
            send(3, vote_response(2, true)),
        ]
    );
}

#[test]
fn rule8_transfer_hands_the_goose_role_to_the_target() {
    let mut cluster = Cluster::new(3, 1);
    let old = cluster.run_until_goose(1_000);
    cluster.tick();
    let target = if old == id(3) { id(2) } else { id(3) };
    let old_term = cluster.get(old).term();

    cluster.node(old.0).transfer_leadership(target).unwrap();
    cluster.pump();

    // All within one round trip, no timer involved.
    assert_eq!(cluster.geese(), vec![target]);
    assert_eq!(cluster.get(target).term(), old_term.next());
}

#[test]
fn rule8_step_down_picks_the_most_responsive_duck() {
    // Goose of 5 elected at `ELECTED_AT` by acks from 2 and 3.
    let mut node = goose(1, 5);
    for _ in 0..HEARTBEAT {
        node.tick();
    }
    drain(&mut node);
    // Only 4 has acknowledged the newest round.
    node.handle_message(id(4), ack(1, ELECTED_AT + HEARTBEAT, reissued(1)));
    drain(&mut node);

    assert_eq!(node.step_down(), Ok(()));

    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(None, 1),
            role_changed(Role::Duck, 1, RoleChangeReason::Transfer),
            send(4, timeout_now(1)),
        ]
    );
}

#[test]
fn rule8_step_down_breaks_ties_by_lowest_id() {
    let mut node = goose(1, 5);
    for _ in 0..HEARTBEAT {
        node.tick();
    }
    drain(&mut node);
    node.handle_message(id(5), ack(1, ELECTED_AT + HEARTBEAT, reissued(1)));
    node.handle_message(id(4), ack(1, ELECTED_AT + HEARTBEAT, reissued(1)));
    drain(&mut node);

    node.step_down().unwrap();

    assert_eq!(drain(&mut node).last(), Some(&send(4, timeout_now(1))));
}

#[test]
fn rule8_commands_are_refused_when_they_make_no_sense() {
    let mut duck = follower(2, 3, 1, 1);
    let before = duck.status();
    assert_eq!(duck.step_down(), Err(CommandError::NotGoose));
    assert_eq!(duck.transfer_leadership(id(3)), Err(CommandError::NotGoose));
    assert_eq!(drain(&mut duck), vec![]);
    assert_eq!(duck.status(), before);

    let mut node = goose(1, 3);
    let before = node.status();
    assert_eq!(
        node.transfer_leadership(id(1)),
        Err(CommandError::TransferToSelf)
    );
    assert_eq!(
        node.transfer_leadership(id(9)),
        Err(CommandError::NotAVoter(id(9)))
    );
    assert_eq!(node.campaign(), Err(CommandError::AlreadyLeader));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.status(), before);

    let mut alone = goose(1, 1);
    assert_eq!(alone.step_down(), Err(CommandError::NoTransferTarget));
    assert_eq!(drain(&mut alone), vec![]);
    assert_eq!(alone.role(), Role::Goose);
}

#[test]
fn rule8_after_a_failed_transfer_normal_elections_take_over() {
    // The old Goose: the target never answers.
    let mut node = goose(1, 3);
    node.transfer_leadership(id(3)).unwrap();
    drain(&mut node);

    let (ticks, outputs) = ticks_until_election(&mut node);

    // It asks holding the membership it re-issued as Goose.
    assert!((TIMEOUT_MIN..TIMEOUT_MAX).contains(&ticks), "{ticks}");
    assert_eq!(
        outputs,
        vec![
            election_started(2, true),
            send(2, pre_vote_holding(2, reissued(1))),
            send(3, pre_vote_holding(2, reissued(1))),
        ]
    );

    // The target: nobody votes.
    let mut target = follower(3, 3, 1, 1);
    target.handle_message(id(1), timeout_now(1));
    drain(&mut target);

    let (ticks, outputs) = ticks_until_election(&mut target);

    assert!((TIMEOUT_MIN..TIMEOUT_MAX).contains(&ticks), "{ticks}");
    assert_eq!(
        outputs,
        vec![
            election_started(3, true),
            send(1, pre_vote(3)),
            send(2, pre_vote(3)),
        ]
    );
}

#[test]
fn rule8_timeout_now_to_a_leader_is_dropped() {
    let mut node = goose(1, 3);

    node.handle_message(id(2), timeout_now(1));

    assert_eq!(drain(&mut node), vec![dropped(2, DropReason::Unexpected)]);
    assert_eq!(node.role(), Role::Goose);
}

// ===== rule 9: membership =====================================================

/// A membership in which node 9 is the only voter, issued in term 6: newer
/// than anything the rule 9 tests' nodes hold.
fn stranger_membership() -> Membership {
    let mut stranger = unsticky(Config::new(id(9), [id(9)]), hard(5, None));
    stranger.campaign().expect("unsticky");
    drain(&mut stranger);
    assert_eq!(stranger.membership().id(), reissued(6));
    stranger.membership().clone()
}

fn every_kind_of_message(term: u64) -> Vec<Message> {
    vec![
        pre_vote(term + 1),
        pre_vote_response(term + 1, true),
        vote(term + 1, true),
        vote_response(term + 1, true),
        heartbeat(term + 1, 0),
        // A stranger cannot slip in a membership that makes it a voter.
        heartbeat_carrying(term + 1, 0, &stranger_membership()),
        ack(term, 0, CONFIGURED),
        timeout_now(term),
        leave(term),
    ]
}

#[test]
fn rule9_a_message_from_a_non_member_is_dropped_and_counted() {
    for mut node in [goose(1, 3), follower(1, 3, 2, 1), candidate(3)] {
        let before = node.status();
        let hard_before = node.hard_state();
        for msg in every_kind_of_message(1) {
            node.handle_message(id(9), msg.clone());
            assert_eq!(
                drain(&mut node),
                vec![dropped(9, DropReason::NotMember)],
                "{msg:?}"
            );
        }
        assert_eq!(node.counters().dropped_not_member, 9);
        assert_eq!(node.status(), before);
        assert_eq!(node.hard_state(), hard_before);
    }
}

#[test]
fn rule9_a_message_claiming_to_come_from_the_node_itself_is_dropped_and_counted() {
    for mut node in [goose(1, 3), follower(1, 3, 2, 1), candidate(3)] {
        let before = node.status();
        for msg in every_kind_of_message(1) {
            node.handle_message(id(1), msg.clone());
            assert_eq!(
                drain(&mut node),
                vec![dropped(1, DropReason::FromSelf)],
                "{msg:?}"
            );
        }
        assert_eq!(node.counters().dropped_from_self, 9);
        assert_eq!(node.status(), before);
    }
}

// ===== single node ============================================================

#[test]
fn single_node_cluster_elects_itself_and_stays_goose() {
    let mut node = fresh(1, 1);
    let (ticks, _) = ticks_until_election(&mut node);
    assert!((TIMEOUT_MIN..TIMEOUT_MAX).contains(&ticks), "{ticks}");
    assert_eq!(node.role(), Role::Goose);
    assert_eq!(node.hard_state(), hard(1, Some(1)));
    assert_eq!(node.status().leader, Some(id(1)));

    for _ in 0..10_000 {
        node.tick();
        assert_eq!(drain(&mut node), vec![]);
        assert_eq!(node.role(), Role::Goose);
    }
    assert_eq!(node.term(), Term(1));
}

// In a one-node cluster the pre-vote, the election and the win happen in one
// input; the term must be durable before the node announces itself as its
// Goose, or a crash in between would let it be elected in term 1 twice, with
// one fencing token for two incarnations (DESIGN promises 1 and 3).
#[test]
fn persist_barrier_a_single_node_goose_is_announced_after_its_term_is_durable() {
    let mut node = unsticky_voter(1, 1, HardState::default());

    node.campaign().unwrap();

    let outputs = drain(&mut node);
    let persist_at = outputs
        .iter()
        .position(|o| *o == persist(1, Some(1)))
        .expect("term 1 is persisted");
    let goose_at = outputs
        .iter()
        .position(|o| *o == role_changed(Role::Goose, 1, RoleChangeReason::Elected))
        .expect("the node announces itself");
    assert!(persist_at < goose_at, "{outputs:?}");
}

// ===== check-quorum off =======================================================

// Regression: with `check_quorum` off the election was once unreported.
#[test]
fn check_quorum_off_election_is_still_reported() {
    let mut config = config(1, 3);
    config.check_quorum = false;
    let mut node = unsticky(config, HardState::default());
    node.campaign().unwrap();
    node.handle_message(id(2), pre_vote_response(1, true));
    drain(&mut node);

    node.handle_message(id(2), vote_response(1, true));

    let outputs = drain(&mut node);
    let elected = role_changed(Role::Goose, 1, RoleChangeReason::Elected);
    assert_eq!(
        outputs.iter().filter(|o| **o == elected).count(),
        1,
        "{outputs:?}"
    );
    assert_eq!(node.role(), Role::Goose);
    assert_eq!(node.counters().role_changes, 1);
}

#[test]
fn check_quorum_off_goose_keeps_its_role_without_acks() {
    let mut config = config(1, 3);
    config.check_quorum = false;
    let mut node = unsticky(config, HardState::default());
    elect(&mut node);

    for _ in 0..10 * LEASE {
        node.tick();
        drain(&mut node);
    }

    assert_eq!(node.role(), Role::Goose);
}

// ===== the persist barrier ====================================================

#[test]
fn persist_barrier_holds_for_every_output_of_a_busy_cluster() {
    // `Cluster::pump` checks the barrier on every output; this run makes many
    // of them: elections, partitions, heals, transfers and step-downs.
    for seed in 0..5 {
        let mut cluster = Cluster::new(5, seed);
        for round in 0..6 {
            let goose = cluster.run_until_goose(2_000);
            for _ in 0..50 {
                cluster.tick();
            }
            match round % 3 {
                0 => {
                    cluster.net.isolate(goose);
                    for _ in 0..300 {
                        cluster.tick();
                    }
                    cluster.net.heal();
                }
                1 => {
                    let node = cluster.node(goose.0);
                    if node.role() == Role::Goose {
                        node.step_down().unwrap();
                    }
                }
                _ => {
                    let target = NodeId(goose.0 % 5 + 1);
                    let node = cluster.node(goose.0);
                    if node.role() == Role::Goose {
                        node.transfer_leadership(target).unwrap();
                    }
                }
            }
            cluster.pump();
        }
        let persists = cluster
            .net
            .outputs()
            .iter()
            .filter(|logged| matches!(logged.output, Output::Persist(_)))
            .count();
        assert!(persists > 10, "seed {seed}: only {persists} persists");
    }
}

// ===== determinism ============================================================

#[test]
fn determinism_same_seed_and_inputs_give_the_same_outputs() {
    enum Input {
        Ticks(u64),
        Msg(u64, Message),
        Campaign,
        StepDown,
    }
    let script = [
        Input::Ticks(100),
        Input::Msg(2, pre_vote_response(2, true)),
        Input::Msg(3, vote(9, false)),
        Input::Campaign,
        Input::Msg(2, pre_vote_response(2, true)),
        Input::Msg(3, vote_response(2, true)),
        Input::Ticks(3),
        Input::Msg(3, ack(2, 0, reissued(2))),
        Input::Msg(2, ack(2, 0, reissued(2))),
        Input::Ticks(12),
        Input::StepDown,
        Input::Ticks(200),
        Input::Msg(9, heartbeat(7, 0)),
        Input::Msg(2, heartbeat(7, 0)),
        Input::Ticks(200),
    ];
    let run = |seed: u64| {
        let mut node = build(config(1, 3), HardState::default(), seed);
        let mut transcript = Vec::new();
        for input in &script {
            match input {
                Input::Ticks(n) => {
                    for _ in 0..*n {
                        node.tick();
                        transcript.push(format!("{:?}", drain(&mut node)));
                    }
                }
                Input::Msg(from, msg) => node.handle_message(id(*from), msg.clone()),
                Input::Campaign => transcript.push(format!("{:?}", node.campaign())),
                Input::StepDown => transcript.push(format!("{:?}", node.step_down())),
            }
            transcript.push(format!("{:?}", drain(&mut node)));
            transcript.push(format!("{:?} {:?}", node.status(), node.counters()));
        }
        transcript
    };

    assert_eq!(run(42), run(42));
    // The seed does reach the outputs (or the check above proves nothing).
    assert_ne!(run(42), run(43));
}

#[test]
fn determinism_same_seed_gives_the_same_cluster_history() {
    let run = |seed: u64| {
        let mut cluster = Cluster::new(5, seed);
        for tick in 0..3_000 {
            if tick == 1_000
                && let [goose] = cluster.geese()[..]
            {
                cluster.net.isolate(goose);
            }
            if tick == 2_000 {
                cluster.net.heal();
            }
            cluster.tick();
        }
        cluster.net.outputs().to_vec()
    };

    let first = run(3);
    assert!(first.len() > 1_000);
    assert_eq!(first, run(3));
}

// ===== learners (non-voting members) =========================================

/// Node `me` of voters `1..=3` and learner 4.
fn with_learner(me: u64) -> Config {
    let mut config = config(me, 3);
    config.membership = Membership::new((1..=3).map(NodeId)).with_learners([id(4)]);
    config
}

#[test]
fn learner_config_is_valid_and_a_node_cannot_be_both() {
    assert_eq!(with_learner(4).validate(), Ok(()));
    let mut both = with_learner(1);
    both.membership = Membership::new((1..=3).map(NodeId)).with_learners([id(3)]);
    assert_eq!(
        both.validate(),
        Err(ConfigError::VoterAndLearner { id: id(3) })
    );
    let mut stranger = with_learner(1);
    stranger.id = id(5);
    assert_eq!(
        stranger.validate(),
        Err(ConfigError::NotAMember { id: id(5) })
    );
}

/// `outputs` are membership probes to each of `voters` in turn, at least
/// one round of them, and nothing else.
fn assert_only_membership_probes(outputs: &[Output], voters: &[u64]) {
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

#[test]
fn learner_never_campaigns() {
    let mut node = build(with_learner(4), HardState::default(), SEED);
    let mut outputs = Vec::new();
    for _ in 0..10 * TIMEOUT_MAX {
        node.tick();
        outputs.extend(drain(&mut node));
    }
    // Cut off from any Goose, it only asks the voters whether its membership
    // is current (every election timeout), never for votes.
    assert_only_membership_probes(&outputs, &[1, 2, 3]);
    assert_eq!(node.campaign(), Err(CommandError::NotAVoter(id(4))));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.counters().pre_votes_started, 0);

    // Nor does a leadership transfer make it campaign.
    node.handle_message(id(1), timeout_now(0));
    assert_eq!(drain(&mut node), vec![dropped(1, DropReason::Unexpected)]);
    assert_eq!(node.hard_state(), HardState::default());
}

#[test]
fn learner_follows_and_acknowledges_heartbeats() {
    let mut node = build(with_learner(4), HardState::default(), SEED);

    node.handle_message(id(1), heartbeat(1, 0));

    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(Some(1), 1),
            persist(1, None),
            send(1, ack(1, 0, CONFIGURED)),
        ]
    );
    assert_eq!(node.status().leader, Some(id(1)));
    assert_eq!(node.status().learners, vec![id(4)]);
    assert_eq!(node.role(), Role::Duck);
}

#[test]
fn learner_refuses_votes_and_pre_votes() {
    let mut node = unsticky(with_learner(4), HardState::default());

    node.handle_message(id(1), pre_vote(1));
    assert_eq!(drain(&mut node), vec![send(1, pre_vote_response(0, false))]);
    node.handle_message(id(1), vote(1, true));
    assert_eq!(
        drain(&mut node),
        vec![persist(1, None), send(1, vote_response(1, false))]
    );
    assert_eq!(node.hard_state(), hard(1, None));
}

#[test]
fn voter_refuses_to_vote_for_a_learner() {
    let mut node = unsticky(with_learner(1), HardState::default());

    node.handle_message(id(4), pre_vote(1));
    assert_eq!(drain(&mut node), vec![send(4, pre_vote_response(0, false))]);
    node.handle_message(id(4), vote(1, true));
    assert_eq!(
        drain(&mut node),
        vec![persist(1, None), send(4, vote_response(1, false))]
    );
    assert_eq!(node.hard_state().voted_for, None);
}

#[test]
fn candidate_asks_only_voters_and_ignores_learner_answers() {
    let mut node = unsticky(with_learner(1), HardState::default());

    node.campaign().unwrap();
    assert_eq!(
        drain(&mut node),
        vec![
            election_started(1, true),
            send(2, pre_vote(1)),
            send(3, pre_vote(1)),
        ]
    );
    // A learner's grant counts for nothing.
    node.handle_message(id(4), pre_vote_response(1, true));
    assert_eq!(drain(&mut node), vec![dropped(4, DropReason::Unexpected)]);
    assert_eq!(node.term(), Term(0));
}

#[test]
fn goose_heartbeats_learners_but_only_voters_hold_up_its_lease() {
    let mut node = unsticky(with_learner(1), HardState::default());
    node.campaign().unwrap();
    node.handle_message(id(2), pre_vote_response(1, true));
    node.handle_message(id(2), vote_response(1, true));
    let outputs = drain(&mut node);
    let heartbeats: Vec<&Output> = outputs
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Send {
                    msg: Message::Heartbeat { .. },
                    ..
                }
            )
        })
        .collect();
    let membership = node.membership().clone();
    assert_eq!(membership.learners().collect::<Vec<_>>(), [id(4)]);
    assert_eq!(
        heartbeats,
        vec![
            &send(2, heartbeat(1, ELECTED_AT)),
            &send(3, heartbeat(1, ELECTED_AT)),
            &send(4, heartbeat(1, ELECTED_AT)),
        ]
    );

    // The learner's ack is welcome but is no majority: still no lease.
    node.handle_message(id(4), ack(1, ELECTED_AT, CONFIGURED));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.role(), Role::Duck);

    // A voter's ack makes the majority; the re-issue follows, and a learner
    // holding it does not commit it, a voter does.
    node.handle_message(id(2), ack(1, ELECTED_AT, CONFIGURED));
    let outputs = drain(&mut node);
    assert_eq!(
        outputs[0],
        role_changed(Role::Goose, 1, RoleChangeReason::Elected)
    );
    node.handle_message(id(4), ack(1, ELECTED_AT, reissued(1)));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.membership_pending(), Some(true));
    node.handle_message(id(2), ack(1, ELECTED_AT, reissued(1)));
    assert_eq!(drain(&mut node), vec![membership_committed(reissued(1))]);
    // And a learner is never a transfer target.
    assert_eq!(
        node.transfer_leadership(id(4)),
        Err(CommandError::NotAVoter(id(4)))
    );
}

// ===== membership changes (issue #5) ==========================================
//
// One change at a time, after Raft's single-server changes: each new Goose
// re-issues its membership under its own term before any change; a change is
// in force on the Goose at once, travels with the heartbeats until each peer
// acknowledges holding it, and commits once a majority of the new voters
// hold it; until then the lease needs a majority of the old voters and of
// the new.

/// The address the tests give node `n`.
fn addr(n: u64) -> String {
    format!("10.0.0.{n}:7000")
}

/// Node `me` of voters `1..=voters`, every address recorded.
fn addressed(me: u64, voters: u64) -> Config {
    let mut config = config(me, voters);
    config.membership = Membership::new((1..=voters).map(NodeId))
        .with_addresses((1..=voters).map(|n| (id(n), addr(n))));
    config
}

/// The Goose of term 1 built from `config`, elected at `ELECTED_AT`, whose
/// re-issued membership (`reissued(1)`) every peer acknowledged in the first
/// round: committed, and no heartbeat carries a membership any more.
fn settled_goose(config: Config) -> Election {
    let mut node = unsticky(config, HardState::default());
    elect(&mut node);
    let me = node.id();
    let held = node.membership().id();
    let peers: Vec<NodeId> = node.membership().members().filter(|p| *p != me).collect();
    for peer in peers {
        node.handle_message(peer, ack(1, ELECTED_AT, held));
    }
    assert_eq!(drain(&mut node), vec![]);
    node
}

/// Ticks Goose `node` once; the peers in `ackers` acknowledge every
/// heartbeat at once, holding the membership it carried or, when it carried
/// none, the one the Goose had in force when it sent it. Returns the tick's
/// outputs followed by those of the acks.
fn tick_with_acks(node: &mut Election, ackers: &[u64]) -> Vec<Output> {
    let in_force = node.membership().id();
    node.tick();
    let mut outputs = drain(node);
    let acks: Vec<(NodeId, Message)> = outputs
        .iter()
        .filter_map(|output| match output {
            Output::Send {
                to,
                msg:
                    Message::Heartbeat {
                        term,
                        sent_tick,
                        membership,
                    },
            } if ackers.contains(&to.0) => Some((
                *to,
                Message::HeartbeatAck {
                    term: *term,
                    sent_tick: *sent_tick,
                    membership: membership.as_ref().map_or(in_force, |m| m.id()),
                },
            )),
            _ => None,
        })
        .collect();
    for (from, ack) in acks {
        node.handle_message(from, ack);
        outputs.extend(drain(node));
    }
    outputs
}

/// The outputs about the membership: persisting it, and its events.
fn membership_outputs(outputs: &[Output]) -> Vec<Output> {
    outputs
        .iter()
        .filter(|output| {
            matches!(
                output,
                Output::PersistMembership(_)
                    | Output::Event(
                        Event::MembershipChanged { .. } | Event::MembershipCommitted { .. }
                    )
            )
        })
        .cloned()
        .collect()
}

fn ids(members: impl Iterator<Item = NodeId>) -> Vec<u64> {
    members.map(|member| member.0).collect()
}

/// A node built from `config` that has followed Goose 1 of term 1 since
/// tick 0 (adopting `membership` from its first heartbeat) and is at tick
/// `election_timeout_min`: no longer sticky, so it may grant votes.
fn unsticky_holding(config: Config, membership: &Membership) -> Election {
    let first_heartbeat = heartbeat_carrying(1, 0, membership);
    let setup = |node: &mut Election| node.handle_message(id(1), first_heartbeat.clone());
    let seed = quiet_seed(&config, HardState::default(), CAMPAIGN_AT, setup);
    let mut node = build(config, HardState::default(), seed);
    setup(&mut node);
    drain(&mut node);
    for _ in 0..CAMPAIGN_AT {
        node.tick();
    }
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.membership(), membership);
    node
}

#[test]
fn membership_a_new_goose_reissues_its_membership_under_its_term() {
    let mut node = unsticky(addressed(1, 3), HardState::default());
    node.campaign().unwrap();
    node.handle_message(id(2), pre_vote_response(1, true));
    drain(&mut node);
    let configured = node.membership().clone();
    assert_eq!(configured.id(), CONFIGURED);

    node.handle_message(id(2), vote_response(1, true));

    // A bare first round, so that the lease waits for nobody's disk,
    // this node's included; no change before the lease either.
    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(Some(1), 1),
            send(2, heartbeat(1, ELECTED_AT)),
            send(3, heartbeat(1, ELECTED_AT)),
        ]
    );
    assert_eq!(
        node.propose_remove(id(3)),
        Err(MembershipError::NotYetConfirmed)
    );

    // With the lease, the same members and addresses under a new id (this
    // Goose's term, version + 1), durable first, carried by the same round
    // sent again. Changes still wait: not "another change in progress",
    // not confirmed yet.
    node.handle_message(id(2), ack(1, ELECTED_AT, CONFIGURED));
    let reissue = node.membership().clone();
    assert_eq!(reissue.id(), reissued(1));
    assert_eq!(ids(reissue.voters()), ids(configured.voters()));
    assert_eq!(reissue.addresses(), configured.addresses());
    assert_eq!(
        drain(&mut node),
        vec![
            role_changed(Role::Goose, 1, RoleChangeReason::Elected),
            persist_membership(&reissue),
            membership_changed(reissued(1)),
            send(2, heartbeat_carrying(1, ELECTED_AT, &reissue)),
            send(3, heartbeat_carrying(1, ELECTED_AT, &reissue)),
        ]
    );
    assert_eq!(node.status().membership, reissued(1));
    assert_eq!(node.status().membership_pending, Some(true));
    assert_eq!(node.counters().membership_changes, 1);
    assert_eq!(
        node.propose_remove(id(3)),
        Err(MembershipError::NotYetConfirmed)
    );

    // The ack of the carrying one, from a majority, commits it.
    node.handle_message(id(2), ack(1, ELECTED_AT, reissued(1)));
    assert_eq!(drain(&mut node), vec![membership_committed(reissued(1))]);
    assert_eq!(node.membership_pending(), Some(false));
    let carrying = ELECTED_AT;

    // It stays attached for the peer that has not acknowledged it, and only
    // for that one, until it does.
    for _ in 0..HEARTBEAT {
        node.tick();
    }
    let round = carrying + HEARTBEAT;
    assert_eq!(
        drain(&mut node),
        vec![
            send(2, heartbeat(1, round)),
            send(3, heartbeat_carrying(1, round, &reissue)),
        ]
    );
    node.handle_message(id(3), ack(1, round, reissued(1)));
    assert_eq!(drain(&mut node), vec![]);
    for _ in 0..HEARTBEAT {
        node.tick();
    }
    assert_eq!(
        drain(&mut node),
        vec![
            send(2, heartbeat(1, round + HEARTBEAT)),
            send(3, heartbeat(1, round + HEARTBEAT)),
        ]
    );
}

#[test]
fn membership_changes_wait_for_the_reissue_to_commit() {
    let mut node = unsticky(addressed(1, 3), HardState::default());
    node.campaign().unwrap();
    node.handle_message(id(2), pre_vote_response(1, true));
    node.handle_message(id(2), vote_response(1, true));
    drain(&mut node);
    let before = node.membership().clone();

    // Elected, but no majority-acknowledged round in its own term yet: not
    // "another change", but not confirmed either.
    let busy = Err(MembershipError::NotYetConfirmed);
    assert_eq!(node.propose_add(id(4), &addr(4)), busy);
    assert_eq!(node.propose_remove(id(3)), busy);
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.membership(), &before);

    // The lease brings the re-issue, still uncommitted: still waiting.
    node.handle_message(id(2), ack(1, ELECTED_AT, CONFIGURED));
    drain(&mut node);
    assert_eq!(node.membership_pending(), Some(true));
    assert_eq!(node.propose_add(id(4), &addr(4)), busy);

    node.handle_message(id(2), ack(1, ELECTED_AT, reissued(1)));
    drain(&mut node);

    assert_eq!(node.propose_add(id(4), &addr(4)), Ok(membership_id(1, 2)));
}

#[test]
fn membership_changes_are_refused_on_a_duck_naming_the_goose() {
    let mut duck = follower(2, 3, 1, 1);
    let before = duck.status();
    let not_goose = Err(MembershipError::NotGoose {
        leader: Some(id(1)),
    });
    assert_eq!(duck.propose_add(id(4), &addr(4)), not_goose);
    assert_eq!(duck.propose_remove(id(3)), not_goose);
    assert_eq!(drain(&mut duck), vec![]);
    assert_eq!(duck.status(), before);

    // A node that knows no Goose, and a candidate, say so.
    let mut lost = fresh(2, 3);
    assert_eq!(
        lost.propose_remove(id(3)),
        Err(MembershipError::NotGoose { leader: None })
    );
    let mut candidate = candidate(3);
    assert_eq!(
        candidate.propose_add(id(4), &addr(4)),
        Err(MembershipError::NotGoose { leader: None })
    );
    assert_eq!(drain(&mut candidate), vec![]);
}

// A joiner that asks again while its own addition is pending (its first
// answer was lost) is told to wait for the pending membership, not refused.
#[test]
fn membership_propose_add_again_while_pending_returns_the_pending_id() {
    let mut node = settled_goose(addressed(1, 3));
    assert_eq!(node.propose_add(id(4), &addr(4)), Ok(membership_id(1, 2)));
    drain(&mut node);

    assert_eq!(node.propose_add(id(4), &addr(4)), Ok(membership_id(1, 2)));
    assert_eq!(drain(&mut node), vec![]);
    // Anything else is still one change too many.
    assert_eq!(
        node.propose_add(id(5), &addr(5)),
        Err(MembershipError::ChangeInProgress {
            pending: membership_id(1, 2)
        })
    );
    assert_eq!(node.membership().id(), membership_id(1, 2));
}

#[test]
fn membership_propose_add_makes_a_joining_learner_the_heartbeats_carry_to_everyone() {
    let mut node = settled_goose(addressed(1, 3));

    assert_eq!(node.propose_add(id(4), &addr(4)), Ok(membership_id(1, 2)));

    let added = node.membership().clone();
    assert_eq!(added.id(), membership_id(1, 2));
    assert_eq!(ids(added.voters()), [1, 2, 3]);
    assert_eq!(ids(added.learners()), [4]);
    assert_eq!(ids(added.joining()), [4]);
    assert_eq!(added.address(id(4)), Some(addr(4).as_str()));
    // In force and durable at once, pending; sent with the next round.
    assert_eq!(
        drain(&mut node),
        vec![
            persist_membership(&added),
            membership_changed(membership_id(1, 2)),
        ]
    );
    assert_eq!(node.membership_pending(), Some(true));
    assert_eq!(node.status().learners, vec![id(4)]);
    for _ in 1..HEARTBEAT {
        node.tick();
        assert_eq!(drain(&mut node), vec![]);
    }
    node.tick();
    let round = ELECTED_AT + HEARTBEAT;
    assert_eq!(
        drain(&mut node),
        vec![
            send(2, heartbeat_carrying(1, round, &added)),
            send(3, heartbeat_carrying(1, round, &added)),
            send(4, heartbeat_carrying(1, round, &added)),
        ]
    );

    // The new learner holding it counts for nothing.
    node.handle_message(id(4), ack(1, round, membership_id(1, 2)));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.membership_pending(), Some(true));
    // A voter and the Goose: a majority of the new voters.
    node.handle_message(id(2), ack(1, round, membership_id(1, 2)));
    assert_eq!(
        drain(&mut node),
        vec![membership_committed(membership_id(1, 2))]
    );
    assert_eq!(node.membership_pending(), Some(false));

    // Only 3, which has not acknowledged it, still gets it attached.
    for _ in 0..HEARTBEAT {
        node.tick();
    }
    assert_eq!(
        drain(&mut node),
        vec![
            send(2, heartbeat(1, round + HEARTBEAT)),
            send(3, heartbeat_carrying(1, round + HEARTBEAT, &added)),
            send(4, heartbeat(1, round + HEARTBEAT)),
        ]
    );
}

#[test]
fn membership_adding_a_member_again_at_its_address_changes_nothing() {
    let mut node = settled_goose(addressed(1, 3));
    node.propose_add(id(4), &addr(4)).unwrap();
    tick_with_acks(&mut node, &[2, 3, 4]);
    while node.now_tick() < ELECTED_AT + HEARTBEAT {
        tick_with_acks(&mut node, &[2, 3, 4]);
    }
    assert_eq!(node.membership_pending(), Some(false));
    let before = node.membership().clone();
    let changes = node.counters().membership_changes;

    // The joiner asking again, and a voter "added" at its own address.
    assert_eq!(node.propose_add(id(4), &addr(4)), Ok(membership_id(1, 2)));
    assert_eq!(node.propose_add(id(2), &addr(2)), Ok(membership_id(1, 2)));

    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.membership(), &before);
    assert_eq!(node.membership_pending(), Some(false));
    assert_eq!(node.counters().membership_changes, changes);
}

#[test]
fn membership_bad_changes_are_refused_and_change_nothing() {
    let mut node = settled_goose(addressed(1, 3));
    let before = node.membership().clone();

    assert_eq!(
        node.propose_add(id(2), &addr(5)),
        Err(MembershipError::AddressConflict {
            id: id(2),
            existing: addr(2),
            requested: addr(5),
        })
    );
    for bad in [
        "",
        "10.0.0.4",
        "10.0.0.4:",
        ":7000",
        "10.0.0.4:99999",
        "10.0 .0.4:7000",
    ] {
        assert_eq!(
            node.propose_add(id(4), bad),
            Err(MembershipError::InvalidAddress(bad.to_owned())),
            "{bad:?}"
        );
    }
    assert_eq!(
        node.propose_remove(id(9)),
        Err(MembershipError::NotAMember(id(9)))
    );
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.membership(), &before);
    assert_eq!(node.membership_pending(), Some(false));

    // One change at a time: a second one while the first is pending.
    assert_eq!(node.propose_add(id(4), &addr(4)), Ok(membership_id(1, 2)));
    drain(&mut node);
    let pending = node.membership().clone();
    let busy = Err(MembershipError::ChangeInProgress {
        pending: membership_id(1, 2),
    });
    assert_eq!(node.propose_add(id(5), &addr(5)), busy);
    assert_eq!(node.propose_remove(id(3)), busy);
    assert_eq!(node.propose_remove(id(4)), busy);
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.membership(), &pending);

    // The last voter.
    let mut alone = settled_goose(addressed(1, 1));
    let before = alone.membership().clone();
    assert_eq!(
        alone.propose_remove(id(1)),
        Err(MembershipError::LastVoter(id(1)))
    );
    assert_eq!(drain(&mut alone), vec![]);
    assert_eq!(alone.membership(), &before);
    assert_eq!(alone.role(), Role::Goose);
}

/// The first round the learner added at `ELECTED_AT` acknowledges.
const FIRST_ACKED_ROUND: u64 = ELECTED_AT + HEARTBEAT;

/// A settled Goose of 1..=3 that added learner 4 at `ELECTED_AT`; then
/// ticked with 2 and 3 acking every round and 4 acking the rounds
/// `learner_acks` lets through, until it proposes a change. Returns the tick
/// it did so at and that tick's outputs.
fn promotion(learner_acks: impl Fn(u64) -> bool) -> (Election, u64, Vec<Output>) {
    let mut node = settled_goose(addressed(1, 3));
    node.propose_add(id(4), &addr(4)).unwrap();
    drain(&mut node);
    let mut committed = false;
    for _ in 0..20 * TIMEOUT_MAX {
        let round = node.now_tick() + 1;
        let ackers: &[u64] = if learner_acks(round) {
            &[2, 3, 4]
        } else {
            &[2, 3]
        };
        let outputs = tick_with_acks(&mut node, ackers);
        for output in membership_outputs(&outputs) {
            if output == membership_committed(membership_id(1, 2)) && !committed {
                // The add commits with the first round that carries it.
                assert_eq!(node.now_tick(), FIRST_ACKED_ROUND);
                committed = true;
            } else {
                return (node, round, outputs);
            }
        }
    }
    panic!("no promotion");
}

#[test]
fn membership_a_joining_learner_is_promoted_once_it_has_acked_for_election_timeout_max() {
    let (mut node, promoted_at, outputs) = promotion(|_| true);

    // Acked every round from `FIRST_ACKED_ROUND`; at each round the Goose
    // checks the acks it has, which reach the previous round.
    assert_eq!(promoted_at, FIRST_ACKED_ROUND + TIMEOUT_MAX + HEARTBEAT);
    let promoted = node.membership().clone();
    assert_eq!(promoted.id(), membership_id(1, 3));
    assert_eq!(ids(promoted.voters()), [1, 2, 3, 4]);
    assert_eq!(ids(promoted.learners()), [] as [u64; 0]);
    assert_eq!(ids(promoted.joining()), [] as [u64; 0]);
    // This round's heartbeats were sent before the promotion, without it.
    assert_eq!(
        outputs,
        vec![
            send(2, heartbeat(1, promoted_at)),
            send(3, heartbeat(1, promoted_at)),
            send(4, heartbeat(1, promoted_at)),
            persist_membership(&promoted),
            membership_changed(membership_id(1, 3)),
        ]
    );
    assert_eq!(node.membership_pending(), Some(true));

    // It commits on a majority of the new voters: three of four.
    for _ in 0..HEARTBEAT {
        node.tick();
    }
    let round = promoted_at + HEARTBEAT;
    assert_eq!(
        drain(&mut node),
        vec![
            send(2, heartbeat_carrying(1, round, &promoted)),
            send(3, heartbeat_carrying(1, round, &promoted)),
            send(4, heartbeat_carrying(1, round, &promoted)),
        ]
    );
    node.handle_message(id(2), ack(1, round, membership_id(1, 3)));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.membership_pending(), Some(true));
    node.handle_message(id(4), ack(1, round, membership_id(1, 3)));
    assert_eq!(
        drain(&mut node),
        vec![membership_committed(membership_id(1, 3))]
    );
    assert_eq!(node.status().members, vec![id(1), id(2), id(3), id(4)]);
    // The new voter can take over.
    assert_eq!(node.transfer_leadership(id(4)), Ok(()));
}

#[test]
fn membership_a_gap_longer_than_election_timeout_min_restarts_the_promotion_count() {
    // The learner acks the rounds up to `last_before_gap`, then misses some.
    let last_before_gap = FIRST_ACKED_ROUND + 5 * HEARTBEAT;

    // A silence of exactly `election_timeout_min` keeps the count going.
    let resumed = last_before_gap + TIMEOUT_MIN;
    let (_, promoted_at, _) = promotion(|round| round <= last_before_gap || round >= resumed);
    assert_eq!(promoted_at, FIRST_ACKED_ROUND + TIMEOUT_MAX + HEARTBEAT);

    // One round longer, and the count starts again from the first ack after.
    let resumed = last_before_gap + TIMEOUT_MIN + HEARTBEAT;
    let (node, promoted_at, _) = promotion(|round| round <= last_before_gap || round >= resumed);
    assert_eq!(promoted_at, resumed + TIMEOUT_MAX + HEARTBEAT);
    assert_eq!(ids(node.membership().voters()), [1, 2, 3, 4]);
}

#[test]
fn membership_a_permanent_learner_is_never_promoted() {
    let mut config = addressed(1, 3);
    config.membership = config.membership.with_learners([id(4)]);
    let mut node = settled_goose(config);
    let before = node.membership().clone();
    assert!(before.is_learner(id(4)) && !before.is_joining(id(4)));

    for _ in 0..10 * TIMEOUT_MAX {
        let outputs = tick_with_acks(&mut node, &[2, 3, 4]);
        assert_eq!(membership_outputs(&outputs), vec![]);
    }

    assert_eq!(node.membership(), &before);
    assert_eq!(node.role(), Role::Goose);
}

#[test]
fn membership_a_joining_learner_neither_votes_nor_campaigns() {
    let mut goose = settled_goose(addressed(1, 3));
    goose.propose_add(id(4), &addr(4)).unwrap();
    let joined = goose.membership().clone();
    // The joiner starts from the membership it was added in.
    let mut config = config(4, 3);
    config.membership = joined.clone();
    let mut node = build(config, HardState::default(), SEED);

    let mut outputs = Vec::new();
    for _ in 0..10 * TIMEOUT_MAX {
        node.tick();
        outputs.extend(drain(&mut node));
    }
    assert_only_membership_probes(&outputs, &[1, 2, 3]);
    assert_eq!(node.campaign(), Err(CommandError::NotAVoter(id(4))));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.counters().pre_votes_started, 0);

    // A candidate holding the very same membership gets no vote.
    node.handle_message(id(1), pre_vote_holding(2, joined.id()));
    assert_eq!(drain(&mut node), vec![send(1, pre_vote_response(0, false))]);
    node.handle_message(id(1), vote_holding(2, false, joined.id()));
    assert_eq!(
        drain(&mut node),
        vec![persist(2, None), send(1, vote_response(2, false))]
    );
    // Nor does a transfer make it campaign.
    node.handle_message(id(1), timeout_now(2));
    assert_eq!(drain(&mut node), vec![dropped(1, DropReason::Unexpected)]);
    assert_eq!(node.hard_state(), hard(2, None));
}

#[test]
fn membership_voters_refuse_candidates_holding_an_older_membership() {
    let held = settled_goose(addressed(1, 3)).membership().clone();
    assert_eq!(held.id(), reissued(1));
    let mut node = unsticky_holding(addressed(2, 3), &held);
    assert_eq!(node.hard_state(), hard(1, None));

    // Older: refused, pre-vote and vote (the vote's term is still adopted),
    // and the candidate is told of the newer membership.
    node.handle_message(id(3), pre_vote_holding(2, CONFIGURED));
    assert_eq!(
        drain(&mut node),
        vec![
            send(3, pre_vote_response(1, false)),
            send(3, newer_membership(1, &held)),
        ]
    );
    // Equal or newer: granted.
    node.handle_message(id(3), pre_vote_holding(2, reissued(1)));
    assert_eq!(drain(&mut node), vec![send(3, pre_vote_response(2, true))]);
    node.handle_message(id(3), pre_vote_holding(2, membership_id(1, 2)));
    assert_eq!(drain(&mut node), vec![send(3, pre_vote_response(2, true))]);

    node.handle_message(id(3), vote_holding(2, false, CONFIGURED));
    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(None, 2),
            persist(2, None),
            send(3, vote_response(2, false)),
            send(3, newer_membership(2, &held)),
        ]
    );
    node.handle_message(id(3), vote_holding(2, false, reissued(1)));
    assert_eq!(
        drain(&mut node),
        vec![persist(2, Some(3)), send(3, vote_response(2, true))]
    );
    node.handle_message(id(1), vote_holding(3, false, membership_id(1, 2)));
    assert_eq!(
        drain(&mut node),
        vec![persist(3, Some(1)), send(1, vote_response(3, true))]
    );
}

#[test]
fn membership_a_duck_persists_an_attached_newer_membership_before_acking_it() {
    let held = settled_goose(addressed(1, 3)).membership().clone();
    let mut node = fresh(2, 3);
    node.handle_message(id(1), heartbeat(1, 0));
    drain(&mut node);
    assert_eq!(node.membership().id(), CONFIGURED);

    node.handle_message(id(1), heartbeat_carrying(1, 5, &held));

    assert_eq!(
        drain(&mut node),
        vec![
            persist_membership(&held),
            membership_changed(reissued(1)),
            send(1, ack(1, 5, reissued(1))),
        ]
    );
    assert_eq!(node.membership(), &held);
    assert_eq!(node.status().membership, reissued(1));
    assert_eq!(node.membership_pending(), None);
    assert_eq!(node.counters().membership_changes, 1);

    // The same one again (a duplicated heartbeat): nothing to persist.
    node.handle_message(id(1), heartbeat_carrying(1, 10, &held));
    assert_eq!(drain(&mut node), vec![send(1, ack(1, 10, reissued(1)))]);
    assert_eq!(node.counters().membership_changes, 1);
}

#[test]
fn membership_an_older_attached_membership_is_ignored() {
    let mut goose = settled_goose(addressed(1, 3));
    let older = goose.membership().clone();
    goose.propose_add(id(4), &addr(4)).unwrap();
    let newer = goose.membership().clone();
    let mut node = fresh(2, 3);
    node.handle_message(id(1), heartbeat_carrying(1, 35, &newer));
    drain(&mut node);

    // The heartbeat of the round before, reordered behind the newer one.
    node.handle_message(id(1), heartbeat_carrying(1, 30, &older));

    assert_eq!(
        drain(&mut node),
        vec![send(1, ack(1, 30, membership_id(1, 2)))]
    );
    assert_eq!(node.membership(), &newer);
    assert_eq!(node.counters().membership_changes, 1);
}

/// A settled Goose of 1..=4 at tick `ELECTED_AT + 2 · HEARTBEAT`: 2, 3 and 4
/// acknowledged the second round, nobody the third yet, so its lease runs
/// from the second round.
fn four_voter_goose_between_acks() -> Election {
    let mut node = settled_goose(addressed(1, 4));
    tick_with_acks(&mut node, &[]);
    while node.now_tick() < ELECTED_AT + HEARTBEAT {
        tick_with_acks(&mut node, &[2, 3, 4]);
    }
    while node.now_tick() < ELECTED_AT + 2 * HEARTBEAT {
        tick_with_acks(&mut node, &[]);
    }
    assert_eq!(node.lease_start_tick(), Some(ELECTED_AT + HEARTBEAT));
    node
}

#[test]
fn membership_while_a_change_is_pending_the_lease_needs_old_and_new_majorities() {
    let mut node = four_voter_goose_between_acks();
    let second = ELECTED_AT + HEARTBEAT;
    let third = ELECTED_AT + 2 * HEARTBEAT;

    // Old voters 1..=4 (a majority is 3), new voters 1..=3 (2).
    assert_eq!(node.propose_remove(id(4)), Ok(membership_id(1, 2)));
    drain(&mut node);
    assert_eq!(node.lease_start_tick(), Some(second));

    // 2 acks the third round: with the Goose, a majority of the new voters
    // has it, but only two of the four old ones. The lease stays put.
    node.handle_message(id(2), ack(1, third, reissued(1)));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.lease_start_tick(), Some(second));
    assert_eq!(
        node.lease_remaining_ticks(),
        Some(second + LEASE - node.now_tick())
    );

    // 4, which is being removed, makes the old majority: now it moves.
    node.handle_message(id(4), ack(1, third, reissued(1)));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.lease_start_tick(), Some(third));
}

#[test]
fn membership_a_removed_peer_gets_no_heartbeats_after_commit_and_is_dropped() {
    let mut node = settled_goose(addressed(1, 3));
    assert_eq!(node.propose_remove(id(3)), Ok(membership_id(1, 2)));
    let removed = node.membership().clone();
    assert_eq!(ids(removed.members()), [1, 2]);
    assert_eq!(removed.address(id(3)), None);
    drain(&mut node);

    // While pending, 3 still gets heartbeats (its acks count for the old
    // majority), carrying the membership without it.
    for _ in 0..HEARTBEAT {
        node.tick();
    }
    let round = ELECTED_AT + HEARTBEAT;
    assert_eq!(
        drain(&mut node),
        vec![
            send(2, heartbeat_carrying(1, round, &removed)),
            send(3, heartbeat_carrying(1, round, &removed)),
        ]
    );
    node.handle_message(id(3), ack(1, round, membership_id(1, 2)));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.membership_pending(), Some(true));
    node.handle_message(id(2), ack(1, round, membership_id(1, 2)));
    assert_eq!(
        drain(&mut node),
        vec![membership_committed(membership_id(1, 2))]
    );

    // Committed: 3 gets nothing more, and what it sends is dropped.
    for _ in 0..HEARTBEAT {
        node.tick();
    }
    assert_eq!(
        drain(&mut node),
        vec![send(2, heartbeat(1, round + HEARTBEAT))]
    );
    node.handle_message(id(3), ack(1, round + HEARTBEAT, membership_id(1, 2)));
    assert_eq!(drain(&mut node), vec![dropped(3, DropReason::NotMember)]);
    node.handle_message(id(3), pre_vote_holding(2, membership_id(1, 2)));
    assert_eq!(drain(&mut node), vec![dropped(3, DropReason::NotMember)]);
    assert_eq!(node.counters().dropped_not_member, 2);

    // So does a Duck holding the new membership.
    let mut duck = fresh(2, 3);
    duck.handle_message(id(1), heartbeat_carrying(1, round, &removed));
    drain(&mut duck);
    for msg in [pre_vote(2), vote(2, true), leave(1)] {
        duck.handle_message(id(3), msg.clone());
        assert_eq!(
            drain(&mut duck),
            vec![dropped(3, DropReason::NotMember)],
            "{msg:?}"
        );
    }
}

/// Duck 2 of voters 1-3 that adopted `without_goose` from Goose 1.
fn duck_following_removed_goose(without_goose: &Membership) -> Election {
    let mut duck = fresh(2, 3);
    duck.handle_message(id(1), heartbeat_carrying(1, 0, without_goose));
    drain(&mut duck);
    duck
}

// A Goose that removes itself leads until the removal commits, and it is
// the Ducks' acks that commit it: a Duck holding the new membership keeps
// answering the Goose it follows, and drops it once it follows another.
#[test]
fn membership_a_duck_keeps_answering_the_goose_that_removed_itself() {
    let mut goose = settled_goose(addressed(1, 3));
    goose.propose_remove(id(1)).unwrap();
    let without_goose = goose.membership().clone();
    assert_eq!(without_goose.id(), membership_id(1, 2));
    let mut duck = fresh(2, 3);
    duck.handle_message(id(1), heartbeat_carrying(1, 0, &without_goose));
    assert_eq!(
        drain(&mut duck),
        vec![
            leader_changed(Some(1), 1),
            persist(1, None),
            persist_membership(&without_goose),
            membership_changed(membership_id(1, 2)),
            send(1, ack(1, 0, membership_id(1, 2))),
        ]
    );
    duck.handle_message(id(1), heartbeat(1, 5));
    assert_eq!(
        drain(&mut duck),
        vec![send(1, ack(1, 5, membership_id(1, 2)))]
    );
    // Its hand-over at commit is taken: a transfer election, at once.
    let mut successor = duck_following_removed_goose(&without_goose);
    successor.handle_message(id(1), timeout_now(1));
    let outputs = drain(&mut successor);
    assert!(
        outputs.contains(&send(3, vote_holding(2, true, membership_id(1, 2)))),
        "{outputs:?}"
    );
    // The Goose of a later term replaces it; the old one is a stranger now.
    duck.handle_message(id(3), heartbeat(2, 0));
    drain(&mut duck);
    duck.handle_message(id(1), heartbeat(1, 10));
    assert_eq!(drain(&mut duck), vec![dropped(1, DropReason::NotMember)]);
}

#[test]
fn membership_a_removed_duck_never_campaigns_again() {
    let mut goose = settled_goose(addressed(1, 3));
    goose.propose_remove(id(3)).unwrap();
    let removed = goose.membership().clone();
    let mut node = fresh(3, 3);

    node.handle_message(id(1), heartbeat_carrying(1, 35, &removed));

    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(Some(1), 1),
            persist(1, None),
            persist_membership(&removed),
            membership_changed(membership_id(1, 2)),
            send(1, ack(1, 35, membership_id(1, 2))),
        ]
    );
    assert!(!node.membership().contains(id(3)));
    for _ in 0..10 * TIMEOUT_MAX {
        node.tick();
        assert_eq!(drain(&mut node), vec![]);
    }
    assert_eq!(node.campaign(), Err(CommandError::NotAVoter(id(3))));
    node.handle_message(id(1), timeout_now(1));
    assert_eq!(drain(&mut node), vec![dropped(1, DropReason::Unexpected)]);
    assert_eq!(node.counters().pre_votes_started, 0);
    assert_eq!(node.counters().elections_started, 0);
    assert_eq!(node.hard_state(), hard(1, None));
}

#[test]
fn membership_a_goose_that_removed_itself_steps_down_at_commit_and_hands_over() {
    let mut node = settled_goose(addressed(1, 3));
    assert_eq!(node.propose_remove(id(1)), Ok(membership_id(1, 2)));
    let removed = node.membership().clone();
    assert_eq!(ids(removed.voters()), [2, 3]);
    assert_eq!(
        drain(&mut node),
        vec![
            persist_membership(&removed),
            membership_changed(membership_id(1, 2)),
        ]
    );
    // It leads until the change commits.
    assert_eq!(node.role(), Role::Goose);
    for _ in 0..HEARTBEAT {
        node.tick();
    }
    let round = ELECTED_AT + HEARTBEAT;
    assert_eq!(
        drain(&mut node),
        vec![
            send(2, heartbeat_carrying(1, round, &removed)),
            send(3, heartbeat_carrying(1, round, &removed)),
        ]
    );
    // The new voters are 2 and 3: both must hold it.
    node.handle_message(id(2), ack(1, round, membership_id(1, 2)));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.role(), Role::Goose);

    node.handle_message(id(3), ack(1, round, membership_id(1, 2)));

    assert_eq!(
        drain(&mut node),
        vec![
            membership_committed(membership_id(1, 2)),
            leader_changed(None, 1),
            role_changed(Role::Duck, 1, RoleChangeReason::Removed),
            send(2, timeout_now(1)),
        ]
    );
    assert_eq!(node.role(), Role::Duck);
    assert_eq!(node.membership_pending(), None);
    for _ in 0..10 * TIMEOUT_MAX {
        node.tick();
        assert_eq!(drain(&mut node), vec![]);
    }
    assert_eq!(node.campaign(), Err(CommandError::NotAVoter(id(1))));
}

#[test]
fn membership_leave_a_duck_asks_the_goose_with_every_heartbeat_until_removed() {
    let mut goose = settled_goose(addressed(1, 3));
    let held = goose.membership().clone();
    let mut node = fresh(2, 3);
    node.handle_message(id(1), heartbeat_carrying(1, ELECTED_AT, &held));
    drain(&mut node);

    assert_eq!(node.leave(), Ok(()));
    assert_eq!(drain(&mut node), vec![send(1, leave(1))]);
    for sent_tick in [35, 40] {
        node.handle_message(id(1), heartbeat(1, sent_tick));
        assert_eq!(
            drain(&mut node),
            vec![send(1, ack(1, sent_tick, reissued(1))), send(1, leave(1))]
        );
    }

    // The Goose proposes the removal.
    goose.handle_message(id(2), leave(1));
    let without = goose.membership().clone();
    assert_eq!(without.id(), membership_id(1, 2));
    assert_eq!(ids(without.members()), [1, 3]);
    assert_eq!(
        drain(&mut goose),
        vec![
            persist_membership(&without),
            membership_changed(membership_id(1, 2)),
        ]
    );

    // Once the Duck holds it, it stops asking.
    node.handle_message(id(1), heartbeat_carrying(1, 45, &without));
    assert_eq!(
        drain(&mut node),
        vec![
            persist_membership(&without),
            membership_changed(membership_id(1, 2)),
            send(1, ack(1, 45, membership_id(1, 2))),
        ]
    );
    node.handle_message(id(1), heartbeat(1, 50));
    assert_eq!(
        drain(&mut node),
        vec![send(1, ack(1, 50, membership_id(1, 2)))]
    );
    assert_eq!(node.leave(), Err(MembershipError::NotAMember(id(2))));
}

#[test]
fn membership_leave_without_a_known_goose_asks_the_first_one_heard() {
    let mut node = fresh(2, 3);
    assert_eq!(node.leave(), Ok(()));
    assert_eq!(drain(&mut node), vec![]);

    node.handle_message(id(1), heartbeat(1, 0));

    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(Some(1), 1),
            persist(1, None),
            send(1, ack(1, 0, CONFIGURED)),
            send(1, leave(1)),
        ]
    );

    // The last voter cannot leave.
    let mut alone = settled_goose(addressed(1, 1));
    assert_eq!(alone.leave(), Err(MembershipError::LastVoter(id(1))));
    assert_eq!(drain(&mut alone), vec![]);
}

#[test]
fn membership_leave_a_busy_goose_ignores_the_request_and_a_duck_drops_it() {
    // The re-issue is not committed yet: the member will ask again.
    let mut node = unsticky(addressed(1, 3), HardState::default());
    node.campaign().unwrap();
    node.handle_message(id(2), pre_vote_response(1, true));
    node.handle_message(id(2), vote_response(1, true));
    drain(&mut node);
    let before = node.membership().clone();
    node.handle_message(id(3), leave(1));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.membership(), &before);
    assert_eq!(node.counters().dropped_total(), 0);

    let mut duck = follower(2, 3, 1, 1);
    duck.handle_message(id(3), leave(1));
    assert_eq!(drain(&mut duck), vec![dropped(3, DropReason::Unexpected)]);
}

#[test]
fn membership_leave_a_goose_hands_over_then_asks_the_new_goose() {
    let mut old = settled_goose(addressed(1, 3));
    let held = old.membership().clone();
    let mut next = fresh(2, 3);
    next.handle_message(id(1), heartbeat_carrying(1, ELECTED_AT, &held));
    drain(&mut next);
    // 2 is the most responsive Duck.
    for _ in 0..HEARTBEAT {
        old.tick();
    }
    drain(&mut old);
    old.handle_message(id(2), ack(1, ELECTED_AT + HEARTBEAT, reissued(1)));
    drain(&mut old);

    assert_eq!(old.leave(), Ok(()));

    // Hands over first; it knows no Goose to ask yet.
    assert_eq!(
        drain(&mut old),
        vec![
            leader_changed(None, 1),
            role_changed(Role::Duck, 1, RoleChangeReason::Transfer),
            send(2, timeout_now(1)),
        ]
    );
    next.handle_message(id(1), timeout_now(1));
    assert_eq!(
        drain(&mut next),
        vec![
            leader_changed(None, 1),
            persist(2, Some(2)),
            election_started(2, false),
            send(1, vote_holding(2, true, reissued(1))),
            send(3, vote_holding(2, true, reissued(1))),
        ]
    );
    old.handle_message(id(2), vote_holding(2, true, reissued(1)));
    assert_eq!(
        drain(&mut old),
        vec![persist(2, Some(2)), send(2, vote_response(2, true))]
    );
    next.handle_message(id(1), vote_response(2, true));
    assert_eq!(
        drain(&mut next),
        vec![
            leader_changed(Some(2), 2),
            send(1, heartbeat(2, 0)),
            send(3, heartbeat(2, 0)),
        ]
    );

    // The old Goose asks the new one with its ack; too early: the new
    // Goose is not confirmed, so the request is set aside. The ack gives the
    // lease, which brings the re-issue, in the same round sent again.
    old.handle_message(id(2), heartbeat(2, 0));
    assert_eq!(
        drain(&mut old),
        vec![
            leader_changed(Some(2), 2),
            send(2, ack(2, 0, reissued(1))),
            send(2, leave(2)),
        ]
    );
    next.handle_message(id(1), ack(2, 0, reissued(1)));
    next.handle_message(id(1), leave(2));
    let reissue = next.membership().clone();
    // Version 2: the one after the re-issue it held.
    assert_eq!(reissue.id(), membership_id(2, 2));
    assert_eq!(
        drain(&mut next),
        vec![
            role_changed(Role::Goose, 2, RoleChangeReason::Elected),
            persist_membership(&reissue),
            membership_changed(membership_id(2, 2)),
            send(1, heartbeat_carrying(2, 0, &reissue)),
            send(3, heartbeat_carrying(2, 0, &reissue)),
        ]
    );

    // The same round carrying the re-issue follows; the old Goose asks
    // again with the ack that commits it, and this time the removal is
    // proposed.
    old.handle_message(id(2), heartbeat_carrying(2, 0, &reissue));
    assert_eq!(
        drain(&mut old),
        vec![
            persist_membership(&reissue),
            membership_changed(membership_id(2, 2)),
            send(2, ack(2, 0, membership_id(2, 2))),
            send(2, leave(2)),
        ]
    );
    next.handle_message(id(1), ack(2, 0, membership_id(2, 2)));
    assert_eq!(
        drain(&mut next),
        vec![membership_committed(membership_id(2, 2))]
    );
    next.handle_message(id(1), leave(2));
    let without = next.membership().clone();
    assert_eq!(ids(without.members()), [2, 3]);
    assert_eq!(
        drain(&mut next),
        vec![
            persist_membership(&without),
            membership_changed(membership_id(2, 3)),
        ]
    );
}

// A Goose that called `leave()` hands over; if that `TimeoutNow` is lost, it
// may be elected again (it still campaigns: if every voter is leaving,
// somebody must lead), and it then removes itself once its re-issue commits.
#[test]
fn membership_leave_a_leaving_node_elected_again_removes_itself() {
    let mut node = settled_goose(addressed(1, 3));
    node.leave().unwrap();
    // The TimeoutNow to 2 is lost.
    drain(&mut node);

    let (_, outputs) = ticks_until_election(&mut node);
    assert_eq!(
        outputs,
        vec![
            election_started(2, true),
            send(2, pre_vote_holding(2, reissued(1))),
            send(3, pre_vote_holding(2, reissued(1))),
        ]
    );
    node.handle_message(id(3), pre_vote_response(2, true));
    node.handle_message(id(3), vote_response(2, true));
    let elected_at = node.now_tick();
    drain(&mut node);
    node.handle_message(id(3), ack(2, elected_at, reissued(1)));
    drain(&mut node);
    node.handle_message(id(3), ack(2, elected_at, membership_id(2, 2)));
    let outputs = drain(&mut node);
    let removal = node.membership().clone();
    assert!(!removal.contains(id(1)));
    assert_eq!(removal.id(), membership_id(2, 3));
    assert_eq!(
        outputs,
        vec![
            membership_committed(membership_id(2, 2)),
            persist_membership(&removal),
            membership_changed(membership_id(2, 3)),
        ]
    );
    assert_eq!(node.membership_pending(), Some(true));
}

#[test]
fn membership_a_cluster_adds_promotes_and_loses_members() {
    let mut cluster = Cluster::new(3, 5);
    let goose = cluster.run_until_goose(1_000);
    cluster.run_until(100, |c| c.get(goose).membership_pending() == Some(false));

    // Add 4, started from the membership it was added in.
    cluster.node(goose.0).propose_add(id(4), &addr(4)).unwrap();
    let mut joiner = config(4, 3);
    joiner.membership = cluster.get(goose).membership().clone();
    cluster.join(build(joiner, HardState::default(), 4));
    cluster.pump();
    // Promoted and committed, everyone holding it.
    cluster.run_until(4 * TIMEOUT_MAX, |c| {
        c.get(goose).membership_pending() == Some(false)
            && c.net.nodes().iter().all(|n| n.membership().is_voter(id(4)))
    });
    assert_eq!(cluster.geese(), vec![goose]);

    // A Duck leaves.
    let duck = if goose == id(1) { id(2) } else { id(1) };
    cluster.node(duck.0).leave().unwrap();
    cluster.run_until(4 * HEARTBEAT, |c| {
        c.get(goose).membership_pending() == Some(false)
            && c.net.nodes().iter().all(|n| !n.membership().contains(duck))
    });
    let log_len = cluster.net.outputs().len();
    for _ in 0..5 * TIMEOUT_MAX {
        cluster.tick();
    }
    assert!(
        !cluster.net.outputs()[log_len..]
            .iter()
            .any(|logged| logged.node == duck
                || matches!(&logged.output, Output::Send { to, .. } if *to == duck)),
        "the removed node neither gets nor sends anything"
    );
    assert_eq!(cluster.geese(), vec![goose]);

    // The Goose leaves: it hands over, and the next Goose removes it.
    cluster.node(goose.0).leave().unwrap();
    let pre_votes_started = cluster.get(goose).counters().pre_votes_started;
    cluster.run_until(10 * TIMEOUT_MAX, |c| {
        matches!(c.geese()[..], [next] if next != goose
            && c.get(next).membership_pending() == Some(false)
            && !c.get(next).membership().contains(goose))
    });
    let [next] = cluster.geese()[..] else {
        unreachable!()
    };
    assert_eq!(
        ids(cluster.get(next).membership().voters()),
        ids([1, 2, 3, 4]
            .map(NodeId)
            .into_iter()
            .filter(|n| *n != duck && *n != goose))
    );
    cluster.run_until(4 * HEARTBEAT, |c| {
        !c.get(goose).membership().contains(goose)
    });
    for _ in 0..5 * TIMEOUT_MAX {
        cluster.tick();
    }
    assert_eq!(cluster.geese(), vec![next]);
    // Removed, it never campaigned again.
    assert_eq!(
        cluster.get(goose).counters().pre_votes_started,
        pre_votes_started
    );
}

// ----- membership: liveness across uncommitted changes ------------------------

/// Goose 1 of voters 1-3 with joining learner 4 promoted, the promotion
/// still pending: 4 has not acknowledged it yet. Returns the Goose and the
/// membership before the promotion (4 a learner) and after it.
fn goose_promoting_4() -> (Election, Membership, Membership) {
    let mut goose = settled_goose(addressed(1, 3));
    goose.propose_add(id(4), &addr(4)).unwrap();
    let joined = goose.membership().clone();
    drain(&mut goose);
    let mut ticks = 0;
    while goose.membership().id() == joined.id() {
        tick_with_acks(&mut goose, &[2, 3, 4]);
        ticks += 1;
        assert!(ticks < 10 * TIMEOUT_MAX, "4 never promoted");
    }
    let promoted = goose.membership().clone();
    assert!(promoted.is_voter(id(4)));
    assert_eq!(goose.membership_pending(), Some(true));
    (goose, joined, promoted)
}

/// Node `me` restarted from `membership` (which it may not be in) at term
/// `term`, past its start-up stickiness.
fn restarted(me: u64, membership: &Membership, term: u64) -> Election {
    let mut config = addressed(me, 3);
    config.membership = membership.clone();
    let mut node = build(config, hard(term, None), me);
    for _ in 0..TIMEOUT_MIN {
        node.tick();
    }
    drain(&mut node);
    node
}

// An uncommitted promotion must not deadlock: the learner being promoted,
// which has not heard of it, grants its vote to a candidate holding the
// promotion (where it is a voter), though it refuses one holding its own.
#[test]
fn membership_a_learner_votes_for_a_candidate_holding_its_promotion() {
    let (_goose, joined, promoted) = goose_promoting_4();
    let mut learner = restarted(4, &joined, 1);
    learner.handle_message(id(2), pre_vote_holding(2, promoted.id()));
    assert_eq!(
        drain(&mut learner),
        vec![send(2, pre_vote_response(2, true))]
    );
    learner.handle_message(id(2), vote_holding(2, false, promoted.id()));
    assert_eq!(
        drain(&mut learner),
        vec![persist(2, Some(2)), send(2, vote_response(2, true))]
    );
    // Holding the learner's own membership, the candidate cannot count it.
    let mut learner = restarted(4, &joined, 1);
    learner.handle_message(id(2), vote_holding(2, false, joined.id()));
    assert_eq!(
        drain(&mut learner),
        vec![persist(2, None), send(2, vote_response(2, false))]
    );
}

// An uncommitted removal must not deadlock: a node outside its own
// membership (it holds its removal) grants its vote to a candidate holding
// the membership just before (same Goose, one version older), which may
// still need it; nothing older, and nothing it is not a voter of.
#[test]
fn membership_a_removed_node_votes_only_for_the_membership_just_before_its_removal() {
    let mut goose = settled_goose(addressed(1, 3));
    goose.propose_remove(id(3)).unwrap();
    let removal = goose.membership().clone();
    assert_eq!(removal.id(), membership_id(1, 2));

    let mut removed = restarted(3, &removal, 1);
    assert_eq!(removed.campaign(), Err(CommandError::NotAVoter(id(3))));
    removed.handle_message(id(2), pre_vote_holding(2, reissued(1)));
    assert_eq!(
        drain(&mut removed),
        vec![send(2, pre_vote_response(2, true))]
    );
    removed.handle_message(id(2), vote_holding(2, false, reissued(1)));
    assert_eq!(
        drain(&mut removed),
        vec![persist(2, Some(2)), send(2, vote_response(2, true))]
    );

    let mut removed = restarted(3, &removal, 1);
    removed.handle_message(id(2), pre_vote_holding(2, MembershipId::default()));
    assert_eq!(
        drain(&mut removed),
        vec![
            send(2, pre_vote_response(1, false)),
            send(2, newer_membership(1, &removal)),
        ]
    );
    removed.handle_message(id(2), pre_vote_holding(2, removal.id()));
    assert_eq!(
        drain(&mut removed),
        vec![send(2, pre_vote_response(1, false))]
    );
}

// A node may start outside a membership changed at run time (it was
// removed, perhaps by a change that never committed); it never campaigns.
// A configured membership that does not name it is still a typo.
#[test]
fn membership_a_node_starts_outside_a_changed_membership_but_never_campaigns() {
    let mut goose = settled_goose(addressed(1, 3));
    goose.propose_remove(id(3)).unwrap();
    let removal = goose.membership().clone();
    let mut removed = restarted(3, &removal, 1);
    for _ in 0..4 * TIMEOUT_MAX {
        removed.tick();
        assert!(
            !drain(&mut removed).iter().any(is_election_started),
            "a removed node campaigned"
        );
    }

    let mut typo = addressed(9, 3);
    typo.membership = Membership::new([id(1), id(2), id(3)]);
    assert_eq!(
        Election::new(typo, HardState::default(), 1).err(),
        Some(ConfigError::NotAMember { id: id(9) })
    );
}

// A member that missed changes does not know the Goose that joined after
// them; it adopts a newer membership from that Goose when it names both, and
// still drops strangers otherwise.
#[test]
fn membership_a_lagging_member_adopts_a_membership_from_a_goose_it_did_not_know() {
    let (mut goose, _, promoted) = goose_promoting_4();
    // Let 2 and 3 acknowledge the promotion so that it commits.
    while goose.membership_pending() == Some(true) {
        tick_with_acks(&mut goose, &[2, 3, 4]);
    }
    let mut lagging = fresh(2, 3);
    let heartbeat_from_4 = heartbeat_carrying(2, 0, &promoted);
    lagging.handle_message(id(4), heartbeat_from_4);
    let outputs = drain(&mut lagging);
    assert_eq!(lagging.membership().id(), promoted.id());
    assert_eq!(
        outputs.last(),
        Some(&send(4, ack(2, 0, promoted.id()))),
        "{outputs:?}"
    );

    // Not naming the receiver, or without a membership: a stranger still.
    let mut other = fresh(2, 3);
    other.handle_message(id(4), heartbeat(2, 0));
    assert_eq!(drain(&mut other), vec![dropped(4, DropReason::NotMember)]);
    let mut without_2 = settled_goose(addressed(1, 3));
    without_2.propose_remove(id(2)).unwrap();
    let not_naming = without_2.membership().clone();
    other.handle_message(id(5), heartbeat_carrying(2, 0, &not_naming));
    assert_eq!(drain(&mut other), vec![dropped(5, DropReason::NotMember)]);
}

// `step_down` hands over only to a voter that knows it is one: a learner
// whose promotion has not reached it would drop the `TimeoutNow`.
#[test]
fn membership_step_down_skips_a_voter_that_has_not_acknowledged_its_promotion() {
    let (mut goose, joined, _) = goose_promoting_4();
    for _ in 0..HEARTBEAT {
        goose.tick();
    }
    let last_round = goose.now_tick();
    drain(&mut goose);
    goose.handle_message(id(4), ack(1, last_round, joined.id()));
    drain(&mut goose);
    // 4's ack is the newest, but it holds the membership before its
    // promotion: the hand-over goes to 2, the most responsive that knows.
    goose.step_down().unwrap();
    let outputs = drain(&mut goose);
    assert!(outputs.contains(&send(2, timeout_now(1))), "{outputs:?}");
    assert!(!outputs.contains(&send(4, timeout_now(1))), "{outputs:?}");
}

// A candidate refused for holding an older membership adopts the newer one
// it is sent, whatever the sender's term, and abandons the campaign it ran
// on the old one. This is how a member that missed changes catches up when
// no Goose exists (or the Goose is a node it never heard of).
#[test]
fn membership_a_stale_candidate_adopts_the_newer_membership_it_is_sent() {
    let held = settled_goose(addressed(1, 3)).membership().clone();
    let mut stale = unsticky_voter(3, 3, hard(1, None));
    let (_, outputs) = ticks_until_election(&mut stale);
    assert!(outputs.iter().any(is_election_started));

    stale.handle_message(id(2), newer_membership(1, &held));
    assert_eq!(
        drain(&mut stale),
        vec![persist_membership(&held), membership_changed(held.id()),]
    );
    assert_eq!(stale.membership().id(), held.id());
    // No longer a pre-candidate: a late grant means nothing.
    stale.handle_message(id(2), pre_vote_response(2, true));
    assert_eq!(drain(&mut stale), vec![dropped(2, DropReason::Unexpected)]);

    // An older or equal one changes nothing, whatever its term.
    stale.handle_message(id(2), newer_membership(0, &held));
    stale.handle_message(
        id(2),
        Message::NewerMembership {
            term: Term(1),
            membership: Box::new(Membership::new([id(1), id(2), id(3)])),
        },
    );
    assert_eq!(drain(&mut stale), vec![]);
}

// A leaving Goose with no voter able to take over (its only other voter is
// being promoted and does not know it yet) removes itself once the change
// in progress commits, and then hands over to that voter.
#[test]
fn membership_leave_a_goose_nobody_can_take_over_from_removes_itself_after_the_change() {
    let mut goose = settled_goose(addressed(1, 1));
    goose.propose_add(id(2), &addr(2)).unwrap();
    drain(&mut goose);
    let mut ticks = 0;
    while !goose.membership().is_voter(id(2)) {
        tick_with_acks(&mut goose, &[2]);
        ticks += 1;
        assert!(ticks < 10 * TIMEOUT_MAX, "2 never promoted");
    }
    let promotion = goose.membership().id();
    assert_eq!(goose.membership_pending(), Some(true));

    assert_eq!(goose.leave(), Ok(()));
    // Nothing to hand over to, nothing sent to itself, still leading.
    let outputs = drain(&mut goose);
    assert!(
        !outputs
            .iter()
            .any(|o| matches!(o, Output::Send { to, .. } if *to == id(1))),
        "{outputs:?}"
    );
    assert_eq!(goose.membership().id(), promotion);

    // 2 acknowledges the promotion: it commits, and the removal follows.
    let mut outputs = Vec::new();
    while goose.membership().contains(id(1)) {
        outputs.extend(tick_with_acks(&mut goose, &[2]));
        ticks += 1;
        assert!(ticks < 20 * TIMEOUT_MAX, "1 never removed itself");
    }
    // Then that commits too, and the Goose hands over to 2.
    while goose.membership_pending().is_some() {
        outputs.extend(tick_with_acks(&mut goose, &[2]));
        ticks += 1;
        assert!(ticks < 30 * TIMEOUT_MAX, "the removal never committed");
    }
    assert!(outputs.contains(&send(2, timeout_now(1))), "{outputs:?}");
    assert_eq!(goose.role(), Role::Duck);
}

// A learner that hears from no Goose asks the voters whether its membership
// is current; a voter holding a newer one sends it, and the learner adopts
// it. A probe never moves anyone's term.
#[test]
fn membership_a_learner_cut_off_probes_and_catches_up() {
    let held = settled_goose(with_learner(1)).membership().clone();
    assert!(held.is_learner(id(4)));
    let mut voter = unsticky_holding(with_learner(2), &held);
    voter.handle_message(
        id(4),
        Message::MembershipProbe {
            term: Term(7),
            membership: CONFIGURED,
        },
    );
    assert_eq!(drain(&mut voter), vec![send(4, newer_membership(1, &held))]);
    assert_eq!(voter.term(), Term(1));
    // Current: nothing to say.
    voter.handle_message(
        id(4),
        Message::MembershipProbe {
            term: Term(1),
            membership: held.id(),
        },
    );
    assert_eq!(drain(&mut voter), vec![]);
}
