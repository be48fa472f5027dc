//! Rule 3: voting, and stickiness (no vote, and no campaign, while a live
//! Goose is heard).

use duckduckgoose::core::{CommandError, Election, HardState, Role, Term};

use crate::support::*;

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
