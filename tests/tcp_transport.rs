//! The TCP transport: delivery, reconnection, peers added, moved and removed
//! at run time, the handshake's and the key's refusals, tampering, garbage,
//! bounded queues and shutdown.
//!
//! Everything runs on 127.0.0.1 with ports chosen by the OS. Waits are
//! bounded by a generous patience so a bug fails the test instead of hanging
//! it; no assertion is about speed.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use duckduckgoose::core::{Membership, MembershipId};
use duckduckgoose::transport::tcp::frame::{
    self, FrameDecoder, FrameError, LEN_PREFIX_LEN, MAX_FRAME_LEN,
};
use duckduckgoose::transport::tcp::{
    JoinError, JoinParams, OutboundQueue, TcpConfig, TcpConfigError, TcpStatsHandle, TcpTransport,
    TransportStats, request_join,
};
use duckduckgoose::transport::{Inbound, JoinReply, JoinRequest, Transport, TransportError};
use duckduckgoose::{Message, NodeId, Term};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout};

/// Upper bound on any wait; only reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(10);
const CLUSTER: &str = "test-cluster";
const KEY: &[u8] = b"correct horse battery staple";

fn hb(tick: u64) -> Message {
    Message::Heartbeat {
        term: Term(1),
        sent_tick: tick,
        membership: None,
    }
}

fn vote(term: u64) -> Message {
    Message::Vote {
        term: Term(term),
        transfer: false,
        membership: MembershipId::default(),
    }
}

async fn bind_local() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0")
}

/// A configuration with test-friendly timings: quick redials, and a flush
/// and handshake patience far above what a loaded CI machine needs.
fn config(id: u64, peers: &BTreeMap<NodeId, SocketAddr>, key: Option<&[u8]>) -> TcpConfig {
    let mut config = TcpConfig::new(NodeId(id), CLUSTER, peers.clone());
    config.cluster_key = key.map(<[u8]>::to_vec);
    config.reconnect_backoff_min = Duration::from_millis(5);
    config.reconnect_backoff_max = Duration::from_millis(50);
    config.handshake_timeout = Duration::from_secs(5);
    config.flush_timeout = Duration::from_secs(5);
    config
}

struct Node {
    transport: TcpTransport,
    rx: mpsc::Receiver<Inbound>,
    stats: TcpStatsHandle,
}

impl Node {
    async fn start(config: TcpConfig, listener: TcpListener) -> Node {
        let mut transport = TcpTransport::new(config, listener).expect("valid config");
        let (tx, rx) = mpsc::channel(1024);
        transport.start(tx).await.expect("first start");
        let stats = transport.stats_handle();
        Node {
            transport,
            rx,
            stats,
        }
    }

    fn stats(&self) -> TransportStats {
        self.stats.snapshot()
    }

    async fn recv(&mut self) -> Inbound {
        timeout(PATIENCE, self.rx.recv())
            .await
            .expect("a message within the patience")
            .expect("the transport keeps the channel open")
    }

    fn assert_nothing_received(&mut self) {
        if let Ok(inbound) = self.rx.try_recv() {
            panic!("unexpected delivery: {inbound:?}");
        }
    }
}

/// Nodes 1..=n on fresh ports, each knowing all the others.
async fn cluster(n: u64, key: Option<&[u8]>) -> Vec<Node> {
    let mut listeners = Vec::new();
    let mut peers = BTreeMap::new();
    for id in 1..=n {
        let listener = bind_local().await;
        peers.insert(NodeId(id), listener.local_addr().expect("bound"));
        listeners.push(listener);
    }
    let mut nodes = Vec::new();
    for (listener, id) in listeners.into_iter().zip(1..) {
        nodes.push(Node::start(config(id, &peers, key), listener).await);
    }
    nodes
}

async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(5)).await;
    }
}

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
        let mut buf = Vec::new();
        frame::encode_frame(&msg, &mut buf).expect("fits in a frame");
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
        let mut buf = Vec::new();
        assert!(matches!(
            frame::encode_frame(&hb_with(0, huge.clone()), &mut buf),
            Err(FrameError::Oversized { .. })
        ));
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
    b.transport.shutdown().await;
    drop(b);
    let listener = TcpListener::bind(b_addr)
        .await
        .expect("port free after shutdown");
    let mut b = Node::start(b_config, listener).await;

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

