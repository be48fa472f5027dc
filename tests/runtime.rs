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

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use duckduckgoose::core::{CommandError, ConfigError, Membership, MembershipError};
use duckduckgoose::runtime::{
    FatalError, HandleError, Node, NodeConfig, NodeConfigError, NodeHandle, StartError, WaitError,
};
use duckduckgoose::storage::{MemStorage, Storage, StorageError};
use duckduckgoose::transport::{
    Inbound, JoinReply, JoinRequest, MemoryNetwork, MemoryTransport, Transport, TransportError,
};
use duckduckgoose::{HardState, Message, NodeId, Role, Term};
use tokio::sync::{mpsc, oneshot};
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

// ----- membership changes ---------------------------------------------------------

/// Where node `id` says it can be reached; the in-process network ignores it,
/// but the membership carries it to every node.
fn addr(id: NodeId) -> String {
    format!("10.0.0.{}:7000", id.0)
}

/// The configuration of a member of the cluster `voters`, with every
/// voter's address.
fn member_config(id: NodeId, voters: &[NodeId]) -> NodeConfig {
    let mut config = config(id, voters);
    config.addresses = voters.iter().map(|&voter| (voter, addr(voter))).collect();
    config
}

/// The configuration of a node joining with the membership it was given.
fn joiner_config(id: NodeId, membership: Membership) -> NodeConfig {
    let mut config = NodeConfig::from_membership(id, membership);
    config.rng_seed = Some(1000 + id.0);
    config
}

/// A cluster of real nodes on one in-process network, each with a
/// `MemStorage` that outlives it (for restarts).
struct Cluster {
    network: MemoryNetwork,
    /// Every node started so far, the latest start of each id.
    nodes: Vec<NodeHandle>,
    storages: BTreeMap<NodeId, MemStorage>,
}

impl Cluster {
    /// Voters `1..=size`, every one configured with every address.
    async fn start(size: u64, seed: u64) -> Self {
        let mut cluster = Cluster {
            network: MemoryTransport::network(seed),
            nodes: Vec::new(),
            storages: BTreeMap::new(),
        };
        let voters = ids(size);
        for &id in &voters {
            cluster
                .start_node(member_config(id, &voters))
                .await
                .expect("a valid node starts");
        }
        cluster
    }

    /// Starts (or restarts, on its old storage) the node of `config`.
    async fn start_node(&mut self, config: NodeConfig) -> Result<NodeHandle, StartError> {
        let id = config.id;
        let storage = self.storages.entry(id).or_default().clone();
        let node = Node::start(config, self.network.transport(id), storage).await?;
        self.nodes.retain(|node| node.id() != id);
        self.nodes.push(node.clone());
        Ok(node)
    }

    fn node(&self, id: NodeId) -> NodeHandle {
        self.nodes
            .iter()
            .find(|node| node.id() == id)
            .cloned()
            .expect("a node of the cluster")
    }

    /// The running nodes of `membership`.
    fn members_of(&self, membership: &Membership) -> Vec<NodeHandle> {
        self.nodes
            .iter()
            .filter(|node| node.is_running() && membership.contains(node.id()))
            .cloned()
            .collect()
    }
}

/// Waits until the Goose among `nodes` leads with a committed membership
/// (its re-issue or last change is held by a majority), so that it accepts
/// a change; returns it.
async fn goose_ready_for_a_change(nodes: &[NodeHandle]) -> NodeHandle {
    let mut found = None;
    wait_until(
        nodes,
        ELECTION_WAIT,
        "a Goose with nothing pending",
        |nodes| {
            found = geese(nodes)
                .into_iter()
                .find(|goose| goose.status().membership_pending == Some(false));
            found.is_some()
        },
    )
    .await;
    found.expect("found")
}

/// Waits until every node of `nodes` holds the same membership, with these
/// voters and learners, and the Goose among them has committed it.
async fn wait_for_membership(nodes: &[NodeHandle], voters: &[u64], learners: &[u64]) -> Membership {
    let voters: Vec<NodeId> = voters.iter().copied().map(NodeId).collect();
    let learners: Vec<NodeId> = learners.iter().copied().map(NodeId).collect();
    let what = format!("voters {voters:?} and learners {learners:?} everywhere");
    wait_until(nodes, ELECTION_WAIT, &what, |nodes| {
        let first = nodes[0].status().membership;
        nodes.iter().all(|node| {
            let status = node.status();
            status.membership == first
                && status.members.as_ref() == voters.as_slice()
                && status.learners.as_ref() == learners.as_slice()
        }) && geese(nodes)
            .first()
            .is_some_and(|goose| goose.status().membership_pending == Some(false))
    })
    .await;
    nodes[0].membership()
}

