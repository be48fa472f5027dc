//! The tests of Figure 16's data collection (`figure16/trials.rs`): the
//! bench binary has no test harness, so they live here.
//! `cargo test -p duckduckgoose-benches --test figure16_trials`

// The bench uses what these tests do not.
#[allow(dead_code)]
#[path = "figure16/trials.rs"]
mod trials;
use trials::*;

fn short() -> Setup {
    Setup {
        cap_us: 5_000_000,
        ..Setup::paper()
    }
}

#[test]
fn the_paper_setup_maps_ranges_to_ticks() {
    let election = TimeoutRange::new(150, 155).election(&Setup::paper());
    assert_eq!(election.election_timeout_min_ticks, 150);
    // `[min, max)` in ticks: 150..=155 ms.
    assert_eq!(election.election_timeout_max_ticks, 156);
    assert_eq!(election.heartbeat_interval_ticks, 75);
    // 150 · (1 − 10⁻⁴)/(1 + 10⁻⁴) = 149.97: 149 ticks, less two of rounding.
    assert_eq!(election.lease_ticks(), 147);
    assert_eq!(
        TimeoutRange::new(150, 150)
            .election(&Setup::paper())
            .election_timeout_max_ticks,
        151
    );
}

#[test]
fn a_lease_shorter_than_the_fastest_round_trip_is_impossible() {
    let setup = Setup::paper();
    // 12 ms: a 9-tick lease, round trips of 14 ms at least.
    assert_eq!(TimeoutRange::new(12, 24).election(&setup).lease_ticks(), 9);
    assert!(!TimeoutRange::new(12, 24).lease_possible(&setup));
    assert!(TimeoutRange::new(25, 50).lease_possible(&setup));
}

#[test]
fn every_trial_elects_another_goose_after_at_least_a_timeout() {
    let range = TimeoutRange::new(150, 300);
    let run = run_range(range, 20, 7, &short()).expect("a clean run");
    assert_eq!(run.trials.len(), 20);
    assert_eq!(run.not_run, 0);
    for trial in &run.trials {
        let lease_us = trial.lease_us.expect("no trial hits a 5 s cap");
        let won_us = trial.won_us.expect("won before the lease");
        // The last heartbeat left at most one interval (75 ms) before
        // the crash and took at least 7 ms: the earliest timeout fires
        // 150 − 75 + 7 ms after the crash, less a tick (the timer counts
        // from the tick before the heartbeat arrived); then a pre-vote
        // round and a vote round (14 ms each at least) before the win,
        // and a heartbeat round (14 ms) before the lease.
        assert!(
            won_us >= 150_000 - 75_000 + 7_000 - 1_000 + 28_000,
            "{trial:?}"
        );
        assert!(lease_us >= won_us + 14_000, "{trial:?}");
    }
}

#[test]
fn a_seed_replays_its_trials() {
    let range = TimeoutRange::new(150, 155);
    let first = run_range(range, 5, 11, &short()).expect("a clean run");
    let again = run_range(range, 5, 11, &short()).expect("a clean run");
    assert_eq!(first, again);
    let other = run_range(range, 5, 12, &short()).expect("a clean run");
    assert_ne!(first.trials, other.trials);
}

#[test]
fn a_range_without_a_possible_lease_is_not_run() {
    let run = run_range(TimeoutRange::new(12, 24), 5, 3, &short()).expect("a valid config");
    assert!(!run.lease_possible);
    assert!(run.trials.is_empty());
    assert_eq!(run.not_run, 5);
}

#[test]
fn splitmix64_is_the_reference_function() {
    // The first output of the reference splitmix64 seeded with 0.
    assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
}
