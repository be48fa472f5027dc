//! Membership requests waiting on the election: changes this Goose proposed
//! (for a handle or a joining node) until they commit, handles waiting for
//! their node to be removed, and join requests waiting for a change in
//! progress to commit.
//!
//! Everything here is answered through oneshot channels and never waits:
//! the driver calls in after each input and goes on.

use std::collections::VecDeque;

use tokio::sync::oneshot;

use super::admission::missing_addresses;
use super::error::{HandleError, MissingAddresses};
use crate::core::{
    Election, Membership, MembershipError, MembershipId, NodeId, NodeMetadata, Term,
};
use crate::transport::{JoinReply, JoinRequest};

/// Requests that may wait for a change in progress (joins) or for a new
/// Goose to be confirmed (any change); beyond this many, they are refused (a
/// joiner retries anyway, and each waiting join holds a connection on the
/// joiner's side).
const MAX_WAITING: usize = 64;

/// What a node to add brings: where it is, and what it says about itself.
#[derive(Debug)]
pub(crate) struct NewMember {
    /// Its cluster address, `"HOST:PORT"`.
    pub(crate) addr: String,
    /// Its metadata, recorded in the membership with the address.
    pub(crate) metadata: NodeMetadata,
}

/// Where the answer to a proposed change goes.
#[derive(Debug)]
enum ChangeReply {
    /// [`NodeHandle::add_node`](crate::runtime::NodeHandle::add_node) or
    /// [`NodeHandle::remove_node`](crate::runtime::NodeHandle::remove_node).
    Handle(oneshot::Sender<Result<Membership, HandleError>>),
    /// A [`JoinRequest`].
    Join(oneshot::Sender<JoinReply>),
}

impl ChangeReply {
    fn committed(self, membership: &Membership) {
        // A requester that stopped waiting is its own business.
        match self {
            ChangeReply::Handle(reply) => {
                let _ = reply.send(Ok(membership.clone()));
            }
            ChangeReply::Join(reply) => {
                let _ = reply.send(JoinReply::Accepted(membership.clone()));
            }
        }
    }

    fn leadership_lost(self, election: &Election) {
        match self {
            ChangeReply::Handle(reply) => {
                let _ = reply.send(Err(HandleError::LeadershipLost));
            }
            ChangeReply::Join(reply) => {
                let _ = reply.send(not_goose(election, election.leader()));
            }
        }
    }
}

/// A change this node proposed as the Goose of `term`.
#[derive(Debug)]
struct ProposedChange {
    /// The membership the proposal made; any commit at or after it in the
    /// same term includes it (one change at a time).
    target: MembershipId,
    term: Term,
    reply: ChangeReply,
}

/// The membership requests the driver has not answered yet.
#[derive(Debug)]
pub(crate) struct Waiters {
    /// Whether the transport dials its peers at their addresses
    /// ([`Transport::needs_peer_addresses`](crate::transport::Transport::needs_peer_addresses)):
    /// then a node is added only while every member's address is known.
    needs_addresses: bool,
    /// In proposal order.
    proposed: Vec<ProposedChange>,
    /// Handles waiting in [`NodeHandle::leave`](crate::runtime::NodeHandle::leave).
    leaving: Vec<oneshot::Sender<Result<(), HandleError>>>,
    /// Joins that arrived while another change was in progress, and any
    /// change asked of a Goose not yet confirmed, oldest first; proposed one
    /// at a time as the changes before them commit.
    waiting: VecDeque<Waiting>,
}

/// A request set aside until the Goose can start a change.
#[derive(Debug)]
enum Waiting {
    Join(JoinRequest),
    Add {
        id: NodeId,
        member: NewMember,
        reply: oneshot::Sender<Result<Membership, HandleError>>,
    },
    Remove {
        id: NodeId,
        reply: oneshot::Sender<Result<Membership, HandleError>>,
    },
}

impl Waiting {
    /// Whether the requester stopped waiting.
    fn abandoned(&self) -> bool {
        match self {
            Waiting::Join(request) => request.reply.is_closed(),
            Waiting::Add { reply, .. } | Waiting::Remove { reply, .. } => reply.is_closed(),
        }
    }

    /// Answers a request this node can no longer serve: it is not the Goose.
    fn not_goose(self, election: &Election) {
        match self {
            Waiting::Join(request) => {
                let _ = request.reply.send(not_goose(election, election.leader()));
            }
            Waiting::Add { reply, .. } | Waiting::Remove { reply, .. } => {
                let _ = reply.send(Err(HandleError::LeadershipLost));
            }
        }
    }

    /// Answers a request refused because too many wait already.
    fn too_many(self) {
        let why = format!("too many membership requests waiting ({MAX_WAITING}); retry later");
        match self {
            Waiting::Join(request) => {
                let _ = request.reply.send(JoinReply::Refused(why));
            }
            Waiting::Add { reply, .. } | Waiting::Remove { reply, .. } => {
                let _ = reply.send(Err(HandleError::Membership(
                    MembershipError::NotYetConfirmed,
                )));
            }
        }
    }
}

