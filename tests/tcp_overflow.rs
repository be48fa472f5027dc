//! The TCP transport under an inbound flood: when the runtime's inbound
//! queue is full, the reader drops the arriving message and counts it
//! (`dropped_inbound_full`); it never waits. So the sender's writer never
//! stalls behind a slow driver, the connection stays up, and once the driver
//! drains its queue messages flow again, on the same connection.
//!
//! The memory transport's counterpart is beside `MemoryTransport`, in its
//! unit tests.
//!
//! Everything runs on 127.0.0.1 with ports chosen by the OS. Waits are
//! bounded by a generous patience so a bug fails the test instead of hanging
//! it; no assertion is about speed.
#![cfg(feature = "tcp")]

use std::collections::BTreeMap;
use std::time::Duration;

use duckduckgoose::core::{Membership, MembershipId};
use duckduckgoose::transport::tcp::{TcpConfig, TcpTransport, TransportStats};
use duckduckgoose::transport::{Inbound, Transport};
use duckduckgoose::{Message, NodeId, Term};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout};

/// Upper bound on any wait; only reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(10);
const CLUSTER: &str = "overflow-cluster";
const KEY: &[u8] = b"correct horse battery staple";
/// The receiver's inbound queue, which its driver does not drain.
const INBOUND_CAPACITY: usize = 8;
/// Messages in the flood: far more than the inbound queue holds.
const FLOOD: usize = 1000;
/// Bytes of padding per flooding message. With `FLOOD` of them, 16 MiB in
/// all: more than loopback socket buffers hold, so a reader that waited for
/// room would stall the sender's writer, and the test would see it.
const PADDING_BYTES: usize = 16 * 1024;

const SENDER: NodeId = NodeId(1);
const RECEIVER: NodeId = NodeId(2);

/// A heartbeat made heavy by a membership with a long address.
fn heavy_heartbeat(tick: u64) -> Message {
    let membership =
        Membership::new([SENDER, RECEIVER]).with_addresses([(SENDER, "x".repeat(PADDING_BYTES))]);
    Message::Heartbeat {
        term: Term(1),
        sent_tick: tick,
        membership: Some(Box::new(membership)),
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

/// Test-friendly timings, and an outbound queue that holds the whole
/// flood: every message of it must reach the receiver's reader, so that any
/// loss is the receiver's.
fn config(id: NodeId, key: Option<&[u8]>) -> TcpConfig {
    let mut config = TcpConfig::new(id, CLUSTER);
    config.cluster_key = key.map(<[u8]>::to_vec);
    config.queue_capacity = FLOOD;
    config.reconnect_backoff_min = Duration::from_millis(5);
    config.reconnect_backoff_max = Duration::from_millis(50);
    config.handshake_timeout = Duration::from_secs(5);
    config.flush_timeout = Duration::from_secs(5);
    config
}

async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(5)).await;
    }
}

/// A sender and a receiver whose inbound queue holds `INBOUND_CAPACITY`.
struct Pair {
    sender: TcpTransport,
    receiver: TcpTransport,
    /// The receiver's inbound queue, drained only when the test says so.
    rx: mpsc::Receiver<Inbound>,
    /// The sender's inbound queue, kept open; nothing arrives there.
    _sender_rx: mpsc::Receiver<Inbound>,
}

async fn pair(key: Option<&[u8]>) -> Pair {
    let (sender_listener, receiver_listener) = (bind_local().await, bind_local().await);
    let peers = BTreeMap::from([
        (SENDER, sender_listener.local_addr().expect("bound")),
        (RECEIVER, receiver_listener.local_addr().expect("bound")),
    ]);
    let mut sender = TcpTransport::new(config(SENDER, key), sender_listener).expect("valid config");
    let mut receiver =
        TcpTransport::new(config(RECEIVER, key), receiver_listener).expect("valid config");
    sender.set_peer_addrs(peers.clone());
    receiver.set_peer_addrs(peers);
    let (sender_inbound, sender_rx) = mpsc::channel(1);
    sender.start(sender_inbound).await.expect("first start");
    let (inbound, rx) = mpsc::channel(INBOUND_CAPACITY);
    receiver.start(inbound).await.expect("first start");
    Pair {
        sender,
        receiver,
        rx,
        _sender_rx: sender_rx,
    }
}

#[tokio::test]
async fn a_flood_is_dropped_and_counted_never_waited_for_and_traffic_resumes() {
    for key in [None, Some(KEY)] {
        let Pair {
            mut sender,
            mut receiver,
            mut rx,
            _sender_rx,
        } = pair(key).await;

        // The flood, while the receiver's driver does not drain its queue.
        for tick in 0..FLOOD as u64 {
            sender.send(RECEIVER, heavy_heartbeat(tick));
        }
        // The sender's writer never stalls behind the receiver: the whole
        // flood leaves its queue and is written.
        eventually("the flood to leave the sender", || {
            sender.stats().frames_sent == FLOOD as u64 && sender.queued(RECEIVER) == Some(0)
        })
        .await;
        // The receiver reads it all: what fits is delivered, the surplus is
        // dropped and counted.
        let surplus = (FLOOD - INBOUND_CAPACITY) as u64;
        eventually("the receiver to read the whole flood", || {
            let stats = receiver.stats();
            stats.frames_received + stats.dropped_inbound_full == FLOOD as u64
        })
        .await;
        let stats = receiver.stats();
        assert_eq!(stats.frames_received, INBOUND_CAPACITY as u64, "{stats:?}");
        assert_eq!(stats.dropped_inbound_full, surplus, "{stats:?}");
        assert_no_other_drops(&sender.stats(), &stats, key);

        // Delivered in order: the first messages, which found room.
        for tick in 0..INBOUND_CAPACITY as u64 {
            let inbound = rx.try_recv().expect("queued");
            assert_eq!(inbound.from, SENDER);
            assert_eq!(inbound.msg, heavy_heartbeat(tick));
        }
        assert!(rx.try_recv().is_err(), "the surplus was not queued");

        // Drained, the receiver gets messages again, on the same connection.
        sender.send(RECEIVER, vote(2));
        let inbound = timeout(PATIENCE, rx.recv())
            .await
            .expect("a message within the patience")
            .expect("the transport keeps the channel open");
        assert_eq!((inbound.from, inbound.msg), (SENDER, vote(2)));
        let (sender_stats, stats) = (sender.stats(), receiver.stats());
        assert_eq!(stats.dropped_inbound_full, surplus, "{stats:?}");
        assert_eq!(stats.connections_accepted, 1, "{stats:?}");
        assert_eq!(sender_stats.reconnects, 0, "{sender_stats:?}");
        assert_no_other_drops(&sender_stats, &stats, key);

        sender.shutdown().await;
        receiver.shutdown().await;
        assert_eq!(receiver.stats().tasks_running, 0);
    }
}

/// Nothing was lost on the way but to the full inbound queue.
fn assert_no_other_drops(sender: &TransportStats, receiver: &TransportStats, key: Option<&[u8]>) {
    let lost = [
        ("sender queue full", sender.dropped_queue_full),
        ("sender write failed", sender.dropped_write_failed),
        ("sender oversized", sender.dropped_oversized),
        ("receiver auth failures", receiver.auth_failures),
        ("receiver decode errors", receiver.decode_errors),
        ("receiver handshake failures", receiver.handshake_failures),
    ];
    for (what, count) in lost {
        assert_eq!(count, 0, "{what} (key: {})", key.is_some());
    }
}