/// Two nodes whose configurations differ as `tweak` says.
async fn mismatched_pair(tweak: impl Fn(&mut TcpConfig, &mut TcpConfig)) -> (Node, Node) {
    let (la, lb) = (bind_local().await, bind_local().await);
    let peers = BTreeMap::from([
        (NodeId(1), la.local_addr().expect("bound")),
        (NodeId(2), lb.local_addr().expect("bound")),
    ]);
    let mut ca = config(1, &peers, None);
    let mut cb = config(2, &peers, None);
    tweak(&mut ca, &mut cb);
    (Node::start(ca, la).await, Node::start(cb, lb).await)
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
async fn hello_from_an_unknown_node_is_rejected() {
    // Node 2 knows only node 1; node 9 knows node 2 and dials it.
    let (l1, l2, l9) = (bind_local().await, bind_local().await, bind_local().await);
    let a2 = l2.local_addr().expect("bound");
    let known = BTreeMap::from([
        (NodeId(1), l1.local_addr().expect("bound")),
        (NodeId(2), a2),
    ]);
    let mut b = Node::start(config(2, &known, Some(KEY)), l2).await;
    let mut intruder =
        Node::start(config(9, &BTreeMap::from([(NodeId(2), a2)]), Some(KEY)), l9).await;
    intruder.transport.send(NodeId(2), vote(5));
    eventually("refusals", || b.stats().unknown_peer >= 2).await;
    let stats = b.stats();
    assert!(stats.handshake_failures >= 2, "{stats:?}");
    assert_eq!(stats.connections_accepted, 0);
    intruder.transport.shutdown().await;
    b.transport.shutdown().await;
    b.assert_nothing_received();
    assert_eq!(intruder.stats().frames_sent, 0);
    // Node 1 never answers (its listener only holds the port): node 2's
    // dial to it hangs in the handshake, and shutdown must not wait for it.
    drop(l1);
}

#[tokio::test]
async fn hello_addressed_to_another_node_is_rejected() {
    // Node 1 believes node 3 listens where node 2 does.
    let (l1, l2) = (bind_local().await, bind_local().await);
    let a1 = l1.local_addr().expect("bound");
    let a2 = l2.local_addr().expect("bound");
    let a_peers = BTreeMap::from([(NodeId(1), a1), (NodeId(3), a2)]);
    let b_peers = BTreeMap::from([(NodeId(1), a1), (NodeId(2), a2)]);
    let mut a = Node::start(config(1, &a_peers, None), l1).await;
    let mut b = Node::start(config(2, &b_peers, None), l2).await;
    a.transport.send(NodeId(3), vote(1));
    eventually("refusals", || b.stats().handshake_failures >= 2).await;
    a.transport.shutdown().await;
    b.transport.shutdown().await;
    b.assert_nothing_received();
    assert_eq!(b.stats().connections_accepted, 0);
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

// ---------------------------------------------------------------------------
// A membership that changes at run time: `set_peers` and `set_peer_addrs`.
// ---------------------------------------------------------------------------

/// The address `addr`'s port has on `localhost`, to go through the resolver.
fn by_name(addr: SocketAddr) -> String {
    format!("localhost:{}", addr.port())
}

fn strings(peers: &[(u64, String)]) -> BTreeMap<NodeId, String> {
    peers
        .iter()
        .map(|(id, addr)| (NodeId(*id), addr.clone()))
        .collect()
}

/// An address nothing listens on (bound, then released).
async fn dead_addr() -> SocketAddr {
    bind_local().await.local_addr().expect("bound")
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
    let mut c = Node::start(config(3, &all, None), lc).await;

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
    let mut b = Node::start(config(2, &BTreeMap::from([(NodeId(1), a_addr)]), None), lb).await;
    let mut a = TcpTransport::new(config(1, &BTreeMap::new(), None), la).expect("valid config");
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
        config(1, &BTreeMap::from([(NodeId(3), dead_addr().await)]), None),
        la,
    )
    .await;
    for term in 1..=3 {
        a.transport.send(NodeId(3), vote(term));
    }
    let c_peers = BTreeMap::from([(NodeId(1), a_addr)]);
    let lc = bind_local().await;
    let c_addr = lc.local_addr().expect("bound");
    let mut c = Node::start(config(3, &c_peers, None), lc).await;
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
    let mut c = Node::start(config(3, &c_peers, None), lc).await;
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
async fn a_removed_peer_is_cut_off_both_ways() {
    let mut nodes = cluster(3, None).await;
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.transport.local_addr()).collect();
    // Every connection to A is up before counting.
    nodes[0].transport.send(NodeId(3), vote(1));
    assert_eq!(nodes[2].recv().await.msg, vote(1));
    for from in [1, 2] {
        nodes[from].transport.send(NodeId(1), vote(2));
        assert_eq!(nodes[0].recv().await.msg, vote(2));
    }
    let before = nodes[0].stats();
    assert_eq!(before.handshake_failures, 0, "{before:?}");

    nodes[0].transport.set_peer_addrs(BTreeMap::from([
        (NodeId(1), addrs[0]),
        (NodeId(2), addrs[1]),
    ]));

    // A's messages for C are dropped and counted.
    nodes[0].transport.send(NodeId(3), vote(3));
    assert_eq!(nodes[0].transport.queued(NodeId(3)), None);
    assert_eq!(nodes[0].stats().unknown_peer, before.unknown_peer + 1);

    // C's connection to A is closed; C redials and is refused, again and
    // again, as an unknown peer.
    eventually("C's redials refused", || {
        nodes[0].stats().handshake_failures >= 2
    })
    .await;
    let refused = nodes[0].stats();
    assert!(
        refused.unknown_peer >= before.unknown_peer + 3,
        "{refused:?}"
    );
    assert_eq!(refused.connections_accepted, before.connections_accepted);
    assert!(nodes[2].stats().handshake_failures >= 1);
    nodes[2].transport.send(NodeId(1), vote(4));
    eventually("more refusals", || {
        nodes[0].stats().handshake_failures > refused.handshake_failures
    })
    .await;
    nodes[0].assert_nothing_received();
    assert_eq!(
        nodes[2].transport.queued(NodeId(1)),
        Some(1),
        "vote 4 waits"
    );

    // Removal is A's view only: B and C still talk.
    nodes[1].transport.send(NodeId(3), vote(5));
    assert_eq!(nodes[2].recv().await.msg, vote(5));
    nodes[2].transport.send(NodeId(2), vote(6));
    assert_eq!(nodes[1].recv().await.msg, vote(6));

    // Added back, C is accepted again and what it kept arrives.
    nodes[0].transport.set_peer_addrs(
        addrs
            .iter()
            .zip(1..)
            .map(|(a, id)| (NodeId(id), *a))
            .collect(),
    );
    assert_eq!(
        nodes[0].recv().await,
        Inbound {
            from: NodeId(3),
            msg: vote(4)
        }
    );
    nodes[0].transport.send(NodeId(3), vote(7));
    assert_eq!(nodes[2].recv().await.msg, vote(7));
    for node in &mut nodes {
        node.transport.shutdown().await;
    }
}

#[tokio::test]
async fn removing_a_peer_drops_its_queue_and_ends_its_writer() {
    let la = bind_local().await;
    let a_addr = la.local_addr().expect("bound");
    let mut a = Node::start(
        config(1, &BTreeMap::from([(NodeId(2), dead_addr().await)]), None),
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
    assert_eq!(a.stats().dropped_peer_removed, 5);
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
    let mut c = Node::start(config(3, &BTreeMap::from([(NodeId(1), a_addr)]), None), lc).await;
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

// ---------------------------------------------------------------------------
// A man in the middle: forwards frames from dialer to acceptor and lets a
// plan flip, repeat, hold back or inject frames, per connection.
// ---------------------------------------------------------------------------

enum Step {
    Send(Vec<u8>),
    /// Drop both sockets.
    Close,
}

/// `(connection index, frame index on it, the whole frame) -> what to do`.
type Plan = Box<dyn FnMut(usize, usize, Vec<u8>) -> Vec<Step> + Send>;

/// Starts a proxy to `target`; returns its address.
async fn proxy(target: SocketAddr, plan: Plan) -> SocketAddr {
    let listener = bind_local().await;
    let addr = listener.local_addr().expect("bound");
    let plan = Arc::new(Mutex::new(plan));
    tokio::spawn(async move {
        for conn in 0.. {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let Ok(server) = TcpStream::connect(target).await else {
                continue;
            };
            tokio::spawn(relay(conn, client, server, Arc::clone(&plan)));
        }
    });
    addr
}

async fn relay(conn: usize, client: TcpStream, server: TcpStream, plan: Arc<Mutex<Plan>>) {
    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut server_rd, mut server_wr) = server.into_split();
    let upstream = async {
        for index in 0.. {
            let mut prefix = [0u8; LEN_PREFIX_LEN];
            client_rd.read_exact(&mut prefix).await?;
            let len = u32::from_be_bytes(prefix) as usize;
            let mut frame = prefix.to_vec();
            frame.resize(LEN_PREFIX_LEN + len, 0);
            client_rd.read_exact(&mut frame[LEN_PREFIX_LEN..]).await?;
            let steps = (plan.lock().expect("plan lock"))(conn, index, frame);
            for step in steps {
                match step {
                    Step::Send(bytes) => server_wr.write_all(&bytes).await?,
                    Step::Close => return Ok(()),
                }
            }
        }
        Ok::<(), std::io::Error>(())
    };
    let downstream = tokio::io::copy(&mut server_rd, &mut client_wr);
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
}

/// Node 1 reaches node 2 only through a proxy running `plan`.
async fn proxied_pair(key: Option<&[u8]>, plan: Plan) -> (Node, Node) {
    let (l1, l2) = (bind_local().await, bind_local().await);
    let a1 = l1.local_addr().expect("bound");
    let a2 = l2.local_addr().expect("bound");
    let via = proxy(a2, plan).await;
    let a = Node::start(config(1, &BTreeMap::from([(NodeId(2), via)]), key), l1).await;
    let b = Node::start(config(2, &BTreeMap::from([(NodeId(1), a1)]), key), l2).await;
    (a, b)
}

/// Index of the first message frame on a connection: after the hello, and
/// after the auth frame when keyed.
const FIRST_DATA_KEYED: usize = 2;
const FIRST_DATA_UNKEYED: usize = 1;

/// Waits until node 1 has redialled `n` times, then checks a fresh message
/// arrives first and alone.
async fn after_reconnects_fresh_message_arrives(a: &mut Node, b: &mut Node, n: u64) {
    eventually("redial", || a.stats().reconnects >= n).await;
    a.transport.send(NodeId(2), vote(77));
    assert_eq!(
        b.recv().await,
        Inbound {
            from: NodeId(1),
            msg: vote(77)
        }
    );
    a.transport.shutdown().await;
    b.transport.shutdown().await;
    b.assert_nothing_received();
}

#[tokio::test]
async fn tampered_frame_is_refused_and_the_connection_closed() {
    let plan: Plan = Box::new(|conn, index, mut frame| {
        if conn == 0 && index == FIRST_DATA_KEYED {
            let last = frame.len() - 1;
            frame[last] ^= 0x01;
        }
        vec![Step::Send(frame)]
    });
    let (mut a, mut b) = proxied_pair(Some(KEY), plan).await;
    a.transport.send(NodeId(2), vote(1));
    eventually("tag refusal", || b.stats().auth_failures >= 1).await;
    assert_eq!(b.stats().frames_received, 0);
    after_reconnects_fresh_message_arrives(&mut a, &mut b, 1).await;
}

#[tokio::test]
async fn replayed_frame_is_refused() {
    let plan: Plan = Box::new(|conn, index, frame| {
        if conn == 0 && index == FIRST_DATA_KEYED {
            vec![Step::Send(frame.clone()), Step::Send(frame)]
        } else {
            vec![Step::Send(frame)]
        }
    });
    let (mut a, mut b) = proxied_pair(Some(KEY), plan).await;
    a.transport.send(NodeId(2), vote(1));
    assert_eq!(b.recv().await.msg, vote(1));
    eventually("replay refusal", || b.stats().auth_failures >= 1).await;
    after_reconnects_fresh_message_arrives(&mut a, &mut b, 1).await;
}

#[tokio::test]
async fn reordered_frames_are_refused() {
    let mut held = None;
    let plan: Plan = Box::new(move |conn, index, frame| match (conn, index) {
        (0, FIRST_DATA_KEYED) => {
            held = Some(frame);
            vec![]
        }
        (0, i) if i == FIRST_DATA_KEYED + 1 => {
            let mut steps = vec![Step::Send(frame)];
            steps.extend(held.take().map(Step::Send));
            steps
        }
        _ => vec![Step::Send(frame)],
    });
    let (mut a, mut b) = proxied_pair(Some(KEY), plan).await;
    a.transport.send(NodeId(2), vote(1));
    a.transport.send(NodeId(2), vote(2));
    eventually("reorder refusal", || b.stats().auth_failures >= 1).await;
    assert_eq!(b.stats().frames_received, 0);
    after_reconnects_fresh_message_arrives(&mut a, &mut b, 1).await;
}

#[tokio::test]
async fn frame_replayed_on_another_connection_is_refused() {
    let mut recorded = None;
    let plan: Plan = Box::new(move |conn, index, frame| match (conn, index) {
        // Deliver the first message, remember it, and cut the connection.
        (0, FIRST_DATA_KEYED) => {
            recorded = Some(frame.clone());
            vec![Step::Send(frame), Step::Close]
        }
        // On the next connection, replay it right after the handshake.
        (1, i) if i == FIRST_DATA_KEYED - 1 => {
            let mut steps = vec![Step::Send(frame)];
            steps.extend(recorded.take().map(Step::Send));
            steps
        }
        _ => vec![Step::Send(frame)],
    });
    let (mut a, mut b) = proxied_pair(Some(KEY), plan).await;
    a.transport.send(NodeId(2), vote(1));
    assert_eq!(b.recv().await.msg, vote(1));
    eventually("cross-connection replay refusal", || {
        b.stats().auth_failures >= 1
    })
    .await;
    after_reconnects_fresh_message_arrives(&mut a, &mut b, 2).await;
}

#[tokio::test]
async fn garbage_after_a_valid_hello_closes_the_connection() {
    let plan: Plan = Box::new(|conn, index, frame| {
        if conn == 0 && index == 0 {
            // A well-formed frame whose body is no message.
            let garbage = vec![0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
            vec![Step::Send(frame), Step::Send(garbage)]
        } else {
            vec![Step::Send(frame)]
        }
    });
    let (mut a, mut b) = proxied_pair(None, plan).await;
    eventually("decode error", || b.stats().decode_errors >= 1).await;
    assert_eq!(b.stats().frames_received, 0);
    after_reconnects_fresh_message_arrives(&mut a, &mut b, 1).await;
}

#[tokio::test]
async fn oversized_length_after_a_valid_hello_closes_the_connection() {
    let plan: Plan = Box::new(|conn, index, frame| {
        if conn == 0 && index == FIRST_DATA_UNKEYED - 1 {
            vec![Step::Send(frame), Step::Send(vec![0xff; 64])]
        } else {
            vec![Step::Send(frame)]
        }
    });
    let (mut a, mut b) = proxied_pair(None, plan).await;
    eventually("oversized frame", || b.stats().oversized_frames >= 1).await;
    after_reconnects_fresh_message_arrives(&mut a, &mut b, 1).await;
}

// ---------------------------------------------------------------------------
// The codec, fuzzed directly.
// ---------------------------------------------------------------------------

fn membership() -> impl Strategy<Value = Membership> {
    (
        vec(any::<u64>(), 1..8),
        vec(any::<u64>(), 0..4),
        vec((any::<u64>(), "[a-z0-9.-]{1,40}", any::<u16>()), 0..8),
    )
        .prop_map(|(voters, learners, addrs)| {
            Membership::new(voters.into_iter().map(NodeId))
                .with_learners(learners.into_iter().map(NodeId))
                .with_addresses(
                    addrs
                        .into_iter()
                        .map(|(id, host, port)| (NodeId(id), format!("{host}:{port}"))),
                )
        })
}

fn message() -> impl Strategy<Value = Message> {
    (
        0u8..11,
        any::<u64>(),
        any::<u64>(),
        any::<bool>(),
        (any::<u64>(), any::<u64>()),
        proptest::option::of(membership()),
    )
        .prop_map(|(kind, term, n, flag, (m_term, m_version), attached)| {
            let term = Term(term);
            let membership = MembershipId {
                term: Term(m_term),
                version: m_version,
            };
            match kind {
                0 => Message::PreVote { term, membership },
                1 => Message::PreVoteResponse {
                    term,
                    granted: flag,
                },
                2 => Message::Vote {
                    term,
                    transfer: flag,
                    membership,
                },
                3 => Message::VoteResponse {
                    term,
                    granted: flag,
                },
                4 => Message::Heartbeat {
                    term,
                    sent_tick: n,
                    membership: attached.map(Box::new),
                },
                5 => Message::HeartbeatAck {
                    term,
                    sent_tick: n,
                    membership,
                },
                6 => Message::Leave { term },
                7 => Message::NewerMembership {
                    term,
                    membership: Box::new(attached.unwrap_or_default()),
                },
                8 => Message::MembershipProbe { term, membership },
                _ => Message::TimeoutNow { term },
            }
        })
}

/// Random bytes, mostly shaped like frames (plausible length prefixes with
/// bodies of random, possibly mismatched, length), so that the decoder gets
/// past the prefix check and hands out bodies too.
fn noise() -> impl Strategy<Value = Vec<u8>> {
    let framed = (0u32..300, vec(any::<u8>(), 0..300)).prop_map(|(len, body)| {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend(body);
        bytes
    });
    let raw = vec(any::<u8>(), 0..64);
    vec(prop_oneof![4 => framed, 1 => raw], 0..16).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decoder_survives_random_bytes_in_any_chunking(
        bytes in noise(),
        chunk in 1usize..97,
    ) {
        let mut decoder = FrameDecoder::new();
        'feed: for piece in bytes.chunks(chunk) {
            let mut input = piece;
            loop {
                let done = decoder.decode(&mut input);
                prop_assert!(decoder.buffer_capacity() <= MAX_FRAME_LEN);
                match done {
                    Ok(true) => {
                        prop_assert!(decoder.frame().len() <= MAX_FRAME_LEN);
                        // Whatever the body, decoding it is a value or a typed error.
                        let _: Result<Message, FrameError> = frame::decode_body(decoder.frame());
                    }
                    Ok(false) => {
                        prop_assert!(input.is_empty());
                        break;
                    }
                    Err(e) => {
                        prop_assert!(matches!(e, FrameError::Oversized { .. }), "{e:?}");
                        break 'feed;
                    }
                }
            }
        }
    }

    #[test]
    fn huge_length_prefixes_are_refused_before_allocating(
        len in (MAX_FRAME_LEN as u32 + 1)..=u32::MAX,
        tail in vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend(tail);
        let mut decoder = FrameDecoder::new();
        let mut input = &bytes[..];
        let refused = matches!(
            decoder.decode(&mut input),
            Err(FrameError::Oversized { len: l, .. }) if l == u64::from(len)
        );
        prop_assert!(refused);
        prop_assert_eq!(decoder.buffer_capacity(), 0);
        let split_refused = matches!(frame::split_frame(&bytes), Err(FrameError::Oversized { .. }));
        prop_assert!(split_refused);
    }

    #[test]
    fn frames_round_trip_in_any_chunking(
        msgs in vec(message(), 0..20),
        chunk in 1usize..17,
    ) {
        let mut buf = Vec::new();
        for msg in &msgs {
            frame::encode_frame(msg, &mut buf).expect("messages are small");
        }
        let mut decoder = FrameDecoder::new();
        let mut decoded = Vec::new();
        for piece in buf.chunks(chunk) {
            let mut input = piece;
            while decoder.decode(&mut input).expect("valid frames") {
                decoded.push(frame::decode_body::<Message>(decoder.frame()).expect("valid body"));
            }
        }
        prop_assert_eq!(&decoded, &msgs);
        // The one-shot splitter agrees.
        let mut rest = &buf[..];
        for msg in &msgs {
            let (body, used) = frame::split_frame(rest).expect("valid").expect("whole frame");
            prop_assert_eq!(&frame::decode_body::<Message>(body).expect("valid body"), msg);
            rest = &rest[used..];
        }
        prop_assert!(rest.is_empty());
    }

    #[test]
    fn random_bodies_decode_to_a_value_or_a_typed_error(body in vec(any::<u8>(), 0..64)) {
        match frame::decode_body::<Message>(&body) {
            Ok(_) | Err(FrameError::Decode(_) | FrameError::TrailingBytes(_)) => {}
            Err(e) => prop_assert!(false, "unexpected error {e:?}"),
        }
    }
}

#[test]
fn frame_at_the_limit_is_accepted_and_one_byte_more_refused() {
    let mut decoder = FrameDecoder::new();
    let mut bytes = (MAX_FRAME_LEN as u32).to_be_bytes().to_vec();
    bytes.resize(LEN_PREFIX_LEN + MAX_FRAME_LEN, 7);
    let mut input = &bytes[..];
    assert!(decoder.decode(&mut input).expect("at the limit"));
    assert_eq!(decoder.frame().len(), MAX_FRAME_LEN);
    assert_eq!(decoder.buffer_capacity(), MAX_FRAME_LEN);

    let over = (MAX_FRAME_LEN as u32 + 1).to_be_bytes();
    let mut input = &over[..];
    assert!(matches!(
        FrameDecoder::new().decode(&mut input),
        Err(FrameError::Oversized { .. })
    ));

    let mut buf = Vec::new();
    let huge = vec![0u8; MAX_FRAME_LEN];
    assert!(matches!(
        frame::encode_frame(&huge, &mut buf),
        Err(FrameError::Oversized { .. })
    ));
    assert!(buf.is_empty(), "a refused frame leaves nothing behind");
}

/// Random bytes written straight to a listener: the connection is closed,
/// nothing is delivered, and real messages still flow afterwards.
#[test]
fn random_bytes_on_the_listener_are_harmless() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    // An async lock: the nodes are used across awaits inside `block_on`.
    let nodes = tokio::sync::Mutex::new(runtime.block_on(cluster(2, Some(KEY))));
    let target = nodes.blocking_lock()[1].transport.local_addr();
    let tick = Cell::new(0);
    let mut runner = TestRunner::new(ProptestConfig::with_cases(32));
    runner
        .run(&vec(any::<u8>(), 0..512), |bytes| {
            runtime.block_on(async {
                let mut raw = TcpStream::connect(target).await.expect("connect");
                // The node may close before reading it all: errors are fine.
                let _ = raw.write_all(&bytes).await;
                let _ = raw.shutdown().await;
                let mut answer = Vec::new();
                let closed = timeout(PATIENCE, raw.read_to_end(&mut answer)).await;
                assert!(closed.is_ok(), "the node keeps a garbage connection open");

                let mut nodes = nodes.lock().await;
                tick.set(tick.get() + 1);
                nodes[0].transport.send(NodeId(2), hb(tick.get()));
                let got = nodes[1].recv().await;
                assert_eq!(
                    got,
                    Inbound {
                        from: NodeId(1),
                        msg: hb(tick.get())
                    }
                );
            });
            Ok(())
        })
        .expect("no garbage breaks the node");
    let mut nodes = nodes.into_inner();
    runtime.block_on(async {
        for node in &mut nodes {
            node.transport.shutdown().await;
            node.assert_nothing_received();
        }
    });
    assert_eq!(
        nodes[1].stats().connections_accepted,
        1,
        "{:?}",
        nodes[1].stats()
    );
}

// ---------------------------------------------------------------------------
// Queues.
// ---------------------------------------------------------------------------

#[test]
fn full_queue_drops_the_oldest_heartbeat_then_the_oldest_message() {
    let ack = |tick| Message::HeartbeatAck {
        term: Term(1),
        sent_tick: tick,
        membership: MembershipId::default(),
    };
    let timeout_now = Message::TimeoutNow { term: Term(1) };
    let mut queue = OutboundQueue::new(4);
    for msg in [vote(1), hb(1), ack(1), hb(2)] {
        assert_eq!(queue.push(msg), None);
    }
    assert_eq!(queue.push(timeout_now.clone()), Some(hb(1)));
    // Acks are heartbeat traffic too: a newer one supersedes them.
    assert_eq!(queue.push(vote(2)), Some(ack(1)));
    assert_eq!(queue.push(vote(3)), Some(hb(2)));
    // No heartbeat left: the oldest message goes.
    assert_eq!(queue.push(vote(4)), Some(vote(1)));
    assert_eq!(queue.len(), 4);
    assert_eq!(
        queue.iter().cloned().collect::<Vec<_>>(),
        [timeout_now.clone(), vote(2), vote(3), vote(4)]
    );
    assert_eq!(queue.pop(), Some(timeout_now));
}

#[tokio::test]
async fn queue_to_a_down_peer_stays_bounded_and_keeps_the_vote() {
    let (la, closed) = (bind_local().await, bind_local().await);
    let down = closed.local_addr().expect("bound");
    drop(closed);
    let peers = BTreeMap::from([(NodeId(2), down)]);
    let mut cfg = config(1, &peers, None);
    cfg.queue_capacity = 8;
    let mut a = Node::start(cfg, la).await;
    a.transport.send(NodeId(2), vote(1));
    for tick in 0..100 {
        a.transport.send(NodeId(2), hb(tick));
    }
    assert_eq!(a.transport.queued(NodeId(2)), Some(8));
    assert_eq!(a.stats().dropped_queue_full, 101 - 8);

    // The peer comes up: the vote and the newest heartbeats arrive.
    let listener = TcpListener::bind(down).await.expect("port still free");
    let mut b = Node::start(
        config(
            2,
            &BTreeMap::from([(NodeId(1), a.transport.local_addr())]),
            None,
        ),
        listener,
    )
    .await;
    let mut got = Vec::new();
    for _ in 0..8 {
        got.push(b.recv().await.msg);
    }
    let mut expected = vec![vote(1)];
    expected.extend((93..100).map(hb));
    assert_eq!(got, expected);
    a.transport.shutdown().await;
    b.transport.shutdown().await;
}

// ---------------------------------------------------------------------------
// Lifecycle.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn shutdown_flushes_the_queue_and_ends_every_task() {
    let mut nodes = cluster(3, Some(KEY)).await;
    nodes[0].transport.send(NodeId(2), vote(1));
    assert_eq!(nodes[1].recv().await.msg, vote(1));
    assert!(
        nodes[0].stats().tasks_running >= 3,
        "{:?}",
        nodes[0].stats()
    );

    // A handing-over Goose's last words leave before the transport stops.
    let timeout_now = Message::TimeoutNow { term: Term(4) };
    nodes[0].transport.send(NodeId(2), timeout_now.clone());
    nodes[0].transport.shutdown().await;
    assert_eq!(
        nodes[1].recv().await,
        Inbound {
            from: NodeId(1),
            msg: timeout_now
        }
    );

    let addrs: Vec<_> = nodes.iter().map(|n| n.transport.local_addr()).collect();
    for node in &mut nodes {
        node.transport.shutdown().await;
        node.transport.shutdown().await; // idempotent
        assert_eq!(node.stats().tasks_running, 0);
    }
    for addr in addrs {
        TcpListener::bind(addr)
            .await
            .expect("the listener is closed after shutdown");
    }
}

