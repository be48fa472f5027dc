//! Whole clusters over real TCP on 127.0.0.1: every node runs the tokio
//! driver with a `TcpTransport` (ports chosen by the OS) and a `FileStorage`
//! in its own temporary directory, in real time with the default timing
//! (tick 10 ms, heartbeat 50 ms, election timeout 300–600 ms).
//!
//! A [`GooseWatch`] thread samples `is_goose()` on every node every few
//! hundred microseconds for the whole of each test and fails it if two nodes
//! ever answer `true` at the same instant (lease safety: one Goose at a time).
//!
//! Time bounds come from the issue where it fixes one (a crashed Goose is
//! replaced within twice the maximum election timeout); elsewhere they are
//! generous, so that a loaded two-core machine does not make them flaky.
#![cfg(all(feature = "runtime", feature = "tcp"))]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use duckduckgoose::runtime::{Node, NodeConfig, NodeHandle};
use duckduckgoose::storage::{FileStorage, Storage};
use duckduckgoose::transport::tcp::{
    JoinParams, TcpConfig, TcpStatsHandle, TcpTransport, request_join,
};
use duckduckgoose::{NodeId, Role, Term};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep};

#[path = "support/loopback.rs"]
mod loopback;

const CLUSTER: &str = "tcp-cluster-test";
const KEY: &[u8] = b"the cluster's pre-shared key";
const WRONG_KEY: &[u8] = b"a key from some other cluster";

/// Upper bound on waits that no rule fixes: many election timeouts.
const PATIENCE: Duration = Duration::from_secs(10);

/// The default maximum election timeout; the failover bound is
/// twice it, counted from the crash.
const ELECTION_TIMEOUT_MAX: Duration = Duration::from_millis(600);

/// A graceful handover waits for no timeout (a `TimeoutNow`, one vote round
/// and one heartbeat round, with two fsyncs), so it must end well inside one
/// election timeout. The bound is the whole minimum election timeout: a few
/// milliseconds is typical, and the rest is margin for a loaded machine.
const HANDOVER_BOUND: Duration = Duration::from_millis(300);

// ----- the lease-safety watchdog ---------------------------------------------

/// Samples `is_goose()` on every registered node from a plain thread (so a
/// busy tokio runtime cannot starve it) and records the first instant two
/// nodes answered `true` together.
struct GooseWatch {
    shared: Arc<WatchShared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct WatchShared {
    nodes: Mutex<Vec<NodeHandle>>,
    violation: Mutex<Option<String>>,
    samples: AtomicU64,
    stop: AtomicBool,
}

impl GooseWatch {
    /// How often every node is sampled.
    const PERIOD: Duration = Duration::from_micros(250);

    fn start() -> GooseWatch {
        let shared = Arc::new(WatchShared::default());
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                while !shared.stop.load(Ordering::Relaxed) {
                    shared.sample();
                    std::thread::sleep(Self::PERIOD);
                }
            })
        };
        GooseWatch {
            shared,
            thread: Some(thread),
        }
    }

    /// Adds a node to the sample (a restarted node gets a new handle).
    fn watch(&self, node: &NodeHandle) {
        lock(&self.shared.nodes).push(node.clone());
    }

    /// Fails the test if two Geese were ever seen at once.
    fn check(&self) {
        if let Some(violation) = lock(&self.shared.violation).clone() {
            panic!("lease safety violated: {violation}");
        }
        assert!(
            self.shared.samples.load(Ordering::Relaxed) > 0,
            "the watchdog never sampled"
        );
    }
}

impl WatchShared {
    fn sample(&self) {
        let nodes = lock(&self.nodes).clone();
        // One pass reads the nodes one after another, not at one instant.
        // A node that says Goose before a later node says Goose, and still
        // says so after it, was the Goose at the later node's instant too:
        // leases do not come and go within microseconds.
        let mut geese: Vec<&NodeHandle> = Vec::new();
        for node in &nodes {
            if node.is_goose() {
                if let Some(earlier) = geese.iter().find(|earlier| earlier.is_goose()) {
                    let mut violation = lock(&self.violation);
                    violation.get_or_insert_with(|| {
                        format!(
                            "{} and {} were both the Goose: {:?} / {:?}",
                            earlier.id(),
                            node.id(),
                            earlier.status(),
                            node.status()
                        )
                    });
                }
                geese.push(node);
            }
        }
        self.samples.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for GooseWatch {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            // A panic in the sampler thread already failed nothing; the
            // result is `check`'s job.
            let _ = thread.join();
        }
    }
}

