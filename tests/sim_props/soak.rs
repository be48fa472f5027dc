//! The soaks (ignored by default): thousands of seeds, with and without
//! membership changes.

use std::time::Instant;

use duckduckgoose::sim::FaultPlan;

use crate::support::*;

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
    let mut stretches = StretchFigures::default();
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
                stretches.add(&report);
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
         {learner_commands_refused} learner commands refused, {:.1?} ({:.0} events/s)\n  {stretches}",
        started.elapsed(),
        events as f64 / started.elapsed().as_secs_f64()
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

/// Liveness during the faults, over many runs: the stretches in which a
/// majority was connected, how many got a Goose, and how long the waits
/// were.
#[derive(Default)]
struct StretchFigures {
    stretches: u64,
    with_goose: u64,
    waits_us: Vec<u64>,
    terms_used: u64,
}

impl StretchFigures {
    fn add(&mut self, report: &duckduckgoose::sim::SimReport) {
        for stretch in &report.fault_stretches {
            self.stretches += 1;
            self.terms_used += stretch.terms_used;
            if let Some(wait_us) = stretch.goose_after_us {
                self.with_goose += 1;
                self.waits_us.push(wait_us);
            }
        }
    }
}

impl std::fmt::Display for StretchFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut waits = self.waits_us.clone();
        waits.sort_unstable();
        let at = |q: f64| {
            waits
                .get(((waits.len() as f64 - 1.0) * q) as usize)
                .copied()
                .unwrap_or(0)
        };
        write!(
            f,
            "fault stretches with a connected majority: {}, {} with a Goose (wait p50 {} us, \
             p99 {} us, max {} us), {} terms used in them",
            self.stretches,
            self.with_goose,
            at(0.5),
            at(0.99),
            waits.last().copied().unwrap_or(0),
            self.terms_used
        )
    }
}
