//! Seeds that once failed, replayed on every run; plans that print as Rust;
//! and determinism: the same seed replays the same trace.

use duckduckgoose::sim::{CommandPlan, FaultPlan, PartitionPlan, PartitionShapes, TraceKind};

use crate::support::*;

/// Seeds that once failed, replayed on every run. To add one, copy the
/// voters (`nodes`), `learners`, `seed` and `plan` from the failure report:
/// the plan prints as a Rust expression (`FaultPlan::none().with_…`) that can be
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
    let plan = FaultPlan::none()
        .with_link_latency_us(100..=200)
        .with_jitter_us(5)
        .with_loss_probability(0.25)
        .with_duplicate_probability(0.0)
        .with_crash_probability(1e-5)
        .with_restart_delay_us(0..=10)
        .with_partitions(PartitionPlan {
            change_every_us: 1..=2,
            shapes: PartitionShapes {
                symmetric: 1,
                one_way: 0,
                partial: 2,
                connected: 1,
            },
        })
        .with_commands(CommandPlan {
            every_us: 3..=4,
            campaign: 0,
            step_down: 1,
            transfer: 2,
            add: 3,
            remove: 1,
            leave: 0,
        });
    assert_eq!(
        format!("{plan:?}"),
        "FaultPlan::none().with_link_latency_us(100..=200).with_jitter_us(5)\
         .with_loss_probability(0.25).with_duplicate_probability(0.0)\
         .with_crash_probability(1e-5).with_restart_delay_us(0..=10)\
         .with_partitions(PartitionPlan { change_every_us: 1..=2, shapes: PartitionShapes { \
         symmetric: 1, one_way: 0, partial: 2, connected: 1 } })\
         .with_commands(CommandPlan { every_us: 3..=4, campaign: 0, step_down: 1, transfer: 2, \
         add: 3, remove: 1, leave: 0 })"
    );
}

// ----- determinism ------------------------------------------------------------

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
