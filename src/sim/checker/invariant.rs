//! The one interface every invariant checker implements: the stream of
//! events the simulator observes.

use super::Violation;
use crate::core::{HardState, Membership, MembershipId, Message, NodeId, Output, Role, Term};
use crate::sim::trace::SimCommand;

/// An invariant (or a family of them) checked against everything the
/// simulator observes.
///
/// The simulator calls the hooks as things happen, each with the virtual
/// time in microseconds and the node concerned; an implementation keeps
/// whatever history its promise is about and returns the first broken
/// promise it sees. Every hook does nothing by default, so a checker
/// implements only those it needs. After a violation the run stops: a
/// checker need not keep its history consistent past one.
///
/// For one input to a node the hooks come in this order:
///
/// 1. [`on_hard_state`](Self::on_hard_state), then
///    [`on_output`](Self::on_output) for every output the input produced
///    (including those a crash then loses: they are what the core decided),
///    then [`on_membership`](Self::on_membership), then
///    [`on_command`](Self::on_command) if the input was a command;
/// 2. as the host handles each output, in order:
///    [`on_persist`](Self::on_persist),
///    [`on_persist_membership`](Self::on_persist_membership),
///    [`on_send`](Self::on_send) or
///    [`on_membership_event`](Self::on_membership_event);
/// 3. [`on_crash`](Self::on_crash) if the host crashed part-way.
///
/// A message from a non-member skips step 1 but for `on_output`, which
/// then comes right before the host handles that output. Restarts and joins
/// come as [`on_restart`](Self::on_restart) and [`on_join`](Self::on_join).
/// After every event, the cluster is swept: [`on_sweep`](Self::on_sweep),
/// then, for each live node in id order, [`on_status`](Self::on_status) and,
/// if it is the Goose, [`on_goose`](Self::on_goose).
///
/// The trait is object safe, so that checkers can be kept in one list.
pub(crate) trait Invariant {
    /// A live node's hard state after an input, before its outputs.
    fn on_hard_state(&mut self, at_us: u64, node: NodeId, now: HardState) -> Result<(), Violation> {
        let _ = (at_us, node, now);
        Ok(())
    }

    /// One output of a node, as the core produced it.
    fn on_output(&mut self, at_us: u64, node: NodeId, output: &Output) -> Result<(), Violation> {
        let _ = (at_us, node, output);
        Ok(())
    }

    /// The membership a live node holds after an input, once its outputs
    /// have been shown.
    fn on_membership(
        &mut self,
        at_us: u64,
        node: NodeId,
        id: MembershipId,
    ) -> Result<(), Violation> {
        let _ = (at_us, node, id);
        Ok(())
    }

    /// An operator command was issued to a node, with what came of it.
    fn on_command(
        &mut self,
        at_us: u64,
        node: NodeId,
        outcome: &CommandOutcome,
    ) -> Result<(), Violation> {
        let _ = (at_us, node, outcome);
        Ok(())
    }

    /// The node's host made `next` durable; its disk held `previous`.
    fn on_persist(
        &mut self,
        at_us: u64,
        node: NodeId,
        previous: HardState,
        next: HardState,
    ) -> Result<(), Violation> {
        let _ = (at_us, node, previous, next);
        Ok(())
    }

    /// The node's host made the membership `id` durable.
    fn on_persist_membership(
        &mut self,
        at_us: u64,
        node: NodeId,
        id: MembershipId,
    ) -> Result<(), Violation> {
        let _ = (at_us, node, id);
        Ok(())
    }

    /// The node's host sent `msg` to `to`: the world has seen it.
    fn on_send(
        &mut self,
        at_us: u64,
        node: NodeId,
        to: NodeId,
        msg: &Message,
    ) -> Result<(), Violation> {
        let _ = (at_us, node, to, msg);
        Ok(())
    }

    /// The node's host handled a `MembershipChanged` (or, when `committed`,
    /// a `MembershipCommitted`) event naming membership `id`.
    fn on_membership_event(
        &mut self,
        at_us: u64,
        node: NodeId,
        id: MembershipId,
        committed: bool,
    ) -> Result<(), Violation> {
        let _ = (at_us, node, id, committed);
        Ok(())
    }

    /// The node crashed: its volatile state is gone, its disk is kept.
    fn on_crash(&mut self, at_us: u64, node: NodeId) {
        let _ = (at_us, node);
    }

    /// The node restarted from its disk: this hard state and membership.
    fn on_restart(
        &mut self,
        at_us: u64,
        node: NodeId,
        loaded: HardState,
        membership: &Membership,
    ) -> Result<(), Violation> {
        let _ = (at_us, node, loaded, membership);
        Ok(())
    }

    /// A spare node joined: it starts with a fresh hard state and holds
    /// `membership`, on disk too.
    fn on_join(&mut self, at_us: u64, node: NodeId, membership: &Membership) {
        let _ = (at_us, node, membership);
    }

    /// The cluster-wide checks after an event begin; statuses follow.
    fn on_sweep(&mut self, at_us: u64) {
        let _ = at_us;
    }

    /// A live node's status in the sweep after an event.
    fn on_status(&mut self, at_us: u64, node: &NodeView<'_>) -> Result<(), Violation> {
        let _ = (at_us, node);
        Ok(())
    }

    /// A live node that is the Goose, right after its
    /// [`on_status`](Self::on_status).
    fn on_goose(&mut self, at_us: u64, node: &NodeView<'_>) -> Result<(), Violation> {
        let _ = (at_us, node);
        Ok(())
    }
}

/// A live node as the sweep after an event shows it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NodeView<'a> {
    /// The node.
    pub(crate) id: NodeId,
    /// Goose or Duck.
    pub(crate) role: Role,
    /// Its current term.
    pub(crate) term: Term,
    /// The Goose it believes leads `term` (itself when elected).
    pub(crate) leader: Option<NodeId>,
    /// The membership it holds.
    pub(crate) membership: &'a Membership,
    /// On a Goose: whether that membership is still uncommitted.
    pub(crate) membership_pending: Option<bool>,
    /// Whether the node counts as the Goose at this instant for "never two
    /// Geese at once": its role is Goose and, if its ticks fell behind real
    /// time because its process was paused, its real-time lease has not run
    /// out.
    pub(crate) is_goose: bool,
    /// Its process is paused: it handles nothing until it resumes.
    pub(crate) paused: bool,
}

/// An operator command issued to a node, and what came of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CommandOutcome {
    /// The command.
    pub(crate) command: SimCommand,
    /// Whether the node accepted it.
    pub(crate) accepted: bool,
    /// Whether the node's membership changed as it handled the command.
    pub(crate) membership_changed: bool,
    /// Whether the node was the Goose when the command came.
    pub(crate) was_goose: bool,
}
