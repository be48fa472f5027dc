//! Tickless time: `next_deadline_tick` names the first tick at which
//! ticking does anything, for each role, and `advance_to` is the same as
//! ticking one tick at a time (a property test drives random inputs both
//! ways and compares every output and getter).

use duckduckgoose::core::{Election, HardState, MembershipId, Message, Output, Role, Status, Term};
use proptest::prelude::*;

use crate::support::*;

/// Ticks `node` one tick at a time until a tick queues an output; returns
/// that tick.
fn first_busy_tick(node: &mut Election) -> u64 {
    for _ in 0..10_000 {
        node.tick();
        if !drain(node).is_empty() {
            return node.now_tick();
        }
    }
    panic!("nothing happened in 10 000 ticks");
}

// ----- each role -----

#[test]
fn a_fresh_duck_is_due_at_its_election_timeout() {
    let mut node = fresh(1, 3);
    let due = node.next_deadline_tick().expect("a voter's timer runs");
    assert!((TIMEOUT_MIN..TIMEOUT_MAX).contains(&due));
    assert_eq!(due, first_timeout_tick(&config(1, 3), SEED));
    assert_eq!(first_busy_tick(&mut node), due);
}

#[test]
fn a_duck_hearing_its_goose_is_due_a_new_timeout_after_it() {
    let mut node = fresh(1, 3);
    for _ in 0..10 {
        node.tick();
    }
    node.handle_message(id(2), heartbeat(1, 0));
    drain(&mut node);
    let due = node.next_deadline_tick().expect("a voter's timer runs");
    assert!((10 + TIMEOUT_MIN..10 + TIMEOUT_MAX).contains(&due));
    assert_eq!(first_busy_tick(&mut node), due);
}

#[test]
fn a_candidate_is_due_at_its_campaign_timeout() {
    let mut node = candidate(3);
    let due = node.next_deadline_tick().expect("a candidate's timer runs");
    assert!((CAMPAIGN_AT + TIMEOUT_MIN..CAMPAIGN_AT + TIMEOUT_MAX).contains(&due));
    assert_eq!(first_busy_tick(&mut node), due);
    assert_eq!(node.term(), Term(1), "a pre-vote round again, same term");
}

#[test]
fn a_goose_is_due_at_its_next_heartbeat_round() {
    let mut node = goose(1, 3);
    assert_eq!(node.now_tick(), ELECTED_AT);
    assert_eq!(node.next_deadline_tick(), Some(ELECTED_AT + HEARTBEAT));
    node.advance_to(ELECTED_AT + HEARTBEAT);
    assert_eq!(drain(&mut node).len(), 2, "a heartbeat to each peer");
    assert_eq!(node.next_deadline_tick(), Some(ELECTED_AT + 2 * HEARTBEAT));
}

/// With a heartbeat of 7 ticks, rounds leave at 30, 37, 44, 51 and 58; the
/// lease of round 30 ends at 55, between two rounds: that is when the
/// role flips and the Goose steps down.
#[test]
fn a_cut_off_goose_is_due_at_its_lease_end_between_rounds() {
    let mut config = config(1, 3);
    config.heartbeat_interval_ticks = 7;
    let mut node = unsticky(config, HardState::default());
    elect(&mut node);
    let lease_end = ELECTED_AT + LEASE;
    node.advance_to(51);
    drain(&mut node);
    assert_eq!(node.role(), Role::Goose);
    assert_eq!(node.next_deadline_tick(), Some(lease_end));
    node.advance_to(lease_end - 1);
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.role(), Role::Goose);
    node.advance_to(lease_end);
    assert_eq!(node.role(), Role::Duck);
    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(None, 1),
            role_changed(
                Role::Duck,
                1,
                duckduckgoose::core::RoleChangeReason::LeaseExpired
            )
        ]
    );
}

#[test]
fn a_goose_without_check_quorum_is_due_only_at_its_rounds() {
    let mut config = config(1, 3);
    config.heartbeat_interval_ticks = 7;
    config.check_quorum = false;
    let mut node = unsticky(config, HardState::default());
    elect(&mut node);
    node.advance_to(51);
    drain(&mut node);
    assert_eq!(node.next_deadline_tick(), Some(58));
}

#[test]
fn a_member_learner_is_due_at_its_probe_and_a_removed_node_never() {
    let mut learner = build(with_learner(4), HardState::default(), SEED);
    let due = learner.next_deadline_tick().expect("a learner probes");
    assert_eq!(first_busy_tick(&mut learner), due);

    // Removed by Goose 1, the learner learns of it from the last heartbeat
    // it gets: outside the membership, it has no timer at all.
    let mut goose = settled_goose(with_learner(1));
    goose.propose_remove(id(4)).expect("no change in progress");
    drain(&mut goose);
    let farewell = (0..20)
        .flat_map(|_| tick_with_acks(&mut goose, &[2, 3]))
        .find_map(|output| match output {
            Output::Send { to, msg } if to == id(4) => match &msg {
                Message::Heartbeat {
                    membership: Some(membership),
                    ..
                } if !membership.contains(id(4)) => Some(msg),
                _ => None,
            },
            _ => None,
        })
        .expect("a last heartbeat tells node 4 of its removal");
    learner.handle_message(id(1), farewell);
    drain(&mut learner);
    assert!(!learner.membership().contains(id(4)));
    assert_eq!(learner.next_deadline_tick(), None);
}

