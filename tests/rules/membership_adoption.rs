//! Membership changes: how Ducks adopt a membership, how votes depend on
//! it, and the lease while a change is pending.

use duckduckgoose::core::Election;

use crate::support::*;

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
