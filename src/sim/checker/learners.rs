//! Learners never lead (invariant 5 of the `sim` module docs): a configured
//! learner is never the Goose, never says it leads its term, never grants a
//! vote or pre-vote, never starts an election or pre-vote round, and no node
//! accepts `campaign` on a learner or a transfer to one.
//!
//! Outputs are checked as the core produces them, including those a crash
//! then loses. Learners that join later are the membership checker's
//! business: they are learners only until promoted.

use super::invariant::{CommandOutcome, Invariant, NodeView};
use super::{Violation, index_of};
use crate::core::{Event, Message, NodeId, Output, Role};
use crate::sim::trace::SimCommand;

/// Checks the configured learners: the ids after the voters'.
#[derive(Debug)]
pub(crate) struct Learners {
    /// How many voters; the learners' indices follow theirs.
    voters: usize,
    /// How many configured (permanent) learners.
    learners: usize,
}

impl Learners {
    /// A checker for `voters` voters (ids `1..=voters`) followed by
    /// `learners` learners.
    pub(crate) fn new(voters: usize, learners: usize) -> Self {
        Learners { voters, learners }
    }

    /// Whether node `id` is a configured (permanent) learner.
    pub(crate) fn is_learner(&self, id: NodeId) -> bool {
        index_of(id)
            .is_some_and(|index| index >= self.voters && index < self.voters + self.learners)
    }

    /// The learner `command`, issued to `node`, would make lead: `campaign`
    /// on a learner, or a transfer to one. Such a command must be refused.
    pub(crate) fn learner_in_command(&self, node: NodeId, command: SimCommand) -> Option<NodeId> {
        match command {
            SimCommand::Campaign if self.is_learner(node) => Some(node),
            SimCommand::Transfer(to) if self.is_learner(to) => Some(to),
            _ => None,
        }
    }
}

impl Invariant for Learners {
    fn name(&self) -> &str {
        "learners"
    }

    fn on_output(&mut self, at_us: u64, node: NodeId, output: &Output) -> Result<(), Violation> {
        if !self.is_learner(node) {
            return Ok(());
        }
        match *output {
            Output::Event(Event::ElectionStarted { term, pre_vote }) => {
                Err(Violation::LearnerStartedElection {
                    at_us,
                    node,
                    term,
                    pre_vote,
                })
            }
            Output::Event(Event::RoleChanged {
                role: Role::Goose,
                term,
                ..
            }) => Err(Violation::LearnerIsGoose { at_us, node, term }),
            Output::Send {
                to,
                msg:
                    Message::VoteResponse {
                        term,
                        granted: true,
                    },
            } => Err(Violation::LearnerGrantedVote {
                at_us,
                node,
                candidate: to,
                term,
                pre_vote: false,
            }),
            Output::Send {
                to,
                msg:
                    Message::PreVoteResponse {
                        term,
                        granted: true,
                    },
            } => Err(Violation::LearnerGrantedVote {
                at_us,
                node,
                candidate: to,
                term,
                pre_vote: true,
            }),
            _ => Ok(()),
        }
    }

    fn on_command(
        &mut self,
        at_us: u64,
        node: NodeId,
        outcome: &CommandOutcome,
    ) -> Result<(), Violation> {
        match self.learner_in_command(node, outcome.command) {
            Some(learner) if outcome.accepted => Err(Violation::LearnerCommandAccepted {
                at_us,
                node,
                command: outcome.command,
                learner,
            }),
            _ => Ok(()),
        }
    }