#[tokio::test]
async fn start_twice_or_after_shutdown_is_refused() {
    let listener = bind_local().await;
    let mut transport =
        TcpTransport::new(config(1, &BTreeMap::new(), None), listener).expect("valid");
    let (tx, _rx) = mpsc::channel(8);
    transport.start(tx.clone()).await.expect("first start");
    assert!(matches!(
        transport.start(tx.clone()).await,
        Err(TransportError::AlreadyStarted)
    ));
    transport.shutdown().await;
    assert!(matches!(
        transport.start(tx).await,
        Err(TransportError::AlreadyStarted)
    ));
    assert_eq!(transport.stats().tasks_running, 0);
}

#[tokio::test]
async fn invalid_configs_are_refused() {
    let peers = BTreeMap::new();
    let base = config(1, &peers, None);
    let cases: Vec<(TcpConfig, TcpConfigError)> = vec![
        (
            {
                let mut config = base.clone();
                config.cluster_id = String::new();
                config
            },
            TcpConfigError::EmptyClusterId,
        ),
        (
            {
                let mut config = base.clone();
                config.cluster_id = "x".repeat(256);
                config
            },
            TcpConfigError::ClusterIdTooLong { len: 256, max: 255 },
        ),
        (
            base.clone().with_cluster_key(Vec::new()),
            TcpConfigError::EmptyClusterKey,
        ),
        (
            base.clone().with_queue_capacity(0),
            TcpConfigError::ZeroQueueCapacity,
        ),
        (
            base.clone()
                .with_reconnect_backoff_min(Duration::from_secs(2))
                .with_reconnect_backoff_max(Duration::from_secs(1)),
            TcpConfigError::ReconnectBackoff {
                min: Duration::from_secs(2),
                max: Duration::from_secs(1),
            },
        ),
        (
            base.clone().with_handshake_timeout(Duration::ZERO),
            TcpConfigError::ZeroTimeout("handshake_timeout"),
        ),
        (
            base.clone().with_join_timeout(Duration::ZERO),
            TcpConfigError::ZeroTimeout("join_timeout"),
        ),
        (
            base.clone().with_max_join_connections(0),
            TcpConfigError::ZeroMaxJoinConnections,
        ),
        (
            base.clone().with_join_rate_burst(0),
            TcpConfigError::JoinRate {
                burst: 0,
                interval: TcpConfig::DEFAULT_JOIN_RATE_INTERVAL,
            },
        ),
        (
            base.clone().with_join_rate_interval(Duration::ZERO),
            TcpConfigError::JoinRate {
                burst: TcpConfig::DEFAULT_JOIN_RATE_BURST,
                interval: Duration::ZERO,
            },
        ),
    ];
    for (config, error) in cases {
        assert_eq!(config.validate(), Err(error));
        let refused = TcpTransport::new(config, bind_local().await);
        assert!(matches!(refused, Err(TransportError::Config(_))));
    }
    assert_eq!(base.validate(), Ok(()));
    // The key never shows in logs.
    let keyed = base.with_cluster_key(KEY.to_vec());
    assert!(!format!("{keyed:?}").contains("horse"));
}

