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
        is_goose: role == Role::Goose,
        paused: false,
        term,
        leader,
        membership: &membership,
        membership_pending: None,
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
        is_goose: true,
        paused: false,
        term,
        leader: Some(node),
        membership,
        membership_pending: pending,
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

/// A user's invariant for the tests: fails every status of node `fails_on`.
struct FailsOn {
    fails_on: NodeId,
}

impl Invariant for FailsOn {
    fn on_status(&mut self, at_us: u64, node: &NodeView<'_>) -> Result<(), Violation> {
        if node.id == self.fails_on {
            return Err(Violation::custom(at_us, format!("saw n{}", node.id)));
        }
        Ok(())
    }
}

/// The built-in families answer to short, stable names, and the failure of
/// one is blamed on it.
#[test]
fn a_built_in_violation_names_its_family() {
    let initial = initial(3, 1);
    assert_eq!(Learners::new(3, 1).name(), "learners");
    assert_eq!(Memberships::new(4, 0, &initial).name(), "memberships");
    assert_eq!(ElectionSafety::default().name(), "election_safety");
    assert_eq!(Durability::new(4, 0).name(), "durability");

    let mut checker = checker_for(3, 0);
    checker.on_sweep(1);
    let leads = |checker: &mut Checker, node| {
        on_status(
            checker,
            1,
            NodeId(node),
            Role::Duck,
            Term(4),
            Some(NodeId(node)),
        )
    };
    assert_eq!(leads(&mut checker, 1), Ok(()));
    let error = leads(&mut checker, 2).unwrap_err();
    assert!(matches!(error, Violation::TwoLeadersInTerm { .. }));
    assert_eq!(checker.blame(&error), "election_safety");

    let mut checker = checker_for(3, 0);
    let error = checker
        .on_persist(1, NodeId(1), hs(3, None), hs(2, None))
        .unwrap_err();
    assert_eq!(
        error,
        Violation::DurableStateWentBack {
            at_us: 1,
            node: NodeId(1),
            previous: hs(3, None),
            next: hs(2, None),
        }
    );
    assert_eq!(checker.blame(&error), "durability");
}

/// A user's invariant is fed events after the built-in ones, and its
/// violation is blamed on it by name; a built-in one breaking on the same
/// event wins, so the user's invariant does not see that event.
#[test]
fn a_user_violation_names_the_user_invariant() {
    let mut checker = checker_for(3, 1);
    checker.add(Box::new(FailsOn {
        fails_on: NodeId(2),
    }));
    checker.add(Box::new(FailsOn {
        fails_on: NodeId(4),
    }));
    assert_eq!(format!("{:?}", checker.users), r#"["FailsOn", "FailsOn"]"#);
    checker.on_sweep(1);
    assert_eq!(
        on_status(&mut checker, 1, NodeId(1), Role::Duck, Term(1), None),
        Ok(())
    );
    let error = on_status(&mut checker, 1, NodeId(2), Role::Duck, Term(1), None).unwrap_err();
    assert_eq!(error, Violation::custom(1, "saw n2"));
    assert_eq!(error.to_string(), "at 1us: saw n2");
    assert_eq!(checker.blame(&error), "FailsOn");

    // Learner n4 says it leads: "learners" breaks first.
    let mut checker = checker_for(3, 1);
    checker.add(Box::new(FailsOn {
        fails_on: NodeId(4),
    }));
    let error = on_status(
        &mut checker,
        2,
        NodeId(4),
        Role::Duck,
        Term(1),
        Some(NodeId(4)),
    )
    .unwrap_err();
    assert!(matches!(error, Violation::LearnerLeads { .. }));
    assert_eq!(checker.blame(&error), "learners");
}

/// The engine's own judgements, which no hook returns, are blamed on
/// `"garbage"` and `"liveness"`.
#[test]
fn the_engine_judgements_are_named_too() {
    let checker = checker_for(3, 0);
    let garbage = Violation::GarbageNotCounted {
        at_us: 1,
        node: NodeId(1),
        from: NodeId(1000),
    };
    assert_eq!(checker.blame(&garbage), "garbage");
    let stranded = Violation::JoinerNotPromoted {
        at_us: 9,
        node: NodeId(4),
        healed_at_us: 1,
        bound_us: 8,
    };
    assert_eq!(checker.blame(&stranded), "liveness");
}
