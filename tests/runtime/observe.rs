//! What a handle reports: the lease, the contacts, the persist latency.

use std::time::Duration;

use duckduckgoose::NodeId;
use tokio::time::Instant;

use crate::common::{Cluster, ELECTION_WAIT, ids, others, seeded, single_goose, wait_until};

#[tokio::test(start_paused = true)]
async fn the_handle_reports_the_lease_contacts_and_persist_latency() {
    let members = ids(3);
    let cluster = Cluster::memory(12)
        .voters(3)
        .configure(|config| {
            seeded(config);
            config
                .addresses
                .insert(NodeId(1), "10.0.0.1:7001".to_owned());
        })
        .start()
        .await;
    let nodes = cluster.nodes().to_vec();
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
