//! A lagging member catches up over real TCP from a Goose it never heard of.
//!
//! Nodes run the tokio driver with a `TcpTransport` on 127.0.0.1 (ports
//! chosen by the OS) and a `FileStorage` in a temporary directory, in real
//! time with the default timing (election timeout 300–450 ms).
//!
//! The core admits a heartbeat from a newer Goose that it does not know yet
//! when the heartbeat carries a membership naming this node; the transport
//! must let that Goose's connection through for the core to decide. This
//! file shows it does, end to end.
#![cfg(all(feature = "runtime", feature = "tcp"))]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use duckduckgoose::core::{Membership, MembershipError};
use duckduckgoose::runtime::{HandleError, Node, NodeConfig, NodeHandle};
use duckduckgoose::storage::FileStorage;
use duckduckgoose::transport::tcp::{TcpConfig, TcpStatsHandle, TcpTransport};
use duckduckgoose::{NodeId, Role};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::time::{Instant, sleep};

#[path = "support/loopback.rs"]
mod loopback;

const CLUSTER: &str = "tcp-catch-up-test";
const KEY: &[u8] = b"the catch-up cluster's key";

/// The default maximum election timeout.
const ELECTION_TIMEOUT_MAX: Duration = Duration::from_millis(450);

/// Upper bound on the setup's waits, which no rule fixes: many election
/// timeouts, so that a loaded two-core machine does not make them flaky.
const PATIENCE: Duration = Duration::from_secs(15);

/// How long the lagging member may take to follow the unknown Goose: the
/// Goose redials it within its backoff (100 ms here), its next heartbeat
/// round (50 ms) carries the membership, and the member saves it and
/// answers; about a tenth of a second. Two maximum election timeouts leave
/// a wide margin for a loaded machine; without the catch-up path it never
/// happens.
const CATCH_UP_BOUND: Duration = Duration::from_millis(2 * 450);

/// Nodes on 127.0.0.1, each with its own directory under one temporary
/// root. Every node still running is aborted when this is dropped, on every
/// exit path of a test (a failed assertion included).
struct Nodes {
    root: TempDir,
    /// Every node's listening address, bound before any node starts.
    addrs: BTreeMap<NodeId, SocketAddr>,
    /// Listeners of nodes not started yet, holding their ports.
    listeners: BTreeMap<NodeId, TcpListener>,
    running: BTreeMap<NodeId, NodeHandle>,
    /// The counters of each node's latest transport.
    stats: BTreeMap<NodeId, TcpStatsHandle>,
}

impl Nodes {
    async fn bind(ids: &[NodeId]) -> Nodes {
        let (listeners, addrs) = loopback::bind_listeners(ids).await;
        Nodes {
            root: tempfile::tempdir().expect("a temporary directory"),
            addrs,
            listeners,
            running: BTreeMap::new(),
            stats: BTreeMap::new(),
        }
    }

    fn dir(&self, id: NodeId) -> PathBuf {
        self.root.path().join(format!("node-{id}"))
    }

    fn addr(&self, id: NodeId) -> String {
        self.addrs[&id].to_string()
    }

    /// The configuration of a founding member of `members`, with their
    /// addresses.
    fn founder(&self, id: NodeId, members: &[NodeId]) -> NodeConfig {
        let mut config = NodeConfig::new(id, members.iter().copied());
        config.addresses = members.iter().map(|&m| (m, self.addr(m))).collect();
        config
    }

    /// Starts node `id` with `config`, on its port and its directory (both
    /// retried for a while: a node just stopped releases them a moment
    /// later). Its transport dials the peers of `config.addresses`, which
    /// the runtime hands it.
    async fn start(&mut self, config: NodeConfig) -> NodeHandle {
        let id = config.id;
        let listener = match self.listeners.remove(&id) {
            Some(listener) => listener,
            None => {
                let addr = self.addrs[&id];
                loopback::retry("rebind the node's port", || TcpListener::bind(addr)).await
            }
        };
        let dir = self.dir(id);
        let storage = loopback::retry("open the node's storage", || {
            let dir = dir.clone();
            async move { FileStorage::open(dir) }
        })
        .await;
        let mut tcp = TcpConfig::new(id, CLUSTER).with_cluster_key(KEY.to_vec());
        // A restarted node is redialled soon, not after a second of backoff.
        tcp.reconnect_backoff_max = Duration::from_millis(100);
        let transport = TcpTransport::new(tcp, listener).expect("a valid transport config");
        self.stats.insert(id, transport.stats_handle());
        let node = Node::start(config, transport, storage)
            .await
            .expect("a valid node starts");
        self.running.insert(id, node.clone());
        node
    }

    /// Stops node `id` gracefully (a Goose hands over first); its directory
    /// stays.
    async fn stop(&mut self, id: NodeId) {
        if let Some(node) = self.running.remove(&id) {
            node.shutdown().await;
        }
    }

    fn node(&self, id: NodeId) -> NodeHandle {
        self.running[&id].clone()
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for node in self.running.values() {
            node.abort();
        }
    }
}

/// Polls `done` every few milliseconds until it holds, failing after
/// `timeout` with `what` and the last state `describe` gives.
async fn wait_until(
    timeout: Duration,
    what: &str,
    mut done: impl FnMut() -> bool,
    describe: impl Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}: {}",
            describe()
        );
        sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until one of `nodes` is the Goose and returns it.
