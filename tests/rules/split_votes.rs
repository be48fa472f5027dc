//! The split-vote tie-break: a pre-candidate that grants its
//! pre-vote to a rival of a lower id asking for the same term gives up its
//! own round, keeping its election timer, so that nodes timing out at the
//! same instant do not all go on to split the real vote.

use duckduckgoose::core::{DropReason, HardState, Term};
use duckduckgoose::sim::LockStep;

use crate::support::*;

/// Node `me` of `1..=voters`, in a pre-vote round for term 1 since
/// `CAMPAIGN_AT`.
fn pre_candidate_of(me: u64, voters: u64) -> duckduckgoose::core::Election {
    let mut node = unsticky_voter(me, voters, HardState::default());
    node.campaign().expect("an unsticky follower may campaign");
    drain(&mut node);
    node
}

#[test]
fn tie_break_a_pre_candidate_yields_to_a_lower_id_rival_of_its_round() {
    let mut node = pre_candidate_of(3, 5);

    node.handle_message(id(2), pre_vote(1));

    // The answer is the one it gives without the rule; nothing else comes out.
    assert_eq!(drain(&mut node), vec![send(2, pre_vote_response(1, true))]);
    // The round is over: grants that arrive now elect nobody.
    node.handle_message(id(4), pre_vote_response(1, true));
    node.handle_message(id(5), pre_vote_response(1, true));
    assert_eq!(
        drain(&mut node),
        vec![
            dropped(4, DropReason::Unexpected),
            dropped(5, DropReason::Unexpected),
        ]
    );
    assert_eq!(node.hard_state(), HardState::default());
    assert_eq!(node.counters().elections_started, 0);
    // And the rival's real vote gets this node's vote.
    node.handle_message(id(2), vote(1, false));
    assert_eq!(
        drain(&mut node),
        vec![persist(1, Some(2)), send(2, vote_response(1, true))]
    );
}

#[test]
fn tie_break_a_pre_candidate_keeps_its_round_against_a_higher_id_rival() {
    let mut node = pre_candidate_of(3, 5);

    node.handle_message(id(4), pre_vote(1));
    assert_eq!(drain(&mut node), vec![send(4, pre_vote_response(1, true))]);

    node.handle_message(id(1), pre_vote_response(1, true));
    node.handle_message(id(2), pre_vote_response(1, true));
    assert_eq!(
        drain(&mut node),
        vec![
            persist(1, Some(3)),
            election_started(1, false),
            send(1, vote(1, false)),
            send(2, vote(1, false)),
            send(4, vote(1, false)),
            send(5, vote(1, false)),
        ]
    );
}

#[test]
fn tie_break_a_rival_asking_for_another_term_is_no_tie() {
    let mut node = pre_candidate_of(3, 5);

    // Granted (term 2 is newer), but node 2 is a round ahead: no tie.
    node.handle_message(id(2), pre_vote(2));
    assert_eq!(drain(&mut node), vec![send(2, pre_vote_response(2, true))]);

    node.handle_message(id(4), pre_vote_response(1, true));
    node.handle_message(id(5), pre_vote_response(1, true));
    assert_eq!(
        drain(&mut node)[..2],
        [persist(1, Some(3)), election_started(1, false)]
    );
}

#[test]
fn tie_break_a_rival_it_refused_is_no_tie() {
    // Voted for 5 in term 1; now campaigning for term 2.
    let mut node = unsticky_voter(3, 5, hard(1, Some(5)));
    node.campaign().expect("unsticky");
    drain(&mut node);

    // Node 2 asks for term 1, which this node has voted in for 5: refused
    // with the current term, so node 2 is no rival.
    node.handle_message(id(2), pre_vote(1));
    assert_eq!(drain(&mut node), vec![send(2, pre_vote_response(1, false))]);

    node.handle_message(id(4), pre_vote_response(2, true));
    node.handle_message(id(5), pre_vote_response(2, true));
    assert_eq!(
        drain(&mut node)[..2],
        [persist(2, Some(3)), election_started(2, false)]
    );
}

#[test]
fn tie_break_the_yielding_node_keeps_its_election_timer() {
    let (mut yielded, mut alone) = (pre_candidate_of(3, 5), pre_candidate_of(3, 5));
    yielded.handle_message(id(2), pre_vote(1));
    drain(&mut yielded);

    // Both time out at the tick drawn when the round started, and start the
    // same round.
    let (yielded_after, yielded_outputs) = ticks_until_election(&mut yielded);
    let (alone_after, alone_outputs) = ticks_until_election(&mut alone);

    assert_eq!(yielded_after, alone_after);
    assert!((TIMEOUT_MIN..TIMEOUT_MAX).contains(&yielded_after));
    assert_eq!(yielded_outputs, alone_outputs);
    assert_eq!(yielded_outputs[0], election_started(1, true));
}

