//! Membership changes: liveness across uncommitted changes.

use duckduckgoose::core::{
    CommandError, ConfigError, DropReason, Election, HardState, Membership, MembershipId, Message,
    Output, Role, Term,
};

use crate::support::*;

/// Goose 1 of voters 1-3 with joining learner 4 promoted, the promotion
/// still pending: 4 has not acknowledged it yet. Returns the Goose and the
/// membership before the promotion (4 a learner) and after it.
fn goose_promoting_4() -> (Election, Membership, Membership) {
    let mut goose = settled_goose(addressed(1, 3));
    goose.propose_add(id(4), &addr(4)).unwrap();
    let joined = goose.membership().clone();
    drain(&mut goose);
    let mut ticks = 0;
    while goose.membership().id() == joined.id() {
        tick_with_acks(&mut goose, &[2, 3, 4]);
        ticks += 1;
        assert!(ticks < 10 * TIMEOUT_MAX, "4 never promoted");
    }
    let promoted = goose.membership().clone();
    assert!(promoted.is_voter(id(4)));
    assert_eq!(goose.membership_pending(), Some(true));
    (goose, joined, promoted)
}

/// Node `me` restarted from `membership` (which it may not be in) at term
/// `term`, past its start-up stickiness.
fn restarted(me: u64, membership: &Membership, term: u64) -> Election {
    let mut config = addressed(me, 3);
    config.membership = membership.clone();
    let mut node = build(config, hard(term, None), me);
    for _ in 0..TIMEOUT_MIN {
        node.tick();
    }
    drain(&mut node);
    node
}

// An uncommitted promotion must not deadlock: the learner being promoted,
// which has not heard of it, grants its vote to a candidate holding the
// promotion (where it is a voter), though it refuses one holding its own.
#[test]
fn membership_a_learner_votes_for_a_candidate_holding_its_promotion() {
    let (_goose, joined, promoted) = goose_promoting_4();
    let mut learner = restarted(4, &joined, 1);
    learner.handle_message(id(2), pre_vote_holding(2, promoted.id()));
    assert_eq!(
        drain(&mut learner),
        vec![send(2, pre_vote_response(2, true))]
    );
    learner.handle_message(id(2), vote_holding(2, false, promoted.id()));
    assert_eq!(
        drain(&mut learner),
        vec![persist(2, Some(2)), send(2, vote_response(2, true))]
    );
    // Holding the learner's own membership, the candidate cannot count it.
    let mut learner = restarted(4, &joined, 1);
    learner.handle_message(id(2), vote_holding(2, false, joined.id()));
    assert_eq!(
        drain(&mut learner),
        vec![persist(2, None), send(2, vote_response(2, false))]
    );
}

// An uncommitted removal must not deadlock: a node outside its own
// membership (it holds its removal) grants its vote to a candidate holding
// the membership just before (same Goose, one version older), which may
// still need it; nothing older, and nothing it is not a voter of.
#[test]
fn membership_a_removed_node_votes_only_for_the_membership_just_before_its_removal() {
    let mut goose = settled_goose(addressed(1, 3));
    goose.propose_remove(id(3)).unwrap();
    let removal = goose.membership().clone();
    assert_eq!(removal.id(), membership_id(1, 2));

    let mut removed = restarted(3, &removal, 1);
    assert_eq!(removed.campaign(), Err(CommandError::NotAVoter(id(3))));
    removed.handle_message(id(2), pre_vote_holding(2, reissued(1)));
    assert_eq!(
        drain(&mut removed),
        vec![send(2, pre_vote_response(2, true))]
    );
    removed.handle_message(id(2), vote_holding(2, false, reissued(1)));
    assert_eq!(
        drain(&mut removed),
        vec![persist(2, Some(2)), send(2, vote_response(2, true))]
    );

    let mut removed = restarted(3, &removal, 1);
    removed.handle_message(id(2), pre_vote_holding(2, MembershipId::default()));
    assert_eq!(
        drain(&mut removed),
        vec![
            send(2, pre_vote_response(1, false)),
            send(2, newer_membership(1, &removal)),
        ]
    );
    removed.handle_message(id(2), pre_vote_holding(2, removal.id()));
    assert_eq!(
        drain(&mut removed),
        vec![send(2, pre_vote_response(1, false))]
    );
}

