//! Simulator throughput: the soak's mix of random fault plans (3, 5 and 7
//! voters with 0–2 learners, 60 s of virtual faults each), run for a number
//! of seeds, in simulated events per second. Compare two builds by running
//! each a few times in turn and taking the best; the machine's noise is
//! larger than the differences worth finding.
//!
//! ```text
//! cargo bench -p duckduckgoose-benches --bench sim_soak -- 1000
//! ```

use std::time::Instant;

use duckduckgoose::sim::{FaultPlan, SimConfig, Simulation};

fn main() {
    // `cargo bench` passes `--bench`; the seed count is the first number.
    let seeds: u64 = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(1_000);
    let started = Instant::now();
    let mut events = 0_u64;
    for seed in 0..seeds {
        let nodes = [3, 5, 7][(seed % 3) as usize];
        let learners = ((seed / 3) % 3) as usize;
        let config = SimConfig::new(nodes, seed)
            .with_learners(learners)
            .with_fault_phase_us(60_000_000)
            .with_faults(FaultPlan::random(seed));
        let report = Simulation::new(config)
            .expect("the soak's configs are valid")
            .run()
            .unwrap_or_else(|failure| panic!("{failure}"));
        events += report.stats.events;
    }
    let elapsed = started.elapsed();
    println!(
        "{seeds} seeds, {events} events in {elapsed:.2?}: {:.0} events/s",
        events as f64 / elapsed.as_secs_f64()
    );
}
