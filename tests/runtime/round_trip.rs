//! Heartbeat-ack round trips: measured per peer by the Goose, and acks too
//! slow for the lease reported as late (event, counter, one warning).
//!
//! Paused time makes the round trips exact: every message waits exactly the
//! network's delay, and a heartbeat leaves at the instant its tick was
//! processed.

use std::time::Duration;

use duckduckgoose::NodeId;
use duckduckgoose::runtime::{AckRoundTrip, NodeEvent, NodeHandle};
use tokio::time::{sleep, timeout};

use crate::common::{Cluster, ELECTION_WAIT, seeded, single_goose, wait_until};
use crate::logs::Logs;

/// Each way: a round trip is twice this.
const ONE_WAY: Duration = Duration::from_millis(10);

/// The default lease: 25 ticks of 10 ms.
const LEASE: Duration = Duration::from_millis(250);

/// Each peer's round trip as `node` shows it, `(last, smoothed)`, in id
/// order.
fn round_trips(node: &NodeHandle) -> Vec<(u64, Option<(Duration, Duration)>)> {
    node.peers()
        .iter()
        .map(|peer| {
            let shown = peer
                .ack_round_trip
                .map(|AckRoundTrip { last, smoothed, .. }| (last, smoothed));
            (peer.id.0, shown)
        })
        .collect()
}

/// The round trip of both peers of a Goose over a network with a fixed
/// delay each way; nobody else shows any.
#[tokio::test(start_paused = true)]
async fn the_goose_shows_each_peers_round_trip() {
    let cluster = Cluster::memory(31)
        .voters(3)
        .configure(seeded)
        .start()
        .await;
    cluster.network().set_delay(ONE_WAY);
    let nodes = cluster.nodes().to_vec();
    let goose = single_goose(&nodes).await;
    // Several heartbeat rounds (50 ms each) later.
    sleep(Duration::from_millis(300)).await;
    assert!(goose.is_goose(), "still leading");

    let both_ways = (2 * ONE_WAY, 2 * ONE_WAY);
    let expected: Vec<_> = (1..=3)
        .map(|id| (id, (id != goose.id().0).then_some(both_ways)))
        .collect();
    assert_eq!(round_trips(&goose), expected);
    for duck in nodes.iter().filter(|node| node.id() != goose.id()) {
        assert_eq!(round_trips(duck), [(1, None), (2, None), (3, None)]);
    }
    let histogram = goose.ack_round_trips();
    assert!(histogram.count() >= 2, "{histogram:?}");
    // Every one of them 20 ms: in the 25 ms bucket, none in the 10 ms one.
    let buckets: Vec<_> = histogram.buckets().collect();
    assert_eq!(buckets[6], (Duration::from_millis(10), 0));
    assert_eq!(buckets[7], (Duration::from_millis(25), histogram.count()));
    assert_eq!(
        histogram.sum(),
        2 * ONE_WAY * u32::try_from(histogram.count()).expect("few")
    );
    assert_eq!(goose.late_acks(), 0);
    cluster.shutdown().await;
}

/// Acks slower than the lease: each is a `LateAck` event and counted, and
/// one warning (the others fall in its 10 s window) says what to change.
#[tokio::test(start_paused = true)]
async fn acks_slower_than_the_lease_are_late_and_warned_about_once() {
    let (logs, _guard) = Logs::capture();
    let cluster = Cluster::memory(32)
        .voters(3)
        .configure(seeded)
        .start()
        .await;
    let nodes = cluster.nodes().to_vec();
    let goose = single_goose(&nodes).await;
    let mut events = goose.events();

    // 150 ms each way: a 300 ms round trip against a 250 ms lease. The
    // Goose loses its lease; every ack of its rounds comes after that.
    let one_way = Duration::from_millis(150);
    cluster.network().set_delay(one_way);
    wait_until(&nodes, ELECTION_WAIT, "late acks", |_| {
        goose.late_acks() > 0
    })
    .await;
    // The rest of its rounds' acks arrive within a round trip.
    sleep(2 * one_way).await;
    cluster.network().set_delay(Duration::ZERO);

    let mut late = Vec::new();
    while let Ok(Ok(event)) = timeout(Duration::ZERO, events.recv()).await {
        if let NodeEvent::LateAck {
            peer,
            round_trip,
            lease,
        } = event
        {
            late.push((peer, round_trip, lease));
        }
    }
    // The four rounds it sent after the delay began (at 50, 100, 150 and
    // 200 ms; at 250 ms its lease ran out), to both peers.
    let peers: Vec<NodeId> = (1..=3).map(NodeId).filter(|&id| id != goose.id()).collect();
    let mut expected: Vec<_> = peers
        .iter()
        .flat_map(|&peer| [(peer, Some(2 * one_way), LEASE); 4])
        .collect();
    expected.sort();
    let mut sorted = late.clone();
    sorted.sort();
    assert_eq!(sorted, expected, "{late:?}");
    assert_eq!(goose.late_acks(), 8);
    // The histogram holds them too, as it holds the acks before the delay.
    let buckets: Vec<_> = goose.ack_round_trips().buckets().collect();
    assert_eq!(buckets[11].0, Duration::from_millis(500));
    assert_eq!(buckets[11].1 - buckets[10].1, 8, "{buckets:?}");

    let warnings = logs.matching("WARN", &["acks from node"]);
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    let first = late[0].0;
    let text = format!(
        "acks from node {first} take 300ms, the lease is 250ms: this Goose cannot keep its \
         lease. Raise the election timeout (NodeConfig::election_timeout, \
         --election-timeout-ms; the lease follows its minimum) or fix the network. peer="
    );
    assert!(warnings[0].contains(&text), "{}", warnings[0]);
    cluster.shutdown().await;
}
