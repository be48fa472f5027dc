//! One builder for clusters of real runtime nodes, shared by the
//! runtime-level tests (`mod support;`) and the failover bench (which
//! includes this module by path).
//!
//! A cluster is N [`Node`]s with ids 1, 2, ...: voters first, then learners,
//! over one in-process [`MemoryNetwork`] or over [`TcpTransport`]s on
//! 127.0.0.1 (feature `tcp`; every listener is bound, on a port the OS picks,
//! before any transport exists). Each node keeps its state in a `MemStorage`
//! the cluster holds on to, or in a `FileStorage` in its own directory under
//! one temporary root, so a crashed or stopped node restarts on what it
//! saved (and, over TCP, on its port). Dropping the cluster aborts every node
//! and removes the directories, on every exit path.
//!
//! ```ignore
//! let mut cluster = Cluster::memory(7).voters(3).start().await;
//! let goose = cluster.settled(PATIENCE).await;
//! cluster.crash(goose.id()).await;
//! let back = cluster.restart(goose.id()).await;
//! ```
#![allow(dead_code)]

#[path = "../loopback.rs"]
pub mod loopback;
mod wait;
mod watch;

use std::collections::BTreeMap;
#[cfg(feature = "tcp")]
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use duckduckgoose::NodeId;
use duckduckgoose::core::Membership;
use duckduckgoose::runtime::{Node, NodeConfig, NodeHandle, StartError};
use duckduckgoose::storage::{FileStorage, MemStorage};
#[cfg(feature = "tcp")]
use duckduckgoose::transport::tcp::{TcpConfig, TcpStatsHandle, TcpTransport, TransportStats};
use duckduckgoose::transport::{MemoryNetwork, MemoryTransport, Transport};
use tempfile::TempDir;
#[cfg(feature = "tcp")]
use tokio::net::TcpListener;

// Each includer uses a part of them.
#[allow(unused_imports)]
pub use wait::{eventually, first_goose, geese, others, single_goose, wait_until};
pub use watch::GooseWatch;

/// Where each node keeps its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageKind {
    /// A `MemStorage` per node, held by the cluster, so a restarted node
    /// finds what it saved; no fsync.
    Mem,
    /// A `FileStorage` per node, in its own directory under one temporary
    /// root; every save is fsynced.
    File,
}

/// Adjusts every node's base configuration (timing, seeds, addresses...).
type Configure = Box<dyn Fn(&mut NodeConfig)>;

/// How the nodes talk, as asked for.
enum NetChoice {
    Memory {
        seed: u64,
    },
    #[cfg(feature = "tcp")]
    Tcp {
        cluster_id: String,
    },
}

/// Options of a [`Cluster`]; see [`Cluster::memory`] and [`Cluster::tcp`].
pub struct ClusterBuilder {
    net: NetChoice,
    voters: u64,
    learners: u64,
    storage: StorageKind,
    configure: Option<Configure>,
    watch: bool,
    #[cfg(feature = "tcp")]
    key: Option<Vec<u8>>,
    #[cfg(feature = "tcp")]
    node_keys: BTreeMap<NodeId, Vec<u8>>,
}

impl ClusterBuilder {
    fn new(net: NetChoice, storage: StorageKind) -> Self {
        ClusterBuilder {
            net,
            voters: 3,
            learners: 0,
            storage,
            configure: None,
            watch: false,
            #[cfg(feature = "tcp")]
            key: None,
            #[cfg(feature = "tcp")]
            node_keys: BTreeMap::new(),
        }
    }

    /// Voters `1..=count` (3 unless set).
    pub fn voters(mut self, count: u64) -> Self {
        self.voters = count;
        self
    }

    /// `count` learners, numbered after the voters, in every node's
    /// membership.
    pub fn learners(mut self, count: u64) -> Self {
        self.learners = count;
        self
    }

    /// Where the nodes keep their state.
    pub fn storage(mut self, storage: StorageKind) -> Self {
        self.storage = storage;
        self
    }

    /// Applies `configure` to every node's base configuration
    /// ([`Cluster::config`]): timing, seeds, addresses.
    pub fn configure(mut self, configure: impl Fn(&mut NodeConfig) + 'static) -> Self {
        self.configure = Some(Box::new(configure));
        self
    }

    /// Samples every node started from a watchdog thread, which fails the
    /// test if two ever answer `is_goose()` at once ([`Cluster::watch`]).
    pub fn watch_geese(mut self) -> Self {
        self.watch = true;
        self
    }

