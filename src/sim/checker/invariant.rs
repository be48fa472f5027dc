//! The one interface every invariant checker implements, built-in or added
//! by a user: the stream of events the simulator observes.

use super::Violation;
use crate::core::{HardState, Membership, MembershipId, Message, NodeId, Output, Role, Term};
use crate::sim::trace::SimCommand;

/// An invariant (or a family of them) checked against everything the
/// simulator observes: implement it to check a promise of your own
/// application on every run, and add it with
/// [`Simulation::with_invariant`](crate::sim::Simulation::with_invariant).
///
/// The simulator calls the hooks as things happen, each with the virtual
/// time in microseconds and the node concerned; an implementation keeps
/// whatever history its promise is about and returns the first broken
/// promise it sees (a user's invariant returns
/// [`Violation::custom`]). Every hook does nothing by default, so an
/// invariant implements only those it needs. After a violation the run
/// stops: an invariant need not keep its history consistent past one. The
/// run's [`SimFailure`](crate::sim::SimFailure) names the invariant that
/// failed by its [`name`](Self::name).
///
/// An invariant must be deterministic (no wall clock, no randomness of its
/// own): the same seed then fails the same way, and a replay needs only the
/// same config and the same invariants added again.
///
/// # Order
///
/// Every event goes to every invariant in a fixed order, up to the first
/// violation: the built-in families first (`"learners"`, `"memberships"`,
/// `"election_safety"`, `"durability"`), then the added ones in the order
/// they were added. So the report of one event breaking several promises is
/// always the same, a built-in one wins over a user's, and an invariant does
/// not see the event on which one before it failed.
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
/// if it counts as the Goose ([`NodeView::is_goose`]),
/// [`on_goose`](Self::on_goose).
///
/// The trait is object safe, so that invariants can be kept in one list.
///
/// # Example
///
/// Two invariants of an application: terms stay low in a quiet cluster
/// (this one holds), and there is never a Goose at all (this one fails
/// at the first Goose, and the failure names it).
///
/// ```
/// use duckduckgoose::core::Term;
/// use duckduckgoose::sim::{FaultPlan, Invariant, NodeView, SimConfig, Simulation, Violation};
///
/// /// No node reaches a term above 50.
/// struct TermsStayLow;
///
/// impl Invariant for TermsStayLow {
///     fn name(&self) -> &str {
///         "terms_stay_low"
///     }
///
///     fn on_status(&mut self, at_us: u64, node: &NodeView<'_>) -> Result<(), Violation> {
///         if node.term > Term(50) {
///             let detail = format!("n{} reached term {}", node.id, node.term);
///             return Err(Violation::custom(at_us, detail));
///         }
///         Ok(())
///     }
/// }
///
/// /// Never a Goose (so that the example shows a failure).
/// struct NoGoose;
///
/// impl Invariant for NoGoose {
///     fn on_goose(&mut self, at_us: u64, node: &NodeView<'_>) -> Result<(), Violation> {
///         Err(Violation::custom(at_us, format!("n{} is the Goose", node.id)))
///     }
/// }
///
/// let config = SimConfig::new(3, 7).with_faults(FaultPlan::random(7));
/// let report = Simulation::new(config.clone())
///     .unwrap()
///     .with_invariant(TermsStayLow)
///     .run()
///     .unwrap_or_else(|failure| panic!("{failure}"));
/// assert!(report.stats.geese >= 1);
///
/// let failure = Simulation::new(config)
///     .unwrap()
///     .with_invariant(TermsStayLow)
///     .with_invariant(NoGoose)
///     .run()
///     .unwrap_err();
/// // The default name is the type's name.
/// assert_eq!(&*failure.invariant, "NoGoose");
/// assert!(matches!(failure.violation, Violation::Custom { .. }));
/// ```
pub trait Invariant {
    /// A short, stable name for failure reports, so that a failing run says
    /// which invariant broke. By default the type's name (its last path
    /// segment, generic arguments kept).
    fn name(&self) -> &str {
        short_type_name(std::any::type_name::<Self>())
    }

