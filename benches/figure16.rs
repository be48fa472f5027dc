//! Figure 16 of the Raft paper (Ongaro & Ousterhout, "In Search of an
//! Understandable Consensus Algorithm", USENIX ATC 2014, §9.3), reproduced
//! in the simulator: the CDFs of the time to replace a crashed Goose in a
//! five-node cluster, for the paper's election timeout ranges, beside the
//! figures the paper's text gives.
//!
//! ```text
//! cargo bench -p duckduckgoose-benches --bench figure16 -- [--trials N] [--out PATH] [--jobs N]
//!     [--tick-us N] [--one-way-us LOW..HIGH] [--no-pre-vote]
//! ```
//!
//! Writes `docs/figure16.svg` (or `PATH`) and prints a table per range.
//! Every range runs `N` trials (default 1000; 150–150 ms runs a tenth, as
//! in the paper, whose 150–150 line is 100 trials). What is measured and
//! how it differs from the paper: `docs/figure16.md`.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

#[path = "figure16/plot.rs"]
mod plot;
#[path = "figure16/trials.rs"]
mod trials;

use plot::{Panel, PaperPoint};
use trials::{RangeRun, Setup, TimeoutRange, run_range};

/// The top panel's ranges: 150 ms with more and more randomness.
const RANDOMNESS: [TimeoutRange; 6] = [
    TimeoutRange::new(150, 150),
    TimeoutRange::new(150, 151),
    TimeoutRange::new(150, 155),
    TimeoutRange::new(150, 175),
    TimeoutRange::new(150, 200),
    TimeoutRange::new(150, 300),
];

/// The bottom panel's ranges: the timeout scaled down (150–300 is shared).
const SCALE: [TimeoutRange; 4] = [
    TimeoutRange::new(12, 24),
    TimeoutRange::new(25, 50),
    TimeoutRange::new(50, 100),
    TimeoutRange::new(100, 200),
];

/// Every range gets its own seed: this plus its index.
const BASE_SEED: u64 = 16_000;

/// The paper's published figures (§9.3), as marks on the CDFs.
const PAPER_TOP: [PaperPoint; 2] = [
    PaperPoint {
        x_ms: 287.0,
        y_percent: 50.0,
        label: "paper: 150–155 ms, median 287 ms",
    },
    PaperPoint {
        x_ms: 513.0,
        y_percent: 100.0,
        label: "paper: 150–200 ms, worst of 1000: 513 ms",
    },
];
const PAPER_BOTTOM: [PaperPoint; 2] = [
    PaperPoint {
        x_ms: 35.0,
        y_percent: 50.0,
        label: "paper: 12–24 ms, mean 35 ms (drawn at 50%)",
    },
    PaperPoint {
        x_ms: 152.0,
        y_percent: 100.0,
        label: "paper: 12–24 ms, longest 152 ms",
    },
];

