//! Rules 1 and 2: a Duck that hears no Goose times out, and asks for
//! pre-votes before it moves its term.

use std::collections::BTreeSet;

use duckduckgoose::core::{Config, DropReason, HardState, NodeId, Output, Role};

use crate::support::*;

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

/// Refuses node 1's current pre-vote round (term `term`) from both peers.
fn refuse_round(node: &mut duckduckgoose::core::Election, term: u64) {
    node.handle_message(id(2), pre_vote_response(term, false));
    node.handle_message(id(3), pre_vote_response(term, false));
    assert_eq!(drain(node), vec![]);
}

#[test]
fn rule2_a_refused_pre_vote_round_is_asked_again_a_tick_then_a_heartbeat_later() {
    let mut node = pre_candidate(3);
    let asked_again = vec![
        election_started(1, true),
        send(2, pre_vote(1)),
        send(3, pre_vote(1)),
    ];

    refuse_round(&mut node, 0);
    assert_eq!(ticks_until_election(&mut node), (1, asked_again.clone()));
    refuse_round(&mut node, 0);
    assert_eq!(
        ticks_until_election(&mut node),
        (HEARTBEAT, asked_again.clone())
    );
    // Refused a third time without hearing from a Goose: the next round
    // waits for a whole timeout.
    refuse_round(&mut node, 0);
    let (ticks, outputs) = ticks_until_election(&mut node);
    assert!((TIMEOUT_MIN..TIMEOUT_MAX).contains(&ticks), "{ticks}");
    assert_eq!(outputs, asked_again);
    assert_eq!(node.hard_state(), HardState::default());
    assert_eq!(node.counters().pre_votes_started, 4);
}

#[test]
fn rule2_contact_with_a_goose_allows_early_retries_again() {
    let mut node = pre_candidate(3);
    refuse_round(&mut node, 0);
    assert_eq!(ticks_until_election(&mut node).0, 1);
    refuse_round(&mut node, 0);
    assert_eq!(ticks_until_election(&mut node).0, HEARTBEAT);
    // A Goose of term 1 is heard; once it falls silent, the rounds refused
    // after that are asked again early too.
    node.handle_message(id(2), heartbeat(1, 0));
    drain(&mut node);
    ticks_until_election(&mut node);
    refuse_round(&mut node, 1);
    assert_eq!(ticks_until_election(&mut node).0, 1);
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
