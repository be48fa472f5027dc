//! Leadership as a scope: `leadership()` resolves when the node leads, and
//! its `lost()`, its token and the runs of `run_while_goose` end at the
//! lease's real-time deadline (even with the driver stalled) or as soon as
//! the node steps down or stops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use duckduckgoose::runtime::{LOSS_LEAD, NodeEvent, RoleReason, WaitError};
use duckduckgoose::{NodeId, Role};
use tokio::time::{Instant, sleep, timeout};

use crate::common::{ELECTION_WAIT, cluster, others, single_goose, wait_until};
use crate::failures::start_stallable;
use crate::support::cluster::eventually;
use crate::support::runs::Runs;

/// Waits (bounded) for the next `RoleChanged` of `events`.
async fn next_role_change(events: &mut duckduckgoose::runtime::Events) -> NodeEvent {
    loop {
        let event = timeout(ELECTION_WAIT, events.recv())
            .await
            .expect("a role change in time")
            .expect("the stream goes on");
        if matches!(event, NodeEvent::RoleChanged { .. }) {
            return event;
        }
    }
}

/// Cut off, the Goose's run is dropped at the lease's deadline, to the
/// tick of virtual time; the core reports the expiry at its next tick.
#[tokio::test(start_paused = true)]
async fn a_run_ends_at_the_lease_deadline_when_the_goose_is_cut_off() {
    let cluster = cluster(31).voters(3).start().await;
    let nodes = cluster.nodes().to_vec();
    let goose = single_goose(&nodes).await;
    let term = goose.status().term;
    let runs = Runs::default();
    let task = runs.start(&goose);
    eventually(ELECTION_WAIT, "the run to start", || runs.len() == 1).await;
    let mut events = goose.events();

    cluster.network().isolate(goose.id());
    // Acks already delivered are handled within the tick; after that only
    // the clock moves the lease.
    sleep(Duration::from_millis(1)).await;
    let deadline = goose.status().lease_deadline.expect("still leading");
    wait_until(&nodes, ELECTION_WAIT, "the run to end", |_| {
        runs.get(0).ended.is_some()
    })
    .await;

    let run = runs.get(0);
    assert_eq!(run.term, term);
    assert_eq!(
        run.ended,
        Some(deadline - LOSS_LEAD),
        "dropped as aimed, just ahead of the deadline"
    );
    assert!(
        run.token_cancelled,
        "the token is cancelled before the drop"
    );
    let tick = cluster.config(goose.id()).tick;
    match next_role_change(&mut events).await {
        NodeEvent::RoleChanged {
            term: event_term,
            role,
            reason,
            at,
        } => {
            assert_eq!(
                (event_term, role, reason),
                (term, Role::Duck, RoleReason::LeaseExpired)
            );
            assert!(
                at >= deadline && at < deadline + tick,
                "the core's next tick"
            );
        }
        other => panic!("not a role change: {other:?}"),
    }
    task.stop().await;
    assert_eq!(runs.len(), 1, "no new run without a new leadership");
    cluster.shutdown().await;
}

/// A step-down ends the run at the same instant (no virtual time passes);
/// leading again in a later term starts a new run, and a stopped task
/// starts none.
#[tokio::test(start_paused = true)]
async fn a_run_ends_at_once_on_a_step_down_and_starts_again_in_the_next_term() {
    let cluster = cluster(32).voters(3).start().await;
    let nodes = cluster.nodes().to_vec();
    let goose = single_goose(&nodes).await;
    let runs = Runs::default();
    let task = runs.start(&goose);
    eventually(ELECTION_WAIT, "the run to start", || runs.len() == 1).await;

    let stepped_at = Instant::now();
    let led = goose.step_down().await.expect("the Goose steps down");
    eventually(ELECTION_WAIT, "the run to end", || {
        runs.get(0).ended.is_some()
    })
    .await;
    let first = runs.get(0);
    assert_eq!(first.term, led);
    assert_eq!(first.ended, Some(stepped_at));
    assert!(first.token_cancelled);

    // Handed back: a new leadership in a later term, a new run.
    let successor = single_goose(&others(&nodes, goose.id())).await;
    successor
        .transfer_leadership(goose.id())
        .await
        .expect("hand back");
    eventually(ELECTION_WAIT, "a second run", || runs.len() == 2).await;
    let second = runs.get(1);
    assert!(second.term > led);
    assert_eq!(second.ended, None);
    assert!(goose.is_goose());

    // Stopped while it runs: the run is dropped before `stop` returns.
    task.stop().await;
    let second = runs.get(1);
    assert_eq!(second.ended, Some(Instant::now()));
    assert!(second.token_cancelled);
    goose.step_down().await.expect("step down");
    let successor = single_goose(&others(&nodes, goose.id())).await;
    successor
        .transfer_leadership(goose.id())
        .await
        .expect("hand back");
    wait_until(&nodes, ELECTION_WAIT, "the node to lead again", |_| {
        goose.is_goose()
    })
    .await;
    sleep(Duration::from_millis(100)).await;
    assert_eq!(runs.len(), 2, "a stopped task starts no run");
    cluster.shutdown().await;
}

