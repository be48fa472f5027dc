//! Real processes on a real (virtual) network: five `duckduckgoose run`
//! processes, each in its own network namespace, joined by veth pairs to a
//! bridge in a "switch" namespace of its own, and faults made with
//! `iptables` inside each node's namespace: cuts (symmetric, one-way, a
//! bridge node, a partial partition), random loss on every link, duplicated
//! packets, and process faults (kill -9 of the Goose, SIGSTOP past its
//! lease).
//!
//! Needs root, `ip` and `iptables` (with the `statistic` match and the `TEE`
//! target). Without them every test prints "skipped: needs root" and passes,
//! unless `DDG_NETNS=1` is set (CI sets it): then it fails and says what is
//! missing. Run it with the table on stdout:
//!
//! ```text
//! DDG_NETNS=1 cargo test --features cli --test netns -- --nocapture --test-threads 1
//! ```
//!
//! Tunables: `DDG_NETNS_LOSS_SECS` (each loss run, default 60 s for udp and
//! 30 s for tcp), `DDG_NETNS_KILLS` (kill -9 rounds, default 30),
//! `DDG_NETNS_LONG=1` (300 s loss runs, 300 kills, and failover bounds
//! asserted).
//!
//! # The network
//!
//! Node `i` is `10.251.X.i` on the bridge; the test process (in the root
//! namespace) reaches every node through one more veth whose root end is
//! `10.251.X.254`. Faults match only the cluster port, never the HTTP port,
//! so the observer sees every node whatever the cluster's network does.
//! Everything is named `ddg<pid>...`; a guard deletes it on every exit path,
//! and each run first deletes what runs whose process is gone left behind.
//!
//! # What is checked
//!
//! One poller thread per node asks `GET /status` every [`POLL_GAP`] and
//! stamps the request and the answer with `Instant` (`CLOCK_MONOTONIC`, one
//! clock for every namespace). A Goose answer was true at some instant
//! between the two, so the observer refutes what the promises forbid: two
//! Geese in one term, and a Goose answer of one term whose request was sent
//! after a Goose answer of another term had been received while the other
//! term's Goose also answered after that (two Geese at one instant); and a
//! node's term going back. It also measures availability: the share of
//! 50 ms slots in which some node answered Goose.

mod cluster;
mod faults;
mod http;
mod loss;
mod net;
mod node;
mod observer;
mod partitions;
mod process_faults;
mod report;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The timing every node runs with (the binary's defaults, said out loud).
const TIMING: &[&str] = &["--heartbeat-ms", "50", "--election-timeout-ms", "300..450"];

/// The minimum election timeout of [`TIMING`]: the failover yardstick.
const ELECTION_TIMEOUT_MIN: Duration = Duration::from_millis(300);

/// Pause between two polls of one node. A failover is timed to the first
/// Goose answer's arrival, so this is most of the measurement's own error:
/// 5 ms keeps it small at 200 requests a second per node.
const POLL_GAP: Duration = Duration::from_millis(5);

/// Upper bound on any wait for the cluster; reached only when something is
/// broken.
const PATIENCE: Duration = Duration::from_secs(20);

/// Nodes in every cluster.
const NODES: u64 = 5;

/// One scenario at a time: they share two cores and time-sensitive
/// measurements.
static SERIAL: Mutex<()> = Mutex::new(());

/// The cluster transport a scenario runs on (`--transport`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// Takes the process-wide lock, and says whether this machine can run the
/// suite: `None` means skip (the reason was printed). A lock poisoned by a
/// failed scenario is taken as it is (its guards cleaned up).
fn begin() -> Option<MutexGuard<'static, ()>> {
    let guard = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match net::missing_prerequisite() {
        None => {
            net::remove_leftovers();
            Some(guard)
        }
        Some(missing) if env_flag("DDG_NETNS") => {
            panic!("DDG_NETNS=1 but the netns suite cannot run: {missing}")
        }
        Some(missing) => {
            println!("skipped: needs root ({missing}); set DDG_NETNS=1 to make this a failure");
            None
        }
    }
}

/// `NAME=1` in the environment.
fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|value| value == "1")
}

/// A number from the environment, or `default` when unset; panics on a
/// value that is not a number (a typo must not silently run the default).
fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a whole number")),
        Err(_) => default,
    }
}

/// `DDG_NETNS_LONG=1`: the long runs, with failover bounds asserted.
fn long_runs() -> bool {
    env_flag("DDG_NETNS_LONG")
}

/// Makes `mod $scenario { fn udp(); fn tcp(); }`, two tests calling
/// `$scenario(Transport)`: every scenario runs on both transports, and
/// `cargo test --test netns udp` picks one.
macro_rules! on_both_transports {
    ($($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            #[test]
            fn udp() {
                super::$scenario(crate::Transport::Udp)
            }

            #[test]
            fn tcp() {
                super::$scenario(crate::Transport::Tcp)
            }
        }
    )+};
}
pub(crate) use on_both_transports;