/// Locks `mutex`, ignoring poisoning: a panicking test is failing anyway.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ----- the cluster -------------------------------------------------------------

/// A cluster of TCP nodes on 127.0.0.1, each with a `FileStorage` in its own
/// directory under one temporary root.
struct Cluster {
    members: Vec<NodeId>,
    /// Every member's listening address; each transport gets the whole map.
    peers: BTreeMap<NodeId, SocketAddr>,
    keys: BTreeMap<NodeId, &'static [u8]>,
    root: TempDir,
    /// The current handle of each member (replaced on restart).
    nodes: BTreeMap<NodeId, NodeHandle>,
    /// The transport counters of each member's current transport.
    stats: BTreeMap<NodeId, TcpStatsHandle>,
    watch: GooseWatch,
}

impl Cluster {
    /// `size` nodes sharing the cluster key.
    async fn start(size: u64) -> Cluster {
        Self::start_with_keys(&vec![KEY; usize::try_from(size).expect("small")]).await
    }

    /// One node per key, with ids 1, 2, ...
    async fn start_with_keys(keys: &[&'static [u8]]) -> Cluster {
        let members: Vec<NodeId> = (1..=keys.len() as u64).map(NodeId).collect();
        let (listeners, peers) = loopback::bind_listeners(&members).await;
        let mut cluster = Cluster {
            keys: members.iter().copied().zip(keys.iter().copied()).collect(),
            members,
            peers,
            root: tempfile::tempdir().expect("a temporary directory"),
            nodes: BTreeMap::new(),
            stats: BTreeMap::new(),
            watch: GooseWatch::start(),
        };
        for (id, listener) in listeners {
            let storage = FileStorage::open(cluster.dir(id)).expect("a fresh directory opens");
            cluster.launch(id, listener, storage).await;
        }
        cluster
    }

    fn dir(&self, id: NodeId) -> PathBuf {
        self.root.path().join(format!("node-{id}"))
    }

    /// Starts member `id` of the configured cluster. The members' addresses
    /// are in its configuration, so that the membership carries them (what
    /// lets a Duck point a joiner to the Goose).
    async fn launch(&mut self, id: NodeId, listener: TcpListener, storage: FileStorage) {
        let mut config = NodeConfig::new(id, self.members.iter().copied());
        config.addresses = self
            .peers
            .iter()
            .map(|(id, addr)| (*id, addr.to_string()))
            .collect();
        self.launch_with(config, listener, storage).await;
    }

    async fn launch_with(
        &mut self,
        config: NodeConfig,
        listener: TcpListener,
        storage: FileStorage,
    ) {
        let id = config.id;
        let mut tcp = TcpConfig::new(id, CLUSTER, self.peers.clone())
            .with_cluster_key(self.keys[&id].to_vec());
        // A restarted node is redialled soon, not after a second of backoff.
        tcp.reconnect_backoff_max = Duration::from_millis(100);
        let transport = TcpTransport::new(tcp, listener).expect("a valid transport config");
        let stats = transport.stats_handle();
        let node = Node::start(config, transport, storage)
            .await
            .expect("a valid node starts");
        self.watch.watch(&node);
        self.nodes.insert(id, node);
        self.stats.insert(id, stats);
    }

    /// Starts `id` again on its directory and its port, after a crash or a
    /// shutdown. The old task releases the port and the directory lock as
    /// it is dropped, which may take a moment after `abort`; both are
    /// retried for a while.
    async fn restart(&mut self, id: NodeId) -> NodeHandle {
        let listener = loopback::retry("rebind the node's port", || {
            let addr = self.peers[&id];
            async move { TcpListener::bind(addr).await }
        })
        .await;
        let dir = self.dir(id);
        let storage = loopback::retry("reopen the node's storage", || {
            let dir = dir.clone();
            async move { FileStorage::open(dir) }
        })
        .await;
        self.launch(id, listener, storage).await;
        self.node(id)
    }

    fn node(&self, id: NodeId) -> NodeHandle {
        self.nodes[&id].clone()
    }

    fn all(&self) -> Vec<NodeHandle> {
        self.nodes.values().cloned().collect()
    }

    fn others(&self, except: NodeId) -> Vec<NodeHandle> {
        self.nodes
            .values()
            .filter(|node| node.id() != except)
            .cloned()
            .collect()
    }

    /// Waits for exactly one Goose among all members and for every other
    /// running member to follow it in its term; returns the Goose.
    async fn settled(&self) -> NodeHandle {
        let (goose, _) = first_goose(&self.all(), PATIENCE).await;
        let term = goose.status().term;
        wait_until(PATIENCE, "every Duck to follow the Goose", || {
            self.nodes.values().all(|node| {
                let status = node.status();
                !status.running || (status.leader == Some(goose.id()) && status.term == term)
            })
        })
        .await;
        assert!(goose.is_goose(), "the Goose kept its lease while settling");
        goose
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Nodes still running are aborted with the runtime; a last check
        // catches a violation in the final moments of a passing test.
        if !std::thread::panicking() {
            self.watch.check();
        }
    }
}

/// Polls `done` every millisecond until it holds.
async fn wait_until(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(1)).await;
    }
}