// ---------------------------------------------------------------------------
// Joining: a node outside the membership asks a member to add it.
// ---------------------------------------------------------------------------

/// The join requests a stub runtime received: (id, addr).
type Seen = Arc<Mutex<Vec<(NodeId, String)>>>;

/// A started node that takes join requests; the test answers them.
async fn joinable(config: TcpConfig) -> (Node, mpsc::Receiver<JoinRequest>) {
    let mut transport = TcpTransport::new(config, bind_local().await).expect("valid config");
    let requests = transport.take_join_requests().expect("first take");
    assert!(transport.take_join_requests().is_none(), "taken once only");
    let (tx, rx) = mpsc::channel(1024);
    transport.start(tx).await.expect("first start");
    let stats = transport.stats_handle();
    let node = Node {
        transport,
        rx,
        stats,
    };
    (node, requests)
}

/// Answers every request with `answer(id, addr)`, or holds it unanswered
/// (for ever) when that is `None`. Returns what it received.
fn answering(
    mut requests: mpsc::Receiver<JoinRequest>,
    answer: impl Fn(NodeId, &str) -> Option<JoinReply> + Send + 'static,
) -> Seen {
    let seen = Seen::default();
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Some(request) = requests.recv().await {
            record
                .lock()
                .expect("seen lock")
                .push((request.id, request.addr.clone()));
            match answer(request.id, &request.addr) {
                Some(reply) => {
                    let _ = request.reply.send(reply);
                }
                None => held.push(request.reply),
            }
        }
    });
    seen
}

