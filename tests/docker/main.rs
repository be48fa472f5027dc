//! The container image and `deploy/compose.yaml`, tested with a real Docker
//! engine: the cluster the compose file starts, its Goose killed, stopped,
//! frozen and cut off, its containers restarted one by one and started one
//! at a time, the sidecar demo, and bad input in a container.
//!
//! The image is the one `DDG_IMAGE` names (default `duckduckgoose:latest`);
//! if it does not exist, `deploy/build-image` builds it once, so the image
//! under test is the one the README tells users to build. The compose command
//! is `docker-compose` if it is on the PATH, else `docker compose`
//! (`DDG_COMPOSE` overrides it, as a space-separated command).
//!
//! Every test runs alone (one Docker engine, two cores), in its own compose
//! project or on its own network, named after this process, and a guard
//! removes every container, volume and network it made on every exit path.
//! No port is published: the observer asks each container's `/status` at its
//! address on the container network, every [`POLL_GAP`], from one thread per
//! container, and stamps each answer with `CLOCK_MONOTONIC`, the clock the
//! containers' sidecars stamp their work with.
//!
//! As in the process tests, a Goose answer was true at some instant between
//! its request and its answer, so what the observer can refute is two Geese
//! in one term, a stale Goose answering after a newer one had, and a node's
//! term going back (see `observer.rs`). The sidecar's log is sharper: its
//! work units, on the shared clock, never overlap.

mod bad_input;
mod clock;
mod cluster;
mod docker;
mod http;
mod late_names;
mod observer;
mod project;
mod sidecar;

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The timing `deploy/compose.yaml` runs with (the node's defaults).
const ELECTION_TIMEOUT_MIN: Duration = Duration::from_millis(300);
const ELECTION_TIMEOUT_MAX: Duration = Duration::from_millis(450);

/// The pause between two polls of one container.
const POLL_GAP: Duration = Duration::from_millis(10);

/// Upper bound on any wait for the cluster; only reached when something is
/// broken (containers start in about a second, elections take less).
const PATIENCE: Duration = Duration::from_secs(30);

/// How long a restarted container takes to be reachable from every other
/// node again. While it was down its address answered nobody, so a peer's
/// dial to it may hang until the transport's connect timeout (1 s) and then
/// back off (up to 1 s); a hand-over or an election in that window waits
/// for it. Rounds that fail a node again start from a settled cluster.
const SETTLE: Duration = Duration::from_millis(2500);

/// One test at a time: they share one Docker engine and time-sensitive
/// bounds.
static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the process-wide lock for a test; a test that panicked while
/// holding it leaves nothing behind (its guards cleaned up), so a poisoned
/// lock is taken as it is.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
