//! Scripted control of the simulator: the six scenarios of the cookbook
//! (`duckduckgoose::sim::cookbook`) with exact figures (every run is
//! deterministic from its seed), then in submodules the figures a script
//! reads back, the refusals of the control methods, and the negative
//! controls, which must fail.

mod controls;
mod figures;
#[cfg(feature = "__planted-bugs")]
mod planted;
mod refusals;

use duckduckgoose::core::{HardState, NodeId, Role, Term};
use duckduckgoose::sim::{PersistSide, SimConfig, Simulation};

/// The longest election timeout, in microseconds of a nominal clock: 60
/// ticks of 10 ms (the defaults).
const ELECTION_TIMEOUT_MAX_US: u64 = 600_000;

/// A cluster of `nodes` voters with no random faults, whose fault phase
/// (the time a script has before everything heals) lasts `fault_phase_us`.
fn cluster(nodes: usize, seed: u64, fault_phase_us: u64) -> Simulation {
    Simulation::new(SimConfig::new(nodes, seed).with_fault_phase_us(fault_phase_us))
        .expect("a valid config")
}

/// Steps until some node holds the Goose's lease; returns it.
fn first_goose(sim: &mut Simulation) -> NodeId {
    while sim.goose().is_none() {
        step(sim);
    }
    sim.goose().expect("just seen")
}

/// One event, failing the test on any violation.
fn step(sim: &mut Simulation) {
    sim.step().unwrap_or_else(|failure| panic!("{failure}"));
}

/// Runs to virtual time `at_us`, failing the test on any violation.
fn run_until(sim: &mut Simulation, at_us: u64) {
    sim.run_until(at_us)
        .unwrap_or_else(|failure| panic!("{failure}"));
}

/// The rest of the run (heal, then a settled Goose), which must pass.
fn finish(sim: Simulation) {
    if let Err(failure) = sim.run() {
        panic!("{failure}");
    }
}

/// The term of node `id`, which must be up.
fn term(sim: &Simulation, id: u64) -> Term {
    sim.node(NodeId(id)).expect("an up node").term()
}

fn ids(ids: &[u64]) -> Vec<NodeId> {
    ids.iter().copied().map(NodeId).collect()
}

// ----- 1. the bridge ------------------------------------------------------------

/// openraft #2080: 1,2,3 | 3,4,5, bridged by n3, after n1 (at one end) was
/// elected. n4 and n5 cannot hear n1, but their pre-votes cannot win
/// without n3, which hears n1 and refuses: n1 keeps its lease and its term,
/// and nobody starts a real election.
#[test]
fn the_bridge_keeps_the_goose_at_its_end() {
    let mut sim = cluster(5, 3, 3_000_000);
    assert_eq!(first_goose(&mut sim), NodeId(1));
    assert_eq!(sim.now_us(), 318_834);
    sim.partition(&[&ids(&[1, 2, 3]), &ids(&[3, 4, 5])])
        .unwrap();
    run_until(&mut sim, 2_318_834);
    assert_eq!(sim.goose(), Some(NodeId(1)));
    assert_eq!(sim.geese_by_role(), ids(&[1]));
    assert_eq!(sim.node(NodeId(4)).unwrap().leader(), None);
    let stats = sim.report().stats;
    assert_eq!(
        (stats.elections_started, stats.geese, stats.max_term),
        (1, 1, Term(1))
    );
    assert_eq!(stats.messages_cut, 100);
    finish(sim);
}

/// The same bridge from the start: the bridge node n3, which reaches
/// everyone, is elected.
#[test]
fn the_bridge_from_the_start_elects_the_bridge_node() {
    let mut sim = cluster(5, 0, 3_000_000);
    sim.partition(&[&ids(&[1, 2, 3]), &ids(&[3, 4, 5])])
        .unwrap();
    assert_eq!(first_goose(&mut sim), NodeId(3));
    run_until(&mut sim, 2_506_255);
    assert_eq!(sim.goose(), Some(NodeId(3)));
    let stats = sim.report().stats;
    assert_eq!((stats.elections_started, stats.max_term), (1, Term(1)));
    finish(sim);
}

