//! The invariant checkers, and the violations they report.
//!
//! The simulator feeds the [`Checker`] what it sees (the live state of
//! nodes, every output they produce, the messages that leave them, what
//! their hosts make durable and what they load on restart) as the hooks of
//! one trait, [`Invariant`]. The `Checker` passes every event to each family
//! of invariants in turn, each keeping the history its promises are about:
//!
//! * [`Learners`]: configured learners never lead (5);
//! * [`Memberships`]: memberships never go back, are issued one change at a
//!   time and committed by a durable majority, and decide who may campaign,
//!   vote and lead (6 to 11);
//! * [`ElectionSafety`]: one leader per term, one Goose at a time (1, 2);
//! * [`Durability`]: terms and votes never go back, in memory, on disk or
//!   behind what a node's messages showed; one vote per term (3, 4).
//!
//! (The numbers are those of the `sim` module docs.) Then the invariants a
//! user added ([`UserInvariants`]), in the order added. The first broken
//! promise ends the run, and the `Checker` remembers which invariant broke
//! it, so that the failure names it.

mod durability;
mod election_safety;
mod invariant;
mod learners;
mod membership;
#[cfg(test)]
mod tests;
mod violation;

use std::fmt;

use durability::Durability;
use election_safety::ElectionSafety;
pub use invariant::{CommandOutcome, Invariant, NodeView};
use learners::Learners;
use membership::Memberships;
pub use violation::{DisplayMembership, Violation};

use crate::core::{HardState, Membership, MembershipId, Message, NodeId, Output};
use crate::sim::trace::SimCommand;

/// Feeds one hook to every invariant, in order, up to the first violation,
/// and remembers which invariant returned it: the built-in families in the
/// order listed here (which decides the violation reported when one event
/// breaks several promises), then the user's, in the order added.
///
/// The families are called by name, not through `dyn Invariant`: the sweep
/// runs this for every node after every event, and static calls let their
/// hooks inline (a walk over trait objects cost the soak a quarter of its
/// instructions). The user's list is out of line.
macro_rules! each {
    ($checker:ident, $hook:ident($($arg:expr),*)) => {{
        each!(@family $checker, learners, $hook($($arg),*));
        each!(@family $checker, memberships, $hook($($arg),*));
        each!(@family $checker, election_safety, $hook($($arg),*));
        each!(@family $checker, durability, $hook($($arg),*));
        if $checker.users.0.is_empty() {
            Ok(())
        } else {
            $checker.each_user(&mut |invariant| invariant.$hook($($arg),*))
        }
    }};
    (@family $checker:ident, $family:ident, $hook:ident($($arg:expr),*)) => {
        if let Err(violation) = Invariant::$hook(&mut $checker.$family, $($arg),*) {
            let name = Invariant::name(&$checker.$family);
            return Err(blame(&mut $checker.failed, name, violation));
        }
    };
}

/// `each!` for the hooks that cannot fail.
macro_rules! each_infallible {
    ($checker:ident, $hook:ident($($arg:expr),*)) => {{
        Invariant::$hook(&mut $checker.learners, $($arg),*);
        Invariant::$hook(&mut $checker.memberships, $($arg),*);
        Invariant::$hook(&mut $checker.election_safety, $($arg),*);
        Invariant::$hook(&mut $checker.durability, $($arg),*);
        if !$checker.users.0.is_empty() {
            let _ = $checker.each_user(&mut |invariant| {
                invariant.$hook($($arg),*);
                Ok(())
            });
        }
    }};
}

/// Records in `failed` that the invariant `name` found `violation`.
#[cold]
#[inline(never)]
fn blame(failed: &mut Option<String>, name: &str, violation: Violation) -> Violation {
    *failed = Some(name.to_owned());
    violation
}

