//! The tokio runtime end to end: clusters of real driver tasks talking over
//! the in-process `MemoryTransport`.
//!
//! Most tests run on a single-threaded runtime with paused time
//! (`start_paused = true`): tokio jumps the clock to the next timer whenever
//! every task is idle, so seconds of protocol run in milliseconds and the
//! same code gives the same run. Only the stalled-driver test needs real
//! time and real threads, because it blocks a thread on purpose.
//!
//! Every wait goes through [`wait_until`], which also checks at each sample
//! that no two nodes answer `is_goose()` at the same instant (lease safety).
#![cfg(feature = "runtime")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use duckduckgoose::core::{CommandError, ConfigError, Membership};
use duckduckgoose::runtime::{
    FatalError, HandleError, Node, NodeConfig, NodeConfigError, NodeHandle, StartError, WaitError,
};
use duckduckgoose::storage::{MemStorage, Storage, StorageError};
use duckduckgoose::transport::{Inbound, MemoryTransport, Transport, TransportError};
use duckduckgoose::{HardState, Message, NodeId, Role, Term};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until};

/// Long enough for several election timeouts (300–600 ms each).
const ELECTION_WAIT: Duration = Duration::from_secs(10);

/// Far below the 300 ms minimum election timeout: a handover must be this
/// fast, because no node waits for a timeout during one.
const HANDOVER_BOUND: Duration = Duration::from_millis(100);

fn ids(count: u64) -> Vec<NodeId> {
    (1..=count).map(NodeId).collect()
}

fn config(id: NodeId, members: &[NodeId]) -> NodeConfig {
    let mut config = NodeConfig::new(id, members.iter().copied());
    // Fixed seeds: with paused time, the whole run is reproducible.
    config.rng_seed = Some(1000 + id.0);
    config
}

/// Starts one node per id, each with its own fresh `MemStorage`.
async fn start_cluster<T: Transport>(
    members: &[NodeId],
    mut transport: impl FnMut(NodeId) -> T,
) -> (Vec<NodeHandle>, Vec<MemStorage>) {
    let mut nodes = Vec::new();
    let mut storages = Vec::new();
    for &id in members {
        let storage = MemStorage::new();
        let node = Node::start(config(id, members), transport(id), storage.clone())
            .await
            .expect("a valid node starts");
        nodes.push(node);
        storages.push(storage);
    }
    (nodes, storages)
}

fn geese(nodes: &[NodeHandle]) -> Vec<NodeHandle> {
    nodes
        .iter()
        .filter(|node| node.is_goose())
        .cloned()
        .collect()
}

/// Samples `nodes` every millisecond until `done` holds, asserting at every
/// sample that at most one of them answers `is_goose()`.
async fn wait_until(
    nodes: &[NodeHandle],
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(&[NodeHandle]) -> bool,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let geese = geese(nodes);
        assert!(
            geese.len() <= 1,
            "two Geese at once: {:?}",
            geese.iter().map(NodeHandle::status).collect::<Vec<_>>()
        );
        if done(nodes) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(1)).await;
    }
}

/// Waits until exactly one of `nodes` is the Goose and returns it.
async fn single_goose(nodes: &[NodeHandle]) -> NodeHandle {
    wait_until(nodes, ELECTION_WAIT, "a Goose", |nodes| {
        geese(nodes).len() == 1
    })
    .await;
    geese(nodes).remove(0)
}

fn others(nodes: &[NodeHandle], except: NodeId) -> Vec<NodeHandle> {
    nodes
        .iter()
        .filter(|node| node.id() != except)
        .cloned()
        .collect()
}

async fn elects_exactly_one_goose(size: u64) {
    let members = ids(size);
    let network = MemoryTransport::network(size);
    let (nodes, _storages) = start_cluster(&members, |id| network.transport(id)).await;

    let goose = single_goose(&nodes).await;
    let term = goose.status().term;
    assert_eq!(
        goose.fencing_token(),
        Some(term),
        "fencing token is the term"
    );
    assert_ne!(term, Term(0));

    // Every Duck learns who leads, and the Goose stays put while healthy.
    wait_until(&nodes, ELECTION_WAIT, "every Duck to follow", |nodes| {
        nodes
            .iter()
            .all(|node| node.status().leader == Some(goose.id()))
    })
    .await;
    let steady = Instant::now() + Duration::from_secs(3);
    wait_until(&nodes, Duration::from_secs(4), "3 s of stability", |_| {
        Instant::now() >= steady
    })
    .await;
    assert!(goose.is_goose());
    assert_eq!(
        goose.fencing_token(),
        Some(term),
        "no election while healthy"
    );
    for duck in others(&nodes, goose.id()) {
        assert!(!duck.is_goose());
        assert_eq!(duck.fencing_token(), None);
        assert_eq!(duck.status().role, Role::Duck);
        assert_eq!(duck.status().term, term);
    }
}