    /// Every node's cluster key (none unless set).
    #[cfg(feature = "tcp")]
    pub fn cluster_key(mut self, key: &[u8]) -> Self {
        self.key = Some(key.to_vec());
        self
    }

    /// Node `id`'s own cluster key, instead of the cluster's.
    #[cfg(feature = "tcp")]
    pub fn node_key(mut self, id: NodeId, key: &[u8]) -> Self {
        self.node_keys.insert(id, key.to_vec());
        self
    }

    /// The cluster with no node started yet: the test starts them
    /// ([`Cluster::start_node`], [`Cluster::start_node_on`]).
    pub async fn build(self) -> Cluster {
        let voters: Vec<NodeId> = (1..=self.voters).map(NodeId).collect();
        let learners: Vec<NodeId> = (self.voters + 1..=self.voters + self.learners)
            .map(NodeId)
            .collect();
        let members: Vec<NodeId> = voters.iter().chain(&learners).copied().collect();
        let net = match self.net {
            NetChoice::Memory { seed } => Net::Memory(MemoryTransport::network(seed)),
            #[cfg(feature = "tcp")]
            NetChoice::Tcp { cluster_id } => {
                let (listeners, addrs) = loopback::bind_listeners(&members).await;
                Net::Tcp(TcpNet {
                    cluster_id,
                    key: self.key,
                    node_keys: self.node_keys,
                    addrs,
                    listeners,
                    stats: BTreeMap::new(),
                })
            }
        };
        let root = (self.storage == StorageKind::File)
            .then(|| tempfile::tempdir().expect("a temporary directory"));
        Cluster {
            mem: members.iter().map(|&id| (id, MemStorage::new())).collect(),
            voters,
            learners,
            net,
            storage: self.storage,
            configure: self.configure,
            root,
            nodes: Vec::new(),
            watch: self.watch.then(GooseWatch::start),
        }
    }

    /// The cluster with every member started, in id order, each with its
    /// base configuration ([`Cluster::config`]).
    pub async fn start(self) -> Cluster {
        let mut cluster = self.build().await;
        let members: Vec<NodeId> = cluster
            .voters
            .iter()
            .chain(&cluster.learners)
            .copied()
            .collect();
        for id in members {
            cluster.restart(id).await;
        }
        cluster
    }
}

/// How the nodes talk.
enum Net {
    Memory(MemoryNetwork),
    #[cfg(feature = "tcp")]
    Tcp(TcpNet),
}

/// The TCP side of a cluster: addresses, listeners not yet taken, keys and
/// each node's transport counters.
#[cfg(feature = "tcp")]
struct TcpNet {
    cluster_id: String,
    key: Option<Vec<u8>>,
    node_keys: BTreeMap<NodeId, Vec<u8>>,
    /// Every node's listening address; each member's configuration lists
    /// the members' (the runtime hands them to its transport).
    addrs: BTreeMap<NodeId, SocketAddr>,
    /// Bound for a node that has not started yet.
    listeners: BTreeMap<NodeId, TcpListener>,
    /// The counters of each node's current transport.
    stats: BTreeMap<NodeId, TcpStatsHandle>,
}

#[cfg(feature = "tcp")]
impl TcpNet {
    /// A transport for node `id`, on its bound listener or, for a restart,
    /// on its old port. The old task releases the port as it is dropped,
    /// which may take a moment after `abort`, so binding is retried.
    async fn transport(&mut self, id: NodeId) -> TcpTransport {
        let listener = match self.listeners.remove(&id) {
            Some(listener) => listener,
            None => {
                let addr = *self
                    .addrs
                    .get(&id)
                    .unwrap_or_else(|| panic!("node {id} has no port: bind one first"));
                loopback::retry("rebind the node's port", || TcpListener::bind(addr)).await
            }
        };
        let mut config = TcpConfig::new(id, self.cluster_id.as_str());
        if let Some(key) = self.node_keys.get(&id).or(self.key.as_ref()) {
            config = config.with_cluster_key(key.clone());
        }
        // Transport only (not election timing): a restarted node is
        // redialled within 100 ms, not after a second of backoff.
        config.reconnect_backoff_max = Duration::from_millis(100);
        let transport = TcpTransport::new(config, listener).expect("a valid transport config");
        self.stats.insert(id, transport.stats_handle());
        transport
    }
}