struct Args {
    trials: usize,
    setup: Setup,
    out: PathBuf,
    jobs: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        trials: 1_000,
        setup: Setup::paper(),
        out: Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap_or(Path::new(".."))
            .join("docs/figure16.svg"),
        jobs: std::thread::available_parallelism().map_or(1, usize::from),
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let mut value = |name: &str| words.next().ok_or(format!("{name} needs a value"));
        match word.as_str() {
            "--trials" => {
                args.trials = value("--trials")?
                    .parse()
                    .map_err(|e| format!("--trials: {e}"))?;
            }
            "--out" => args.out = PathBuf::from(value("--out")?),
            "--tick-us" => {
                args.setup.tick_us = value("--tick-us")?
                    .parse()
                    .map_err(|e| format!("--tick-us: {e}"))?;
            }
            "--one-way-us" => {
                let text = value("--one-way-us")?;
                let parse = |part: &str| {
                    part.parse::<u64>()
                        .map_err(|e| format!("--one-way-us: {e}"))
                };
                let (low, high) = text
                    .split_once("..")
                    .ok_or("--one-way-us takes LOW..HIGH")?;
                let (low, high) = (parse(low)?, parse(high)?);
                if low > high {
                    return Err("--one-way-us: LOW must not exceed HIGH".to_owned());
                }
                args.setup.one_way_us = low..=high;
            }
            "--jobs" => {
                args.jobs = value("--jobs")?
                    .parse()
                    .map_err(|e| format!("--jobs: {e}"))?;
            }
            "--no-pre-vote" => args.setup.pre_vote = false,
            // What `cargo bench` passes to every bench binary.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let setup = args.setup.clone();
    let ranges: Vec<TimeoutRange> = RANDOMNESS.iter().chain(&SCALE).copied().collect();
    println!(
        "Figure 16: {} nodes, tick {} µs, one-way delay {}–{} µs, drift bound {} ppm, pre-vote {}, \
         cap {} s, {} trials per range ({} for 150–150 ms), {} jobs",
        trials::NODES,
        setup.tick_us,
        setup.one_way_us.start(),
        setup.one_way_us.end(),
        setup.drift_bound_ppm,
        if setup.pre_vote { "on" } else { "off" },
        setup.cap_us / 1_000_000,
        args.trials,
        trials_for(ranges[0], args.trials),
        args.jobs,
    );
    let started = Instant::now();
    let runs = run_all(&ranges, &args, &setup)?;
    println!(
        "measured in {:.1} s of wall time\n",
        started.elapsed().as_secs_f64()
    );
    print_table("Time until another node holds a lease (ms)", &runs, |t| {
        t.lease_us
    });
    print_table(
        "Time until another node wins the votes, before its lease (ms)",
        &runs,
        |t| t.won_us,
    );
    // One colour per range, kept across both panels.
    let find = |range: TimeoutRange| {
        let index = runs.iter().position(|run| run.range == range)?;
        Some((&runs[index], plot::COLORS[index % plot::COLORS.len()]))
    };
    let top = Panel {
        title: "Randomness: 150 ms minimum timeout, more and more random range",
        runs: RANDOMNESS.iter().filter_map(|r| find(*r)).collect(),
        // Up to the cap: a capped trial's line stops short of 100% there.
        x_ms: 100.0..setup.cap_us as f64 / 1_000.0,
        log_x: true,
        paper: &PAPER_TOP,
        paper_bound: Some((10_000.0, "paper: 150–150 ms, every trial > 10 s")),
        notes: vec![
            format!(
                "simulated: {} nodes, {} µs ticks, one-way delay",
                trials::NODES,
                setup.tick_us
            ),
            format!(
                "{}–{} µs per message, pre-vote {}; timed from",
                setup.one_way_us.start(),
                setup.one_way_us.end(),
                if setup.pre_vote { "on" } else { "off" },
            ),
            "the crash until another node holds a lease;".to_owned(),
            format!("trials capped at {} s.", setup.cap_us / 1_000_000),
            "cargo bench -p duckduckgoose-benches --bench figure16".to_owned(),
            "Paper: Ongaro & Ousterhout, USENIX ATC 2014, §9.3.".to_owned(),
        ],
    };
    let bottom = Panel {
        title: "Scale: shorter timeouts",
        runs: SCALE
            .iter()
            .chain([&TimeoutRange::new(150, 300)])
            .filter_map(|r| find(*r))
            .collect(),
        x_ms: 0.0..600.0,
        log_x: false,
        paper: &PAPER_BOTTOM,
        paper_bound: None,
        notes: scale_notes(&setup),
    };
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    plot::draw(&args.out, &[top, bottom])?;
    println!("wrote {}", args.out.display());
    Ok(())
}

/// Why the shortest range may have no curve.
fn scale_notes(setup: &Setup) -> Vec<String> {
    let shortest = SCALE[0];
    if shortest.lease_possible(setup) {
        return Vec::new();
    }
    let lease_ms = shortest.election(setup).lease_ticks() * setup.tick_us / 1_000;
    vec![
        format!("The paper's {} points have no curve", shortest.label()),
        format!("beside them: here a lease ({lease_ms} ms) cannot"),
        format!(
            "outlast a round trip ({}–{} ms). See docs/figure16.md.",
            2 * setup.one_way_us.start() / 1_000,
            2 * setup.one_way_us.end() / 1_000
        ),
    ]
}

/// The paper ran 100 trials of 150–150 ms and 1000 of every other range.
fn trials_for(range: TimeoutRange, trials: usize) -> usize {
    if range.min_ms == range.max_ms {
        trials.div_ceil(10)
    } else {
        trials
    }
}

/// Runs every range, `args.jobs` at a time; each range is one simulation
/// with its own seed, so the result does not depend on the scheduling.
fn run_all(
    ranges: &[TimeoutRange],
    args: &Args,
    setup: &Setup,
) -> Result<Vec<RangeRun>, Box<dyn Error>> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..args.jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(range) = ranges.get(index) else {
                        break;
                    };
                    let started = Instant::now();
                    let seed = BASE_SEED + index as u64;
                    let result = run_range(*range, trials_for(*range, args.trials), seed, setup);
                    eprintln!(
                        "  {} done in {:.1} s",
                        range.label(),
                        started.elapsed().as_secs_f64()
                    );
                    let mut results = results.lock().unwrap_or_else(|e| e.into_inner());
                    results.push((index, result));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(index, _)| *index);
    let mut runs = Vec::with_capacity(results.len());
    for (index, result) in results {
        runs.push(result.map_err(|e| format!("{}: {e}", ranges[index].label()))?);
    }
    Ok(runs)
}

/// One row per range: trials, capped, then the percentiles (nearest rank,
/// over every trial, a capped one counting as longer than any), the
/// longest and the mean of those that finished.
fn print_table(title: &str, runs: &[RangeRun], time: impl Fn(&trials::Trial) -> Option<u64>) {
    println!("{title}");
    println!(
        "| range | seed | trials | capped | p50 | p90 | p99 | max | mean |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for run in runs {
        let mut times_us: Vec<u64> = run.trials.iter().filter_map(&time).collect();
        times_us.sort_unstable();
        let total = run.trials.len();
        let capped = total - times_us.len();
        let percentile = |q: f64| {
            let rank = ((q * total as f64).ceil() as usize).max(1);
            match times_us.get(rank - 1) {
                Some(us) => format!("{:.0}", *us as f64 / 1_000.0),
                None if total == 0 => "–".to_owned(),
                None => "capped".to_owned(),
            }
        };
        let max = match times_us.last() {
            Some(us) if capped == 0 => format!("{:.0}", *us as f64 / 1_000.0),
            _ if total == 0 => "–".to_owned(),
            _ => "capped".to_owned(),
        };
        let mean = if times_us.is_empty() {
            "–".to_owned()
        } else {
            let sum: u64 = times_us.iter().sum();
            format!("{:.0}", sum as f64 / times_us.len() as f64 / 1_000.0)
        };
        let mut label = run.range.label();
        if !run.lease_possible {
            label.push_str(" (no lease possible)");
        }
        let mut trials = total.to_string();
        if run.not_run > 0 {
            trials.push_str(&format!(" (+{} not run)", run.not_run));
        }
        println!(
            "| {label} | {} | {trials} | {capped} | {} | {} | {} | {max} | {mean} |",
            run.seed,
            percentile(0.5),
            percentile(0.9),
            percentile(0.99),
        );
    }
    println!();
}
