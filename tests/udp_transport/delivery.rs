//! Messages arrive both ways as datagrams; a membership goes over TCP.

use duckduckgoose::core::Membership;
use duckduckgoose::transport::Transport;
use duckduckgoose::{Message, NodeId, Term};

use crate::common::{KEY, Node, ack, hb, peers, transport};

async fn both_ways(key: Option<&[u8]>) {
    let mut a = Node::start(transport(1, key).await).await;
    let mut b = Node::start(transport(2, key).await).await;
    a.transport.set_peers(&peers(&[(2, b.addr)]));
    b.transport.set_peers(&peers(&[(1, a.addr)]));
    a.transport.send(NodeId(2), hb(7));
    let got = b.recv().await;
    assert_eq!((got.from, got.msg), (NodeId(1), hb(7)));
    b.transport.send(NodeId(1), ack(7));
    let got = a.recv().await;
    assert_eq!((got.from, got.msg), (NodeId(2), ack(7)));
    for (node, sent) in [(&a, 1), (&b, 1)] {
        let stats = node.stats.snapshot();
        assert_eq!(
            (
                stats.datagrams_sent,
                stats.datagrams_received,
                stats.sent_over_tcp
            ),
            (sent, 1, 0)
        );
        assert_eq!(stats.tcp.frames_sent + stats.tcp.frames_received, 0);
    }
    a.transport.shutdown().await;
    b.transport.shutdown().await;
    assert_eq!(a.stats.snapshot().tcp.tasks_running, 0);
}

#[tokio::test]
async fn datagrams_arrive_both_ways_without_a_key() {
    both_ways(None).await;
}

#[tokio::test]
async fn datagrams_arrive_both_ways_with_a_key() {
    both_ways(Some(KEY)).await;
}

#[tokio::test]
async fn a_heartbeat_carrying_a_membership_goes_over_tcp() {
    let mut a = Node::start(transport(1, Some(KEY)).await).await;
    let mut b = Node::start(transport(2, Some(KEY)).await).await;
    a.transport.set_peers(&peers(&[(2, b.addr)]));
    b.transport.set_peers(&peers(&[(1, a.addr)]));
    let heartbeat = Message::Heartbeat {
        term: Term(4),
        sent_tick: 9,
        membership: Some(Box::new(Membership::new([NodeId(1), NodeId(2)]))),
    };
    a.transport.send(NodeId(2), heartbeat.clone());
    let got = b.recv().await;
    assert_eq!((got.from, got.msg), (NodeId(1), heartbeat));
    let sender = a.stats.snapshot();
    assert_eq!((sender.sent_over_tcp, sender.datagrams_sent), (1, 0));
    assert_eq!(sender.tcp.frames_sent, 1);
    let receiver = b.stats.snapshot();
    assert_eq!(
        (receiver.datagrams_received, receiver.tcp.frames_received),
        (0, 1)
    );
    // And the next bare heartbeat is a datagram again.
    a.transport.send(NodeId(2), hb(10));
    assert_eq!(b.recv().await.msg, hb(10));
    assert_eq!(b.stats.snapshot().datagrams_received, 1);
    a.transport.shutdown().await;
    b.transport.shutdown().await;
}

#[tokio::test]
async fn a_peer_given_by_a_name_is_reached_once_the_name_resolves() {
    let mut b = Node::start(transport(2, None).await).await;
    let b_addr = b.addr;
    let late = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let resolves = std::sync::Arc::clone(&late);
    let a = transport(1, None).await.with_resolver(move |host| {
        if host == "node-2.test:7000" && resolves.load(std::sync::atomic::Ordering::Relaxed) {
            Ok(vec![b_addr])
        } else {
            Err(std::io::Error::new(std::io::ErrorKind::NotFound, "not yet"))
        }
    });
    let mut a = Node::start(a).await;
    b.transport.set_peers(&peers(&[(1, a.addr)]));
    let mut names = std::collections::BTreeMap::new();
    names.insert(NodeId(2), "node-2.test:7000".to_owned());
    a.transport.set_peers(&names);
    // Not resolved yet: dropped and counted, `send` does not wait.
    a.transport.send(NodeId(2), hb(1));
    assert_eq!(a.stats.snapshot().unresolved, 1);
    a.stats_until(|s| s.resolve_failures >= 1).await;
    late.store(true, std::sync::atomic::Ordering::Relaxed);
    // Resolved within the retry interval (a few seconds).
    let mut tick = 2;
    loop {
        a.transport.send(NodeId(2), hb(tick));
        if a.stats.snapshot().datagrams_sent > 0 {
            break;
        }
        tick += 1;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(tick < 400, "the name never resolved");
    }
    assert_eq!(b.recv().await.msg, hb(tick));
    a.transport.shutdown().await;
    b.transport.shutdown().await;
}
