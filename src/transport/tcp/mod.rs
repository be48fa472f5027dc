//! The built-in TCP transport (DESIGN §4).
//!
//! Each node dials every peer for its *outbound* messages (one writer task and
//! one bounded queue per peer) and accepts its peers' connections for its
//! *inbound* ones (one reader task per connection). Connections carry
//! length-prefixed postcard frames ([`frame`]) after a handshake that checks
//! the protocol version, the cluster id and both node ids, and, with a
//! pre-shared cluster key, authenticates the handshake and every frame with
//! HMAC-SHA256. Anything malformed, oversized, unauthenticated or from outside
//! the cluster closes the connection and is counted in [`TransportStats`];
//! nothing a peer sends can panic the node or make it allocate without
//! bound.
//!
//! ```no_run
//! # async fn demo() -> Result<(), duckduckgoose::transport::TransportError> {
//! use std::collections::BTreeMap;
//! use duckduckgoose::NodeId;
//! use duckduckgoose::transport::tcp::{TcpConfig, TcpTransport};
//!
//! let peers = BTreeMap::from([
//!     (NodeId(1), "10.0.0.1:7000".parse().unwrap()),
//!     (NodeId(2), "10.0.0.2:7000".parse().unwrap()),
//!     (NodeId(3), "10.0.0.3:7000".parse().unwrap()),
//! ]);
//! let config = TcpConfig::new(NodeId(1), "my-cluster", peers)
//!     .with_cluster_key(b"a long random secret".to_vec());
//! let transport = TcpTransport::bind(config, "0.0.0.0:7000".parse().unwrap()).await?;
//! let stats = transport.stats_handle(); // read it while the runtime owns the transport
//! # let _ = stats;
//! # Ok(()) }
//! ```

mod accept;
mod auth;
mod backoff;
mod config;
pub mod frame;
mod handshake;
mod peer;
mod queue;
mod stats;

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rand::SeedableRng;
use rand::rngs::{StdRng, SysRng};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tracing::{Instrument, debug, debug_span, warn};

pub use config::{MAX_CLUSTER_ID_LEN, TcpConfig, TcpConfigError};
pub use queue::OutboundQueue;
pub use stats::{TcpStatsHandle, TransportStats};

use self::accept::Acceptor;
use self::auth::ClusterKey;
use self::peer::Writer;
use self::queue::PeerQueue;
use self::stats::{Counters, TaskGuard, bump};
use super::{Inbound, Transport, TransportError};
use crate::core::{Message, NodeId};

/// State shared by the transport and its tasks.
#[derive(Debug)]
struct Shared {
    config: TcpConfig,
    key: Option<ClusterKey>,
    counters: Arc<Counters>,
    /// The live inbound connection of each peer; a newer one closes the older
    /// (dropping its sender wakes its reader), so a peer that reconnects
    /// after a silent failure does not leave a stale reader behind.
    inbound_connections: Mutex<BTreeMap<NodeId, (u64, oneshot::Sender<()>)>>,
    next_generation: AtomicU64,
}

impl Shared {
    fn connections(&self) -> MutexGuard<'_, BTreeMap<NodeId, (u64, oneshot::Sender<()>)>> {
        // Nothing panics while holding the lock and the map is valid between
        // any two operations, so a poisoned lock is still safe to use.
        self.inbound_connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records `from`'s new connection, closing the one it replaces; returns
    /// its generation for [`unregister_inbound`](Self::unregister_inbound).
    fn register_inbound(&self, from: NodeId, superseded: oneshot::Sender<()>) -> u64 {
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let replaced = self.connections().insert(from, (generation, superseded));
        // Dropping the old sender wakes the old reader.
        drop(replaced);
        generation
    }

    fn unregister_inbound(&self, from: NodeId, generation: u64) {
        let mut connections = self.connections();
        if connections
            .get(&from)
            .is_some_and(|(g, _)| *g == generation)
        {
            connections.remove(&from);
        }
    }
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
    queues: BTreeMap<NodeId, Arc<PeerQueue>>,
    shutdown: watch::Sender<bool>,
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
            .field("peers", &self.shared.config.peers)
            .finish_non_exhaustive()
    }
}

