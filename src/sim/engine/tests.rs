//! The engine end to end: how it wires the checkers, and that learners go
//! through every fault voters do.

use super::*;
use crate::core::{Membership, NodeId};
use crate::sim::{CommandPlan, FaultPlan, PartitionPlan, PartitionShapes};

/// End to end, through the engine's wiring of the checkers: a learner
/// misconfigured to believe it votes (the bug a half-applied membership
/// change would cause) campaigns, and the run fails with a learner
/// violation.
#[test]
fn a_learner_that_believes_it_votes_is_caught() {
    let caught = (0..20).find_map(|seed| {
        let mut config = SimConfig::new(3, seed)
            .with_learners(1)
            .with_faults(FaultPlan::random(seed));
        config.fault_phase_us = 10_000_000;
        let mut simulation = Simulation::new(config).expect("a valid config");
        let learner = 3; // n4
        let node = &mut simulation.nodes[learner];
        // Its own config makes it a fourth voter; everyone else, and the
        // checker, know it as a learner. Restarts keep the bug.
        node.config.membership = Membership::new((1..=4).map(NodeId));
        node.durable_membership = node.config.membership.clone();
        node.election = Some(
            Election::new(node.config.clone(), HardState::default(), seed).expect("a valid config"),
        );
        simulation.run().err()
    });
    let failure = caught.expect("a campaigning learner is caught within 20 seeds");
    println!("caught: {}", failure.violation);
    assert!(
        matches!(
            failure.violation,
            Violation::LearnerStartedElection {
                node: NodeId(4),
                ..
            } | Violation::LearnerCommandAccepted {
                learner: NodeId(4),
                ..
            }
        ),
        "{failure}"
    );
}

#[test]
fn learners_are_simulated_like_voters() {
    let plan = FaultPlan {
        link_latency_us: 200..=8_000,
        jitter_us: 20_000,
        loss_probability: 0.1,
        duplicate_probability: 0.1,
        crash_probability: 0.003,
        restart_delay_us: 50_000..=500_000,
        partitions: Some(PartitionPlan {
            change_every_us: 200_000..=1_000_000,
            shapes: PartitionShapes::all(),
        }),
        garbage_every_us: Some(20_000..=100_000),
        commands: Some(CommandPlan::all(100_000..=300_000)),
        ..FaultPlan::none()
    };
    let mut config = SimConfig::new(3, 8).with_learners(2).with_faults(plan);
    config.fault_phase_us = 30_000_000;
    config.record_trace = true;
    let report = Simulation::new(config)
        .expect("a valid config")
        .run()
        .unwrap_or_else(|failure| panic!("{failure}"));
    let learners = [NodeId(4), NodeId(5)];
    let touched = |wanted: fn(&TraceKind) -> Option<NodeId>| {
        report
            .trace
            .iter()
            .filter_map(|event| wanted(&event.kind))
            .any(|node| learners.contains(&node))
    };
    assert!(touched(|kind| match kind {
        TraceKind::Delivered { to, .. } => Some(*to),
        _ => None,
    }));
    assert!(touched(|kind| match kind {
        TraceKind::Sent { from, .. } => Some(*from),
        _ => None,
    }));
    assert!(touched(|kind| match kind {
        TraceKind::Persisted { node, .. } => Some(*node),
        _ => None,
    }));
    assert!(touched(|kind| match kind {
        TraceKind::Crashed { node, .. } => Some(*node),
        _ => None,
    }));
    assert!(touched(|kind| match kind {
        TraceKind::Restarted { node, .. } => Some(*node),
        _ => None,
    }));
    assert!(touched(|kind| match kind {
        TraceKind::Garbage { to, .. } => Some(*to),
        _ => None,
    }));
    let learner_cut = report.trace.iter().any(|event| {
        matches!(&event.kind, TraceKind::Partitioned { cut }
            if cut.iter().any(|(from, to)| learners.contains(from) || learners.contains(to)))
    });
    assert!(learner_cut);
    assert!(touched(|kind| match kind {
        TraceKind::Command {
            node,
            command: SimCommand::Campaign,
            accepted: false,
        } => Some(*node),
        _ => None,
    }));
    assert!(report.stats.learner_commands_refused > 0);
}