    /// A live node's hard state after an input, before its outputs.
    #[inline]
    fn on_hard_state(&mut self, at_us: u64, node: NodeId, now: HardState) -> Result<(), Violation> {
        let _ = (at_us, node, now);
        Ok(())
    }

    /// One output of a node, as the core produced it.
    #[inline]
    fn on_output(&mut self, at_us: u64, node: NodeId, output: &Output) -> Result<(), Violation> {
        let _ = (at_us, node, output);
        Ok(())
    }

    /// The membership a live node holds after an input, once its outputs
    /// have been shown.
    #[inline]
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
    #[inline]
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
    #[inline]
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
    #[inline]
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
    #[inline]
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
    #[inline]
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
    #[inline]
    fn on_crash(&mut self, at_us: u64, node: NodeId) {
        let _ = (at_us, node);
    }

    /// The node restarted from its disk: this hard state and membership.
    #[inline]
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
    #[inline]
    fn on_join(&mut self, at_us: u64, node: NodeId, membership: &Membership) {
        let _ = (at_us, node, membership);
    }

    /// The cluster-wide checks after an event begin; statuses follow.
    #[inline]
    fn on_sweep(&mut self, at_us: u64) {
        let _ = at_us;
    }

    /// A live node's status in the sweep after an event.
    #[inline]
    fn on_status(&mut self, at_us: u64, node: &NodeView<'_>) -> Result<(), Violation> {
        let _ = (at_us, node);
        Ok(())
    }

    /// A live node that counts as the Goose ([`NodeView::is_goose`]), right
    /// after its [`on_status`](Self::on_status).
    #[inline]
    fn on_goose(&mut self, at_us: u64, node: &NodeView<'_>) -> Result<(), Violation> {
        let _ = (at_us, node);
        Ok(())
    }
}

/// `path::to::Type<Args>` as `Type<Args>`: the module path says nothing a
/// failure report needs.
fn short_type_name(full: &str) -> &str {
    let path_end = full.find('<').unwrap_or(full.len());
    let start = full[..path_end].rfind("::").map_or(0, |at| at + 2);
    &full[start..]
}

/// A live node as the sweep after an event shows it: what an invariant about
/// the cluster's state at one instant looks at.
///
/// Non-exhaustive: the simulator may show more of a node later.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct NodeView<'a> {
    /// The node.
    pub id: NodeId,
    /// Goose or Duck, as the core says (`Election::role`).
    pub role: Role,
    /// Whether the node counts as the Goose at this instant, for the "never
    /// two Geese at once" promise: its role is Goose and, if its ticks fell
    /// behind real time because its process was paused, its real-time lease
    /// has not run out. This, not `role`, decides
    /// [`Invariant::on_goose`].
    pub is_goose: bool,
    /// Whether the node's process is paused: it handles nothing (ticks,
    /// messages, commands) until it resumes, though its state is intact.
    pub paused: bool,
    /// Its current term.
    pub term: Term,
    /// The Goose it believes leads `term` (itself when elected).
    pub leader: Option<NodeId>,
    /// The membership it holds.
    pub membership: &'a Membership,
    /// On a Goose: whether that membership is still uncommitted (`None` on
    /// a Duck).
    pub membership_pending: Option<bool>,
}

/// An operator command issued to a node, and what came of it: what an
/// invariant about commands (who may accept which) looks at.
///
/// Non-exhaustive: the simulator may report more about a command later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandOutcome {
    /// The command.
    pub command: SimCommand,
    /// Whether the node accepted it.
    pub accepted: bool,
    /// Whether the node's membership changed as it handled the command.
    pub membership_changed: bool,
    /// Whether the node was the Goose (`role() == Goose`) when the command
    /// came.
    pub was_goose: bool,
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    /// The module path goes; the type and its generic arguments stay.
    #[test]
    fn a_type_name_is_shortened_to_its_last_segment() {
        assert_eq!(short_type_name("my_app::checks::NoGoose"), "NoGoose");
        assert_eq!(short_type_name("NoGoose"), "NoGoose");
        assert_eq!(
            short_type_name("my_app::Counter<alloc::string::String>"),
            "Counter<alloc::string::String>"
        );
        assert_eq!(short_type_name(""), "");
    }
}