// A node may start outside a membership changed at run time (it was
// removed, perhaps by a change that never committed); it never campaigns.
// A configured membership that does not name it is still a typo.
#[test]
fn membership_a_node_starts_outside_a_changed_membership_but_never_campaigns() {
    let mut goose = settled_goose(addressed(1, 3));
    goose.propose_remove(id(3)).unwrap();
    let removal = goose.membership().clone();
    let mut removed = restarted(3, &removal, 1);
    for _ in 0..4 * TIMEOUT_MAX {
        removed.tick();
        assert!(
            !drain(&mut removed).iter().any(is_election_started),
            "a removed node campaigned"
        );
    }

    let mut typo = addressed(9, 3);
    typo.membership = Membership::new([id(1), id(2), id(3)]);
    assert_eq!(
        Election::new(typo, HardState::default(), 1).err(),
        Some(ConfigError::NotAMember { id: id(9) })
    );
}

// A member that missed changes does not know the Goose that joined after
// them; it adopts a newer membership from that Goose when it names both, and
// still drops strangers otherwise.
#[test]
fn membership_a_lagging_member_adopts_a_membership_from_a_goose_it_did_not_know() {
    let (mut goose, _, promoted) = goose_promoting_4();
    // Let 2 and 3 acknowledge the promotion so that it commits.
    while goose.membership_pending() == Some(true) {
        tick_with_acks(&mut goose, &[2, 3, 4]);
    }
    let mut lagging = fresh(2, 3);
    let heartbeat_from_4 = heartbeat_carrying(2, 0, &promoted);
    lagging.handle_message(id(4), heartbeat_from_4);
    let outputs = drain(&mut lagging);
    assert_eq!(lagging.membership().id(), promoted.id());
    assert_eq!(
        outputs.last(),
        Some(&send(4, ack(2, 0, promoted.id()))),
        "{outputs:?}"
    );

    // Not naming the receiver, or without a membership: a stranger still.
    let mut other = fresh(2, 3);
    other.handle_message(id(4), heartbeat(2, 0));
    assert_eq!(drain(&mut other), vec![dropped(4, DropReason::NotMember)]);
    let mut without_2 = settled_goose(addressed(1, 3));
    without_2.propose_remove(id(2)).unwrap();
    let not_naming = without_2.membership().clone();
    other.handle_message(id(5), heartbeat_carrying(2, 0, &not_naming));
    assert_eq!(drain(&mut other), vec![dropped(5, DropReason::NotMember)]);
}

// `step_down` hands over only to a voter that knows it is one: a learner
// whose promotion has not reached it would drop the `TimeoutNow`.
#[test]
fn membership_step_down_skips_a_voter_that_has_not_acknowledged_its_promotion() {
    let (mut goose, joined, _) = goose_promoting_4();
    for _ in 0..HEARTBEAT {
        goose.tick();
    }
    let last_round = goose.now_tick();
    drain(&mut goose);
    goose.handle_message(id(4), ack(1, last_round, joined.id()));
    drain(&mut goose);
    // 4's ack is the newest, but it holds the membership before its
    // promotion: the hand-over goes to 2, the most responsive that knows.
    goose.step_down().unwrap();
    let outputs = drain(&mut goose);
    assert!(outputs.contains(&send(2, timeout_now(1))), "{outputs:?}");
    assert!(!outputs.contains(&send(4, timeout_now(1))), "{outputs:?}");
}

