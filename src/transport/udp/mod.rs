//! The UDP transport: heartbeats, acks and votes as single datagrams, the
//! rest over an inner [`TcpTransport`].
//!
//! # Why
//!
//! Over TCP one lost segment holds every later heartbeat and ack behind a
//! retransmission of at least 200 ms, longer than a 250 ms lease: on a
//! lossy network Geese step down one after another. Heartbeats, acks and
//! votes are small and idempotent, and only the newest matters, so each
//! goes as one datagram: a lost one is simply lost, and the next one
//! arrives on time.
//!
//! # What goes where
//!
//! A node has one address, `HOST:PORT`, that users configure; TCP and UDP
//! share it (the same port number on both protocols).
//!
//! - Every message goes as one UDP datagram, except those carrying a
//!   membership (a [`Message::Heartbeat`] with `membership: Some(..)`, and
//!   [`Message::NewerMembership`]) and any whose datagram would exceed
//!   [`MAX_DATAGRAM_LEN`]: they go through the inner TCP transport. They are
//!   rare and larger, and must reach nodes that do not know the sender yet,
//!   which TCP's handshake admits as strangers.
//! - Joins stay on TCP ([`Transport::take_join_requests`],
//!   [`request_join`](super::tcp::request_join)).
//! - Both halves push into the same inbound channel, and neither waits on
//!   it: a full channel drops and counts.
//!
//! # Wire format
//!
//! A fixed header (magic `DDG`, version, flags, an 8-byte cluster tag from
//! SHA-256 of the cluster id, sender and receiver ids, the sender's boot
//! epoch and datagram counter, all big-endian), the postcard-encoded
//! message, zero padding, and, with a cluster key, an HMAC-SHA256 tag over a
//! domain label, the full cluster id and everything before the tag. The tag
//! is verified, in constant time, before a byte of the message is decoded.
//! The cluster tag keeps two clusters sharing a port apart even without a
//! key. The layout is in the `wire` module's docs.
//!
//! # Replays and reflections
//!
//! Each datagram carries its sender's boot epoch (UNIX nanoseconds when the
//! transport was created, strictly above any epoch the same process used
//! before) and a counter that grows with every datagram it sends. Per
//! sender, the receiver keeps the newest epoch, the highest counter and a
//! 64-counter sliding window: a newer epoch is a restart, accepted at once
//! (the window starts over); an older epoch, a counter seen already or one
//! below the window is dropped and counted. A datagram naming another node
//! as its receiver, or this node as its sender, is a reflection: dropped
//! and counted.
//!
//! The epoch assumes that a node's clock does not step back across its
//! restart by more than its downtime; if it does, peers drop its datagrams
//! (counted as [`UdpStats::stale_epochs`]) until its epoch passes the one
//! they saw.
//!
//! # Without a cluster key
//!
//! Datagrams are accepted only from the source IPs of current peers'
//! resolved addresses (others counted as [`UdpStats::foreign_address`]).
//! Peers' names are resolved in a background task, never in `send` or
//! `set_peers`: an unresolved name is retried every few seconds, a resolved
//! one refreshed every 30 s, and failures are counted and logged once per
//! run. Messages for a peer not resolved yet are dropped and counted. This
//! stops stray traffic, not an attacker who can spoof a peer's address: use
//! a key on any network you do not trust.
//!
//! # No amplification
//!
//! An unauthenticated datagram never draws a reply larger than itself. The
//! replies that travel over UDP are `PreVoteResponse`, `VoteResponse` and
//! `HeartbeatAck`; every datagram's message region is padded with zeros to
//! the longest possible encoding of those, and the decoder refuses a
//! shorter region, so any reply is at most as long as the request that drew
//! it. (`NewerMembership`, the one larger reply, goes over TCP, whose
//! handshake a spoofed source cannot complete.) Replies go to the peer's
//! configured address, never to a datagram's source.
//!
//! # Size bound
//!
//! [`MAX_DATAGRAM_LEN`] is 1,200 bytes, so that no datagram is fragmented
//! on any IPv6 path (see its docs).
//!
//! ```no_run
//! # async fn demo() -> Result<(), duckduckgoose::transport::TransportError> {
//! use duckduckgoose::NodeId;
//! use duckduckgoose::transport::tcp::TcpConfig;
//! use duckduckgoose::transport::udp::UdpTransport;
//!
//! let config = TcpConfig::new(NodeId(1), "my-cluster")
//!     .with_cluster_key(b"a long random secret".to_vec());
//! // TCP and UDP on port 7000.
//! let transport = UdpTransport::bind(config, "0.0.0.0:7000".parse().unwrap()).await?;
//! let stats = transport.stats_handle();
//! # let _ = stats;
//! # Ok(()) }
//! ```