#[tokio::test(start_paused = true)]
async fn three_nodes_elect_exactly_one_goose() {
    elects_exactly_one_goose(3).await;
}

#[tokio::test(start_paused = true)]
async fn five_nodes_elect_exactly_one_goose() {
    elects_exactly_one_goose(5).await;
}

#[tokio::test(start_paused = true)]
async fn an_isolated_goose_steps_down_at_its_lease_end_and_rejoins_as_a_duck() {
    let members = ids(3);
    let network = MemoryTransport::network(3);
    let (nodes, _storages) = start_cluster(&members, |id| network.transport(id)).await;
    let old = single_goose(&nodes).await;
    let old_term = old.status().term;

    network.isolate(old.id());
    // Let the driver take in any ack already queued for it; after that the
    // lease can no longer grow.
    sleep(Duration::from_millis(1)).await;
    let lease_deadline = old.status().lease_deadline.expect("a Goose has a lease");
    sleep_until(lease_deadline - Duration::from_millis(1)).await;
    assert!(old.is_goose(), "the lease runs until its deadline");
    sleep_until(lease_deadline).await;
    assert!(!old.is_goose(), "and not a moment longer");
    assert_eq!(old.fencing_token(), None);
    wait_until(
        &nodes,
        Duration::from_millis(20),
        "the core to step down",
        |_| old.status().role == Role::Duck,
    )
    .await;

    // The majority elects a new Goose, never before the old lease ended.
    let majority = others(&nodes, old.id());
    let new = single_goose(&majority).await;
    assert!(Instant::now() > lease_deadline);
    let new_term = new.status().term;
    assert!(new_term > old_term);

    // After healing, the old Goose follows the new one without disrupting it
    // (pre-vote kept its term from growing while it was cut off).
    network.heal_all();
    wait_until(&nodes, ELECTION_WAIT, "the old Goose to follow", |_| {
        old.status().leader == Some(new.id())
    })
    .await;
    let steady = Instant::now() + Duration::from_secs(2);
    wait_until(&nodes, Duration::from_secs(3), "2 s after healing", |_| {
        Instant::now() >= steady
    })
    .await;
    assert_eq!(geese(&nodes).len(), 1);
    assert!(new.is_goose());
    assert_eq!(new.status().term, new_term);
    assert_eq!(old.status().role, Role::Duck);
    assert_eq!(old.status().term, new_term);
}

#[tokio::test(start_paused = true)]
async fn graceful_shutdown_of_the_goose_hands_over_without_an_election_timeout() {
    let members = ids(3);
    let network = MemoryTransport::network(4);
    let (nodes, _storages) = start_cluster(&members, |id| network.transport(id)).await;
    let old = single_goose(&nodes).await;

    let started = Instant::now();
    old.shutdown().await;
    assert!(!old.is_goose());
    assert!(!old.is_running());
    assert!(!old.status().running);
    assert!(old.fatal_error().is_none());

    let rest = others(&nodes, old.id());
    let new = single_goose(&rest).await;
    let handover = started.elapsed();
    assert!(
        handover < HANDOVER_BOUND,
        "handover took {handover:?} (virtual time)"
    );
    assert!(new.status().term > old.status().term);
    // The stopped node answers commands with `Stopped`.
    assert_eq!(old.step_down().await, Err(HandleError::Stopped));
}

/// Wraps a transport so that a test can block the driver's thread inside
/// `send`, as a long GC-like pause, a blocking call in the wrong place or a
/// starved executor would: the driver then processes no ticks and no acks,
/// and its status keeps saying Goose.
struct StallingTransport<T> {
    inner: T,
    gate: Arc<StallGate>,
}

#[derive(Default)]
struct StallGate {
    /// Set by the test: the next `send` blocks until it is cleared.
    stall: AtomicBool,
    /// Set by the transport while a `send` is blocked.
    stalled: AtomicBool,
}