/// The driver blocked in `send` publishes nothing, yet `lost()` and the
/// token fire at the lease's real-time deadline; the events, the core's
/// record, report it only once the driver runs again.
///
/// Real time and real threads, as in the stalled-driver test of
/// `failures`: the gate is released only after the checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lost_completes_at_the_lease_deadline_while_the_driver_is_stalled() {
    let mut cluster = cluster(33).voters(3).build().await;
    let gates = start_stallable(&mut cluster, 3).await;
    let nodes = cluster.nodes().to_vec();
    let goose = single_goose(&nodes).await;
    let leadership = timeout(ELECTION_WAIT, goose.leadership())
        .await
        .expect("it leads")
        .expect("it runs");
    let token = leadership.cancellation_token();
    let mut events = goose.events();
    let gate = &gates[(goose.id().0 - 1) as usize];

    gate.stall.store(true, Ordering::Release);
    // A failed assertion must not leave the driver blocked: the runtime
    // could never shut down and the test would hang instead of failing.
    let _release = Unstall(&gate.stall);
    wait_until(&nodes, ELECTION_WAIT, "the driver to stall", |_| {
        gate.stalled.load(Ordering::Acquire)
    })
    .await;
    let deadline = goose.status().lease_deadline.expect("stalled while Goose");
    timeout(ELECTION_WAIT, leadership.lost())
        .await
        .expect("lost at the deadline");

    assert!(Instant::now() >= deadline - LOSS_LEAD, "aimed just ahead");
    assert!(
        gate.stalled.load(Ordering::Acquire),
        "still stalled: only the deadline can have ended it"
    );
    assert!(leadership.is_lost());
    assert!(token.is_cancelled());
    assert_eq!(leadership.lease_deadline(), None);
    assert_eq!(
        goose.status().core_role,
        Role::Goose,
        "the driver never noticed"
    );
    assert!(
        timeout(Duration::ZERO, events.recv()).await.is_err(),
        "no event while the driver is stalled"
    );

    // The others elect a Goose of a later term; released, the stalled node
    // hears of it.
    let new = single_goose(&others(&nodes, goose.id())).await;
    gate.stall.store(false, Ordering::Release);
    match next_role_change(&mut events).await {
        NodeEvent::RoleChanged {
            role, reason, at, ..
        } => {
            assert_eq!((role, reason), (Role::Duck, RoleReason::HigherTerm));
            assert!(at >= deadline);
        }
        other => panic!("not a role change: {other:?}"),
    }
    assert!(new.status().term > leadership.fencing_token());
    assert!(leadership.is_lost(), "once lost, lost for good");
    for node in &nodes {
        node.shutdown().await;
    }
}

/// A Goose whose driver stalls past its lease, and whose voters are still
/// waiting out their (much longer) election timeouts when it resumes,
/// renews its lease in the same term: that is a new leadership with the
/// same fencing token, and the lapsed one stays lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lease_renewed_after_it_lapsed_is_a_new_leadership_in_the_same_term() {
    let mut cluster = cluster(37)
        .voters(3)
        .configure(|config| {
            crate::common::seeded(config);
            // Node 1 alone has a short election timeout (and so a short
            // lease): it is elected, and nobody else campaigns for 2 s.
            if config.id != NodeId(1) {
                config.election_timeout = Duration::from_secs(2)..Duration::from_secs(3);
            }
        })
        .build()
        .await;
    let gates = start_stallable(&mut cluster, 3).await;
    let nodes = cluster.nodes().to_vec();
    let goose = single_goose(&nodes).await;
    assert_eq!(goose.id(), NodeId(1));
    let first = timeout(ELECTION_WAIT, goose.leadership())
        .await
        .expect("it leads")
        .expect("it runs");
    let mut events = goose.events();
    let gate = &gates[0];

    gate.stall.store(true, Ordering::Release);
    let release = Unstall(&gate.stall);
    timeout(ELECTION_WAIT, first.lost())
        .await
        .expect("lost at the deadline");
    assert!(gate.stalled.load(Ordering::Acquire));
    drop(release);

    let second = timeout(ELECTION_WAIT, goose.leadership())
        .await
        .expect("it leads again")
        .expect("it runs");
    assert_eq!(second.fencing_token(), first.fencing_token());
    assert!(first.is_lost(), "once lost, lost for good");
    assert!(!second.is_lost());
    assert!(
        timeout(Duration::ZERO, events.recv()).await.is_err(),
        "the core never stopped leading: no event"
    );
    for node in &nodes {
        node.shutdown().await;
    }
}