/// Waits on the status channels of all `nodes` at once for the first to hold
/// a lease; returns it and the instant its waiter saw it.
async fn first_goose(nodes: &[NodeHandle], timeout: Duration) -> (NodeHandle, Instant) {
    let (found, mut first) = mpsc::channel(nodes.len().max(1));
    let waiters: Vec<_> = nodes
        .iter()
        .cloned()
        .map(|node| {
            let found = found.clone();
            tokio::spawn(async move {
                if node.wait_for_role(Role::Goose, timeout).await.is_ok() {
                    let _ = found.send((node, Instant::now())).await;
                }
            })
        })
        .collect();
    drop(found);
    let result = first.recv().await;
    for waiter in waiters {
        waiter.abort();
    }
    result.unwrap_or_else(|| panic!("no Goose among {} nodes within {timeout:?}", nodes.len()))
}

/// The state saved in `dir`, read by a `FileStorage` that is closed again.
async fn saved_state(dir: &Path) -> duckduckgoose::HardState {
    let dir = dir.to_path_buf();
    let mut storage = loopback::retry("open the storage to read it", || {
        let dir = dir.clone();
        async move { FileStorage::open(dir) }
    })
    .await;
    storage
        .load()
        .await
        .expect("the state file is readable")
        .expect("a node that voted saved its state")
}

// ----- the tests ---------------------------------------------------------------

