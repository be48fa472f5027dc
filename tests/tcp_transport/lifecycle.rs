//! Bounded queues, shutdown, and the configurations refused at creation.

use std::collections::BTreeMap;
use std::time::Duration;

use duckduckgoose::transport::tcp::{TcpConfig, TcpConfigError, TcpTransport};
use duckduckgoose::transport::{Inbound, Transport, TransportError};
use duckduckgoose::{Message, NodeId, Term};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::common::{KEY, Node, bind_local, cluster, config, hb, vote};

// ---------------------------------------------------------------------------
// Queues.
// ---------------------------------------------------------------------------

#[tokio::test]
async fn queue_to_a_down_peer_stays_bounded_and_keeps_the_vote() {
    let (la, closed) = (bind_local().await, bind_local().await);
    let down = closed.local_addr().expect("bound");
    drop(closed);
    let peers = BTreeMap::from([(NodeId(2), down)]);
    let mut cfg = config(1, None);
    cfg.queue_capacity = 8;
    let mut a = Node::start(cfg, &peers, la).await;
    a.transport.send(NodeId(2), vote(1));
    for tick in 0..100 {
        a.transport.send(NodeId(2), hb(tick));
    }
    assert_eq!(a.transport.queued(NodeId(2)), Some(8));
    assert_eq!(a.stats().dropped_queue_full, 101 - 8);

    // The peer comes up: the vote and the newest heartbeats arrive.
    let listener = TcpListener::bind(down).await.expect("port still free");
    let mut b = Node::start(
        config(2, None),
        &BTreeMap::from([(NodeId(1), a.transport.local_addr())]),
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
    let mut transport = TcpTransport::new(config(1, None), listener).expect("valid");
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
    let base = config(1, None);
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
