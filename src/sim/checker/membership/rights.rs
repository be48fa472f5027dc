//! Who may campaign, vote, lead and change the membership, by the membership
//! each node holds (invariants 10 and 11 of the `sim` module docs).

use super::Memberships;
use crate::core::{NodeId, Term};
use crate::sim::checker::Violation;
use crate::sim::checker::invariant::{CommandOutcome, NodeView};
use crate::sim::trace::SimCommand;

impl Memberships {
    /// Invariant 10 for an election (or pre-vote round) `node` started: a
    /// node campaigns only as a voter of the membership it holds.
    pub(super) fn check_campaign(
        &self,
        at_us: u64,
        node: NodeId,
        term: Term,
        pre_vote: bool,
    ) -> Result<(), Violation> {
        let Some(held) = self.held(node) else {
            return Ok(());
        };
        if !held.contains(node) {
            return Err(Violation::RemovedNodeCampaigned {
                at_us,
                node,
                term,
                pre_vote,
                membership: held.id(),
            });
        }
        if !held.is_voter(node) {
            return Err(Violation::LearnerStartedElection {
                at_us,
                node,
                term,
                pre_vote,
            });
        }
        Ok(())
    }

    /// Invariant 10 for a (pre-)vote `node` granted to `candidate` for
    /// `term`: a voter of the membership it holds may grant it (the core's
    /// other rules decide); any other node only on a request carrying a
    /// membership newer than its own, or the one its own was made from.
    /// Votes follow the candidate's membership, which counts only its own
    /// voters, so the vote cannot help elect anyone in a membership that
    /// replaced the one it counts in: if the change that took this node's
    /// vote committed, a majority of its voters hold it and refuse the
    /// candidate, and that majority meets every majority of the membership
    /// before (single-server changes).
    pub(super) fn check_grant(
        &self,
        at_us: u64,
        node: NodeId,
        candidate: NodeId,
        term: Term,
        pre_vote: bool,
    ) -> Result<(), Violation> {
        let Some(held) = self.held(node) else {
            return Ok(());
        };
        if held.is_voter(node) {
            return Ok(());
        }
        let asked_with = self
            .requests
            .get(&(node, candidate, term, pre_vote))
            .cloned()
            .unwrap_or_default();
        let made_from = self.predecessor.get(&held.id()).copied();
        let allowed = asked_with
            .iter()
            .any(|asked| *asked > held.id() || Some(*asked) == made_from);
        if allowed {
            return Ok(());
        }
        Err(Violation::NonVoterGrantedVote {
            at_us,
            node,
            candidate,
            term,
            pre_vote,
            held: held.id(),
            asked_with: asked_with.into_iter().collect(),
        })
    }

    /// Invariants 10 (the Goose side) and 11, from a live Goose after every
    /// event: a node removed by a committed change is never the Goose, and a
    /// Goose is a voter of its own membership unless the change removing
    /// it is pending.
    pub(super) fn check_goose(&self, at_us: u64, status: &NodeView<'_>) -> Result<(), Violation> {
        let NodeView {
            id: node,
            term,
            membership,
            membership_pending,
            ..
        } = *status;
        if self.is_removed(node) {
            return Err(Violation::RemovedNodeIsGoose { at_us, node, term });
        }
        if !membership.is_voter(node) && membership_pending != Some(true) {
            return Err(Violation::GooseNotAVoter {
                at_us,
                node,
                term,
                membership: membership.id(),
            });
        }
        Ok(())
    }

