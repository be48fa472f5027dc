//! Negative control with a planted host bug: a host that acknowledges a
//! `Persist` without making it durable loses a vote its answer showed.

use duckduckgoose::core::{HardState, NodeId, Term};
use duckduckgoose::sim::{ControlError, HostBug, SimConfig, Simulation, Violation};

use super::{run_until, step};

/// n1 of three campaigns at 290 ms; n2 grants its vote (and its host
/// persists it, or says it did); n2 crashes and restarts.
fn vote_crash_restart(host_bug: Option<HostBug>) -> (Simulation, Result<(), ControlError>) {
    let mut config = SimConfig::new(3, 1).with_fault_phase_us(3_000_000);
    config.host_bug = host_bug;
    let mut sim = Simulation::new(config).expect("a valid config");
    run_until(&mut sim, 290_000);
    assert_eq!(sim.campaign(NodeId(1)).unwrap(), Ok(()));
    while sim.node(NodeId(2)).unwrap().hard_state().voted_for != Some(NodeId(1)) {
        step(&mut sim);
    }
    sim.crash(NodeId(2)).unwrap();
    let restarted = sim.restart(NodeId(2));
    (sim, restarted)
}

#[test]
fn a_host_that_skips_a_persist_loses_a_shown_vote() {
    let (_, restarted) = vote_crash_restart(Some(HostBug::SkipPersist));
    let Err(ControlError::Failed(failure)) = restarted else {
        panic!("the restart must fail the run: {restarted:?}");
    };
    assert_eq!(
        failure.violation,
        Violation::ExposedStateLost {
            at_us: 293_000,
            node: NodeId(2),
            loaded: HardState::default(),
            exposed_term: Term(1),
            exposed_vote: Some(NodeId(1)),
        }
    );
}

#[test]
fn a_host_that_persists_keeps_the_vote() {
    let (sim, restarted) = vote_crash_restart(None);
    assert_eq!(restarted, Ok(()));
    assert_eq!(
        sim.node(NodeId(2)).unwrap().hard_state(),
        HardState {
            term: Term(1),
            voted_for: Some(NodeId(1)),
        }
    );
    if let Err(failure) = sim.run() {
        panic!("{failure}");
    }
}