// ----- 2. one-way cuts ------------------------------------------------------------

/// n1 of five is the Goose; cuts every link into it (`deaf`) or out of it
/// (mute), and steps until another node holds the lease. Returns it with
/// when it appeared.
fn one_way_cut(deaf: bool) -> (Simulation, NodeId, u64) {
    let mut sim = cluster(5, 3, 3_000_000);
    let old = first_goose(&mut sim);
    assert_eq!(old, NodeId(1));
    for other in (2..=5).map(NodeId) {
        if deaf {
            sim.cut_one_way(other, old).unwrap();
        } else {
            sim.cut_one_way(old, other).unwrap();
        }
    }
    loop {
        step(&mut sim);
        if let Some(new) = sim.goose().filter(|goose| *goose != old) {
            let at_us = sim.now_us();
            return (sim, new, at_us);
        }
    }
}

/// Deaf: the Ducks still hear n1 (and refuse votes) until its lease runs
/// out without acknowledgements and it steps down; then n3 wins term 2.
/// n1 never hears of it: its pre-votes go unanswered, so its term stays 1.
#[test]
fn a_deaf_goose_steps_down() {
    let (mut sim, new, at_us) = one_way_cut(true);
    assert_eq!((new, at_us), (NodeId(3), 836_873));
    run_until(&mut sim, 1_818_834);
    assert_eq!(sim.goose(), Some(NodeId(3)));
    assert_eq!(sim.node(NodeId(1)).unwrap().role(), Role::Duck);
    assert_eq!((term(&sim, 1), term(&sim, 3)), (Term(1), Term(2)));
    finish(sim);
}

/// Mute: the Ducks stop hearing n1, which loses its acknowledgements and
/// steps down; n2 wins term 2, and n1, which hears it, follows.
#[test]
fn a_mute_goose_steps_down() {
    let (mut sim, new, at_us) = one_way_cut(false);
    assert_eq!((new, at_us), (NodeId(2), 679_097));
    run_until(&mut sim, 1_818_834);
    assert_eq!(sim.goose(), Some(NodeId(2)));
    let old = sim.node(NodeId(1)).unwrap();
    assert_eq!(
        (old.role(), old.term(), old.leader()),
        (Role::Duck, Term(2), Some(NodeId(2)))
    );
    finish(sim);
}

// ----- 3. drift at the bound --------------------------------------------------------

/// The Goose's clock at −ρ (its lease lasts longest in real time), the
/// others at +ρ (their refusal to vote ends soonest), then the Goose
/// isolated: the next Goose holds its lease only after the old lease ran
/// out and the old Goose stepped down.
#[test]
fn drift_at_the_bound_keeps_the_leases_apart() {
    let mut sim = cluster(5, 1, 3_000_000);
    let old = first_goose(&mut sim);
    assert_eq!(old, NodeId(5));
    for id in (1..=5).map(NodeId) {
        let ppm = if id == old { -50_000 } else { 50_000 };
        sim.set_clock_rate_ppm(id, ppm).unwrap();
    }
    run_until(&mut sim, 841_242);
    sim.isolate(old).unwrap();
    let mut old_last_us = sim.now_us();
    let new = loop {
        step(&mut sim);
        match sim.goose() {
            Some(goose) if goose == old => old_last_us = sim.now_us(),
            Some(goose) => break goose,
            None => {}
        }
    };
    assert_eq!(
        (old_last_us, new, sim.now_us()),
        (1_070_341, NodeId(4), 1_135_100)
    );
    assert_eq!(sim.node(old).unwrap().role(), Role::Duck);
    assert_eq!(
        sim.report().clock_rates_ppm,
        vec![
            (NodeId(1), 50_000),
            (NodeId(2), 50_000),
            (NodeId(3), 50_000),
            (NodeId(4), 50_000),
            (NodeId(5), -50_000)
        ]
    );
    finish(sim);
}