#[async_trait]
impl<T: Transport> Transport for StallingTransport<T> {
    async fn start(&mut self, inbound: mpsc::Sender<Inbound>) -> Result<(), TransportError> {
        self.inner.start(inbound).await
    }

    fn send(&mut self, to: NodeId, msg: Message) {
        if self.gate.stall.load(Ordering::Acquire) {
            self.gate.stalled.store(true, Ordering::Release);
            // Deliberately blocking: this is the stall under test.
            while self.gate.stall.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(1));
            }
            self.gate.stalled.store(false, Ordering::Release);
        }
        self.inner.send(to, msg);
    }

    async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }
}

/// A driver blocked in `send` stops updating its status, which keeps saying
/// Goose; `is_goose()` must turn false at the lease deadline regardless.
///
/// This needs real time and real threads: the stall blocks a worker thread
/// (with paused time on one thread it would freeze the test itself), and the
/// test task keeps running on another worker. The gate is released only
/// after the checks, so the test does not depend on how long anything takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn is_goose_turns_false_at_the_lease_deadline_while_the_driver_is_stalled() {
    let members = ids(3);
    let network = MemoryTransport::network(5);
    let gates: Vec<Arc<StallGate>> = members.iter().map(|_| Arc::default()).collect();
    let (nodes, _storages) = start_cluster(&members, |id| StallingTransport {
        inner: network.transport(id),
        gate: Arc::clone(&gates[(id.0 - 1) as usize]),
    })
    .await;
    let goose = single_goose(&nodes).await;
    let gate = Arc::clone(&gates[(goose.id().0 - 1) as usize]);

    gate.stall.store(true, Ordering::Release);
    // The next heartbeat round blocks the driver.
    wait_until(&nodes, ELECTION_WAIT, "the driver to stall", |_| {
        gate.stalled.load(Ordering::Acquire)
    })
    .await;
    let lease_deadline = goose.status().lease_deadline.expect("stalled while Goose");

    wait_until(&nodes, ELECTION_WAIT, "is_goose to turn false", |_| {
        !goose.is_goose()
    })
    .await;
    assert!(Instant::now() >= lease_deadline);
    assert!(
        gate.stalled.load(Ordering::Acquire),
        "still stalled: only the deadline check can have turned is_goose false"
    );
    assert_eq!(
        goose.status().role,
        Role::Goose,
        "the stalled driver never noticed"
    );
    assert_eq!(goose.fencing_token(), None);

    // The others elect a new Goose meanwhile; the sampling in `wait_until`
    // checks that the two never answer `is_goose()` together.
    let rest = others(&nodes, goose.id());
    let new = single_goose(&rest).await;

    gate.stall.store(false, Ordering::Release);
    wait_until(&nodes, ELECTION_WAIT, "the stalled node to follow", |_| {
        goose.status().leader == Some(new.id()) && goose.status().role == Role::Duck
    })
    .await;
    assert_eq!(geese(&nodes).len(), 1);
    for node in &nodes {
        node.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_storage_failure_stops_the_node_and_the_handle_reports_it() {
    let members = ids(3);
    let network = MemoryTransport::network(6);
    let (nodes, storages) = start_cluster(&members, |id| network.transport(id)).await;
    let goose = single_goose(&nodes).await;
    let term = goose.status().term;
    let target = others(&nodes, goose.id()).remove(0);
    let target_storage = &storages[(target.id().0 - 1) as usize];

    // The transfer makes the target campaign, which must persist its vote.
    target_storage.set_fail_saves(true);
    goose
        .transfer_leadership(target.id())
        .await
        .expect("the Goose can hand over");
    tokio::time::timeout(Duration::from_secs(1), target.stopped())
        .await
        .expect("the node stops");

    assert!(!target.is_running());
    let status = target.status();
    assert!(!status.running);
    assert_eq!(status.role, Role::Duck);
    let error = target.fatal_error().expect("the reason is reported");
    assert!(matches!(
        &*error,
        FatalError::Storage(StorageError::Failed(_))
    ));
    assert!(status.fatal_error.is_some());
    assert_eq!(target.step_down().await, Err(HandleError::Stopped));
    assert!(matches!(
        target
            .wait_for_role(Role::Goose, Duration::from_secs(1))
            .await,
        Err(WaitError::Stopped)
    ));
    // Nothing that depended on the unsaved vote left the node.
    assert_eq!(target_storage.state().map(|state| state.term), Some(term));

    // The two survivors are a majority and carry on.
    let survivors = others(&nodes, target.id());
    let new = single_goose(&survivors).await;
    assert!(new.status().term > term);
}

/// A storage whose saved state cannot be read.
struct CorruptStorage;

#[async_trait]
impl Storage for CorruptStorage {
    async fn load(&mut self) -> Result<Option<HardState>, StorageError> {
        Err(StorageError::Corrupt {
            path: "state".into(),
            problem: "checksum mismatch".into(),
        })
    }

    async fn save(&mut self, _state: &HardState) -> Result<(), StorageError> {
        Ok(())
    }

    async fn load_membership(&mut self) -> Result<Option<Membership>, StorageError> {
        Ok(None)
    }

    async fn save_membership(&mut self, _membership: &Membership) -> Result<(), StorageError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_state_refuses_to_start() {
    let network = MemoryTransport::network(7);
    let members = ids(3);
    let started = Node::start(
        config(NodeId(1), &members),
        network.transport(NodeId(1)),
        CorruptStorage,
    )
    .await;
    assert!(matches!(
        started,
        Err(StartError::Storage(StorageError::Corrupt { .. }))
    ));
}

#[tokio::test(start_paused = true)]
async fn a_crashed_node_restarts_as_a_duck_with_its_term_intact() {
    let members = ids(3);
    let network = MemoryTransport::network(8);
    let (nodes, storages) = start_cluster(&members, |id| network.transport(id)).await;
    let old = single_goose(&nodes).await;
    let old_status = old.status();
    let storage = storages[(old.id().0 - 1) as usize].clone();

    old.abort();
    assert!(
        !old.is_goose(),
        "an aborted node stops answering Goose at once"
    );
    old.stopped().await;
    let rest = others(&nodes, old.id());
    let new = single_goose(&rest).await;

    let restarted = Node::start(
        config(old.id(), &members),
        network.transport(old.id()),
        storage,
    )
    .await
    .expect("restart on the same storage");
    let status = restarted.status();
    assert_eq!(status.role, Role::Duck);
    assert_eq!(status.term, old_status.term, "the saved term is back");
    assert_eq!(status.voted_for, Some(old.id()), "and so is the vote");

    let mut all = rest.clone();
    all.push(restarted.clone());
    wait_until(&all, ELECTION_WAIT, "the restarted node to follow", |_| {
        restarted.status().leader == Some(new.id())
    })
    .await;
    assert!(new.is_goose());
    assert!(!restarted.is_goose());
}

#[tokio::test(start_paused = true)]
async fn step_down_and_transfer_through_the_handle() {
    let members = ids(3);
    let network = MemoryTransport::network(9);
    let (nodes, _storages) = start_cluster(&members, |id| network.transport(id)).await;
    let goose = single_goose(&nodes).await;
    let duck = others(&nodes, goose.id()).remove(0);

    // Refused commands change nothing.
    assert_eq!(
        duck.step_down().await,
        Err(HandleError::Rejected(CommandError::NotGoose))
    );
    assert_eq!(
        duck.transfer_leadership(goose.id()).await,
        Err(HandleError::Rejected(CommandError::NotGoose))
    );
    assert_eq!(
        goose.transfer_leadership(goose.id()).await,
        Err(HandleError::Rejected(CommandError::TransferToSelf))
    );
    assert_eq!(
        goose.transfer_leadership(NodeId(99)).await,
        Err(HandleError::Rejected(CommandError::NotAVoter(NodeId(99))))
    );
    assert!(goose.is_goose());

    // A transfer: the old Goose is a Duck when the call returns, and the
    // target leads long before any election timeout could fire.
    let old_term = goose.status().term;
    let started = Instant::now();
    goose
        .transfer_leadership(duck.id())
        .await
        .expect("transfer to a voter");
    assert!(!goose.is_goose());
    duck.wait_for_role(Role::Goose, HANDOVER_BOUND)
        .await
        .expect("the target takes over within the handover bound");
    assert!(started.elapsed() < HANDOVER_BOUND);
    assert!(duck.status().term > old_term);

    // A step-down hands over to some other node just as fast.
    let stepped_from = duck.id();
    let started = Instant::now();
    duck.step_down().await.expect("the new Goose can step down");
    assert!(!duck.is_goose());
    let next = single_goose(&nodes).await;
    assert_ne!(next.id(), stepped_from);
    assert!(started.elapsed() < HANDOVER_BOUND);
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_shuts_the_node_down() {
    let network = MemoryTransport::network(10);
    let members = ids(1);
    let node = Node::start(
        config(NodeId(1), &members),
        network.transport(NodeId(1)),
        MemStorage::new(),
    )
    .await
    .expect("start");
    let status = node
        .wait_for_role(Role::Goose, ELECTION_WAIT)
        .await
        .expect("a one-node cluster elects itself");
    assert_eq!(status.members.as_ref(), &[NodeId(1)]);
    let mut watcher = node.subscribe();
    drop(node);
    while watcher.changed().await.is_ok() {}
    let last = watcher.borrow();
    assert!(!last.running);
    assert_eq!(last.role, Role::Duck);
}

#[test]
fn node_config_defaults_convert_to_the_core_defaults() {
    let config = NodeConfig::new(NodeId(1), ids(3));
    config.validate().expect("the defaults are valid");
    let core = config.to_core_config().expect("whole ticks");
    assert_eq!(core.heartbeat_interval_ticks, 5);
    assert_eq!(core.election_timeout_min_ticks, 30);
    assert_eq!(core.election_timeout_max_ticks, 60);
    assert_eq!(core.drift_bound_ppm, 50_000);
    // 25 ticks of 10 ms: a 250 ms lease.
    assert_eq!(core.lease_ticks(), 25);
    assert_eq!(core.max_lease_ticks(), 25);
}

#[test]
fn node_config_validate_reports_each_problem() {
    let base = NodeConfig::new(NodeId(1), ids(3));
    let ms = Duration::from_millis;

    let mut config = base.clone();
    config.tick = Duration::ZERO;
    assert_eq!(config.validate(), Err(NodeConfigError::ZeroTick));

    let mut config = base.clone();
    config.heartbeat = ms(55);
    assert_eq!(
        config.validate(),
        Err(NodeConfigError::NotWholeTicks {
            field: "heartbeat",
            duration: ms(55),
            tick: ms(10),
        })
    );

    let mut config = base.clone();
    config.election_timeout = ms(300)..ms(605);
    assert!(matches!(
        config.validate(),
        Err(NodeConfigError::NotWholeTicks {
            field: "election_timeout.end",
            ..
        })
    ));

    let mut config = base.clone();
    config.heartbeat = Duration::ZERO;
    assert_eq!(
        config.validate(),
        Err(NodeConfigError::ZeroTicks { field: "heartbeat" })
    );

    let mut config = base.clone();
    config.election_timeout = ms(600)..ms(300);
    assert!(matches!(
        config.validate(),
        Err(NodeConfigError::Core(
            ConfigError::EmptyElectionTimeoutRange { .. }
        ))
    ));

    let mut config = base.clone();
    config.id = NodeId(9);
    assert_eq!(
        config.validate(),
        Err(NodeConfigError::Core(ConfigError::NotAMember {
            id: NodeId(9)
        }))
    );

    let mut config = base.clone();
    config.members.clear();
    assert_eq!(
        config.validate(),
        Err(NodeConfigError::Core(ConfigError::NoVoters))
    );

    // A 1 s heartbeat outlasts the 250 ms lease.
    let mut config = base.clone();
    config.heartbeat = ms(1000);
    assert!(matches!(
        config.validate(),
        Err(NodeConfigError::Core(
            ConfigError::LeaseNotLongerThanHeartbeat { .. }
        ))
    ));

    let mut config = base;
    config.drift_bound_ppm = 600_000;
    assert!(matches!(
        config.validate(),
        Err(NodeConfigError::Core(
            ConfigError::DriftBoundTooLarge { .. }
        ))
    ));
}

#[tokio::test(start_paused = true)]
async fn start_rejects_an_invalid_config() {
    let network = MemoryTransport::network(11);
    let mut config = config(NodeId(1), &ids(3));
    config.tick = Duration::ZERO;
    let started = Node::start(config, network.transport(NodeId(1)), MemStorage::new()).await;
    assert!(matches!(
        started,
        Err(StartError::Config(NodeConfigError::ZeroTick))
    ));
}

#[tokio::test(start_paused = true)]
async fn the_handle_reports_the_lease_contacts_and_persist_latency() {
    let members = ids(3);
    let network = MemoryTransport::network(12);
    let mut nodes = Vec::new();
    for &id in &members {
        let mut config = config(id, &members);
        config
            .addresses
            .insert(NodeId(1), "10.0.0.1:7001".to_owned());
        let node = Node::start(config, network.transport(id), MemStorage::new())
            .await
            .expect("start");
        nodes.push(node);
    }
    let goose = single_goose(&nodes).await;
    let duck = others(&nodes, goose.id()).remove(0);
    wait_until(&nodes, ELECTION_WAIT, "the Duck to follow", |_| {
        duck.status().leader == Some(goose.id())
    })
    .await;

    // The lease: the fencing token and the time left, up to 25 ticks.
    let lease = goose.lease().expect("the Goose holds a lease");
    assert_eq!(Some(lease.term), goose.fencing_token());
    let remaining = lease.remaining.expect("check-quorum is on");
    assert!(remaining <= Duration::from_millis(250), "{remaining:?}");
    let deadline = goose.status().lease_deadline.expect("a deadline");
    assert_eq!(remaining, deadline - Instant::now(), "paused time");
    assert_eq!(duck.lease(), None);

    // Contacts: heartbeats reach the Duck every 50 ms.
    let now = Instant::now();
    let peers = duck.peers();
    assert_eq!(
        peers.iter().map(|peer| peer.id).collect::<Vec<_>>(),
        members
    );
    for peer in &peers {
        assert!(peer.voter);
        let expected = (peer.id == NodeId(1)).then(|| "10.0.0.1:7001".to_owned());
        assert_eq!(peer.address, expected);
        if peer.id == duck.id() {
            assert_eq!(
                peer.last_contact,
                Some(now),
                "a node is in touch with itself"
            );
        }
        if peer.id == goose.id() {
            let contact = peer.last_contact.expect("heard the Goose");
            assert!(
                now - contact <= Duration::from_millis(50),
                "{:?}",
                now - contact
            );
        }
    }

    // Every node that voted saved its vote first.
    for node in &nodes {
        let latency = node.persist_latency();
        assert!(latency.count() >= 1, "node {} saved nothing", node.id());
        assert_eq!(latency.buckets().len(), 13);
        assert!(
            latency
                .buckets()
                .last()
                .is_some_and(|(_, n)| n <= latency.count())
        );
    }

    // A handover returns the term given up.
    let term = goose.status().term;
    assert_eq!(goose.step_down().await, Ok(term));
    let next = single_goose(&nodes).await;
    assert!(next.status().term > term);
    for node in &nodes {
        node.shutdown().await;
    }
}

/// The voters 1, 2, 3 and the learner 4, the same membership on every node.
fn learner_config(id: NodeId) -> NodeConfig {
    let mut config = config(id, &ids(3));
    config.learners = vec![NodeId(4)];
    config
}

/// Starts nodes 1 to 4 of [`learner_config`]; node 4 (the learner) is last.
async fn start_with_learner(network: &duckduckgoose::transport::MemoryNetwork) -> Vec<NodeHandle> {
    let mut nodes = Vec::new();
    for id in ids(4) {
        let node = Node::start(learner_config(id), network.transport(id), MemStorage::new())
            .await
            .expect("a valid node starts");
        nodes.push(node);
    }
    nodes
}

/// Waits as [`wait_until`] does, also asserting at every sample that
/// `learner` never answers `is_goose()`.
async fn wait_until_learner_stays_a_duck(
    nodes: &[NodeHandle],
    learner: &NodeHandle,
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(&[NodeHandle]) -> bool,
) {
    wait_until(nodes, timeout, what, |nodes| {
        assert!(!learner.is_goose(), "the learner answered Goose");
        assert_eq!(learner.status().role, Role::Duck, "the learner's core led");
        done(nodes)
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_learner_follows_the_goose_and_never_leads_even_when_the_voters_cannot_agree() {
    let network = MemoryTransport::network(13);
    let nodes = start_with_learner(&network).await;
    let learner = nodes[3].clone();
    let voters = &nodes[..3];

    // Healthy: one Goose among the voters, and the learner follows it.
    let goose = single_goose(&nodes).await;
    assert_ne!(goose.id(), learner.id());
    wait_until_learner_stays_a_duck(
        &nodes,
        &learner,
        ELECTION_WAIT,
        "the learner to follow",
        |_| learner.status().leader == Some(goose.id()),
    )
    .await;
    let status = learner.status();
    assert_eq!(status.term, goose.status().term);
    assert_eq!(status.voted_for, None, "a learner never votes");
    assert_eq!(status.members.as_ref(), ids(3).as_slice());
    assert_eq!(status.learners.as_ref(), &[NodeId(4)]);
    assert_eq!(goose.status().learners.as_ref(), &[NodeId(4)]);
    assert_eq!(learner.lease(), None);

    // Every node lists the learner as a non-voting member, and the Goose
    // hears its acks.
    let peers = goose.peers();
    assert_eq!(
        peers
            .iter()
            .map(|peer| (peer.id, peer.voter))
            .collect::<Vec<_>>(),
        [
            (NodeId(1), true),
            (NodeId(2), true),
            (NodeId(3), true),
            (NodeId(4), false)
        ]
    );
    assert!(
        peers[3].last_contact.is_some(),
        "the learner acks heartbeats"
    );
    assert!(
        learner
            .peers()
            .iter()
            .all(|peer| peer.voter == (peer.id != learner.id()))
    );

    // Leadership cannot be handed to a learner; nothing changes.
    let term = goose.status().term;
    assert_eq!(
        goose.transfer_leadership(learner.id()).await,
        Err(HandleError::Rejected(CommandError::NotAVoter(learner.id())))
    );
    assert!(goose.is_goose());
    assert_eq!(goose.fencing_token(), Some(term));
    // Nor can a learner lead a handover: it is not the Goose.
    assert_eq!(
        learner.step_down().await,
        Err(HandleError::Rejected(CommandError::NotGoose))
    );

    // The Goose cut off from everyone, the learner included: the learner
    // hears no heartbeat any more but does not campaign; the two remaining
    // voters elect one of themselves, and the learner follows it.
    network.isolate(goose.id());
    let majority = others(voters, goose.id());
    let new = {
        let mut found = None;
        wait_until_learner_stays_a_duck(&nodes, &learner, ELECTION_WAIT, "a new Goose", |_| {
            found = geese(&majority).pop();
            found.is_some()
        })
        .await;
        found.expect("a new Goose")
    };
    assert!(new.status().term > term);
    wait_until_learner_stays_a_duck(
        &nodes,
        &learner,
        ELECTION_WAIT,
        "the learner to follow",
        |_| learner.status().leader == Some(new.id()),
    )
    .await;
    network.heal_all();
    wait_until_learner_stays_a_duck(
        &nodes,
        &learner,
        ELECTION_WAIT,
        "the old Goose to follow",
        |_| {
            nodes
                .iter()
                .all(|node| node.status().leader == Some(new.id()))
        },
    )
    .await;

    // The voters cut off from each other, each still reaching the learner:
    // no majority, so no Goose once the lease ends, and the learner, which
    // hears everyone, still never campaigns or leads.
    let voter_ids = ids(3);
    for (index, &a) in voter_ids.iter().enumerate() {
        for &b in &voter_ids[index + 1..] {
            network.cut(a, b);
        }
    }
    let lease_deadline = new.status().lease_deadline.expect("a Goose has a lease");
    let counters_before = learner.status().counters;
    let waited = learner
        .wait_for_role(Role::Goose, Duration::from_secs(5))
        .await;
    assert!(
        matches!(
            waited,
            Err(WaitError::Timeout {
                role: Role::Goose,
                ..
            })
        ),
        "a learner never becomes the Goose: {waited:?}"
    );
    assert!(Instant::now() > lease_deadline);
    wait_until_learner_stays_a_duck(&nodes, &learner, Duration::from_secs(3), "3 s of split", {
        let until = Instant::now() + Duration::from_secs(2);
        move |nodes| {
            assert!(geese(nodes).is_empty(), "no majority, no Goose");
            Instant::now() >= until
        }
    })
    .await;
    let counters = learner.status().counters;
    assert_eq!(counters.pre_votes_started, 0);
    assert_eq!(counters.elections_started, 0);
    assert_eq!(counters_before.elections_started, 0);
    assert_eq!(learner.status().voted_for, None);

    // Healed, the voters elect a Goose again, and the learner follows it.
    network.heal_all();
    let last = single_goose(&nodes).await;
    assert_ne!(last.id(), learner.id());
    wait_until_learner_stays_a_duck(
        &nodes,
        &learner,
        ELECTION_WAIT,
        "the learner to follow",
        |_| learner.status().leader == Some(last.id()),
    )
    .await;
    for node in &nodes {
        node.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_lone_voter_leads_a_learner_and_has_nobody_to_step_down_to() {
    let network = MemoryTransport::network(14);
    let mut nodes = Vec::new();
    for id in ids(2) {
        let mut config = config(id, &[NodeId(1)]);
        config.learners = vec![NodeId(2)];
        let node = Node::start(config, network.transport(id), MemStorage::new())
            .await
            .expect("a valid node starts");
        nodes.push(node);
    }
    let (voter, learner) = (nodes[0].clone(), nodes[1].clone());

    // One voter is a majority on its own; the learner's acks do not count,
    // but they do not get in the way either.
    voter
        .wait_for_role(Role::Goose, ELECTION_WAIT)
        .await
        .expect("a lone voter elects itself");
    wait_until_learner_stays_a_duck(
        &nodes,
        &learner,
        ELECTION_WAIT,
        "the learner to follow",
        |_| learner.status().leader == Some(voter.id()),
    )
    .await;

    // `step_down` picks among voters only: the learner is no candidate.
    assert_eq!(
        voter.step_down().await,
        Err(HandleError::Rejected(CommandError::NoTransferTarget))
    );
    assert!(voter.is_goose());

    // The voter's lease does not depend on the learner: cut it off, and
    // the voter stays the Goose.
    network.isolate(learner.id());
    let term = voter.status().term;
    wait_until_learner_stays_a_duck(&nodes, &learner, Duration::from_secs(3), "2 s apart", {
        let until = Instant::now() + Duration::from_secs(2);
        move |_| {
            assert!(voter.is_goose(), "the learner holds up no lease");
            Instant::now() >= until
        }
    })
    .await;
    assert_eq!(nodes[0].fencing_token(), Some(term));
    for node in &nodes {
        node.shutdown().await;
    }
}

#[test]
fn node_config_learners_convert_and_validate() {
    // A learner's own configuration: its id among the learners only.
    let learner = learner_config(NodeId(4));
    learner.validate().expect("a learner may run a node");
    let core = learner.to_core_config().expect("whole ticks");
    assert_eq!(core.membership.voters().collect::<Vec<_>>(), ids(3));
    assert_eq!(core.membership.learners().collect::<Vec<_>>(), [NodeId(4)]);
    assert_eq!(core.membership.quorum(), 2, "learners do not count");

    // Voters get the same membership.
    let voter = learner_config(NodeId(1));
    voter.validate().expect("valid");
    assert_eq!(
        voter.to_core_config().expect("whole ticks").membership,
        core.membership
    );

    // No learners by default.
    assert!(NodeConfig::new(NodeId(1), ids(3)).learners.is_empty());

    let mut both = learner_config(NodeId(1));
    both.learners.push(NodeId(2));
    assert_eq!(
        both.validate(),
        Err(NodeConfigError::Core(ConfigError::VoterAndLearner {
            id: NodeId(2)
        }))
    );

    let mut stranger = learner_config(NodeId(5));
    assert_eq!(
        stranger.validate(),
        Err(NodeConfigError::Core(ConfigError::NotAMember {
            id: NodeId(5)
        }))
    );
    // Learners alone make no cluster.
    stranger.id = NodeId(4);
    stranger.members.clear();
    assert_eq!(
        stranger.validate(),
        Err(NodeConfigError::Core(ConfigError::NoVoters))
    );
}

#[tokio::test(start_paused = true)]
async fn start_rejects_a_node_listed_as_voter_and_learner() {
    let network = MemoryTransport::network(15);
    let mut config = learner_config(NodeId(1));
    config.learners.push(NodeId(1));
    let started = Node::start(config, network.transport(NodeId(1)), MemStorage::new()).await;
    assert!(matches!(
        started,
        Err(StartError::Config(NodeConfigError::Core(
            ConfigError::VoterAndLearner { id: NodeId(1) }
        )))
    ));
}
