//! Durability and votes (invariants 3 and 4 of the `sim` module docs): a
//! live node's term never decreases and its vote never changes within a
//! term; what a host makes durable never goes back; a restarted node loads
//! at least the term and vote its messages showed (the persist barrier); and
//! no node votes for two candidates in one term, across restarts.

use std::collections::BTreeMap;

use super::invariant::Invariant;
use super::{PerNode, Violation};
use crate::core::{HardState, Membership, Message, NodeId, Term};

/// The hard state history of every node: live, and as its messages showed
/// it.
#[derive(Debug)]
pub(crate) struct Durability {
    /// Each node's hard state as last seen in its current life; `None` while
    /// it is down (or has not joined).
    live: PerNode<Option<HardState>>,
    /// What each node's messages have shown, across all its lives.
    exposed: PerNode<Exposure>,
    /// Every vote shown by a message: (voter, term) -> candidate.
    votes: BTreeMap<(NodeId, Term), NodeId>,
}

/// The most a node's messages have shown about its hard state: the highest
/// term, and the vote in that term if one was shown.
#[derive(Clone, Copy, Debug, Default)]
struct Exposure {
    term: Term,
    vote: Option<NodeId>,
}

impl Durability {
    /// A checker for `members` nodes that are up from the start, with a
    /// fresh hard state, then `spares` that may join later.
    pub(crate) fn new(members: usize, spares: usize) -> Self {
        let mut live = vec![Some(HardState::default()); members];
        live.resize(members + spares, None);
        Durability {
            live: PerNode::from(live),
            exposed: PerNode::from(vec![Exposure::default(); members + spares]),
            votes: BTreeMap::new(),
        }
    }
}

impl Invariant for Durability {
    fn name(&self) -> &str {
        "durability"
    }

    /// Invariant 3: a live node's term never decreases, and its vote never
    /// changes within a term.
    fn on_hard_state(&mut self, at_us: u64, node: NodeId, now: HardState) -> Result<(), Violation> {
        let Some(live) = self.live.get_mut(node) else {
            return Ok(());
        };
        if let Some(before) = *live {
            if now.term < before.term {
                return Err(Violation::TermWentBack {
                    at_us,
                    node,
                    from: before.term,
                    to: now.term,
                });
            }
            if now.term == before.term
                && let Some(vote) = before.voted_for
                && now.voted_for != Some(vote)
            {
                return Err(Violation::VoteChanged {
                    at_us,
                    node,
                    term: now.term,
                    from: vote,
                    to: now.voted_for,
                });
            }
        }
        *live = Some(now);
        Ok(())
    }

    /// Durable state only moves forward: never a lower term, never a vote
    /// dropped or changed within a term.
    fn on_persist(
        &mut self,
        at_us: u64,
        node: NodeId,
        previous: HardState,
        next: HardState,
    ) -> Result<(), Violation> {
        let same_term_vote_lost = next.term == previous.term
            && previous.voted_for.is_some()
            && next.voted_for != previous.voted_for;
        if next.term < previous.term || same_term_vote_lost {
            return Err(Violation::DurableStateWentBack {
                at_us,
                node,
                previous,
                next,
            });
        }
        Ok(())
    }

    /// Invariant 4, first half: record what a message leaving `node` shows
    /// about its sender, and catch a second vote in a term.
    ///
    /// The claim is read from the message itself rather than from the
    /// sender's in-memory state: the message is what the world saw, and the
    /// sender may already have moved on (to a state its host has not made
    /// durable yet) by the time the host drains the send.
    fn on_send(
        &mut self,
        at_us: u64,
        node: NodeId,
        to: NodeId,
        msg: &Message,
    ) -> Result<(), Violation> {
        let Some((term, vote)) = claim(node, to, msg) else {
            return Ok(());
        };
        if let Some(candidate) = vote {
            let first = *self.votes.entry((node, term)).or_insert(candidate);
            if first != candidate {
                return Err(Violation::DoubleVote {
                    at_us,
                    node,
                    term,
                    first,
                    second: candidate,
                });
            }
        }
        if let Some(exposed) = self.exposed.get_mut(node) {
            if term > exposed.term {
                *exposed = Exposure { term, vote };
            } else if term == exposed.term && vote.is_some() {
                exposed.vote = vote;
            }
        }
        Ok(())
    }

    fn on_crash(&mut self, _at_us: u64, node: NodeId) {
        if let Some(live) = self.live.get_mut(node) {
            *live = None;
        }
    }

    /// Invariant 4, second half (and invariant 3 across restarts): a node
    /// restarts from a state at least as new as anything its messages
    /// showed.
    fn on_restart(
        &mut self,
        at_us: u64,
        node: NodeId,
        loaded: HardState,
        _membership: &Membership,
    ) -> Result<(), Violation> {
        let exposed = self.exposed.get(node).copied().unwrap_or_default();
        let vote_lost = loaded.term == exposed.term
            && exposed.vote.is_some()
            && loaded.voted_for != exposed.vote;
        if loaded.term < exposed.term || vote_lost {
            return Err(Violation::ExposedStateLost {
                at_us,
                node,
                loaded,
                exposed_term: exposed.term,
                exposed_vote: exposed.vote,
            });
        }
        if let Some(live) = self.live.get_mut(node) {
            *live = Some(loaded);
        }
        Ok(())
    }

