//! The TCP transport authenticates who talks and bounds what it costs; it
//! does not decide who may talk. A node of the cluster outside the peer set
//! (a "stranger") that passes the handshake gets a connection, at most
//! `MAX_STRANGER_CONNECTIONS` at once, and its messages reach the runtime,
//! whose election admits or drops them. A node with the wrong cluster key
//! or cluster id still gets nothing through.
//!
//! Everything runs on 127.0.0.1 with ports chosen by the OS; every
//! transport is shut down at the end of its test (and aborted with it on a
//! failure, as the test's runtime drops it). Waits are bounded by a generous
//! patience; no assertion is about speed.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use duckduckgoose::NodeId;
use duckduckgoose::transport::tcp::MAX_STRANGER_CONNECTIONS;
use duckduckgoose::transport::{Inbound, Transport};

use super::common::*;

/// Before the election owned admission, this hello was refused in the
/// handshake. An authenticated node outside the peer set now gets through,
/// as a stranger, with or without a cluster key (without one, its id is
/// what it claims); the election decides what its messages are worth.
#[tokio::test]
async fn an_authenticated_node_outside_the_peer_set_is_delivered_as_a_stranger() {
    for key in [Some(KEY), None] {
        // Node 2 knows only node 1; node 9 knows node 2 and dials it.
        let l2 = bind_local().await;
        let a2 = l2.local_addr().expect("bound");
        let known = BTreeMap::from([(NodeId(1), bind_local().await.local_addr().expect("b"))]);
        let mut b = Node::start(config(2, key), &known, l2).await;
        let mut stranger = Node::knowing(9, 2, a2, key).await;
        stranger.transport.send(NodeId(2), vote(5));
        assert_eq!(
            b.recv().await,
            Inbound {
                from: NodeId(9),
                msg: vote(5)
            },
            "keyed: {}",
            key.is_some()
        );
        let stats = b.stats();
        assert_eq!(stats.connections_accepted, 1, "{stats:?}");
        assert_eq!(stats.stranger_connections, 1, "{stats:?}");
        assert_eq!(stats.auth_failures + stats.strangers_refused, 0);
        // Node 2 still sends nothing to node 9: that takes admission.
        b.transport.send(NodeId(9), vote(6));
        assert_eq!(b.stats().unknown_peer, 1);
        shutdown_all([&mut stranger, &mut b]).await;
    }
}

/// What the handshake still refuses, peer or not: a node with the wrong key
/// or the wrong cluster id. Neither reaches the runtime or takes a
/// stranger's slot.
#[tokio::test]
async fn the_wrong_key_or_cluster_id_gets_nothing_through() {
    let l2 = bind_local().await;
    let a2 = l2.local_addr().expect("bound");
    let mut b = Node::start(config(2, Some(KEY)), &BTreeMap::<NodeId, String>::new(), l2).await;
    let wrong_key = Node::knowing(9, 2, a2, Some(b"another key")).await;
    let mut other_cluster_config = config(8, Some(KEY));
    other_cluster_config.cluster_id = "another-cluster".to_owned();
    let other_cluster = Node::start(
        other_cluster_config,
        &BTreeMap::from([(NodeId(2), a2)]),
        bind_local().await,
    )
    .await;
    let mut intruders = [wrong_key, other_cluster];
    for intruder in &mut intruders {
        intruder.transport.send(NodeId(2), vote(5));
    }
    // The wrong key's dialer refuses node 2's ack tag and hangs up; node 2
    // refuses the other cluster's hello. Each redials and is refused again.
    eventually("every intruder refused twice", || {
        intruders[0].stats().auth_failures >= 2 && b.stats().handshake_failures >= 4
    })
    .await;
    let stats = b.stats();
    assert_eq!(stats.connections_accepted, 0, "{stats:?}");
    assert_eq!(stats.stranger_connections, 0, "{stats:?}");
    shutdown_all(intruders.iter_mut().chain([&mut b])).await;
    b.assert_nothing_received();
}