/// Real nodes of one cluster; see the module docs.
pub struct Cluster {
    voters: Vec<NodeId>,
    learners: Vec<NodeId>,
    net: Net,
    storage: StorageKind,
    configure: Option<Configure>,
    /// The nodes' directories, with [`StorageKind::File`].
    root: Option<TempDir>,
    /// Each node's `MemStorage`, with [`StorageKind::Mem`]; a clone shares
    /// the state.
    mem: BTreeMap<NodeId, MemStorage>,
    /// The latest start of each node, in id order.
    nodes: Vec<NodeHandle>,
    watch: Option<GooseWatch>,
}

impl Cluster {
    /// A cluster on one in-process network whose faults are drawn from
    /// `seed`, each node with a `MemStorage`.
    pub fn memory(seed: u64) -> ClusterBuilder {
        ClusterBuilder::new(NetChoice::Memory { seed }, StorageKind::Mem)
    }

    /// A cluster over TCP on 127.0.0.1 with the cluster id `cluster_id`, each
    /// node with a `FileStorage`.
    #[cfg(feature = "tcp")]
    pub fn tcp(cluster_id: &str) -> ClusterBuilder {
        let net = NetChoice::Tcp {
            cluster_id: cluster_id.to_owned(),
        };
        ClusterBuilder::new(net, StorageKind::File)
    }

    /// The voters' ids.
    pub fn voters(&self) -> &[NodeId] {
        &self.voters
    }

    /// Node `id`'s base configuration: the cluster's voters and learners,
    /// over TCP every member's listening address (the one place the nodes
    /// learn where the others are), then the builder's `configure`.
    pub fn config(&self, id: NodeId) -> NodeConfig {
        let mut config = NodeConfig::new(id, self.voters.iter().copied());
        config.learners = self.learners.clone();
        #[cfg(feature = "tcp")]
        if let Net::Tcp(tcp) = &self.net {
            config.addresses = tcp
                .addrs
                .iter()
                .filter(|(id, _)| self.voters.contains(id) || self.learners.contains(id))
                .map(|(id, addr)| (*id, addr.to_string()))
                .collect();
        }
        if let Some(configure) = &self.configure {
            configure(&mut config);
        }
        config
    }

    /// Starts node `config.id` (again, on its storage, if it ran before)
    /// with the cluster's transport for it.
    pub async fn start_node(&mut self, config: NodeConfig) -> Result<NodeHandle, StartError> {
        match &mut self.net {
            Net::Memory(network) => {
                let transport = network.transport(config.id);
                self.start_node_on(config, transport).await
            }
            #[cfg(feature = "tcp")]
            Net::Tcp(tcp) => {
                let transport = tcp.transport(config.id).await;
                self.start_node_on(config, transport).await
            }
        }
    }

    /// Starts node `config.id` on its storage with a transport of the
    /// test's own (a wrapper around [`network`](Self::network)'s, say).
    pub async fn start_node_on<T: Transport>(
        &mut self,
        config: NodeConfig,
        transport: T,
    ) -> Result<NodeHandle, StartError> {
        let id = config.id;
        let node = match self.storage {
            StorageKind::Mem => {
                let storage = self.mem.entry(id).or_default().clone();
                Node::start(config, transport, storage).await?
            }
            StorageKind::File => {
                let dir = self.dir(id);
                // A node aborted a moment ago may still hold the directory
                // lock until its task is dropped.
                let storage = loopback::retry("open the node's storage", || {
                    std::future::ready(FileStorage::open(&dir))
                })
                .await;
                Node::start(config, transport, storage).await?
            }
        };
        if let Some(watch) = &self.watch {
            watch.watch(&node);
        }
        match self.nodes.binary_search_by_key(&id, NodeHandle::id) {
            Ok(index) => self.nodes[index] = node.clone(),
            Err(index) => self.nodes.insert(index, node.clone()),
        }
        Ok(node)
    }

    /// Starts node `id` (again) with its base configuration, on its storage
    /// and, over TCP, its port.
    pub async fn restart(&mut self, id: NodeId) -> NodeHandle {
        let config = self.config(id);
        self.start_node(config).await.expect("a valid node starts")
    }

    /// Stops node `id` gracefully (a Goose hands over first).
    pub async fn stop(&self, id: NodeId) {
        self.node(id).shutdown().await;
    }

