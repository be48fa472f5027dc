//! The membership checks can fail (see also `rights::tests`). The planted
//! core bugs and the host bug in `tests/sim_props.rs` reach some of them
//! through the simulator; the rest need core mutations that do not exist
//! yet, so these feed the checker fabricated outputs.

use super::issuance::changed_voters;
use super::*;
use crate::core::HardState;
use crate::sim::checker::tests::{hs, initial};

/// Voters n1..=n3, no learner: the configured membership, v0@t0.
pub(super) fn three() -> (Memberships, Membership) {
    let initial = initial(3, 0);
    (Memberships::new(3, 2, &initial), initial)
}

pub(super) fn persist(membership: &Membership) -> Output {
    Output::PersistMembership(Box::new(membership.clone()))
}

pub(super) fn committed(id: MembershipId) -> Output {
    Output::Event(Event::MembershipCommitted { id })
}

/// `node` holds `membership` in its output stream, and its host made it
/// durable.
pub(super) fn hold(checker: &mut Memberships, node: NodeId, membership: &Membership) {
    assert_eq!(checker.on_output(1, node, &persist(membership)), Ok(()));
    assert_eq!(
        checker.on_persist_membership(1, node, membership.id()),
        Ok(())
    );
}

/// The Goose n1 re-issues the configured membership in term 2, every
/// node holds it, and it commits.
pub(super) fn reissued_and_committed(
    checker: &mut Memberships,
    initial: &Membership,
) -> Membership {
    let reissue = initial.reissued(Term(2));
    for node in 1..=3 {
        hold(checker, NodeId(node), &reissue);
    }
    assert_eq!(
        checker.on_output(1, NodeId(1), &committed(reissue.id())),
        Ok(())
    );
    assert_eq!(
        checker.on_membership_event(1, NodeId(1), reissue.id(), true),
        Ok(())
    );
    reissue
}

#[test]
fn memberships_that_go_back_are_caught() {
    let (mut checker, initial) = three();
    let newer = initial.reissued(Term(3));
    hold(&mut checker, NodeId(1), &newer);
    // In memory...
    assert!(matches!(
        checker.on_membership(2, NodeId(1), initial.id()),
        Err(Violation::MembershipWentBack { durable: false, .. })
    ));
    assert!(matches!(
        checker.on_output(2, NodeId(1), &persist(&initial)),
        Err(Violation::MembershipWentBack { durable: false, .. })
    ));
    // ...and on disk.
    let error = checker
        .on_persist_membership(3, NodeId(2), newer.id())
        .and_then(|()| checker.on_persist_membership(3, NodeId(2), initial.id()))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "at 3us: n2's durable membership went back from v1@t3 to v0@t0"
    );
}

#[test]
fn a_restart_behind_an_exposed_membership_is_caught() {
    let (mut checker, initial) = three();
    let newer = initial.reissued(Term(3));
    let ack = Message::HeartbeatAck {
        term: Term(3),
        sent_tick: 5,
        membership: newer.id(),
    };
    assert_eq!(checker.on_send(1, NodeId(2), NodeId(1), &ack), Ok(()));
    checker.on_crash(2, NodeId(2));
    let error = checker
        .on_restart(2, NodeId(2), HardState::default(), &initial)
        .unwrap_err();
    assert_eq!(
        error,
        Violation::ExposedMembershipLost {
            at_us: 2,
            node: NodeId(2),
            loaded: initial.id(),
            exposed: newer.id(),
        }
    );
    assert_eq!(
        checker.on_restart(2, NodeId(2), hs(3, None), &newer),
        Ok(()),
        "restarting with what it showed is fine"
    );
}

