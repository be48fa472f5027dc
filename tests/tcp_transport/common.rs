//! What every TCP transport test uses: messages, configurations with
//! test-friendly timings, and a started transport with its inbound channel.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use duckduckgoose::core::MembershipId;
use duckduckgoose::transport::tcp::{TcpConfig, TcpStatsHandle, TcpTransport, TransportStats};
use duckduckgoose::transport::{Inbound, Transport};
use duckduckgoose::{Message, NodeId, Term};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout};

use crate::support::cluster::loopback;

/// Upper bound on any wait; only reached when something is broken.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// The cluster id every test node shares (unless a test changes it).
pub const CLUSTER: &str = "test-cluster";
/// The cluster key of the keyed tests.
pub const KEY: &[u8] = b"correct horse battery staple";

/// A bare heartbeat of term 1, told apart by its tick.
pub fn hb(tick: u64) -> Message {
    Message::Heartbeat {
        term: Term(1),
        sent_tick: tick,
        membership: None,
    }
}

/// A vote request, told apart by its term.
pub fn vote(term: u64) -> Message {
    Message::Vote {
        term: Term(term),
        transfer: false,
        membership: MembershipId::default(),
    }
}

/// A listener on 127.0.0.1, on a port the OS picks.
pub async fn bind_local() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0")
}

/// The address `addr`'s port has on `localhost`, to go through the resolver.
pub fn by_name(addr: SocketAddr) -> String {
    format!("localhost:{}", addr.port())
}

/// An address nothing listens on (bound, then released).
pub async fn dead_addr() -> SocketAddr {
    bind_local().await.local_addr().expect("bound")
}

/// A configuration with test-friendly timings: quick redials, and a flush
/// and handshake patience far above what a loaded CI machine needs.
pub fn config(id: u64, key: Option<&[u8]>) -> TcpConfig {
    let mut config = TcpConfig::new(NodeId(id), CLUSTER);
    config.cluster_key = key.map(<[u8]>::to_vec);
    config.reconnect_backoff_min = Duration::from_millis(5);
    config.reconnect_backoff_max = Duration::from_millis(50);
    config.handshake_timeout = Duration::from_secs(5);
    config.flush_timeout = Duration::from_secs(5);
    config
}

/// A started transport, the channel its messages arrive on, and its
/// counters.
pub struct Node {
    pub transport: TcpTransport,
    pub rx: mpsc::Receiver<Inbound>,
    pub stats: TcpStatsHandle,
}

impl Node {
    /// Creates a transport on `listener`, gives it `peers` (addresses or
    /// names, as [`TcpTransport::set_peer_addrs`] takes them) and starts it.
    pub async fn start<A: ToString>(
        config: TcpConfig,
        peers: &BTreeMap<NodeId, A>,
        listener: TcpListener,
    ) -> Node {
        let mut transport = TcpTransport::new(config, listener).expect("valid config");
        transport.set_peer_addrs(peers.iter().map(|(id, addr)| (*id, addr.to_string())));
        let (tx, rx) = mpsc::channel(1024);
        transport.start(tx).await.expect("first start");
        let stats = transport.stats_handle();
        Node {
            transport,
            rx,
            stats,
        }
    }

    /// A node `id` that knows only `target`, at `addr`.
    pub async fn knowing(id: u64, target: u64, addr: SocketAddr, key: Option<&[u8]>) -> Node {
        let peers = BTreeMap::from([(NodeId(target), addr)]);
        Node::start(config(id, key), &peers, bind_local().await).await
    }

    /// The address this node listens on.
    pub fn addr(&self) -> SocketAddr {
        self.transport.local_addr()
    }

    /// The transport's counters now.
    pub fn stats(&self) -> TransportStats {
        self.stats.snapshot()
    }

    /// The next message delivered, within [`PATIENCE`].
    pub async fn recv(&mut self) -> Inbound {
        timeout(PATIENCE, self.rx.recv())
            .await
            .expect("a message within the patience")
            .expect("the transport keeps the channel open")
    }

    /// Panics if a message is waiting.
    pub fn assert_nothing_received(&mut self) {
        if let Ok(inbound) = self.rx.try_recv() {
            panic!("unexpected delivery: {inbound:?}");
        }
    }
}

/// Nodes 1..=n on fresh ports, each knowing all the others.
pub async fn cluster(n: u64, key: Option<&[u8]>) -> Vec<Node> {
    let ids: Vec<NodeId> = (1..=n).map(NodeId).collect();
    let (listeners, peers) = loopback::bind_listeners(&ids).await;
    let mut nodes = Vec::new();
    for (id, listener) in listeners {
        nodes.push(Node::start(config(id.0, key), &peers, listener).await);
    }
    nodes
}

/// Polls `condition` every 5 ms until it holds, for at most [`PATIENCE`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(5)).await;
    }
}

/// Shuts every node down and checks that none leaves a task behind.
pub async fn shutdown_all<'a>(nodes: impl IntoIterator<Item = &'a mut Node>) {
    for node in nodes {
        node.transport.shutdown().await;
        assert_eq!(node.stats().tasks_running, 0);
    }
}
