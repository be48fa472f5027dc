//! Property tests of the election under the deterministic simulator
//! (DESIGN §5): random fault plans and seeds on 3, 5 and 7 voters with 0–2
//! learners, every invariant checked after every event, a Goose followed by
//! every node (learners included) required after healing, and garbage from
//! non-members mixed in. Also: the checkers are not vacuous (planted bugs are
//! caught), runs are deterministic, failing seeds stay fixed, and learners
//! follow but never lead.
//!
//! Membership changes: 3 and 5 voters with 0–3 spare nodes that join while
//! the cluster runs, `propose_add`, `propose_remove` (the Goose itself
//! included) and `leave` interleaved with every fault, and the membership
//! invariants checked after every event (see `duckduckgoose::sim`).
//!
//! The soak tests (`soak`: 20,000 seeds without membership changes;
//! `soak_membership`: `SOAK_SEEDS`, default 5,000, with them) are ignored by
//! default; this runs both:
//!
//! ```text
//! cargo test --release --all-features --test sim_props -- --ignored soak --nocapture
//! ```
//!
//! (`SOAK_SEEDS=30000` for a longer membership soak.)
//!
//! The `deadlock_*` and `stranded_*` tests replay, on a lock-step network,
//! the membership liveness bugs the simulator found (classes A to F), all
//! fixed in the core and kept as regression tests, like their seeds.

use std::time::Instant;

use duckduckgoose::core::{Message, Mutation, NodeId, Role};
use duckduckgoose::sim::strategy::{arb_fault_plan, arb_membership_fault_plan};
use duckduckgoose::sim::{
    CommandPlan, FaultPlan, HostBug, PartitionPlan, PartitionShapes, PlantedMutation, SimCommand,
    SimConfig, SimConfigError, SimFailure, SimReport, Simulation, TraceKind, Violation,
};
use proptest::prelude::*;

/// Virtual length of the fault phase of every property-test case. A case
/// takes a few milliseconds per simulated minute on a 7-node cluster, so long
/// phases are cheap and see many elections, crashes and partitions.
const FAULT_PHASE_US: u64 = 60_000_000;

/// Property-test cases add up to this many learners to their voters.
const MAX_LEARNERS: usize = 2;

/// Garbage is mixed into every property-test case, whatever the plan says.
const GARBAGE_EVERY_US: std::ops::RangeInclusive<u64> = 20_000..=200_000;

fn sim_config(nodes: usize, seed: u64, plan: FaultPlan) -> SimConfig {
    let mut config = SimConfig::new(nodes, seed).with_faults(plan);
    config.fault_phase_us = FAULT_PHASE_US;
    config
}

fn run(config: SimConfig) -> Result<SimReport, Box<SimFailure>> {
    Simulation::new(config)
        .expect("test configs are valid")
        .run()
        .map_err(Box::new)
}

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

/// Seeds that once failed, replayed on every run. To add one, copy the
/// voters (`nodes`), `learners`, `seed` and `plan` from the failure report:
/// the plan prints as a Rust expression (`FaultPlan { .. }`) that can be
/// pasted as is; a soak failure's plan is `FaultPlan::random(seed)`. Keep the
/// entry after the fix.
fn regressions() -> Vec<(usize, usize, u64, FaultPlan)> {
    vec![
        // `campaign()` within stickiness elected a second Goose (fixed: it
        // is now refused with `CommandError::Sticky`).
        (3, 0, 342, FaultPlan::random(342)),
    ]
}

/// Membership seeds that failed (voters, spare nodes, seed), each with
/// `FaultPlan::random_with_membership(seed)` and a 60 s fault phase. All
/// were membership deadlocks, fixed in the core (see the `deadlock_*` and
/// `stranded_*` tests); every promise, liveness included, must hold.
fn membership_regressions() -> Vec<(usize, usize, u64)> {
    vec![
        // A: an uncommitted removal by a Goose that then lost its lease; the
        // removed node then crashed and could not restart (C).
        (3, 3, 38),
        (5, 2, 45),
        // A with every node up: {n2, n3}, n3 removes itself, uncommitted.
        (3, 0, 728),
        // B: a 1-voter cluster promoting n8; the Goose steps down to n8,
        // which dropped `TimeoutNow` as it still thought it was a learner.
        (5, 3, 31),
        // C: n7 holds an uncommitted removal of itself, crashed and could
        // not restart, though the next Goose made it a voter again; then a
        // pending change needed it.
        (5, 2, 405),
        // F: a node holding a stale uncommitted removal dropped the
        // candidate's (pre-)votes as from a non-member. In 1408, n3 holds
        // v3@t1 voters [n2 n3] (its uncommitted removal of n1); n1 and n2
        // hold v4@t3 voters [n1 n3]: n1 asked n3, which dropped it. Now n3
        // asks n2, which answers with v4 (`NewerMembership`); n3 adopts it
        // and then knows n1.
        (3, 0, 1408),
        // F: n1 holds v3@t4 voters [n1 n2]; n3 holds v4@t7 voters [n1 n3].
        (3, 0, 2264),
        // F: n2 holds v11@t12 voters [n1 n2]; n3 holds v12@t13 voters [n2 n3].
        (5, 2, 293),
        // F: n5 holds v27@t15 voters [n5 n7]; n6 holds v28@t17 voters [n5 n6].
        (5, 3, 2471),
    ]
}

fn run_membership_seed(
    nodes: usize,
    spares: usize,
    seed: u64,
) -> Result<SimReport, Box<SimFailure>> {
    let plan = FaultPlan::random_with_membership(seed);
    run(sim_config(nodes, seed, plan).with_spare_nodes(spares))
}

#[test]
fn membership_regression_seeds_pass() {
    let (mut removed_restarts, mut from_peers) = (0, 0);
    for (nodes, spares, seed) in membership_regressions() {
        match run_membership_seed(nodes, spares, seed) {
            Ok(report) => {
                removed_restarts += report.stats.removed_restarts;
                from_peers += report.stats.memberships_from_peers;
            }
            Err(failure) => panic!(
                "membership regression seed {seed} on {nodes} voters and {spares} spares fails:\n{failure}"
            ),
        }
    }
    // Class C: nodes outside their durable membership restart (as removed
    // nodes) instead of staying down.
    assert!(removed_restarts > 0);
    // Class F: stale nodes catch up from peers.
    assert!(from_peers > 0);
}

#[test]
fn regression_seeds_pass() {
    for (nodes, learners, seed, plan) in regressions() {
        if let Err(failure) = run(sim_config(nodes, seed, plan).with_learners(learners)) {
            panic!(
                "regression seed {seed} on {nodes} voters and {learners} learners fails again:\n{failure}"
            );
        }
    }
}