// A candidate refused for holding an older membership adopts the newer one
// it is sent, whatever the sender's term, and abandons the campaign it ran
// on the old one. This is how a member that missed changes catches up when
// no Goose exists (or the Goose is a node it never heard of).
#[test]
fn membership_a_stale_candidate_adopts_the_newer_membership_it_is_sent() {
    let held = settled_goose(addressed(1, 3)).membership().clone();
    let mut stale = unsticky_voter(3, 3, hard(1, None));
    let (_, outputs) = ticks_until_election(&mut stale);
    assert!(outputs.iter().any(is_election_started));

    stale.handle_message(id(2), newer_membership(1, &held));
    assert_eq!(
        drain(&mut stale),
        vec![persist_membership(&held), membership_changed(held.id()),]
    );
    assert_eq!(stale.membership().id(), held.id());
    // No longer a pre-candidate: a late grant means nothing.
    stale.handle_message(id(2), pre_vote_response(2, true));
    assert_eq!(drain(&mut stale), vec![dropped(2, DropReason::Unexpected)]);

    // An older or equal one changes nothing, whatever its term.
    stale.handle_message(id(2), newer_membership(0, &held));
    stale.handle_message(
        id(2),
        Message::NewerMembership {
            term: Term(1),
            membership: Box::new(Membership::new([id(1), id(2), id(3)])),
        },
    );
    assert_eq!(drain(&mut stale), vec![]);
}

// A leaving Goose with no voter able to take over (its only other voter is
// being promoted and does not know it yet) removes itself once the change
// in progress commits, and then hands over to that voter.
#[test]
fn membership_leave_a_goose_nobody_can_take_over_from_removes_itself_after_the_change() {
    let mut goose = settled_goose(addressed(1, 1));
    goose.propose_add(id(2), &addr(2)).unwrap();
    drain(&mut goose);
    let mut ticks = 0;
    while !goose.membership().is_voter(id(2)) {
        tick_with_acks(&mut goose, &[2]);
        ticks += 1;
        assert!(ticks < 10 * TIMEOUT_MAX, "2 never promoted");
    }
    let promotion = goose.membership().id();
    assert_eq!(goose.membership_pending(), Some(true));

    assert_eq!(goose.leave(), Ok(()));
    // Nothing to hand over to, nothing sent to itself, still leading.
    let outputs = drain(&mut goose);
    assert!(
        !outputs
            .iter()
            .any(|o| matches!(o, Output::Send { to, .. } if *to == id(1))),
        "{outputs:?}"
    );
    assert_eq!(goose.membership().id(), promotion);

    // 2 acknowledges the promotion: it commits, and the removal follows.
    let mut outputs = Vec::new();
    while goose.membership().contains(id(1)) {
        outputs.extend(tick_with_acks(&mut goose, &[2]));
        ticks += 1;
        assert!(ticks < 20 * TIMEOUT_MAX, "1 never removed itself");
    }
    // Then that commits too, and the Goose hands over to 2.
    while goose.membership_pending().is_some() {
        outputs.extend(tick_with_acks(&mut goose, &[2]));
        ticks += 1;
        assert!(ticks < 30 * TIMEOUT_MAX, "the removal never committed");
    }
    assert!(outputs.contains(&send(2, timeout_now(1))), "{outputs:?}");
    assert_eq!(goose.role(), Role::Duck);
}

// A learner that hears from no Goose asks the voters whether its membership
// is current; a voter holding a newer one sends it, and the learner adopts
// it. A probe never moves anyone's term.
#[test]
fn membership_a_learner_cut_off_probes_and_catches_up() {
    let held = settled_goose(with_learner(1)).membership().clone();
    assert!(held.is_learner(id(4)));
    let mut voter = unsticky_holding(with_learner(2), &held);
    voter.handle_message(
        id(4),
        Message::MembershipProbe {
            term: Term(7),
            membership: CONFIGURED,
        },
    );
    assert_eq!(drain(&mut voter), vec![send(4, newer_membership(1, &held))]);
    assert_eq!(voter.term(), Term(1));
    // Current: nothing to say.
    voter.handle_message(
        id(4),
        Message::MembershipProbe {
            term: Term(1),
            membership: held.id(),
        },
    );
    assert_eq!(drain(&mut voter), vec![]);
}
