//! Membership changes: the Goose proposes, installs, re-issues, commits and
//! promotes; a Duck adopts; a member asks to leave.

use std::collections::BTreeSet;

use super::super::membership::{Membership, MembershipError, MembershipId};
use super::super::message::Message;
use super::super::output::{DropReason, Event, RoleChangeReason};
use super::super::types::{NodeId, Term};
use super::leader::{Progress, RoundSend};
use super::mutation::Mutation;
use super::{Election, State};

impl Election {
    /// The term a change would be issued in, if this node may start one now.
    pub(super) fn ready_for_change(&self) -> Result<Term, MembershipError> {
        let State::Leader(leader) = &self.state else {
            return Err(MembershipError::NotGoose {
                leader: self.leader(),
            });
        };
        // A new Goose's re-issue (the only change without a `previous`) is
        // committed only by a majority-acknowledged round in its own term:
        // until then, and until it holds a lease, it is not ready. That is
        // not another change in progress; hosts wait and retry.
        let confirmed = (leader.reissued && leader.lease_start_tick.is_some())
            || self.mutated(Mutation::NoReissue);
        if !confirmed || (leader.pending && leader.previous.is_none()) {
            return Err(MembershipError::NotYetConfirmed);
        }
        if leader.pending {
            return Err(MembershipError::ChangeInProgress {
                pending: self.membership.id(),
            });
        }
        Ok(self.hard.term)
    }

    /// Puts `next` in force on the Goose: durable before any heartbeat
    /// carries it, pending until a majority of its voters hold it.
    pub(super) fn propose(&mut self, next: Membership) -> MembershipId {
        let previous = self.membership.clone();
        let id = next.id();
        tracing::debug!(id = %self.config.id, membership = %id, "proposing a membership");
        self.install_membership(next, Some(previous));
        self.update_lease();
        self.check_commit();
        self.flush_hard_state();
        id
    }

    /// Re-issues the membership under this Goose's term (the "no-op entry"),
    /// once it first holds a lease: when a majority holds the re-issue,
    /// memberships proposed by earlier Geese and never committed can no
    /// longer win an election, and this Goose may start changes of its own.
    /// Durable first, it goes out at once in the current round's heartbeats
    /// sent again (an ack of either echoes the same tick).
    pub(super) fn reissue_membership(&mut self) {
        let State::Leader(leader) = &mut self.state else {
            return;
        };
        if leader.reissued {
            return;
        }
        leader.reissued = true;
        if self.mutated(Mutation::NoReissue) {
            return;
        }
        let reissued = self.membership.reissued(self.hard.term);
        self.install_membership(reissued, None);
        // A single voter holds it already.
        self.check_commit();
        self.send_round(RoundSend::OnlyBehind);
    }

    /// Makes `next` the membership in force on the Goose, with `previous` the
    /// one it replaces (`None` for a re-issue of the same members), and
    /// rebuilds the per-peer progress over both.
    fn install_membership(&mut self, next: Membership, previous: Option<Membership>) {
        let me = self.config.id;
        let State::Leader(leader) = &mut self.state else {
            return;
        };
        let ids: Vec<NodeId> = match &previous {
            Some(previous) => next
                .members()
                .chain(previous.members())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            None => next.members().collect(),
        };
        leader.progress = ids
            .into_iter()
            .filter(|id| *id != me)
            .map(|id| {
                leader
                    .progress
                    .binary_search_by_key(&id, |peer| peer.id)
                    .map_or_else(|_| Progress::new(id), |index| leader.progress[index])
                    .for_membership(&next, previous.as_ref())
            })
            .collect();
        leader.pending = true;
        leader.previous = previous;
        self.membership = next;
        self.outbox.membership_changed();
        self.derive_from_membership();
        self.outbox.counters.membership_changes += 1;
        self.emit(Event::MembershipChanged {
            id: self.membership.id(),
        });
    }

