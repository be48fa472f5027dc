//! Memberships (invariants 6 to 11 of the `sim` module docs). This module
//! keeps the history they are about and checks that memberships never go
//! back, in memory or on disk, nor behind what a node's messages said it
//! held (6); [`issuance`] checks how memberships are issued and committed
//! (7 to 9); [`rights`] checks who may campaign, vote, lead and change the
//! membership (10 and 11).

mod issuance;
mod rights;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use super::invariant::{CommandOutcome, Invariant, NodeView};
use super::{PerNode, Violation, node_id};
use crate::core::{Event, Membership, MembershipId, Message, NodeId, Output, Role, Term};

/// Every membership ever issued and committed, and what each node holds,
/// has on disk, and has shown.
#[derive(Debug)]
pub(crate) struct Memberships {
    /// Every membership ever issued, by id (first sight).
    issued: BTreeMap<MembershipId, Membership>,
    /// For each issued membership, the one its issuer held before.
    predecessor: BTreeMap<MembershipId, MembershipId>,
    /// Every membership a Goose's core announced committed, whether or not
    /// its host then crashed before handling the event (and the configured
    /// one): what the core believes, which it must not change on top of.
    decided: BTreeSet<MembershipId>,
    /// Every membership whose commit event a host handled (and the
    /// configured one): a majority of its voters held it durably then.
    committed: BTreeSet<MembershipId>,
    /// The newest committed membership.
    latest_committed: Membership,
    /// Every node that was a member of some committed membership.
    ever_committed_members: BTreeSet<NodeId>,
    /// [`is_removed`](Self::is_removed) of each node, kept up to date at
    /// every commit: the sweep asks it of every Goose after every event.
    removed: PerNode<bool>,
    /// Each node's membership as of its latest output (in memory, lost
    /// outputs included); `None` before a spare joins.
    held: PerNode<Option<Membership>>,
    /// Each node's membership as its host made it durable.
    durable: PerNode<MembershipId>,
    /// The newest membership each node's messages claimed it held.
    exposed: PerNode<MembershipId>,
    /// The memberships vote and pre-vote requests carried, by (voter,
    /// candidate, term, pre-vote): what a voter may have been asked with.
    requests: BTreeMap<(NodeId, NodeId, Term, bool), BTreeSet<MembershipId>>,
}

impl Memberships {
    /// A checker for `members` nodes holding `initial` from the start, then
    /// `spares` that may join later.
    pub(crate) fn new(members: usize, spares: usize, initial: &Membership) -> Self {
        let nodes = members + spares;
        let mut held = vec![Some(initial.clone()); members];
        held.resize(nodes, None);
        Memberships {
            issued: BTreeMap::from([(initial.id(), initial.clone())]),
            predecessor: BTreeMap::new(),
            decided: BTreeSet::from([initial.id()]),
            committed: BTreeSet::from([initial.id()]),
            latest_committed: initial.clone(),
            ever_committed_members: initial.members().collect(),
            removed: PerNode::from(vec![false; nodes]),
            held: PerNode::from(held),
            durable: PerNode::from(vec![initial.id(); nodes]),
            exposed: PerNode::from(vec![MembershipId::default(); nodes]),
            requests: BTreeMap::new(),
        }
    }

    /// Whether a committed change removed `node`: it was a member of a
    /// committed membership and is not one of the newest. (The simulator
    /// never adds a removed node again.)
    pub(crate) fn is_removed(&self, node: NodeId) -> bool {
        self.removed.get(node).copied().unwrap_or(false)
    }

    /// Brings [`removed`](Self::removed) up to date after a commit.
    fn update_removed(&mut self) {
        for (index, removed) in self.removed.0.iter_mut().enumerate() {
            let node = node_id(index);
            *removed = self.ever_committed_members.contains(&node)
                && !self.latest_committed.contains(node);
        }
    }

    /// The membership issued under `id`, if any node ever held it.
    pub(crate) fn issued(&self, id: MembershipId) -> Option<&Membership> {
        self.issued.get(&id)
    }

    /// The newest committed membership.
    pub(crate) fn latest_committed(&self) -> &Membership {
        &self.latest_committed
    }

    /// The membership `node` holds, if it holds one.
    fn held(&self, node: NodeId) -> Option<&Membership> {
        self.held.get(node).and_then(Option::as_ref)
    }
}

impl Invariant for Memberships {
    fn name(&self) -> &str {
        "memberships"
    }