/// Samples for `span` (as [`wait_until`] does) that `removed`, a node no
/// longer in the membership, never campaigns and never leads.
async fn assert_never_campaigns(nodes: &[NodeHandle], removed: &NodeHandle, span: Duration) {
    let before = removed.status().counters;
    let until = Instant::now() + span;
    wait_until(nodes, span + Duration::from_secs(1), "a while", |_| {
        assert!(!removed.is_goose());
        assert_eq!(removed.status().role, Role::Duck);
        Instant::now() >= until
    })
    .await;
    let after = removed.status().counters;
    assert_eq!(
        after.pre_votes_started, before.pre_votes_started,
        "no pre-vote"
    );
    assert_eq!(
        after.elections_started, before.elections_started,
        "no election"
    );
    assert!(!removed.membership().contains(removed.id()));
}

#[tokio::test(start_paused = true)]
async fn grow_three_to_five_the_new_nodes_are_promoted_to_voters() {
    let mut cluster = Cluster::start(3, 21).await;
    let goose = goose_ready_for_a_change(&cluster.nodes).await;
    let term = goose.status().term;

    for new in [NodeId(4), NodeId(5)] {
        // Wait for the previous node's promotion to commit.
        let goose = goose_ready_for_a_change(&cluster.nodes).await;
        let added = goose.add_node(new, addr(new)).await.expect("added");
        assert!(added.is_learner(new) && added.is_joining(new));
        assert!(!added.is_voter(new));
        assert_eq!(added.address(new), Some(addr(new).as_str()));
        assert_eq!(goose.membership(), added, "committed, nothing newer yet");
        assert_eq!(goose.status().membership, added.id());
        assert_eq!(goose.status().membership_pending, Some(false));

        let node = cluster
            .start_node(joiner_config(new, added))
            .await
            .expect("the new node starts");
        wait_until(&cluster.nodes, ELECTION_WAIT, "the promotion", |nodes| {
            nodes
                .iter()
                .all(|node| node.status().members.contains(&new))
                && goose.status().membership_pending == Some(false)
        })
        .await;
        assert_eq!(node.status().leader, Some(goose.id()));
    }

    let membership = wait_for_membership(&cluster.nodes, &[1, 2, 3, 4, 5], &[]).await;
    assert_eq!(membership.joining().len(), 0);
    for node in &cluster.nodes {
        let status = node.status();
        assert_eq!(
            status.members.as_ref(),
            ids(5).as_slice(),
            "node {}",
            node.id()
        );
        assert!(status.learners.is_empty());
        assert_eq!(status.membership, membership.id());
        assert_eq!(status.leader, Some(goose.id()));
        assert_eq!(status.term, term, "growing the cluster took no election");
        assert_eq!(node.membership(), membership);
        let peers = node.peers();
        assert_eq!(peers.iter().map(|peer| peer.id).collect::<Vec<_>>(), ids(5));
        for peer in &peers {
            assert!(peer.voter);
            assert_eq!(peer.address, Some(addr(peer.id)));
        }
    }
    assert!(goose.is_goose());
    // The new voters count: with two of the old voters gone, the other three
    // are still a majority of five.
    let ducks: Vec<NodeId> = others(&cluster.nodes, goose.id())
        .iter()
        .map(NodeHandle::id)
        .filter(|id| id.0 <= 3)
        .collect();
    for duck in ducks {
        cluster.network.isolate(duck);
    }
    let steady = Instant::now() + Duration::from_secs(2);
    wait_until(&cluster.nodes, Duration::from_secs(3), "2 s", |_| {
        Instant::now() >= steady
    })
    .await;
    assert!(
        goose.is_goose(),
        "the Goose, 4 and 5 are a majority of five"
    );
    assert_eq!(goose.status().term, term);
}

