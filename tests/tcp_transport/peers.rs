//! A membership that changes at run time: `set_peers` and `set_peer_addrs`.

use std::collections::BTreeMap;
use std::time::Duration;

use duckduckgoose::NodeId;
use duckduckgoose::transport::tcp::TcpTransport;
use duckduckgoose::transport::{Inbound, Transport};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

use crate::common::{
    Node, PATIENCE, bind_local, by_name, cluster, config, dead_addr, eventually, hb, vote,
};

/// A peer map from `(id, address)` pairs.
fn strings(peers: &[(u64, String)]) -> BTreeMap<NodeId, String> {
    peers
        .iter()
        .map(|(id, addr)| (NodeId(*id), addr.clone()))
        .collect()
}

#[tokio::test]
async fn peers_added_at_run_time_by_address_or_name_exchange_messages() {
    let mut nodes = cluster(2, None).await;
    let a_addr = nodes[0].transport.local_addr();
    let b_addr = nodes[1].transport.local_addr();
    nodes[0].transport.send(NodeId(3), vote(1));
    assert_eq!(nodes[0].stats().unknown_peer, 1, "not a peer yet");

    // C knows A and B from the start; they learn about it later, so its
    // first dials are refused until they do.
    let lc = bind_local().await;
    let c_addr = lc.local_addr().expect("bound");
    let all = BTreeMap::from([
        (NodeId(1), a_addr),
        (NodeId(2), b_addr),
        (NodeId(3), c_addr),
    ]);
    let mut c = Node::start(config(3, None), &all, lc).await;

    // Both maps describe the whole cluster, each node's own id included; B
    // reaches C through the resolver.
    let a_view = strings(&[
        (1, a_addr.to_string()),
        (2, b_addr.to_string()),
        (3, c_addr.to_string()),
    ]);
    let b_view = strings(&[
        (1, a_addr.to_string()),
        (2, b_addr.to_string()),
        (3, by_name(c_addr)),
    ]);
    nodes[0].transport.set_peers(&a_view);
    nodes[1].transport.set_peers(&b_view);
    assert_eq!(
        nodes[0].transport.peers(),
        strings(&[(2, b_addr.to_string()), (3, c_addr.to_string())])
    );
    assert_eq!(nodes[1].transport.peers()[&NodeId(3)], by_name(c_addr));
    assert_eq!(nodes[0].transport.queued(NodeId(1)), None, "own id ignored");

    nodes[0].transport.send(NodeId(3), vote(2));
    nodes[1].transport.send(NodeId(3), vote(3));
    c.transport.send(NodeId(1), vote(4));
    c.transport.send(NodeId(2), vote(5));
    let mut got = vec![c.recv().await, c.recv().await];
    got.sort_by_key(|inbound| inbound.from);
    assert_eq!(
        got,
        [
            Inbound {
                from: NodeId(1),
                msg: vote(2)
            },
            Inbound {
                from: NodeId(2),
                msg: vote(3)
            }
        ]
    );
    assert_eq!(
        nodes[0].recv().await,
        Inbound {
            from: NodeId(3),
            msg: vote(4)
        }
    );
    assert_eq!(
        nodes[1].recv().await,
        Inbound {
            from: NodeId(3),
            msg: vote(5)
        }
    );
    // The old link is untouched, and sending to itself is still refused.
    nodes[0].transport.send(NodeId(2), vote(6));
    assert_eq!(nodes[1].recv().await.msg, vote(6));
    nodes[0].transport.send(NodeId(1), vote(7));
    assert_eq!(nodes[0].stats().unknown_peer, 2);
    assert_eq!(nodes[1].stats().resolve_failures, 0);
    for node in nodes.iter_mut().chain([&mut c]) {
        node.transport.shutdown().await;
        assert_eq!(node.stats().tasks_running, 0);
    }
}

#[tokio::test]
async fn peers_set_before_start_are_dialled_at_start() {
    let (la, lb) = (bind_local().await, bind_local().await);
    let a_addr = la.local_addr().expect("bound");
    let b_addr = lb.local_addr().expect("bound");
    let mut b = Node::start(config(2, None), &BTreeMap::from([(NodeId(1), a_addr)]), lb).await;
    let mut a = TcpTransport::new(config(1, None), la).expect("valid config");
    a.set_peers(&strings(&[(1, a_addr.to_string()), (2, by_name(b_addr))]));
    assert_eq!(a.queued(NodeId(2)), Some(0));
    a.send(NodeId(2), vote(1));
    assert_eq!(a.queued(NodeId(2)), Some(1));
    let (tx, _rx) = mpsc::channel(8);
    a.start(tx).await.expect("first start");
    assert_eq!(
        b.recv().await,
        Inbound {
            from: NodeId(1),
            msg: vote(1)
        }
    );
    a.shutdown().await;
    b.transport.shutdown().await;
}

