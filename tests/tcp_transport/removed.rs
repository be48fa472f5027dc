//! A removed node's transport (`Transport::set_removed`) dials only to
//! deliver: no connection while it has nothing to say, one when it answers,
//! let go once idle, nothing retried; back to a member, it dials at once.
//!
//! Everything runs on 127.0.0.1 with ports chosen by the OS; every
//! transport is shut down at the end of its test (and aborted with it on a
//! failure, as the test's runtime drops it).

use std::collections::BTreeMap;
use std::time::Duration;

use duckduckgoose::NodeId;
use duckduckgoose::transport::tcp::TcpTransport;
use duckduckgoose::transport::{Inbound, Transport};
use tokio::sync::mpsc;
use tokio::time::sleep;

use super::common::*;

/// How long the tests watch for a dial that must not come: many backoff
/// steps of the test configuration (5 to 50 ms).
const QUIET: Duration = Duration::from_millis(500);

/// The transport's idle limit for a removed node's connection
/// (`REMOVED_IDLE_CLOSE`, crate-private), which a test waits out.
const IDLE_CLOSE: Duration = Duration::from_secs(5);

/// Node `id` knowing `peers`, marked removed before it starts.
async fn removed_node(id: u64, peers: &BTreeMap<NodeId, String>) -> Node {
    let mut transport =
        TcpTransport::new(config(id, Some(KEY)), bind_local().await).expect("valid config");
    transport.set_peers(peers);
    transport.set_removed(true);
    let (tx, rx) = mpsc::channel(64);
    transport.start(tx).await.expect("first start");
    let stats = transport.stats_handle();
    Node {
        transport,
        rx,
        stats,
    }
}

#[tokio::test]
async fn a_removed_node_dials_only_to_deliver_lets_idle_connections_go_and_dials_again_once_added()
{
    let lb = bind_local().await;
    let b_addr = lb.local_addr().expect("bound");
    let mut b = Node::start(config(2, Some(KEY)), &BTreeMap::<NodeId, String>::new(), lb).await;
    let mut a = removed_node(1, &BTreeMap::from([(NodeId(2), b_addr.to_string())])).await;
    let baseline_tasks = b.stats().tasks_running;

    // Nothing to say: no dial at all.
    sleep(QUIET).await;
    assert_eq!(a.stats().dials, 0, "{:?}", a.stats());
    assert_eq!(b.stats().connections_accepted, 0);

    // An answer to deliver: one dial, delivered.
    a.transport.send(NodeId(2), vote(7));
    assert_eq!(
        b.recv().await,
        Inbound {
            from: NodeId(1),
            msg: vote(7)
        }
    );
    assert_eq!(a.stats().dials, 1);
    assert_eq!(b.stats().stranger_connections, 1, "{:?}", b.stats());

    // Idle, the connection goes (B's reader ends), and nothing redials it.
    sleep(IDLE_CLOSE).await;
    eventually("the idle connection to close", || {
        b.stats().tasks_running == baseline_tasks
    })
    .await;
    sleep(QUIET).await;
    assert_eq!(a.stats().dials, 1, "{:?}", a.stats());
    assert_eq!(a.stats().reconnects, 0);

    // A member again (the Goose added it back): it dials at once, with
    // nothing queued, as a member does at start.
    a.transport.set_removed(false);
    eventually("a dial at once", || a.stats().dials == 2).await;
    eventually("B to accept it", || b.stats().connections_accepted == 2).await;
    b.assert_nothing_received();
    shutdown_all([&mut a, &mut b]).await;
}

#[tokio::test]
async fn a_removed_node_drops_what_it_cannot_deliver_at_the_first_attempt() {
    let dead = dead_addr().await;
    let mut a = removed_node(1, &BTreeMap::from([(NodeId(2), dead.to_string())])).await;
    a.transport.send(NodeId(2), vote(3));
    eventually("the failed dial to drop the answer", || {
        a.stats().dropped_write_failed == 1
    })
    .await;
    assert_eq!(a.transport.queued(NodeId(2)), Some(0));
    // Stale by now: never retried.
    sleep(QUIET).await;
    let stats = a.stats();
    assert_eq!(stats.dials, 1, "{stats:?}");
    assert_eq!(stats.dropped_write_failed, 1);
    shutdown_all([&mut a]).await;
}
