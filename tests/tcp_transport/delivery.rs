//! Delivery: in order, with the right sender, authenticated, with large
//! memberships, and again after a peer restarts.

use std::time::Duration;

use duckduckgoose::core::Membership;
use duckduckgoose::transport::{Inbound, Transport};
use duckduckgoose::{Message, NodeId, Term};
use tokio::net::TcpListener;
use tokio::time::{Instant, timeout};

use crate::common::{KEY, Node, PATIENCE, cluster, eventually, hb, vote};

#[tokio::test]
async fn two_transports_exchange_messages_both_ways_in_order() {
    let mut nodes = cluster(2, None).await;
    for tick in 0..10 {
        nodes[0].transport.send(NodeId(2), hb(tick));
    }
    nodes[1].transport.send(NodeId(1), vote(3));
    for tick in 0..10 {
        let got = nodes[1].recv().await;
        assert_eq!(
            got,
            Inbound {
                from: NodeId(1),
                msg: hb(tick)
            }
        );
    }
    assert_eq!(
        nodes[0].recv().await,
        Inbound {
            from: NodeId(2),
            msg: vote(3)
        }
    );
    eventually("counters", || nodes[0].stats().frames_sent == 10).await;
    assert_eq!(nodes[1].stats().frames_received, 10);
    assert_eq!(nodes[1].stats().connections_accepted, 1);
    for node in &mut nodes {
        node.transport.shutdown().await;
    }
}

#[tokio::test]
async fn three_transports_deliver_with_the_right_sender() {
    let mut nodes = cluster(3, None).await;
    for from in 1..=3u64 {
        for to in 1..=3u64 {
            if from != to {
                nodes[from as usize - 1]
                    .transport
                    .send(NodeId(to), hb(from * 10 + to));
            }
        }
    }
    for (index, node) in nodes.iter_mut().enumerate() {
        let to = index as u64 + 1;
        let mut got = vec![node.recv().await, node.recv().await];
        got.sort_by_key(|inbound| inbound.from);
        let expected: Vec<_> = (1..=3u64)
            .filter(|from| *from != to)
            .map(|from| Inbound {
                from: NodeId(from),
                msg: hb(from * 10 + to),
            })
            .collect();
        assert_eq!(got, expected);
    }
    for node in &mut nodes {
        node.transport.shutdown().await;
    }
}

#[tokio::test]
async fn keyed_cluster_delivers_many_authenticated_frames() {
    // Within one queue's capacity: `send` never waits, so a burst larger
    // than the queue would (rightly) drop heartbeats.
    const MANY: u64 = 60;
    let mut nodes = cluster(3, Some(KEY)).await;
    for tick in 0..MANY {
        nodes[0].transport.send(NodeId(2), hb(tick));
        nodes[2].transport.send(NodeId(2), vote(tick));
        nodes[1].transport.send(NodeId(1), hb(tick));
    }
    let mut from_1 = Vec::new();
    let mut from_3 = Vec::new();
    for _ in 0..2 * MANY {
        let got = nodes[1].recv().await;
        match got.from {
            NodeId(1) => from_1.push(got.msg),
            NodeId(3) => from_3.push(got.msg),
            other => panic!("message from {other}"),
        }
    }
    assert_eq!(from_1, (0..MANY).map(hb).collect::<Vec<_>>());
    assert_eq!(from_3, (0..MANY).map(vote).collect::<Vec<_>>());
    for tick in 0..MANY {
        assert_eq!(
            nodes[0].recv().await,
            Inbound {
                from: NodeId(2),
                msg: hb(tick)
            }
        );
    }
    for node in &nodes {
        assert_eq!(node.stats().auth_failures, 0);
    }
    for node in &mut nodes {
        node.transport.shutdown().await;
    }
}

/// A membership of `n` voters, each with an address of `addr_len` bytes.
fn big_membership(n: u64, addr_len: usize) -> Membership {
    Membership::new((1..=n).map(NodeId)).with_addresses((1..=n).map(|id| {
        let port = format!(":{}", 7000 + id % 1000);
        let host = format!("node-{id}.").repeat(addr_len);
        (
            NodeId(id),
            format!("{}{port}", &host[..addr_len - port.len()]),
        )
    }))
}

