//! Healthy runs: membership changes settle, a quiet cluster elects one Goose
//! and keeps it, garbage is harmless, bad configs are refused, learners
//! follow.

use duckduckgoose::core::{Message, Role};
use duckduckgoose::sim::{
    CommandPlan, FaultPlan, SimCommand, SimConfig, SimConfigError, Simulation, TraceKind,
};

use crate::support::*;

// ----- membership changes, healthy ---------------------------------------------------

/// Spares join when their add commits, are promoted to voters, and the
/// removed nodes stay out; in a quiet network the run settles with every
/// spare a voter.
#[test]
fn spares_join_and_are_promoted() {
    for (nodes, spares) in [(1, 1), (3, 2), (5, 3)] {
        let plan = FaultPlan::none().with_commands(CommandPlan {
            every_us: 300_000..=600_000,
            campaign: 0,
            step_down: 0,
            transfer: 0,
            add: 1,
            remove: 0,
            leave: 0,
        });
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
        let plan = FaultPlan::none().with_commands(CommandPlan {
            every_us: 200_000..=500_000,
            campaign: 0,
            step_down: 0,
            transfer: 1,
            add: 2,
            remove: 1,
            leave: 1,
        });
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
        let plan = membership_storm(seed)
            .with_loss_probability(0.05)
            .with_crash_probability(0.002)
            .with_restart_delay_us(0..=300_000)
            .with_garbage_every_us(GARBAGE_EVERY_US);
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
        assert_eq!(
            report.goose_after_heal_us,
            Some(0),
            "the Goose outlives the heal"
        );
    }
}

#[test]
fn heavy_garbage_is_dropped_counted_and_harmless() {
    for (nodes, learners) in [(3, 0), (5, 0), (7, 0), (3, 2)] {
        let plan = stormy_plan().with_garbage_every_us(1_000..=5_000);
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
        assert_eq!(report.goose_after_heal_us, Some(0), "{context}");
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
    let plan = stormy_plan()
        .with_crash_probability(0.001)
        .with_restart_delay_us(0..=300_000)
        .with_commands(CommandPlan {
            every_us: 50_000..=200_000,
            campaign: 1,
            step_down: 0,
            transfer: 2,
            ..CommandPlan::all(0..=0)
        });
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