mod peers;
mod recv;
mod replay;
mod stats;
mod wire;

#[cfg(test)]
mod fuzz;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{Instrument, debug, debug_span};

pub use stats::{UdpStats, UdpStatsHandle};
pub use wire::MAX_DATAGRAM_LEN;

use self::peers::Peers;
use self::recv::Receiver;
use self::replay::{Replay, boot_epoch};
use self::stats::{Counters, bump};
use self::wire::{Codec, EncodeError, Header, tcp_only};
use super::tcp::addr::{PeerAddr, Resolver};
use super::tcp::{TcpConfig, TcpConfigError, TcpTransport};
use super::{Inbound, JoinRequest, Transport, TransportError};
use crate::core::{Message, NodeId};

/// Attempts at binding, when the port is the OS's choice, before giving up
/// because the UDP port the TCP listener got is taken each time.
const BIND_ATTEMPTS: usize = 8;

/// The UDP transport. See the [module docs](self).
///
/// Create it with [`bind`](Self::bind) or [`new`](Self::new), hand it to the
/// runtime, which calls [`Transport::start`]; [`Transport::shutdown`] stops
/// both halves. Dropping it without `shutdown` aborts its tasks.
pub struct UdpTransport {
    tcp: TcpTransport,
    /// The receiving side, read by the receiver task.
    socket: Arc<UdpSocket>,
    /// The same socket (a second descriptor), non-blocking, for sending.
    /// Tokio's `try_send_to` refuses to send until its reactor has seen the
    /// socket writable, which drops the first datagrams after start; the
    /// kernel answers at once, and says WouldBlock only when its buffer is
    /// really full.
    sender: std::net::UdpSocket,
    local_addr: SocketAddr,
    codec: Codec,
    /// This boot's epoch, in every datagram's header.
    epoch: u64,
    /// The next datagram's counter; never reused within the epoch.
    next_counter: u64,
    peers: Arc<Peers>,
    counters: Arc<Counters>,
    resolver: Resolver,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
    started: bool,
    /// Reused for every datagram sent.
    buf: Vec<u8>,
}

impl fmt::Debug for UdpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key never shows: neither `TcpTransport` nor `Codec` prints it.
        f.debug_struct("UdpTransport")
            .field("id", &self.codec.local())
            .field("local_addr", &self.local_addr)
            .field("epoch", &self.epoch)
            .field("tcp", &self.tcp)
            .finish_non_exhaustive()
    }
}

impl UdpTransport {
    /// A transport on a TCP listener and a UDP socket the caller bound, on
    /// the same port (the node's one address serves both).
    ///
    /// Fails if `config` is invalid, an address is unreadable, or the two
    /// ports differ ([`TransportError::PortMismatch`]).
    pub fn new(
        config: TcpConfig,
        tcp_listener: TcpListener,
        udp_socket: UdpSocket,
    ) -> Result<Self, TransportError> {
        let local_addr = udp_socket
            .local_addr()
            .map_err(|source| TransportError::Io {
                context: "read the UDP socket's local address".to_owned(),
                source,
            })?;
        let tcp = TcpTransport::new(config, tcp_listener)?;
        if tcp.local_addr().port() != local_addr.port() {
            return Err(TransportError::PortMismatch {
                tcp: tcp.local_addr(),
                udp: local_addr,
            });
        }
        let (socket, sender) = split(udp_socket)?;
        let config = tcp.config();
        let codec = Codec::new(config.id, &config.cluster_id, config.cluster_key.as_deref())
            .map_err(|_| TcpConfigError::UnusableClusterKey)?;
        let (shutdown, _) = watch::channel(false);
        Ok(UdpTransport {
            tcp,
            socket: Arc::new(socket),
            sender,
            local_addr,
            codec,
            epoch: boot_epoch(),
            next_counter: 0,
            peers: Arc::default(),
            counters: Arc::default(),
            resolver: Resolver::System,
            shutdown,
            tasks: JoinSet::new(),
            started: false,
            buf: Vec::with_capacity(MAX_DATAGRAM_LEN),
        })
    }