#[test]
fn advancing_to_now_or_before_changes_nothing() {
    let mut node = goose(1, 3);
    let before = node.status();
    node.advance_to(ELECTED_AT);
    node.advance_to(0);
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!((node.status(), node.now_tick()), (before, ELECTED_AT));
}

// ----- ticking and advancing are the same -----

/// One random input, resolved against the node's state when applied (so
/// that terms and ticks are plausible whatever came before).
#[derive(Clone, Debug)]
enum Input {
    /// Local time passes by this many ticks.
    Ticks(u64),
    /// A message from peer `from` (2..=4) in the node's term plus `ahead`.
    Msg {
        from: u64,
        ahead: u64,
        kind: Kind,
    },
    Campaign,
    StepDown,
    Transfer(u64),
    AddLearner,
    RemovePeer(u64),
    Leave,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Heartbeat,
    /// An ack of the round `back` ticks ago, holding the node's membership
    /// (or the configured one).
    Ack {
        back: u64,
        current: bool,
    },
    PreVote,
    Vote {
        transfer: bool,
    },
    PreVoteResponse {
        granted: bool,
    },
    VoteResponse {
        granted: bool,
    },
    TimeoutNow,
    Leave,
}

fn arb_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        2 => Just(Kind::Heartbeat),
        6 => (0..12u64, any::<bool>()).prop_map(|(back, current)| Kind::Ack { back, current }),
        1 => Just(Kind::PreVote),
        1 => any::<bool>().prop_map(|transfer| Kind::Vote { transfer }),
        3 => any::<bool>().prop_map(|granted| Kind::PreVoteResponse { granted }),
        3 => any::<bool>().prop_map(|granted| Kind::VoteResponse { granted }),
        1 => Just(Kind::TimeoutNow),
        1 => Just(Kind::Leave),
    ]
}

fn arb_input() -> impl Strategy<Value = Input> {
    prop_oneof![
        8 => (0..90u64).prop_map(Input::Ticks),
        10 => (2..=4u64, prop_oneof![3 => Just(0u64), 1 => Just(1u64)], arb_kind())
            .prop_map(|(from, ahead, kind)| Input::Msg { from, ahead, kind }),
        2 => Just(Input::Campaign),
        1 => Just(Input::StepDown),
        1 => (2..=4u64).prop_map(Input::Transfer),
        1 => Just(Input::AddLearner),
        1 => (2..=4u64).prop_map(Input::RemovePeer),
        1 => Just(Input::Leave),
    ]
}

/// The message `kind` from the node's point of view now.
fn message(node: &Election, ahead: u64, kind: Kind) -> Message {
    let term = Term(node.term().0 + ahead);
    let membership = node.membership().id();
    match kind {
        Kind::Heartbeat => Message::Heartbeat {
            term,
            sent_tick: node.now_tick(),
            membership: None,
        },
        Kind::Ack { back, current } => Message::HeartbeatAck {
            term,
            sent_tick: node.now_tick().saturating_sub(back),
            membership: if current {
                membership
            } else {
                MembershipId::default()
            },
        },
        Kind::PreVote => Message::PreVote {
            term: term.next(),
            membership,
        },
        Kind::Vote { transfer } => Message::Vote {
            term: term.next(),
            transfer,
            membership,
        },
        // A grant echoes the term the node would campaign in.
        Kind::PreVoteResponse { granted } => Message::PreVoteResponse {
            term: if granted { node.term().next() } else { term },
            granted,
        },
        Kind::VoteResponse { granted } => Message::VoteResponse { term, granted },
        Kind::TimeoutNow => Message::TimeoutNow { term },
        Kind::Leave => Message::Leave { term },
    }
}

/// Applies a non-time input; returns what the command answered, as text.
fn apply(node: &mut Election, input: &Input) -> String {
    match input {
        Input::Ticks(_) => unreachable!("time is applied by the caller"),
        Input::Msg { from, ahead, kind } => {
            let msg = message(node, *ahead, *kind);
            node.handle_message(id(*from), msg);
            String::new()
        }
        Input::Campaign => format!("{:?}", node.campaign()),
        Input::StepDown => format!("{:?}", node.step_down()),
        Input::Transfer(to) => format!("{:?}", node.transfer_leadership(id(*to))),
        Input::AddLearner => format!("{:?}", node.propose_add(id(5), "127.0.0.1:7005")),
        Input::RemovePeer(peer) => format!("{:?}", node.propose_remove(id(*peer))),
        Input::Leave => format!("{:?}", node.leave()),
    }
}