async fn elects_exactly_one_goose(size: u64) {
    let cluster = Cluster::start(size).await;
    let goose = cluster.settled().await;
    let term = goose.status().term;
    assert_ne!(term, Term(0));
    assert_eq!(
        goose.fencing_token(),
        Some(term),
        "the fencing token is the term"
    );

    // A healthy cluster keeps its Goose and its term.
    sleep(Duration::from_secs(1)).await;
    assert!(goose.is_goose());
    assert_eq!(goose.fencing_token(), Some(term));
    for duck in cluster.others(goose.id()) {
        let status = duck.status();
        assert!(!duck.is_goose());
        assert_eq!(duck.fencing_token(), None);
        assert_eq!(status.role, Role::Duck);
        assert_eq!(status.leader, Some(goose.id()), "every Duck agrees");
        assert_eq!(status.term, term);
    }
    cluster.watch.check();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tcp_nodes_elect_exactly_one_goose() {
    elects_exactly_one_goose(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_tcp_nodes_elect_exactly_one_goose() {
    elects_exactly_one_goose(5).await;
}

/// A crashed Goose is replaced within twice the maximum election timeout,
/// and comes back from its directory as a Duck with its term and vote.
async fn crashed_goose_is_replaced_and_rejoins(size: u64) {
    let mut cluster = Cluster::start(size).await;
    let old = cluster.settled().await;
    let old_id = old.id();
    let before = old.status();

    let crashed = Instant::now();
    old.abort();
    assert!(
        !old.is_goose(),
        "an aborted node stops answering Goose at once"
    );
    let (new, elected) = first_goose(&cluster.others(old_id), PATIENCE).await;
    let failover = elected - crashed;
    eprintln!("{size} nodes: crash failover took {failover:?}");
    assert!(
        failover < 2 * ELECTION_TIMEOUT_MAX,
        "a new Goose took {failover:?}, more than twice the maximum election timeout"
    );
    let new_term = new.status().term;
    assert!(new_term > before.term);
    assert_eq!(new.fencing_token(), Some(new_term));

    // The directory holds exactly what the Goose had: nothing was lost, and
    // a dead node wrote nothing.
    old.stopped().await;
    let saved = saved_state(&cluster.dir(old_id)).await;
    assert_eq!(saved.term, before.term, "the saved term is intact");
    assert_eq!(saved.voted_for, before.voted_for, "and so is the vote");

    let restarted = cluster.restart(old_id).await;
    let status = restarted.status();
    assert_eq!(status.role, Role::Duck);
    assert!(!restarted.is_goose());
    assert!(status.term >= before.term, "the term never goes back");
    if status.term == before.term {
        assert_eq!(status.voted_for, before.voted_for, "the vote is kept");
    }

    wait_until(PATIENCE, "the restarted node to follow", || {
        let status = restarted.status();
        status.leader == Some(new.id()) && status.term == new_term
    })
    .await;
    assert!(
        new.is_goose(),
        "the rejoining node did not disturb the Goose"
    );
    assert_eq!(new.status().term, new_term);
    assert!(!restarted.is_goose());
    cluster.watch.check();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_goose_of_three_is_replaced_in_time_and_rejoins_as_a_duck() {
    crashed_goose_is_replaced_and_rejoins(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_goose_of_five_is_replaced_in_time_and_rejoins_as_a_duck() {
    crashed_goose_is_replaced_and_rejoins(5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_of_the_goose_hands_over_well_inside_an_election_timeout() {
    let mut cluster = Cluster::start(3).await;
    let old = cluster.settled().await;
    let old_id = old.id();
    let old_term = old.status().term;

    let started = Instant::now();
    let stopping = {
        let old = old.clone();
        tokio::spawn(async move { old.shutdown().await })
    };
    let (new, elected) = first_goose(&cluster.others(old_id), PATIENCE).await;
    let handover = elected - started;
    eprintln!("graceful handover over TCP took {handover:?}");
    assert!(
        handover < HANDOVER_BOUND,
        "the handover took {handover:?}, not well inside an election timeout"
    );
    assert!(new.status().term > old_term);

    stopping.await.expect("shutdown does not panic");
    assert!(!old.is_goose());
    assert!(!old.is_running());
    assert!(old.fatal_error().is_none());

    // The stopped node comes back from its directory and follows.
    let restarted = cluster.restart(old_id).await;
    wait_until(PATIENCE, "the restarted node to follow", || {
        restarted.status().leader == Some(new.id())
    })
    .await;
    assert!(new.is_goose());
    assert!(!restarted.is_goose());
    cluster.watch.check();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_the_wrong_cluster_key_joins_nothing() {
    let stranger_id = NodeId(3);
    let cluster = Cluster::start_with_keys(&[KEY, KEY, WRONG_KEY]).await;
    let stranger = cluster.node(stranger_id);
    let honest = cluster.others(stranger_id);

    // The two nodes with the right key are a majority of three and elect
    // one of themselves; each needs the other's vote.
    let (goose, _) = first_goose(&honest, PATIENCE).await;
    let term = goose.status().term;
    wait_until(PATIENCE, "the other honest node to follow", || {
        honest
            .iter()
            .all(|node| node.status().leader == Some(goose.id()))
    })
    .await;

    // Several election timeouts later, the stranger has heard nothing: it
    // never led, never learnt of the Goose, and (pre-voting into silence)
    // never even raised its term.
    sleep(Duration::from_millis(1500)).await;
    assert!(goose.is_goose());
    assert_eq!(goose.status().term, term, "the stranger disturbed nobody");
    let status = stranger.status();
    assert!(!stranger.is_goose());
    assert_eq!(status.role, Role::Duck);
    assert_eq!(status.leader, None);
    assert_eq!(status.term, Term(0));
    assert!(
        status.counters.pre_votes_started > 0,
        "the stranger did try to campaign"
    );
    assert_eq!(status.counters.elections_started, 0);

    let stranger_stats = cluster.stats[&stranger_id].snapshot();
    assert_eq!(
        stranger_stats.frames_received, 0,
        "nothing got through to it"
    );
    assert!(stranger_stats.auth_failures > 0, "{stranger_stats:?}");
    for node in &honest {
        let stats = cluster.stats[&node.id()].snapshot();
        assert!(
            stats.auth_failures > 0,
            "node {} counted no auth failure: {stats:?}",
            node.id()
        );
    }
    cluster.watch.check();
}

/// The watchdog is not vacuous: two one-node clusters each have a Goose, and
/// watching both at once is flagged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_flags_two_geese_at_once() {
    let first = Cluster::start(1).await;
    let second = Cluster::start(1).await;
    first.settled().await;
    second.settled().await;
    first.watch.watch(&second.node(NodeId(1)));
    wait_until(PATIENCE, "the watchdog to notice", || {
        lock(&first.watch.shared.violation).is_some()
    })
    .await;
    // Stop watching the second cluster, let a sample already under way
    // finish, and forget the violation so that dropping the cluster passes.
    lock(&first.watch.shared.nodes).pop();
    sleep(Duration::from_millis(20)).await;
    lock(&first.watch.shared.violation).take();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joins_through_a_duck_and_becomes_a_voter() {
    let mut cluster = Cluster::start(3).await;
    let goose = cluster.settled().await;
    let duck = cluster.others(goose.id())[0].id();
    let joiner = NodeId(4);
    let (mut listeners, addrs) = loopback::bind_listeners(&[joiner]).await;
    let listener = listeners.remove(&joiner).expect("bound");
    let addr = addrs[&joiner];
    let params = JoinParams::new(joiner, addr.to_string(), CLUSTER).with_cluster_key(KEY);

    // Asked, a Duck forwards the request to the Goose, which adds the
    // joiner as a learner and answers once the change is committed.
    let duck_addr = cluster.peers[&duck].to_string();
    let membership = request_join(&duck_addr, &params).await.expect("joined");
    assert!(membership.is_learner(joiner), "{membership:?}");
    assert_eq!(membership.address(joiner), Some(addr.to_string().as_str()));
    let (duck_stats, goose_stats) = (
        cluster.stats[&duck].snapshot(),
        cluster.stats[&goose.id()].snapshot(),
    );
    assert_eq!(duck_stats.join_forwarded, 1, "{duck_stats:?}");
    assert_eq!(goose_stats.join_accepted, 1, "{goose_stats:?}");

    // Started from the answer, it catches up and is promoted to voter.
    cluster.members.push(joiner);
    cluster.peers.insert(joiner, addr);
    cluster.keys.insert(joiner, KEY);
    let storage = FileStorage::open(cluster.dir(joiner)).expect("a fresh directory opens");
    cluster
        .launch_with(
            NodeConfig::from_membership(joiner, membership),
            listener,
            storage,
        )
        .await;
    wait_until(PATIENCE, "the joiner promoted on every node", || {
        cluster
            .nodes
            .values()
            .all(|node| node.membership().is_voter(joiner))
    })
    .await;
    assert_eq!(cluster.node(joiner).status().leader, Some(goose.id()));
    assert!(goose.is_goose(), "the Goose kept its lease throughout");

    // Asking again, at the same address, returns the membership in force.
    let again = request_join(&duck_addr, &params)
        .await
        .expect("a member asking again");
    assert!(again.is_voter(joiner), "{again:?}");
    cluster.watch.check();
}