/// Every invariant family, fed the same events in a fixed order.
///
/// The order decides which violation a run reports when one event breaks
/// several promises; it is fixed so that a seed always reports the same one.
/// Nodes are identified by id; the simulator's ids are `1..=n`, voters
/// first, then learners, then spares.
#[derive(Debug)]
pub(crate) struct Checker {
    learners: Learners,
    memberships: Memberships,
    election_safety: ElectionSafety,
    durability: Durability,
    /// After the built-in families, in the order they were added.
    users: UserInvariants,
    /// The name of the invariant that returned the violation, once one did.
    failed: Option<String>,
}

impl Checker {
    /// A checker for `voters` voters followed by `learners` learners (all
    /// members of `initial`), then `spares` spare nodes that may join later.
    pub(crate) fn new(voters: usize, learners: usize, spares: usize, initial: &Membership) -> Self {
        let members = voters + learners;
        Checker {
            learners: Learners::new(voters, learners),
            memberships: Memberships::new(members, spares, initial),
            election_safety: ElectionSafety::default(),
            durability: Durability::new(members, spares),
            users: UserInvariants::default(),
            failed: None,
        }
    }

    /// Adds a user's invariant, fed every event after those before it.
    pub(crate) fn add(&mut self, invariant: Box<dyn Invariant + Send>) {
        self.users.0.push(invariant);
    }

    /// The name of the invariant that found `violation`: the one whose hook
    /// returned it, or, for the judgements the engine makes itself (garbage
    /// left no trace, the healed cluster did not settle), `"garbage"` or
    /// `"liveness"`.
    pub(crate) fn blame(&self, violation: &Violation) -> String {
        if let Some(name) = &self.failed {
            return name.clone();
        }
        match violation {
            Violation::GarbageChangedState { .. } | Violation::GarbageNotCounted { .. } => {
                "garbage".to_owned()
            }
            Violation::NoGooseAfterHeal { .. } | Violation::JoinerNotPromoted { .. } => {
                "liveness".to_owned()
            }
            // Every other violation comes from a hook, which recorded its
            // name; say so rather than guess.
            _ => "unknown".to_owned(),
        }
    }

    /// `each!` for the user's invariants, in the order added.
    #[inline(never)]
    fn each_user(
        &mut self,
        hook: &mut dyn FnMut(&mut dyn Invariant) -> Result<(), Violation>,
    ) -> Result<(), Violation> {
        for invariant in &mut self.users.0 {
            let invariant: &mut dyn Invariant = &mut **invariant;
            if let Err(violation) = hook(&mut *invariant) {
                self.failed = Some(invariant.name().to_owned());
                return Err(violation);
            }
        }
        Ok(())
    }

    /// Whether node `id` is a configured (permanent) learner.
    #[cfg(test)]
    pub(crate) fn is_learner(&self, id: NodeId) -> bool {
        self.learners.is_learner(id)
    }

    /// The learner `command`, issued to `node`, would make lead, if any: a
    /// command the node must refuse (and the simulator counts).
    pub(crate) fn learner_in_command(&self, node: NodeId, command: SimCommand) -> Option<NodeId> {
        self.learners.learner_in_command(node, command)
    }

    /// The membership issued under `id`, if any node ever held it.
    pub(crate) fn issued(&self, id: MembershipId) -> Option<&Membership> {
        self.memberships.issued(id)
    }

    /// The newest committed membership.
    pub(crate) fn latest_committed(&self) -> &Membership {
        self.memberships.latest_committed()
    }

    /// How many terms had a leader.
    pub(crate) fn terms_with_leader(&self) -> u64 {
        self.election_safety.terms_with_leader()
    }
}

impl Invariant for Checker {
    #[inline]
    fn on_hard_state(&mut self, at_us: u64, node: NodeId, now: HardState) -> Result<(), Violation> {
        each!(self, on_hard_state(at_us, node, now))
    }

    #[inline]
    fn on_output(&mut self, at_us: u64, node: NodeId, output: &Output) -> Result<(), Violation> {
        each!(self, on_output(at_us, node, output))
    }

