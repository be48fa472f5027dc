//! What every UDP transport test uses: configurations, started transports
//! and raw sockets that play a peer.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use duckduckgoose::core::MembershipId;
use duckduckgoose::transport::tcp::TcpConfig;
use duckduckgoose::transport::udp::{UdpStats, UdpStatsHandle, UdpTransport};
use duckduckgoose::transport::{Inbound, Transport};
use duckduckgoose::{Message, NodeId, Term};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout};

/// Upper bound on any wait; only reached when something is broken.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// The cluster id every test node shares (unless a test changes it).
pub const CLUSTER: &str = "udp-test-cluster";
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

/// An ack of term 1, told apart by its tick.
pub fn ack(tick: u64) -> Message {
    Message::HeartbeatAck {
        term: Term(1),
        sent_tick: tick,
        membership: MembershipId::default(),
    }
}

/// A configuration of node `id` in `cluster`, with `key`; a flush patience
/// far above what a loaded machine needs.
pub fn config_in(cluster: &str, id: u64, key: Option<&[u8]>) -> TcpConfig {
    let mut config = TcpConfig::new(NodeId(id), cluster);
    config.cluster_key = key.map(<[u8]>::to_vec);
    config.reconnect_backoff_max = Duration::from_millis(50);
    config.flush_timeout = Duration::from_secs(5);
    config
}

/// A transport of node `id` in the test cluster, on 127.0.0.1.
pub async fn transport(id: u64, key: Option<&[u8]>) -> UdpTransport {
    transport_in(CLUSTER, id, key).await
}

/// A transport of node `id` in `cluster`, on 127.0.0.1.
pub async fn transport_in(cluster: &str, id: u64, key: Option<&[u8]>) -> UdpTransport {
    let addr = "127.0.0.1:0".parse().expect("an address");
    UdpTransport::bind(config_in(cluster, id, key), addr)
        .await
        .expect("binds")
}

/// A started transport, the channel its messages arrive on, and its
/// counters.
pub struct Node {
    pub transport: UdpTransport,
    pub rx: mpsc::Receiver<Inbound>,
    pub stats: UdpStatsHandle,
    pub addr: SocketAddr,
}

impl Node {
    /// Starts `transport` with an inbound channel of 64.
    pub async fn start(mut transport: UdpTransport) -> Node {
        let (tx, rx) = mpsc::channel(64);
        transport.start(tx).await.expect("starts");
        Node {
            stats: transport.stats_handle(),
            addr: transport.local_addr(),
            transport,
            rx,
        }
    }

    /// The next message, within the patience.
    pub async fn recv(&mut self) -> Inbound {
        timeout(PATIENCE, self.rx.recv())
            .await
            .expect("a message within the patience")
            .expect("the channel is open")
    }

    /// Waits (within the patience) until the counters satisfy `done`.
    pub async fn stats_until(&self, done: impl Fn(&UdpStats) -> bool) -> UdpStats {
        stats_until(&self.stats, done).await
    }
}

/// Waits (within the patience) until `stats` satisfy `done`.
pub async fn stats_until(stats: &UdpStatsHandle, done: impl Fn(&UdpStats) -> bool) -> UdpStats {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = stats.snapshot();
        if done(&now) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "counters never got there: {now:?}"
        );
        sleep(Duration::from_millis(5)).await;
    }
}

/// Every refusal counter together: each datagram that arrives is counted
/// once, delivered or in one of them.
pub fn refused(s: &UdpStats) -> u64 {
    s.replays
        + s.reflections
        + s.stale_epochs
        + s.auth_failures
        + s.foreign_address
        + s.other_cluster
        + s.decode_errors
        + s.dropped_inbound_full
}

/// A raw socket on `ip`, port chosen by the OS; `None` when `ip` cannot be
/// bound (127.0.0.2 outside Linux).
pub async fn raw_on(ip: &str) -> Option<UdpSocket> {
    UdpSocket::bind(format!("{ip}:0")).await.ok()
}

/// A raw socket on 127.0.0.1.
pub async fn raw() -> UdpSocket {
    raw_on("127.0.0.1").await.expect("bind 127.0.0.1:0")
}

/// The next datagram `socket` receives, within the patience.
pub async fn recv_raw(socket: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0; 2048];
    let (len, _) = timeout(PATIENCE, socket.recv_from(&mut buf))
        .await
        .expect("a datagram within the patience")
        .expect("received");
    buf.truncate(len);
    buf
}

/// The datagram `sender` makes of `msg` for node `to`, captured by a raw
/// socket posing as that node.
pub async fn capture(sender: &mut UdpTransport, to: u64, msg: Message) -> Vec<u8> {
    let tap = raw().await;
    let addr = tap.local_addr().expect("bound");
    sender.set_peer_addrs([(NodeId(to), addr)]);
    sender.send(NodeId(to), msg);
    recv_raw(&tap).await
}

/// `peers` as the map `set_peers` takes.
pub fn peers(peers: &[(u64, SocketAddr)]) -> BTreeMap<NodeId, String> {
    peers
        .iter()
        .map(|(id, addr)| (NodeId(*id), addr.to_string()))
        .collect()
}