    /// Crashes node `id`: aborts it, with no hand-over, and waits until its
    /// task has ended.
    pub async fn crash(&self, id: NodeId) {
        let node = self.node(id);
        node.abort();
        node.stopped().await;
    }

    /// Stops every node gracefully.
    pub async fn shutdown(&self) {
        for node in &self.nodes {
            node.shutdown().await;
        }
    }

    /// The latest start of every node, in id order.
    pub fn nodes(&self) -> &[NodeHandle] {
        &self.nodes
    }

    /// The latest start of node `id`.
    pub fn node(&self, id: NodeId) -> NodeHandle {
        self.nodes
            .iter()
            .find(|node| node.id() == id)
            .cloned()
            .unwrap_or_else(|| panic!("node {id} never started"))
    }

    /// Every node but `except`.
    pub fn others(&self, except: NodeId) -> Vec<NodeHandle> {
        others(&self.nodes, except)
    }

    /// The running nodes of `membership`.
    pub fn members_of(&self, membership: &Membership) -> Vec<NodeHandle> {
        self.nodes
            .iter()
            .filter(|node| node.is_running() && membership.contains(node.id()))
            .cloned()
            .collect()
    }

    /// Waits for exactly one Goose and for every other running node to
    /// follow it in its term, sampling as [`wait_until`] does; returns the
    /// Goose, which must have kept its lease meanwhile.
    pub async fn settled(&self, timeout: Duration) -> NodeHandle {
        let goose = single_goose(&self.nodes, timeout).await;
        let term = goose.status().term;
        wait_until(
            &self.nodes,
            timeout,
            "every Duck to follow the Goose",
            |nodes| {
                nodes.iter().all(|node| {
                    let status = node.status();
                    !status.running || (status.leader == Some(goose.id()) && status.term == term)
                })
            },
        )
        .await;
        assert!(goose.is_goose(), "the Goose kept its lease while settling");
        goose
    }

    /// The in-process network (its partitions, loss and delay).
    pub fn network(&self) -> &MemoryNetwork {
        match &self.net {
            Net::Memory(network) => network,
            #[cfg(feature = "tcp")]
            Net::Tcp(_) => panic!("a TCP cluster has no in-process network"),
        }
    }

    /// Node `id`'s `MemStorage` (a clone sharing its state).
    pub fn storage(&self, id: NodeId) -> MemStorage {
        assert_eq!(self.storage, StorageKind::Mem, "the nodes keep files");
        self.mem
            .get(&id)
            .cloned()
            .unwrap_or_else(|| panic!("node {id} has no storage yet"))
    }

    /// Node `id`'s directory, with [`StorageKind::File`].
    pub fn dir(&self, id: NodeId) -> PathBuf {
        let root = self.root.as_ref().expect("the nodes keep files");
        root.path().join(format!("node-{id}"))
    }

    /// The watchdog of [`ClusterBuilder::watch_geese`].
    pub fn watch(&self) -> &GooseWatch {
        self.watch.as_ref().expect("built with watch_geese")
    }
}

#[cfg(feature = "tcp")]
impl Cluster {
    fn tcp_net(&self) -> &TcpNet {
        match &self.net {
            Net::Tcp(tcp) => tcp,
            Net::Memory(_) => panic!("an in-process cluster has no ports"),
        }
    }

    /// Node `id`'s listening address.
    pub fn addr(&self, id: NodeId) -> SocketAddr {
        self.tcp_net().addrs[&id]
    }

    /// The counters of node `id`'s current transport.
    pub fn stats(&self, id: NodeId) -> TransportStats {
        self.tcp_net().stats[&id].snapshot()
    }

    /// Binds a port for node `id`, not started yet (a joiner), and adds it
    /// to the address map: [`addr`](Self::addr) tells it, and the base
    /// configuration of a member `id` lists it.
    pub async fn bind(&mut self, id: NodeId) -> SocketAddr {
        let Net::Tcp(tcp) = &mut self.net else {
            panic!("an in-process cluster has no ports");
        };
        let (mut listeners, addrs) = loopback::bind_listeners(&[id]).await;
        let addr = addrs[&id];
        tcp.listeners
            .insert(id, listeners.remove(&id).expect("bound"));
        tcp.addrs.insert(id, addr);
        addr
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &self.nodes {
            node.abort();
        }
        // A last check catches a violation in the final moments of a
        // passing test.
        if let Some(watch) = &self.watch
            && !std::thread::panicking()
        {
            watch.check();
        }
    }
}
