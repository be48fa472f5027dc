//! The handshake's and the key's refusals: nodes that must not talk do not.

use std::collections::BTreeMap;

use duckduckgoose::NodeId;
use duckduckgoose::transport::Transport;
use duckduckgoose::transport::tcp::{TcpConfig, TransportStats};

use crate::common::{KEY, Node, bind_local, config, eventually, vote};

/// Two nodes whose configurations differ as `tweak` says.
async fn mismatched_pair(tweak: impl Fn(&mut TcpConfig, &mut TcpConfig)) -> (Node, Node) {
    let (la, lb) = (bind_local().await, bind_local().await);
    let peers = BTreeMap::from([
        (NodeId(1), la.local_addr().expect("bound")),
        (NodeId(2), lb.local_addr().expect("bound")),
    ]);
    let mut ca = config(1, None);
    let mut cb = config(2, None);
    tweak(&mut ca, &mut cb);
    (
        Node::start(ca, &peers, la).await,
        Node::start(cb, &peers, lb).await,
    )
}

async fn assert_nothing_flows(mut a: Node, mut b: Node) -> (TransportStats, TransportStats) {
    a.transport.send(NodeId(2), vote(1));
    b.transport.send(NodeId(1), vote(2));
    // Several failed rounds each way, so a late success would show.
    eventually("refusals on both sides", || {
        let (sa, sb) = (a.stats(), b.stats());
        sa.handshake_failures + sa.auth_failures >= 3
            && sb.handshake_failures + sb.auth_failures >= 3
    })
    .await;
    for node in [&mut a, &mut b] {
        node.transport.shutdown().await;
        node.assert_nothing_received();
        let stats = node.stats();
        assert_eq!(stats.frames_sent, 0, "{stats:?}");
        assert_eq!(stats.frames_received, 0, "{stats:?}");
        assert_eq!(stats.connections_accepted, 0, "{stats:?}");
    }
    (a.stats(), b.stats())
}

#[tokio::test]
async fn wrong_cluster_key_delivers_nothing() {
    let (a, b) = mismatched_pair(|a, b| {
        a.cluster_key = Some(b"key one".to_vec());
        b.cluster_key = Some(b"key two".to_vec());
    })
    .await;
    let (sa, sb) = assert_nothing_flows(a, b).await;
    // Each dialer refuses the other's ack tag.
    assert!(
        sa.auth_failures >= 1 && sb.auth_failures >= 1,
        "{sa:?} {sb:?}"
    );
}

#[tokio::test]
async fn keyed_and_unkeyed_nodes_do_not_talk() {
    let (a, b) = mismatched_pair(|a, _| a.cluster_key = Some(KEY.to_vec())).await;
    let (sa, sb) = assert_nothing_flows(a, b).await;
    assert!(
        sa.auth_failures >= 1 && sb.auth_failures >= 1,
        "{sa:?} {sb:?}"
    );
}

#[tokio::test]
async fn wrong_cluster_id_delivers_nothing() {
    let (a, b) = mismatched_pair(|a, _| a.cluster_id = "another-cluster".to_owned()).await;
    let (sa, sb) = assert_nothing_flows(a, b).await;
    assert_eq!(sa.auth_failures + sb.auth_failures, 0);
}

#[tokio::test]
async fn hello_addressed_to_another_node_is_rejected() {
    // Node 1 believes node 3 listens where node 2 does.
    let (l1, l2) = (bind_local().await, bind_local().await);
    let a1 = l1.local_addr().expect("bound");
    let a2 = l2.local_addr().expect("bound");
    let a_peers = BTreeMap::from([(NodeId(1), a1), (NodeId(3), a2)]);
    let b_peers = BTreeMap::from([(NodeId(1), a1), (NodeId(2), a2)]);
    let mut a = Node::start(config(1, None), &a_peers, l1).await;
    let mut b = Node::start(config(2, None), &b_peers, l2).await;
    a.transport.send(NodeId(3), vote(1));
    eventually("refusals", || b.stats().handshake_failures >= 2).await;
    a.transport.shutdown().await;
    b.transport.shutdown().await;
    b.assert_nothing_received();
    assert_eq!(b.stats().connections_accepted, 0);
}