impl Waiters {
    /// No request yet, for a transport that does or does not dial its peers
    /// at their addresses.
    pub(crate) fn new(needs_addresses: bool) -> Self {
        Waiters {
            needs_addresses,
            proposed: Vec::new(),
            leaving: Vec::new(),
            waiting: VecDeque::new(),
        }
    }

    /// Why adding `id` cannot work, if it cannot: this Goose's transport
    /// dials its peers and some member's address is unknown, so the new
    /// node would not reach that member, nor it the new node (and a
    /// membership naming `id` that this node's transport cannot follow
    /// would strand it). Adding a member again is allowed: with its address,
    /// that records it. A Duck leaves the answer to the Goose
    /// ([`MembershipError::NotGoose`]).
    fn unworkable_add(&self, election: &Election, id: NodeId) -> Option<MissingAddresses> {
        let membership = election.membership();
        if !self.needs_addresses
            || membership.contains(id)
            || election.membership_pending().is_none()
        {
            return None;
        }
        missing_addresses(membership)
    }

    // ----- requests ---------------------------------------------------------

    /// [`NodeHandle::add_node`](crate::runtime::NodeHandle::add_node) and
    /// [`NodeHandle::add_node_with_metadata`](crate::runtime::NodeHandle::add_node_with_metadata).
    pub(crate) fn add_node(
        &mut self,
        election: &mut Election,
        id: NodeId,
        member: &NewMember,
        reply: oneshot::Sender<Result<Membership, HandleError>>,
    ) {
        let member = NewMember {
            addr: member.addr.clone(),
            metadata: member.metadata.clone(),
        };
        let waiting = self.try_add(election, id, member, reply);
        self.wait_or_answer(waiting);
    }

    fn try_add(
        &mut self,
        election: &mut Election,
        id: NodeId,
        member: NewMember,
        reply: oneshot::Sender<Result<Membership, HandleError>>,
    ) -> Option<Waiting> {
        if let Some(missing) = self.unworkable_add(election, id) {
            tracing::warn!(%id, addr = %member.addr, %missing, "add refused");
            let _ = reply.send(Err(HandleError::MissingAddresses(missing)));
            return None;
        }
        let before = election.membership().id();
        match election.propose_add_with_metadata(id, &member.addr, &member.metadata) {
            Ok(target) => {
                self.proposed_or_done(election, before, target, ChangeReply::Handle(reply))
            }
            Err(MembershipError::NotYetConfirmed) => {
                return Some(Waiting::Add { id, member, reply });
            }
            Err(error) => {
                let _ = reply.send(Err(error.into()));
            }
        }
        None
    }

    /// [`NodeHandle::remove_node`](crate::runtime::NodeHandle::remove_node).
    pub(crate) fn remove_node(
        &mut self,
        election: &mut Election,
        id: NodeId,
        reply: oneshot::Sender<Result<Membership, HandleError>>,
    ) {
        let waiting = self.try_remove(election, id, reply);
        self.wait_or_answer(waiting);
    }

    fn try_remove(
        &mut self,
        election: &mut Election,
        id: NodeId,
        reply: oneshot::Sender<Result<Membership, HandleError>>,
    ) -> Option<Waiting> {
        let before = election.membership().id();
        match election.propose_remove(id) {
            Ok(target) => {
                self.proposed_or_done(election, before, target, ChangeReply::Handle(reply))
            }
            Err(MembershipError::NotYetConfirmed) => return Some(Waiting::Remove { id, reply }),
            Err(error) => {
                let _ = reply.send(Err(error.into()));
            }
        }
        None
    }

    /// Sets `request` aside, if it must wait, unless too many wait already.
    fn wait_or_answer(&mut self, request: Option<Waiting>) {
        let Some(request) = request else {
            return;
        };
        self.waiting.retain(|waiting| !waiting.abandoned());
        if self.waiting.len() >= MAX_WAITING {
            request.too_many();
        } else {
            self.waiting.push_back(request);
        }
    }

    /// Tries a request that was set aside; hands it back if it must wait on.
    fn retry(&mut self, election: &mut Election, request: Waiting) -> Option<Waiting> {
        match request {
            Waiting::Join(request) => self.try_join(election, request),
            Waiting::Add { id, member, reply } => self.try_add(election, id, member, reply),
            Waiting::Remove { id, reply } => self.try_remove(election, id, reply),
        }
    }

    /// [`NodeHandle::leave`](crate::runtime::NodeHandle::leave): answered by
    /// [`settle`](Self::settle) once the node holds a membership without
    /// itself.
    pub(crate) fn leave(
        &mut self,
        election: &mut Election,
        reply: oneshot::Sender<Result<(), HandleError>>,
    ) {
        match election.leave() {
            Ok(()) => self.leaving.push(reply),
            // Already out: what the caller waits for has happened.
            Err(MembershipError::NotAMember(_)) => {
                let _ = reply.send(Ok(()));
            }
            Err(error) => {
                let _ = reply.send(Err(error.into()));
            }
        }
    }