/// A joinable node whose stub runtime answers with `answer`.
async fn joinable_answering(
    config: TcpConfig,
    answer: impl Fn(NodeId, &str) -> Option<JoinReply> + Send + 'static,
) -> (Node, Seen) {
    let (node, requests) = joinable(config).await;
    (node, answering(requests, answer))
}

fn joiner(id: u64, key: Option<&[u8]>) -> JoinParams {
    let mut params = JoinParams::new(NodeId(id), format!("10.0.0.{id}:7000"), CLUSTER);
    params.cluster_key = key.map(<[u8]>::to_vec);
    params.timeout = PATIENCE;
    params
}

/// The membership a Goose of {1, 2} hands a joiner.
fn with_joiner(id: NodeId, addr: &str) -> Membership {
    Membership::new([NodeId(1), NodeId(2)])
        .with_learners([id])
        .with_addresses([
            (NodeId(1), "10.0.0.1:7000".to_owned()),
            (NodeId(2), "10.0.0.2:7000".to_owned()),
            (id, addr.to_owned()),
        ])
}

fn accept_all(id: NodeId, addr: &str) -> Option<JoinReply> {
    Some(JoinReply::Accepted(with_joiner(id, addr)))
}

fn seen(seen: &Seen) -> Vec<(NodeId, String)> {
    seen.lock().expect("seen lock").clone()
}