/// A hand-over on shutdown and an abort each end the leadership at once;
/// a node that stops while waiting for one gets the error.
#[tokio::test(start_paused = true)]
async fn leadership_ends_when_the_node_stops_and_waiting_for_one_fails() {
    let cluster = cluster(34).voters(3).start().await;
    let nodes = cluster.nodes().to_vec();

    let first = single_goose(&nodes).await;
    let leadership = first.leadership().await.expect("it leads");
    assert_eq!(leadership.fencing_token(), first.status().term);
    assert!(!leadership.is_lost());
    assert!(leadership.lease_deadline().is_some());
    first.shutdown().await;
    assert!(leadership.is_lost());
    leadership.lost().await;

    let rest = others(&nodes, first.id());
    let second = single_goose(&rest).await;
    let leadership = second.leadership().await.expect("it leads");
    second.abort();
    assert!(
        leadership.is_lost(),
        "an aborted node leads no more, at once"
    );
    leadership.lost().await;
    assert!(leadership.cancellation_token().is_cancelled());

    let last = others(&rest, second.id()).remove(0);
    let waiting = tokio::spawn({
        let last = last.clone();
        async move { last.leadership().await.map(|lead| lead.fencing_token()) }
    });
    sleep(Duration::from_millis(10)).await;
    assert!(!waiting.is_finished(), "alone, it cannot be elected");
    last.shutdown().await;
    assert_eq!(waiting.await.expect("joined"), Err(WaitError::Stopped));
    assert!(matches!(last.leadership().await, Err(WaitError::Stopped)));
    cluster.shutdown().await;
}

/// A learner never leads: waiting for its leadership lasts until it stops.
#[tokio::test(start_paused = true)]
async fn a_learner_never_gets_a_leadership() {
    let cluster = cluster(35).voters(3).learners(1).start().await;
    let nodes = cluster.nodes().to_vec();
    single_goose(&nodes).await;
    let learner = nodes[3].clone();
    let waiting = tokio::spawn({
        let learner = learner.clone();
        async move { learner.leadership().await.map(|lead| lead.fencing_token()) }
    });
    sleep(ELECTION_WAIT).await;
    assert!(!waiting.is_finished());
    learner.shutdown().await;
    assert_eq!(waiting.await.expect("joined"), Err(WaitError::Stopped));
    cluster.shutdown().await;
}

/// Without check-quorum there is no lease: a Goose cut off keeps its
/// leadership until it hears of a higher term.
#[tokio::test(start_paused = true)]
async fn without_check_quorum_leadership_ends_only_with_the_role() {
    let cluster = cluster(36)
        .voters(3)
        .configure(|config| {
            crate::common::seeded(config);
            config.check_quorum = false;
        })
        .start()
        .await;
    let nodes = cluster.nodes().to_vec();
    let goose = single_goose(&nodes).await;
    let leadership = goose.leadership().await.expect("it leads");
    assert_eq!(leadership.lease_deadline(), None);

    cluster.network().isolate(goose.id());
    // Far past any lease: the others elect a Goose of their own meanwhile
    // (without check-quorum, two Geese may answer at once).
    sleep(ELECTION_WAIT).await;
    assert!(!leadership.is_lost());
    assert!(goose.is_goose());

    cluster.network().reconnect(goose.id());
    timeout(ELECTION_WAIT, leadership.lost())
        .await
        .expect("a higher term ends it");
    assert!(goose.status().term > leadership.fencing_token());
    cluster.shutdown().await;
}

/// Releases a stalled driver when dropped, on every exit path.
struct Unstall<'a>(&'a AtomicBool);

impl Drop for Unstall<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}
