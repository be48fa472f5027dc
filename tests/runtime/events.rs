//! `events()`: every transition, none coalesced, in order; a subscriber that
//! falls behind is told exactly how many it missed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use duckduckgoose::runtime::{
    EVENTS_CAPACITY, Events, EventsError, NodeEvent, NodeHandle, RoleReason,
};
use duckduckgoose::{NodeId, Role, Term};
use tokio::task::JoinHandle;

use crate::common::{ELECTION_WAIT, cluster, others, single_goose, wait_until};

/// Every event of a stream until it closes, collected by a task of its own
/// so that it never falls behind.
struct Collector {
    seen: Arc<Mutex<Vec<NodeEvent>>>,
    task: JoinHandle<EventsError>,
}

impl Collector {
    fn start(mut events: Events) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let seen = Arc::clone(&seen);
            async move {
                loop {
                    match events.recv().await {
                        Ok(event) => seen.lock().expect("not poisoned").push(event),
                        Err(error) => return error,
                    }
                }
            }
        });
        Collector { seen, task }
    }

    fn len(&self) -> usize {
        self.seen.lock().expect("not poisoned").len()
    }

    /// Everything, once the node has stopped; the stream ended closed.
    async fn finish(self) -> Vec<NodeEvent> {
        assert_eq!(self.task.await.expect("joined"), EventsError::Closed);
        Arc::try_unwrap(self.seen)
            .expect("the task is done")
            .into_inner()
            .expect("not poisoned")
    }
}

/// The `(term, role, reason)` of every role change, in order.
fn role_changes(events: &[NodeEvent]) -> Vec<(Term, Role, RoleReason)> {
    events
        .iter()
        .filter_map(|event| match *event {
            NodeEvent::RoleChanged {
                term, role, reason, ..
            } => Some((term, role, reason)),
            _ => None,
        })
        .collect()
}

/// The term of every event, in order.
fn terms(events: &[NodeEvent]) -> Vec<Term> {
    events
        .iter()
        .map(|event| match *event {
            NodeEvent::RoleChanged { term, .. } | NodeEvent::GooseChanged { term, .. } => term,
            _ => panic!("an event this test does not know: {event:?}"),
        })
        .collect()
}