    /// A node outside the membership asks to be added: proposed at once on
    /// the Goose, queued behind a change in progress, pointed to the Goose
    /// on a Duck.
    pub(crate) fn join(&mut self, election: &mut Election, request: JoinRequest) {
        tracing::info!(id = %request.id, addr = %request.addr, "join request");
        let waiting = self.try_join(election, request);
        self.wait_or_answer(waiting);
    }

    /// Proposes the join if this node can start a change now, and answers
    /// it unless it must wait for the change in progress: then it is
    /// handed back.
    fn try_join(&mut self, election: &mut Election, request: JoinRequest) -> Option<Waiting> {
        let JoinRequest {
            id,
            addr,
            metadata,
            reply,
        } = request;
        if let Some(missing) = self.unworkable_add(election, id) {
            let error = HandleError::MissingAddresses(missing);
            tracing::warn!(%id, %addr, %error, "join refused");
            let _ = reply.send(JoinReply::Refused(error.to_string()));
            return None;
        }
        let before = election.membership().id();
        match election.propose_add_with_metadata(id, &addr, &metadata) {
            Ok(target) => {
                self.proposed_or_done(election, before, target, ChangeReply::Join(reply));
                None
            }
            Err(MembershipError::ChangeInProgress { .. } | MembershipError::NotYetConfirmed) => {
                Some(Waiting::Join(JoinRequest {
                    id,
                    addr,
                    metadata,
                    reply,
                }))
            }
            Err(MembershipError::NotGoose { leader }) => {
                let _ = reply.send(not_goose(election, leader));
                None
            }
            Err(error) => {
                tracing::info!(%id, %addr, %error, "join refused");
                let _ = reply.send(JoinReply::Refused(error.to_string()));
                None
            }
        }
    }

    /// A proposal was accepted: `target` is the new membership, or the one
    /// in force (`before`) if there was nothing to change.
    fn proposed_or_done(
        &mut self,
        election: &Election,
        before: MembershipId,
        target: MembershipId,
        reply: ChangeReply,
    ) {
        if target == before && election.membership_pending() == Some(false) {
            // Nothing to change, and nothing pending: the membership in
            // force is committed. (A joiner asking again while its own
            // addition is pending gets that pending id, and waits below.)
            reply.committed(election.membership());
        } else {
            self.proposed.push(ProposedChange {
                target,
                term: election.term(),
                reply,
            });
        }
    }

    // ----- after each input ---------------------------------------------------

    /// Proposes waiting joins once the change before them has committed.
    /// Call after an input and before draining, so that the proposal's
    /// outputs go out with the rest.
    pub(crate) fn propose_waiting(&mut self, election: &mut Election) {
        while election.membership_pending() == Some(false) {
            let Some(request) = self.waiting.pop_front() else {
                return;
            };
            if request.abandoned() {
                continue;
            }
            if let Some(request) = self.retry(election, request) {
                // Still busy (no lease yet): keep its place in the queue.
                self.waiting.push_front(request);
                return;
            }
        }
        if election.membership_pending().is_none() && !self.waiting.is_empty() {
            // No longer the Goose: point every waiting joiner to the new one.
            for request in self.waiting.drain(..) {
                request.not_goose(election);
            }
        }
    }

    /// Answers what the drained outputs decided: changes up to `committed`
    /// (the membership of the last `MembershipCommitted` event, if any)
    /// succeed; changes of a leadership that has ended fail; leaving
    /// handles whose node is out succeed. Call after draining, when the
    /// membership in force is durable.
    pub(crate) fn settle(&mut self, election: &Election, committed: Option<&Membership>) {
        if let Some(committed) = committed {
            let mut index = 0;
            while index < self.proposed.len() {
                if self.proposed[index].target <= committed.id() {
                    self.proposed.remove(index).reply.committed(committed);
                } else {
                    index += 1;
                }
            }
        }
        let term = election.term();
        let leading = election.membership_pending().is_some();
        let lost = |change: &ProposedChange| !leading || change.term != term;
        if self.proposed.iter().any(lost) {
            let (lost, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.proposed)
                .into_iter()
                .partition(lost);
            self.proposed = kept;
            for change in lost {
                tracing::info!(membership = %change.target, "stopped being the Goose before a membership change committed");
                change.reply.leadership_lost(election);
            }
        }
        if !self.leaving.is_empty() && !election.membership().contains(election.id()) {
            for reply in self.leaving.drain(..) {
                let _ = reply.send(Ok(()));
            }
        }
    }
}

/// The answer to a joiner that asked a Duck: the Goose it knows of, and
/// where to find it.
fn not_goose(election: &Election, leader: Option<NodeId>) -> JoinReply {
    JoinReply::NotGoose {
        leader,
        leader_addr: leader
            .and_then(|leader| election.membership().address(leader))
            .map(str::to_owned),
    }
}
