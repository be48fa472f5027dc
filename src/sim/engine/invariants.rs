//! Invariants a user adds to a simulation, checked with the built-in ones.

use super::Simulation;
use crate::sim::checker::Invariant;

impl Simulation {
    /// Adds `invariant`, so that a run checks a promise of your own on
    /// every event, after the built-in ones and those added before it (the
    /// order is in the [`Invariant`] docs). A run that breaks it fails with a
    /// [`SimFailure`](crate::sim::SimFailure) naming it; to replay that run,
    /// add the same invariants again to a simulation of the same config.
    ///
    /// `Send`, so that a simulation can still be moved to another thread
    /// (a proptest runner, a worker pool).
    #[must_use]
    pub fn with_invariant(mut self, invariant: impl Invariant + Send + 'static) -> Self {
        self.checker.add(Box::new(invariant));
        self
    }
}
