//! Failover on a real 5-node cluster: loopback TCP, a `FileStorage` per node
//! in a temporary directory, the default timing (tick 10 ms, heartbeat
//! 50 ms, election timeout 300–450 ms).
//!
//! Two scenarios, each timed from the moment the Goose goes until another
//! node holds a lease (`is_goose()` true; every other node's status channel
//! is awaited at once, so the figure is not a polling interval):
//!
//! * **crash**: the Goose's task is aborted (`NodeHandle::abort`): no
//!   handover, the others must time out and elect;
//! * **handoff**: the Goose is shut down gracefully (`NodeHandle::shutdown`),
//!   which hands leadership to the most responsive Duck with `TimeoutNow`.
//!
//! After every trial the stopped node is restarted on its storage and port,
//! and the cluster is left to settle (one Goose, everyone following it)
//! before the next trial. A tracing layer timestamps the election's own
//! events, so each trial is also split into phases.
//!
//! ```text
//! cargo bench -p duckduckgoose-benches --bench failover -- [--trials N] [--scenario crash|handoff|both] [--election-timeout-ms MIN..MAX]...
//! DDG_BENCH_STORAGE=mem cargo bench -p duckduckgoose-benches --bench failover -- --scenario handoff
//! ```
//!
//! Each `--election-timeout-ms` runs every scenario on a cluster with that
//! election timeout (default: the default timing's), alternating between them
//! every 20 trials, so that ranges are compared under the same load.
//!
//! `DDG_BENCH_STORAGE=mem` swaps `FileStorage` for `MemStorage` (no fsync),
//! to show what durability costs; `DDG_BENCH_DUMP=1` prints every trial's
//! milestones as they were recorded.

use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime};

use duckduckgoose::runtime::NodeConfig;
use duckduckgoose::storage::{FileStorage, Storage};
use duckduckgoose::{HardState, NodeId, Role, Term};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::mpsc;
use tracing_subscriber::layer::SubscriberExt;

#[path = "../tests/support/cluster/mod.rs"]
mod cluster;
#[path = "../src/bin/duckduckgoose/common.rs"]
mod common;
#[path = "failover/recorder.rs"]
mod recorder;

use cluster::{Cluster, StorageKind};
use common::MsRange;
use recorder::{Milestone, Recorder};

const CLUSTER_SIZE: u64 = 5;
const CLUSTER_ID: &str = "failover-bench";
const KEY: &[u8] = b"failover bench cluster key";
/// Longest wait for anything; reached only when something is broken.
const PATIENCE: Duration = Duration::from_secs(10);
/// Trials on one cluster before the next range's cluster takes its turn.
const ALTERNATION_TRIALS: usize = 20;

// ----- command line -------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    Crash,
    Handoff,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Crash => "crash failover (abort)",
            Scenario::Handoff => "graceful handoff (shutdown)",
        }
    }
}

struct Options {
    trials: usize,
    scenarios: Vec<Scenario>,
    /// The election timeouts to compare; empty for the default.
    timeouts: Vec<MsRange>,
    storage: StorageKind,
    /// `DDG_BENCH_DUMP=1`: print every trial's milestones.
    dump: bool,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        trials: 200,
        scenarios: vec![Scenario::Crash, Scenario::Handoff],
        timeouts: Vec::new(),
        storage: StorageKind::File,
        dump: std::env::var_os("DDG_BENCH_DUMP").is_some(),
    };
    match std::env::var("DDG_BENCH_STORAGE").as_deref() {
        Err(_) | Ok("file") => {}
        Ok("mem") => options.storage = StorageKind::Mem,
        Ok(other) => return Err(format!("DDG_BENCH_STORAGE={other}: expected mem or file")),
    }
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--trials" => {
                options.trials = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("--trials needs a positive number")?;
            }
            "--scenario" => {
                options.scenarios = match args.next().as_deref() {
                    Some("crash") => vec![Scenario::Crash],
                    Some("handoff") => vec![Scenario::Handoff],
                    Some("both") => vec![Scenario::Crash, Scenario::Handoff],
                    _ => return Err("--scenario needs crash, handoff or both".into()),
                };
            }
            "--election-timeout-ms" => {
                let range = args
                    .next()
                    .ok_or("--election-timeout-ms needs MIN..MAX in milliseconds")?;
                options.timeouts.push(
                    common::parse_ms_range(&range)
                        .map_err(|error| format!("--election-timeout-ms: {error}"))?,
                );
            }
            // `cargo bench` passes `--bench`; a filter may follow it.
            _ => {}
        }
    }
    Ok(options)
}

