//! Waiting on nodes: for a condition, for one Goose, for the first Goose.
//!
//! Every wait is bounded, so a bug fails the test instead of hanging it.
//! The clock is tokio's, so these work under paused time as in real time.

use std::time::Duration;

use duckduckgoose::runtime::NodeHandle;
use duckduckgoose::{NodeId, Role};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep};

/// How often the sampling waits look.
const SAMPLE_PERIOD: Duration = Duration::from_millis(1);

/// The nodes of `nodes` that answer `is_goose()` now.
pub fn geese(nodes: &[NodeHandle]) -> Vec<NodeHandle> {
    nodes
        .iter()
        .filter(|node| node.is_goose())
        .cloned()
        .collect()
}

/// `nodes` without the node `except`.
pub fn others(nodes: &[NodeHandle], except: NodeId) -> Vec<NodeHandle> {
    nodes
        .iter()
        .filter(|node| node.id() != except)
        .cloned()
        .collect()
}

/// Samples `nodes` every millisecond until `done` holds, asserting at every
/// sample that at most one of them answers `is_goose()`.
pub async fn wait_until(
    nodes: &[NodeHandle],
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(&[NodeHandle]) -> bool,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let geese = geese(nodes);
        assert!(
            geese.len() <= 1,
            "two Geese at once: {:?}",
            geese.iter().map(NodeHandle::status).collect::<Vec<_>>()
        );
        if done(nodes) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(SAMPLE_PERIOD).await;
    }
}

/// Waits (as [`wait_until`] does) until exactly one of `nodes` is the Goose
/// and returns it.
pub async fn single_goose(nodes: &[NodeHandle], timeout: Duration) -> NodeHandle {
    wait_until(nodes, timeout, "a Goose", |nodes| geese(nodes).len() == 1).await;
    geese(nodes).remove(0)
}

/// Polls `done` every millisecond until it holds.
pub async fn eventually(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(SAMPLE_PERIOD).await;
    }
}

/// Waits on the status channels of all `nodes` at once for the first to
/// hold a lease; returns it and the instant its waiter saw it (no polling
/// interval in the figure).
pub async fn first_goose(nodes: &[NodeHandle], timeout: Duration) -> (NodeHandle, Instant) {
    let (found, mut first) = mpsc::channel(nodes.len().max(1));
    let waiters: Vec<_> = nodes
        .iter()
        .cloned()
        .map(|node| {
            let found = found.clone();
            tokio::spawn(async move {
                if let Ok(Ok(_)) =
                    tokio::time::timeout(timeout, node.wait_for_role(Role::Goose)).await
                {
                    let _ = found.send((node, Instant::now())).await;
                }
            })
        })
        .collect();
    drop(found);
    let result = first.recv().await;
    for waiter in waiters {
        waiter.abort();
    }
    result.unwrap_or_else(|| panic!("no Goose among {} nodes within {timeout:?}", nodes.len()))
}