    fn on_join(&mut self, _at_us: u64, node: NodeId, _membership: &Membership) {
        if let Some(live) = self.live.get_mut(node) {
            *live = Some(HardState::default());
        }
    }
}

/// What `msg`, sent by `from` to `to`, proves about `from`'s hard state: its
/// term, and its vote in that term when the message implies one. Pre-vote
/// traffic proves nothing durable: it does not move the sender's term.
fn claim(from: NodeId, to: NodeId, msg: &Message) -> Option<(Term, Option<NodeId>)> {
    match *msg {
        // A candidate votes for itself, and a Goose was one.
        Message::Vote { term, .. } | Message::Heartbeat { term, .. } => Some((term, Some(from))),
        Message::VoteResponse { term, granted } => Some((term, granted.then_some(to))),
        // `Leave` goes out through the same persist barrier as any send.
        Message::HeartbeatAck { term, .. }
        | Message::TimeoutNow { term }
        | Message::Leave { term }
        | Message::MembershipProbe { term, .. }
        | Message::NewerMembership { term, .. } => Some((term, None)),
        // A refusal carries the responder's current term; a grant echoes
        // the requester's, which the responder has not adopted.
        Message::PreVoteResponse {
            term,
            granted: false,
        } => Some((term, None)),
        Message::PreVoteResponse { granted: true, .. } | Message::PreVote { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::checker::tests::{hs, initial};

    fn checker_for(members: usize) -> Durability {
        Durability::new(members, 0)
    }

    #[test]
    fn live_votes_and_terms_only_move_forward() {
        let mut checker = checker_for(1);
        let n1 = NodeId(1);
        assert!(checker.on_hard_state(0, n1, hs(3, None)).is_ok());
        assert!(checker.on_hard_state(0, n1, hs(3, Some(2))).is_ok());
        assert!(matches!(
            checker.on_hard_state(0, n1, hs(3, Some(3))),
            Err(Violation::VoteChanged { .. })
        ));
        assert!(checker.on_hard_state(0, n1, hs(4, None)).is_ok());
        assert!(matches!(
            checker.on_hard_state(0, n1, hs(2, None)),
            Err(Violation::TermWentBack { .. })
        ));
    }

    #[test]
    fn a_restart_behind_a_sent_vote_is_caught() {
        let mut checker = checker_for(3);
        let n1 = NodeId(1);
        let vote = Message::VoteResponse {
            term: Term(5),
            granted: true,
        };
        assert!(checker.on_send(10, n1, NodeId(2), &vote).is_ok());
        checker.on_crash(10, n1);
        assert!(matches!(
            checker.on_restart(20, n1, hs(5, None), &initial(3, 0)),
            Err(Violation::ExposedStateLost { .. })
        ));
        assert!(
            checker
                .on_restart(20, n1, hs(5, Some(2)), &initial(3, 0))
                .is_ok()
        );
        assert!(
            checker
                .on_restart(20, n1, hs(6, None), &initial(3, 0))
                .is_ok()
        );
    }

    #[test]
    fn a_vote_for_self_then_for_another_is_a_double_vote() {
        let mut checker = checker_for(3);
        let n1 = NodeId(1);
        let request = Message::Vote {
            term: Term(4),
            transfer: false,
            membership: crate::core::MembershipId::default(),
        };
        assert!(checker.on_send(1, n1, NodeId(2), &request).is_ok());
        assert!(checker.on_send(1, n1, NodeId(3), &request).is_ok());
        let grant = Message::VoteResponse {
            term: Term(4),
            granted: true,
        };
        let error = checker.on_send(2, n1, NodeId(3), &grant).unwrap_err();
        assert_eq!(
            error,
            Violation::DoubleVote {
                at_us: 2,
                node: NodeId(1),
                term: Term(4),
                first: NodeId(1),
                second: NodeId(3),
            }
        );
        assert_eq!(
            error.to_string(),
            "at 2us: n1 voted twice in term 4: for n1 and for n3"
        );
    }

    #[test]
    fn durable_state_never_goes_back() {
        let mut checker = checker_for(1);
        let n1 = NodeId(1);
        assert!(
            checker
                .on_persist(0, n1, hs(1, None), hs(1, Some(1)))
                .is_ok()
        );
        assert!(
            checker
                .on_persist(0, n1, hs(1, Some(1)), hs(2, None))
                .is_ok()
        );
        assert!(
            checker
                .on_persist(0, n1, hs(2, Some(1)), hs(2, None))
                .is_err()
        );
        assert!(checker.on_persist(0, n1, hs(2, None), hs(1, None)).is_err());
    }
}