#[tokio::test(start_paused = true)]
async fn shrink_five_to_three_while_a_remaining_node_is_cut_off() {
    let cluster = Cluster::start(5, 22).await;
    let goose = goose_ready_for_a_change(&cluster.nodes).await;
    let ducks: Vec<NodeHandle> = others(&cluster.nodes, goose.id());
    let (cut_off, removed, stays) = (&ducks[0], &ducks[1..3], &ducks[3]);

    cluster.network.isolate(cut_off.id());
    for node in removed {
        let membership = goose.remove_node(node.id()).await.expect("removed");
        assert!(!membership.contains(node.id()));
        assert_eq!(membership.address(node.id()), None);
    }
    let expected: Vec<NodeId> = {
        let mut ids = vec![goose.id(), cut_off.id(), stays.id()];
        ids.sort();
        ids
    };
    assert_eq!(goose.status().members.as_ref(), expected.as_slice());
    assert_eq!(
        goose.peers().iter().map(|peer| peer.id).collect::<Vec<_>>(),
        expected
    );
    // The removed nodes heard of their removal and stay quiet.
    for node in removed {
        wait_until(
            &cluster.nodes,
            ELECTION_WAIT,
            "the removal to arrive",
            |_| !node.membership().contains(node.id()),
        )
        .await;
    }
    // The cut-off node missed both changes; once back, it catches up
    // without disturbing the Goose (its old membership wins no vote).
    assert_eq!(cut_off.status().members.len(), 5);
    cluster.network.heal_all();
    let remaining: Vec<NodeHandle> = cluster
        .nodes
        .iter()
        .filter(|node| expected.contains(&node.id()))
        .cloned()
        .collect();
    let voters: Vec<u64> = expected.iter().map(|id| id.0).collect();
    let membership = wait_for_membership(&remaining, &voters, &[]).await;
    assert_eq!(cut_off.membership(), membership);
    assert!(goose.is_goose());
    for node in removed {
        assert_never_campaigns(&cluster.nodes, node, Duration::from_secs(3)).await;
    }
    assert!(goose.is_goose());
}

#[tokio::test(start_paused = true)]
async fn removing_the_goose_elects_a_new_one_and_the_old_one_never_campaigns() {
    let cluster = Cluster::start(3, 23).await;
    let old = goose_ready_for_a_change(&cluster.nodes).await;
    let term = old.status().term;

    let membership = old.remove_node(old.id()).await.expect("removed itself");
    assert!(!membership.contains(old.id()));
    assert_eq!(membership.voter_count(), 2);
    assert!(!old.is_goose(), "a removed Goose steps down at the commit");
    assert_eq!(old.membership(), membership);

    let rest = others(&cluster.nodes, old.id());
    let new = single_goose(&rest).await;
    assert!(new.status().term > term);
    let voters: Vec<u64> = rest.iter().map(|node| node.id().0).collect();
    let held = wait_for_membership(&rest, &voters, &[]).await;
    assert!(held.id() > membership.id(), "the new Goose re-issued it");
    assert_never_campaigns(&cluster.nodes, &old, Duration::from_secs(3)).await;
    assert!(new.is_goose());
}

