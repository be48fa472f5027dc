//! Tickless idle: over 10 s of virtual time on a healthy 3-node cluster,
//! the Goose's driver wakes once per heartbeat round and once per ack, a
//! Duck's once per heartbeat it receives, and never for a tick in which
//! nothing is due (a driver ticking every 10 ms would add 1 000 wake-ups
//! each).

use std::time::Duration;

use duckduckgoose::runtime::NodeHandle;
use tokio::time::sleep;

use crate::common::{ELECTION_WAIT, cluster, others, single_goose, wait_until};

/// The window counted.
const WINDOW: Duration = Duration::from_secs(10);

/// What one node did over the window.
#[derive(Debug)]
struct Counts {
    wakeups: u64,
    heartbeats_sent: u64,
    heartbeats_received: u64,
}

fn counts(node: &NodeHandle) -> Counts {
    let counters = node.status().counters;
    Counts {
        wakeups: node.driver_wakeups(),
        heartbeats_sent: counters.heartbeats_sent,
        heartbeats_received: counters.heartbeats_received,
    }
}

fn since(before: &Counts, after: &Counts) -> Counts {
    Counts {
        wakeups: after.wakeups - before.wakeups,
        heartbeats_sent: after.heartbeats_sent - before.heartbeats_sent,
        heartbeats_received: after.heartbeats_received - before.heartbeats_received,
    }
}

#[tokio::test(start_paused = true)]
async fn an_idle_cluster_wakes_only_for_heartbeat_rounds_and_messages() {
    let cluster = cluster(41).voters(3).start().await;
    let nodes = cluster.nodes().to_vec();
    let goose = single_goose(&nodes).await;
    wait_until(&nodes, ELECTION_WAIT, "every Duck to follow", |nodes| {
        nodes
            .iter()
            .all(|node| node.status().leader == Some(goose.id()))
    })
    .await;
    // The re-issued membership commits within a round or two.
    sleep(Duration::from_secs(1)).await;
    let ducks = others(&nodes, goose.id());
    let before: Vec<Counts> = nodes.iter().map(counts).collect();
    sleep(WINDOW).await;
    let after: Vec<Counts> = nodes.iter().map(counts).collect();
    assert_eq!(
        goose.status().term,
        goose.fencing_token().expect("still leads")
    );

    let window: Vec<Counts> = before
        .iter()
        .zip(&after)
        .map(|(before, after)| since(before, after))
        .collect();
    let of = |node: &NodeHandle| &window[nodes.iter().position(|n| n.id() == node.id()).unwrap()];

    // A round every 50 ms: 200 rounds, a heartbeat to each Duck.
    let goose_window = of(&goose);
    let rounds = goose_window.heartbeats_sent / 2;
    assert_eq!(rounds, 200, "{goose_window:?}");
    // Each round, and each Duck's ack of it (an ack of the window's last
    // round may still be in flight, one of the round before its start
    // counted).
    let acks = goose_window.wakeups - rounds;
    assert!(
        acks.abs_diff(2 * rounds) <= 2,
        "the Goose woke {} times for {rounds} rounds: {goose_window:?}",
        goose_window.wakeups
    );
    for duck in &ducks {
        let duck_window = of(duck);
        assert!(
            duck_window
                .wakeups
                .abs_diff(duck_window.heartbeats_received)
                <= 1,
            "Duck {} woke for more than heartbeats: {duck_window:?}",
            duck.id()
        );
        assert!(duck_window.heartbeats_received >= 199, "{duck_window:?}");
    }
    cluster.shutdown().await;
}