/// Waits until `target` leads in `term` and every node follows it there.
async fn everyone_follows(nodes: &[NodeHandle], target: &NodeHandle, term: Term) {
    wait_until(
        nodes,
        ELECTION_WAIT,
        "everyone to follow the target",
        |nodes| {
            target.is_goose()
                && nodes.iter().all(|node| {
                    let status = node.status();
                    status.term == term && status.leader == Some(target.id())
                })
        },
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn two_hundred_rapid_transfers_are_each_reported_in_order_on_every_node() {
    const TRANSFERS: usize = 200;
    let cluster = cluster(41).voters(3).start().await;
    let nodes = cluster.nodes().to_vec();
    // Subscribed before the first election, which the streams report too.
    let collectors: Vec<Collector> = nodes
        .iter()
        .map(|node| Collector::start(node.events()))
        .collect();

    let mut goose = single_goose(&nodes).await;
    let first_term = goose.status().term;
    everyone_follows(&nodes, &goose, first_term).await;
    // Who led each term, from the handles' side.
    let mut leaders = vec![(first_term, goose.id())];
    for round in 0..TRANSFERS {
        let target = nodes[(goose.id().0 as usize + round % 2) % nodes.len()].clone();
        assert_ne!(target.id(), goose.id());
        let led = goose
            .transfer_leadership(target.id())
            .await
            .expect("the Goose hands over");
        assert_eq!(led, leaders.last().expect("one").0);
        everyone_follows(&nodes, &target, led.next()).await;
        leaders.push((led.next(), target.id()));
        goose = target;
    }
    let last_term = leaders.last().expect("one").0;
    // The Ducks first, so that the Goose's hand-over on shutdown elects
    // nobody: the streams then end with its `Transfer`.
    for duck in others(&nodes, goose.id()) {
        duck.shutdown().await;
    }
    goose.shutdown().await;

    let mut goose_terms: BTreeMap<Term, NodeId> = BTreeMap::new();
    for (node, collector) in nodes.iter().zip(collectors) {
        let events = collector.finish().await;
        let all_terms = terms(&events);
        assert!(
            all_terms.windows(2).all(|pair| pair[0] <= pair[1]),
            "node {}: terms never go back",
            node.id()
        );
        // Every Goose, each term once, in order: none skipped.
        let followed: Vec<(Term, NodeId)> = events
            .iter()
            .filter_map(|event| match *event {
                NodeEvent::GooseChanged { id: Some(id), term } if term >= first_term => {
                    Some((term, id))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            followed,
            leaders,
            "node {}: every Goose, in order",
            node.id()
        );
        // Its own role changes alternate, each lead ended by a hand-over
        // (the last one by the shutdown's).
        let changes = role_changes(&events);
        for pair in changes.chunks(2) {
            let [
                (won, Role::Goose, RoleReason::Elected),
                (gave_up, Role::Duck, RoleReason::Transfer),
            ] = pair
            else {
                panic!(
                    "node {}: {pair:?} is not a lead and its hand-over",
                    node.id()
                );
            };
            assert_eq!(
                won,
                gave_up,
                "node {}: handed over in the term it led",
                node.id()
            );
            assert!(
                goose_terms.insert(*won, node.id()).is_none(),
                "one Goose per term"
            );
        }
    }
    let expected: BTreeMap<Term, NodeId> = leaders.into_iter().collect();
    assert_eq!(goose_terms, expected);
    assert_eq!(expected.len(), TRANSFERS + 1);
    assert_eq!(
        last_term.0 - first_term.0,
        TRANSFERS as u64,
        "no term skipped"
    );
}

/// A subscriber that reads nothing while more than [`EVENTS_CAPACITY`]
/// events pass is told exactly how many it missed, then gets the newest
/// [`EVENTS_CAPACITY`] in order, then `Closed`.
#[tokio::test(start_paused = true)]
async fn a_subscriber_that_falls_behind_is_told_exactly_how_many_it_missed() {
    let cluster = cluster(42).voters(2).start().await;
    let nodes = cluster.nodes().to_vec();
    let watched = nodes[0].clone();
    let full = Collector::start(watched.events());
    let mut lagging = watched.events();

    let mut goose = single_goose(&nodes).await;
    while full.len() < EVENTS_CAPACITY + 100 {
        let target = nodes
            .iter()
            .find(|node| node.id() != goose.id())
            .expect("two nodes")
            .clone();
        let led = goose
            .transfer_leadership(target.id())
            .await
            .expect("the Goose hands over");
        everyone_follows(&nodes, &target, led.next()).await;
        goose = target;
    }
    cluster.shutdown().await;
    let all = full.finish().await;
    let missed = all.len() - EVENTS_CAPACITY;

    assert_eq!(
        lagging.recv().await,
        Err(EventsError::Lagged {
            missed: missed as u64
        })
    );
    for expected in &all[missed..] {
        assert_eq!(lagging.recv().await.as_ref(), Ok(expected));
    }
    assert_eq!(lagging.recv().await, Err(EventsError::Closed));
    // Subscribing after the node stopped: closed at once.
    assert_eq!(watched.events().recv().await, Err(EventsError::Closed));
}

/// A Goose stopped by a fatal error says, as its last event, that it no
/// longer leads.
#[tokio::test(start_paused = true)]
async fn a_goose_stopped_by_a_fatal_error_reports_it_no_longer_leads() {
    let cluster = crate::common::members_cluster(3, 43).await;
    let nodes = cluster.nodes().to_vec();
    let goose = crate::common::goose_ready_for_a_change(&nodes).await;
    let term = goose.status().term;
    let collector = Collector::start(goose.events());

    // The change must be saved before the Goose proposes it.
    cluster.storage(goose.id()).set_fail_saves(true);
    let added = goose
        .add_node(NodeId(4), crate::common::addr(NodeId(4)))
        .await;
    assert!(added.is_err(), "the Goose stopped: {added:?}");
    goose.stopped().await;
    assert!(goose.fatal_error().is_some());

    let events = collector.finish().await;
    assert_eq!(
        role_changes(&events),
        [(term, Role::Duck, RoleReason::Stopped)]
    );
    cluster.shutdown().await;
}
