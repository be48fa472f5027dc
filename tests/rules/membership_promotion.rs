//! Membership changes: promoting a joining learner.

use duckduckgoose::core::{CommandError, DropReason, HardState, Role};

use crate::support::*;

#[test]
fn membership_a_joining_learner_is_promoted_once_it_has_acked_for_election_timeout_max() {
    let (mut node, promoted_at, outputs) = promotion(|_| true);

    // Acked every round from `FIRST_ACKED_ROUND`; at each round the Goose
    // checks the acks it has, which reach the previous round.
    assert_eq!(promoted_at, FIRST_ACKED_ROUND + TIMEOUT_MAX + HEARTBEAT);
    let promoted = node.membership().clone();
    assert_eq!(promoted.id(), membership_id(1, 3));
    assert_eq!(ids(promoted.voters()), [1, 2, 3, 4]);
    assert_eq!(ids(promoted.learners()), [] as [u64; 0]);
    assert_eq!(ids(promoted.joining()), [] as [u64; 0]);
    // This round's heartbeats were sent before the promotion, without it.
    assert_eq!(
        outputs,
        vec![
            send(2, heartbeat(1, promoted_at)),
            send(3, heartbeat(1, promoted_at)),
            send(4, heartbeat(1, promoted_at)),
            persist_membership(&promoted),
            membership_changed(membership_id(1, 3)),
        ]
    );
    assert_eq!(node.membership_pending(), Some(true));

    // It commits on a majority of the new voters: three of four.
    for _ in 0..HEARTBEAT {
        node.tick();
    }
    let round = promoted_at + HEARTBEAT;
    assert_eq!(
        drain(&mut node),
        vec![
            send(2, heartbeat_carrying(1, round, &promoted)),
            send(3, heartbeat_carrying(1, round, &promoted)),
            send(4, heartbeat_carrying(1, round, &promoted)),
        ]
    );
    node.handle_message(id(2), ack(1, round, membership_id(1, 3)));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.membership_pending(), Some(true));
    node.handle_message(id(4), ack(1, round, membership_id(1, 3)));
    assert_eq!(
        drain(&mut node),
        vec![membership_committed(membership_id(1, 3))]
    );
    assert_eq!(node.status().members, vec![id(1), id(2), id(3), id(4)]);
    // The new voter can take over.
    assert_eq!(node.transfer_leadership(id(4)), Ok(()));
}

#[test]
fn membership_a_gap_longer_than_election_timeout_min_restarts_the_promotion_count() {
    // The learner acks the rounds up to `last_before_gap`, then misses some.
    let last_before_gap = FIRST_ACKED_ROUND + 5 * HEARTBEAT;

    // A silence of exactly `election_timeout_min` keeps the count going.
    let resumed = last_before_gap + TIMEOUT_MIN;
    let (_, promoted_at, _) = promotion(|round| round <= last_before_gap || round >= resumed);
    assert_eq!(promoted_at, FIRST_ACKED_ROUND + TIMEOUT_MAX + HEARTBEAT);

    // One round longer, and the count starts again from the first ack after.
    let resumed = last_before_gap + TIMEOUT_MIN + HEARTBEAT;
    let (node, promoted_at, _) = promotion(|round| round <= last_before_gap || round >= resumed);
    assert_eq!(promoted_at, resumed + TIMEOUT_MAX + HEARTBEAT);
    assert_eq!(ids(node.membership().voters()), [1, 2, 3, 4]);
}

#[test]
fn membership_a_permanent_learner_is_never_promoted() {
    let mut config = addressed(1, 3);
    config.membership = config.membership.with_learners([id(4)]);
    let mut node = settled_goose(config);
    let before = node.membership().clone();
    assert!(before.is_learner(id(4)) && !before.is_joining(id(4)));

    for _ in 0..10 * TIMEOUT_MAX {
        let outputs = tick_with_acks(&mut node, &[2, 3, 4]);
        assert_eq!(membership_outputs(&outputs), vec![]);
    }

    assert_eq!(node.membership(), &before);
    assert_eq!(node.role(), Role::Goose);
}

#[test]
fn membership_a_joining_learner_neither_votes_nor_campaigns() {
    let mut goose = settled_goose(addressed(1, 3));
    goose.propose_add(id(4), &addr(4)).unwrap();
    let joined = goose.membership().clone();
    // The joiner starts from the membership it was added in.
    let mut config = config(4, 3);
    config.membership = joined.clone();
    let mut node = build(config, HardState::default(), SEED);

    let mut outputs = Vec::new();
    for _ in 0..10 * TIMEOUT_MAX {
        node.tick();
        outputs.extend(drain(&mut node));
    }
    assert_only_membership_probes(&outputs, &[1, 2, 3]);
    assert_eq!(node.campaign(), Err(CommandError::NotAVoter(id(4))));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.counters().pre_votes_started, 0);

    // A candidate holding the very same membership gets no vote.
    node.handle_message(id(1), pre_vote_holding(2, joined.id()));
    assert_eq!(drain(&mut node), vec![send(1, pre_vote_response(0, false))]);
    node.handle_message(id(1), vote_holding(2, false, joined.id()));
    assert_eq!(
        drain(&mut node),
        vec![persist(2, None), send(1, vote_response(2, false))]
    );
    // Nor does a transfer make it campaign.
    node.handle_message(id(1), timeout_now(2));
    assert_eq!(drain(&mut node), vec![dropped(1, DropReason::Unexpected)]);
    assert_eq!(node.hard_state(), hard(2, None));
}
