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

    /// Runs `hook` on every invariant, in order, up to the first violation,
    /// and remembers which invariant returned it.
    fn each(
        &mut self,
        mut hook: impl FnMut(&mut dyn Invariant) -> Result<(), Violation>,
    ) -> Result<(), Violation> {
        // The built-ins as a fixed array walked on its own, which the
        // compiler unrolls into direct calls, and everything else out of
        // line: this runs for every node after every event, and a heavier
        // loop here (a chain with the user's list, a counter) costs the soak
        // a fifth of its speed.
        let mut families = self.built_in().into_iter();
        let result = families.try_for_each(&mut hook);
        // The family that failed is the last one taken.
        let failed = 3 - families.len();
        drop(families);
        if let Err(violation) = result {
            return Err(self.blame_built_in(failed, violation));
        }
        if self.users.0.is_empty() {
            return Ok(());
        }
        self.each_user(&mut hook)
    }

    /// Records that the built-in family at `index` found `violation`.
    #[cold]
    #[inline(never)]
    fn blame_built_in(&mut self, index: usize, violation: Violation) -> Violation {
        let name = self.built_in()[index].name().to_owned();
        self.failed = Some(name);
        violation
    }

    /// [`each`](Self::each) for the user's invariants, in the order added.
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

    /// The built-in families, in the order [`each`](Self::each) feeds
    /// them (which decides the violation reported when one event breaks
    /// several promises).
    #[inline]
    fn built_in(&mut self) -> [&mut dyn Invariant; 4] {
        [
            &mut self.learners,
            &mut self.memberships,
            &mut self.election_safety,
            &mut self.durability,
        ]
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
    fn on_hard_state(&mut self, at_us: u64, node: NodeId, now: HardState) -> Result<(), Violation> {
        self.each(|invariant| invariant.on_hard_state(at_us, node, now))
    }

    fn on_output(&mut self, at_us: u64, node: NodeId, output: &Output) -> Result<(), Violation> {
        self.each(|invariant| invariant.on_output(at_us, node, output))
    }

    fn on_membership(
        &mut self,
        at_us: u64,
        node: NodeId,
        id: MembershipId,
    ) -> Result<(), Violation> {
        self.each(|invariant| invariant.on_membership(at_us, node, id))
    }

    fn on_command(
        &mut self,
        at_us: u64,
        node: NodeId,
        outcome: &CommandOutcome,
    ) -> Result<(), Violation> {
        self.each(|invariant| invariant.on_command(at_us, node, outcome))
    }

    fn on_persist(
        &mut self,
        at_us: u64,
        node: NodeId,
        previous: HardState,
        next: HardState,
    ) -> Result<(), Violation> {
        self.each(|invariant| invariant.on_persist(at_us, node, previous, next))
    }

    fn on_persist_membership(
        &mut self,
        at_us: u64,
        node: NodeId,
        id: MembershipId,
    ) -> Result<(), Violation> {
        self.each(|invariant| invariant.on_persist_membership(at_us, node, id))
    }

    fn on_send(
        &mut self,
        at_us: u64,
        node: NodeId,
        to: NodeId,
        msg: &Message,
    ) -> Result<(), Violation> {
        self.each(|invariant| invariant.on_send(at_us, node, to, msg))
    }

    fn on_membership_event(
        &mut self,
        at_us: u64,
        node: NodeId,
        id: MembershipId,
        committed: bool,
    ) -> Result<(), Violation> {
        self.each(|invariant| invariant.on_membership_event(at_us, node, id, committed))
    }

    fn on_crash(&mut self, at_us: u64, node: NodeId) {
        let _ = self.each(|invariant| {
            invariant.on_crash(at_us, node);
            Ok(())
        });
    }

    fn on_restart(
        &mut self,
        at_us: u64,
        node: NodeId,
        loaded: HardState,
        membership: &Membership,
    ) -> Result<(), Violation> {
        self.each(|invariant| invariant.on_restart(at_us, node, loaded, membership))
    }

    fn on_join(&mut self, at_us: u64, node: NodeId, membership: &Membership) {
        let _ = self.each(|invariant| {
            invariant.on_join(at_us, node, membership);
            Ok(())
        });
    }

    fn on_sweep(&mut self, at_us: u64) {
        let _ = self.each(|invariant| {
            invariant.on_sweep(at_us);
            Ok(())
        });
    }

    fn on_status(&mut self, at_us: u64, node: &NodeView<'_>) -> Result<(), Violation> {
        self.each(|invariant| invariant.on_status(at_us, node))
    }

    fn on_goose(&mut self, at_us: u64, node: &NodeView<'_>) -> Result<(), Violation> {
        self.each(|invariant| invariant.on_goose(at_us, node))
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
