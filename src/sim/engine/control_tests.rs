//! The scripted control's mechanics, against the engine's internals: what
//! a crash at a persist keeps, what a pause holds, how rates map to ticks.

use super::*;
use crate::core::Term;
use crate::sim::checker::index_of;
use crate::sim::schedule::{PersistSide, Target};
use crate::sim::trace::TraceEvent;

/// A healthy three-node cluster, run until it has a Goose with its lease,
/// then half a second more so that every vote and first heartbeat has
/// been handled.
fn with_goose(seed: u64) -> (Simulation, NodeId) {
    let config = SimConfig::new(3, seed)
        .with_record_trace(true)
        .with_fault_phase_us(60_000_000);
    let mut simulation = Simulation::new(config).expect("a valid config");
    while simulation.goose().is_none() {
        simulation
            .step()
            .expect("a healthy cluster keeps its promises");
    }
    let settle_us = simulation.now_us() + 500_000;
    simulation.run_until(settle_us).expect("safe");
    let goose = simulation.goose().expect("a Goose");
    (simulation, goose)
}

fn duck_of(goose: NodeId) -> NodeId {
    NodeId(goose.0 % 3 + 1)
}

fn events_since(simulation: &Simulation, from: usize) -> Vec<TraceEvent> {
    simulation.recorder.full()[from..].to_vec()
}

/// Hands leadership to `duck`, which then campaigns: its first output is
/// the `Persist` of its new term and self-vote.
fn crash_the_transfer_target(side: PersistSide) -> (Simulation, NodeId, Term, Vec<TraceEvent>) {
    let (mut simulation, goose) = with_goose(11);
    let duck = duck_of(goose);
    let term = simulation.node(goose).expect("up").term();
    simulation
        .crash_at_persist(duck, side)
        .expect("the Duck is up");
    let mark = simulation.recorder.full().len();
    assert_eq!(simulation.transfer(goose, duck), Ok(Ok(())));
    while simulation.node(duck).is_some() {
        simulation.step().expect("safe");
    }
    let events = events_since(&simulation, mark);
    (simulation, duck, term, events)
}

#[test]
fn a_crash_just_after_a_persist_keeps_it_and_loses_what_follows() {
    let (mut simulation, duck, term, events) = crash_the_transfer_target(PersistSide::After);
    let index = index_of(duck).unwrap();
    let next = Term(term.0 + 1);
    assert_eq!(
        simulation.nodes[index].durable,
        HardState {
            term: next,
            voted_for: Some(duck)
        }
    );
    let crashed = events.iter().find_map(|event| match event.kind {
        TraceKind::Crashed {
            node,
            handled,
            lost,
        } if node == duck => Some((handled, lost)),
        _ => None,
    });
    // The campaign's outputs: LeaderChanged(None), Persist, then the vote
    // requests. The first two were handled; the vote requests were lost.
    let (handled, lost) = crashed.expect("the armed crash fired");
    assert_eq!(handled, 2);
    assert!(lost >= 2, "both vote requests lost, got {lost}");
    assert!(!events.iter().any(|event| matches!(
        event.kind,
        TraceKind::Sent { from, .. } if from == duck
    )));
    simulation.restart(duck).expect("down");
    assert_eq!(simulation.node(duck).map(Election::term), Some(next));
}

#[test]
fn a_crash_just_before_a_persist_loses_it() {
    let (simulation, duck, term, events) = crash_the_transfer_target(PersistSide::Before);
    let index = index_of(duck).unwrap();
    assert_eq!(simulation.nodes[index].durable.term, term);
    assert!(events.iter().any(|event| matches!(
        event.kind,
        // LeaderChanged(None) handled, the Persist and all after it lost.
        TraceKind::Crashed { node, handled: 1, .. } if node == duck
    )));
}

#[test]
fn a_paused_node_misses_its_ticks_and_handles_held_messages_in_order_on_resume() {
    let (mut simulation, goose) = with_goose(5);
    let duck = duck_of(goose);
    let ticks_before = simulation.node(duck).unwrap().now_tick();
    simulation.pause(duck, 200_000).expect("up");
    let resume_at_us = simulation.now_us() + 200_000;
    simulation.run_until(resume_at_us - 1).expect("safe");
    assert!(simulation.is_paused(duck));
    assert_eq!(simulation.node(duck).unwrap().now_tick(), ticks_before);
    let held = simulation.report().stats.messages_held_while_paused;
    assert!(held > 0, "the Goose's heartbeats wait for it");
    let mark = simulation.recorder.full().len();
    simulation.run_until(resume_at_us).expect("safe");
    assert!(!simulation.is_paused(duck));
    let events = events_since(&simulation, mark);
    let resumed = events
        .iter()
        .position(|event| {
            event.kind
                == TraceKind::Resumed {
                    node: duck,
                    queued: held as usize,
                }
        })
        .expect("resumed with every held message");
    let delivered = events[resumed + 1..]
        .iter()
        .filter(|event| matches!(event.kind, TraceKind::Delivered { to, .. } if to == duck))
        .count();
    assert_eq!(delivered as u64, held);
}

#[test]
fn a_goose_paused_past_its_lease_stops_counting_at_its_real_time_deadline() {
    let (mut simulation, goose) = with_goose(3);
    let timeout_us = simulation.config.election.election_timeout_max_ticks * 20_000;
    simulation.pause(goose, 4 * timeout_us).expect("up");
    // Before its deadline it is still the Goose; after, by role only.
    assert_eq!(simulation.goose(), Some(goose));
    let lease_us = simulation.node(goose).unwrap().lease_ticks() * 11_000;
    simulation
        .run_until(simulation.now_us() + lease_us)
        .expect("safe");
    assert_eq!(simulation.goose(), None);
    assert_eq!(simulation.geese_by_role(), vec![goose]);
    simulation
        .run_until(simulation.now_us() + 3 * timeout_us)
        .expect("safe");
    let new_goose = simulation.goose().expect("the others elected a Goose");
    assert_ne!(new_goose, goose);
    assert_eq!(
        simulation.geese_by_role().len(),
        2,
        "the paused one still believes"
    );
    simulation.run().expect("safe, and settled after the heal");
}

#[test]
fn clock_rates_map_to_tick_periods_and_back() {
    assert_eq!(period_us(10_000, 0), 10_000);
    assert_eq!(period_us(10_000, 1_000_000), 5_000);
    assert_eq!(period_us(10_000, -500_000), 20_000);
    assert_eq!(rate_ppm(10_000, 5_000), 1_000_000);
    assert_eq!(rate_ppm(10_000, 20_000), -500_000);
    assert_eq!(period_us(1, 1_000_000_000), 1, "never zero");
}

#[test]
fn a_target_goose_finds_the_lease_holder_or_refuses() {
    let config = SimConfig::new(3, 1);
    let mut simulation = Simulation::new(config).expect("a valid config");
    assert_eq!(simulation.crash(Target::Goose), Err(ControlError::NoGoose));
    assert_eq!(simulation.stats.scripted_actions_skipped, 1);
    let (mut simulation, goose) = with_goose(1);
    simulation.crash(Target::Goose).expect("a Goose to crash");
    assert!(simulation.node(goose).is_none());
}
