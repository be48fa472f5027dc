//! Rule 4 and Raft §5.2: winning an election, heartbeats, split votes.

use std::collections::BTreeSet;

use duckduckgoose::core::{DropReason, HardState, Role, RoleChangeReason, Term};

use crate::support::*;

#[test]
fn rule4_vote_majority_makes_a_leader_that_heartbeats_at_once() {
    let mut node = candidate(3);
    for _ in 0..3 {
        node.tick();
    }
    drain(&mut node);

    node.handle_message(id(3), vote_response(1, true));

    // It heartbeats at once, bare, so that its lease waits for nobody's
    // disk; the membership is re-issued once the lease holds.
    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(Some(1), 1),
            send(2, heartbeat(1, CAMPAIGN_AT + 3)),
            send(3, heartbeat(1, CAMPAIGN_AT + 3)),
        ]
    );
    assert_eq!(node.membership().id(), CONFIGURED);
    // Elected, but not Goose until a majority acknowledges a heartbeat.
    assert_eq!(node.role(), Role::Duck);
    assert_eq!(node.membership_pending(), Some(false));
    assert_eq!(node.status().leader, Some(id(1)));
    assert_eq!(node.lease_start_tick(), None);
    assert_eq!(node.status().lease_remaining_ticks, None);
}

#[test]
fn rule4_leader_becomes_goose_only_when_a_majority_acknowledges_a_heartbeat() {
    let mut node = candidate(5);
    node.handle_message(id(2), vote_response(1, true));
    node.handle_message(id(3), vote_response(1, true));
    drain(&mut node);

    // Elected at `CAMPAIGN_AT`, when its first round went out.
    node.handle_message(id(4), ack(1, CAMPAIGN_AT, CONFIGURED));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.role(), Role::Duck);

    // A majority starts the lease; the Goose then re-issues its membership
    // under its term, durable first, in the same round sent again.
    node.handle_message(id(5), ack(1, CAMPAIGN_AT, CONFIGURED));
    let reissue = node.membership().clone();
    assert_eq!(reissue.id(), reissued(1));
    assert_eq!(
        drain(&mut node),
        vec![
            role_changed(Role::Goose, 1, RoleChangeReason::Elected),
            persist_membership(&reissue),
            membership_changed(reissued(1)),
            send(2, heartbeat_carrying(1, CAMPAIGN_AT, &reissue)),
            send(3, heartbeat_carrying(1, CAMPAIGN_AT, &reissue)),
            send(4, heartbeat_carrying(1, CAMPAIGN_AT, &reissue)),
            send(5, heartbeat_carrying(1, CAMPAIGN_AT, &reissue)),
        ]
    );
    assert_eq!(node.membership_pending(), Some(true));
    assert_eq!(node.role(), Role::Goose);
    assert_eq!(node.lease_start_tick(), Some(CAMPAIGN_AT));
    assert_eq!(node.status().lease_remaining_ticks, Some(LEASE));
    assert_eq!(node.counters().role_changes, 1);
}

#[test]
fn rule4_goose_heartbeats_every_interval() {
    let mut node = goose(1, 3);
    for _ in 1..HEARTBEAT {
        node.tick();
        assert_eq!(drain(&mut node), vec![]);
    }

    node.tick();

    // 2 acknowledged the re-issued membership; 3 has not answered yet and
    // still gets it attached.
    assert_eq!(
        drain(&mut node),
        vec![
            send(2, heartbeat(1, ELECTED_AT + HEARTBEAT)),
            send(
                3,
                heartbeat_carrying(1, ELECTED_AT + HEARTBEAT, node.membership())
            ),
        ]
    );
    // Two bare and two carrying the re-issue at election, then this round.
    assert_eq!(node.counters().heartbeats_sent, 6);
}

#[test]
fn rule4_duck_acknowledges_every_heartbeat() {
    let mut node = follower(2, 3, 1, 1);

    for sent_tick in [5, 10, 15] {
        node.handle_message(id(1), heartbeat(1, sent_tick));
        assert_eq!(
            drain(&mut node),
            vec![send(1, ack(1, sent_tick, CONFIGURED))]
        );
    }
    assert_eq!(node.counters().heartbeats_received, 4);
}

#[test]
fn rule4_first_heartbeat_of_a_new_term_is_adopted_persisted_and_acknowledged() {
    let mut node = fresh(2, 3);
    // A new Goose's first heartbeat carries the membership it re-issued.
    let membership = goose(1, 3).membership().clone();

    node.handle_message(id(1), heartbeat_carrying(1, 0, &membership));

    // Term and membership are durable before the ack that depends on them.
    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(Some(1), 1),
            persist(1, None),
            persist_membership(&membership),
            membership_changed(reissued(1)),
            send(1, ack(1, 0, reissued(1))),
        ]
    );
    assert_eq!(node.status().leader, Some(id(1)));
    assert_eq!(node.membership(), &membership);
}