#[tokio::test]
async fn a_peer_that_moves_is_followed_to_its_new_address() {
    // A believes C is where nothing listens; what it queues meanwhile
    // follows C to its real address, in order.
    let la = bind_local().await;
    let a_addr = la.local_addr().expect("bound");
    let mut a = Node::start(
        config(1, None),
        &BTreeMap::from([(NodeId(3), dead_addr().await)]),
        la,
    )
    .await;
    for term in 1..=3 {
        a.transport.send(NodeId(3), vote(term));
    }
    let c_peers = BTreeMap::from([(NodeId(1), a_addr)]);
    let lc = bind_local().await;
    let c_addr = lc.local_addr().expect("bound");
    let mut c = Node::start(config(3, None), &c_peers, lc).await;
    a.transport
        .set_peer_addrs(BTreeMap::from([(NodeId(1), a_addr), (NodeId(3), c_addr)]));
    for term in 1..=3 {
        assert_eq!(
            c.recv().await,
            Inbound {
                from: NodeId(1),
                msg: vote(term)
            }
        );
    }

    // C restarts on another port; A is told, as a string, and follows.
    c.transport.shutdown().await;
    drop(c);
    let lc = bind_local().await;
    let c_addr = lc.local_addr().expect("bound");
    let mut c = Node::start(config(3, None), &c_peers, lc).await;
    a.transport.set_peers(&strings(&[
        (1, a_addr.to_string()),
        (3, c_addr.to_string()),
    ]));
    // A message written to the old connection before A learned it was dead
    // may be lost (best effort); keep sending until one gets through.
    let deadline = Instant::now() + PATIENCE;
    let mut tick = 0;
    let got = loop {
        assert!(Instant::now() < deadline, "no delivery at the new address");
        a.transport.send(NodeId(3), hb(tick));
        tick += 1;
        if let Ok(Some(got)) = timeout(Duration::from_millis(20), c.rx.recv()).await {
            break got;
        }
    };
    assert_eq!(got.from, NodeId(1));
    // The moved node still reaches A: A knows it by id, not by address.
    c.transport.send(NodeId(1), vote(9));
    assert_eq!(
        a.recv().await,
        Inbound {
            from: NodeId(3),
            msg: vote(9)
        }
    );
    a.transport.shutdown().await;
    c.transport.shutdown().await;
}

#[tokio::test]
async fn removing_a_peer_gives_its_queue_the_flush_timeout_then_drops_it() {
    let la = bind_local().await;
    let a_addr = la.local_addr().expect("bound");
    let mut a = Node::start(
        config(1, None),
        &BTreeMap::from([(NodeId(2), dead_addr().await)]),
        la,
    )
    .await;
    for term in 1..=5 {
        a.transport.send(NodeId(2), vote(term));
    }
    assert_eq!(a.transport.queued(NodeId(2)), Some(5));
    // The acceptor and the writer for node 2.
    assert_eq!(a.stats().tasks_running, 2);

    a.transport
        .set_peer_addrs(BTreeMap::from([(NodeId(1), a_addr)]));
    // What was queued gets the flush timeout to leave; node 2 is dead, so
    // it is dropped then.
    assert_eq!(a.stats().dropped_peer_removed, 0);
    eventually("the queue is dropped after the flush timeout", || {
        a.stats().dropped_peer_removed == 5
    })
    .await;
    assert_eq!(a.transport.queued(NodeId(2)), None);
    assert!(a.transport.peers().is_empty());
    eventually("the writer ends", || a.stats().tasks_running == 1).await;
    a.transport.send(NodeId(2), vote(6));
    assert_eq!(a.stats().unknown_peer, 1);
    a.transport.shutdown().await;
    assert_eq!(a.stats().tasks_running, 0);
}

#[tokio::test]
async fn an_unresolvable_address_is_counted_harmless_and_fixable() {
    let mut nodes = cluster(2, None).await;
    let a_addr = nodes[0].transport.local_addr();
    let b_addr = nodes[1].transport.local_addr();
    nodes[0].transport.set_peers(&strings(&[
        (2, b_addr.to_string()),
        (3, "no-such-host.invalid:1".to_owned()),
        (4, "not an address".to_owned()),
    ]));
    nodes[0].transport.send(NodeId(3), vote(1));
    // Each failed attempt counts, and both keep being retried.
    eventually("resolution failures", || {
        nodes[0].stats().resolve_failures >= 4
    })
    .await;
    assert_eq!(nodes[0].transport.queued(NodeId(3)), Some(1));
    nodes[0].transport.send(NodeId(2), vote(2));
    assert_eq!(nodes[1].recv().await.msg, vote(2));

    // Fixing the address delivers what waited.
    let lc = bind_local().await;
    let c_addr = lc.local_addr().expect("bound");
    let mut c = Node::start(config(3, None), &BTreeMap::from([(NodeId(1), a_addr)]), lc).await;
    nodes[0]
        .transport
        .set_peers(&strings(&[(2, b_addr.to_string()), (3, by_name(c_addr))]));
    assert_eq!(
        c.recv().await,
        Inbound {
            from: NodeId(1),
            msg: vote(1)
        }
    );
    for node in nodes.iter_mut().chain([&mut c]) {
        node.transport.shutdown().await;
        assert_eq!(node.stats().tasks_running, 0);
    }
}