    #[inline]
    fn on_status(&mut self, at_us: u64, status: &NodeView<'_>) -> Result<(), Violation> {
        let NodeView {
            id: node,
            role,
            term,
            leader,
            ..
        } = *status;
        if !self.is_learner(node) {
            return Ok(());
        }
        if role == Role::Goose {
            return Err(Violation::LearnerIsGoose { at_us, node, term });
        }
        if leader == Some(node) {
            return Err(Violation::LearnerLeads { at_us, node, term });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    // The core cannot be made to misbehave from here (its planted mutations
    // do not cover learners), so these feed the checker fabricated
    // observations of a learner doing what it must never do.

    use super::*;
    use crate::core::Term;
    use crate::sim::checker::tests::on_status;

    /// Voters 1..=3, learners 4 and 5.
    fn with_learners() -> Learners {
        Learners::new(3, 2)
    }

    /// Issues `command` to `node`: the violation if accepting it was one,
    /// else whether it involved a learner (and so was rightly refused).
    fn on_command(
        checker: &mut Learners,
        at_us: u64,
        node: NodeId,
        command: SimCommand,
        accepted: bool,
    ) -> Result<bool, Violation> {
        let outcome = CommandOutcome {
            command,
            accepted,
            membership_changed: false,
            was_goose: false,
        };
        checker.on_command(at_us, node, &outcome)?;
        Ok(checker.learner_in_command(node, command).is_some())
    }

    #[test]
    fn learners_are_the_indices_after_the_voters() {
        let checker = with_learners();
        assert!(!checker.is_learner(NodeId(3)));
        assert!(checker.is_learner(NodeId(4)) && checker.is_learner(NodeId(5)));
        assert!(!checker.is_learner(NodeId(6)));
        assert!(!checker.is_learner(NodeId(0)));
        assert!(checker.is_learner(NodeId(4)));
        assert!(!checker.is_learner(NodeId(6)));
        assert!(!checker.is_learner(NodeId(u64::MAX)));
    }

    #[test]
    fn a_learner_reported_as_goose_is_caught() {
        let mut checker = with_learners();
        // A voter Goose leading its term, and a learner following it, are fine.
        assert_eq!(
            on_status(
                &mut checker,
                1,
                NodeId(1),
                Role::Goose,
                Term(2),
                Some(NodeId(1))
            ),
            Ok(())
        );
        assert_eq!(
            on_status(
                &mut checker,
                1,
                NodeId(4),
                Role::Duck,
                Term(2),
                Some(NodeId(1))
            ),
            Ok(())
        );
        let error = on_status(
            &mut checker,
            2,
            NodeId(4),
            Role::Goose,
            Term(3),
            Some(NodeId(4)),
        )
        .unwrap_err();
        assert_eq!(
            error,
            Violation::LearnerIsGoose {
                at_us: 2,
                node: NodeId(4),
                term: Term(3),
            }
        );
        assert_eq!(
            error.to_string(),
            "at 2us: learner n4 is the Goose in term 3"
        );
    }

    #[test]
    fn a_learner_granting_a_vote_or_pre_vote_is_caught() {
        let mut checker = with_learners();
        let grant = |msg| Output::Send { to: NodeId(2), msg };
        let refusal = grant(Message::VoteResponse {
            term: Term(4),
            granted: false,
        });
        assert_eq!(checker.on_output(1, NodeId(4), &refusal), Ok(()));
        let vote = grant(Message::VoteResponse {
            term: Term(4),
            granted: true,
        });
        // A voter may grant; a learner may not.
        assert_eq!(checker.on_output(1, NodeId(1), &vote), Ok(()));
        let error = checker.on_output(2, NodeId(4), &vote).unwrap_err();
        assert_eq!(
            error,
            Violation::LearnerGrantedVote {
                at_us: 2,
                node: NodeId(4),
                candidate: NodeId(2),
                term: Term(4),
                pre_vote: false,
            }
        );
        assert_eq!(
            error.to_string(),
            "at 2us: learner n4 granted its vote for term 4 to n2"
        );
        let pre_vote = grant(Message::PreVoteResponse {
            term: Term(5),
            granted: true,
        });
        assert_eq!(
            checker
                .on_output(3, NodeId(5), &pre_vote)
                .unwrap_err()
                .to_string(),
            "at 3us: learner n5 granted its pre-vote for term 5 to n2"
        );
    }

    #[test]
    fn a_learner_starting_an_election_is_caught() {
        let mut checker = with_learners();
        let started = |pre_vote| {
            Output::Event(Event::ElectionStarted {
                term: Term(9),
                pre_vote,
            })
        };
        assert_eq!(checker.on_output(1, NodeId(3), &started(true)), Ok(()));
        let error = checker.on_output(1, NodeId(4), &started(true)).unwrap_err();
        assert_eq!(
            error,
            Violation::LearnerStartedElection {
                at_us: 1,
                node: NodeId(4),
                term: Term(9),
                pre_vote: true,
            }
        );
        assert_eq!(
            error.to_string(),
            "at 1us: learner n4 started a pre-vote round for term 9"
        );
        assert_eq!(
            checker
                .on_output(2, NodeId(5), &started(false))
                .unwrap_err()
                .to_string(),
            "at 2us: learner n5 started an election for term 9"
        );
        // Becoming the Goose shows in the event stream too.
        let elected = Output::Event(Event::RoleChanged {
            role: Role::Goose,
            term: Term(9),
            reason: crate::core::RoleChangeReason::Elected,
        });
        assert_eq!(
            checker.on_output(3, NodeId(5), &elected),
            Err(Violation::LearnerIsGoose {
                at_us: 3,
                node: NodeId(5),
                term: Term(9),
            })
        );
    }

    #[test]
    fn commands_that_would_make_a_learner_lead_must_be_refused() {
        let mut checker = with_learners();
        let (n1, n4, n5) = (NodeId(1), NodeId(4), NodeId(5));
        // Refused: fine, and reported as a learner command to count.
        assert_eq!(
            on_command(&mut checker, 1, n4, SimCommand::Campaign, false),
            Ok(true)
        );
        assert_eq!(
            on_command(&mut checker, 1, n1, SimCommand::Transfer(NodeId(5)), false),
            Ok(true)
        );
        // Commands among voters are none of this check's business.
        assert_eq!(
            on_command(&mut checker, 1, n1, SimCommand::Campaign, true),
            Ok(false)
        );
        assert_eq!(
            on_command(&mut checker, 1, n1, SimCommand::Transfer(NodeId(2)), true),
            Ok(false)
        );
        assert_eq!(
            on_command(&mut checker, 1, n4, SimCommand::StepDown, false),
            Ok(false)
        );
        // Accepted: a violation.
        let error =
            on_command(&mut checker, 2, n1, SimCommand::Transfer(NodeId(4)), true).unwrap_err();
        assert_eq!(
            error,
            Violation::LearnerCommandAccepted {
                at_us: 2,
                node: NodeId(1),
                command: SimCommand::Transfer(NodeId(4)),
                learner: NodeId(4),
            }
        );
        assert_eq!(
            error.to_string(),
            "at 2us: n1 accepted transfer_leadership(n4), which would make learner n4 lead; \
             it must be refused"
        );
        assert!(matches!(
            on_command(&mut checker, 3, n5, SimCommand::Campaign, true),
            Err(Violation::LearnerCommandAccepted {
                learner: NodeId(5),
                ..
            })
        ));
    }
}
