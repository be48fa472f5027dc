//! Negative controls for the scripted scenarios: the same scripts with one
//! setting broken must fail (the safety checks, or a user-side assertion
//! where no invariant is broken), and with the setting restored must pass,
//! so that the setting is what matters.

use duckduckgoose::core::{NodeId, Role, Term};
use duckduckgoose::sim::{SimConfig, SimFailure, Simulation, Violation};

use super::{cluster, first_goose, run_until, term};

/// What the rejoin script saw: the Goose and its term before the rejoin,
/// and whether some instant after it had another Goose (or none), with the
/// highest term reached.
#[derive(Debug, PartialEq)]
struct Rejoin {
    goose: NodeId,
    goose_term: Term,
    isolated_term_at_rejoin: Term,
    goose_lost_its_place: bool,
    goose_after: Option<NodeId>,
    max_term_after: Term,
}

/// Isolates n4 (a Duck) of five for 3 s, then reconnects it and watches
/// the cluster for 1 s.
fn rejoin(pre_vote: bool) -> Rejoin {
    let mut config = SimConfig::new(5, 1).with_fault_phase_us(6_000_000);
    config.election.pre_vote = pre_vote;
    let mut sim = Simulation::new(config).expect("a valid config");
    let goose = first_goose(&mut sim);
    let goose_term = term(&sim, goose.0);
    let isolated_us = sim.now_us();
    sim.isolate(NodeId(4)).unwrap();
    run_until(&mut sim, isolated_us + 3_000_000);
    let isolated_term_at_rejoin = term(&sim, 4);
    sim.heal_all().unwrap();
    let mut goose_lost_its_place = false;
    while sim.now_us() < isolated_us + 4_000_000 {
        sim.step().unwrap_or_else(|failure| panic!("{failure}"));
        goose_lost_its_place |= sim.goose() != Some(goose);
    }
    let seen = Rejoin {
        goose,
        goose_term,
        isolated_term_at_rejoin,
        goose_lost_its_place,
        goose_after: sim.goose(),
        max_term_after: sim.report().stats.max_term,
    };
    if let Err(failure) = sim.run() {
        panic!("{failure}");
    }
    seen
}

/// Pre-votes off: isolated, n4 runs real elections and reaches term 7;
/// back, it answers n5's heartbeat with an acknowledgement in term 7, which
/// deposes n5 (the sticky Ducks refuse n4's votes without adopting its
/// term, but a Goose steps down at any higher term); n3 wins term 9.
/// Nothing unsafe happens, so the run passes: the damage is the needless
/// change of Goose, shown by the script.
#[test]
fn without_pre_vote_a_rejoining_node_deposes_the_goose() {
    let seen = rejoin(false);
    assert!(seen.goose_term < seen.max_term_after);
    assert_ne!(seen.goose_after, Some(seen.goose));
    assert_eq!(
        seen,
        Rejoin {
            goose: NodeId(5),
            goose_term: Term(1),
            isolated_term_at_rejoin: Term(7),
            goose_lost_its_place: true,
            goose_after: Some(NodeId(3)),
            max_term_after: Term(9),
        }
    );
}

#[test]
fn with_pre_vote_the_same_rejoin_keeps_the_goose() {
    assert_eq!(
        rejoin(true),
        Rejoin {
            goose: NodeId(5),
            goose_term: Term(1),
            isolated_term_at_rejoin: Term(1),
            goose_lost_its_place: false,
            goose_after: Some(NodeId(5)),
            max_term_after: Term(1),
        }
    );
}

/// Elects a Goose of five, isolates it, and runs 2 s more.
fn isolate_the_goose(check_quorum: bool) -> Result<Simulation, SimFailure> {
    let mut config = SimConfig::new(5, 1).with_fault_phase_us(3_000_000);
    config.election.check_quorum = check_quorum;
    let mut sim = Simulation::new(config).expect("a valid config");
    assert_eq!(first_goose(&mut sim), NodeId(5));
    sim.isolate(NodeId(5)).unwrap();
    let until_us = sim.now_us() + 2_000_000;
    sim.run_until(until_us)?;
    Ok(sim)
}

/// Without the check-quorum lease, the isolated n5 never steps down; n4 is
/// elected beside it.
#[test]
fn without_check_quorum_an_isolated_goose_makes_two_geese() {
    let failure = isolate_the_goose(false).expect_err("two Geese");
    assert_eq!(
        failure.violation,
        Violation::TwoGeese {
            at_us: 815_358,
            first: NodeId(4),
            first_term: Term(2),
            second: NodeId(5),
            second_term: Term(1),
        }
    );
}

#[test]
fn with_check_quorum_an_isolated_goose_steps_down() {
    let mut sim = isolate_the_goose(true).unwrap_or_else(|failure| panic!("{failure}"));
    assert_eq!(sim.goose(), Some(NodeId(4)));
    assert_eq!(sim.node(NodeId(5)).unwrap().role(), Role::Duck);
    sim.heal_all().unwrap();
    if let Err(failure) = sim.run() {
        panic!("{failure}");
    }
}

/// The Goose's clock `ppm` slow, every other clock `ppm` fast (the risky
/// direction: the Goose's lease lasts longest in real time, the others'
/// refusal to vote shortest), then the Goose isolated; runs until another
/// node holds the lease.
fn drift(ppm: i64) -> Result<Simulation, SimFailure> {
    let mut sim = cluster(5, 1, 3_000_000);
    let old = first_goose(&mut sim);
    assert_eq!(old, NodeId(5));
    for id in (1..=5).map(NodeId) {
        let rate = if id == old { -ppm } else { ppm };
        sim.set_clock_rate_ppm(id, rate).unwrap();
    }
    let settle_us = sim.now_us() + 500_000;
    run_until(&mut sim, settle_us);
    sim.isolate(old).unwrap();
    while sim.goose().is_none_or(|goose| goose == old) {
        sim.step()?;
    }
    Ok(sim)
}

/// At three times the drift bound, n5's lease outlasts the others'
/// refusal: n4 is elected while n5 still holds its lease.
#[test]
fn three_times_the_drift_bound_makes_two_geese() {
    let failure = drift(3 * 50_000).expect_err("two Geese");
    assert_eq!(
        failure.violation,
        Violation::TwoGeese {
            at_us: 1_075_899,
            first: NodeId(4),
            first_term: Term(2),
            second: NodeId(5),
            second_term: Term(1),
        }
    );
}

#[test]
fn the_same_script_at_the_drift_bound_is_safe() {
    let sim = drift(50_000).unwrap_or_else(|failure| panic!("{failure}"));
    assert_eq!(sim.goose(), Some(NodeId(4)));
    if let Err(failure) = sim.run() {
        panic!("{failure}");
    }
}
