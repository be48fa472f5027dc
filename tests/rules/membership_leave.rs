//! Membership changes: `leave`, and a whole cluster adding, promoting and
//! losing members.

use duckduckgoose::core::{
    DropReason, HardState, MembershipError, NodeId, Output, Role, RoleChangeReason,
};

use crate::support::*;

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
