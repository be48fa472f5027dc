//! Helpers for the checkers' tests, and the tests of how the `Checker`
//! combines them.

use super::*;
use crate::core::{Role, Term};

/// The configured membership of `voters` voters and `learners` learners
/// after them, as the simulator builds it.
pub(super) fn initial(voters: u64, learners: u64) -> Membership {
    Membership::new((1..=voters).map(NodeId))
        .with_learners((voters + 1..=voters + learners).map(NodeId))
}

pub(super) fn hs(term: u64, vote: Option<u64>) -> HardState {
    HardState {
        term: Term(term),
        voted_for: vote.map(NodeId),
    }
}

/// Shows `checker` the status of a live node that holds no membership of
/// interest.
pub(super) fn on_status(
    checker: &mut dyn Invariant,
    at_us: u64,
    node: NodeId,
    role: Role,
    term: Term,
    leader: Option<NodeId>,
) -> Result<(), Violation> {
    let membership = Membership::default();
    let status = NodeView {
        id: node,
        role,
        term,
        leader,
        membership: &membership,
        membership_pending: None,
        is_goose: role == Role::Goose,
        paused: false,
    };
    checker.on_status(at_us, &status)
}

/// Shows `checker` a Goose of `term` holding `membership`, with `pending`
/// as its `membership_pending()`.
pub(super) fn on_goose(
    checker: &mut dyn Invariant,
    at_us: u64,
    node: NodeId,
    term: Term,
    membership: &Membership,
    pending: Option<bool>,
) -> Result<(), Violation> {
    let status = NodeView {
        id: node,
        role: Role::Goose,
        term,
        leader: Some(node),
        membership,
        membership_pending: pending,
        is_goose: true,
        paused: false,
    };
    checker.on_goose(at_us, &status)
}

fn checker_for(voters: usize, learners: usize) -> Checker {
    Checker::new(
        voters,
        learners,
        0,
        &initial(voters as u64, learners as u64),
    )
}

/// The learners check comes before the leader of a term is recorded.
#[test]
fn a_learner_leading_a_term_is_caught() {
    let mut checker = checker_for(3, 2);
    let error = on_status(
        &mut checker,
        5,
        NodeId(5),
        Role::Duck,
        Term(7),
        Some(NodeId(5)),
    )
    .unwrap_err();
    assert_eq!(
        error,
        Violation::LearnerLeads {
            at_us: 5,
            node: NodeId(5),
            term: Term(7),
        }
    );
    assert_eq!(error.to_string(), "at 5us: learner n5 says it leads term 7");
    // Not recorded as the leader of term 7 either: a voter may still lead it.
    assert_eq!(
        on_status(
            &mut checker,
            6,
            NodeId(2),
            Role::Duck,
            Term(7),
            Some(NodeId(2))
        ),
        Ok(())
    );
}

/// A restart that loses both the membership and the vote its messages
/// showed reports the membership: the membership checks come first.
#[test]
fn the_membership_checks_come_before_the_durability_checks() {
    let mut checker = checker_for(3, 0);
    let initial = initial(3, 0);
    let newer = initial.reissued(Term(3));
    let ack = Message::HeartbeatAck {
        term: Term(3),
        sent_tick: 5,
        membership: newer.id(),
    };
    assert_eq!(checker.on_send(1, NodeId(2), NodeId(1), &ack), Ok(()));
    checker.on_crash(2, NodeId(2));
    assert!(matches!(
        checker.on_restart(2, NodeId(2), hs(1, None), &initial),
        Err(Violation::ExposedMembershipLost { .. })
    ));
    assert!(matches!(
        checker.on_restart(2, NodeId(2), hs(1, None), &newer),
        Err(Violation::ExposedStateLost { .. })
    ));
}

/// In the sweep, a second Goose that should not lead at all is reported as
/// such, not as a second Goose: the membership checks come before election
/// safety.
#[test]
fn a_second_goose_that_is_no_voter_is_reported_as_such() {
    let mut checker = checker_for(3, 0);
    let voters = initial(3, 0);
    let without_two = Membership::new([NodeId(1), NodeId(3)]).with_learners([NodeId(2)]);
    checker.on_sweep(1);
    assert_eq!(
        on_goose(&mut checker, 1, NodeId(1), Term(2), &voters, Some(false)),
        Ok(())
    );
    assert!(matches!(
        on_goose(&mut checker, 1, NodeId(2), Term(3), &without_two, None),
        Err(Violation::GooseNotAVoter { .. })
    ));
    assert!(matches!(
        on_goose(&mut checker, 1, NodeId(3), Term(3), &voters, Some(false)),
        Err(Violation::TwoGeese { .. })
    ));
}