#[test]
fn raft_5_2_candidate_receiving_a_heartbeat_of_its_term_becomes_a_follower() {
    let mut node = candidate(3);

    node.handle_message(id(2), heartbeat(1, 4));

    assert_eq!(
        drain(&mut node),
        vec![leader_changed(Some(2), 1), send(2, ack(1, 4, CONFIGURED))]
    );
    assert_eq!(node.hard_state(), hard(1, Some(1)));
    // No longer campaigning: a late vote means nothing.
    node.handle_message(id(3), vote_response(1, true));
    assert_eq!(drain(&mut node), vec![dropped(3, DropReason::Unexpected)]);
    assert_eq!(node.status().leader, Some(id(2)));
}

#[test]
fn raft_5_2_pre_candidate_receiving_a_heartbeat_becomes_a_follower() {
    let mut node = unsticky_voter(1, 3, hard(1, None));
    node.campaign().unwrap();
    drain(&mut node);

    node.handle_message(id(2), heartbeat(1, 4));

    assert_eq!(
        drain(&mut node),
        vec![leader_changed(Some(2), 1), send(2, ack(1, 4, CONFIGURED))]
    );
    node.handle_message(id(3), pre_vote_response(2, true));
    assert_eq!(drain(&mut node), vec![dropped(3, DropReason::Unexpected)]);
    assert_eq!(node.term(), Term(1));
}

#[test]
fn raft_5_2_candidate_refused_by_a_majority_stops_campaigning() {
    let mut node = candidate(3);
    node.handle_message(id(2), vote_response(1, false));
    assert_eq!(drain(&mut node), vec![]);

    node.handle_message(id(3), vote_response(1, false));
    assert_eq!(drain(&mut node), vec![]);

    node.handle_message(id(2), vote_response(1, true));
    assert_eq!(drain(&mut node), vec![dropped(2, DropReason::Unexpected)]);
    assert_eq!(node.role(), Role::Duck);
    assert_eq!(node.hard_state(), hard(1, Some(1)));
}

#[test]
fn raft_5_2_split_vote_candidate_campaigns_again_after_a_new_random_timeout() {
    let mut config = config(1, 5);
    config.pre_vote = false;
    let mut node = build(config, HardState::default(), SEED);
    ticks_until_election(&mut node);
    // Split: one grant, one refusal, two never answer.
    node.handle_message(id(2), vote_response(1, true));
    node.handle_message(id(3), vote_response(1, false));
    assert_eq!(drain(&mut node), vec![]);

    let (ticks, outputs) = ticks_until_election(&mut node);

    assert!((TIMEOUT_MIN..TIMEOUT_MAX).contains(&ticks), "{ticks}");
    assert_eq!(
        outputs,
        vec![
            persist(2, Some(1)),
            election_started(2, false),
            send(2, vote(2, false)),
            send(3, vote(2, false)),
            send(4, vote(2, false)),
            send(5, vote(2, false)),
        ]
    );
    // And each retry draws its timeout anew.
    let retries: BTreeSet<u64> = (0..20).map(|_| ticks_until_election(&mut node).0).collect();
    assert!(retries.len() > 1, "{retries:?}");
}

#[test]
fn raft_5_2_split_vote_with_pre_vote_goes_back_to_a_pre_vote_round() {
    let mut node = candidate(3);

    let (ticks, outputs) = ticks_until_election(&mut node);

    assert!((TIMEOUT_MIN..TIMEOUT_MAX).contains(&ticks), "{ticks}");
    assert_eq!(
        outputs,
        vec![
            election_started(2, true),
            send(2, pre_vote(2)),
            send(3, pre_vote(2)),
        ]
    );
    assert_eq!(node.hard_state(), hard(1, Some(1)));
}

#[test]
fn raft_5_2_leader_does_not_grant_votes() {
    let mut node = goose(1, 3);
    let before = node.status();
    // The requests hold the configured membership; the Goose holds its
    // re-issue, and says so with each refusal.
    let held = newer_membership(1, node.membership());

    node.handle_message(id(3), vote(1, false));
    assert_eq!(
        drain(&mut node),
        vec![send(3, vote_response(1, false)), send(3, held.clone())]
    );
    node.handle_message(id(3), vote(2, false));
    assert_eq!(
        drain(&mut node),
        vec![send(3, vote_response(1, false)), send(3, held.clone())]
    );
    node.handle_message(id(3), pre_vote(2));
    assert_eq!(
        drain(&mut node),
        vec![send(3, pre_vote_response(1, false)), send(3, held)]
    );

    assert_eq!(node.status(), before);
    assert_eq!(node.role(), Role::Goose);
}

#[test]
fn raft_5_2_leader_drops_a_heartbeat_of_its_own_term() {
    // Two Geese cannot be elected in one term; such a heartbeat is forged.
    let mut node = goose(1, 3);

    node.handle_message(id(2), heartbeat(1, 9));

    assert_eq!(drain(&mut node), vec![dropped(2, DropReason::Unexpected)]);
    assert_eq!(node.role(), Role::Goose);
}
