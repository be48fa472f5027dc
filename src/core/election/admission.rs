//! Who may talk to this node: the one home of the admission rule.
//!
//! The core decides; hosts hand [`Election::admitted_peers`] to their
//! transport so that it can reach (and keep connections from) exactly those
//! nodes, and the transport only authenticates identities and bounds
//! resources. A message from anyone else that the transport lets through
//! still reaches [`Election::handle_message`], which applies the same rule
//! (plus the catch-up case below) and drops the rest as
//! [`DropReason::NotMember`](crate::core::DropReason::NotMember).

use std::collections::BTreeSet;

use super::{Election, State};
use crate::core::message::Message;
use crate::core::types::NodeId;

impl Election {
    /// The nodes this node talks to now: every member (voter or learner) of
    /// the membership in force, this node included when it is one, plus the
    /// departing peers that still take part until a change commits (see
    /// below). A host hands exactly this set to its transport, with the
    /// members' addresses, after every input whose outputs may change it
    /// (a membership change or commit, a new leader, a role change).
    ///
    /// Departing peers are no longer members but are still owed answers: on
    /// a Goose, every peer it tracks, which while a change is pending
    /// includes the members that change removes (their acks count towards
    /// the old majority); on a Duck, the Goose it follows even when that
    /// Goose removed itself (the Duck's acks commit the removal, and the
    /// Goose steps down then).
    ///
    /// One more sender is admitted message by message, and so is not in
    /// this set: a newer Goose whose heartbeat brings a membership naming
    /// this node (see [`Election::handle_message`]). A transport that lets
    /// a few authenticated strangers through is what allows a lagging
    /// member to catch up from a Goose it has never heard of.
    ///
    /// Allocates; call it when the set may have changed, not per message.
    pub fn admitted_peers(&self) -> BTreeSet<NodeId> {
        let mut admitted: BTreeSet<NodeId> = self.membership.members().collect();
        match &self.state {
            State::Leader(leader) => admitted.extend(leader.progress.iter().map(|peer| peer.id)),
            _ => admitted.extend(self.leader),
        }
        admitted
    }

    /// Whether a message `msg` from `from` (not this node) is admitted: a
    /// member, a departing peer, or a newer Goose bringing a membership that
    /// names this node. Allocates nothing: it runs for every message.
    pub(super) fn admits(&self, from: NodeId, msg: &Message) -> bool {
        self.membership.contains(from)
            || self.is_departing_peer(from)
            || self.brings_membership_naming_us(from, msg)
    }

    /// Whether `msg` is a heartbeat from a Goose this node has not heard of
    /// yet, carrying a newer membership in which the sender is a voter and
    /// this node a member: a member that missed changes (the Goose itself
    /// joined after them) catches up this way instead of being stranded.
    fn brings_membership_naming_us(&self, from: NodeId, msg: &Message) -> bool {
        match msg {
            Message::Heartbeat {
                membership: Some(membership),
                ..
            } => {
                membership.id() > self.membership.id()
                    && membership.is_voter(from)
                    && membership.contains(self.config.id)
            }
            _ => false,
        }
    }