#[test]
fn printed_plans_are_rust_expressions() {
    let plan = FaultPlan {
        link_latency_us: 100..=200,
        jitter_us: 5,
        loss_probability: 0.25,
        duplicate_probability: 0.0,
        crash_probability: 1e-5,
        restart_delay_us: 0..=10,
        partitions: Some(PartitionPlan {
            change_every_us: 1..=2,
            shapes: PartitionShapes {
                symmetric: 1,
                one_way: 0,
                partial: 2,
                connected: 1,
            },
        }),
        garbage_every_us: None,
        commands: Some(CommandPlan {
            every_us: 3..=4,
            campaign: 0,
            step_down: 1,
            transfer: 2,
            add: 3,
            remove: 1,
            leave: 0,
        }),
    };
    assert_eq!(
        format!("{plan:?}"),
        "FaultPlan { link_latency_us: 100..=200, jitter_us: 5, loss_probability: 0.25, \
         duplicate_probability: 0.0, crash_probability: 1e-5, restart_delay_us: 0..=10, \
         partitions: Some(PartitionPlan { change_every_us: 1..=2, shapes: PartitionShapes { \
         symmetric: 1, one_way: 0, partial: 2, connected: 1 } }), garbage_every_us: None, \
         commands: Some(CommandPlan { every_us: 3..=4, campaign: 0, step_down: 1, transfer: 2, \
         add: 3, remove: 1, leave: 0 }) }"
    );
}

// ----- determinism ------------------------------------------------------------

/// Every fault kind at once, so that a trace exercises every RNG draw.
fn stormy_plan() -> FaultPlan {
    FaultPlan {
        link_latency_us: 200..=8_000,
        jitter_us: 20_000,
        loss_probability: 0.1,
        duplicate_probability: 0.1,
        crash_probability: 0.002,
        restart_delay_us: 50_000..=500_000,
        partitions: Some(PartitionPlan {
            change_every_us: 200_000..=1_000_000,
            shapes: PartitionShapes::all(),
        }),
        garbage_every_us: Some(20_000..=100_000),
        commands: Some(CommandPlan::all(200_000..=600_000)),
    }
}

fn traced(nodes: usize, learners: usize, seed: u64) -> SimReport {
    let mut config = sim_config(nodes, seed, stormy_plan()).with_learners(learners);
    config.record_trace = true;
    run(config).unwrap_or_else(|failure| panic!("{failure}"))
}

#[test]
fn the_same_seed_replays_the_same_trace() {
    for (nodes, learners) in [(3, 0), (5, 0), (7, 0), (3, 2), (5, 1)] {
        let first = traced(nodes, learners, 42);
        let second = traced(nodes, learners, 42);
        assert_eq!(
            first.trace, second.trace,
            "{nodes} voters, {learners} learners"
        );
        assert_eq!(first, second);
        // The trace saw the faults it is meant to replay.
        let saw = |wanted: fn(&TraceKind) -> bool| first.trace.iter().any(|e| wanted(&e.kind));
        assert!(saw(|kind| matches!(kind, TraceKind::Crashed { .. })));
        assert!(saw(|kind| matches!(kind, TraceKind::Restarted { .. })));
        assert!(saw(
            |kind| matches!(kind, TraceKind::Partitioned { cut } if !cut.is_empty())
        ));
        assert!(saw(|kind| matches!(kind, TraceKind::Garbage { .. })));
        assert!(saw(|kind| matches!(kind, TraceKind::Command { .. })));
        assert!(saw(|kind| matches!(kind, TraceKind::Healed)));
        if learners > 0 {
            assert!(first.stats.learner_commands_refused > 0);
        }
    }
}

#[test]
fn different_seeds_give_different_traces() {
    assert_ne!(traced(5, 0, 1).trace, traced(5, 0, 2).trace);
    assert_ne!(traced(5, 0, 1).trace, traced(5, 1, 1).trace);
}

// ----- the checkers are not vacuous ---------------------------------------------

/// How many seeds a planted bug may take to be caught.
const MUTATION_SEED_BUDGET: u64 = 200;

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
    FaultPlan {
        partitions: Some(PartitionPlan {
            change_every_us: 500_000..=1_500_000,
            shapes,
        }),
        ..FaultPlan::none()
    }
}

