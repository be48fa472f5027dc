//! The built-in TCP transport.
//!
//! Each node dials every peer for its *outbound* messages (one writer task and
//! one bounded queue per peer) and accepts its peers' connections for its
//! *inbound* ones (one reader task per connection). Connections carry
//! length-prefixed postcard frames after a handshake that checks
//! the protocol version, the cluster id and both node ids, and, with a
//! pre-shared cluster key, authenticates the handshake and every frame with
//! HMAC-SHA256. Anything malformed, oversized, unauthenticated or from outside
//! the cluster closes the connection and is counted in [`TransportStats`];
//! nothing a peer sends can panic the node or make it allocate without
//! bound.
//!
//! The transport authenticates who talks; it does not decide who may. That
//! is the election's rule (the runtime hands the transport the peers the
//! election admits, see [`Transport::set_peers`]). A node of the cluster
//! that is not a peer, having passed the handshake, gets a *stranger*
//! connection, at most [`MAX_STRANGER_CONNECTIONS`] at once, and its
//! messages go to the runtime like a peer's; the election drops them unless
//! it admits the sender (a Goose this node has not heard of yet, whose
//! heartbeat brings a membership naming this node: how a member that missed
//! changes catches up). Without a cluster key, a node's identity is what
//! its hello claims and nothing more, for peers and strangers alike: use a
//! key on any network you do not trust.
//!
//! A node outside the membership asks to join with [`request_join`], in a
//! connection of its own whose handshake says so (see [`JoinParams`] and
//! the `join` module's docs): the member hands the request to its runtime
//! through [`Transport::take_join_requests`], or, as a Duck, forwards it to
//! the Goose, and writes the answer back. A join connection carries one
//! request and one answer, never a protocol message.
//!
//! The transport starts with no peers. The runtime gives it the members'
//! addresses from the membership ([`Transport::set_peers`], before `start`
//! and after every change; see
//! [`Transport::needs_peer_addresses`]); a bare transport gets them from
//! [`TcpTransport::set_peer_addrs`]. Either way an address is `"HOST:PORT"`,
//! an IP address or a DNS name resolved at every dial, and the set can
//! change at any time, before or after `start`: a new peer is dialled, a
//! peer whose address changed is redialled there with its queue kept, and a
//! removed peer's queue is dropped and its connections are closed. Nothing
//! is resolved before a dial: a name that does not resolve yet (a pod not
//! scheduled yet) only delays the dials to that peer, retried with backoff,
//! and is logged once while it lasts (then at debug level, with a reminder
//! every ten minutes) and once when the peer is reached. A refused
//! handshake is logged the same way, on both sides.
//!
//! A removed node's transport ([`Transport::set_removed`]) dials a peer
//! only when it has a message for it, and closes the connection once idle:
//! a removed node left running takes nothing of the members.
//!
//! ```no_run
//! # async fn demo() -> Result<(), duckduckgoose::transport::TransportError> {
//! use duckduckgoose::NodeId;
//! use duckduckgoose::transport::tcp::{TcpConfig, TcpTransport};
//!
//! let config = TcpConfig::new(NodeId(1), "my-cluster")
//!     .with_cluster_key(b"a long random secret".to_vec());
//! let mut transport = TcpTransport::bind(config, "0.0.0.0:7000".parse().unwrap()).await?;
//! // Under the runtime, `NodeConfig::addresses` does this instead.
//! transport.set_peer_addrs([(NodeId(2), "10.0.0.2:7000"), (NodeId(3), "db-3.internal:7000")]);
//! let stats = transport.stats_handle(); // read it while the runtime owns the transport
//! # let _ = stats;
//! # Ok(()) }
//! ```

mod accept;
pub(crate) mod addr;
mod auth;
mod backoff;
mod config;
pub(crate) mod frame;
mod handshake;
mod heard;
mod join;
mod members;
mod peer;
mod peer_set;
mod queue;
pub(crate) mod quiet;
mod rng;
mod sealed;
mod stats;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinError as TaskJoinError, JoinSet};
use tracing::{Instrument, debug, debug_span, warn};

