//! Rule 7: terms.

use duckduckgoose::core::{DropReason, Output, Role, RoleChangeReason, Term};

use crate::support::*;

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
