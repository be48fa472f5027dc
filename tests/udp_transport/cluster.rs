//! A runtime cluster over `UdpTransport`: three nodes elect a Goose, whose
//! heartbeats and acks travel as datagrams, and a new one is elected when
//! it stops.

use std::collections::BTreeMap;
use std::time::Duration;

use duckduckgoose::NodeId;
use duckduckgoose::runtime::{Node, NodeConfig, NodeHandle};
use duckduckgoose::storage::MemStorage;
use duckduckgoose::transport::udp::{UdpStatsHandle, UdpTransport};
use tokio::time::{Instant, sleep};

use crate::common::{KEY, PATIENCE, transport};

/// The one node that is Goose, once exactly one is and every other agrees.
async fn single_goose(nodes: &[NodeHandle]) -> NodeHandle {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let geese: Vec<&NodeHandle> = nodes.iter().filter(|n| n.is_goose()).collect();
        if let [goose] = geese[..]
            && nodes.iter().all(|n| n.status().leader == Some(goose.id()))
        {
            return goose.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no single Goose within the patience"
        );
        sleep(Duration::from_millis(10)).await;
    }
}

/// Three keyed nodes elect a Goose; it stops (`crash`: aborted, no
/// hand-over; otherwise a graceful shutdown, whose `TimeoutNow` travels as
/// a datagram) and the other two elect a new one.
async fn elect_and_fail_over(crash: bool) {
    let mut transports: Vec<UdpTransport> = Vec::new();
    for id in 1..=3 {
        transports.push(transport(id, Some(KEY)).await);
    }
    let addresses: BTreeMap<NodeId, String> = transports
        .iter()
        .map(|t| (t.config().id, t.local_addr().to_string()))
        .collect();
    let mut nodes = Vec::new();
    let mut stats: BTreeMap<NodeId, UdpStatsHandle> = BTreeMap::new();
    for transport in transports {
        let id = transport.config().id;
        stats.insert(id, transport.stats_handle());
        let config = NodeConfig::new(id, [NodeId(1), NodeId(2), NodeId(3)])
            .with_addresses(addresses.clone());
        nodes.push(
            Node::start(config, transport, MemStorage::new())
                .await
                .expect("starts"),
        );
    }
    let goose = single_goose(&nodes).await;
    let term = goose.status().term;
    // A second of steady state: heartbeats and acks as datagrams.
    sleep(Duration::from_secs(1)).await;
    assert!(goose.is_goose());
    assert_eq!(goose.status().term, term);
    for (id, handle) in &stats {
        let s = handle.snapshot();
        println!("node {id}: {s:?}");
        assert!(s.datagrams_received > 10, "node {id} heard datagrams");
        assert_eq!(
            s.replays + s.reflections + s.auth_failures + s.decode_errors,
            0,
            "node {id} refused nothing"
        );
    }

    let stopped = Instant::now();
    if crash {
        goose.abort();
    } else {
        goose.shutdown().await;
    }
    let others: Vec<NodeHandle> = nodes
        .iter()
        .filter(|n| n.id() != goose.id())
        .cloned()
        .collect();
    let next = single_goose(&others).await;
    println!(
        "failover over UDP (crash: {crash}) took {:?}",
        stopped.elapsed()
    );
    assert_ne!(next.id(), goose.id());
    assert!(next.status().term > term);
    for node in &others {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_a_goose_over_udp_and_fail_over_when_it_crashes() {
    elect_and_fail_over(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_a_goose_over_udp_and_hand_over_when_it_stops() {
    elect_and_fail_over(false).await;
}