pub use config::{MAX_CLUSTER_ID_LEN, TcpConfig, TcpConfigError};
pub use join::{JoinError, JoinParams, MAX_JOIN_ADDR_LEN, request_join};
pub use members::MAX_STRANGER_CONNECTIONS;
pub use stats::{TcpStatsHandle, TransportStats};

use self::accept::Acceptor;
use self::addr::{PeerAddr, Resolver};
use self::auth::ClusterKey;
use self::handshake::Local;
use self::join::JoinGate;
use self::members::Members;
use self::peer::Writer;
use self::queue::PeerQueue;
use self::rng::fresh_rng;
use self::stats::{Counters, TaskGuard, bump};
use super::{Inbound, JoinRequest, Transport, TransportError};
use crate::core::{Message, NodeId};

/// State shared by the transport and its tasks.
#[derive(Debug)]
struct Shared {
    /// As created.
    config: TcpConfig,
    key: Option<ClusterKey>,
    counters: Arc<Counters>,
    /// The peers now, as the inbound side sees them, and the live inbound
    /// connections of peers and strangers.
    members: Members,
    /// Limits join requests in number and rate.
    join: JoinGate,
    /// Where join requests go, once the runtime has taken the receiver.
    join_requests: OnceLock<mpsc::Sender<JoinRequest>>,
    /// Refused inbound handshakes as logged: once per run of each kind.
    refusals: accept::Refusals,
    /// Wakes a peer's writer when the peer connects in.
    heard: heard::HeardFrom,
}

impl Shared {
    /// This node, as its hellos describe it.
    fn local(&self) -> Local<'_> {
        Local {
            id: self.config.id,
            cluster_id: &self.config.cluster_id,
            key: self.key.as_ref(),
        }
    }
}

/// One peer, as the outbound side knows it.
#[derive(Debug)]
struct Peer {
    addr: PeerAddr,
    queue: Arc<PeerQueue>,
    /// Its writer task, once the transport has started.
    writer: Option<AbortHandle>,
}

/// Where the transport is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Created,
    Started,
    Stopped,
}

/// The built-in TCP transport. See the [module docs](self).
///
/// Create it with [`new`](Self::new) (on a listener the caller bound) or
/// [`bind`](Self::bind), hand it to the runtime, which calls
/// [`Transport::start`]; [`Transport::shutdown`] ends every task it spawned.
/// Dropping it without `shutdown` aborts the tasks too, without waiting.
pub struct TcpTransport {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    /// Until `start` hands it to the acceptor task.
    listener: Option<TcpListener>,
    /// The peers now (never this node itself).
    peers: BTreeMap<NodeId, Peer>,
    shutdown: watch::Sender<bool>,
    /// Whether this node is removed: its writers then dial only to deliver
    /// (see [`Transport::set_removed`]).
    removed: watch::Sender<bool>,
    /// Who resolves peers' names for the writers.
    resolver: Resolver,
    tasks: JoinSet<()>,
    phase: Phase,
    /// Seeds the tasks' generators (nonces and jitter).
    rng: StdRng,
}

impl fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpTransport")
            .field("id", &self.shared.config.id)
            .field("local_addr", &self.local_addr)
            .field("phase", &self.phase)
            .field("peers", &self.peers())
            .finish_non_exhaustive()
    }
}