fn hb_with(tick: u64, membership: Membership) -> Message {
    Message::Heartbeat {
        term: Term(1),
        sent_tick: tick,
        membership: Some(Box::new(membership)),
    }
}

#[tokio::test]
async fn heartbeats_carry_memberships_of_hundreds_of_members() {
    let mut nodes = cluster(2, Some(KEY)).await;
    // 500 members with 40-byte addresses, and 200 with the longest DNS
    // names (253 bytes and a port).
    let memberships = [big_membership(500, 40), big_membership(200, 259)];
    for (tick, membership) in memberships.iter().enumerate() {
        let msg = hb_with(tick as u64, membership.clone());
        nodes[0].transport.send(NodeId(2), msg.clone());
        assert_eq!(
            nodes[1].recv().await,
            Inbound {
                from: NodeId(1),
                msg
            }
        );
    }
    assert_eq!(nodes[0].stats().dropped_oversized, 0);
    for node in &mut nodes {
        node.transport.shutdown().await;
    }
}

#[tokio::test]
async fn a_membership_too_large_for_a_frame_is_dropped_and_counted_not_sent() {
    for key in [None, Some(KEY)] {
        let mut nodes = cluster(2, key).await;
        let huge = big_membership(2_000, 60);
        // Between two deliverable messages, on the same connection: the
        // connection survives, and with a key the frame sequence too.
        nodes[0].transport.send(NodeId(2), vote(1));
        assert_eq!(nodes[1].recv().await.msg, vote(1));
        nodes[0].transport.send(NodeId(2), hb_with(1, huge));
        nodes[0].transport.send(NodeId(2), vote(2));
        assert_eq!(nodes[1].recv().await.msg, vote(2));
        let stats = nodes[0].stats();
        assert_eq!(stats.dropped_oversized, 1, "{stats:?}");
        assert_eq!(stats.frames_sent, 2, "{stats:?}");
        assert_eq!(stats.reconnects, 0, "{stats:?}");
        assert_eq!(nodes[1].stats().auth_failures, 0);
        for node in &mut nodes {
            node.transport.shutdown().await;
            node.assert_nothing_received();
        }
    }
}

#[tokio::test]
async fn messages_flow_again_after_a_peer_restarts_on_its_port() {
    let mut nodes = cluster(2, Some(KEY)).await;
    nodes[0].transport.send(NodeId(2), hb(1));
    assert_eq!(nodes[1].recv().await.msg, hb(1));

    let mut b = nodes.pop().expect("two nodes");
    let b_addr = b.transport.local_addr();
    let b_config = b.transport.config().clone();
    let b_peers = b.transport.peers();
    b.transport.shutdown().await;
    drop(b);
    let listener = TcpListener::bind(b_addr)
        .await
        .expect("port free after shutdown");
    let mut b = Node::start(b_config, &b_peers, listener).await;

    // Messages written before the old connection is known dead may be lost
    // (best effort); keep sending until one gets through.
    let a = &mut nodes[0];
    let deadline = Instant::now() + PATIENCE;
    let mut tick = 100;
    let got = loop {
        assert!(Instant::now() < deadline, "no delivery after the restart");
        a.transport.send(NodeId(2), hb(tick));
        tick += 1;
        if let Ok(Some(got)) = timeout(Duration::from_millis(20), b.rx.recv()).await {
            break got;
        }
    };
    assert_eq!(got.from, NodeId(1));
    assert!(a.stats().reconnects >= 1, "{:?}", a.stats());

    // And the other way: the new node dials the old one.
    b.transport.send(NodeId(1), vote(9));
    assert_eq!(
        a.recv().await,
        Inbound {
            from: NodeId(2),
            msg: vote(9)
        }
    );
    a.transport.shutdown().await;
    b.transport.shutdown().await;
}

#[tokio::test]
async fn send_to_an_unknown_id_is_dropped_and_counted() {
    let mut nodes = cluster(2, None).await;
    nodes[0].transport.send(NodeId(42), vote(1));
    nodes[0].transport.send(NodeId(1), vote(1)); // itself: not a peer either
    assert_eq!(nodes[0].stats().unknown_peer, 2);
    assert_eq!(nodes[0].transport.queued(NodeId(42)), None);
    for node in &mut nodes {
        node.transport.shutdown().await;
    }
}
