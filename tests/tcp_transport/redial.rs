//! A peer that connects in is up again: a writer backing off after failed
//! dials (its peer's container or pod was gone) dials at once instead of at
//! the end of its backoff.

use std::collections::BTreeMap;
use std::time::Duration;

use duckduckgoose::NodeId;
use duckduckgoose::transport::{Inbound, Transport};
use tokio::net::TcpListener;
use tokio::time::sleep;

use crate::common::{Node, bind_local, config, dead_addr, eventually, vote};

/// Far beyond [`crate::common::PATIENCE`]: a delivery within the patience
/// can only come from the redial the inbound connection triggered.
const LONG_BACKOFF: Duration = Duration::from_secs(120);

#[tokio::test]
async fn a_peer_that_connects_in_is_dialled_at_once_not_after_the_backoff() {
    let gone = dead_addr().await;
    let mut slow = config(1, None);
    slow.reconnect_backoff_min = LONG_BACKOFF;
    slow.reconnect_backoff_max = LONG_BACKOFF;
    let one_listener = bind_local().await;
    let one_addr = one_listener.local_addr().expect("bound");
    let mut one = Node::start(slow, &BTreeMap::from([(NodeId(2), gone)]), one_listener).await;
    one.transport.send(NodeId(2), vote(1));
    // The first dial is refused: node 1 now backs off for two minutes.
    eventually("the first dial", || one.stats().dials >= 1).await;
    sleep(Duration::from_millis(200)).await;
    assert_eq!(one.stats().dials, 1, "{:?}", one.stats());

    // Node 2 comes back at that address and dials node 1.
    let listener = TcpListener::bind(gone)
        .await
        .expect("the address is free again");
    let mut two = Node::start(
        config(2, None),
        &BTreeMap::from([(NodeId(1), one_addr)]),
        listener,
    )
    .await;
    assert_eq!(
        two.recv().await,
        Inbound {
            from: NodeId(1),
            msg: vote(1)
        },
        "delivered long before the backoff ends"
    );
    assert_eq!(one.stats().dials, 2, "one redial: {:?}", one.stats());
    one.transport.shutdown().await;
    two.transport.shutdown().await;
}