impl TcpTransport {
    /// A transport accepting connections on `listener`, which the caller
    /// bound (so that tests can bind port 0 and learn the port first).
    ///
    /// Fails if `config` is invalid or the listener's address is unreadable.
    pub fn new(config: TcpConfig, listener: TcpListener) -> Result<Self, TransportError> {
        config
            .validate()
            .map_err(|e| TransportError::Config(e.to_string()))?;
        let local_addr = listener.local_addr().map_err(|source| TransportError::Io {
            context: "read the listener's local address".to_owned(),
            source,
        })?;
        let key = match &config.cluster_key {
            Some(key) => Some(
                ClusterKey::new(key)
                    .map_err(|e| TransportError::Config(format!("cluster_key: {e}")))?,
            ),
            None => None,
        };
        let queues = config
            .peers
            .keys()
            .filter(|peer| **peer != config.id)
            .map(|peer| (*peer, Arc::new(PeerQueue::new(config.queue_capacity))))
            .collect();
        let (shutdown, _) = watch::channel(false);
        Ok(TcpTransport {
            shared: Arc::new(Shared {
                config,
                key,
                counters: Arc::default(),
                inbound_connections: Mutex::default(),
                next_generation: AtomicU64::new(0),
            }),
            local_addr,
            listener: Some(listener),
            queues,
            shutdown,
            tasks: JoinSet::new(),
            phase: Phase::Created,
            // Nonces come from the OS's generator; if it cannot answer
            // (early boot, a locked-down sandbox), hashed entropy still
            // gives unique, unguessable ones.
            rng: StdRng::try_from_rng(&mut SysRng)
                .unwrap_or_else(|_| StdRng::from_seed(entropy_seed())),
        })
    }

    /// Binds `addr` and creates the transport on it.
    pub async fn bind(config: TcpConfig, addr: SocketAddr) -> Result<Self, TransportError> {
        // A bad config is the more useful error; report it before binding.
        config
            .validate()
            .map_err(|e| TransportError::Config(e.to_string()))?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| TransportError::Io {
                context: format!("bind {addr}"),
                source,
            })?;
        Self::new(config, listener)
    }

    /// The address the transport accepts connections on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// This node's configuration.
    pub fn config(&self) -> &TcpConfig {
        &self.shared.config
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
        self.queues.get(&peer).map(|queue| queue.len())
    }

    fn spawn_task<F>(&mut self, task: F)
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
        );
    }
}

#[async_trait]
impl Transport for TcpTransport {
    /// Starts the acceptor and one writer per peer. Fails with
    /// [`TransportError::AlreadyStarted`] when called again (or after
    /// `shutdown`).
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
        let peers: Vec<_> = self
            .queues
            .iter()
            .filter_map(|(peer, queue)| {
                let addr = *self.shared.config.peers.get(peer)?;
                Some((*peer, addr, Arc::clone(queue)))
            })
            .collect();
        for (peer, addr, queue) in peers {
            let writer = Writer {
                shared: Arc::clone(&self.shared),
                peer,
                addr,
                queue,
                shutdown: self.shutdown.subscribe(),
                rng: StdRng::from_rng(&mut self.rng),
            };
            self.spawn_task(writer.run());
        }
        debug!(node = %self.shared.config.id, addr = %self.local_addr, "tcp transport started");
        Ok(())
    }

    /// Queues `msg` for `to` without waiting. A full queue drops its oldest
    /// heartbeat (or oldest message); an unknown `to` drops `msg`. Both are
    /// counted.
    fn send(&mut self, to: NodeId, msg: Message) {
        let Some(queue) = self.queues.get(&to) else {
            bump(&self.shared.counters.unknown_peer);
            debug!(%to, kind = msg.kind(), "message for an unknown peer dropped");
            return;
        };
        if let Some(dropped) = queue.push(msg) {
            bump(&self.shared.counters.dropped_queue_full);
            debug!(%to, kind = dropped.kind(), "queue full; message dropped");
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
            if let Err(e) = joined
                && e.is_panic()
            {
                warn!(error = %e, "transport task panicked");
            }
        }
        self.tasks.shutdown().await;
        debug!(node = %self.shared.config.id, "tcp transport stopped");
    }
}

/// A fallback seed for the transport's generator, for when the OS generator
/// fails; it differs across processes and calls.
///
/// It draws on the entropy std has: `RandomState` keys its hasher from the OS generator once per
/// thread (and steps the key per call); hashing a counter and the time
/// through fresh keyed hashers yields unpredictable, non-repeating seeds.
/// Nonces need to be unique and unguessable, not secret keys.
fn entropy_seed() -> [u8; 32] {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut seed = [0u8; 32];
    for (i, chunk) in seed.chunks_exact_mut(8).enumerate() {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(call);
        hasher.write_usize(i);
        hasher.write_u128(now);
        hasher.write_u32(std::process::id());
        chunk.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    seed
}