impl TcpTransport {
    /// A transport accepting connections on `listener`, which the caller
    /// bound (so that tests can bind port 0 and learn the port first).
    ///
    /// Fails if `config` is invalid or the listener's address is unreadable.
    pub fn new(config: TcpConfig, listener: TcpListener) -> Result<Self, TransportError> {
        config.validate()?;
        let local_addr = listener.local_addr().map_err(|source| TransportError::Io {
            context: "read the listener's local address".to_owned(),
            source,
        })?;
        let key = match &config.cluster_key {
            Some(key) => {
                Some(ClusterKey::new(key).map_err(|_| TcpConfigError::UnusableClusterKey)?)
            }
            None => None,
        };
        let (shutdown, _) = watch::channel(false);
        let (removed, _) = watch::channel(false);
        Ok(TcpTransport {
            shared: Arc::new(Shared {
                members: Members::new(BTreeSet::new()),
                join: JoinGate::new(&config),
                join_requests: OnceLock::new(),
                refusals: accept::Refusals::default(),
                heard: heard::HeardFrom::default(),
                config,
                key,
                counters: Arc::default(),
            }),
            local_addr,
            listener: Some(listener),
            peers: BTreeMap::new(),
            shutdown,
            removed,
            resolver: Resolver::System,
            tasks: JoinSet::new(),
            phase: Phase::Created,
            rng: fresh_rng(),
        })
    }

    /// Binds `addr` and creates the transport on it.
    pub async fn bind(config: TcpConfig, addr: SocketAddr) -> Result<Self, TransportError> {
        // A bad config is the more useful error; report it before binding.
        config.validate()?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| TransportError::Io {
                context: format!("bind {addr}"),
                source,
            })?;
        Self::new(config, listener)
    }

    /// The same transport resolving peers' names with `resolve` instead of
    /// the system's resolver, for writers started from now on: a test's way
    /// to make a name resolve only from some moment on. `resolve` gets the
    /// `"HOST:PORT"` as given and must return at once. Not part of the API.
    #[doc(hidden)]
    #[must_use]
    pub fn with_resolver(
        mut self,
        resolve: impl Fn(&str) -> std::io::Result<Vec<SocketAddr>> + Send + Sync + 'static,
    ) -> Self {
        self.resolver = Resolver::Custom(Arc::new(resolve));
        self
    }

    /// The address the transport accepts connections on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// This node's configuration as created; see [`peers`](Self::peers) for
    /// its peers.
    pub fn config(&self) -> &TcpConfig {
        &self.shared.config
    }

    /// The peers now and their addresses as given: an IP address and port,
    /// or the `HOST:PORT` to resolve at every dial. Never this node itself.
    pub fn peers(&self) -> BTreeMap<NodeId, String> {
        self.peers
            .iter()
            .map(|(id, peer)| (*id, peer.addr.to_string()))
            .collect()
    }

    /// Replaces the peer set with `peers` and their addresses, each anything
    /// that displays as `"HOST:PORT"`: a [`SocketAddr`], or a string naming
    /// an IP address or a DNS name (resolved at every dial, as
    /// [`Transport::set_peers`] does). `peers` may hold this node's own id,
    /// which is ignored. A transport starts with no peers; the runtime
    /// calls [`Transport::set_peers`] instead, from the membership. Returns
    /// at once, before or after [`start`](Transport::start):
    ///
    /// - a new peer gets an empty queue and, once started, is dialled;
    /// - a peer whose address changed is redialled at the new one, keeping
    ///   the messages queued for it (one batch being written to the old
    ///   address when it changes may be lost, as on any broken connection);
    /// - a removed peer's queued messages (the last heartbeat telling it of
    ///   its removal, say) get [`TcpConfig::flush_timeout`] to leave, and
    ///   what is left then is dropped (counted in
    ///   [`TransportStats::dropped_peer_removed`]); its outbound connection
    ///   closes once they are sent, its inbound ones at once, and from then
    ///   on messages for it are
    ///   dropped, counted as [`unknown_peer`](TransportStats::unknown_peer).
    ///   It may connect again only as a stranger, within
    ///   [`MAX_STRANGER_CONNECTIONS`];
    /// - a stranger that becomes a peer keeps its inbound connection.
    ///
    /// [`Transport::set_peers`] does the same with a map of strings.
    pub fn set_peer_addrs<A: ToString>(&mut self, peers: impl IntoIterator<Item = (NodeId, A)>) {
        self.replace_peers(
            peers
                .into_iter()
                .map(|(id, addr)| (id, PeerAddr::parse(&addr.to_string())))
                .collect(),
        );
    }

    /// The counters now.
    pub fn stats(&self) -> TransportStats {
        self.stats_handle().snapshot()
    }

    /// A handle that reads the counters later, after the transport has moved
    /// into the runtime.
    pub fn stats_handle(&self) -> TcpStatsHandle {
        TcpStatsHandle {
            counters: Arc::clone(&self.shared.counters),
        }
    }

    /// Messages waiting in `peer`'s outbound queue, or `None` for an id that
    /// is not a peer.
    pub fn queued(&self, peer: NodeId) -> Option<usize> {
        self.peers.get(&peer).map(|peer| peer.queue.len())
    }

    fn spawn_task<F>(&mut self, task: F) -> AbortHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let guard = TaskGuard::new(&self.shared.counters);
        let span = debug_span!("tcp_transport", node = %self.shared.config.id);
        self.tasks.spawn(
            async move {
                let _guard = guard;
                task.await;
            }
            .instrument(span),
        )
    }

    /// Starts `id`'s writer at its current address.
    fn spawn_writer(&mut self, id: NodeId) {
        let Some(peer) = self.peers.get(&id) else {
            return;
        };
        let writer = Writer {
            shared: Arc::clone(&self.shared),
            peer: id,
            addr: peer.addr.clone(),
            queue: Arc::clone(&peer.queue),
            shutdown: self.shutdown.subscribe(),
            removed: self.removed.subscribe(),
            heard: self.shared.heard.signal(id),
            resolver: self.resolver.clone(),
            rng: StdRng::from_rng(&mut self.rng),
        };
        let handle = self.spawn_task(writer.run());
        if let Some(peer) = self.peers.get_mut(&id) {
            peer.writer = Some(handle);
        }
    }
}