#[test]
fn tie_break_a_candidate_never_yields() {
    // Past its pre-vote round: its vote is cast, nothing left to give up.
    let mut node = pre_candidate_of(3, 5);
    node.handle_message(id(4), pre_vote_response(1, true));
    node.handle_message(id(5), pre_vote_response(1, true));
    drain(&mut node);

    node.handle_message(id(2), pre_vote(2));

    assert_eq!(drain(&mut node), vec![send(2, pre_vote_response(2, true))]);
    assert_eq!(node.term(), Term(1));
    // Still a candidate, so a majority elects it.
    node.handle_message(id(4), vote_response(1, true));
    node.handle_message(id(5), vote_response(1, true));
    drain(&mut node);
    assert_eq!(node.leader(), Some(id(3)));
}

#[test]
fn tie_break_three_tied_nodes_elect_the_lowest_id_in_one_round() {
    // Nodes 2, 3 and 4 of 5 campaign at the same instant, every message
    // arriving within it: without the rule all three pass the pre-vote.
    let nodes = (1..=5).map(|me| unsticky_voter(me, 5, HardState::default()));
    let mut net = LockStep::new(nodes).expect("distinct ids");
    for me in [2, 3, 4] {
        net.node_mut(id(me))
            .expect("up")
            .campaign()
            .expect("unsticky");
    }

    net.settle().expect("the barrier holds");

    assert_eq!(net.goose(), Some(id(2)));
    let started: Vec<u64> = (1..=5)
        .map(|me| net.node(id(me)).expect("up").counters().elections_started)
        .collect();
    assert_eq!(started, vec![0, 1, 0, 0, 0]);
    assert!((1..=5).all(|me| net.node(id(me)).expect("up").term() == Term(1)));
}

// ----- the split-vote retry ---------------------------------------------------

/// Node `me` of `1..=voters`, a candidate in term 1 since `CAMPAIGN_AT` (it
/// won its pre-vote round with the grants of the two lowest other ids).
fn candidate_of(me: u64, voters: u64) -> duckduckgoose::core::Election {
    let mut node = pre_candidate_of(me, voters);
    for peer in (1..=voters).filter(|peer| *peer != me).take(2) {
        node.handle_message(id(peer), pre_vote_response(1, true));
    }
    assert_eq!(
        drain(&mut node)[..2],
        [persist(1, Some(me)), election_started(1, false)]
    );
    node
}

#[test]
fn split_retry_a_candidate_refusing_a_higher_id_rival_of_its_term_asks_again_a_heartbeat_later() {
    let mut node = candidate_of(3, 5);

    node.handle_message(id(4), vote(1, false));

    // The answer is the one it gives without the rule; nothing else comes out.
    assert_eq!(drain(&mut node), vec![send(4, vote_response(1, false))]);
    assert_eq!(node.next_deadline_tick(), Some(CAMPAIGN_AT + HEARTBEAT));
    let (after, outputs) = ticks_until_election(&mut node);
    assert_eq!(after, HEARTBEAT);
    assert_eq!(outputs[0], election_started(2, true));
}

#[test]
fn split_retry_a_candidate_that_wins_meanwhile_has_nothing_to_retry() {
    let mut node = candidate_of(3, 5);
    node.handle_message(id(4), vote(1, false));
    drain(&mut node);

    node.handle_message(id(1), vote_response(1, true));
    node.handle_message(id(2), vote_response(1, true));
    drain(&mut node);

    assert_eq!(node.leader(), Some(id(3)));
    for _ in 0..HEARTBEAT {
        node.tick();
        assert!(!drain(&mut node).iter().any(is_election_started));
    }
}

#[test]
fn split_retry_a_candidate_refusing_a_lower_id_rival_waits_a_minimum_timeout() {
    let (mut node, alone) = (candidate_of(3, 5), candidate_of(3, 5));
    let drawn = alone.next_deadline_tick().expect("a candidate has a timer");

    node.handle_message(id(2), vote(1, false));
    assert_eq!(drain(&mut node), vec![send(2, vote_response(1, false))]);
    // A higher-id rival after it changes nothing: node 2 retries, not this one.
    node.handle_message(id(4), vote(1, false));
    assert_eq!(drain(&mut node), vec![send(4, vote_response(1, false))]);

    assert_eq!(
        node.next_deadline_tick(),
        Some(drawn.max(CAMPAIGN_AT + TIMEOUT_MIN))
    );
}

#[test]
fn split_retry_a_lower_id_rival_after_a_higher_one_takes_the_early_retry_back() {
    let mut node = candidate_of(3, 5);

    node.handle_message(id(4), vote(1, false));
    node.handle_message(id(2), vote(1, false));
    drain(&mut node);

    assert!(node.next_deadline_tick() >= Some(CAMPAIGN_AT + TIMEOUT_MIN));
}

#[test]
fn split_retry_a_pre_candidate_or_a_duck_is_never_hurried() {
    // A pre-candidate has cast no vote: a rival's vote request of a newer
    // term makes it a voter, which redraws its timer as any voter does.
    let (mut pre, mut alone) = (pre_candidate_of(3, 5), pre_candidate_of(3, 5));
    pre.handle_message(id(4), vote(1, false));
    alone.handle_message(id(4), vote(1, false));
    assert_eq!(drain(&mut pre), drain(&mut alone));
    assert_eq!(pre.next_deadline_tick(), alone.next_deadline_tick());
    assert!(pre.next_deadline_tick() >= Some(CAMPAIGN_AT + TIMEOUT_MIN));
}
