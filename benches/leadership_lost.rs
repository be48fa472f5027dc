//! How late a lost lease is noticed, in real time, on a 3-node cluster over
//! the in-process network with the default timing (tick 10 ms, heartbeat
//! 50 ms, election timeout 300–450 ms).
//!
//! Each trial takes the Goose's `Leadership`, cuts the Goose off
//! (`MemoryNetwork::isolate`), waits two ticks for acks already delivered
//! to be handled, reads the lease's deadline (fixed from then on: no ack
//! can arrive) and measures, after that deadline:
//!
//! * **lost()**: when `Leadership::lost()` completed (a sleep until the
//!   deadline, on tokio's timer);
//! * **token**: when a task awaiting the leadership's cancellation token
//!   woke (the per-leadership watcher cancels it);
//! * **event**: the `at` of the core's `RoleChanged` Duck event, which the
//!   driver reports at its first tick past the lease.
//!
//! `lost()` and the token aim 2 ms ahead of the deadline (tokio's timer
//! and the OS's wait each round a sleep up to the next millisecond), so
//! they land before it or just after.
//!
//! The core may notice first, at a tick shortly before the real-time
//! deadline (a tick less than 5 ms late keeps tokio's schedule, while the
//! deadline counts from when the lease's first tick was handled), and
//! `lost()` then completes at once, before the deadline: negative figures.
//! The last rows keep only the trials where the core noticed no earlier
//! than the deadline: the path a stalled driver leaves.
//!
//! Then the Goose is reconnected and the cluster left to settle on a new
//! Goose before the next trial.
//!
//! ```text
//! cargo bench -p duckduckgoose-benches --bench leadership_lost -- [--trials N]
//! ```

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use duckduckgoose::Role;
use duckduckgoose::runtime::NodeEvent;
use tokio::time::Instant;

#[path = "../tests/support/cluster/mod.rs"]
mod cluster;

use cluster::Cluster;

/// Longest wait for anything; reached only when something is broken.
const PATIENCE: Duration = Duration::from_secs(10);

/// The default tick, for the two-tick wait after the cut.
const TICK: Duration = Duration::from_millis(10);

/// What one trial measured, each in microseconds after the lease's
/// deadline (negative: before it).
struct Trial {
    lost: f64,
    token: f64,
    event: f64,
}

impl Trial {
    /// Whether the deadline came before the core noticed. (At a tick a
    /// little before the real-time deadline it may notice first: tokio
    /// keeps a tick that is under 5 ms late on its schedule, while the
    /// deadline counts from when the lease's first tick was handled.)
    fn deadline_first(&self) -> bool {
        self.event >= 0.0
    }
}

fn trials_option() -> Result<usize, String> {
    let mut trials = 200;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--trials" => {
                let value = args.next().ok_or("--trials needs a number")?;
                trials = value
                    .parse()
                    .map_err(|_| format!("--trials: not a number: {value}"))?;
            }
            // `cargo bench` passes `--bench`; nothing else is expected.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(trials)
}

/// `later - earlier` in microseconds, negative if `later` is earlier.
fn after(earlier: Instant, later: Instant) -> f64 {
    if later >= earlier {
        (later - earlier).as_secs_f64() * 1e6
    } else {
        -(earlier - later).as_secs_f64() * 1e6
    }
}

async fn trial(cluster: &Cluster) -> Trial {
    let goose = cluster.settled(PATIENCE).await;
    let leadership = goose.leadership().await.expect("the Goose leads");
    let mut events = goose.events();
    let woken = Arc::new(Mutex::new(None));
    let waiter = tokio::spawn({
        let token = leadership.cancellation_token();
        let woken = Arc::clone(&woken);
        async move {
            token.cancelled().await;
            *woken.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        }
    });

    cluster.network().isolate(goose.id());
    tokio::time::sleep(2 * TICK).await;
    let deadline = leadership
        .lease_deadline()
        .expect("the lease outlasts two ticks");
    leadership.lost().await;
    let lost_at = Instant::now();
    tokio::time::timeout(PATIENCE, waiter)
        .await
        .expect("the token is cancelled")
        .expect("the waiter does not panic");
    let token_at = woken
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .expect("recorded");
    let event_at = loop {
        let event = tokio::time::timeout(PATIENCE, events.recv())
            .await
            .expect("the core reports the expiry")
            .expect("the stream goes on");
        if let NodeEvent::RoleChanged {
            role: Role::Duck,
            at,
            ..
        } = event
        {
            break at;
        }
    };
    cluster.network().reconnect(goose.id());

    Trial {
        lost: after(deadline, lost_at),
        token: after(deadline, token_at),
        event: after(deadline, event_at),
    }
}

/// Nearest-rank percentile `p` of sorted, non-empty `values`.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn row(label: &str, mut values: Vec<f64>) {
    values.sort_by(f64::total_cmp);
    if values.is_empty() {
        println!("  {label:<34}     0");
        return;
    }
    println!(
        "  {label:<34} {:>5} {:>9.0} {:>9.0} {:>9.0} {:>9.0} {:>9.0}",
        values.len(),
        values[0],
        percentile(&values, 0.01),
        percentile(&values, 0.50),
        percentile(&values, 0.99),
        values[values.len() - 1],
    );
}

fn main() {
    let trials = match trials_option() {
        Ok(trials) if trials > 0 => trials,
        Ok(_) => {
            eprintln!("leadership_lost bench: --trials must be positive");
            std::process::exit(2);
        }
        Err(error) => {
            eprintln!("leadership_lost bench: {error}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let results: Vec<Trial> = runtime.block_on(async {
        let cluster = Cluster::memory(1).voters(3).start().await;
        let mut results = Vec::with_capacity(trials);
        for _ in 0..trials {
            results.push(trial(&cluster).await);
        }
        cluster.shutdown().await;
        results
    });

    let by_deadline: Vec<&Trial> = results.iter().filter(|t| t.deadline_first()).collect();
    println!("after the lease's real-time deadline, a Goose cut off ({trials} trials)");
    println!(
        "  {:<34} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "(µs; negative: before it)", "n", "min", "p1", "p50", "p99", "max"
    );
    row("lost()", results.iter().map(|t| t.lost).collect());
    row("token cancelled", results.iter().map(|t| t.token).collect());
    row(
        "core's RoleChanged event",
        results.iter().map(|t| t.event).collect(),
    );
    row(
        "lost(), the deadline first",
        by_deadline.iter().map(|t| t.lost).collect(),
    );
    row(
        "token, the deadline first",
        by_deadline.iter().map(|t| t.token).collect(),
    );
}