/// Nothing a join connection carried reached the protocol side.
fn assert_no_protocol_traffic(node: &mut Node) {
    node.assert_nothing_received();
    let stats = node.stats();
    assert_eq!(stats.frames_received, 0, "{stats:?}");
    assert_eq!(stats.connections_accepted, 0, "{stats:?}");
}

#[tokio::test]
async fn a_join_request_reaches_the_runtime_and_its_answer_the_joiner() {
    for key in [None, Some(KEY)] {
        let (mut node, seen_by_node) =
            joinable_answering(config(1, &BTreeMap::new(), key), accept_all).await;
        let addr = node.transport.local_addr();
        // By address and by name.
        for (target, id) in [(addr.to_string(), 7), (by_name(addr), 8)] {
            let params = joiner(id, key);
            let membership = request_join(&target, &params).await.expect("accepted");
            assert_eq!(membership, with_joiner(NodeId(id), &params.addr));
        }
        assert_eq!(
            seen(&seen_by_node),
            [
                (NodeId(7), "10.0.0.7:7000".to_owned()),
                (NodeId(8), "10.0.0.8:7000".to_owned())
            ]
        );
        let stats = node.stats();
        assert_eq!(stats.join_requests, 2, "{stats:?}");
        assert_eq!(stats.join_accepted, 2, "{stats:?}");
        assert_eq!(stats.join_violations + stats.auth_failures, 0, "{stats:?}");
        node.transport.shutdown().await;
        assert_no_protocol_traffic(&mut node);
        assert_eq!(node.stats().tasks_running, 0);
    }
}

#[tokio::test]
async fn refusals_and_missing_gooses_come_back_typed() {
    let (mut node, _) = joinable_answering(config(1, &BTreeMap::new(), None), |id, _| {
        Some(match id.0 {
            7 => JoinReply::Refused("node 7 is already a member at 10.0.0.9:7000".to_owned()),
            8 => JoinReply::NotGoose {
                leader: Some(NodeId(2)),
                leader_addr: None,
            },
            _ => JoinReply::NotGoose {
                leader: None,
                leader_addr: None,
            },
        })
    })
    .await;
    let target = node.transport.local_addr().to_string();
    let refused = request_join(&target, &joiner(7, None)).await;
    assert!(
        matches!(&refused, Err(JoinError::Refused(reason)) if reason.contains("already a member")),
        "{refused:?}"
    );
    let known = request_join(&target, &joiner(8, None)).await;
    assert!(
        matches!(
            known,
            Err(JoinError::NoGoose {
                leader: Some(NodeId(2)),
                leader_addr: None
            })
        ),
        "{known:?}"
    );
    let unknown = request_join(&target, &joiner(9, None)).await;
    assert!(
        matches!(
            unknown,
            Err(JoinError::NoGoose {
                leader: None,
                leader_addr: None
            })
        ),
        "{unknown:?}"
    );
    let stats = node.stats();
    assert_eq!(
        (
            stats.join_requests,
            stats.join_refused,
            stats.join_not_goose
        ),
        (3, 1, 2),
        "{stats:?}"
    );
    assert_eq!(stats.join_forwarded, 0, "{stats:?}");
    node.transport.shutdown().await;
    assert_no_protocol_traffic(&mut node);
}