    #[inline]
    fn on_membership(
        &mut self,
        at_us: u64,
        node: NodeId,
        id: MembershipId,
    ) -> Result<(), Violation> {
        each!(self, on_membership(at_us, node, id))
    }

    #[inline]
    fn on_command(
        &mut self,
        at_us: u64,
        node: NodeId,
        outcome: &CommandOutcome,
    ) -> Result<(), Violation> {
        each!(self, on_command(at_us, node, outcome))
    }

    #[inline]
    fn on_persist(
        &mut self,
        at_us: u64,
        node: NodeId,
        previous: HardState,
        next: HardState,
    ) -> Result<(), Violation> {
        each!(self, on_persist(at_us, node, previous, next))
    }

    #[inline]
    fn on_persist_membership(
        &mut self,
        at_us: u64,
        node: NodeId,
        id: MembershipId,
    ) -> Result<(), Violation> {
        each!(self, on_persist_membership(at_us, node, id))
    }

    #[inline]
    fn on_send(
        &mut self,
        at_us: u64,
        node: NodeId,
        to: NodeId,
        msg: &Message,
    ) -> Result<(), Violation> {
        each!(self, on_send(at_us, node, to, msg))
    }

    #[inline]
    fn on_membership_event(
        &mut self,
        at_us: u64,
        node: NodeId,
        id: MembershipId,
        committed: bool,
    ) -> Result<(), Violation> {
        each!(self, on_membership_event(at_us, node, id, committed))
    }

    #[inline]
    fn on_crash(&mut self, at_us: u64, node: NodeId) {
        each_infallible!(self, on_crash(at_us, node));
    }

    #[inline]
    fn on_restart(
        &mut self,
        at_us: u64,
        node: NodeId,
        loaded: HardState,
        membership: &Membership,
    ) -> Result<(), Violation> {
        each!(self, on_restart(at_us, node, loaded, membership))
    }

    #[inline]
    fn on_join(&mut self, at_us: u64, node: NodeId, membership: &Membership) {
        each_infallible!(self, on_join(at_us, node, membership));
    }

    #[inline]
    fn on_sweep(&mut self, at_us: u64) {
        each_infallible!(self, on_sweep(at_us));
    }

    #[inline]
    fn on_status(&mut self, at_us: u64, node: &NodeView<'_>) -> Result<(), Violation> {
        each!(self, on_status(at_us, node))
    }

    #[inline]
    fn on_goose(&mut self, at_us: u64, node: &NodeView<'_>) -> Result<(), Violation> {
        each!(self, on_goose(at_us, node))
    }
}

/// The invariants a user added, in order. Its `Debug` shows their names:
/// the invariants themselves need not be `Debug`.
#[derive(Default)]
pub(crate) struct UserInvariants(Vec<Box<dyn Invariant + Send>>);

impl fmt::Debug for UserInvariants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|invariant| invariant.name()))
            .finish()
    }
}

/// One value per simulated node, found by id: ids start at 1. An id the
/// simulation does not have finds nothing.
#[derive(Clone, Debug)]
pub(crate) struct PerNode<T>(Vec<T>);

impl<T> PerNode<T> {
    /// The value of node `id`.
    pub(crate) fn get(&self, id: NodeId) -> Option<&T> {
        self.0.get(index_of(id)?)
    }

    /// The value of node `id`, to change it.
    pub(crate) fn get_mut(&mut self, id: NodeId) -> Option<&mut T> {
        self.0.get_mut(index_of(id)?)
    }
}

impl<T> From<Vec<T>> for PerNode<T> {
    /// The values of nodes `1..=values.len()`, in order.
    fn from(values: Vec<T>) -> Self {
        PerNode(values)
    }
}

/// The id of the simulated node at `index`.
pub(crate) fn node_id(index: usize) -> NodeId {
    NodeId(index as u64 + 1)
}

/// The index of node `id`, if it could be a simulated node.
pub(crate) fn index_of(id: NodeId) -> Option<usize> {
    usize::try_from(id.0).ok()?.checked_sub(1)
}