async fn goose_among(nodes: &[NodeHandle]) -> NodeHandle {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(goose) = nodes.iter().find(|node| node.is_goose()) {
            return goose.clone();
        }
        assert!(Instant::now() < deadline, "no Goose among {nodes:?}");
        sleep(Duration::from_millis(5)).await;
    }
}

/// Runs a membership change on `goose` until it commits, retrying while
/// another change (a learner's promotion, a new Goose's re-issue) is under
/// way.
async fn change<F: Future<Output = Result<Membership, HandleError>>>(
    what: &str,
    mut attempt: impl FnMut() -> F,
) -> Membership {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match attempt().await {
            Ok(membership) => return membership,
            Err(HandleError::Membership(
                MembershipError::ChangeInProgress { .. } | MembershipError::NotYetConfirmed,
            )) if Instant::now() < deadline => sleep(Duration::from_millis(20)).await,
            Err(error) => panic!("cannot {what}: {error}"),
        }
    }
}

/// Adds `id` on `goose`, starts it from the membership it was given, and
/// waits until the Goose has promoted it to voter.
async fn add_voter(nodes: &mut Nodes, goose: &NodeHandle, id: NodeId) {
    let addr = nodes.addr(id);
    let membership = change("add a node", || goose.add_node(id, addr.clone())).await;
    nodes
        .start(NodeConfig::from_membership(id, membership))
        .await;
    wait_until(
        PATIENCE,
        "the new node's promotion",
        || goose.membership().is_voter(id) && goose.status().membership_pending == Some(false),
        || format!("{:?}", goose.status()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_member_catches_up_from_a_goose_it_never_heard_of() {
    let ids: Vec<NodeId> = (1..=5).map(NodeId).collect();
    let founders = &ids[..3];
    let (lagging, heirs) = (NodeId(3), [NodeId(4), NodeId(5)]);
    let mut nodes = Nodes::bind(&ids).await;
    for &id in founders {
        let config = nodes.founder(id, founders);
        nodes.start(config).await;
    }
    goose_among(&[
        nodes.node(NodeId(1)),
        nodes.node(NodeId(2)),
        nodes.node(lagging),
    ])
    .await;

    // Node 3 stops (a Goose hands over); its directory keeps the membership
    // of the founders.
    nodes.stop(lagging).await;
    let goose = goose_among(&[nodes.node(NodeId(1)), nodes.node(NodeId(2))]).await;

    // Nodes 4 and 5 join and become voters; leadership passes to 4, which
    // removes the founders 1 and 2. The cluster is now {3, 4, 5}, and its
    // Goose is a node that 3 has never heard of.
    for heir in heirs {
        add_voter(&mut nodes, &goose, heir).await;
    }
    goose
        .transfer_leadership(heirs[0])
        .await
        .expect("the Goose hands over to node 4");
    let goose = goose_among(&[nodes.node(heirs[0])]).await;
    for founder in [NodeId(1), NodeId(2)] {
        let membership = change("remove a founder", || goose.remove_node(founder)).await;
        assert!(!membership.contains(founder));
    }
    nodes.stop(NodeId(1)).await;
    nodes.stop(NodeId(2)).await;
    let target = goose.status();
    assert!(goose.is_goose(), "{target:?}");
    assert_eq!(target.membership_pending, Some(false));
    let voters = target.members.to_vec();
    assert_eq!(voters, [lagging, heirs[0], heirs[1]]);

    // Node 3 comes back on its old storage, which names only the founders:
    // its transport knows nobody alive. The Goose's heartbeats bring it the
    // new membership.
    let restarted = Instant::now();
    let config = nodes.founder(lagging, founders);
    let node = nodes.start(config).await;
    assert_eq!(
        node.membership().voters().collect::<Vec<_>>(),
        founders,
        "it starts from what it knew"
    );
    wait_until(
        CATCH_UP_BOUND,
        "the lagging member to follow the unknown Goose",
        || {
            let status = node.status();
            status.leader == Some(goose.id())
                && status.term == target.term
                && status.membership == target.membership
        },
        || format!("{:?}", node.status()),
    )
    .await;
    eprintln!(
        "the lagging member caught up in {:?} ({} maximum election timeouts allowed)",
        restarted.elapsed(),
        CATCH_UP_BOUND.as_millis() / ELECTION_TIMEOUT_MAX.as_millis()
    );

    // The Goose got through as a stranger: an authenticated node outside
    // the peer set that the restarted node's transport had.
    let stats = nodes.stats[&lagging].snapshot();
    assert!(stats.stranger_connections >= 1, "{stats:?}");

    // It follows as a member: the Goose kept its lease and its term, and the
    // lagging node's status shows the new cluster.
    let status = node.status();
    assert_eq!(status.role, Role::Duck);
    assert!(status.member);
    assert_eq!(*status.members, *voters);
    assert!(goose.is_goose());
    assert_eq!(goose.status().term, target.term);
    // The Goose counts it among the voters it hears from.
    wait_until(
        PATIENCE,
        "the Goose to hear from node 3",
        || {
            goose
                .peers()
                .iter()
                .any(|peer| peer.id == lagging && peer.last_contact.is_some())
        },
        || format!("{:?}", goose.peers()),
    )
    .await;

    for id in ids {
        nodes.stop(id).await;
    }
}