#[test]
fn a_vote_that_is_not_persisted_is_caught() {
    let frequent_crashes = FaultPlan {
        crash_probability: 0.01,
        restart_delay_us: 0..=200_000,
        ..FaultPlan::none()
    };
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
    let plan = FaultPlan {
        jitter_us: 2_000,
        ..partitions_only(PartitionShapes::all())
    };
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
    let plan = FaultPlan {
        crash_probability: 0.01,
        restart_delay_us: 0..=200_000,
        ..FaultPlan::none()
    };
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

// ----- the membership checkers are not vacuous ------------------------------------

/// Runs seeds with `mutation` planted in every node (or `host_bug` in every
/// host) on membership-heavy runs until one fails with a violation `caught`
/// accepts (the checker meant to catch that bug); returns the seed and the
/// failure. See [`first_caught`].
fn first_membership_failure(
    mutation: Option<Mutation>,
    host_bug: Option<HostBug>,
    plan: impl Fn(u64) -> FaultPlan,
    spares: usize,
    caught: impl Fn(&Violation) -> bool,
) -> Option<(u64, Box<SimFailure>)> {
    let planted = match (mutation, host_bug) {
        (Some(mutation), _) => format!("{mutation:?}"),
        (None, Some(host_bug)) => format!("{host_bug:?}"),
        (None, None) => "no planted bug".to_owned(),
    };
    let setup = |seed| {
        let nodes = [3, 5][(seed % 2) as usize];
        let mut config = sim_config(nodes, seed, plan(seed)).with_spare_nodes(spares);
        config.fault_phase_us = 20_000_000;
        config.mutation = mutation.map(PlantedMutation::everywhere);
        config.host_bug = host_bug;
        config
    };
    first_caught(&planted, setup, caught)
}

/// Runs `setup(seed)` for seeds `0..MUTATION_SEED_BUDGET * 5` until one
/// fails with a violation `caught` accepts; returns the seed and the
/// failure. Runs failing otherwise first (a planted bug may break other
/// promises, or liveness, before the one under test) are skipped, and
/// counted in the message.
fn first_caught(
    planted: &str,
    setup: impl Fn(u64) -> SimConfig,
    caught: impl Fn(&Violation) -> bool,
) -> Option<(u64, Box<SimFailure>)> {
    let mut failed_otherwise = 0;
    let found = (0..MUTATION_SEED_BUDGET * 5).find_map(|seed| match run(setup(seed)) {
        Err(failure) if caught(&failure.violation) => Some((seed, failure)),
        Err(_) => {
            failed_otherwise += 1;
            None
        }
        Ok(_) => None,
    });
    if let Some((seed, failure)) = &found {
        println!(
            "{planted} caught with seed {seed} ({failed_otherwise} runs failed otherwise before): {}",
            failure.violation
        );
    }
    found
}

/// Many changes, partitions that come and go, nothing else.
fn membership_storm(_seed: u64) -> FaultPlan {
    FaultPlan {
        link_latency_us: 500..=3_000,
        jitter_us: 1_000,
        partitions: Some(PartitionPlan {
            change_every_us: 500_000..=2_000_000,
            shapes: PartitionShapes {
                symmetric: 3,
                one_way: 1,
                partial: 1,
                connected: 1,
            },
        }),
        commands: Some(CommandPlan {
            every_us: 100_000..=400_000,
            campaign: 0,
            step_down: 0,
            transfer: 1,
            add: 3,
            remove: 1,
            leave: 0,
        }),
        ..FaultPlan::none()
    }
}

/// Invariant: a node's membership never goes back, across restarts. A host
/// that loses what it was told to make durable (no fsync) restarts nodes
/// with an older membership than their acknowledgements claimed.
#[test]
fn a_membership_that_is_not_made_durable_is_caught() {
    first_membership_failure(
        None,
        Some(HostBug::ForgetMembership),
        FaultPlan::random_with_membership,
        2,
        |violation| {
            matches!(
                violation,
                Violation::ExposedMembershipLost { .. }
                    | Violation::MembershipWentBack { durable: true, .. }
            )
        },
    )
    .expect("a forgotten membership must be caught within the seed budget");
}

/// Invariant: a change is made only on a committed membership. A new Goose
/// that does not re-issue the membership (and so does not wait for a
/// majority-acknowledged round in its term) changes an uncommitted one.
#[test]
fn a_change_on_an_uncommitted_membership_is_caught() {
    first_membership_failure(
        Some(Mutation::NoReissue),
        None,
        membership_storm,
        2,
        |violation| matches!(violation, Violation::ChangeOnUncommittedBase { .. }),
    )
    .expect("NoReissue must be caught within the seed budget");
}

/// Membership growth: spares are added and promoted while symmetric
/// partitions come and go; nothing is removed and nobody hands over.
fn membership_growth(seed: u64) -> FaultPlan {
    let mut plan = membership_storm(seed);
    if let Some(partitions) = &mut plan.partitions {
        partitions.shapes = PartitionShapes {
            symmetric: 1,
            one_way: 0,
            partial: 0,
            connected: 0,
        };
    }
    if let Some(commands) = &mut plan.commands {
        (commands.transfer, commands.remove) = (0, 0);
    }
    plan
}

/// Invariants: one Goose per term, one at a time, and a removed node never
/// leads again, across changes. A voter that grants votes to candidates
/// holding an older membership lets a node that missed two changes (the
/// fewest that make the majorities of the two memberships disjoint) be
/// elected by the old voters while the Goose of the new ones still holds
/// its lease: two Geese. (A stale candidate that is *refused* learns the
/// newer membership from the refusal, `NewerMembership`, and gives up; the
/// planted bug grants instead: see
/// [`a_voter_that_grants_a_candidate_two_changes_behind_makes_a_second_goose`]
/// for the mechanism on a lock-step network.)
///
/// Two kinds of runs alternate: `membership_storm` with the bug in every
/// node, and `membership_growth` (six spares join and are promoted, nobody
/// is removed) with the bug in the first voters only, which stay voters:
/// there nothing but its consequences can catch it (non-voters that grant
/// older candidates are caught first by the vote check of
/// [`votes_by_non_voters_for_older_memberships_are_caught`]).
#[test]
fn votes_for_candidates_with_an_older_membership_are_caught() {
    let setup = |seed: u64| {
        let nodes = [3, 5][(seed % 2) as usize];
        let grow = seed % 4 >= 2;
        let (plan, spares) = if grow {
            (membership_growth(seed), 6)
        } else {
            (membership_storm(seed), 4)
        };
        let mut config = sim_config(nodes, seed, plan).with_spare_nodes(spares);
        config.fault_phase_us = 20_000_000;
        config.mutation = Some(PlantedMutation {
            mutation: Mutation::SkipMembershipVoteCheck,
            nodes: grow.then(|| (1..=nodes as u64).map(NodeId).collect()),
        });
        config
    };
    first_caught("SkipMembershipVoteCheck", setup, |violation| {
        matches!(
            violation,
            Violation::RemovedNodeIsGoose { .. }
                | Violation::TwoGeese { .. }
                | Violation::TwoLeadersInTerm { .. }
        )
    })
    .expect("SkipMembershipVoteCheck must be caught within the seed budget");
}

/// The mechanism behind [`votes_for_candidates_with_an_older_membership_are_caught`],
/// replayed on a lock-step network: three voters {G, S, W}, G the Goose.
/// S is cut off while G adds and promotes n4, then n5: S still holds the
/// first membership, W holds {G, S, W, n4, n5}. Then {S, W} are cut off
/// from {G, n4, n5}, which keep G's lease (3 of 5). Once W no longer hears
/// G, S asks W for its vote on the old membership, where {S, W} is a
/// majority.
///
/// With the vote check, W refuses and answers with its membership
/// (`NewerMembership`): S adopts it and gives up, G stays the only Goose.
/// With the check skipped in W alone, W grants, S is elected and gets a
/// lease from W while G's runs: two Geese at once.
#[test]
fn a_voter_that_grants_a_candidate_two_changes_behind_makes_a_second_goose() {
    for skip_check in [false, true] {
        let (mut net, g, s, w) = two_changes_behind();
        if skip_check {
            net.node(w).set_mutation(Mutation::SkipMembershipVoteCheck);
        }
        let timeout_max_ticks = net.nodes()[0].config().election_timeout_max_ticks;
        let two_geese = (0..10 * timeout_max_ticks).any(|_| {
            net.tick();
            net.nodes()
                .iter()
                .filter(|n| n.role() == Role::Goose)
                .count()
                > 1
        });
        if skip_check {
            assert!(two_geese, "S is elected by W while G leads");
            assert_eq!(net.node(s).role(), Role::Goose);
            assert_eq!(net.node(g).role(), Role::Goose);
            continue;
        }
        assert!(!two_geese, "W refuses S");
        assert_eq!(net.goose(), Some(g));
        let newer = net.held(w);
        let told = net.delivered().iter().any(|d| {
            matches!(&d.msg, Message::NewerMembership { membership, .. }
                if (d.from, d.to) == (w, s) && **membership == newer)
        });
        assert!(told, "W answered S's request with {newer:?}");
        assert_eq!(net.held(s), newer, "S caught up");
    }
}

/// The setting of
/// [`a_voter_that_grants_a_candidate_two_changes_behind_makes_a_second_goose`]:
/// the network and (G, S, W), with {S, W} just reconnected to each other
/// and W no longer sticky.
fn two_changes_behind() -> (LockStep, NodeId, NodeId, NodeId) {
    use duckduckgoose::core::{Config, Election, HardState};

    let ids = [NodeId(1), NodeId(2), NodeId(3)];
    let mut net = LockStep::new(
        ids.iter()
            .map(|id| Election::new(Config::new(*id, ids), HardState::default(), id.0).unwrap())
            .collect(),
    );
    let config = net.nodes()[0].config().clone();
    let (timeout_min_ticks, timeout_max_ticks) = (
        config.election_timeout_min_ticks,
        config.election_timeout_max_ticks,
    );
    let g = net
        .until_settled_goose(20 * timeout_max_ticks)
        .expect("a Goose is elected");
    let others: Vec<NodeId> = ids.into_iter().filter(|id| *id != g).collect();
    let (s, w) = (others[0], others[1]);
    let first = net.held(s);

    net.cut_both_ways(s, g);
    net.cut_both_ways(s, w);
    for joiner in [NodeId(4), NodeId(5)] {
        net.cut_both_ways(s, joiner);
        net.node(g)
            .propose_add(joiner, &format!("n{joiner}.sim:7000"))
            .expect("the Goose adds a node");
        assert_eq!(net.until_settled_goose(10 * timeout_max_ticks), Some(g));
        let mut config = Config::new(joiner, ids);
        config.membership = net.held(g);
        net.add(Election::new(config, HardState::default(), joiner.0).unwrap());
        let promoted = (0..20 * timeout_max_ticks).any(|_| {
            net.tick();
            net.held(g).is_voter(joiner) && net.node(g).membership_pending() == Some(false)
        });
        assert!(promoted, "n{joiner} is promoted");
    }
    assert_eq!(net.held(s), first, "S missed both changes");
    assert_eq!(net.held(w), net.held(g));
    assert_eq!(net.held(w).voters().count(), 5);

    net.heal();
    for a in [s, w] {
        for b in [g, NodeId(4), NodeId(5)] {
            net.cut_both_ways(a, b);
        }
    }
    net.cut_both_ways(s, w);
    for _ in 0..=timeout_min_ticks {
        net.tick();
    }
    assert_eq!(net.goose(), Some(g), "n4 and n5 keep G's lease");
    net.open_both_ways(s, w);
    net.clear_delivered();
    (net, g, s, w)
}

/// Invariant: a node that is not a voter of its membership grants a vote
/// only to a candidate holding a newer membership or the one its own was
/// made from. Skipping the membership check makes removed nodes and waiting
/// learners vote for candidates holding anything.
#[test]
fn votes_by_non_voters_for_older_memberships_are_caught() {
    first_membership_failure(
        Some(Mutation::SkipMembershipVoteCheck),
        None,
        membership_storm,
        4,
        |violation| matches!(violation, Violation::NonVoterGrantedVote { .. }),
    )
    .expect("SkipMembershipVoteCheck must be caught by the vote check within the seed budget");
}

/// Invariant: a membership a Goose commits is durably held by a majority of
/// its voters. Counting the holders among the voters before the change
/// commits a promotion that only the old majority holds: {G, L} promoting L
/// commits as soon as G alone holds it.
#[test]
fn a_commit_counted_on_the_old_voters_is_caught() {
    first_membership_failure(
        Some(Mutation::CommitOnOldVoters),
        None,
        membership_storm,
        2,
        |violation| matches!(violation, Violation::CommittedWithoutMajority { .. }),
    )
    .expect("CommitOnOldVoters must be caught within the seed budget");
}

/// Invariant: a node never campaigns while its membership does not contain
/// it. A removed node that keeps campaigning is caught at its first pre-vote
/// round (before it can disrupt or win anything).
#[test]
fn a_removed_node_that_campaigns_is_caught() {
    first_membership_failure(
        Some(Mutation::RemovedStillCampaigns),
        None,
        membership_storm,
        2,
        |violation| matches!(violation, Violation::RemovedNodeCampaigned { .. }),
    )
    .expect("RemovedStillCampaigns must be caught within the seed budget");
}

/// Invariants: a Goose is a voter of its own membership except while its
/// removal is pending, and a node removed by a committed change is never the
/// Goose. A Goose that keeps leading once its own removal committed breaks
/// both.
#[test]
fn a_removed_goose_that_keeps_leading_is_caught() {
    first_membership_failure(
        Some(Mutation::NoStepDownOnRemoval),
        None,
        membership_storm,
        2,
        |violation| {
            matches!(
                violation,
                Violation::RemovedNodeIsGoose { .. } | Violation::GooseNotAVoter { .. }
            )
        },
    )
    .expect("NoStepDownOnRemoval must be caught within the seed budget");
}

// `Mutation::LeaseOverNewVotersOnly` (while a change is pending, the lease
// counts only the new voters) has no test: with single-server changes every
// majority of the new voters meets every majority of the old ones, so a
// lease acknowledged by a majority of the new voters alone already excludes
// any other Goose, from either configuration, and no checker can catch it.
// The core requires both majorities as a margin, not for safety.

// ----- membership changes, healthy ---------------------------------------------------

/// Spares join when their add commits, are promoted to voters, and the
/// removed nodes stay out; in a quiet network the run settles with every
/// spare a voter.
#[test]
fn spares_join_and_are_promoted() {
    for (nodes, spares) in [(1, 1), (3, 2), (5, 3)] {
        let plan = FaultPlan {
            commands: Some(CommandPlan {
                every_us: 300_000..=600_000,
                campaign: 0,
                step_down: 0,
                transfer: 0,
                add: 1,
                remove: 0,
                leave: 0,
            }),
            ..FaultPlan::none()
        };
        let mut config = sim_config(nodes, 5, plan).with_spare_nodes(spares);
        config.fault_phase_us = 10_000_000;
        config.record_trace = true;
        let report = run(config).unwrap_or_else(|f| panic!("{f}"));
        let context = format!("{nodes} voters, {spares} spares");
        assert_eq!(report.stats.nodes_joined, spares as u64, "{context}");
        assert_eq!(report.stats.geese, 1, "{context}: one Goose throughout");
        // The last committed membership makes every node a voter.
        let last = report
            .trace
            .iter()
            .rev()
            .find_map(|event| match &event.kind {
                TraceKind::MembershipCommitted { id, .. } => Some(*id),
                _ => None,
            })
            .expect("commits");
        let promoted_in = report.trace.iter().any(|event| {
            matches!(&event.kind, TraceKind::Sent { msg: Message::Heartbeat { membership: Some(m), .. }, .. }
                if m.id() == last && m.voters().len() == nodes + spares)
        });
        assert!(promoted_in, "{context}: every spare became a voter");
    }
}

/// Adds, removals (the Goose's own included), `leave` and transfers settle
/// in a quiet network: the removed nodes stay out, a Goose of the remaining
/// voters is followed by all of them, the spares are promoted. (Transfers
/// and `leave` once hit deadlocks B and D here.)
#[test]
fn adds_and_removals_settle() {
    for seed in 0..20 {
        let plan = FaultPlan {
            commands: Some(CommandPlan {
                every_us: 200_000..=500_000,
                campaign: 0,
                step_down: 0,
                transfer: 1,
                add: 2,
                remove: 1,
                leave: 1,
            }),
            ..FaultPlan::none()
        };
        let nodes = [3, 5][(seed % 2) as usize];
        let mut config = sim_config(nodes, seed, plan).with_spare_nodes(2);
        config.fault_phase_us = 10_000_000;
        match run(config) {
            Ok(report) => assert!(report.stats.memberships_committed > 2, "seed {seed}"),
            Err(failure) => panic!("seed {seed}:\n{failure}"),
        }
    }
}

#[test]
fn membership_runs_replay_exactly() {
    let traced = |seed| {
        let plan = FaultPlan {
            loss_probability: 0.05,
            crash_probability: 0.002,
            restart_delay_us: 0..=300_000,
            garbage_every_us: Some(GARBAGE_EVERY_US),
            ..membership_storm(seed)
        };
        let mut config = sim_config(3, seed, plan).with_spare_nodes(3);
        config.fault_phase_us = 20_000_000;
        config.record_trace = true;
        let report = run(config).unwrap_or_else(|failure| panic!("{failure}"));
        (report.trace, report.stats)
    };
    for seed in [7, 8] {
        let (first, stats) = traced(seed);
        assert_eq!((first.clone(), stats), traced(seed), "seed {seed}");
        let saw = |wanted: fn(&TraceKind) -> bool| first.iter().any(|e| wanted(&e.kind));
        assert!(saw(|kind| matches!(kind, TraceKind::Joined { .. })));
        assert!(saw(|kind| matches!(
            kind,
            TraceKind::MembershipCommitted { .. }
        )));
        assert!(saw(|kind| matches!(
            kind,
            TraceKind::Command {
                command: SimCommand::AddNode(_) | SimCommand::RemoveNode(_) | SimCommand::Leave,
                ..
            }
        )));
    }
}

// ----- the healthy cases ----------------------------------------------------------

#[test]
fn a_quiet_cluster_elects_one_goose_and_keeps_it() {
    for nodes in [1, 3, 5, 7] {
        let report = run(sim_config(nodes, 3, FaultPlan::none())).unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(
            report.stats.terms_with_leader, 1,
            "{nodes} nodes: {report:?}"
        );
        assert_eq!(report.stats.geese, 1, "{nodes} nodes");
        let first_goose_us = report.first_goose_at_us.expect("a Goose was elected");
        assert!(first_goose_us < SimConfig::new(nodes, 3).liveness_bound_us());
        assert_eq!(report.goose_after_heal_us, 0, "the Goose outlives the heal");
    }
}

#[test]
fn heavy_garbage_is_dropped_counted_and_harmless() {
    for (nodes, learners) in [(3, 0), (5, 0), (7, 0), (3, 2)] {
        let plan = FaultPlan {
            garbage_every_us: Some(1_000..=5_000),
            ..stormy_plan()
        };
        let config = sim_config(nodes, 11, plan).with_learners(learners);
        let report = run(config).unwrap_or_else(|f| panic!("{f}"));
        assert!(report.stats.garbage_injected > 1_000, "{report:?}");
    }
}

#[test]
fn invalid_configs_are_refused() {
    let mut config = SimConfig::new(3, 0);
    config.faults.loss_probability = 1.5;
    assert!(matches!(
        Simulation::new(config),
        Err(SimConfigError::Plan(_))
    ));
    let mut config = SimConfig::new(3, 0);
    config.election.election_timeout_max_ticks = 10;
    assert!(matches!(
        Simulation::new(config),
        Err(SimConfigError::Election(_))
    ));
    // Learners take ids after the voters; all of them must stay below the
    // ids of garbage senders.
    assert!(matches!(
        Simulation::new(SimConfig::new(990, 0).with_learners(10)),
        Err(SimConfigError::TooManyNodes {
            nodes: 990,
            learners: 10,
            spare_nodes: 0
        })
    ));
    assert!(matches!(
        Simulation::new(SimConfig::new(0, 0).with_learners(3)),
        Err(SimConfigError::NoNodes)
    ));
}

// ----- learners ---------------------------------------------------------------------

#[test]
fn a_quiet_cluster_with_learners_elects_one_voter_and_learners_follow_it() {
    for (nodes, learners) in [(1, 1), (1, 2), (3, 1), (3, 2), (5, 2)] {
        let mut config = sim_config(nodes, 3, FaultPlan::none()).with_learners(learners);
        config.record_trace = true;
        let report = run(config).unwrap_or_else(|f| panic!("{f}"));
        let context = format!("{nodes} voters, {learners} learners");
        assert_eq!(report.stats.terms_with_leader, 1, "{context}: {report:?}");
        assert_eq!(report.stats.geese, 1, "{context}");
        assert_eq!(report.stats.elections_started, 1, "{context}");
        // The run ends only once every node, learners included, follows the
        // Goose; and the Goose is a voter.
        assert_eq!(report.goose_after_heal_us, 0, "{context}");
        let goose = report.trace.iter().find_map(|event| match event.kind {
            TraceKind::RoleChanged {
                node,
                role: Role::Goose,
                ..
            } => Some(node),
            _ => None,
        });
        assert!(
            goose.is_some_and(|goose| goose.0 <= nodes as u64),
            "{context}: Goose {goose:?}"
        );
        // Learners were heartbeaten and answered.
        let learner_acked = report.trace.iter().any(|event| {
            matches!(
                event.kind,
                TraceKind::Sent { from, msg: Message::HeartbeatAck { .. }, .. }
                    if from.0 > nodes as u64
            )
        });
        assert!(learner_acked, "{context}");
    }
}

/// Operator commands aimed at learners — `campaign` on a learner, a transfer
/// to one — are refused and counted, while the voters keep every promise
/// through partitions and crashes.
#[test]
fn commands_that_would_make_a_learner_lead_are_refused() {
    let plan = FaultPlan {
        crash_probability: 0.001,
        restart_delay_us: 0..=300_000,
        commands: Some(CommandPlan {
            every_us: 50_000..=200_000,
            campaign: 1,
            step_down: 0,
            transfer: 2,
            ..CommandPlan::all(0..=0)
        }),
        ..stormy_plan()
    };
    let mut refused = 0;
    for seed in 0..30 {
        let (nodes, learners) = [(3, 2), (5, 1), (1, 2)][(seed % 3) as usize];
        let config = sim_config(nodes, seed, plan.clone()).with_learners(learners);
        match run(config) {
            Ok(report) => refused += report.stats.learner_commands_refused,
            Err(failure) => panic!("seed {seed}:\n{failure}"),
        }
    }
    assert!(refused > 100, "only {refused} learner commands refused");
}

// ----- soak -------------------------------------------------------------------------

/// 20,000 seeds, each with its own random plan ([`FaultPlan::random`] of the
/// seed), spread over 3, 5 and 7 voters with 0, 1 or 2 learners. Run it with
/// `cargo test --release --all-features --test sim_props -- --ignored soak --nocapture`.
#[test]
#[ignore = "soak: run with --release -- --ignored"]
fn soak() {
    const SEEDS: u64 = 20_000;
    let started = Instant::now();
    let mut violations = 0_u64;
    let mut events = 0_u64;
    let mut learner_commands_refused = 0_u64;
    for seed in 0..SEEDS {
        let nodes = [3, 5, 7][(seed % 3) as usize];
        // `seed / 3` cycles independently of `seed % 3`, so every size meets
        // every learner count.
        let learners = ((seed / 3) % 3) as usize;
        let plan = FaultPlan::random(seed);
        match run(sim_config(nodes, seed, plan).with_learners(learners)) {
            Ok(report) => {
                events += report.stats.events;
                learner_commands_refused += report.stats.learner_commands_refused;
            }
            Err(failure) => {
                violations += 1;
                println!(
                    "seed {seed} on {nodes} voters and {learners} learners failed:\n{failure}"
                );
            }
        }
    }
    println!(
        "soak: {SEEDS} seeds run, {violations} violations found, {events} events, \
         {learner_commands_refused} learner commands refused, {:.1?}",
        started.elapsed()
    );
    assert_eq!(violations, 0, "see the failures printed above");
}

/// Membership soak: `SOAK_SEEDS` seeds (default 5,000), each with
/// [`FaultPlan::random_with_membership`] of the seed, 3 or 5 voters and 0–3
/// spares. Every violation fails, liveness included. Run it with
/// `cargo test --release --all-features --test sim_props -- --ignored soak_membership --nocapture`.
#[test]
#[ignore = "soak: run with --release -- --ignored"]
fn soak_membership() {
    let seeds: u64 = std::env::var("SOAK_SEEDS")
        .ok()
        .and_then(|seeds| seeds.parse().ok())
        .unwrap_or(5_000);
    let started = Instant::now();
    let (mut violations, mut events) = (0_u64, 0_u64);
    let (mut commands, mut refused, mut committed, mut joined) = (0, 0, 0, 0);
    let (mut removed_restarts, mut from_peers) = (0, 0);
    for seed in 0..seeds {
        let nodes = [3, 5][(seed % 2) as usize];
        let spares = ((seed / 2) % 4) as usize;
        match run_membership_seed(nodes, spares, seed) {
            Ok(report) => {
                events += report.stats.events;
                commands += report.stats.membership_commands;
                refused += report.stats.membership_commands_refused;
                committed += report.stats.memberships_committed;
                joined += report.stats.nodes_joined;
                removed_restarts += report.stats.removed_restarts;
                from_peers += report.stats.memberships_from_peers;
            }
            Err(failure) => {
                violations += 1;
                println!("seed {seed} on {nodes} voters and {spares} spares failed:\n{failure}");
            }
        }
    }
    println!(
        "soak_membership: {seeds} seeds run, {violations} violations found, {events} events, \
         {commands} membership commands ({refused} refused), {committed} commits, {joined} nodes \
         joined, {removed_restarts} restarts as a removed node, {from_peers} memberships adopted \
         from a peer's NewerMembership, {:.1?}",
        started.elapsed()
    );
    assert_eq!(violations, 0, "see the failures printed above");
}

// ----- campaign() within stickiness (a fixed core bug) -------------------------------------

/// Campaign-heavy plans: partitions of every shape and a `campaign` to a
/// random node every 0.1–0.3 s. Before `campaign()` refused to run while
/// sticky, the simulator found a second Goose within a few seeds.
#[test]
fn campaign_never_elects_a_second_goose() {
    let plan = FaultPlan {
        partitions: Some(PartitionPlan {
            change_every_us: 300_000..=1_000_000,
            shapes: PartitionShapes::all(),
        }),
        commands: Some(CommandPlan {
            every_us: 100_000..=300_000,
            campaign: 1,
            step_down: 0,
            transfer: 0,
            ..CommandPlan::all(0..=0)
        }),
        ..FaultPlan::none()
    };
    for seed in 0..100 {
        let nodes = [3, 5, 7][(seed % 3) as usize];
        if let Err(failure) = run(sim_config(nodes, seed, plan.clone())) {
            panic!("seed {seed}, {nodes} nodes:\n{failure}");
        }
    }
}

/// Regression for a bug the simulator found (seed 342 of
/// `FaultPlan::random`, 3 nodes, 60 s fault phase): `campaign()` used to be
/// accepted within stickiness. Driven by hand on a lossless lock-step network of three
/// nodes G, B and C:
///
/// 1. G is the Goose; then the link G–C is cut both ways. C times out and
///    pre-votes, B refuses (it hears G), so C stays a Duck in G's term, and
///    after `election_timeout_min` C is no longer sticky.
/// 2. G's lease keeps being renewed by B. Now G is cut off from B too, and B
///    (which heard G's heartbeat a tick ago) is told to `campaign()`.
/// 3. B used to grant itself the pre-vote and the vote, C granted both, and B
///    became the Goose of the next term while G's lease still ran: two
///    Geese. Now B refuses to campaign while sticky.
#[test]
fn campaign_within_stickiness_is_refused() {
    use duckduckgoose::core::{Config, Election, HardState, NodeId, Role};

    let ids = [NodeId(1), NodeId(2), NodeId(3)];
    let mut net = LockStep::new(
        ids.iter()
            .map(|id| Election::new(Config::new(*id, ids), HardState::default(), id.0).unwrap())
            .collect(),
    );
    let goose = loop {
        net.tick();
        if let Some(goose) = net.nodes().iter().find(|n| n.role() == Role::Goose) {
            break goose.id();
        }
    };
    let others: Vec<NodeId> = ids.into_iter().filter(|id| *id != goose).collect();
    let (b, c) = (others[0], others[1]);

    net.cut_both_ways(goose, c);
    let timeout_max_ticks = net.node(c).config().election_timeout_max_ticks;
    for _ in 0..2 * timeout_max_ticks {
        net.tick();
    }
    assert_eq!(
        net.node(goose).role(),
        Role::Goose,
        "B keeps G's lease alive"
    );
    assert_eq!(net.node(b).leader(), Some(goose));

    net.cut_both_ways(goose, b);
    assert_eq!(
        net.node(b).campaign(),
        Err(duckduckgoose::core::CommandError::Sticky)
    );
    net.settle();
    // One tick lets B's first heartbeat round be acknowledged by C.
    net.tick();

    let geese: Vec<NodeId> = net
        .nodes()
        .iter()
        .filter(|n| n.role() == Role::Goose)
        .map(|n| n.id())
        .collect();
    assert!(geese.len() <= 1, "two Geese at once: {geese:?}");
}

// ----- lock-step harness ----------------------------------------------------------

/// A lossless network of elections in lock step: every tick, every node
/// ticks, then every message (and every answer) is delivered at once, except
/// on cut links. Scenarios the simulator found are replayed here by hand, on
/// `sim::LockStep` (which checks the persist barrier on every output too).
struct LockStep {
    net: duckduckgoose::sim::LockStep,
}

impl LockStep {
    fn new(nodes: Vec<duckduckgoose::core::Election>) -> Self {
        LockStep {
            net: duckduckgoose::sim::LockStep::new(nodes).expect("distinct ids"),
        }
    }

    fn node(&mut self, id: duckduckgoose::core::NodeId) -> &mut duckduckgoose::core::Election {
        self.net.node_mut(id).expect("a node of this network")
    }

    /// Every node, in id order.
    fn nodes(&self) -> &[duckduckgoose::core::Election] {
        self.net.nodes()
    }

    /// Adds a node started later, its state taken as durable.
    fn add(&mut self, node: duckduckgoose::core::Election) {
        self.net.add(node).expect("a new id");
    }

    /// Delivers every message, and every answer, until none is left.
    fn settle(&mut self) {
        self.net
            .settle()
            .unwrap_or_else(|breach| panic!("{breach}"));
    }

    /// Every node ticks, without delivering anything yet.
    fn tick_only(&mut self) {
        self.net.tick_only();
    }

    fn tick(&mut self) {
        self.tick_only();
        self.settle();
    }

    fn cut(&mut self, from: duckduckgoose::core::NodeId, to: duckduckgoose::core::NodeId) {
        self.net.cut(from, to);
    }

    fn cut_both_ways(&mut self, a: duckduckgoose::core::NodeId, b: duckduckgoose::core::NodeId) {
        self.net.cut_both_ways(a, b);
    }

    fn open_both_ways(&mut self, a: duckduckgoose::core::NodeId, b: duckduckgoose::core::NodeId) {
        self.net.open_both_ways(a, b);
    }

    /// Every link open again.
    fn heal(&mut self) {
        self.net.heal();
    }

    /// Every message delivered since the last `clear_delivered`, in order.
    fn delivered(&self) -> &[duckduckgoose::sim::lockstep::Delivery] {
        self.net.deliveries()
    }

    fn clear_delivered(&mut self) {
        self.net.clear_records();
    }

    /// The membership node `id` holds.
    fn held(&self, id: duckduckgoose::core::NodeId) -> duckduckgoose::core::Membership {
        self.net
            .node(id)
            .expect("a node of this network")
            .membership()
            .clone()
    }

    fn goose(&self) -> Option<duckduckgoose::core::NodeId> {
        self.net.goose()
    }

    /// Ticks until a Goose exists whose membership is committed, at most
    /// `limit` ticks.
    fn until_settled_goose(&mut self, limit: u64) -> Option<duckduckgoose::core::NodeId> {
        match self.net.elect_committed(limit) {
            Ok(goose) => Some(goose),
            Err(duckduckgoose::sim::LockStepError::Deadline { .. }) => None,
            Err(breach) => panic!("{breach}"),
        }
    }
}

// ----- membership deadlocks the simulator found -----------------------------------
//
// Liveness bugs: no Goose could ever be elected again (or a member followed
// nobody), though every node was up and the network healed. Classes A to F
// are fixed in the core and kept as regression tests.

/// Class A (seeds 38, 45, 728, ... of `FaultPlan::random_with_membership`):
/// a Goose's uncommitted removal left the removed node unable to help.
///
/// Two voters {G, O}. G proposes removing itself; the heartbeat carrying
/// the change never reaches O (cut), so G's lease runs out before the change
/// commits. G now holds a membership without itself: it never campaigns. O
/// holds the previous membership {G, O} and needs G's vote, which G used to
/// refuse (no voter, and O's membership older than its own): nobody could
/// ever be elected. Fixed: a node outside its own membership grants a
/// candidate holding the membership just before it, so O is elected and
/// re-issues {G, O}. (Class C was the same with G crashed: a node whose
/// stored membership excludes it could not start at all; it now starts as
/// a removed node, and the simulator restarts it.)
#[test]
fn deadlock_after_an_uncommitted_self_removal() {
    use duckduckgoose::core::{Config, Election, HardState, NodeId};

    let ids = [NodeId(1), NodeId(2)];
    let mut net = LockStep::new(
        ids.iter()
            .map(|id| Election::new(Config::new(*id, ids), HardState::default(), id.0).unwrap())
            .collect(),
    );
    let timeout_max_ticks = net.nodes()[0].config().election_timeout_max_ticks;
    let goose = net
        .until_settled_goose(20 * timeout_max_ticks)
        .expect("a Goose is elected");
    let other = ids.into_iter().find(|id| *id != goose).expect("two nodes");

    net.cut_both_ways(goose, other);
    net.node(goose)
        .propose_remove(goose)
        .expect("the Goose may remove itself");
    for _ in 0..2 * timeout_max_ticks {
        net.tick();
    }
    assert_eq!(net.goose(), None, "the lease ran out, uncommitted");
    assert!(!net.node(goose).membership().contains(goose));
    assert!(net.node(other).membership().is_voter(goose));

    net.heal();
    for _ in 0..20 * timeout_max_ticks {
        net.tick();
    }
    let held = |net: &mut LockStep, id| net.node(id).membership().clone();
    let (goose_holds, other_holds) = (held(&mut net, goose), held(&mut net, other));
    assert!(
        net.goose().is_some(),
        "no Goose 20 election timeouts after healing: n{goose} holds {goose_holds:?}, \
         n{other} holds {other_holds:?}"
    );
}

/// Class B (seeds 31, 124, 156, ... of `FaultPlan::random_with_membership`):
/// an uncommitted promotion left the promoted learner unable to help.
///
/// One voter G and a joining learner L. G promotes L (membership {G, L}),
/// but the heartbeat carrying it never reaches L, and G's lease, now needing
/// L, runs out. G needs L's vote; L holds the previous membership, where it
/// is a learner, and used to refuse every (pre-)vote: nobody could ever be
/// elected. (Likewise when G handed over with `step_down`: L dropped
/// `TimeoutNow`, not knowing it was a voter yet.) Fixed: a learner grants a
/// candidate holding a newer membership (votes follow the candidate's
/// membership), and `step_down` only picks a voter that knows it is one.
#[test]
fn deadlock_after_an_uncommitted_promotion() {
    use duckduckgoose::core::{Config, Election, HardState, NodeId};

    let (g, l) = (NodeId(1), NodeId(2));
    let mut net = LockStep::new(vec![
        Election::new(Config::new(g, [g]), HardState::default(), 1).unwrap(),
    ]);
    let timeout_max_ticks = net.nodes()[0].config().election_timeout_max_ticks;
    assert_eq!(net.until_settled_goose(20 * timeout_max_ticks), Some(g));
    net.node(g)
        .propose_add(l, "n2.sim:7000")
        .expect("the Goose adds a learner");
    net.settle();
    // One voter: the add commits at once, and L starts from it (as a joiner
    // does with `JoinReply::Accepted`).
    assert_eq!(net.node(g).membership_pending(), Some(false));
    let mut config = Config::new(l, [g]);
    config.membership = net.node(g).membership().clone();
    net.add(Election::new(config, HardState::default(), 2).unwrap());

    // Tick until G promotes L, and cut them apart before the promotion
    // reaches L.
    let promoted = (0..20 * timeout_max_ticks).any(|_| {
        net.tick_only();
        if net.node(g).membership().is_voter(l) {
            net.cut_both_ways(g, l);
            true
        } else {
            net.settle();
            false
        }
    });
    assert!(promoted, "G promotes L once it has kept up");
    net.settle();
    for _ in 0..2 * timeout_max_ticks {
        net.tick();
    }
    assert_eq!(net.goose(), None, "the lease ran out, uncommitted");
    assert!(net.node(l).membership().is_learner(l));

    net.heal();
    for _ in 0..20 * timeout_max_ticks {
        net.tick();
    }
    let held = |net: &mut LockStep, id| net.node(id).membership().clone();
    let (g_holds, l_holds) = (held(&mut net, g), held(&mut net, l));
    assert!(
        net.goose().is_some(),
        "no Goose 20 election timeouts after healing: G holds {g_holds:?}, L holds {l_holds:?}"
    );
}

/// Class D (the 5-voter proptest case of seed 18203257174122284803, and
/// others): every voter asked to leave, so nobody campaigned.
///
/// Two voters {G, O}. O calls `leave()` while its link to G is cut (its
/// request waits for the next heartbeat); then G calls `leave()`: it hands
/// over to O, which used to drop `TimeoutNow` because it was leaving; and a
/// leaving node never campaigned by itself, so no Goose was ever elected
/// again. Fixed: a leaving node campaigns like any voter (and removes itself
/// once it leads): one of them leads.
#[test]
fn deadlock_when_every_voter_leaves() {
    use duckduckgoose::core::{Config, Election, HardState, NodeId};

    let ids = [NodeId(1), NodeId(2)];
    let mut net = LockStep::new(
        ids.iter()
            .map(|id| Election::new(Config::new(*id, ids), HardState::default(), id.0).unwrap())
            .collect(),
    );
    let timeout_max_ticks = net.nodes()[0].config().election_timeout_max_ticks;
    let goose = net
        .until_settled_goose(20 * timeout_max_ticks)
        .expect("a Goose is elected");
    let other = ids.into_iter().find(|id| *id != goose).expect("two nodes");

    net.cut(other, goose);
    net.node(other).leave().expect("a voter may ask to leave");
    net.node(goose).leave().expect("so may the Goose");
    net.settle();
    assert_eq!(net.goose(), None, "the Goose handed over");

    net.heal();
    for _ in 0..20 * timeout_max_ticks {
        net.tick();
    }
    assert!(
        net.goose().is_some(),
        "no Goose 20 election timeouts after both voters asked to leave"
    );
}

/// Class E (the 5-voter proptest case of seed 2613645950135509915, and
/// others): a member that missed the changes which made the current Goose a
/// member never caught up.
///
/// Three voters {G, X, Y}; X is cut off. G adds N, which is promoted, and
/// hands over to N. Once healed, X still holds {G, X, Y}: it used to drop
/// every heartbeat of N as from a non-member (rule 9), so it never learned
/// the newer membership, and stayed a member following nobody. Fixed: a
/// heartbeat from a non-member carrying a newer membership in which the
/// sender is a voter and this node a member is accepted and adopted.
#[test]
fn stranded_member_that_missed_the_goose_joining() {
    use duckduckgoose::core::{Config, Election, HardState, NodeId};

    let ids = [NodeId(1), NodeId(2), NodeId(3)];
    let newcomer = NodeId(4);
    let mut net = LockStep::new(
        ids.iter()
            .map(|id| Election::new(Config::new(*id, ids), HardState::default(), id.0).unwrap())
            .collect(),
    );
    let timeout_max_ticks = net.nodes()[0].config().election_timeout_max_ticks;
    let goose = net
        .until_settled_goose(20 * timeout_max_ticks)
        .expect("a Goose is elected");
    let lagging = ids
        .into_iter()
        .find(|id| *id != goose)
        .expect("three nodes");
    for other in [NodeId(1), NodeId(2), NodeId(3), newcomer] {
        if other != lagging {
            net.cut_both_ways(lagging, other);
        }
    }

    net.node(goose)
        .propose_add(newcomer, "n4.sim:7000")
        .expect("the Goose adds a node");
    assert_eq!(net.until_settled_goose(10 * timeout_max_ticks), Some(goose));
    let mut config = Config::new(newcomer, ids);
    config.membership = net.node(goose).membership().clone();
    net.add(Election::new(config, HardState::default(), 4).unwrap());
    let promoted = (0..20 * timeout_max_ticks).any(|_| {
        net.tick();
        net.node(goose).membership().is_voter(newcomer)
            && net.node(goose).membership_pending() == Some(false)
    });
    assert!(promoted, "the newcomer is promoted");
    net.node(goose)
        .transfer_leadership(newcomer)
        .expect("a voter takes over");
    assert_eq!(
        net.until_settled_goose(10 * timeout_max_ticks),
        Some(newcomer)
    );
    assert!(!net.node(lagging).membership().contains(newcomer));

    net.heal();
    for _ in 0..20 * timeout_max_ticks {
        net.tick();
    }
    assert_eq!(net.goose(), Some(newcomer));
    let dropped = net.node(lagging).counters().dropped_not_member;
    assert_eq!(
        net.node(lagging).leader(),
        Some(newcomer),
        "n{lagging} follows nobody 20 election timeouts after healing; it dropped {dropped} \
         messages as from non-members"
    );
}

/// Class F (soak seeds 1408, 2264, 293, 2471 of
/// `FaultPlan::random_with_membership`, now in [`membership_regressions`]):
/// a node holding a stale uncommitted removal dropped the vote requests of
/// the removed node, which a later Goose kept, as from a non-member.
///
/// Three voters {A, B, C}, A the Goose.
/// 1. A is cut off from B and proposes removing C: {A, B}. Only C hears of
///    it, then A is cut off from C too. The change cannot commit (it needs
///    B), A's lease runs out.
/// 2. B is elected with C's vote (C grants the membership just before its
///    removal: the fix of class A), re-issues {A, B, C}, which C adopts and
///    which commits, then removes itself: {A, C}. C holds it, A hears of
///    nothing, so it cannot commit; B's lease runs out.
/// 3. Healed: C, a voter of {A, C}, needs A's vote, but A holds {A, B} and
///    drops C's (pre-)votes as from a non-member (rule 9). A needs B's vote,
///    but B is no voter of the membership it holds, {A, C}, and A's {A, B}
///    is not the one just before it (another term), so B refuses. B, no
///    voter, never campaigns. Nobody could ever be elected.
///
/// Fixed: a node answers a (pre-)vote request made with an older
/// membership than its own with `Message::NewerMembership` (besides the
/// refusal), and the candidate adopts it. A asks B, B answers with {A, C},
/// A adopts it (and so knows C), and C, or A, is elected in {A, C}.
#[test]
fn deadlock_when_a_stale_removal_hides_the_candidate() {
    use duckduckgoose::core::{Config, Election, HardState, NodeId};

    let ids = [NodeId(1), NodeId(2), NodeId(3)];
    let mut net = LockStep::new(
        ids.iter()
            .map(|id| Election::new(Config::new(*id, ids), HardState::default(), id.0).unwrap())
            .collect(),
    );
    let timeout_max_ticks = net.nodes()[0].config().election_timeout_max_ticks;
    let a = net
        .until_settled_goose(20 * timeout_max_ticks)
        .expect("a Goose is elected");
    let others: Vec<NodeId> = ids.into_iter().filter(|id| *id != a).collect();
    let (b, c) = (others[0], others[1]);

    // 1.
    net.cut_both_ways(a, b);
    net.node(a).propose_remove(c).expect("the Goose removes C");
    let heard = (0..timeout_max_ticks).any(|_| {
        net.tick();
        !net.held(c).contains(c)
    });
    assert!(heard, "C hears of its removal");
    net.cut_both_ways(a, c);
    let stale = net.held(a);

    // 2.
    let b_leads = (0..20 * timeout_max_ticks).any(|_| {
        net.tick();
        net.goose() == Some(b) && net.node(b).membership_pending() == Some(false)
    });
    assert!(b_leads, "B is elected and its re-issue commits");
    net.node(b).propose_remove(b).expect("B removes itself");
    for _ in 0..2 * timeout_max_ticks {
        net.tick();
    }
    assert_eq!(net.goose(), None, "B's lease ran out, uncommitted");
    let newer = net.held(c);
    assert_eq!(net.held(b), newer);
    assert!(newer.is_voter(a) && newer.is_voter(c) && !newer.contains(b));
    assert!(newer.id() > stale.id() && !stale.contains(c));
    assert_eq!(net.held(a), stale);

    // 3.
    net.heal();
    net.clear_delivered();
    let dropped_before = net.node(a).counters().dropped_not_member;
    let goose = net.until_settled_goose(20 * timeout_max_ticks);
    let (a_holds, dropped) = (
        net.held(a),
        net.node(a).counters().dropped_not_member - dropped_before,
    );
    assert!(
        goose.is_some(),
        "no Goose 20 election timeouts after healing: A held {stale:?} and holds {a_holds:?}, \
         and dropped {dropped} messages as from non-members; C held {newer:?}"
    );
    // The path: B told A about {A, C} (A may or may not have dropped a
    // request of C's first, depending on who campaigns first), and the
    // Goose leads {A, C} (re-issued in its term).
    let told = net.delivered().iter().any(|d| {
        matches!(&d.msg, Message::NewerMembership { membership, .. }
            if (d.from, d.to) == (b, a) && **membership == newer)
    });
    assert!(told, "B answered A's request with {newer:?}");
    let goose = goose.expect("checked above");
    assert!(goose == a || goose == c, "n{goose} leads");
    let led = net.held(goose);
    assert!(led.id() > newer.id() && led.voters().eq(newer.voters()));
    assert_eq!(net.held(a), led);
    assert_eq!(net.held(c), led);
}
