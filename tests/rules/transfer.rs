//! Rule 8: step-down and leadership transfer.

use duckduckgoose::core::{CommandError, DropReason, Role, RoleChangeReason};

use crate::support::*;

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