    /// Commits the pending membership once a majority of its voters hold it;
    /// a Goose that removed itself then steps down.
    pub(super) fn check_commit(&mut self) {
        let me = self.config.id;
        let current = self.membership.id();
        let commit_on_old_voters = self.mutated(Mutation::CommitOnOldVoters);
        let step_down_on_removal = !self.mutated(Mutation::NoStepDownOnRemoval);
        let State::Leader(leader) = &mut self.state else {
            return;
        };
        if !leader.pending {
            return;
        }
        let (counted, counts): (_, fn(&Progress) -> bool) = match &leader.previous {
            Some(previous) if commit_on_old_voters => (previous, |peer| peer.voter_before),
            _ => (&self.membership, |peer| peer.voter),
        };
        let holders = leader
            .progress
            .iter()
            .filter(|peer| counts(peer) && peer.membership >= current)
            .count()
            + usize::from(counted.is_voter(me));
        if holders < counted.quorum() {
            return;
        }
        leader.pending = false;
        let mut farewells = Vec::new();
        if leader.previous.take().is_some() {
            // Members removed by the change get no more heartbeats, but one
            // last one carrying the committed membership goes to each that
            // has not said it holds it (a change down to one voter commits
            // before any heartbeat carried it): without it a removed node
            // left running would never learn, and would campaign for ever.
            farewells.extend(
                leader
                    .progress
                    .iter()
                    .filter(|peer| !self.membership.contains(peer.id) && peer.membership < current)
                    .map(|peer| peer.id),
            );
            leader
                .progress
                .retain(|peer| self.membership.contains(peer.id));
            for peer in &mut leader.progress {
                peer.voter_before = peer.voter;
            }
        }
        let sent_tick = leader.last_round_tick;
        for to in farewells {
            self.outbox.counters.heartbeats_sent += 1;
            self.send(
                to,
                Message::Heartbeat {
                    term: self.hard.term,
                    sent_tick,
                    membership: Some(Box::new(self.membership.clone())),
                },
            );
        }
        let State::Leader(leader) = &mut self.state else {
            return;
        };
        // A Goose that is no longer a voter leads nobody (a learner cannot
        // lead): it steps down now that the change is safe, and hands over
        // to the most responsive voter holding the change (which still
        // answers the Goose it follows) so that nobody waits out an
        // election timeout.
        let hand_over = (!self.membership.is_voter(me) && step_down_on_removal)
            .then(|| leader.most_responsive_voter(|peer| peer.membership >= current));
        tracing::debug!(id = %me, membership = %current, "membership committed");
        self.emit(Event::MembershipCommitted { id: current });
        if let Some(successor) = hand_over {
            self.become_follower(self.hard.term, None, RoleChangeReason::Removed);
            if let Some(to) = successor {
                self.send(
                    to,
                    Message::TimeoutNow {
                        term: self.hard.term,
                    },
                );
            }
        } else {
            // The lease no longer needs the old voters.
            self.update_lease();
            if self.leaving {
                // Asked to leave and led anyway (`campaign()`, or elected
                // while its hand-over was lost): it removes itself.
                let _ = self.propose_remove(me);
            }
        }
    }

    /// Proposes promoting the first joining learner that has acknowledged
    /// every heartbeat for a whole maximum election timeout: long enough to
    /// show it keeps up, so that promoting it cannot stall the majority.
    pub(super) fn promote_caught_up_learner(&mut self) {
        let State::Leader(leader) = &self.state else {
            return;
        };
        if leader.pending || leader.lease_start_tick.is_none() {
            return;
        }
        let current = self.membership.id();
        let needed_ticks = self.config.election_timeout_max_ticks;
        let ready = self.membership.joining().find(|id| {
            leader
                .progress
                .binary_search_by_key(id, |peer| peer.id)
                .is_ok_and(|index| {
                    let peer = &leader.progress[index];
                    peer.membership == current
                        && match (peer.streak_start_tick, peer.acked_tick) {
                            (Some(start), Some(last)) => last - start >= needed_ticks,
                            _ => false,
                        }
                })
        });
        if let Some(id) = ready {
            let next = self.membership.promoting(self.hard.term, id);
            self.propose(next);
        }
    }

    /// A member asks the Goose to be removed; the Goose obliges when no other
    /// change is under way (the member asks again with every heartbeat until
    /// then).
    pub(super) fn on_leave(&mut self, from: NodeId) {
        match self.propose_remove(from) {
            // Busy: the member asks again with the next heartbeat.
            Ok(_)
            | Err(MembershipError::ChangeInProgress { .. } | MembershipError::NotYetConfirmed) => {}
            Err(_) => self.drop_message(from, DropReason::Unexpected),
        }
    }

    /// A member sent a newer membership than this node's: adopt it, like
    /// one a Goose attached to a heartbeat. Holding an issued membership
    /// earlier than its Goose would have delivered it changes nothing the
    /// protocol relies on; a campaign run on the old one is abandoned.
    pub(super) fn on_newer_membership(&mut self, membership: Membership) {
        if membership.id() > self.membership.id() {
            self.give_up_campaign();
            self.adopt_membership(membership);
        }
    }

    /// A Duck adopts a newer membership sent by the Goose (or by a member
    /// answering its campaign or probe).
    pub(super) fn adopt_membership(&mut self, next: Membership) {
        tracing::debug!(id = %self.config.id, membership = %next.id(), "adopting a membership");
        self.membership = next;
        self.outbox.membership_changed();
        self.derive_from_membership();
        self.outbox.counters.membership_changes += 1;
        if !self.membership.contains(self.config.id) {
            // Removed: done asking, and never campaigning again.
            self.leaving = false;
        }
        self.emit(Event::MembershipChanged {
            id: self.membership.id(),
        });
    }

    /// Recomputes what derives from the membership in force.
    pub(super) fn derive_from_membership(&mut self) {
        let me = self.config.id;
        self.voter_peers.clear();
        self.voter_peers
            .extend(self.membership.voters().filter(|id| *id != me));
        self.is_voter = self.membership.is_voter(me)
            || (self.mutated(Mutation::RemovedStillCampaigns)
                && self.config.membership.is_voter(me));
    }
}