#[test]
fn two_memberships_under_one_id_are_caught() {
    let (mut checker, initial) = three();
    let reissue = reissued_and_committed(&mut checker, &initial);
    let add_four = reissue
        .adding(Term(2), NodeId(4), "n4.sim:7000")
        .unwrap()
        .unwrap();
    hold(&mut checker, NodeId(1), &add_four);
    // Another membership under the same id (say, from a Goose that
    // forgot to bump the version), held or sent by anyone.
    let add_five = reissue
        .adding(Term(2), NodeId(5), "n5.sim:7000")
        .unwrap()
        .unwrap();
    assert_eq!(add_five.id(), add_four.id());
    let error = checker
        .on_output(4, NodeId(2), &persist(&add_five))
        .unwrap_err();
    assert!(
        matches!(
            error,
            Violation::MembershipIdReused {
                node: NodeId(2),
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "at 4us: n2 holds membership v2@t2 as v2@t2 voters [n1 n2 n3] learners [n5*], \
         but it was issued as v2@t2 voters [n1 n2 n3] learners [n4*]"
    );
    let heartbeat = Output::Send {
        to: NodeId(3),
        msg: Message::Heartbeat {
            term: Term(2),
            sent_tick: 1,
            membership: Some(Box::new(add_five)),
        },
    };
    assert!(matches!(
        checker.on_output(5, NodeId(3), &heartbeat),
        Err(Violation::MembershipIdReused { .. })
    ));
}

#[test]
fn a_change_of_two_voters_at_once_is_caught() {
    let (mut checker, initial) = three();
    let reissue = reissued_and_committed(&mut checker, &initial);
    // n1 and n2 out at once (two single changes without the step
    // between), issued by n1.
    let two_out = reissue
        .removing(Term(2), NodeId(1))
        .unwrap()
        .removing(Term(2), NodeId(2))
        .unwrap();
    let error = checker
        .on_output(3, NodeId(1), &persist(&two_out))
        .unwrap_err();
    assert_eq!(
        error,
        Violation::MultiVoterChange {
            at_us: 3,
            node: NodeId(1),
            from: reissue.id(),
            to: two_out.id(),
            changed: Box::new([NodeId(1), NodeId(2)]),
        }
    );
}

#[test]
fn a_change_on_an_uncommitted_membership_is_caught() {
    let (mut checker, initial) = three();
    // The re-issue is held but never committed...
    let reissue = initial.reissued(Term(2));
    hold(&mut checker, NodeId(1), &reissue);
    // ...and a change on top of it must not be made.
    let change = reissue.removing(Term(2), NodeId(3)).unwrap();
    assert_eq!(
        checker.on_output(2, NodeId(1), &persist(&change)),
        Err(Violation::ChangeOnUncommittedBase {
            at_us: 2,
            node: NodeId(1),
            base: reissue.id(),
            change: change.id(),
        })
    );
    // A re-issue of an uncommitted membership is fine (that is how a new
    // Goose commits it).
    let (mut checker, initial) = three();
    let change = initial.removing(Term(0), NodeId(3)).unwrap();
    hold(&mut checker, NodeId(2), &change);
    assert_eq!(
        checker.on_output(3, NodeId(2), &persist(&change.reissued(Term(4)))),
        Ok(())
    );
}

#[test]
fn a_commit_without_a_durable_majority_is_caught() {
    let (mut checker, initial) = three();
    let reissue = initial.reissued(Term(2));
    // Only the Goose holds it durably; n2 holds it in memory only.
    hold(&mut checker, NodeId(1), &reissue);
    assert_eq!(checker.on_output(1, NodeId(2), &persist(&reissue)), Ok(()));
    assert_eq!(
        checker.on_output(2, NodeId(1), &committed(reissue.id())),
        Ok(())
    );
    assert_eq!(
        checker.on_membership_event(2, NodeId(1), reissue.id(), true),
        Err(Violation::CommittedWithoutMajority {
            at_us: 2,
            node: NodeId(1),
            id: reissue.id(),
            holders: 1,
            quorum: 2,
        })
    );
    // Once n2's host has made it durable, the commit holds.
    assert_eq!(
        checker.on_persist_membership(3, NodeId(2), reissue.id()),
        Ok(())
    );
    assert_eq!(
        checker.on_membership_event(3, NodeId(1), reissue.id(), true),
        Ok(())
    );
    assert_eq!(checker.latest_committed().id(), reissue.id());
}

#[test]
fn a_membership_event_before_its_persist_is_caught() {
    let (mut checker, initial) = three();
    let reissue = initial.reissued(Term(2));
    assert_eq!(checker.on_output(1, NodeId(1), &persist(&reissue)), Ok(()));
    // The host sees the event while its disk still holds v0@t0.
    let error = checker
        .on_membership_event(1, NodeId(1), reissue.id(), false)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "at 1us: n1 announced membership v1@t2 changed while its disk held v0@t0"
    );
}

/// A stale node catching up from a peer's `NewerMembership` adopts an
/// issued membership: it is not checked as one it issued (here two
/// voters away from its own, and made on bases it never held), and the
/// message binds its sender like a heartbeat does.
#[test]
fn a_membership_adopted_from_a_peer_is_not_issued_by_the_adopter() {
    let (mut checker, initial) = three();
    let reissue = reissued_and_committed(&mut checker, &initial);
    // n1 removes n3, adds n4 and promotes it, each change held by n1 and
    // n2 and committed; n3 hears of none of them.
    let mut base = reissue;
    let changes = [
        base.removing(Term(2), NodeId(3)).unwrap(),
        base.removing(Term(2), NodeId(3))
            .unwrap()
            .adding(Term(2), NodeId(4), "n4.sim:7000")
            .unwrap()
            .unwrap(),
    ];
    for change in changes {
        hold(&mut checker, NodeId(1), &change);
        hold(&mut checker, NodeId(2), &change);
        assert_eq!(
            checker.on_output(1, NodeId(1), &committed(change.id())),
            Ok(())
        );
        assert_eq!(
            checker.on_membership_event(1, NodeId(1), change.id(), true),
            Ok(())
        );
        base = change;
    }
    let promoted = base.promoting(Term(2), NodeId(4));
    hold(&mut checker, NodeId(1), &promoted);
    hold(&mut checker, NodeId(2), &promoted);
    assert_eq!(
        checker.on_output(1, NodeId(1), &committed(promoted.id())),
        Ok(())
    );
    assert_eq!(
        checker.on_membership_event(1, NodeId(1), promoted.id(), true),
        Ok(())
    );
    assert_eq!(changed_voters(&initial, &promoted).len(), 2);

    // n3 campaigns with the re-issue; n2 answers with what it holds.
    let answer = Message::NewerMembership {
        term: Term(2),
        membership: Box::new(promoted.clone()),
    };
    let sent = Output::Send {
        to: NodeId(3),
        msg: answer.clone(),
    };
    assert_eq!(checker.on_output(2, NodeId(2), &sent), Ok(()));
    assert_eq!(checker.on_send(2, NodeId(2), NodeId(3), &answer), Ok(()));
    // n3 adopts it (and finds itself removed).
    hold(&mut checker, NodeId(3), &promoted);
    assert_eq!(
        checker.on_output(
            3,
            NodeId(3),
            &Output::Event(Event::MembershipChanged { id: promoted.id() })
        ),
        Ok(())
    );
    assert_eq!(
        checker.on_membership_event(3, NodeId(3), promoted.id(), false),
        Ok(())
    );

    // The answer showed what n2 holds: it may not restart behind it.
    checker.on_crash(4, NodeId(2));
    assert_eq!(
        checker.on_restart(4, NodeId(2), hs(2, None), &initial),
        Err(Violation::ExposedMembershipLost {
            at_us: 4,
            node: NodeId(2),
            loaded: initial.id(),
            exposed: promoted.id(),
        })
    );
    // And it must carry the membership issued under its id.
    let forged = base.removing(Term(2), NodeId(4)).unwrap();
    assert_eq!(forged.id(), promoted.id());
    let sent = Output::Send {
        to: NodeId(3),
        msg: Message::NewerMembership {
            term: Term(2),
            membership: Box::new(forged),
        },
    };
    assert!(matches!(
        checker.on_output(5, NodeId(1), &sent),
        Err(Violation::MembershipIdReused {
            node: NodeId(1),
            ..
        })
    ));
}