    /// Whether `id` is no longer a member but still takes part until a
    /// change commits: on a Goose, a member its pending change removes (its
    /// acks count towards the old majority); on a Duck, the Goose it follows
    /// when that Goose removed itself (the Duck's acks commit the removal,
    /// and the Goose steps down then).
    fn is_departing_peer(&self, id: NodeId) -> bool {
        match &self.state {
            State::Leader(leader) => leader
                .progress
                .binary_search_by_key(&id, |peer| peer.id)
                .is_ok(),
            _ => self.leader == Some(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Config, DropReason, Event, HardState, Membership, Output, Term};

    fn ids(set: &BTreeSet<NodeId>) -> Vec<u64> {
        set.iter().map(|id| id.0).collect()
    }

    fn node(me: u64, voters: &[u64], pre_vote: bool) -> Election {
        let mut config = Config::new(NodeId(me), voters.iter().copied().map(NodeId));
        config.pre_vote = pre_vote;
        Election::new(config, HardState::default(), 7).expect("a valid config")
    }

    fn heartbeat(term: u64, membership: Option<Membership>) -> Message {
        Message::Heartbeat {
            term: Term(term),
            sent_tick: 0,
            membership: membership.map(Box::new),
        }
    }

    fn drain(node: &mut Election) -> Vec<Output> {
        std::iter::from_fn(|| node.poll_output()).collect()
    }

    #[test]
    fn a_duck_admits_the_members_and_catches_up_from_an_unknown_goose() {
        let mut duck = node(3, &[1, 2, 3], true);
        assert_eq!(ids(&duck.admitted_peers()), [1, 2, 3], "itself included");

        // A Goose it never heard of, with nothing to show: dropped.
        duck.handle_message(NodeId(4), heartbeat(2, None));
        assert_eq!(
            drain(&mut duck),
            [Output::Event(Event::MessageDropped {
                from: NodeId(4),
                reason: DropReason::NotMember
            })]
        );
        assert!(!duck.admits(NodeId(4), &heartbeat(2, None)));

        // The same Goose bringing a newer membership that names this node.
        let newer = Membership::new([NodeId(3), NodeId(4), NodeId(5)]).reissued(Term(2));
        duck.handle_message(NodeId(4), heartbeat(2, Some(newer.clone())));
        assert_eq!(duck.membership(), &newer);
        assert_eq!(duck.leader(), Some(NodeId(4)));
        assert_eq!(ids(&duck.admitted_peers()), [3, 4, 5]);

        // A heartbeat whose membership does not name this node is no pass.
        let other = Membership::new([NodeId(6), NodeId(7)]).reissued(Term(3));
        assert!(!duck.admits(NodeId(6), &heartbeat(3, Some(other))));
    }

    #[test]
    fn a_duck_keeps_admitting_the_goose_that_removed_itself() {
        let mut duck = node(2, &[1, 2, 3], true);
        let before = Membership::new([NodeId(1), NodeId(2), NodeId(3)]).reissued(Term(1));
        let without_goose = before.removing(Term(1), NodeId(1)).expect("a member");
        duck.handle_message(NodeId(1), heartbeat(1, Some(without_goose)));
        assert_eq!(duck.leader(), Some(NodeId(1)));
        assert!(!duck.membership().contains(NodeId(1)));
        assert_eq!(ids(&duck.admitted_peers()), [1, 2, 3], "1 departs");
        assert!(duck.admits(NodeId(1), &heartbeat(1, None)));
    }

    /// Answers every heartbeat `goose` sent `peer` with an ack, `peer`
    /// holding `held` (updated to any membership the heartbeat carries);
    /// one heartbeat interval of ticks per call.
    fn round(goose: &mut Election, peer: NodeId, held: &mut crate::core::MembershipId) {
        for _ in 0..goose.config().heartbeat_interval_ticks {
            goose.tick();
        }
        for output in drain(goose) {
            if let Output::Send {
                to,
                msg:
                    Message::Heartbeat {
                        term,
                        sent_tick,
                        membership,
                    },
            } = output
                && to == peer
            {
                if let Some(membership) = membership {
                    *held = membership.id();
                }
                let ack = Message::HeartbeatAck {
                    term,
                    sent_tick,
                    membership: *held,
                };
                goose.handle_message(peer, ack);
            }
        }
    }

    #[test]
    fn a_goose_admits_the_members_its_pending_change_removes_until_it_commits() {
        let mut goose = node(1, &[1, 2, 3], false);
        while goose.term() == Term(0) {
            goose.tick();
        }
        let vote = Message::VoteResponse {
            term: Term(1),
            granted: true,
        };
        goose.handle_message(NodeId(2), vote);
        let mut held = goose.membership().id();
        // Confirmed (a lease, its re-issued membership committed) within a
        // few rounds acknowledged by 2.
        for _ in 0..10 {
            assert_eq!(ids(&goose.admitted_peers()), [1, 2, 3]);
            round(&mut goose, NodeId(2), &mut held);
            if goose.propose_remove(NodeId(3)).is_ok() {
                break;
            }
        }
        assert_eq!(goose.membership_pending(), Some(true));
        assert!(!goose.membership().contains(NodeId(3)));
        assert_eq!(ids(&goose.admitted_peers()), [1, 2, 3], "3 departs");
        while goose.membership_pending() == Some(true) {
            round(&mut goose, NodeId(2), &mut held);
        }
        assert_eq!(ids(&goose.admitted_peers()), [1, 2]);
        assert!(!goose.admits(NodeId(3), &heartbeat(1, None)));
    }
}
