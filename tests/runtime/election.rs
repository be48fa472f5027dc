//! Elections through the runtime: one Goose, a lease that ends on time, and
//! hand-overs without an election timeout.

use std::time::Duration;

use duckduckgoose::core::CommandError;
use duckduckgoose::runtime::{HandleError, Node};
use duckduckgoose::storage::MemStorage;
use duckduckgoose::transport::MemoryTransport;
use duckduckgoose::{NodeId, Role, Term};
use tokio::time::{Instant, sleep, sleep_until};

use crate::common::{
    ELECTION_WAIT, HANDOVER_BOUND, cluster, config, geese, ids, others, single_goose, wait_until,
};

async fn elects_exactly_one_goose(size: u64) {
    let cluster = cluster(size).voters(size).start().await;
    let nodes = cluster.nodes().to_vec();

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
    let cluster = cluster(3).voters(3).start().await;
    let nodes = cluster.nodes().to_vec();
    let old = single_goose(&nodes).await;
    let old_term = old.status().term;

    cluster.network().isolate(old.id());
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
    cluster.network().heal_all();
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
    let cluster = cluster(4).voters(3).start().await;
    let nodes = cluster.nodes().to_vec();
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

#[tokio::test(start_paused = true)]
async fn step_down_and_transfer_through_the_handle() {
    let cluster = cluster(9).voters(3).start().await;
    let nodes = cluster.nodes().to_vec();
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
    tokio::time::timeout(HANDOVER_BOUND, duck.wait_for_role(Role::Goose))
        .await
        .expect("the target takes over within the handover bound")
        .expect("the target runs");
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
    let status = tokio::time::timeout(ELECTION_WAIT, node.wait_for_role(Role::Goose))
        .await
        .expect("a one-node cluster elects itself")
        .expect("the node runs");
    assert_eq!(status.members.as_ref(), &[NodeId(1)]);
    let mut watcher = node.subscribe();
    drop(node);
    while watcher.changed().await.is_ok() {}
    let last = watcher.borrow();
    assert!(!last.running);
    assert_eq!(last.role, Role::Duck);
}