// ----- the cluster --------------------------------------------------------------

/// The bench's cluster: loopback TCP, the default timing but for the
/// election timeout, a cluster key; `storage` says where the nodes keep
/// their state.
async fn start_cluster(storage: StorageKind, election_timeout: MsRange) -> Cluster {
    Cluster::tcp(CLUSTER_ID)
        .voters(CLUSTER_SIZE)
        .cluster_key(KEY)
        .storage(storage)
        .configure(move |config| config.election_timeout = election_timeout.to_durations())
        .start()
        .await
}

// ----- one trial ----------------------------------------------------------------

/// What one trial measured, in milliseconds from the Goose's end.
struct Trial {
    /// Until another node held a lease: the headline figure.
    total_ms: f64,
    /// Crash only: how long before the crash the last acknowledged
    /// heartbeat round was sent.
    heartbeat_age_ms: Option<f64>,
    /// Until the first pre-vote round started (crash only).
    pre_vote_ms: Option<f64>,
    /// Until the winner was a candidate with its vote saved.
    candidate_ms: Option<f64>,
    /// Until the winner counted a majority of votes.
    won_ms: Option<f64>,
    /// Until the winner's first lease.
    leased_ms: Option<f64>,
    pre_vote_rounds: usize,
    candidacies: usize,
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

async fn trial(
    cluster: &mut Cluster,
    scenario: Scenario,
    recorder: &Recorder,
    rng: &mut StdRng,
    lease: Duration,
    dump: bool,
) -> Trial {
    let goose = cluster.settled(PATIENCE).await;
    // A random phase against the heartbeat rounds: settling ends just after
    // a heartbeat, which would otherwise make every crash the worst case.
    tokio::time::sleep(Duration::from_millis(rng.random_range(20..120))).await;
    let goose = if goose.is_goose() {
        goose
    } else {
        cluster.settled(PATIENCE).await
    };
    let id = goose.id();
    let old_term = goose.status().term;

    // Every other node's status channel is watched from now on.
    let (found, mut first) = mpsc::channel(CLUSTER_SIZE as usize);
    let waiters: Vec<_> = cluster
        .others(id)
        .into_iter()
        .map(|node| {
            let found = found.clone();
            tokio::spawn(async move {
                if let Ok(Ok(status)) =
                    tokio::time::timeout(PATIENCE, node.wait_for_role(Role::Goose)).await
                {
                    let _ = found.send((Instant::now(), status.id, status.term)).await;
                }
            })
        })
        .collect();
    drop(found);
    // Let the waiters park on their channels.
    tokio::time::sleep(Duration::from_millis(2)).await;
    recorder.take();

    let lease_deadline = goose.status().lease_deadline;
    let started = Instant::now();
    let stopping = match scenario {
        Scenario::Crash => {
            goose.abort();
            None
        }
        Scenario::Handoff => {
            let goose = goose.clone();
            Some(tokio::spawn(async move { goose.shutdown().await }))
        }
    };
    let (elected, winner, term) = first.recv().await.expect("a new Goose in time");
    for waiter in waiters {
        waiter.abort();
    }
    assert!(term > old_term && winner != id);
    let records = recorder.take();
    match stopping {
        Some(stopping) => stopping.await.expect("shutdown does not panic"),
        None => goose.stopped().await,
    }
    cluster.restart(id).await;

    let since = |at: Instant| ms(at.saturating_duration_since(started));
    let find = |milestone: Milestone| {
        records
            .iter()
            .find(|r| r.milestone == milestone && r.node == winner.0 && r.term == term.0)
            .map(|r| since(r.at))
    };
    let heartbeat_age_ms = match scenario {
        Scenario::Crash => lease_deadline
            .map(|deadline| ms(started.saturating_duration_since(deadline.into_std() - lease))),
        Scenario::Handoff => None,
    };
    let count = |milestone: Milestone| {
        records
            .iter()
            .filter(|r| r.milestone == milestone && r.at <= elected)
            .count()
    };
    if dump {
        eprintln!(
            "  trial: {scenario:?}, Goose {id} (term {old_term}), last acked heartbeat {heartbeat_age_ms:.1?} ms before"
        );
        for record in &records {
            let at = ms(record.at.saturating_duration_since(started));
            eprintln!(
                "  {at:>9.3} ms  {:?} node {} term {}",
                record.milestone, record.node, record.term
            );
        }
        eprintln!(
            "  {:>9.3} ms  node {winner} holds a lease (term {term})",
            ms(elected - started)
        );
    }
    Trial {
        total_ms: since(elected),
        heartbeat_age_ms,
        pre_vote_ms: records
            .iter()
            .find(|r| r.milestone == Milestone::PreVote && r.term > old_term.0)
            .map(|r| since(r.at)),
        candidate_ms: find(Milestone::Candidate),
        won_ms: find(Milestone::Won),
        leased_ms: find(Milestone::Leased),
        pre_vote_rounds: count(Milestone::PreVote),
        candidacies: count(Milestone::Candidate),
    }
}

// ----- statistics and the report ------------------------------------------------

#[derive(Clone, Copy)]
struct Summary {
    n: usize,
    min: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

/// Nearest-rank percentiles.
fn summary(values: impl IntoIterator<Item = f64>) -> Option<Summary> {
    let mut values: Vec<f64> = values.into_iter().collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let rank = |p: f64| values[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
    Some(Summary {
        n,
        min: values[0],
        p50: rank(0.50),
        p90: rank(0.90),
        p99: rank(0.99),
        max: values[n - 1],
        mean: values.iter().sum::<f64>() / n as f64,
    })
}

fn row(out: &mut String, label: &str, summary: Option<Summary>) {
    match summary {
        Some(s) => {
            let _ = writeln!(
                out,
                "  {label:<38} {:>4} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
                s.n, s.min, s.p50, s.p90, s.p99, s.max, s.mean
            );
        }
        None => {
            let _ = writeln!(out, "  {label:<38}    0");
        }
    }
}

fn header(out: &mut String) {
    let _ = writeln!(
        out,
        "  {:<38} {:>4} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "(milliseconds)", "n", "min", "p50", "p90", "p99", "max", "mean"
    );
}

/// The difference `later - earlier` in each trial that has both.
fn phase(
    trials: &[Trial],
    earlier: impl Fn(&Trial) -> Option<f64>,
    later: impl Fn(&Trial) -> Option<f64>,
) -> Option<Summary> {
    summary(trials.iter().filter_map(|t| Some(later(t)? - earlier(t)?)))
}

fn report(
    scenario: Scenario,
    storage: StorageKind,
    trials: &[Trial],
    election_timeout: MsRange,
) -> String {
    let min_timeout = Duration::from_millis(election_timeout.min_ms);
    let mut out = String::new();
    let total = summary(trials.iter().map(|t| t.total_ms)).expect("at least one trial");
    let _ = writeln!(
        out,
        "\n{} — {} trials, {CLUSTER_SIZE} nodes, loopback TCP, {storage:?}Storage, \
         election timeout {election_timeout} ms",
        scenario.name(),
        trials.len(),
    );
    header(&mut out);
    row(&mut out, "until a new Goose holds a lease", Some(total));
    let zero = |_: &Trial| Some(0.0);
    match scenario {
        Scenario::Crash => {
            let min_ms = ms(min_timeout);
            let _ = writeln!(
                out,
                "  as a ratio to the minimum election timeout ({min_ms:.0} ms): \
                 p50 {:.2}x, p90 {:.2}x, p99 {:.2}x, max {:.2}x",
                total.p50 / min_ms,
                total.p90 / min_ms,
                total.p99 / min_ms,
                total.max / min_ms
            );
            let _ = writeln!(out, "  phases:");
            row(
                &mut out,
                "heartbeat age at the crash",
                summary(trials.iter().filter_map(|t| t.heartbeat_age_ms)),
            );
            row(
                &mut out,
                "last heartbeat -> first pre-vote",
                phase(
                    trials,
                    |t| t.heartbeat_age_ms.map(|a| -a),
                    |t| t.pre_vote_ms,
                ),
            );
            row(
                &mut out,
                "crash -> first pre-vote",
                phase(trials, zero, |t| t.pre_vote_ms),
            );
            row(
                &mut out,
                "pre-vote -> candidate (incl. its save)",
                phase(trials, |t| t.pre_vote_ms, |t| t.candidate_ms),
            );
        }
        Scenario::Handoff => {
            let _ = writeln!(out, "  phases:");
            row(
                &mut out,
                "shutdown -> candidate (incl. its save)",
                phase(trials, zero, |t| t.candidate_ms),
            );
        }
    }
    row(
        &mut out,
        "candidate -> majority of votes",
        phase(trials, |t| t.candidate_ms, |t| t.won_ms),
    );
    row(
        &mut out,
        "votes -> first lease (ack round)",
        phase(trials, |t| t.won_ms, |t| t.leased_ms),
    );
    row(
        &mut out,
        "lease -> waiter sees is_goose()",
        phase(trials, |t| t.leased_ms, |t| Some(t.total_ms)),
    );
    let retried_pre_votes = trials.iter().filter(|t| t.pre_vote_rounds > 1).count();
    let retried_candidacies = trials.iter().filter(|t| t.candidacies > 1).count();
    let _ = writeln!(
        out,
        "  trials with more than one pre-vote round: {retried_pre_votes}; \
         with more than one candidacy (split or lost vote): {retried_candidacies}"
    );
    match scenario {
        Scenario::Crash => {
            let min_ms = ms(min_timeout);
            let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
            let _ = writeln!(
                out,
                "  target p50 <= 1.2x ({:.0} ms): {}; target p99 <= 1.8x ({:.0} ms): {}",
                1.2 * min_ms,
                verdict(total.p50 <= 1.2 * min_ms),
                1.8 * min_ms,
                verdict(total.p99 <= 1.8 * min_ms)
            );
        }
        Scenario::Handoff => {
            let _ = writeln!(
                out,
                "  target p99 < 5 ms: {}",
                if total.p99 < 5.0 { "met" } else { "MISSED" }
            );
        }
    }
    out
}

/// How long a steady-state `FileStorage` save takes here, for reading the
/// phases. The first save to a directory (which creates its files) is left
/// out.
async fn fsync_cost(dir: &std::path::Path) -> Option<Summary> {
    let mut storage = FileStorage::open(dir.join("fsync-probe")).ok()?;
    storage.save(&HardState::default()).await.ok()?;
    let mut samples = Vec::new();
    for term in 1..=100 {
        let state = HardState {
            term: Term(term),
            voted_for: Some(NodeId(1)),
        };
        let started = Instant::now();
        storage.save(&state).await.ok()?;
        samples.push(ms(started.elapsed()));
    }
    summary(samples)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

async fn run(options: Options, recorder: Recorder) {
    let defaults = NodeConfig::new(NodeId(1), [NodeId(1)]);
    let core = defaults.to_core_config().expect("the defaults are valid");
    let lease = defaults.tick * u32::try_from(core.lease_ticks()).expect("a short lease");
    println!(
        "failover bench: {CLUSTER_SIZE} nodes, tick {:?}, heartbeat {:?}, default election timeout {:?}, \
         lease {lease:?}; {} trials per scenario; {:?}Storage; {} CPUs, load average {}",
        defaults.tick,
        defaults.heartbeat,
        defaults.election_timeout,
        options.trials,
        options.storage,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average(),
    );
    let probe_dir = tempfile::tempdir().expect("a temporary directory");
    if let Some(cost) = fsync_cost(probe_dir.path()).await {
        let mut out = String::new();
        header(&mut out);
        row(&mut out, "FileStorage::save (fsync) here", Some(cost));
        print!("{out}");
    }

    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut rng = StdRng::seed_from_u64(seed);
    let timeouts = if options.timeouts.is_empty() {
        vec![MsRange {
            min_ms: defaults.election_timeout.start.as_millis() as u64,
            max_ms: defaults.election_timeout.end.as_millis() as u64,
        }]
    } else {
        options.timeouts.clone()
    };
    for scenario in options.scenarios {
        let mut clusters = Vec::with_capacity(timeouts.len());
        for timeout in &timeouts {
            clusters.push(start_cluster(options.storage, *timeout).await);
        }
        let mut trials: Vec<Vec<Trial>> = timeouts
            .iter()
            .map(|_| Vec::with_capacity(options.trials))
            .collect();
        let started = Instant::now();
        // Each cluster in turn, a batch at a time, so that a change of load
        // falls on every range alike.
        for batch_start in (0..options.trials).step_by(ALTERNATION_TRIALS) {
            let batch = ALTERNATION_TRIALS.min(options.trials - batch_start);
            for (cluster, trials) in clusters.iter_mut().zip(&mut trials) {
                for _ in 0..batch {
                    trials.push(
                        trial(cluster, scenario, &recorder, &mut rng, lease, options.dump).await,
                    );
                }
            }
            eprintln!(
                "  {}: {} trials per range done in {:.0?}",
                scenario.name(),
                batch_start + batch,
                started.elapsed()
            );
        }
        for (timeout, trials) in timeouts.iter().zip(&trials) {
            print!("{}", report(scenario, options.storage, trials, *timeout));
        }
    }
    println!("load average at the end: {}", load_average());
}

fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("failover bench: {error}");
            std::process::exit(2);
        }
    };
    let recorder = Recorder::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(recorder.clone()))
        .expect("no other subscriber is installed");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run(options, recorder));
}