#[tokio::test(start_paused = true)]
async fn leave_from_a_duck_and_from_the_goose() {
    let cluster = Cluster::start(5, 24).await;
    let goose = goose_ready_for_a_change(&cluster.nodes).await;

    // A Duck asks the Goose to remove it; `leave` has no timeout of its own.
    let duck = others(&cluster.nodes, goose.id()).remove(0);
    tokio::time::timeout(ELECTION_WAIT, duck.leave())
        .await
        .expect("left in time")
        .expect("left");
    assert!(!duck.membership().contains(duck.id()));
    assert!(duck.is_running(), "a removed node runs until shut down");
    let four = cluster.members_of(&goose.membership());
    let voters: Vec<u64> = four.iter().map(|node| node.id().0).collect();
    wait_for_membership(&four, &voters, &[]).await;
    assert_eq!(duck.leave().await, Ok(()), "already out");

    // The Goose hands over first, then the next Goose removes it.
    let term = goose.status().term;
    tokio::time::timeout(ELECTION_WAIT, goose.leave())
        .await
        .expect("left in time")
        .expect("left");
    assert!(!goose.is_goose());
    assert!(!goose.membership().contains(goose.id()));
    let three = others(&four, goose.id());
    let new = single_goose(&three).await;
    assert!(new.status().term > term);
    let voters: Vec<u64> = three.iter().map(|node| node.id().0).collect();
    wait_for_membership(&three, &voters, &[]).await;
    assert_never_campaigns(&cluster.nodes, &goose, Duration::from_secs(2)).await;
    assert_never_campaigns(&cluster.nodes, &duck, Duration::from_secs(1)).await;
    for node in &cluster.nodes {
        node.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_restarted_node_finds_the_new_membership_and_a_removed_one_starts_as_a_removed_node() {
    let mut cluster = Cluster::start(3, 25).await;
    let goose = goose_ready_for_a_change(&cluster.nodes).await;
    let four = NodeId(4);
    let added = goose.add_node(four, addr(four)).await.expect("added");
    cluster
        .start_node(joiner_config(four, added))
        .await
        .expect("starts");
    let membership = wait_for_membership(&cluster.nodes, &[1, 2, 3, 4], &[]).await;

    // A Duck restarts with its original configuration (three voters): the
    // stored membership wins.
    let duck = others(&cluster.nodes, goose.id()).remove(0);
    duck.shutdown().await;
    let restarted = cluster
        .start_node(member_config(duck.id(), &ids(3)))
        .await
        .expect("restarts");
    let status = restarted.status();
    assert_eq!(status.members.as_ref(), ids(4).as_slice());
    assert_eq!(status.membership, membership.id());
    assert_eq!(restarted.membership(), membership);
    assert_eq!(restarted.peers().len(), 4);
    wait_until(
        &cluster.nodes,
        ELECTION_WAIT,
        "the restarted node to follow",
        |_| restarted.status().leader == Some(goose.id()),
    )
    .await;

    // So does the joiner, restarted with no configuration of its own but
    // the membership it first joined with.
    let joiner = cluster.node(four);
    joiner.shutdown().await;
    let stale = Membership::new(ids(3))
        .with_learners([four])
        .with_addresses(ids(4).into_iter().map(|id| (id, addr(id))));
    let joiner = cluster
        .start_node(joiner_config(four, stale))
        .await
        .expect("restarts");
    assert_eq!(joiner.status().members.as_ref(), ids(4).as_slice());
    assert!(joiner.status().learners.is_empty());

    // A removed node: its stored membership does not hold it.
    let removed = restarted.id();
    goose.remove_node(removed).await.expect("removed");
    wait_until(
        &cluster.nodes,
        ELECTION_WAIT,
        "the removal to arrive",
        |_| !restarted.membership().contains(removed),
    )
    .await;
    let held = restarted.membership();
    restarted.shutdown().await;

    // Restarted on its storage, whatever its configuration says, it starts
    // as a removed node: a Duck outside its membership that never
    // campaigns, while the cluster keeps its Goose.
    let term = goose.status().term;
    let removed_node = cluster
        .start_node(member_config(removed, &ids(3)))
        .await
        .expect("a removed node starts");
    let status = removed_node.status();
    assert!(!status.member, "{status:?}");
    assert_eq!(status.role, Role::Duck);
    assert_eq!(status.membership, held.id());
    assert!(!status.members.contains(&removed) && !status.learners.contains(&removed));
    assert_eq!(removed_node.membership(), held);
    assert_eq!(removed_node.leave().await, Ok(()), "already out");
    assert_never_campaigns(&cluster.nodes, &removed_node, Duration::from_secs(5)).await;
    assert!(goose.is_goose());
    assert_eq!(goose.status().term, term, "no election");
    let rest = cluster.members_of(&goose.membership());
    for node in &rest {
        assert_eq!(node.status().leader, Some(goose.id()), "node {}", node.id());
    }
    for node in &cluster.nodes {
        node.shutdown().await;
    }
}

/// A node removed (or whose removal a new Goose undid) while it was down
/// comes back: restarted on storage whose membership lacks it, it starts as
/// a removed node; once the Goose has added it back, the Goose's heartbeats
/// bring the membership naming it, and it is promoted to voter again.
#[tokio::test(start_paused = true)]
async fn a_removed_node_added_back_while_down_rejoins_on_its_old_storage() {
    let mut cluster = Cluster::start(3, 27).await;
    let goose = goose_ready_for_a_change(&cluster.nodes).await;
    let term = goose.status().term;
    let node = others(&cluster.nodes, goose.id()).remove(0);
    let id = node.id();

    goose.remove_node(id).await.expect("removed");
    wait_until(
        &cluster.nodes,
        ELECTION_WAIT,
        "the removal to arrive",
        |_| !node.status().member,
    )
    .await;
    // A crash: the storage keeps the membership without it.
    node.abort();
    node.stopped().await;
    let without = node.membership();
    assert!(!without.contains(id));

    let goose = goose_ready_for_a_change(&cluster.members_of(&goose.membership())).await;
    let added = goose.add_node(id, addr(id)).await.expect("added back");
    assert!(added.is_learner(id) && added.is_joining(id));

    let restarted = cluster
        .start_node(member_config(id, &ids(3)))
        .await
        .expect("starts");
    assert!(!restarted.status().member, "its storage does not hold it");
    assert_eq!(restarted.membership(), without);
    let voters: Vec<u64> = ids(3).iter().map(|id| id.0).collect();
    let membership = wait_for_membership(&cluster.nodes, &voters, &[]).await;
    assert!(membership.id() > added.id(), "promoted after being added");
    let status = restarted.status();
    assert!(status.member);
    assert!(status.members.contains(&id));
    assert_eq!(status.membership, membership.id());
    assert_eq!(status.leader, Some(goose.id()));
    assert!(goose.is_goose());
    assert_eq!(goose.status().term, term, "no election on the way");
    for node in &cluster.nodes {
        node.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn bad_membership_changes_are_refused_and_change_nothing() {
    let cluster = Cluster::start(3, 26).await;
    let goose = goose_ready_for_a_change(&cluster.nodes).await;
    let duck = others(&cluster.nodes, goose.id()).remove(0);
    wait_until(&cluster.nodes, ELECTION_WAIT, "the Duck to follow", |_| {
        duck.status().leader == Some(goose.id())
    })
    .await;
    let before = goose.membership();

    // Only the Goose changes the membership; a Duck names it.
    let not_goose = HandleError::Membership(MembershipError::NotGoose {
        leader: Some(goose.id()),
    });
    assert_eq!(
        duck.add_node(NodeId(4), addr(NodeId(4))).await,
        Err(not_goose.clone())
    );
    assert_eq!(duck.remove_node(goose.id()).await, Err(not_goose));

    // An existing id at another address.
    assert_eq!(
        goose.add_node(NodeId(2), "10.9.9.9:7000").await,
        Err(HandleError::Membership(MembershipError::AddressConflict {
            id: NodeId(2),
            existing: addr(NodeId(2)),
            requested: "10.9.9.9:7000".to_owned(),
        }))
    );
    // At its own address: nothing to do, answered at once.
    assert_eq!(
        goose.add_node(NodeId(2), addr(NodeId(2))).await,
        Ok(before.clone())
    );
    assert!(matches!(
        goose.add_node(NodeId(4), "no port").await,
        Err(HandleError::Membership(MembershipError::InvalidAddress(_)))
    ));
    assert_eq!(
        goose.remove_node(NodeId(9)).await,
        Err(HandleError::Membership(MembershipError::NotAMember(
            NodeId(9)
        )))
    );
    assert_eq!(goose.membership(), before, "nothing changed");

    // One change at a time: the second is refused while the first is pending.
    let (first, second) = tokio::join!(
        goose.add_node(NodeId(4), addr(NodeId(4))),
        goose.add_node(NodeId(5), addr(NodeId(5))),
    );
    let first = first.expect("the first change commits");
    assert_eq!(
        second,
        Err(HandleError::Membership(MembershipError::ChangeInProgress {
            pending: first.id()
        }))
    );
    assert!(first.contains(NodeId(4)) && !first.contains(NodeId(5)));
    assert_eq!(goose.membership(), first);
    for node in &cluster.nodes {
        node.shutdown().await;
    }

    // The last voter can neither be removed nor leave.
    let lone = Cluster::start(1, 27).await;
    let node = goose_ready_for_a_change(&lone.nodes).await;
    let last_voter = HandleError::Membership(MembershipError::LastVoter(node.id()));
    assert_eq!(node.remove_node(node.id()).await, Err(last_voter.clone()));
    assert_eq!(node.leave().await, Err(last_voter));
    assert!(node.is_goose());
    // A lone voter commits a change on its own.
    let added = node
        .add_node(NodeId(2), addr(NodeId(2)))
        .await
        .expect("added");
    assert!(added.is_learner(NodeId(2)));
    let removed = node.remove_node(NodeId(2)).await.expect("removed");
    assert!(!removed.contains(NodeId(2)));
    node.shutdown().await;
    assert_eq!(
        node.add_node(NodeId(3), addr(NodeId(3))).await,
        Err(HandleError::Stopped)
    );
}

#[tokio::test(start_paused = true)]
async fn a_goose_that_loses_its_lease_before_the_commit_reports_leadership_lost() {
    let cluster = Cluster::start(3, 28).await;
    let goose = goose_ready_for_a_change(&cluster.nodes).await;
    cluster.network.isolate(goose.id());
    assert_eq!(
        goose.add_node(NodeId(4), addr(NodeId(4))).await,
        Err(HandleError::LeadershipLost)
    );
    assert!(!goose.is_goose());
    // The change never reached anyone: the others elect a Goose among the
    // three voters they know.
    let rest = others(&cluster.nodes, goose.id());
    let new = single_goose(&rest).await;
    assert!(!new.membership().contains(NodeId(4)));
    cluster.network.heal_all();
    let membership = wait_for_membership(&cluster.nodes, &[1, 2, 3], &[]).await;
    assert!(
        !membership.contains(NodeId(4)),
        "the new Goose's membership wins"
    );
}

/// A `MemoryTransport` that also hands the runtime join requests (which
/// the in-process transport does not take) and records every peer set the
/// runtime gives it.
struct JoiningTransport {
    inner: MemoryTransport,
    joins: Option<mpsc::Receiver<JoinRequest>>,
    peer_sets: Arc<Mutex<Vec<BTreeMap<NodeId, String>>>>,
}

#[async_trait]
impl Transport for JoiningTransport {
    async fn start(&mut self, inbound: mpsc::Sender<Inbound>) -> Result<(), TransportError> {
        self.inner.start(inbound).await
    }

    fn send(&mut self, to: NodeId, msg: Message) {
        self.inner.send(to, msg);
    }

    async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }

    fn set_peers(&mut self, peers: &BTreeMap<NodeId, String>) {
        self.peer_sets
            .lock()
            .expect("no test panics while holding it")
            .push(peers.clone());
    }

    fn take_join_requests(&mut self) -> Option<mpsc::Receiver<JoinRequest>> {
        self.joins.take()
    }
}

/// One node on a [`JoiningTransport`]: its handle, where to send join
/// requests, and the peer sets its transport was given.
struct JoiningNode {
    handle: NodeHandle,
    joins: mpsc::Sender<JoinRequest>,
    peer_sets: Arc<Mutex<Vec<BTreeMap<NodeId, String>>>>,
}

impl JoiningNode {
    async fn start(network: &MemoryNetwork, config: NodeConfig) -> Self {
        let (joins, receiver) = mpsc::channel(8);
        let peer_sets = Arc::default();
        let transport = JoiningTransport {
            inner: network.transport(config.id),
            joins: Some(receiver),
            peer_sets: Arc::clone(&peer_sets),
        };
        let handle = Node::start(config, transport, MemStorage::new())
            .await
            .expect("starts");
        JoiningNode {
            handle,
            joins,
            peer_sets,
        }
    }

    /// Sends a join request for `id` at `addr` and returns where the answer
    /// will come.
    async fn ask_to_join(&self, id: NodeId, addr: &str) -> oneshot::Receiver<JoinReply> {
        let (reply, answer) = oneshot::channel();
        let request = JoinRequest {
            id,
            addr: addr.to_owned(),
            reply,
        };
        self.joins
            .send(request)
            .await
            .expect("the driver takes joins");
        answer
    }

    fn last_peer_set(&self) -> Option<BTreeMap<NodeId, String>> {
        self.peer_sets
            .lock()
            .expect("no test panics while holding it")
            .last()
            .cloned()
    }
}

/// The peer map of the members `ids`: the membership's addresses, as the
/// runtime hands them over (with the node's own, which transports ignore).
fn peer_map(ids: &[u64]) -> BTreeMap<NodeId, String> {
    ids.iter()
        .map(|&id| (NodeId(id), addr(NodeId(id))))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn join_requests_are_answered_by_the_goose_at_the_commit_and_pointed_there_by_ducks() {
    let network = MemoryTransport::network(29);
    let voters = ids(3);
    let mut nodes = Vec::new();
    for &id in &voters {
        nodes.push(JoiningNode::start(&network, member_config(id, &voters)).await);
    }
    let handles = |nodes: &[JoiningNode]| {
        nodes
            .iter()
            .map(|node| node.handle.clone())
            .collect::<Vec<_>>()
    };
    let goose = goose_ready_for_a_change(&handles(&nodes)).await;
    let goose_index = nodes
        .iter()
        .position(|node| node.handle.id() == goose.id())
        .expect("one of them");
    let duck_index = (goose_index + 1) % nodes.len();
    wait_until(
        &handles(&nodes),
        ELECTION_WAIT,
        "the Duck to follow",
        |_| nodes[duck_index].handle.status().leader == Some(goose.id()),
    )
    .await;
    // Every transport was given its peers at start: the membership knows
    // every address.
    for node in &nodes {
        assert_eq!(node.last_peer_set(), Some(peer_map(&[1, 2, 3])));
    }

    // A Duck names the Goose and its address.
    let (four, five) = (NodeId(4), NodeId(5));
    let answer = nodes[duck_index].ask_to_join(four, &addr(four)).await;
    assert_eq!(
        answer.await.expect("answered"),
        JoinReply::NotGoose {
            leader: Some(goose.id()),
            leader_addr: Some(addr(goose.id())),
        }
    );

    // The Goose takes two joins at once: the second waits for the first to
    // commit, and both are accepted.
    let first = nodes[goose_index].ask_to_join(four, &addr(four)).await;
    let second = nodes[goose_index].ask_to_join(five, &addr(five)).await;
    let JoinReply::Accepted(with_four) = first.await.expect("answered") else {
        panic!("the first join was not accepted");
    };
    assert!(with_four.is_joining(four));
    let JoinReply::Accepted(with_five) = second.await.expect("answered") else {
        panic!("the second join was not accepted");
    };
    assert!(with_five.is_joining(five) && with_five.contains(four));
    assert!(with_five.id() > with_four.id());
    // The Goose's transport now reaches both.
    assert_eq!(
        nodes[goose_index].last_peer_set(),
        Some(peer_map(&[1, 2, 3, 4, 5]))
    );

    // The same id at another address is refused with the reason.
    let conflict = nodes[goose_index].ask_to_join(four, "10.9.9.9:7000").await;
    let JoinReply::Refused(reason) = conflict.await.expect("answered") else {
        panic!("a conflicting join was accepted");
    };
    assert!(reason.contains("already a member"), "{reason}");

    // The joiners start from the membership they were given and are
    // promoted.
    nodes.push(JoiningNode::start(&network, joiner_config(four, with_four)).await);
    nodes.push(JoiningNode::start(&network, joiner_config(five, with_five)).await);
    wait_for_membership(&handles(&nodes), &[1, 2, 3, 4, 5], &[]).await;
    for node in &nodes {
        let id = node.handle.id();
        assert_eq!(
            node.last_peer_set(),
            Some(peer_map(&[1, 2, 3, 4, 5])),
            "node {id}"
        );
    }

    // A removal reaches every transport once committed.
    let membership = goose.remove_node(five).await.expect("removed");
    assert!(!membership.contains(five));
    wait_until(
        &handles(&nodes),
        ELECTION_WAIT,
        "the transports to drop 5",
        |_| {
            nodes[..4]
                .iter()
                .all(|node| node.last_peer_set() == Some(peer_map(&[1, 2, 3, 4])))
        },
    )
    .await;
    // The removed node keeps talking to the others (it asks nothing of them).
    assert_eq!(nodes[4].last_peer_set(), Some(peer_map(&[1, 2, 3, 4])));
    for node in &nodes {
        node.handle.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_transport_is_not_given_peers_whose_addresses_are_unknown() {
    // No addresses configured (the transport has its own): set_peers is
    // never called, even after a node is added with an address.
    let network = MemoryTransport::network(30);
    let voters = ids(3);
    let mut nodes = Vec::new();
    for &id in &voters {
        nodes.push(JoiningNode::start(&network, config(id, &voters)).await);
    }
    let handles: Vec<NodeHandle> = nodes.iter().map(|node| node.handle.clone()).collect();
    let goose = goose_ready_for_a_change(&handles).await;
    goose
        .add_node(NodeId(4), addr(NodeId(4)))
        .await
        .expect("added");
    for node in &nodes {
        assert_eq!(node.last_peer_set(), None);
    }
    let peers = goose.peers();
    assert_eq!(peers.len(), 4);
    assert_eq!(peers[3].address, Some(addr(NodeId(4))));
    assert!(!peers[3].voter, "a learner until promoted");
    for node in &handles {
        node.shutdown().await;
    }
}