    /// Binds `addr` for TCP, then UDP on the port TCP got, and creates the
    /// transport. With port 0 the OS chooses; if the UDP port it chose for
    /// TCP is taken, a fresh port is tried, a few times.
    pub async fn bind(config: TcpConfig, addr: SocketAddr) -> Result<Self, TransportError> {
        config.validate()?;
        let io = |context: String| move |source| TransportError::Io { context, source };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let listener = TcpListener::bind(addr)
                .await
                .map_err(io(format!("bind {addr} (TCP)")))?;
            let tcp_addr = listener
                .local_addr()
                .map_err(io("read the listener's local address".to_owned()))?;
            match UdpSocket::bind(tcp_addr).await {
                Ok(socket) => return Self::new(config, listener, socket),
                Err(e)
                    if addr.port() == 0
                        && e.kind() == std::io::ErrorKind::AddrInUse
                        && attempt < BIND_ATTEMPTS =>
                {
                    debug!(%tcp_addr, "UDP port taken; trying another port");
                }
                Err(e) => return Err(io(format!("bind {tcp_addr} (UDP)"))(e)),
            }
        }
    }

    /// The same transport resolving peers' names with `resolve` (both
    /// halves). A test's way to make a name resolve only from some moment
    /// on; `resolve` must return at once. Not part of the API.
    #[doc(hidden)]
    #[must_use]
    pub fn with_resolver(
        mut self,
        resolve: impl Fn(&str) -> std::io::Result<Vec<SocketAddr>> + Send + Sync + 'static,
    ) -> Self {
        let resolve = Arc::new(resolve);
        let shared = Arc::clone(&resolve);
        self.tcp = self.tcp.with_resolver(move |host| shared(host));
        self.resolver = Resolver::Custom(resolve);
        self
    }

    /// The address both halves listen on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// This node's configuration as created.
    pub fn config(&self) -> &TcpConfig {
        self.tcp.config()
    }

    /// This boot's epoch: UNIX nanoseconds when the transport was created
    /// (see the [module docs](self)).
    pub fn boot_epoch(&self) -> u64 {
        self.epoch
    }

    /// Replaces the peer set, as [`TcpTransport::set_peer_addrs`] does, for
    /// both halves. Names are resolved later, in the background.
    pub fn set_peer_addrs<A: ToString>(&mut self, peers: impl IntoIterator<Item = (NodeId, A)>) {
        let peers: BTreeMap<NodeId, String> = peers
            .into_iter()
            .map(|(id, addr)| (id, addr.to_string()))
            .collect();
        self.set_peers(&peers);
    }

    /// The counters now, the TCP half's included.
    pub fn stats(&self) -> UdpStats {
        self.stats_handle().snapshot()
    }

    /// A handle that reads the counters later, after the transport has moved
    /// into the runtime.
    pub fn stats_handle(&self) -> UdpStatsHandle {
        UdpStatsHandle {
            counters: Arc::clone(&self.counters),
            tcp: self.tcp.stats_handle(),
        }
    }

    /// Hands `msg` to the TCP half.
    fn send_over_tcp(&mut self, to: NodeId, msg: Message) {
        bump(&self.counters.sent_over_tcp);
        self.tcp.send(to, msg);
    }
}

/// `socket` as a tokio socket to receive on and a non-blocking std socket
/// (the same socket, another descriptor) to send on.
fn split(socket: UdpSocket) -> Result<(UdpSocket, std::net::UdpSocket), TransportError> {
    let io = |context: &str| {
        let context = context.to_owned();
        move |source| TransportError::Io { context, source }
    };
    // `into_std` leaves the socket non-blocking, and its clone shares that.
    let std_socket = socket.into_std().map_err(io("take the UDP socket"))?;
    let sender = std_socket
        .try_clone()
        .map_err(io("clone the UDP socket for sending"))?;
    let receiver = UdpSocket::from_std(std_socket).map_err(io("register the UDP socket"))?;
    Ok((receiver, sender))
}

