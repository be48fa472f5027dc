//! Membership changes: removing a Duck, or the Goose itself.

use duckduckgoose::core::{CommandError, DropReason, Election, Membership, Role, RoleChangeReason};

use crate::support::*;

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

// A removed peer that has not said it holds the membership removing it gets
// one last heartbeat carrying it when the change commits, so that a removed
// node left running learns it and stops campaigning; one that holds it
// already gets nothing.
#[test]
fn membership_a_removed_peer_that_never_acked_the_removal_gets_one_last_heartbeat() {
    let mut node = settled_goose(addressed(1, 3));
    node.propose_remove(id(3)).unwrap();
    let removed = node.membership().clone();
    drain(&mut node);
    for _ in 0..HEARTBEAT {
        node.tick();
    }
    let round = ELECTED_AT + HEARTBEAT;
    drain(&mut node);
    node.handle_message(id(2), ack(1, round, membership_id(1, 2)));
    assert_eq!(
        drain(&mut node),
        vec![
            send(3, heartbeat_carrying(1, round, &removed)),
            membership_committed(membership_id(1, 2)),
        ]
    );
    for _ in 0..HEARTBEAT {
        node.tick();
    }
    assert_eq!(
        drain(&mut node),
        vec![send(2, heartbeat(1, round + HEARTBEAT))],
        "one last heartbeat, not one more each round"
    );
}

// Down to one voter, a removal commits as it is proposed, before any
// heartbeat carried it: the last heartbeat is the only news of it.
#[test]
fn membership_a_removal_down_to_one_voter_still_tells_the_removed_peer() {
    let mut node = settled_goose(addressed(1, 2));
    assert_eq!(node.propose_remove(id(2)), Ok(membership_id(1, 2)));
    let removed = node.membership().clone();
    assert_eq!(ids(removed.voters()), [1]);
    assert_eq!(
        drain(&mut node),
        vec![
            persist_membership(&removed),
            membership_changed(membership_id(1, 2)),
            send(2, heartbeat_carrying(1, ELECTED_AT, &removed)),
            membership_committed(membership_id(1, 2)),
        ]
    );
}
