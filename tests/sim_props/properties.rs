//! The property tests: random fault plans and seeds on 3, 5 and 7 voters
//! (with learners), and on 3 and 5 voters with spares joining and members
//! leaving.

use duckduckgoose::sim::FaultPlan;
use duckduckgoose::sim::strategy::{arb_fault_plan, arb_membership_fault_plan};
use proptest::prelude::*;

use crate::support::*;

/// Property-test cases add up to this many learners to their voters.
const MAX_LEARNERS: usize = 2;

/// One property-test case: everything must hold, and the run must have
/// produced a Goose and exercised the garbage check.
fn check_case(
    nodes: usize,
    learners: usize,
    seed: u64,
    plan: FaultPlan,
) -> Result<(), TestCaseError> {
    let mut plan = plan;
    plan.garbage_every_us = Some(GARBAGE_EVERY_US);
    match run(sim_config(nodes, seed, plan).with_learners(learners)) {
        Ok(report) => {
            prop_assert!(report.stats.geese >= 1);
            prop_assert!(report.stats.garbage_injected > 0);
            Ok(())
        }
        // The failure's Display carries the seed, the plan and the trace tail.
        Err(failure) => Err(TestCaseError::fail(failure.to_string())),
    }
}

proptest! {
    // Failing cases are printed (seed and plan) for the regression list
    // below rather than stored in a file.
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn three_nodes_keep_every_promise(
        seed in any::<u64>(),
        learners in 0..=MAX_LEARNERS,
        plan in arb_fault_plan(),
    ) {
        check_case(3, learners, seed, plan)?;
    }

    #[test]
    fn five_nodes_keep_every_promise(
        seed in any::<u64>(),
        learners in 0..=MAX_LEARNERS,
        plan in arb_fault_plan(),
    ) {
        check_case(5, learners, seed, plan)?;
    }

    #[test]
    fn seven_nodes_keep_every_promise(
        seed in any::<u64>(),
        learners in 0..=MAX_LEARNERS,
        plan in arb_fault_plan(),
    ) {
        check_case(7, learners, seed, plan)?;
    }
}

/// Property-test cases add up to this many spare nodes.
const MAX_SPARES: usize = 3;

/// One membership property-test case: every invariant must hold; the run
/// must have produced a Goose and issued membership commands.
fn check_membership_case(
    nodes: usize,
    spares: usize,
    seed: u64,
    plan: FaultPlan,
) -> Result<(), TestCaseError> {
    let mut plan = plan;
    plan.garbage_every_us = Some(GARBAGE_EVERY_US);
    match run(sim_config(nodes, seed, plan).with_spare_nodes(spares)) {
        Ok(report) => {
            prop_assert!(report.stats.geese >= 1);
            prop_assert!(report.stats.membership_commands > 0);
            Ok(())
        }
        Err(failure) => Err(TestCaseError::fail(failure.to_string())),
    }
}

proptest! {
    // A membership case takes a few milliseconds (60 s of virtual time, 3
    // or 5 voters and up to 3 spares): 1,024 cases per size add about 7 s
    // to this file in the test profile on two cores.
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn three_voters_keep_every_promise_through_membership_changes(
        seed in any::<u64>(),
        spares in 0..=MAX_SPARES,
        plan in arb_membership_fault_plan(),
    ) {
        check_membership_case(3, spares, seed, plan)?;
    }

    #[test]
    fn five_voters_keep_every_promise_through_membership_changes(
        seed in any::<u64>(),
        spares in 0..=MAX_SPARES,
        plan in arb_membership_fault_plan(),
    ) {
        check_membership_case(5, spares, seed, plan)?;
    }
}
