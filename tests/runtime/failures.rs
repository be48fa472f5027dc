//! A stalled driver, a failing or unreadable storage, and a crash: the
//! node stops answering Goose, reports why, and restarts on what it saved.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use duckduckgoose::core::Membership;
use duckduckgoose::runtime::{FatalError, HandleError, Node, StartError, WaitError};
use duckduckgoose::storage::{Storage, StorageError};
use duckduckgoose::transport::{Inbound, MemoryTransport, Transport, TransportError};
use duckduckgoose::{HardState, Message, NodeId, Role};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::common::{
    Cluster, ELECTION_WAIT, cluster, config, geese, ids, others, single_goose, wait_until,
};

/// Wraps a transport so that a test can block the driver's thread inside
/// `send`, as a long GC-like pause, a blocking call in the wrong place or a
/// starved executor would: the driver then processes no ticks and no acks,
/// and its status keeps saying Goose.
pub struct StallingTransport<T> {
    inner: T,
    gate: Arc<StallGate>,
}

#[derive(Default)]
pub struct StallGate {
    /// Set by the test: the next `send` blocks until it is cleared.
    pub stall: AtomicBool,
    /// Set by the transport while a `send` is blocked.
    pub stalled: AtomicBool,
}

/// Starts voters `1..=count` of `cluster`, each on a stalling transport;
/// returns their gates, in id order.
pub async fn start_stallable(cluster: &mut Cluster, count: u64) -> Vec<Arc<StallGate>> {
    let mut gates = Vec::new();
    for id in ids(count) {
        let gate = Arc::new(StallGate::default());
        let transport = StallingTransport {
            inner: cluster.network().transport(id),
            gate: Arc::clone(&gate),
        };
        cluster
            .start_node_on(cluster.config(id), transport)
            .await
            .expect("a valid node starts");
        gates.push(gate);
    }
    gates
}

#[async_trait]
impl<T: Transport> Transport for StallingTransport<T> {
    async fn start(&mut self, inbound: mpsc::Sender<Inbound>) -> Result<(), TransportError> {
        self.inner.start(inbound).await
    }

    fn send(&mut self, to: NodeId, msg: Message) {
        if self.gate.stall.load(Ordering::Acquire) {
            self.gate.stalled.store(true, Ordering::Release);
            // Deliberately blocking: this is the stall under test. In place,
            // so that the worker's other duties move to another thread: the
            // worker may be the one that drives tokio's timers, and blocked
            // with them every timer of the test would stop too (a hang that
            // only shows when the stalled driver's deadline was the only
            // timer due, which a tickless cluster makes the rule).
            tokio::task::block_in_place(|| {
                while self.gate.stall.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
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
    let mut cluster = cluster(5).voters(3).build().await;
    let gates = start_stallable(&mut cluster, 3).await;
    let nodes = cluster.nodes().to_vec();
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
    let status = goose.status();
    assert_eq!(
        status.core_role,
        Role::Goose,
        "the stalled driver never noticed"
    );
    assert_eq!(
        status.role,
        Role::Duck,
        "status() judges the lease as is_goose does"
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
    let cluster = cluster(6).voters(3).start().await;
    let nodes = cluster.nodes().to_vec();
    let goose = single_goose(&nodes).await;
    let term = goose.status().term;
    let target = others(&nodes, goose.id()).remove(0);
    let target_storage = cluster.storage(target.id());

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
        target.wait_for_role(Role::Goose).await,
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
    let mut cluster = cluster(8).voters(3).start().await;
    let nodes = cluster.nodes().to_vec();
    let old = single_goose(&nodes).await;
    let old_status = old.status();

    old.abort();
    assert!(
        !old.is_goose(),
        "an aborted node stops answering Goose at once"
    );
    old.stopped().await;
    let rest = others(&nodes, old.id());
    let new = single_goose(&rest).await;

    // On the same storage.
    let restarted = cluster.restart(old.id()).await;
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
