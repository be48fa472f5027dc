//! What the simulator refuses to do, and that a refusal changes nothing but
//! the count of skipped actions and its line in the trace.

use duckduckgoose::core::NodeId;
use duckduckgoose::sim::{
    ControlError, LinkFaults, PlanError, ScheduleError, SimConfig, Simulation, Target, TraceKind,
};

use super::{finish, first_goose, run_until};

/// Three voters recording their trace, run to 100 ms.
fn recorded() -> Simulation {
    let config = SimConfig::new(3, 0)
        .with_fault_phase_us(2_000_000)
        .with_record_trace(true);
    let mut sim = Simulation::new(config).expect("a valid config");
    run_until(&mut sim, 100_000);
    sim
}

/// Performs `action`, which must be refused; checks that the report is
/// unchanged but for one more skipped action and its trace line, which
/// gives the refusal's reason. Returns the refusal.
fn refused(
    sim: &mut Simulation,
    action: impl FnOnce(&mut Simulation) -> Result<(), ControlError>,
) -> ControlError {
    let before = sim.report();
    let now_us = sim.now_us();
    let refusal = action(sim).expect_err("refused");
    let mut after = sim.report();
    assert_eq!(sim.now_us(), now_us);
    let skipped = after.trace.pop().expect("the refusal is traced");
    assert!(
        matches!(&skipped.kind, TraceKind::Scripted { skipped: Some(reason), .. } if *reason == refusal.to_string()),
        "{skipped}"
    );
    assert_eq!(
        after.stats.scripted_actions_skipped,
        before.stats.scripted_actions_skipped + 1
    );
    after.stats.scripted_actions_skipped -= 1;
    assert_eq!(after, before);
    refusal
}

/// The refusal leaves a run that still passes.
fn still_passes(sim: Simulation) {
    finish(sim);
}

#[test]
fn restarting_an_up_node_is_refused() {
    let mut sim = recorded();
    let refusal = refused(&mut sim, |sim| sim.restart(NodeId(2)));
    assert_eq!(refusal, ControlError::AlreadyUp(NodeId(2)));
    still_passes(sim);
}

#[test]
fn a_command_to_a_paused_node_is_refused() {
    let mut sim = recorded();
    sim.pause(NodeId(2), 50_000).unwrap();
    let refusal = refused(&mut sim, |sim| sim.campaign(NodeId(2)).map(|_| ()));
    assert_eq!(refusal, ControlError::Paused(NodeId(2)));
    let refusal = refused(&mut sim, |sim| sim.leave(NodeId(2)).map(|_| ()));
    assert_eq!(refusal, ControlError::Paused(NodeId(2)));
    still_passes(sim);
}

#[test]
fn a_command_to_a_down_node_is_refused() {
    let mut sim = recorded();
    sim.crash(NodeId(3)).unwrap();
    let refusal = refused(&mut sim, |sim| sim.step_down(NodeId(3)).map(|_| ()));
    assert_eq!(refusal, ControlError::Down(NodeId(3)));
    let refusal = refused(&mut sim, |sim| sim.pause(NodeId(3), 1_000));
    assert_eq!(refusal, ControlError::Down(NodeId(3)));
    still_passes(sim);
}

#[test]
fn aiming_at_the_goose_when_there_is_none_is_refused() {
    let mut sim = recorded();
    assert_eq!(sim.goose(), None);
    let refusal = refused(&mut sim, |sim| sim.isolate(Target::Goose));
    assert_eq!(refusal, ControlError::NoGoose);
    let refusal = refused(&mut sim, |sim| {
        sim.transfer(Target::Goose, NodeId(2)).map(|_| ())
    });
    assert_eq!(refusal, ControlError::NoGoose);
    // With a Goose, the same target resolves.
    let goose = first_goose(&mut sim);
    assert_eq!(
        sim.transfer(Target::Goose, goose),
        Ok(Err(duckduckgoose::core::CommandError::TransferToSelf))
    );
    still_passes(sim);
}

#[test]
fn an_unknown_node_is_refused() {
    let mut sim = recorded();
    let at_us = sim.now_us();
    let unknown = |node| ControlError::Invalid(ScheduleError::UnknownNode { at_us, node });
    let refusal = refused(&mut sim, |sim| sim.crash(NodeId(4)));
    assert_eq!(refusal, unknown(NodeId(4)));
    let refusal = refused(&mut sim, |sim| sim.cut(NodeId(1), NodeId(0)));
    assert_eq!(refusal, unknown(NodeId(0)));
    let refusal = refused(&mut sim, |sim| {
        sim.partition(&[&[NodeId(1), NodeId(2)], &[NodeId(1000)]])
    });
    assert_eq!(refusal, unknown(NodeId(1000)));
    still_passes(sim);
}

#[test]
fn a_zero_pause_is_refused() {
    let mut sim = recorded();
    let refusal = refused(&mut sim, |sim| sim.pause(NodeId(1), 0));
    let at_us = sim.now_us();
    assert_eq!(
        refusal,
        ControlError::Invalid(ScheduleError::ZeroPause { at_us })
    );
    still_passes(sim);
}

#[test]
fn a_clock_rate_out_of_range_is_refused() {
    let mut sim = recorded();
    for ppm in [-1_000_000, -5_000_000, 1_000_000_001] {
        let refusal = refused(&mut sim, |sim| sim.set_clock_rate_ppm(NodeId(1), ppm));
        let at_us = sim.now_us();
        assert_eq!(
            refusal,
            ControlError::Invalid(ScheduleError::ClockRate { at_us, ppm })
        );
    }
    // The extremes of the range are accepted.
    sim.set_clock_rate_ppm(NodeId(1), -999_999).unwrap();
    assert_eq!(sim.clock_rate_ppm(NodeId(1)), Some(-999_999));
    sim.set_clock_rate_ppm(NodeId(1), 0).unwrap();
    still_passes(sim);
}

#[test]
fn link_faults_that_are_not_probabilities_are_refused() {
    let mut sim = recorded();
    let faults = LinkFaults {
        latency_us: 1_000,
        jitter_us: 0,
        loss_probability: 1.5,
        duplicate_probability: 0.0,
    };
    let refusal = refused(&mut sim, |sim| sim.set_link(NodeId(1), NodeId(2), faults));
    assert_eq!(
        refusal,
        ControlError::Invalid(ScheduleError::LinkFaults {
            at_us: sim.now_us(),
            error: PlanError::NotAProbability {
                name: "loss_probability",
                value: 1.5,
            },
        })
    );
    still_passes(sim);
}