    /// Memberships in a node's output stream (what the core decided, lost
    /// outputs included):
    ///
    /// * 6: the memberships a node holds never go back;
    /// * 7: no two different memberships share an id;
    /// * 8: a membership seen for the first time was issued by this node, and
    ///   its voters differ from those of the one it held before by at most
    ///   one; if its members differ at all (a change, not a re-issue), the
    ///   one before was committed;
    /// * 9 (with [`Self::on_membership_event`]): a committed membership is
    ///   durably held by a majority of its voters; a committed change was
    ///   made on a committed base;
    /// * 10: a node never campaigns while its membership does not contain it
    ///   (nor while it is a learner of it: a joining node waits for its
    ///   promotion), grants a vote while not a voter only as
    ///   [`Self::check_grant`] allows, and never becomes the Goose once a
    ///   committed change removed it.
    fn on_output(&mut self, at_us: u64, node: NodeId, output: &Output) -> Result<(), Violation> {
        match output {
            Output::PersistMembership(membership) => self.on_held(at_us, node, membership),
            Output::Send {
                msg:
                    Message::Heartbeat {
                        membership: Some(membership),
                        ..
                    }
                    | Message::NewerMembership { membership, .. },
                ..
            } => self.check_same_as_issued(at_us, node, membership),
            &Output::Send {
                to,
                msg:
                    Message::VoteResponse {
                        term,
                        granted: true,
                    },
            } => self.check_grant(at_us, node, to, term, false),
            &Output::Send {
                to,
                msg:
                    Message::PreVoteResponse {
                        term,
                        granted: true,
                    },
            } => self.check_grant(at_us, node, to, term, true),
            &Output::Event(Event::ElectionStarted { term, pre_vote }) => {
                self.check_campaign(at_us, node, term, pre_vote)
            }
            &Output::Event(Event::RoleChanged {
                role: Role::Goose,
                term,
                ..
            }) if self.is_removed(node) => Err(Violation::RemovedNodeIsGoose { at_us, node, term }),
            &Output::Event(Event::MembershipCommitted { id }) => {
                self.decided.insert(id);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Invariant 6 for a live node's in-memory membership after an input.
    fn on_membership(
        &mut self,
        at_us: u64,
        node: NodeId,
        id: MembershipId,
    ) -> Result<(), Violation> {
        if let Some(held) = self.held(node)
            && id < held.id()
        {
            return Err(Violation::MembershipWentBack {
                at_us,
                node,
                from: held.id(),
                to: id,
                durable: false,
            });
        }
        Ok(())
    }

    fn on_command(
        &mut self,
        at_us: u64,
        node: NodeId,
        outcome: &CommandOutcome,
    ) -> Result<(), Violation> {
        self.check_command(at_us, node, outcome)
    }

    /// Invariant 6 on disk, and the host's side of the event promise: the
    /// host made membership `id` durable.
    fn on_persist_membership(
        &mut self,
        at_us: u64,
        node: NodeId,
        id: MembershipId,
    ) -> Result<(), Violation> {
        let Some(durable) = self.durable.get_mut(node) else {
            return Ok(());
        };
        if id < *durable {
            return Err(Violation::MembershipWentBack {
                at_us,
                node,
                from: *durable,
                to: id,
                durable: true,
            });
        }
        *durable = id;
        Ok(())
    }

    /// Records the membership a message says its sender holds, and the
    /// memberships vote requests carry (for [`Self::check_grant`]).
    fn on_send(
        &mut self,
        _at_us: u64,
        node: NodeId,
        to: NodeId,
        msg: &Message,
    ) -> Result<(), Violation> {
        if let Some(held) = claimed_membership(msg)
            && let Some(exposed) = self.exposed.get_mut(node)
        {
            *exposed = (*exposed).max(held);
        }
        if let Some((term, pre_vote, membership)) = vote_request(msg) {
            self.requests
                .entry((to, node, term, pre_vote))
                .or_default()
                .insert(membership);
        }
        Ok(())
    }

    /// A membership event reached the host: it must name what the host has
    /// made durable (the `PersistMembership` comes first). A commit is then
    /// checked and recorded (invariant 9).
    fn on_membership_event(
        &mut self,
        at_us: u64,
        node: NodeId,
        id: MembershipId,
        committed: bool,
    ) -> Result<(), Violation> {
        let durable = self.durable.get(node).copied().unwrap_or_default();
        if durable != id {
            return Err(Violation::MembershipEventNotDurable {
                at_us,
                node,
                id,
                durable,
                committed,
            });
        }
        if committed {
            self.on_commit(at_us, node, id)?;
        }
        Ok(())
    }

    /// Invariant 6 across restarts: a node restarts with at least the
    /// membership its messages showed, and what its disk held.
    fn on_restart(
        &mut self,
        at_us: u64,
        node: NodeId,
        _loaded: crate::core::HardState,
        membership: &Membership,
    ) -> Result<(), Violation> {
        let exposed = self.exposed.get(node).copied().unwrap_or_default();
        if membership.id() < exposed {
            return Err(Violation::ExposedMembershipLost {
                at_us,
                node,
                loaded: membership.id(),
                exposed,
            });
        }
        let durable = self.durable.get(node).copied().unwrap_or_default();
        if membership.id() < durable {
            return Err(Violation::MembershipWentBack {
                at_us,
                node,
                from: durable,
                to: membership.id(),
                durable: true,
            });
        }
        if let Some(held) = self.held.get_mut(node) {
            *held = Some(membership.clone());
        }
        Ok(())
    }

    /// A spare joined, starting from `membership`: it holds it, and has it
    /// on disk.
    fn on_join(&mut self, _at_us: u64, node: NodeId, membership: &Membership) {
        if let Some(held) = self.held.get_mut(node) {
            *held = Some(membership.clone());
        }
        if let Some(durable) = self.durable.get_mut(node) {
            *durable = membership.id();
        }
    }

    fn on_goose(&mut self, at_us: u64, status: &NodeView<'_>) -> Result<(), Violation> {
        self.check_goose(at_us, status)
    }
}

/// The membership a message says its sender holds durably (every send
/// follows the persist barrier).
fn claimed_membership(msg: &Message) -> Option<MembershipId> {
    match msg {
        Message::PreVote { membership, .. }
        | Message::Vote { membership, .. }
        | Message::HeartbeatAck { membership, .. } => Some(*membership),
        Message::Heartbeat {
            membership: Some(membership),
            ..
        }
        | Message::NewerMembership { membership, .. } => Some(membership.id()),
        _ => None,
    }
}

/// A vote or pre-vote request: the term asked for, whether it is a
/// pre-vote, and the membership the candidate holds.
fn vote_request(msg: &Message) -> Option<(Term, bool, MembershipId)> {
    match *msg {
        Message::PreVote { term, membership } => Some((term, true, membership)),
        Message::Vote {
            term, membership, ..
        } => Some((term, false, membership)),
        _ => None,
    }
}