#[async_trait]
impl Transport for TcpTransport {
    /// Starts the acceptor and one writer per peer. Fails with
    /// [`TransportError::AlreadyStarted`] when called again (or after
    /// `shutdown`).
    ///
    /// A message that arrives while `inbound` is full is dropped and counted
    /// in [`TransportStats::dropped_inbound_full`]; its connection stays up.
    /// A closed `inbound` ends every inbound connection.
    async fn start(&mut self, inbound: mpsc::Sender<Inbound>) -> Result<(), TransportError> {
        let Some(listener) = self.listener.take() else {
            return Err(TransportError::AlreadyStarted);
        };
        self.phase = Phase::Started;
        let acceptor = Acceptor {
            shared: Arc::clone(&self.shared),
            listener,
            inbound,
            shutdown: self.shutdown.subscribe(),
            rng: StdRng::from_rng(&mut self.rng),
        };
        self.spawn_task(acceptor.run());
        let peers: Vec<NodeId> = self.peers.keys().copied().collect();
        for peer in peers {
            self.spawn_writer(peer);
        }
        debug!(node = %self.shared.config.id, addr = %self.local_addr, "tcp transport started");
        Ok(())
    }

    /// Queues `msg` for `to` without waiting. A full queue drops its oldest
    /// heartbeat (or oldest message); an unknown `to` drops `msg`. Both are
    /// counted.
    fn send(&mut self, to: NodeId, msg: Message) {
        let Some(queue) = self.peers.get(&to).map(|peer| &peer.queue) else {
            bump(&self.shared.counters.unknown_peer);
            debug!(%to, kind = msg.kind(), "message for an unknown peer dropped");
            return;
        };
        if let Some(dropped) = queue.push(msg) {
            bump(&self.shared.counters.dropped_queue_full);
            debug!(%to, kind = dropped.kind(), "queue full; message dropped");
        }
    }