#[tokio::test]
async fn strangers_beyond_the_cap_are_refused_and_counted_until_a_slot_frees() {
    let cap = MAX_STRANGER_CONNECTIONS as u64;
    let l1 = bind_local().await;
    let a1 = l1.local_addr().expect("bound");
    let peer_listener = bind_local().await;
    let peers = BTreeMap::from([(NodeId(2), peer_listener.local_addr().expect("bound"))]);
    let mut a = Node::start(config(1, Some(KEY)), &peers, l1).await;

    let mut strangers = Vec::new();
    for id in 10..10 + cap {
        let mut stranger = Node::knowing(id, 1, a1, Some(KEY)).await;
        stranger.transport.send(NodeId(1), vote(id));
        assert_eq!(a.recv().await.from, NodeId(id));
        strangers.push(stranger);
    }
    assert_eq!(a.stats().stranger_connections, cap);

    // One more is refused, in its handshake, again at every redial; what it
    // sends waits.
    let mut late = Node::knowing(99, 1, a1, Some(KEY)).await;
    late.transport.send(NodeId(1), vote(99));
    eventually("the late stranger refused twice", || {
        a.stats().strangers_refused >= 2
    })
    .await;
    a.assert_nothing_received();
    assert_eq!(late.transport.queued(NodeId(1)), Some(1));
    assert!(late.stats().handshake_failures >= 2);
    assert_eq!(a.stats().handshake_failures, 0, "counted apart");

    // A peer is never counted against the cap.
    let mut peer = Node::start(
        config(2, Some(KEY)),
        &BTreeMap::from([(NodeId(1), a1)]),
        peer_listener,
    )
    .await;
    peer.transport.send(NodeId(1), vote(2));
    assert_eq!(
        a.recv().await,
        Inbound {
            from: NodeId(2),
            msg: vote(2)
        }
    );

    // One stranger leaves: the late one gets its slot.
    let mut first = strangers.remove(0);
    first.transport.shutdown().await;
    assert_eq!(
        a.recv().await,
        Inbound {
            from: NodeId(99),
            msg: vote(99)
        }
    );
    assert_eq!(a.stats().stranger_connections, cap + 1);
    shutdown_all(strangers.iter_mut().chain([&mut late, &mut peer, &mut a])).await;
}

/// Before the election owned admission, a removed peer's redials were
/// refused in the handshake. Its connection is still closed at once (what
/// the transport held for it goes), and messages for it are dropped; it may
/// come back only as a stranger, whose messages the election judges.
#[tokio::test]
async fn a_removed_peer_is_cut_off_and_heard_again_only_as_a_stranger() {
    let mut nodes = cluster(3, None).await;
    let addrs: Vec<SocketAddr> = nodes.iter().map(Node::addr).collect();
    // Every connection to A is up before counting.
    nodes[0].transport.send(NodeId(3), vote(1));
    assert_eq!(nodes[2].recv().await.msg, vote(1));
    for from in [1, 2] {
        nodes[from].transport.send(NodeId(1), vote(2));
        assert_eq!(nodes[0].recv().await.msg, vote(2));
    }
    let before = nodes[0].stats();
    assert_eq!(before.handshake_failures, 0, "{before:?}");
    assert_eq!(before.stranger_connections, 0, "{before:?}");

    nodes[0].transport.set_peer_addrs(BTreeMap::from([
        (NodeId(1), addrs[0]),
        (NodeId(2), addrs[1]),
    ]));

    // A's messages for C are dropped and counted.
    nodes[0].transport.send(NodeId(3), vote(3));
    assert_eq!(nodes[0].transport.queued(NodeId(3)), None);
    assert_eq!(nodes[0].stats().unknown_peer, before.unknown_peer + 1);

    // C's connection to A is closed; C redials and is taken as a stranger:
    // its next message arrives, for the election to judge.
    eventually("C back as a stranger", || {
        nodes[0].stats().stranger_connections >= 1
    })
    .await;
    nodes[2].transport.send(NodeId(1), vote(4));
    assert_eq!(
        nodes[0].recv().await,
        Inbound {
            from: NodeId(3),
            msg: vote(4)
        }
    );
    let stats = nodes[0].stats();
    assert_eq!(stats.handshake_failures, 0, "{stats:?}");
    assert_eq!(stats.connections_accepted, before.connections_accepted + 1);

    // Removal is A's view only: B and C still talk.
    nodes[1].transport.send(NodeId(3), vote(5));
    assert_eq!(nodes[2].recv().await.msg, vote(5));
    nodes[2].transport.send(NodeId(2), vote(6));
    assert_eq!(nodes[1].recv().await.msg, vote(6));

    // Added back, C keeps its connection and A reaches it again.
    nodes[0]
        .transport
        .set_peer_addrs(addrs.iter().zip(1..).map(|(a, id)| (NodeId(id), *a)));
    nodes[2].transport.send(NodeId(1), vote(7));
    assert_eq!(nodes[0].recv().await.msg, vote(7));
    nodes[0].transport.send(NodeId(3), vote(8));
    assert_eq!(nodes[2].recv().await.msg, vote(8));
    assert_eq!(
        nodes[0].stats().connections_accepted,
        stats.connections_accepted,
        "the stranger's connection became the peer's"
    );
    shutdown_all(nodes.iter_mut()).await;
}
