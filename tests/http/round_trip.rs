//! `ack_rtt_ms` in `/cluster` and the round-trip families of `/metrics`,
//! on a cluster in paused time (requests go through the router without
//! sockets, which paused time allows): every message waits exactly the
//! network's delay, so the round trips are exact.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::time::sleep;

use crate::common::{app, call, get_json};
use crate::support::cluster::{Cluster, single_goose};

/// Each way: a round trip is twice this.
const ONE_WAY: Duration = Duration::from_millis(10);

/// `ack_rtt_ms` of every member in `node`'s `/cluster`, in id order.
async fn ack_rtts(node: &duckduckgoose::runtime::NodeHandle) -> Vec<(u64, Value)> {
    let (code, body) = get_json(&app(node.clone()), "/cluster").await;
    assert_eq!(code, StatusCode::OK);
    body["members"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|member| {
            let id = member["id"].as_u64().expect("an id");
            (id, member["ack_rtt_ms"].clone())
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_goose_shows_each_peers_ack_round_trip_and_the_histogram() {
    let cluster = Cluster::memory(41)
        .voters(3)
        .configure(|config| config.rng_seed = Some(700 + config.id.0))
        .start()
        .await;
    cluster.network().set_delay(ONE_WAY);
    let nodes = cluster.nodes().to_vec();
    let goose = single_goose(&nodes, Duration::from_secs(10)).await;
    sleep(Duration::from_millis(300)).await;
    assert!(goose.is_goose(), "still leading");

    let measured = json!({ "last": 20.0, "smoothed": 20.0 });
    let expected: Vec<(u64, Value)> = (1..=3)
        .map(|id| {
            let shown = if id == goose.id().0 {
                Value::Null
            } else {
                measured.clone()
            };
            (id, shown)
        })
        .collect();
    assert_eq!(ack_rtts(&goose).await, expected);
    for duck in nodes.iter().filter(|node| node.id() != goose.id()) {
        let nothing: Vec<(u64, Value)> = (1..=3).map(|id| (id, Value::Null)).collect();
        assert_eq!(ack_rtts(duck).await, nothing, "node {}", duck.id());
    }

    let (code, _, body) = call(&app(goose.clone()), Method::GET, "/metrics", Body::empty()).await;
    assert_eq!(code, StatusCode::OK);
    let text = String::from_utf8(body).expect("UTF-8");
    let count = goose.ack_round_trips().count();
    assert!(count >= 2, "both peers acked");
    let sum = goose.ack_round_trips().sum();
    assert_eq!(sum, 2 * ONE_WAY * u32::try_from(count).expect("few"));
    for expected in [
        "# TYPE duckduckgoose_ack_round_trip_seconds histogram".to_owned(),
        "duckduckgoose_ack_round_trip_seconds_bucket{le=\"0.01\"} 0".to_owned(),
        format!("duckduckgoose_ack_round_trip_seconds_bucket{{le=\"0.025\"}} {count}"),
        format!("duckduckgoose_ack_round_trip_seconds_bucket{{le=\"+Inf\"}} {count}"),
        format!("duckduckgoose_ack_round_trip_seconds_count {count}"),
        format!(
            "duckduckgoose_ack_round_trip_seconds_sum {}",
            sum.as_secs_f64()
        ),
        "# TYPE duckduckgoose_late_acks_total counter".to_owned(),
        "duckduckgoose_late_acks_total 0".to_owned(),
    ] {
        assert!(
            text.lines().any(|line| line == expected),
            "no {expected:?} in\n{text}"
        );
    }
    cluster.shutdown().await;
}