    /// The join requests that arrive on join connections (see the
    /// [module docs](self)), once: later calls return `None`. The channel
    /// holds [`TcpConfig::max_join_connections`] requests; until it is
    /// taken, and once its receiver is dropped, joiners are refused ("not
    /// accepting joins"), and while it is full, refused as busy. Each
    /// request must be answered within [`TcpConfig::join_timeout`]; a
    /// [`JoinReply::NotGoose`](super::JoinReply::NotGoose) naming the
    /// Goose's address is forwarded there, and the Goose's answer relayed.
    fn take_join_requests(&mut self) -> Option<mpsc::Receiver<JoinRequest>> {
        let (requests, receiver) = mpsc::channel(self.shared.config.max_join_connections);
        self.shared.join_requests.set(requests).ok()?;
        Some(receiver)
    }

    /// True: the transport dials its peers, so the runtime must know every
    /// member's address.
    fn needs_peer_addresses(&self) -> bool {
        true
    }

    /// See [`TcpTransport::set_peer_addrs`]. Each address is parsed as an
    /// IP address and port when it is one; otherwise it is a name that the
    /// peer's writer resolves before every dial (so this never blocks, and a
    /// DNS change is picked up at the next reconnect). An address that is
    /// neither, or a name that does not resolve (yet), is counted in
    /// [`TransportStats::resolve_failures`] at every attempt and retried
    /// with backoff; it is logged as a warning once per run of failures
    /// (see the [module docs](self)).
    fn set_peers(&mut self, peers: &BTreeMap<NodeId, String>) {
        self.replace_peers(
            peers
                .iter()
                .map(|(id, addr)| (*id, PeerAddr::parse(addr)))
                .collect(),
        );
    }

    /// While `removed`, each peer's writer dials only when a message waits
    /// for that peer, and closes its connection once nothing has been sent
    /// on it for a few seconds (a member that no longer counts this node
    /// closes it earlier); a message it cannot deliver at the first attempt
    /// is dropped, counted in [`TransportStats::dropped_write_failed`]: it
    /// answered a member that asked just now, and would be stale by the
    /// time a retry got through. Back to not removed, every writer dials at
    /// once, as at start. Changing nothing is free.
    fn set_removed(&mut self, removed: bool) {
        let changed = self.removed.send_if_modified(|now| {
            let changed = *now != removed;
            *now = removed;
            changed
        });
        match (changed, removed) {
            (true, true) => {
                debug!(node = %self.shared.config.id, "removed: dialling peers only to deliver")
            }
            (true, false) => debug!(node = %self.shared.config.id, "a member: dialling every peer"),
            (false, _) => {}
        }
    }

    /// Stops accepting, gives queued messages up to
    /// [`TcpConfig::flush_timeout`] to leave, then aborts whatever is left and
    /// waits until every task has ended.
    async fn shutdown(&mut self) {
        if self.phase == Phase::Stopped {
            return;
        }
        self.phase = Phase::Stopped;
        self.listener = None;
        self.shutdown.send_replace(true);
        let deadline = tokio::time::Instant::now() + self.shared.config.flush_timeout;
        while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, self.tasks.join_next()).await
        {
            log_panic(joined);
        }
        self.tasks.shutdown().await;
        debug!(node = %self.shared.config.id, "tcp transport stopped");
    }
}

/// Logs a task that ended in a panic; a cancelled one (an aborted writer)
/// ended on purpose.
fn log_panic(joined: Result<(), TaskJoinError>) {
    if let Err(e) = joined
        && e.is_panic()
    {
        warn!(error = %e, "transport task panicked");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_invalid_config_is_refused_with_what_is_wrong() {
        let config = TcpConfig {
            queue_capacity: 0,
            ..TcpConfig::new(NodeId(1), "c")
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        assert!(matches!(
            TcpTransport::new(config.clone(), listener),
            Err(TransportError::Config(TcpConfigError::ZeroQueueCapacity))
        ));
        let refused = TcpTransport::bind(config, "127.0.0.1:0".parse().expect("an address")).await;
        let Err(error) = refused else {
            panic!("an invalid config was accepted");
        };
        assert!(matches!(
            error,
            TransportError::Config(TcpConfigError::ZeroQueueCapacity)
        ));
        assert_eq!(
            error.to_string(),
            "invalid transport configuration: queue_capacity must be at least 1"
        );
    }
}