#[async_trait]
impl Transport for UdpTransport {
    /// Starts the TCP half, the datagram receiver and the name resolver.
    /// Fails with [`TransportError::AlreadyStarted`] when called again.
    async fn start(&mut self, inbound: mpsc::Sender<Inbound>) -> Result<(), TransportError> {
        if self.started {
            return Err(TransportError::AlreadyStarted);
        }
        self.tcp.start(inbound.clone()).await?;
        self.started = true;
        let span = debug_span!("udp_transport", node = %self.codec.local());
        let receiver = Receiver {
            socket: Arc::clone(&self.socket),
            codec: self.codec.clone(),
            keyed: self.config().cluster_key.is_some(),
            peers: Arc::clone(&self.peers),
            counters: Arc::clone(&self.counters),
            inbound,
            shutdown: self.shutdown.subscribe(),
            replay: Replay::default(),
        };
        self.tasks.spawn(receiver.run().instrument(span.clone()));
        let resolver = peers::resolve_names(
            Arc::clone(&self.peers),
            self.resolver.clone(),
            Arc::clone(&self.counters),
            self.shutdown.subscribe(),
        );
        self.tasks.spawn(resolver.instrument(span));
        debug!(node = %self.codec.local(), addr = %self.local_addr, epoch = self.epoch, "udp transport started");
        Ok(())
    }

    /// Sends `msg` as one datagram without waiting, or hands it to the TCP
    /// half (a membership, or too large). A peer without a resolved address,
    /// or a socket that cannot take the datagram at once, drops it; every
    /// case is counted.
    fn send(&mut self, to: NodeId, msg: Message) {
        if tcp_only(&msg) {
            return self.send_over_tcp(to, msg);
        }
        let Some(target) = self.peers.target(to) else {
            bump(&self.counters.unresolved);
            debug!(%to, kind = msg.kind(), "no address for the peer (yet); message dropped");
            return;
        };
        let header = Header {
            from: self.codec.local(),
            to,
            epoch: self.epoch,
            counter: self.next_counter,
        };
        self.next_counter += 1;
        match self.codec.encode(&header, &msg, &mut self.buf) {
            Ok(()) => {}
            Err(EncodeError::Oversized { len }) => {
                bump(&self.counters.oversized);
                debug!(%to, kind = msg.kind(), len, "too large for a datagram; sent over TCP");
                return self.send_over_tcp(to, msg);
            }
            Err(EncodeError::Encode(e)) => {
                bump(&self.counters.send_failures);
                debug!(%to, kind = msg.kind(), error = %e, "message does not encode; dropped");
                return;
            }
        }
        match self.sender.send_to(&self.buf, target) {
            Ok(_) => bump(&self.counters.datagrams_sent),
            Err(e) => {
                bump(&self.counters.send_failures);
                debug!(%to, %target, error = %e, "datagram not sent; dropped");
            }
        }
    }

    /// Stops the TCP half (which flushes its queues), then the receiver and
    /// the resolver, and waits until they have ended.
    async fn shutdown(&mut self) {
        self.tcp.shutdown().await;
        self.shutdown.send_replace(true);
        // The resolver may be inside a resolution; abort rather than wait.
        self.tasks.shutdown().await;
        debug!(node = %self.codec.local(), "udp transport stopped");
    }

    /// True: datagrams go to the peers' configured addresses.
    fn needs_peer_addresses(&self) -> bool {
        true
    }

    /// Gives both halves the peers; see the [module docs](self) for how
    /// names are resolved. This node's own id is ignored.
    fn set_peers(&mut self, peers: &BTreeMap<NodeId, String>) {
        self.tcp.set_peers(peers);
        let local = self.codec.local();
        self.peers.replace(
            peers
                .iter()
                .filter(|(id, _)| **id != local)
                .map(|(id, addr)| (*id, PeerAddr::parse(addr)))
                .collect(),
        );
    }

    /// See [`TcpTransport`]'s: only the TCP half keeps connections.
    fn set_removed(&mut self, removed: bool) {
        self.tcp.set_removed(removed);
    }

    /// The TCP half's join requests: joins travel over TCP.
    fn take_join_requests(&mut self) -> Option<mpsc::Receiver<JoinRequest>> {
        self.tcp.take_join_requests()
    }
}