    /// Invariant 11: only the Goose changes the membership with
    /// `propose_add` and `propose_remove`. (Accepting an add of a member at
    /// its own address changes nothing, and an elected node may answer it
    /// before its lease starts.)
    pub(super) fn check_command(
        &self,
        at_us: u64,
        node: NodeId,
        outcome: &CommandOutcome,
    ) -> Result<(), Violation> {
        let command = outcome.command;
        let proposes = matches!(command, SimCommand::AddNode(_) | SimCommand::RemoveNode(_));
        let proposed = outcome.accepted && outcome.membership_changed;
        if proposes && proposed && !outcome.was_goose {
            return Err(Violation::MembershipCommandAcceptedByDuck {
                at_us,
                node,
                command,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::core::{
        Event, Membership, MembershipId, Message, NodeId, Output, Role, RoleChangeReason, Term,
    };
    use crate::sim::checker::membership::Memberships;
    use crate::sim::checker::membership::tests::{
        committed, hold, persist, reissued_and_committed, three,
    };
    use crate::sim::checker::tests::on_goose;
    use crate::sim::checker::{CommandOutcome, Invariant, Violation};
    use crate::sim::trace::SimCommand;

    /// `node` was given `command`: accepted, and its membership changed,
    /// when `proposed`.
    fn membership_command(
        checker: &mut Memberships,
        at_us: u64,
        node: NodeId,
        command: SimCommand,
        proposed: bool,
        was_goose: bool,
    ) -> Result<(), Violation> {
        let outcome = CommandOutcome {
            command,
            accepted: proposed,
            membership_changed: proposed,
            was_goose,
        };
        checker.on_command(at_us, node, &outcome)
    }

    #[test]
    fn a_removed_node_that_campaigns_or_leads_is_caught() {
        let (mut checker, initial) = three();
        let reissue = reissued_and_committed(&mut checker, &initial);
        let without_three = reissue.removing(Term(2), NodeId(3)).unwrap();
        hold(&mut checker, NodeId(1), &without_three);
        hold(&mut checker, NodeId(3), &without_three);
        // n3 holds a membership without itself: it must not campaign.
        let started = Output::Event(Event::ElectionStarted {
            term: Term(3),
            pre_vote: true,
        });
        assert_eq!(
            checker.on_output(2, NodeId(3), &started),
            Err(Violation::RemovedNodeCampaigned {
                at_us: 2,
                node: NodeId(3),
                term: Term(3),
                pre_vote: true,
                membership: without_three.id(),
            })
        );
        // Not yet committed: n3 is not "removed by a committed change".
        assert!(!checker.is_removed(NodeId(3)));
        hold(&mut checker, NodeId(2), &without_three);
        assert_eq!(
            checker.on_output(3, NodeId(1), &committed(without_three.id())),
            Ok(())
        );
        assert_eq!(
            checker.on_membership_event(3, NodeId(1), without_three.id(), true),
            Ok(())
        );
        assert!(checker.is_removed(NodeId(3)));
        // Now it must never lead again, whatever membership it holds.
        assert_eq!(
            on_goose(&mut checker, 4, NodeId(3), Term(5), &initial, Some(false)),
            Err(Violation::RemovedNodeIsGoose {
                at_us: 4,
                node: NodeId(3),
                term: Term(5),
            })
        );
        let elected = Output::Event(Event::RoleChanged {
            role: Role::Goose,
            term: Term(5),
            reason: RoleChangeReason::Elected,
        });
        assert!(matches!(
            checker.on_output(4, NodeId(3), &elected),
            Err(Violation::RemovedNodeIsGoose { .. })
        ));
    }

    #[test]
    fn a_joining_learner_that_campaigns_or_votes_is_caught() {
        let (mut checker, initial) = three();
        let reissue = reissued_and_committed(&mut checker, &initial);
        let with_four = reissue
            .adding(Term(2), NodeId(4), "n4.sim:7000")
            .unwrap()
            .unwrap();
        checker.on_join(1, NodeId(4), &with_four);
        let started = Output::Event(Event::ElectionStarted {
            term: Term(3),
            pre_vote: false,
        });
        assert!(matches!(
            checker.on_output(1, NodeId(4), &started),
            Err(Violation::LearnerStartedElection {
                node: NodeId(4),
                ..
            })
        ));
        let grant = Output::Send {
            to: NodeId(1),
            msg: Message::PreVoteResponse {
                term: Term(3),
                granted: true,
            },
        };
        // n1 asks with the membership n4 holds: n4 is no voter there.
        let ask = |checker: &mut Memberships, membership: MembershipId| {
            let request = Message::PreVote {
                term: Term(3),
                membership,
            };
            assert_eq!(checker.on_send(1, NodeId(1), NodeId(4), &request), Ok(()));
        };
        ask(&mut checker, with_four.id());
        assert_eq!(
            checker.on_output(1, NodeId(4), &grant),
            Err(Violation::NonVoterGrantedVote {
                at_us: 1,
                node: NodeId(4),
                candidate: NodeId(1),
                term: Term(3),
                pre_vote: true,
                held: with_four.id(),
                asked_with: Box::new([with_four.id()]),
            })
        );
        // Promoted by the Goose, n1, once the add committed: a candidate
        // holding the promotion may count n4's vote though n4 has not heard
        // of it yet.
        for node in [1, 2, 4] {
            hold(&mut checker, NodeId(node), &with_four);
        }
        assert_eq!(
            checker.on_output(2, NodeId(1), &committed(with_four.id())),
            Ok(())
        );
        let promoted = with_four.promoting(Term(2), NodeId(4));
        assert_eq!(checker.on_output(2, NodeId(1), &persist(&promoted)), Ok(()));
        ask(&mut checker, promoted.id());
        assert_eq!(checker.on_output(2, NodeId(4), &grant), Ok(()));
        // Once it holds the promotion, it is a voter: both are fine.
        assert_eq!(checker.on_output(2, NodeId(4), &persist(&promoted)), Ok(()));
        assert_eq!(checker.on_output(2, NodeId(4), &started), Ok(()));
        assert_eq!(checker.on_output(2, NodeId(4), &grant), Ok(()));
    }

    #[test]
    fn a_removed_node_votes_only_to_undo_its_removal() {
        let (mut checker, initial) = three();
        let reissue = reissued_and_committed(&mut checker, &initial);
        let without_three = reissue.removing(Term(2), NodeId(3)).unwrap();
        hold(&mut checker, NodeId(1), &without_three);
        hold(&mut checker, NodeId(3), &without_three);
        let grant = Output::Send {
            to: NodeId(2),
            msg: Message::VoteResponse {
                term: Term(3),
                granted: true,
            },
        };
        let ask = |checker: &mut Memberships, membership: MembershipId| {
            let request = Message::Vote {
                term: Term(3),
                transfer: false,
                membership,
            };
            assert_eq!(checker.on_send(1, NodeId(2), NodeId(3), &request), Ok(()));
        };
        // n2 never asked n3.
        assert!(matches!(
            checker.on_output(2, NodeId(3), &grant),
            Err(Violation::NonVoterGrantedVote { asked_with, .. }) if asked_with.is_empty()
        ));
        // n2 asks with the configured membership, two changes back: the
        // removal of n3 was made on the re-issue, not on that one.
        ask(&mut checker, initial.id());
        assert!(matches!(
            checker.on_output(2, NodeId(3), &grant),
            Err(Violation::NonVoterGrantedVote {
                node: NodeId(3),
                pre_vote: false,
                ..
            })
        ));
        // With the membership the removal was made on: n2 may need n3's
        // vote to undo an uncommitted removal.
        ask(&mut checker, reissue.id());
        assert_eq!(checker.on_output(2, NodeId(3), &grant), Ok(()));
    }

    #[test]
    fn a_goose_that_is_not_a_voter_is_caught() {
        let (mut checker, initial) = three();
        let without_one = initial.removing(Term(2), NodeId(1)).unwrap();
        // Leading its own removal while it is pending is fine...
        assert_eq!(
            on_goose(
                &mut checker,
                1,
                NodeId(1),
                Term(2),
                &without_one,
                Some(true)
            ),
            Ok(())
        );
        // ...still leading once it committed is not.
        assert_eq!(
            on_goose(
                &mut checker,
                2,
                NodeId(1),
                Term(2),
                &without_one,
                Some(false)
            ),
            Err(Violation::GooseNotAVoter {
                at_us: 2,
                node: NodeId(1),
                term: Term(2),
                membership: without_one.id(),
            })
        );
        let learner = Membership::new([NodeId(2), NodeId(3)]).with_learners([NodeId(1)]);
        assert!(matches!(
            on_goose(&mut checker, 3, NodeId(1), Term(2), &learner, None),
            Err(Violation::GooseNotAVoter { .. })
        ));
    }

    #[test]
    fn a_duck_that_changes_the_membership_is_caught() {
        let (mut checker, _) = three();
        let add = SimCommand::AddNode(NodeId(4));
        assert_eq!(
            membership_command(&mut checker, 1, NodeId(1), add, true, true),
            Ok(())
        );
        // Refused, or accepted without a change: fine.
        assert_eq!(
            membership_command(&mut checker, 1, NodeId(2), add, false, false),
            Ok(())
        );
        // `leave` is for anyone.
        assert_eq!(
            membership_command(&mut checker, 1, NodeId(2), SimCommand::Leave, true, false),
            Ok(())
        );
        assert_eq!(
            membership_command(
                &mut checker,
                2,
                NodeId(2),
                SimCommand::RemoveNode(NodeId(3)),
                true,
                false
            )
            .unwrap_err()
            .to_string(),
            "at 2us: n2 changed its membership with propose_remove(n3) while not the Goose"
        );
    }
}
