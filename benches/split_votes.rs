//! Split votes at scale, in the lock-step model of issue #14: every node
//! ticks at the same instants (`sim::LockStep`), messages arrive
//! `--delay` ticks after they are sent (0 by default: a whole exchange
//! within the instant, so that candidates and the voters that answer them
//! redraw their timers at the same instant), those due together in
//! a seeded random order (`--send-order` delivers them in send order
//! instead, where the lowest id's requests always arrive first and no vote
//! splits), and the election timeout takes one of 10 values (10–19 ticks;
//! heartbeat every 2 ticks, the default 5:30 ratio).
//!
//! For each cluster size and seed it counts the ticks to the first Goose
//! from a cold start, then lets the Goose lead for a while, crashes it, and
//! counts the ticks until another node holds a lease. Each figure is given
//! with both split-vote rules as built (the pre-vote tie-break and the
//! split-vote retry) and, side by side in the same run, with each turned off
//! and with both off (the planted `Mutation::NoPreVoteTieBreak`,
//! `NoSplitVoteRetry` and `NoSplitVoteRules`, hence the `planted` feature,
//! which only this bench needs).
//!
//! ```text
//! cargo bench -p duckduckgoose-benches --features planted --bench split_votes -- \
//!     [--trials N] [--sizes 3,5,7,101] [--max-ticks T] [--delay D] [--send-order]
//! ```
//!
//! A trial that reaches `--max-ticks` stops there; it counts as that many
//! ticks and is reported under "capped".

use std::time::Instant;

use duckduckgoose::core::{Config, Election, HardState, Mutation, NodeId};
use duckduckgoose::sim::LockStep;

/// The timing of the issue's model: 10 distinct timeout values.
const TIMEOUT_MIN_TICKS: u64 = 10;
const TIMEOUT_MAX_TICKS: u64 = 20;
const HEARTBEAT_TICKS: u64 = 2;

struct Options {
    trials: u64,
    sizes: Vec<u64>,
    max_ticks: u64,
    delay_ticks: u64,
    /// Deliver each round's messages in a seeded random order (the issue's
    /// model) rather than in send order.
    shuffle: bool,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        trials: 200,
        sizes: vec![3, 5, 7, 101],
        max_ticks: 20_000,
        delay_ticks: 0,
        shuffle: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        let number = |text: String| text.parse::<u64>().map_err(|e| format!("{text}: {e}"));
        match arg.as_str() {
            "--trials" => options.trials = number(value()?)?,
            "--max-ticks" => options.max_ticks = number(value()?)?,
            "--delay" => options.delay_ticks = number(value()?)?,
            "--send-order" => options.shuffle = false,
            "--sizes" => {
                options.sizes = value()?
                    .split(',')
                    .map(|s| number(s.to_owned()))
                    .collect::<Result<_, _>>()?
            }
            // `cargo bench` passes `--bench`.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(options)
}

/// Which of the split-vote rules run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// Neither: the core as of 1348ab1.
    Off,
    /// The pre-vote tie-break alone.
    TieBreak,
    /// The split-vote retry alone.
    Retry,
    /// Both, as built.
    On,
}

impl Variant {
    const ALL: [Variant; 4] = [Variant::Off, Variant::TieBreak, Variant::Retry, Variant::On];

    fn name(self) -> &'static str {
        match self {
            Variant::Off => "rules off (1348ab1)",
            Variant::TieBreak => "tie-break only",
            Variant::Retry => "retry only",
            Variant::On => "both rules",
        }
    }

    /// The planted switch that turns the others off.
    fn mutation(self) -> Option<Mutation> {
        match self {
            Variant::Off => Some(Mutation::NoSplitVoteRules),
            Variant::TieBreak => Some(Mutation::NoSplitVoteRetry),
            Variant::Retry => Some(Mutation::NoPreVoteTieBreak),
            Variant::On => None,
        }
    }
}

/// Ticks of one trial, each phase, and whether the cap ended it.
#[derive(Clone, Copy, Debug)]
struct Outcome {
    ticks: u64,
    capped: bool,
}