#[tokio::test]
async fn a_duck_forwards_to_the_goose_and_relays_its_answer() {
    let (mut goose, seen_by_goose) =
        joinable_answering(config(2, &BTreeMap::new(), Some(KEY)), accept_all).await;
    let goose_addr = by_name(goose.transport.local_addr());
    let leader_addr = goose_addr.clone();
    let (mut duck, seen_by_duck) =
        joinable_answering(config(1, &BTreeMap::new(), Some(KEY)), move |_, _| {
            Some(JoinReply::NotGoose {
                leader: Some(NodeId(2)),
                leader_addr: Some(leader_addr.clone()),
            })
        })
        .await;
    let params = joiner(7, Some(KEY));
    let membership = request_join(&duck.transport.local_addr().to_string(), &params)
        .await
        .expect("accepted by the Goose");
    assert_eq!(membership, with_joiner(NodeId(7), &params.addr));
    // Both runtimes saw the joiner's own id and address.
    let expected = [(NodeId(7), params.addr.clone())];
    assert_eq!(seen(&seen_by_duck), expected);
    assert_eq!(seen(&seen_by_goose), expected);
    let (d, g) = (duck.stats(), goose.stats());
    assert_eq!(
        (d.join_requests, d.join_forwarded, d.join_accepted),
        (1, 1, 1),
        "{d:?}"
    );
    assert_eq!(
        (g.join_requests, g.join_forwarded, g.join_accepted),
        (1, 0, 1),
        "{g:?}"
    );
    for node in [&mut duck, &mut goose] {
        node.transport.shutdown().await;
        assert_no_protocol_traffic(node);
    }
}

#[tokio::test]
async fn a_forwarded_request_is_never_forwarded_again() {
    // A and B each believe the other is the Goose.
    let (mut a, a_requests) = joinable(config(1, &BTreeMap::new(), None)).await;
    let (mut b, b_requests) = joinable(config(2, &BTreeMap::new(), None)).await;
    let (a_addr, b_addr) = (
        a.transport.local_addr().to_string(),
        b.transport.local_addr().to_string(),
    );
    let points_to = |leader: u64, addr: String| {
        move |_: NodeId, _: &str| {
            Some(JoinReply::NotGoose {
                leader: Some(NodeId(leader)),
                leader_addr: Some(addr.clone()),
            })
        }
    };
    let seen_by_a = answering(a_requests, points_to(2, b_addr.clone()));
    let seen_by_b = answering(b_requests, points_to(1, a_addr.clone()));

    // The joiner asks A; A forwards to B; B names A but does not forward:
    // its answer comes back through A.
    let answer = request_join(&a_addr, &joiner(7, None)).await;
    assert!(
        matches!(
            &answer,
            Err(JoinError::NoGoose { leader: Some(NodeId(1)), leader_addr: Some(addr) })
                if *addr == a_addr
        ),
        "{answer:?}"
    );
    assert_eq!(seen(&seen_by_a).len(), 1);
    assert_eq!(seen(&seen_by_b).len(), 1);
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!((sa.join_requests, sa.join_forwarded), (1, 1), "{sa:?}");
    assert_eq!((sb.join_requests, sb.join_forwarded), (1, 0), "{sb:?}");
    assert_eq!((sa.join_not_goose, sb.join_not_goose), (1, 1));
    for node in [&mut a, &mut b] {
        node.transport.shutdown().await;
        assert_no_protocol_traffic(node);
    }
}

#[tokio::test]
async fn a_goose_that_cannot_be_reached_is_named_to_the_joiner() {
    let goose = dead_addr().await.to_string();
    let leader_addr = goose.clone();
    let (mut duck, _) = joinable_answering(config(1, &BTreeMap::new(), None), move |_, _| {
        Some(JoinReply::NotGoose {
            leader: Some(NodeId(2)),
            leader_addr: Some(leader_addr.clone()),
        })
    })
    .await;
    let answer = request_join(&duck.transport.local_addr().to_string(), &joiner(7, None)).await;
    assert!(
        matches!(
            &answer,
            Err(JoinError::NoGoose { leader: Some(NodeId(2)), leader_addr: Some(addr) })
                if *addr == goose
        ),
        "{answer:?}"
    );
    let stats = duck.stats();
    assert_eq!(
        (stats.join_forwarded, stats.join_forward_failures),
        (1, 1),
        "{stats:?}"
    );
    duck.transport.shutdown().await;
}

#[tokio::test]
async fn joins_are_refused_when_nobody_takes_them() {
    let mut untaken = Node::start(config(1, &BTreeMap::new(), None), bind_local().await).await;
    let answer = request_join(
        &untaken.transport.local_addr().to_string(),
        &joiner(7, None),
    )
    .await;
    assert!(
        matches!(&answer, Err(JoinError::Refused(reason)) if reason == "not accepting joins"),
        "{answer:?}"
    );
    let stats = untaken.stats();
    assert_eq!(
        (stats.join_requests, stats.join_refused),
        (1, 1),
        "{stats:?}"
    );
    untaken.transport.shutdown().await;

    // Taken, then dropped (the runtime stopped taking them).
    let (mut dropped, requests) = joinable(config(1, &BTreeMap::new(), None)).await;
    drop(requests);
    let answer = request_join(
        &dropped.transport.local_addr().to_string(),
        &joiner(7, None),
    )
    .await;
    assert!(
        matches!(&answer, Err(JoinError::Refused(reason)) if reason == "not accepting joins"),
        "{answer:?}"
    );
    dropped.transport.shutdown().await;
}

#[tokio::test]
async fn a_join_the_runtime_never_answers_times_out() {
    let mut cfg = config(1, &BTreeMap::new(), None);
    cfg.join_timeout = Duration::from_millis(200);
    let (mut node, seen_by_node) = joinable_answering(cfg, |_, _| None).await;
    let answer = request_join(&node.transport.local_addr().to_string(), &joiner(7, None)).await;
    assert!(
        matches!(&answer, Err(JoinError::Refused(reason)) if reason.contains("no answer")),
        "{answer:?}"
    );
    assert_eq!(seen(&seen_by_node).len(), 1);
    assert_eq!(node.stats().join_refused, 1);
    node.transport.shutdown().await;

    // A runtime that drops the request unanswered is a refusal too.
    let (mut node, mut requests) = joinable(config(1, &BTreeMap::new(), None)).await;
    tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            drop(request);
        }
    });
    let answer = request_join(&node.transport.local_addr().to_string(), &joiner(7, None)).await;
    assert!(
        matches!(&answer, Err(JoinError::Refused(reason)) if reason.contains("unanswered")),
        "{answer:?}"
    );
    node.transport.shutdown().await;
}