/// Everything a host can read of a node.
fn observe(node: &Election) -> (Status, String, u64, Option<u64>, Option<u64>) {
    (
        node.status(),
        format!("{:?} {:?}", node.counters(), node.admitted_peers()),
        node.now_tick(),
        node.lease_start_tick(),
        node.next_deadline_tick(),
    )
}

/// What `status()` says, less what counts down with the clock.
fn timeless(mut status: Status) -> Status {
    status.lease_remaining_ticks = None;
    status
}

/// Node 1 of voters 1..=3 and learner 4, with the timing and switches given.
fn node(seed: u64, heartbeat: u64, pre_vote: bool, check_quorum: bool) -> Election {
    let mut config = with_learner(1);
    config.heartbeat_interval_ticks = heartbeat;
    config.pre_vote = pre_vote;
    config.check_quorum = check_quorum;
    build(config, HardState::default(), seed)
}

/// Runs `inputs` on two copies of one node, one ticked tick by tick, the
/// other advanced in one call per `Ticks`; fails at the first difference in
/// outputs or getters. The ticked copy also checks that no tick before the
/// predicted deadline changes anything.
fn same_both_ways(mut ticked: Election, mut jumped: Election, inputs: &[Input]) {
    for (step, input) in inputs.iter().enumerate() {
        let (by_tick, by_jump) = match input {
            Input::Ticks(n) => {
                let mut outputs: Vec<Output> = Vec::new();
                for _ in 0..*n {
                    let due = ticked.next_deadline_tick();
                    let before = timeless(ticked.status());
                    ticked.tick();
                    let produced = drain(&mut ticked);
                    if due.is_none_or(|due| ticked.now_tick() < due) {
                        assert_eq!(
                            (&produced, timeless(ticked.status())),
                            (&vec![], before),
                            "step {step}: tick {} changed something before the deadline {due:?}",
                            ticked.now_tick()
                        );
                    }
                    outputs.extend(produced);
                }
                jumped.advance_to(jumped.now_tick() + n);
                (outputs, drain(&mut jumped))
            }
            _ => {
                let answers = (apply(&mut ticked, input), apply(&mut jumped, input));
                assert_eq!(answers.0, answers.1, "step {step}: {input:?}");
                (drain(&mut ticked), drain(&mut jumped))
            }
        };
        assert_eq!(by_tick, by_jump, "step {step}: outputs of {input:?}");
        assert_eq!(
            observe(&ticked),
            observe(&jumped),
            "step {step}: getters after {input:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn advancing_by_deadline_gives_the_outputs_of_ticking_every_tick(
        seed in any::<u64>(),
        heartbeat in 1..9u64,
        pre_vote in any::<bool>(),
        check_quorum in any::<bool>(),
        inputs in prop::collection::vec(arb_input(), 1..80),
    ) {
        same_both_ways(
            node(seed, heartbeat, pre_vote, check_quorum),
            node(seed, heartbeat, pre_vote, check_quorum),
            &inputs,
        );
    }
}

/// The property test above must reach every role, or it proves little:
/// a fixed script elects the node, loses the lease and times out again.
#[test]
fn the_equivalence_covers_a_goose_losing_its_lease() {
    let script = [
        Input::Ticks(TIMEOUT_MIN),
        Input::Campaign,
        Input::Msg {
            from: 2,
            ahead: 0,
            kind: Kind::PreVoteResponse { granted: true },
        },
        Input::Msg {
            from: 2,
            ahead: 0,
            kind: Kind::VoteResponse { granted: true },
        },
        Input::Msg {
            from: 2,
            ahead: 0,
            kind: Kind::Ack {
                back: 0,
                current: false,
            },
        },
        Input::Ticks(17),
        Input::Msg {
            from: 3,
            ahead: 0,
            kind: Kind::Ack {
                back: 2,
                current: true,
            },
        },
        Input::Ticks(200),
    ];
    let seed = quiet_seed(&with_learner(1), HardState::default(), TIMEOUT_MIN, |_| {});
    let mut probe = node(seed, 5, true, true);
    let mut roles = Vec::new();
    for input in &script {
        match input {
            Input::Ticks(n) => {
                for _ in 0..*n {
                    probe.tick();
                    roles.push(probe.role());
                }
            }
            _ => {
                apply(&mut probe, input);
                roles.push(probe.role());
            }
        }
        drain(&mut probe);
    }
    assert!(roles.contains(&Role::Goose), "the script elects the node");
    assert_eq!(probe.role(), Role::Duck, "and the lease runs out");
    same_both_ways(
        node(seed, 5, true, true),
        node(seed, 5, true, true),
        &script,
    );
}
