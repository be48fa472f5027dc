//! The checkers are not vacuous: planted bugs in the election are caught.

use duckduckgoose::core::Mutation;
use duckduckgoose::sim::{
    FaultPlan, PartitionPlan, PartitionShapes, PlantedMutation, SimConfig, SimFailure, Violation,
};

use crate::support::*;

// ----- the checkers are not vacuous ---------------------------------------------

/// Runs seeds with `mutation` planted in every node until a run fails;
/// returns the seed and the failure.
fn first_failure(mutation: Mutation, plan: FaultPlan) -> Option<(u64, Box<SimFailure>)> {
    (0..MUTATION_SEED_BUDGET).find_map(|seed| {
        let nodes = [3, 5, 7][(seed % 3) as usize];
        let mut config = sim_config(nodes, seed, plan.clone());
        config.fault_phase_us = 10_000_000;
        config.mutation = Some(PlantedMutation::everywhere(mutation));
        run(config).err().map(|failure| (seed, failure))
    })
}

fn partitions_only(shapes: PartitionShapes) -> FaultPlan {
    FaultPlan::none().with_partitions(PartitionPlan {
        change_every_us: 500_000..=1_500_000,
        shapes,
    })
}

#[test]
fn a_vote_that_is_not_persisted_is_caught() {
    let frequent_crashes = FaultPlan::none()
        .with_crash_probability(0.01)
        .with_restart_delay_us(0..=200_000);
    let (seed, failure) = first_failure(Mutation::SkipVotePersist, frequent_crashes)
        .expect("a lost vote must be caught within the seed budget");
    println!(
        "SkipVotePersist caught with seed {seed}: {}",
        failure.violation
    );
    assert!(
        matches!(
            failure.violation,
            Violation::ExposedStateLost { .. } | Violation::DoubleVote { .. }
        ),
        "{failure}"
    );
}

#[test]
fn ignoring_stickiness_is_caught() {
    // Partial and one-way partitions leave a node that cannot hear the Goose
    // but can reach voters that still do.
    let plan = partitions_only(PartitionShapes {
        symmetric: 0,
        one_way: 1,
        partial: 2,
        connected: 0,
    });
    let (seed, failure) = first_failure(Mutation::IgnoreStickiness, plan)
        .expect("ignoring stickiness must be caught within the seed budget");
    println!(
        "IgnoreStickiness caught with seed {seed}: {}",
        failure.violation
    );
    assert!(
        matches!(failure.violation, Violation::TwoGeese { .. }),
        "{failure}"
    );
}

#[test]
fn a_lease_longer_than_the_bound_is_caught() {
    // 1000 ticks, against a bound of 25 with the default timing.
    let plan = partitions_only(PartitionShapes {
        symmetric: 1,
        one_way: 0,
        partial: 0,
        connected: 0,
    });
    let (seed, failure) = first_failure(Mutation::LeaseTicks(1_000), plan)
        .expect("an over-long lease must be caught within the seed budget");
    println!(
        "LeaseTicks(1000) caught with seed {seed}: {}",
        failure.violation
    );
    assert!(
        matches!(failure.violation, Violation::TwoGeese { .. }),
        "{failure}"
    );
}

#[test]
fn a_lease_a_few_ticks_over_the_bound_is_caught() {
    // The drift model is tight: the longest safe lease (25 ticks with the
    // default timing) never fails, five ticks more does.
    let longest_safe_ticks = SimConfig::new(3, 0).election.lease_ticks();
    let plan = partitions_only(PartitionShapes::all()).with_jitter_us(2_000);
    let (seed, failure) = first_failure(Mutation::LeaseTicks(longest_safe_ticks + 5), plan)
        .expect("a lease 5 ticks too long must be caught within the seed budget");
    println!(
        "LeaseTicks({}) caught with seed {seed}: {}",
        longest_safe_ticks + 5,
        failure.violation
    );
    assert!(
        matches!(failure.violation, Violation::TwoGeese { .. }),
        "{failure}"
    );
}

#[test]
fn a_failure_report_names_its_seed_and_plan_and_replays() {
    let plan = FaultPlan::none()
        .with_crash_probability(0.01)
        .with_restart_delay_us(0..=200_000);
    let mut config = sim_config(3, 9, plan);
    config.mutation = Some(PlantedMutation::everywhere(Mutation::SkipVotePersist));
    let failure = run(config.clone()).expect_err("the planted bug is caught");
    let report = failure.to_string();
    assert!(report.contains("seed:  9"), "{report}");
    assert!(report.contains(&format!("{:?}", config.faults)), "{report}");
    assert!(!failure.trace_tail.is_empty());
    let again = run(*failure.config.clone()).expect_err("a replay fails again");
    assert_eq!(again, failure);
}