// ----- 4. a crash just after a persist ----------------------------------------------

/// n1 campaigns; n2 grants its vote, makes it durable, and crashes before
/// its answer goes out. Restarted, it holds the term and vote it persisted.
#[test]
fn a_crash_just_after_a_persist_keeps_the_vote() {
    let mut sim = cluster(3, 1, 3_000_000);
    run_until(&mut sim, 290_000);
    sim.crash_at_persist(NodeId(2), PersistSide::After).unwrap();
    assert_eq!(sim.campaign(NodeId(1)).unwrap(), Ok(()));
    while sim.node(NodeId(2)).is_some() {
        step(&mut sim);
    }
    assert_eq!(sim.now_us(), 293_000);
    sim.restart(NodeId(2)).unwrap();
    assert_eq!(
        sim.node(NodeId(2)).unwrap().hard_state(),
        HardState {
            term: Term(1),
            voted_for: Some(NodeId(1)),
        }
    );
    let stats = sim.report().stats;
    assert_eq!(
        (stats.crashes, stats.crashes_mid_output, stats.restarts),
        (1, 1, 1)
    );
    finish(sim);
}

// ----- 5. a pause past the lease ----------------------------------------------------

/// The Goose (n1) is paused for three election timeouts, cut off from the
/// others (so that nothing from the new term waits for it): n2 is elected.
/// n1 resumes believing it is the Goose, by role, while `goose()` (its
/// real-time lease) says n2; n1 steps down by its own clock later. No two
/// Geese are ever counted.
#[test]
fn a_goose_paused_past_its_lease_resumes_believing() {
    let mut sim = cluster(5, 3, 5_000_000);
    let old = first_goose(&mut sim);
    assert_eq!((old, sim.now_us()), (NodeId(1), 318_834));
    sim.pause(old, 3 * ELECTION_TIMEOUT_MAX_US).unwrap();
    sim.isolate(old).unwrap();
    run_until(&mut sim, 318_834 + 3 * ELECTION_TIMEOUT_MAX_US);
    assert!(!sim.is_paused(old));
    assert_eq!(sim.goose(), Some(NodeId(2)));
    assert_eq!(sim.geese_by_role(), ids(&[1, 2]));
    assert_eq!((term(&sim, 1), term(&sim, 2)), (Term(1), Term(2)));
    let stats = sim.report().stats;
    assert_eq!((stats.pauses, stats.messages_held_while_paused), (1, 2));
    while sim.node(old).unwrap().role() == Role::Goose {
        step(&mut sim);
    }
    assert_eq!(sim.now_us(), 2_352_360);
    sim.heal_all().unwrap();
    finish(sim);
}

// ----- 6. a long isolation ----------------------------------------------------------

/// n4 of five is isolated for 3 s, then reconnected: with pre-votes its
/// term never grew, so its answers depose nobody; n5 stays the Goose in
/// term 1 and n4 follows it.
#[test]
fn an_isolated_duck_rejoins_without_deposing_the_goose() {
    let mut sim = cluster(5, 1, 6_000_000);
    assert_eq!(first_goose(&mut sim), NodeId(5));
    let isolated_us = sim.now_us();
    sim.isolate(NodeId(4)).unwrap();
    run_until(&mut sim, isolated_us + 3_000_000);
    assert_eq!(term(&sim, 4), Term(1));
    sim.heal_all().unwrap();
    run_until(&mut sim, isolated_us + 4_000_000);
    assert_eq!(sim.goose(), Some(NodeId(5)));
    assert_eq!(term(&sim, 5), Term(1));
    assert_eq!(sim.node(NodeId(4)).unwrap().leader(), Some(NodeId(5)));
    assert_eq!(sim.report().stats.elections_started, 1);
    finish(sim);
}