fn build(size: u64, seed: u64, variant: Variant) -> LockStep {
    let ids: Vec<NodeId> = (1..=size).map(NodeId).collect();
    let nodes = ids.iter().map(|&id| {
        let config = Config::new(id, ids.iter().copied())
            .with_election_timeout_min_ticks(TIMEOUT_MIN_TICKS)
            .with_election_timeout_max_ticks(TIMEOUT_MAX_TICKS)
            .with_heartbeat_interval_ticks(HEARTBEAT_TICKS);
        let mut node = Election::new(config, HardState::default(), seed * 1_000 + id.0)
            .expect("a valid config");
        if let Some(mutation) = variant.mutation() {
            node.set_mutation(mutation);
        }
        node
    });
    LockStep::new(nodes).expect("distinct ids")
}

/// Ticks until `done`, at most `max_ticks`.
fn ticks_until(net: &mut LockStep, max_ticks: u64, done: impl Fn(&LockStep) -> bool) -> Outcome {
    for ticks in 1..=max_ticks {
        net.tick().expect("the core keeps the persist barrier");
        if done(net) {
            return Outcome {
                ticks,
                capped: false,
            };
        }
    }
    Outcome {
        ticks: max_ticks,
        capped: true,
    }
}

/// One seed: the cold start, then a crash of the Goose after it has led for
/// a seed-dependent while (so that the crash falls at any heartbeat phase).
fn trial(size: u64, seed: u64, variant: Variant, options: &Options) -> (Outcome, Option<Outcome>) {
    let mut net = build(size, seed, variant)
        .with_delay_ticks(options.delay_ticks)
        .with_recording(false);
    if options.shuffle {
        net = net.with_shuffled_delivery(seed);
    }
    let cold = ticks_until(&mut net, options.max_ticks, |net| net.goose().is_some());
    let Some(goose) = net.goose() else {
        return (cold, None);
    };
    let lead_ticks = TIMEOUT_MAX_TICKS + seed % (2 * TIMEOUT_MAX_TICKS);
    for _ in 0..lead_ticks {
        net.tick().expect("the core keeps the persist barrier");
    }
    // A Goose that lost its lease meanwhile is still the one to crash: the
    // figure is about the others.
    net.crash(goose).expect("up");
    let failover = ticks_until(&mut net, options.max_ticks, |net| net.goose().is_some());
    (cold, Some(failover))
}

/// Mean, p50, p99, max and caps of `outcomes`.
fn summary(outcomes: &[Outcome]) -> String {
    if outcomes.is_empty() {
        return "no trials".to_owned();
    }
    let mut ticks: Vec<u64> = outcomes.iter().map(|o| o.ticks).collect();
    ticks.sort_unstable();
    let mean = ticks.iter().sum::<u64>() as f64 / ticks.len() as f64;
    let at = |q: f64| ticks[((ticks.len() - 1) as f64 * q).round() as usize];
    let capped = outcomes.iter().filter(|o| o.capped).count();
    format!(
        "mean {mean:8.1}  p50 {:6}  p99 {:6}  max {:6}  capped {capped}/{}",
        at(0.5),
        at(0.99),
        ticks[ticks.len() - 1],
        ticks.len()
    )
}

fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    println!(
        "lock-step, timeout {TIMEOUT_MIN_TICKS}..{TIMEOUT_MAX_TICKS} ticks (10 values), heartbeat {HEARTBEAT_TICKS}, \
         delay {} tick(s), {} delivery, {} seeds, cap {} ticks; p99 target for 101 voters: {} ticks",
        options.delay_ticks,
        if options.shuffle {
            "shuffled"
        } else {
            "send-order"
        },
        options.trials,
        options.max_ticks,
        2 * (TIMEOUT_MAX_TICKS - 1)
    );
    for &size in &options.sizes {
        for variant in Variant::ALL {
            let started = Instant::now();
            let mut cold = Vec::new();
            let mut failover = Vec::new();
            for seed in 0..options.trials {
                let (c, f) = trial(size, seed, variant, &options);
                cold.push(c);
                failover.extend(f);
            }
            println!(
                "{size:3} voters, {:19}  cold start: {}",
                variant.name(),
                summary(&cold)
            );
            println!(
                "{size:3} voters, {:19}  after crash: {}   ({:.1} s)",
                variant.name(),
                summary(&failover),
                started.elapsed().as_secs_f64()
            );
        }
    }
}
