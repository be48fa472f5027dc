//! Learners: non-voting members that follow but never lead.

use duckduckgoose::core::{
    CommandError, ConfigError, DropReason, HardState, Membership, Message, NodeId, Output, Role,
    RoleChangeReason, Term,
};

use crate::support::*;

#[test]
fn learner_config_is_valid_and_a_node_cannot_be_both() {
    assert_eq!(with_learner(4).validate(), Ok(()));
    let mut both = with_learner(1);
    both.membership = Membership::new((1..=3).map(NodeId)).with_learners([id(3)]);
    assert_eq!(
        both.validate(),
        Err(ConfigError::VoterAndLearner { id: id(3) })
    );
    let mut stranger = with_learner(1);
    stranger.id = id(5);
    assert_eq!(
        stranger.validate(),
        Err(ConfigError::NotAMember { id: id(5) })
    );
}

#[test]
fn learner_never_campaigns() {
    let mut node = build(with_learner(4), HardState::default(), SEED);
    let mut outputs = Vec::new();
    for _ in 0..10 * TIMEOUT_MAX {
        node.tick();
        outputs.extend(drain(&mut node));
    }
    // Cut off from any Goose, it only asks the voters whether its membership
    // is current (every election timeout), never for votes.
    assert_only_membership_probes(&outputs, &[1, 2, 3]);
    assert_eq!(node.campaign(), Err(CommandError::NotAVoter(id(4))));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.counters().pre_votes_started, 0);

    // Nor does a leadership transfer make it campaign.
    node.handle_message(id(1), timeout_now(0));
    assert_eq!(drain(&mut node), vec![dropped(1, DropReason::Unexpected)]);
    assert_eq!(node.hard_state(), HardState::default());
}

#[test]
fn learner_follows_and_acknowledges_heartbeats() {
    let mut node = build(with_learner(4), HardState::default(), SEED);

    node.handle_message(id(1), heartbeat(1, 0));

    assert_eq!(
        drain(&mut node),
        vec![
            leader_changed(Some(1), 1),
            persist(1, None),
            send(1, ack(1, 0, CONFIGURED)),
        ]
    );
    assert_eq!(node.status().leader, Some(id(1)));
    assert_eq!(node.status().learners, vec![id(4)]);
    assert_eq!(node.role(), Role::Duck);
}

#[test]
fn learner_refuses_votes_and_pre_votes() {
    let mut node = unsticky(with_learner(4), HardState::default());

    node.handle_message(id(1), pre_vote(1));
    assert_eq!(drain(&mut node), vec![send(1, pre_vote_response(0, false))]);
    node.handle_message(id(1), vote(1, true));
    assert_eq!(
        drain(&mut node),
        vec![persist(1, None), send(1, vote_response(1, false))]
    );
    assert_eq!(node.hard_state(), hard(1, None));
}

#[test]
fn voter_refuses_to_vote_for_a_learner() {
    let mut node = unsticky(with_learner(1), HardState::default());

    node.handle_message(id(4), pre_vote(1));
    assert_eq!(drain(&mut node), vec![send(4, pre_vote_response(0, false))]);
    node.handle_message(id(4), vote(1, true));
    assert_eq!(
        drain(&mut node),
        vec![persist(1, None), send(4, vote_response(1, false))]
    );
    assert_eq!(node.hard_state().voted_for, None);
}

#[test]
fn candidate_asks_only_voters_and_ignores_learner_answers() {
    let mut node = unsticky(with_learner(1), HardState::default());

    node.campaign().unwrap();
    assert_eq!(
        drain(&mut node),
        vec![
            election_started(1, true),
            send(2, pre_vote(1)),
            send(3, pre_vote(1)),
        ]
    );
    // A learner's grant counts for nothing.
    node.handle_message(id(4), pre_vote_response(1, true));
    assert_eq!(drain(&mut node), vec![dropped(4, DropReason::Unexpected)]);
    assert_eq!(node.term(), Term(0));
}

#[test]
fn goose_heartbeats_learners_but_only_voters_hold_up_its_lease() {
    let mut node = unsticky(with_learner(1), HardState::default());
    node.campaign().unwrap();
    node.handle_message(id(2), pre_vote_response(1, true));
    node.handle_message(id(2), vote_response(1, true));
    let outputs = drain(&mut node);
    let heartbeats: Vec<&Output> = outputs
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Send {
                    msg: Message::Heartbeat { .. },
                    ..
                }
            )
        })
        .collect();
    let membership = node.membership().clone();
    assert_eq!(membership.learners().collect::<Vec<_>>(), [id(4)]);
    assert_eq!(
        heartbeats,
        vec![
            &send(2, heartbeat(1, ELECTED_AT)),
            &send(3, heartbeat(1, ELECTED_AT)),
            &send(4, heartbeat(1, ELECTED_AT)),
        ]
    );

    // The learner's ack is welcome but is no majority: still no lease.
    node.handle_message(id(4), ack(1, ELECTED_AT, CONFIGURED));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.role(), Role::Duck);

    // A voter's ack makes the majority; the re-issue follows, and a learner
    // holding it does not commit it, a voter does.
    node.handle_message(id(2), ack(1, ELECTED_AT, CONFIGURED));
    let outputs = drain(&mut node);
    assert_eq!(
        outputs[0],
        role_changed(Role::Goose, 1, RoleChangeReason::Elected)
    );
    node.handle_message(id(4), ack(1, ELECTED_AT, reissued(1)));
    assert_eq!(drain(&mut node), vec![]);
    assert_eq!(node.membership_pending(), Some(true));
    node.handle_message(id(2), ack(1, ELECTED_AT, reissued(1)));
    assert_eq!(drain(&mut node), vec![membership_committed(reissued(1))]);
    // And a learner is never a transfer target.
    assert_eq!(
        node.transfer_leadership(id(4)),
        Err(CommandError::NotAVoter(id(4)))
    );
}
