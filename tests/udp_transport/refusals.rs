//! What the receiver refuses, each counted in its own counter: replays,
//! reflections, another key, another cluster, a source that is no peer's
//! (without a key), garbage.

use duckduckgoose::NodeId;
use duckduckgoose::transport::Transport;
use duckduckgoose::transport::udp::MAX_DATAGRAM_LEN;
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

use crate::common::{KEY, Node, capture, hb, peers, raw, raw_on, refused, transport, transport_in};

#[tokio::test]
async fn a_replayed_datagram_is_dropped_and_counted() {
    for key in [Some(KEY), None] {
        let mut a = transport(1, key).await;
        let mut b = Node::start(transport(2, key).await).await;
        b.transport.set_peers(&peers(&[(1, a.local_addr())]));
        let bytes = capture(&mut a, 2, hb(5)).await;
        let attacker = raw().await;
        attacker.send_to(&bytes, b.addr).await.expect("sent");
        assert_eq!(b.recv().await.msg, hb(5), "the first copy is fresh");
        for _ in 0..3 {
            attacker.send_to(&bytes, b.addr).await.expect("sent");
        }
        let stats = b.stats_until(|s| s.replays == 3).await;
        assert_eq!((stats.datagrams_received, refused(&stats)), (1, 3));
        assert!(b.rx.try_recv().is_err(), "no replay was delivered");
        b.transport.shutdown().await;
    }
}

#[tokio::test]
async fn a_datagram_for_another_node_is_a_reflection() {
    let mut a = transport(1, Some(KEY)).await;
    let mut b = Node::start(transport(2, Some(KEY)).await).await;
    // Node 1's datagram for node 3, sent on to node 2.
    let for_3 = capture(&mut a, 3, hb(1)).await;
    // Node 2's own datagram (for node 1), sent back at it.
    let from_2 = capture(&mut b.transport, 1, hb(2)).await;
    b.transport.set_peers(&peers(&[(1, a.local_addr())]));
    let attacker = raw().await;
    attacker.send_to(&for_3, b.addr).await.expect("sent");
    attacker.send_to(&from_2, b.addr).await.expect("sent");
    let stats = b.stats_until(|s| s.reflections == 2).await;
    assert_eq!((stats.datagrams_received, refused(&stats)), (0, 2));
    b.transport.shutdown().await;
}

#[tokio::test]
async fn another_key_is_an_auth_failure_and_another_cluster_is_told_apart() {
    let mut b = Node::start(transport(2, Some(KEY)).await).await;
    let mut wrong_key = transport(1, Some(b"another key")).await;
    let mut no_key = transport(3, None).await;
    let mut other_cluster = transport_in("another-cluster", 1, Some(KEY)).await;
    for sender in [&mut wrong_key, &mut no_key, &mut other_cluster] {
        sender.set_peer_addrs([(NodeId(2), b.addr)]);
        sender.send(NodeId(2), hb(1));
    }
    let stats = b.stats_until(|s| refused(s) == 3).await;
    assert_eq!(
        (
            stats.auth_failures,
            stats.other_cluster,
            stats.datagrams_received
        ),
        (2, 1, 0)
    );
    b.transport.shutdown().await;
}

#[tokio::test]
async fn without_a_key_a_datagram_from_an_address_that_is_no_peers_is_dropped() {
    let Some(stranger) = raw_on("127.0.0.2").await else {
        eprintln!("127.0.0.2 cannot be bound here (not Linux?); test skipped");
        return;
    };
    let mut a = transport(1, None).await;
    let mut b = Node::start(transport(2, None).await).await;
    b.transport.set_peers(&peers(&[(1, a.local_addr())]));
    let first = capture(&mut a, 2, hb(1)).await;
    let second = capture(&mut a, 2, hb(2)).await;
    // A valid datagram from 127.0.0.2 is refused...
    stranger.send_to(&first, b.addr).await.expect("sent");
    b.stats_until(|s| s.foreign_address == 1).await;
    // ...and the next one, from the peer's IP (127.0.0.1), accepted.
    raw().await.send_to(&second, b.addr).await.expect("sent");
    assert_eq!(b.recv().await.msg, hb(2));
    let stats = b.stats.snapshot();
    assert_eq!((stats.datagrams_received, refused(&stats)), (1, 1));
    b.transport.shutdown().await;
}

#[tokio::test]
async fn garbage_is_counted_and_the_node_keeps_working() {
    for key in [Some(KEY), None] {
        let mut a = Node::start(transport(1, key).await).await;
        let mut b = Node::start(transport(2, key).await).await;
        b.transport.set_peers(&peers(&[(1, a.addr)]));
        let valid = capture(&mut a.transport, 2, hb(1)).await;
        a.transport.set_peers(&peers(&[(2, b.addr)]));
        let attacker = raw().await;
        let mut rng = StdRng::seed_from_u64(7);
        let count = 500;
        for i in 0..count {
            let bytes = if i % 2 == 0 {
                let mut bytes = vec![0; rng.random_range(0..=MAX_DATAGRAM_LEN + 100)];
                rng.fill_bytes(&mut bytes);
                bytes
            } else {
                // A valid datagram with one byte changed. Without a key the
                // ids, epoch and counter are left alone: changed, they make
                // another valid datagram (a newer epoch would even make node
                // 1's real ones stale).
                let mut bytes = valid.clone();
                let at = loop {
                    let at = rng.random_range(0..bytes.len());
                    if key.is_some() || !(13..45).contains(&at) {
                        break at;
                    }
                };
                bytes[at] ^= rng.random_range(1..=255u8);
                bytes
            };
            attacker.send_to(&bytes, b.addr).await.expect("sent");
            // Paced, so the socket's receive buffer never overflows.
            if i % 50 == 0 {
                b.stats_until(|s| refused(s) + s.datagrams_received > i)
                    .await;
            }
        }
        let stats = b
            .stats_until(|s| refused(s) + s.datagrams_received == count)
            .await;
        println!(
            "{count} garbage datagrams (key: {}): {stats:?}",
            key.is_some()
        );
        if key.is_some() {
            assert_eq!(stats.datagrams_received, 0, "no garbage was delivered");
        }
        // Still alive: a real message gets through (after whatever valid
        // message a changed byte made, without a key).
        a.transport.send(NodeId(2), hb(99));
        while b.recv().await.msg != hb(99) {}
        a.transport.shutdown().await;
        b.transport.shutdown().await;
    }
}
