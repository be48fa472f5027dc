//! Membership changes: the re-issue of a new Goose, and proposals accepted
//! or refused.

use duckduckgoose::core::{HardState, MembershipError, Role, RoleChangeReason};

use crate::support::*;

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