#[tokio::test]
async fn a_silent_target_times_the_joiner_out() {
    // Accepts, reads, never answers.
    let listener = bind_local().await;
    let target = listener.local_addr().expect("bound").to_string();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let mut params = joiner(7, None);
    params.timeout = Duration::from_millis(200);
    let answer = request_join(&target, &params).await;
    match answer {
        Err(e @ JoinError::Timeout { .. }) => assert!(e.to_string().contains(&target), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn network_and_handshake_failures_are_typed_and_name_the_target() {
    let (mut node, _) =
        joinable_answering(config(1, &BTreeMap::new(), Some(KEY)), accept_all).await;
    let target = node.transport.local_addr().to_string();

    let unresolvable = "no-such-host.invalid:1";
    let e = request_join(unresolvable, &joiner(7, Some(KEY)))
        .await
        .expect_err("no such host");
    assert!(matches!(e, JoinError::Resolve { .. }), "{e:?}");
    assert!(e.to_string().contains(unresolvable), "{e}");

    let dead = dead_addr().await.to_string();
    let e = request_join(&dead, &joiner(7, Some(KEY)))
        .await
        .expect_err("nothing listens");
    assert!(matches!(e, JoinError::Connect { .. }), "{e:?}");
    assert!(e.to_string().contains(&dead), "{e}");

    // Another key: the node's ack does not verify.
    let e = request_join(&target, &joiner(7, Some(b"another key")))
        .await
        .expect_err("wrong key");
    assert!(matches!(e, JoinError::Auth { .. }), "{e:?}");
    assert!(e.to_string().contains(&target), "{e}");
    // No key, another cluster, or the node's own id: the node closes.
    let mut other_cluster = joiner(7, Some(KEY));
    other_cluster.cluster_id = "another-cluster".to_owned();
    for params in [joiner(7, None), other_cluster, joiner(1, Some(KEY))] {
        let e = request_join(&target, &params)
            .await
            .expect_err("refused hello");
        assert!(matches!(e, JoinError::HandshakeRefused { .. }), "{e:?}");
        assert!(e.to_string().contains(&target), "{e}");
    }
    let mut bad = joiner(7, Some(KEY));
    bad.cluster_id = String::new();
    assert!(matches!(
        request_join(&target, &bad).await,
        Err(JoinError::InvalidParams(_))
    ));

    eventually("refusals counted", || {
        let stats = node.stats();
        stats.handshake_failures + stats.auth_failures >= 4
    })
    .await;
    let stats = node.stats();
    assert_eq!(stats.join_requests, 0, "{stats:?}");
    node.transport.shutdown().await;
    assert_no_protocol_traffic(&mut node);
}

#[tokio::test]
async fn join_requests_beyond_the_limits_are_refused_as_busy() {
    // One at a time: the second, while the first waits, is refused.
    let mut cfg = config(1, &BTreeMap::new(), None);
    cfg.max_join_connections = 1;
    let (mut node, mut requests) = joinable(cfg).await;
    let target = node.transport.local_addr().to_string();
    let first = tokio::spawn({
        let target = target.clone();
        async move { request_join(&target, &joiner(7, None)).await }
    });
    let waiting = timeout(PATIENCE, requests.recv())
        .await
        .expect("the first request within the patience")
        .expect("the channel is open");
    let second = request_join(&target, &joiner(8, None)).await;
    assert!(
        matches!(&second, Err(JoinError::Refused(reason)) if reason.starts_with("busy")),
        "{second:?}"
    );
    let membership = with_joiner(waiting.id, &waiting.addr);
    waiting
        .reply
        .send(JoinReply::Accepted(membership.clone()))
        .expect("the connection waits");
    assert_eq!(
        first.await.expect("no panic").expect("accepted"),
        membership
    );
    node.transport.shutdown().await;

    // A burst of one, then one an hour: the second is refused.
    let mut cfg = config(1, &BTreeMap::new(), None);
    cfg.join_rate_burst = 1;
    cfg.join_rate_interval = Duration::from_secs(3600);
    let (mut node, seen_by_node) = joinable_answering(cfg, accept_all).await;
    let target = node.transport.local_addr().to_string();
    request_join(&target, &joiner(7, None))
        .await
        .expect("within the burst");
    let second = request_join(&target, &joiner(8, None)).await;
    assert!(
        matches!(&second, Err(JoinError::Refused(reason)) if reason.starts_with("busy")),
        "{second:?}"
    );
    assert_eq!(
        seen(&seen_by_node).len(),
        1,
        "the busy one never reached it"
    );
    let stats = node.stats();
    assert_eq!(
        (stats.join_requests, stats.join_accepted, stats.join_refused),
        (2, 1, 1),
        "{stats:?}"
    );
    node.transport.shutdown().await;
}

/// A joinable node reached through a proxy running `plan`; its stub
/// runtime holds every request unanswered (so a violation, not an answer,
/// ends the connection).
async fn proxied_joinable(key: Option<&[u8]>, plan: Plan) -> (Node, Seen, String) {
    let (node, seen_by_node) =
        joinable_answering(config(1, &BTreeMap::new(), key), |_, _| None).await;
    let via = proxy(node.transport.local_addr(), plan).await;
    (node, seen_by_node, via.to_string())
}

#[tokio::test]
async fn a_join_connection_carries_one_request_and_nothing_else() {
    let garbage = || vec![0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    let mut message_frame = Vec::new();
    frame::encode_frame(&vote(1), &mut message_frame).expect("small");
    // (name, key, index of the request frame, what replaces it)
    type Tamper = Box<dyn Fn(Vec<u8>) -> Vec<Step> + Send + Sync>;
    let cases: Vec<(&str, Option<&[u8]>, usize, Tamper)> = vec![
        ("a protocol message instead", None, FIRST_DATA_UNKEYED, {
            let msg = message_frame.clone();
            Box::new(move |_| vec![Step::Send(msg.clone())])
        }),
        ("a protocol message after", None, FIRST_DATA_UNKEYED, {
            let msg = message_frame.clone();
            Box::new(move |request| vec![Step::Send(request), Step::Send(msg.clone())])
        }),
        (
            "the request twice",
            Some(KEY),
            FIRST_DATA_KEYED,
            Box::new(|request| vec![Step::Send(request.clone()), Step::Send(request)]),
        ),
        (
            "garbage instead",
            None,
            FIRST_DATA_UNKEYED,
            Box::new(move |_| vec![Step::Send(garbage())]),
        ),
        (
            "a tampered request",
            Some(KEY),
            FIRST_DATA_KEYED,
            Box::new(|mut request| {
                let last = request.len() - 1;
                request[last] ^= 1;
                vec![Step::Send(request)]
            }),
        ),
        (
            "an unauthenticated message",
            Some(KEY),
            FIRST_DATA_KEYED,
            Box::new(move |_| vec![Step::Send(message_frame.clone())]),
        ),
    ];
    for (name, key, request_index, tamper) in cases {
        let plan: Plan = Box::new(move |_, index, frame| {
            if index == request_index {
                tamper(frame)
            } else {
                vec![Step::Send(frame)]
            }
        });
        let (mut node, seen_by_node, via) = proxied_joinable(key, plan).await;
        let answer = request_join(&via, &joiner(7, key)).await;
        assert!(
            matches!(answer, Err(JoinError::Closed { .. } | JoinError::Io { .. })),
            "{name}: {answer:?}"
        );
        eventually("the violation counted", || {
            node.stats().join_violations == 1
        })
        .await;
        let stats = node.stats();
        if name.ends_with("instead") || name.contains("tampered") || name.contains("unauth") {
            assert!(seen(&seen_by_node).is_empty(), "{name}");
            assert_eq!(stats.join_requests, 0, "{name}: {stats:?}");
        }
        if key.is_some() && !name.contains("twice") {
            assert_eq!(stats.auth_failures, 1, "{name}: {stats:?}");
        }
        assert_eq!(
            stats.join_accepted + stats.join_refused,
            0,
            "{name}: {stats:?}"
        );
        node.transport.shutdown().await;
        assert_no_protocol_traffic(&mut node);
    }
}
